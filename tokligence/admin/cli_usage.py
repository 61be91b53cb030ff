"""``tokligence usage``: ledger totals per day, model, user, key or provider,
or the latest requests (``--recent N``).

The table is for people: costs rounded to millionths of a dollar, users
and keys named by e-mail and prefix, a TOTAL line. ``--json`` prints what
the admin API answers and ``--csv`` one row per group (no total line, so a
spreadsheet can sum the columns itself), both at the ledger's full
precision.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Mapping, Sequence
from decimal import Decimal
from typing import Any

import peewee

from ..config import Config
from ..identity import store
from ..ledger.queries import GroupBy, LedgerRecord, UsageTotals, recent_entries, usage_summary
from .api_output import (
    COUNT_FIELDS,
    ENTRY_FIELDS,
    GROUP_FIELDS,
    entry_json,
    usage_json,
    usage_row_json,
    usage_totals,
)
from .cli_common import (
    EXIT_USAGE,
    CommandFailed,
    identity_database,
    ledger_database,
    print_csv,
    print_json,
    print_table,
    resolve_user,
    short_time,
)

# A person reads dollars to the millionth; --json and --csv keep all twelve places.
SHOWN_COST = Decimal("0.000001")
NO_ID = "(none)"  # requests made without a key (auth disabled, or refused before)


def run_usage(args: argparse.Namespace, config: Config) -> int:
    if args.recent is not None and (args.by or args.since or args.until):
        raise CommandFailed(
            "--recent lists requests: --by, --since and --until do not apply", EXIT_USAGE
        )
    group_by: GroupBy = args.by or "day"
    user_id = _user_id(config, args.user)
    with ledger_database(config) as db:
        if args.recent is not None:
            entries = recent_entries(db, limit=args.recent, user_id=user_id, api_key_id=args.key)
            _recent(args, config, entries)
            return 0
        rows = usage_summary(
            db,
            group_by=group_by,
            since=args.since,
            until=args.until,
            user_id=user_id,
            api_key_id=args.key,
        )
    if args.json:
        print_json(usage_json(group_by, rows, since=args.since, until=args.until))
    elif args.csv:
        fields = [GROUP_FIELDS[group_by], *COUNT_FIELDS, "cost_usd"]
        print_csv([usage_row_json(group_by, row) for row in rows], fields)
    else:
        _summary_table(group_by, rows, _labels(config, group_by, rows))
    _report_quarantine(config)
    return 0


def _report_quarantine(config: Config) -> None:
    """Rows the database refused are kept aside (ledger/writer.py); say so,
    on stderr so that --json and --csv output stays clean."""
    from ..databases import quarantine_file  # the CLI's other commands need none of it

    path = quarantine_file(config)
    try:
        with path.open("rb") as kept:
            count = sum(1 for line in kept if line.strip())
    except FileNotFoundError:
        return
    except OSError as exc:
        print(f"note: the ledger's quarantine file {path} cannot be read: {exc}", file=sys.stderr)
        return
    if count:
        print(
            f"note: {count} ledger row{'s' if count != 1 else ''} the database refused "
            f"{'are' if count != 1 else 'is'} kept in {path}, one JSON object per line, "
            "and not counted above",
            file=sys.stderr,
        )


def _user_id(config: Config, text: str | None) -> int | None:
    if text is None:
        return None
    if text.strip().isascii() and text.strip().isdigit():
        return int(text.strip())
    with identity_database(config) as db:
        return resolve_user(db, text)


def _labels(config: Config, group_by: str, rows: Sequence[UsageTotals]) -> Mapping[Any, str]:
    """How the table names the users or keys of ``rows`` (their e-mail, prefix)."""
    if group_by not in ("user", "key") or not any(row.key is not None for row in rows):
        return {}
    with identity_database(config) as db:
        return _names(db, group_by)


def _names(db: peewee.Database, group_by: str) -> dict[Any, str]:
    if group_by == "user":
        return {user.id: f"{user.id} {user.email}" for user in store.list_users(db)}
    return {key.id: f"{key.id} {key.prefix}… {key.user.email}" for key in store.list_keys(db)}


def _cost(value: Decimal) -> str:
    return format(value.quantize(SHOWN_COST), "f")


def _summary_table(group_by: str, rows: Sequence[UsageTotals], labels: Mapping[Any, str]) -> None:
    def cells(label: str, counts: Mapping[str, Any], cost: Decimal) -> tuple[str, ...]:
        return (
            label,
            str(counts["requests"]),
            str(counts["errors"]),
            str(counts["input_tokens"]),
            str(counts["output_tokens"]),
            str(counts["cache_read_tokens"]),
            str(counts["cache_write_tokens"]),
            _cost(cost),
        )

    body = []
    for row in rows:
        label = NO_ID if row.key is None else labels.get(row.key, str(row.key) or "-")
        body.append(cells(label, usage_row_json(group_by, row), row.cost_usd))
    totals = usage_totals(rows)
    body.append(cells("TOTAL", totals, Decimal(totals["cost_usd"])))
    header = GROUP_FIELDS[group_by].removesuffix("_id").replace("api_key", "key").upper()
    print_table(
        (header, "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD"),
        body,
        right=frozenset(range(1, 8)),
    )
    unpriced = totals["unpriced_requests"]
    if unpriced:
        print(
            f"{unpriced} request{' matched' if unpriced == 1 else 's matched'} no price: "
            "not in the cost (see 'tokligence prices list')."
        )


def _recent(args: argparse.Namespace, config: Config, entries: Sequence[LedgerRecord]) -> None:
    if args.json:
        print_json({"entries": [entry_json(entry) for entry in entries]})
        return
    if args.csv:
        print_csv([entry_json(entry) for entry in entries], ENTRY_FIELDS)
        return
    print_table(
        ("TIME (UTC)", "MODEL", "PROVIDER", "STATUS", "INPUT", "OUTPUT", "COST USD", "USER", "KEY"),
        [
            (
                short_time(entry_json(entry)["created_at"]),
                entry.row.model,
                entry.row.provider or "-",
                str(entry.row.status),
                str(entry.row.input_tokens),
                str(entry.row.output_tokens),
                "-" if entry.cost_usd is None else _cost(entry.cost_usd),
                NO_ID if entry.row.user_id is None else str(entry.row.user_id),
                NO_ID if entry.row.api_key_id is None else str(entry.row.api_key_id),
            )
            for entry in entries
        ],
        right=frozenset({3, 4, 5, 6}),
    )
