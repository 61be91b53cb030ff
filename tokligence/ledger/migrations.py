"""Schema migrations: an ordered list per database role, applied on start.

Theory of operation
-------------------
A *role* is a set of tables with its own migration list ("ledger" here;
the identity tables register theirs in :func:`registered_roles`). The roles
may share one database (PostgreSQL for a team) or live in separate SQLite
files (the original gateway's ``ledger.db`` / ``identity.db``); the
``schema_version`` table records, per role, every version applied.

:func:`migrate` runs inside one transaction that holds a lock every other
migrating process waits for — SQLite ``BEGIN IMMEDIATE`` (the file's write
lock), PostgreSQL ``pg_advisory_xact_lock`` on a key derived from the role —
and reads the applied versions only once it holds it. So when two gateway
processes start at once, one applies the pending steps and the other finds
nothing left to do; a failing step rolls the whole run back (DDL is
transactional on both back-ends).

A migration describes the schema *as of its version*: it never imports the
current models, which move on. Tables are created from snapshot model
classes local to the step; later changes are new steps.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

import peewee

from . import db as dbmod
from .prices import seed_prices

log = logging.getLogger(__name__)

SCHEMA_VERSION_TABLE = "schema_version"


@dataclass(frozen=True, kw_only=True, slots=True)
class Migration:
    version: int  # 1, 2, 3… without gaps, per role
    name: str
    apply: Callable[[peewee.Database], None]


@dataclass(frozen=True, kw_only=True, slots=True)
class MigrationResult:
    role: str
    applied: tuple[int, ...]  # versions this call applied (empty: up to date)
    version: int  # the role's version afterwards


class _SchemaVersion(peewee.Model):
    role = peewee.TextField()
    version = peewee.IntegerField()
    name = peewee.TextField()
    applied_at = peewee.DateTimeField()  # naive UTC

    class Meta:
        table_name = SCHEMA_VERSION_TABLE
        primary_key = peewee.CompositeKey("role", "version")


# ---------------------------------------------------------------- ledger role


def _ledger_1_tables(db: peewee.Database) -> None:
    """ledger_entries and prices as first released."""

    class LedgerEntry(peewee.Model):
        id = peewee.BigAutoField()
        created_at = peewee.DateTimeField()
        request_id = peewee.TextField()
        user_id = peewee.BigIntegerField(null=True)
        api_key_id = peewee.BigIntegerField(null=True)
        endpoint = peewee.TextField()
        client_dialect = peewee.TextField()
        provider = peewee.TextField()
        requested_model = peewee.TextField()
        upstream_model = peewee.TextField()
        mode = peewee.TextField()
        stream = peewee.BooleanField()
        status = peewee.IntegerField()
        error_kind = peewee.TextField(null=True)
        input_tokens = peewee.BigIntegerField(default=0)
        output_tokens = peewee.BigIntegerField(default=0)
        cache_read_tokens = peewee.BigIntegerField(default=0)
        cache_write_tokens = peewee.BigIntegerField(default=0)
        reasoning_tokens = peewee.BigIntegerField(default=0)
        estimated = peewee.BooleanField(default=False)
        cost_usd = peewee.DecimalField(max_digits=24, decimal_places=12, null=True)
        latency_ms = peewee.DoubleField()
        ttfb_ms = peewee.DoubleField(null=True)

        class Meta:
            database = db
            table_name = "ledger_entries"
            indexes = (
                (("created_at",), False),
                (("user_id", "created_at"), False),
                (("api_key_id", "created_at"), False),
                (("upstream_model", "created_at"), False),
            )

    class Price(peewee.Model):
        id = peewee.BigAutoField()
        model_pattern = peewee.TextField()
        provider = peewee.TextField(default="*")
        input_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=6)
        output_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=6)
        cache_read_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=6)
        cache_write_per_mtok = peewee.DecimalField(max_digits=18, decimal_places=6)
        effective_from = peewee.DateTimeField()
        created_at = peewee.DateTimeField()
        source = peewee.TextField(null=True)

        class Meta:
            database = db
            table_name = "prices"
            indexes = ((("model_pattern", "provider", "effective_from"), False),)

    db.create_tables([LedgerEntry, Price])


def _ledger_2_seed_prices(db: peewee.Database) -> None:
    """Current list prices of common models, from prices.json (empty table only)."""
    added = seed_prices(db)
    log.info("seeded %d prices", added)


def _ledger_3_timing_counts_sessions(db: peewee.Database) -> None:
    """The gateway's and the upstream's time, the gateway's own token count
    (the billing audit), the agent session; indexes for the per-provider
    audit and the per-session status line."""
    from playhouse.migrate import SchemaMigrator
    from playhouse.migrate import migrate as alter

    migrator = SchemaMigrator.from_database(db)
    table = "ledger_entries"
    alter(
        migrator.add_column(table, "gateway_ms", peewee.DoubleField(null=True)),
        migrator.add_column(table, "upstream_ms", peewee.DoubleField(null=True)),
        migrator.add_column(table, "counted_input_tokens", peewee.BigIntegerField(null=True)),
        migrator.add_column(table, "counted_output_tokens", peewee.BigIntegerField(null=True)),
        migrator.add_column(table, "session_id", peewee.TextField(null=True)),
        migrator.add_index(table, ("provider", "created_at"), False),
        migrator.add_index(table, ("session_id", "created_at"), False),
    )


LEDGER_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="ledger_entries and prices tables", apply=_ledger_1_tables),
    Migration(version=2, name="seed prices", apply=_ledger_2_seed_prices),
    Migration(
        version=3,
        name="timing, counted tokens and session columns",
        apply=_ledger_3_timing_counts_sessions,
    ),
)


def registered_roles() -> Mapping[str, Sequence[Migration]]:
    """Every database role and its migrations (an explicit registry)."""
    return {"ledger": LEDGER_MIGRATIONS}


# ------------------------------------------------------------------ the engine


def _check_sequence(role: str, steps: Sequence[Migration]) -> None:
    versions = [step.version for step in steps]
    if versions != list(range(1, len(steps) + 1)):
        raise ValueError(f"migrations of role {role!r} must be numbered 1..n, got {versions}")


def _ensure_version_table(db: peewee.Database) -> None:
    if SCHEMA_VERSION_TABLE not in db.get_tables():
        peewee.SchemaManager(_SchemaVersion, database=db).create_table(safe=False)


def applied_versions(db: peewee.Database, role: str) -> list[int]:
    """Versions of ``role`` already applied (ascending); [] on a new database."""
    if SCHEMA_VERSION_TABLE not in db.get_tables():
        return []
    query = (
        _SchemaVersion.select(_SchemaVersion.version)
        .where(_SchemaVersion.role == role)
        .order_by(_SchemaVersion.version)
    )
    return [version for (version,) in query.tuples().execute(db)]


def migrate(
    db: peewee.Database, role: str, steps: Sequence[Migration] | None = None
) -> MigrationResult:
    """Bring ``role``'s tables up to date; safe to call on every start, from
    several processes at once. ``steps`` defaults to the registered list."""
    if steps is None:
        roles = registered_roles()
        if role not in roles:
            raise ValueError(f"unknown database role {role!r}: known roles are {', '.join(roles)}")
        steps = roles[role]
    _check_sequence(role, steps)
    backend = dbmod.backend_of(db)
    with dbmod.connection(db), backend.exclusive_transaction(db, f"migrate:{role}"):
        # Only now, under the lock, is the applied list stable.
        _ensure_version_table(db)
        done = set(applied_versions(db, role))
        unknown = done - {step.version for step in steps}
        if unknown:
            raise RuntimeError(
                f"database has {role} schema version {max(unknown)}, newer than this "
                f"gateway knows ({len(steps)}): upgrade tokligence"
            )
        applied: list[int] = []
        for step in steps:
            if step.version in done:
                continue
            log.info("migrating %s schema to version %d: %s", role, step.version, step.name)
            step.apply(db)
            _SchemaVersion.insert(
                role=role,
                version=step.version,
                name=step.name,
                applied_at=datetime.now(timezone.utc).replace(tzinfo=None),
            ).execute(db)
            applied.append(step.version)
    return MigrationResult(role=role, applied=tuple(applied), version=len(steps))
