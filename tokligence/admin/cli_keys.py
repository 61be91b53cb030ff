"""``tokligence keys list|create|revoke``.

``keys create`` writes the new key alone on standard output (so
``KEY=$(tokligence keys create ada@example.com)`` works) and what it is,
with the warning that it cannot be shown again, on standard error. Only
its hash is stored.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timedelta, timezone
from functools import partial

from ..config import Config
from ..identity.records import KeyRecord
from ..limits import KeyLimits
from .api_output import iso, key_json, money
from .cli_common import (
    identity_database,
    identity_service,
    print_csv,
    print_json,
    print_table,
    resolve_user,
    run_async,
    short_time,
)


def run_keys(args: argparse.Namespace, config: Config) -> int:
    now = datetime.now(timezone.utc)
    with identity_database(config) as db:
        service = identity_service(config, db)
        if args.action == "list":
            user_id = None if args.user is None else resolve_user(db, args.user)
            keys = run_async(partial(service.list_keys, user_id))
            if args.json:
                print_json({"api_keys": [key_json(key, now) for key in keys]})
            elif args.csv:
                print_csv([key_json(key, now) for key in keys])
            else:
                _table(keys, now)
        elif args.action == "create":
            expires_at = None
            if args.expires_in_days is not None:
                expires_at = now + timedelta(days=args.expires_in_days)
            limits = KeyLimits(
                rpm=args.rpm,
                tpm=args.tpm,
                budget_daily_usd=args.budget_daily,
                budget_monthly_usd=args.budget_monthly,
            )
            key, plaintext = run_async(
                partial(
                    service.issue_key,
                    resolve_user(db, args.user),
                    name=args.name,
                    scopes=args.scopes,
                    expires_at=expires_at,
                    limits=limits,
                )
            )
            if args.json:
                print_json({"key": key_json(key, now), "api_key": plaintext})
            else:
                print(plaintext)
            expires = (
                "never expires"
                if key.expires_at is None
                else f"expires {short_time(iso(key.expires_at))} UTC"
            )
            print(
                f"Created API key {key.id} ({key.prefix}…) for {key.user.email}, scopes "
                f"{','.join(key.scopes)}, {expires}.\n"
                "Store it now: it will not be shown again.",
                file=sys.stderr,
            )
        else:
            key = run_async(partial(service.revoke_key, args.key))
            if args.json:
                print_json({"key": key_json(key, now)})
            else:
                print(
                    f"revoked API key {key.id} ({key.prefix}…) of {key.user.email}; a running "
                    f"gateway refuses it within {config.auth_cache_ttl:g} s (its key "
                    "cache, setting auth_cache_ttl), the admin API at once"
                )
    return 0


def _limits(limits: KeyLimits) -> str:
    parts = []
    if limits.rpm is not None:
        parts.append(f"{limits.rpm} rpm")
    if limits.tpm is not None:
        parts.append(f"{limits.tpm} tpm")
    if limits.budget_daily_usd is not None:
        parts.append(f"${money(limits.budget_daily_usd.normalize())}/day")
    if limits.budget_monthly_usd is not None:
        parts.append(f"${money(limits.budget_monthly_usd.normalize())}/month")
    return ", ".join(parts) or "-"


def _table(keys: list[KeyRecord], now: datetime) -> None:
    print_table(
        ("ID", "USER", "PREFIX", "NAME", "SCOPES", "STATE", "EXPIRES", "LAST USED", "LIMITS"),
        [
            (
                str(key.id),
                key.user.email,
                key.prefix + "…",
                key.name or "-",
                ",".join(key.scopes),
                key.state(now),
                short_time(iso(key.expires_at)),
                short_time(iso(key.last_used_at)),
                _limits(key.limits),
            )
            for key in keys
        ],
        right=frozenset({0}),
    )
