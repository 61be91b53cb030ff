"""The identity store's API keys (re-exported by ``store``).

A plaintext key exists only in :func:`issue_key`'s return value and in
:func:`lookup_key`'s argument; the table holds its SHA-256 and prefix
(see ``keys`` for why a fast hash). Lookup is an indexed equality on the
hash, and the stored hash is then compared again with
``hmac.compare_digest``, so no step of the comparison in Python depends on
how much of a guessed hash matched.
"""

from __future__ import annotations

import hmac
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import Any

import peewee

from ..auth import DEFAULT_SCOPES, ROLE_TABLE, Role, Scope, parse_role, parse_scopes
from ..errors import ClientError, invalid
from ..ledger.models import from_stored, to_utc_naive
from ..limits import UNLIMITED, KeyLimits
from ._storebase import aware, clean_text, now_utc, reading, user_record, user_row, writing
from .keys import generate_key, hash_key, key_prefix
from .models import BUDGET_PLACES, ApiKey, User
from .records import KeyRecord, UserRecord

BUDGET_QUANTUM = Decimal(1).scaleb(-BUDGET_PLACES)


def _budget(value: Any) -> Decimal | None:
    # SQLite keeps DECIMAL columns as REAL: round back to the stored places.
    return None if value is None else Decimal(str(value)).quantize(BUDGET_QUANTUM)


def key_record(row: ApiKey, owner: UserRecord) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        user=owner,
        name=row.name or "",
        prefix=row.prefix,
        scopes=parse_scopes(row.scopes),
        created_at=from_stored(row.created_at),
        expires_at=aware(row.expires_at),
        revoked_at=aware(row.revoked_at),
        last_used_at=aware(row.last_used_at),
        limits=KeyLimits(
            rpm=row.rpm,
            tpm=row.tpm,
            budget_daily_usd=_budget(row.budget_daily_usd),
            budget_monthly_usd=_budget(row.budget_monthly_usd),
        ),
    )


def _check_scopes(role: Role, scopes: Sequence[Scope]) -> None:
    allowed = ROLE_TABLE[role].scopes
    for scope in scopes:
        if scope not in allowed:
            raise invalid(f"a {role} cannot hold a key with scope '{scope}'", param="scopes")


def _limit_values(limits: KeyLimits) -> dict[str, Any]:
    def budget(value: Decimal | None) -> Decimal | None:
        if value is None:
            return None
        if value != value.quantize(BUDGET_QUANTUM):
            raise invalid(f"budgets have at most {BUDGET_PLACES} decimals", param="limits")
        return value

    return {
        "rpm": limits.rpm,
        "tpm": limits.tpm,
        "budget_daily_usd": budget(limits.budget_daily_usd),
        "budget_monthly_usd": budget(limits.budget_monthly_usd),
    }


def issue_key(
    db: peewee.Database,
    user_id: int,
    *,
    name: str = "",
    scopes: Iterable[str] | str = DEFAULT_SCOPES,
    expires_at: datetime | None = None,
    limits: KeyLimits = UNLIMITED,
) -> tuple[KeyRecord, str]:
    """A new key for ``user_id``: (its record, the plaintext key — the only
    time it exists outside the caller's hands)."""
    try:
        wanted = parse_scopes(scopes)
    except ValueError as error:
        raise invalid(str(error), param="scopes") from None
    if expires_at is not None and expires_at.utcoffset() is None:
        raise invalid("expires_at must carry a time zone", param="expires_at")
    expiry = None if expires_at is None else to_utc_naive(expires_at)
    values = _limit_values(limits)
    label = clean_text(name, "name")
    key = generate_key()
    with writing(db):
        owner = user_row(db, user_id)
        _check_scopes(parse_role(owner.role), wanted)
        key_id = ApiKey.insert(
            user=user_id,
            name=label,
            prefix=key_prefix(key),
            key_hash=hash_key(key),
            scopes=",".join(wanted),
            expires_at=expiry,
            created_at=now_utc(),
            **values,
        ).execute(db)
        return key_record(_key_row(db, int(key_id)), user_record(owner)), key


def _key_row(db: peewee.Database, key_id: int) -> ApiKey:
    row = ApiKey.select().where(ApiKey.id == key_id).first(db)
    if row is None:
        raise ClientError("not_found", f"no API key with id {key_id}", code="key_not_found")
    return row  # type: ignore[no-any-return]


def _keys_with_owners(db: peewee.Database, *conditions: peewee.Node) -> list[ApiKey]:
    query = ApiKey.select(ApiKey, User).join(User)
    for condition in conditions:
        query = query.where(condition)
    return list(query.order_by(ApiKey.id).execute(db))


def _record(row: ApiKey) -> KeyRecord:
    return key_record(row, user_record(row.user))


def get_key(db: peewee.Database, key_id: int) -> KeyRecord:
    with reading(db):
        found = _keys_with_owners(db, ApiKey.id == key_id)
    if not found:
        raise ClientError("not_found", f"no API key with id {key_id}", code="key_not_found")
    return _record(found[0])


def list_keys(db: peewee.Database, user_id: int | None = None) -> list[KeyRecord]:
    """Keys (revoked and expired included), oldest first; of one user if given."""
    with reading(db):
        if user_id is None:
            return [_record(row) for row in _keys_with_owners(db)]
        user_row(db, user_id)
        return [_record(row) for row in _keys_with_owners(db, ApiKey.user == user_id)]


def update_key(
    db: peewee.Database,
    key_id: int,
    *,
    name: str | None = None,
    limits: KeyLimits | None = None,
) -> KeyRecord:
    """Rename a key or replace its limits (None: keep)."""
    changes: dict[str, Any] = {}
    if name is not None:
        changes["name"] = clean_text(name, "name")
    if limits is not None:
        changes.update(_limit_values(limits))
    with writing(db):
        _key_row(db, key_id)
        if changes:
            ApiKey.update(**changes).where(ApiKey.id == key_id).execute(db)
    return get_key(db, key_id)


def revoke_key(db: peewee.Database, key_id: int) -> KeyRecord:
    """Revoke a key now (a key already revoked keeps its first revocation time)."""
    with writing(db):
        _key_row(db, key_id)
        ApiKey.update(revoked_at=now_utc()).where(
            (ApiKey.id == key_id) & ApiKey.revoked_at.is_null()
        ).execute(db)
    return get_key(db, key_id)


def lookup_hash(db: peewee.Database, key_hash: str) -> KeyRecord | None:
    """The key whose stored hash is ``key_hash``, whatever its state (revoked
    and expired keys are found: ``auth`` says why they are refused)."""
    with reading(db):
        found = _keys_with_owners(db, ApiKey.key_hash == key_hash)
    if not found or not hmac.compare_digest(str(found[0].key_hash).encode(), key_hash.encode()):
        return None
    return _record(found[0])


def lookup_key(db: peewee.Database, key: str) -> KeyRecord | None:
    """The record of a presented plaintext key, or None."""
    return lookup_hash(db, hash_key(key))


def touch_last_used(db: peewee.Database, used: Mapping[int, datetime]) -> int:
    """Record when keys were last used (a batch: key id -> aware time); a
    time older than the stored one is ignored. Returns rows updated."""
    updated = 0
    with writing(db):
        for key_id, moment in sorted(used.items()):
            stamp = to_utc_naive(moment)
            updated += (
                ApiKey.update(last_used_at=stamp)
                .where(
                    (ApiKey.id == key_id)
                    & (ApiKey.last_used_at.is_null() | (ApiKey.last_used_at < stamp))
                )
                .execute(db)
            )
    return updated
