"""Schema migrations of the ``identity`` role (users and API keys).

The engine is the ledger's (``tokligence.ledger.migrations.migrate``): one
ordered list, applied under a lock every migrating process waits for, each
step a snapshot of the schema as of its version (local model classes,
never the current ``models``).

Step 2 adopts the original (Go) gateway's identity: when its ``users`` and
``api_keys`` tables sit in the same database — ``identity_path`` pointing at
the old ``identity.db``, or a shared PostgreSQL database — their live rows
are copied into ours. The original stored the same SHA-256 hex of the whole
key and the same 12-character prefix, so its keys keep working. It had no
scope checks, so adopted keys get ``model`` and, for admins, ``admin``.
Soft-deleted rows are skipped and the old tables are left untouched.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import Any

import peewee

from ..auth import ROLE_TABLE, ROLES
from ..ledger import db as dbmod
from ..ledger.migrations import Migration, MigrationResult, migrate
from .models import BUDGET_PLACES, KEYS_TABLE, USERS_TABLE, NeverReusedIdField

log = logging.getLogger(__name__)

ROLE = "identity"
LEGACY_USERS = "users"
LEGACY_KEYS = "api_keys"
ADOPTED_KEY_NAME = "adopted from the original gateway"


def _v1_models(db: peewee.Database) -> tuple[type[peewee.Model], type[peewee.Model]]:
    """The identity tables as of versions 1 and 2, bound to ``db``."""

    class User(peewee.Model):
        id = NeverReusedIdField()
        email = peewee.TextField(unique=True)
        display_name = peewee.TextField(default="")
        role = peewee.TextField()
        status = peewee.TextField(default="active")
        created_at = peewee.DateTimeField()
        updated_at = peewee.DateTimeField()

        class Meta:
            database = db
            table_name = USERS_TABLE

    class ApiKey(peewee.Model):
        id = NeverReusedIdField()
        user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
        name = peewee.TextField(default="")
        prefix = peewee.TextField()
        key_hash = peewee.TextField(unique=True)
        scopes = peewee.TextField(default="model")
        expires_at = peewee.DateTimeField(null=True)
        revoked_at = peewee.DateTimeField(null=True)
        last_used_at = peewee.DateTimeField(null=True)
        created_at = peewee.DateTimeField()
        rpm = peewee.IntegerField(null=True)
        tpm = peewee.BigIntegerField(null=True)
        budget_daily_usd = peewee.DecimalField(
            max_digits=18, decimal_places=BUDGET_PLACES, null=True
        )
        budget_monthly_usd = peewee.DecimalField(
            max_digits=18, decimal_places=BUDGET_PLACES, null=True
        )

        class Meta:
            database = db
            table_name = KEYS_TABLE

    return User, ApiKey


def _identity_1_tables(db: peewee.Database) -> None:
    """identity_users and identity_api_keys as first released."""
    db.create_tables(list(_v1_models(db)))


# ------------------------------------------------- adopting the original's rows

_TIMESTAMP = re.compile(
    r"^(\d{4}-\d{2}-\d{2})[T ](\d{2}:\d{2}:\d{2})(\.\d+)?\s*(Z|[+-]\d{2}:?\d{2})?"
)


def legacy_time(value: Any) -> datetime | None:
    """A timestamp as the original stored it, as naive UTC (None: unreadable).

    PostgreSQL returns datetimes; SQLite returns the text Go wrote
    ("2025-02-18 10:03:23.123456789+00:00") or CURRENT_TIMESTAMP's.
    """
    if isinstance(value, datetime):
        moment = value
    elif isinstance(value, str) and (match := _TIMESTAMP.match(value.strip())):
        day, clock, fraction, zone = match.groups()
        micros = (fraction or ".0")[1:7].ljust(6, "0")
        offset = "+00:00" if zone in (None, "Z") else zone
        if len(offset) == 5:  # +0100
            offset = offset[:3] + ":" + offset[3:]
        moment = datetime.fromisoformat(f"{day}T{clock}.{micros}{offset}")
    else:
        return None
    if moment.utcoffset() is None:
        return moment
    return moment.astimezone(timezone.utc).replace(tzinfo=None)


def _rows(db: peewee.Database, table: str, wanted: Sequence[str]) -> list[dict[str, Any]]:
    present = {column.name for column in db.get_columns(table)}
    columns = [name for name in wanted if name in present]
    names = ", ".join(f'"{name}"' for name in columns)
    rows = dbmod.execute(db, f'SELECT {names} FROM "{table}" ORDER BY "id"')
    return [dict(zip(columns, row, strict=True)) for row in rows]


def _identity_2_adopt_original(db: peewee.Database) -> None:
    """Copy the original gateway's live users and keys, when its tables exist."""
    tables = set(db.get_tables())
    if not {LEGACY_USERS, LEGACY_KEYS} <= tables:
        return
    user_columns = {column.name for column in db.get_columns(LEGACY_USERS)}
    key_columns = {column.name for column in db.get_columns(LEGACY_KEYS)}
    if not ({"id", "email", "role"} <= user_columns) or not (
        {"id", "user_id", "key_hash", "key_prefix"} <= key_columns
    ):
        log.warning("tables users/api_keys are not the original gateway's; not adopted")
        return
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    User, ApiKey = _v1_models(db)
    taken = {email for (email,) in dbmod.execute(db, f'SELECT email FROM "{USERS_TABLE}"')}
    new_ids: dict[Any, tuple[int, str]] = {}  # old user id -> (new id, role)
    for row in _rows(
        db,
        LEGACY_USERS,
        ("id", "email", "role", "display_name", "status", "created_at", "updated_at", "deleted_at"),
    ):
        email = str(row["email"] or "").strip().lower()
        role = str(row["role"] or "").strip().lower()
        if row.get("deleted_at") is not None or email in taken or not email or role not in ROLES:
            continue
        taken.add(email)
        created = legacy_time(row.get("created_at")) or now
        new_id = User.insert(
            email=email,
            display_name=str(row.get("display_name") or ""),
            role=role,
            status="disabled" if str(row.get("status") or "").lower() == "inactive" else "active",
            created_at=created,
            updated_at=legacy_time(row.get("updated_at")) or created,
        ).execute()
        new_ids[row["id"]] = (int(new_id), role)
    adopted_keys = 0
    for row in _rows(
        db,
        LEGACY_KEYS,
        ("id", "user_id", "key_hash", "key_prefix", "expires_at", "created_at", "deleted_at"),
    ):
        owner = new_ids.get(row["user_id"])
        if owner is None or row.get("deleted_at") is not None or not row["key_hash"]:
            continue
        user_id, role = owner
        expires = row.get("expires_at")
        expires_at = legacy_time(expires)
        if expires is not None and expires_at is None:
            expires_at = now  # an expiry we cannot read: expired, not eternal
        ApiKey.insert(
            user=user_id,
            name=ADOPTED_KEY_NAME,
            prefix=str(row["key_prefix"]),
            key_hash=str(row["key_hash"]).lower(),
            scopes=",".join(ROLE_TABLE[role].scopes),  # type: ignore[index]
            expires_at=expires_at,
            created_at=legacy_time(row.get("created_at")) or now,
        ).execute()
        adopted_keys += 1
    log.info(
        "adopted %d users and %d API keys from the original gateway's tables",
        len(new_ids),
        adopted_keys,
    )


def _identity_3_limit_state(db: peewee.Database) -> None:
    """Per-key limit state shared by every process: key_rate_events (the
    last minute's admissions and tokens), key_rate_totals (their sums) and
    key_spend (spend per UTC day and month), as of this version."""

    class KeyRateEvent(peewee.Model):
        id = peewee.BigAutoField()
        key_id = peewee.BigIntegerField()
        at = peewee.DoubleField()
        request = peewee.BooleanField(default=False)
        tokens = peewee.BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "key_rate_events"
            indexes = ((("key_id", "at"), False),)

    class KeyRateTotals(peewee.Model):
        key_id = peewee.BigIntegerField(primary_key=True)
        requests = peewee.BigIntegerField(default=0)
        tokens = peewee.BigIntegerField(default=0)

        class Meta:
            database = db
            table_name = "key_rate_totals"

    class KeySpend(peewee.Model):
        key_id = peewee.BigIntegerField()
        period = peewee.TextField()
        start = peewee.DateTimeField()
        spent_usd = peewee.DecimalField(max_digits=24, decimal_places=12)

        class Meta:
            database = db
            table_name = "key_spend"
            primary_key = peewee.CompositeKey("key_id", "period", "start")

    db.create_tables([KeyRateEvent, KeyRateTotals, KeySpend])


IDENTITY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="identity users and api keys", apply=_identity_1_tables),
    Migration(
        version=2,
        name="adopt the original gateway's users and keys",
        apply=_identity_2_adopt_original,
    ),
    Migration(version=3, name="per-key limit state", apply=_identity_3_limit_state),
)


def migrate_identity(db: peewee.Database) -> MigrationResult:
    """Bring the identity tables of ``db`` up to date (safe on every start)."""
    return migrate(db, ROLE, IDENTITY_MIGRATIONS)
