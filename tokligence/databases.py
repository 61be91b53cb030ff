"""The gateway's databases, opened and migrated at start-up.

Theory of operation. A gateway has up to two databases: the ledger's (which
also holds stored Responses turns) and the identity database (users, keys).
With ``database_url`` both are the same PostgreSQL database; by default they
are two SQLite files in the data directory (the original gateway's layout).
Each is opened and migrated in a worker thread by :func:`open_migrated`,
which closes a half-opened database on failure and turns any driver error
into a :class:`~tokligence.config.ConfigError` that names the database, so
start-up fails with one clear line. The stored-responses tables live in the
ledger's database; with the ledger on they share its connection, with it off
they get a connection of their own (``previous_response_id`` still works).
"""

from __future__ import annotations

import logging
import sqlite3
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from functools import partial
from pathlib import Path
from typing import Any

import peewee
import trio

from .config import Config, ConfigError
from .gatekeeper import Gatekeeper
from .identity import store
from .identity.cache import KeyCache, LastUsedTracker
from .identity.hooks import HookRunner, parse_args, parse_env, parse_timeout
from .identity.limit_store import DatabaseLimitStore
from .identity.migrations import migrate_identity
from .identity.service import IdentityService
from .ledger.db import close_database, database_urls, describe_url, open_database
from .ledger.migrations import migrate
from .ledger.writer import QUARANTINE_FILE, LedgerWriter
from .limits import KeyLimiter
from .responses_store.migrations import migrate_responses
from .responses_store.store import ResponseStore

log = logging.getLogger(__name__)

_OPEN_ERRORS = (peewee.PeeweeException, sqlite3.DatabaseError, OSError, ValueError)


def urls(config: Config) -> tuple[str, str]:
    """(ledger database URL, identity database URL)."""
    return database_urls(
        database_url=config.database_url,
        ledger_file=config.ledger_file(),
        identity_file=config.identity_file(),
    )


async def open_migrated(
    url: str, what: str, *migrations: Callable[[peewee.Database], Any]
) -> peewee.Database:
    """The database at ``url`` with ``migrations`` applied, opened in a worker
    thread; a failure closes it again and names ``what`` in the error."""

    def open_and_migrate() -> peewee.Database:
        db = open_database(url)
        try:
            for migration in migrations:
                migration(db)
        except Exception:
            close_database(db)
            raise
        return db

    try:
        return await trio.to_thread.run_sync(open_and_migrate)
    except _OPEN_ERRORS as exc:
        raise _cannot_open(url, what, exc) from None


def _cannot_open(url: str, what: str, exc: Exception) -> ConfigError:
    return ConfigError(f"cannot open the {what} database {describe_url(url)}: {exc}")


@dataclass(frozen=True, kw_only=True, slots=True)
class Ledger:
    db: peewee.Database
    writer: LedgerWriter  # not yet running


async def open_ledger(config: Config) -> Ledger | None:
    """The ledger database, migrated, and its writer (not yet running)."""
    if not config.ledger_enabled:
        return None
    url, _ = urls(config)
    db = await open_migrated(url, "ledger", partial(migrate, role="ledger"))
    log.info("ledger: %s", describe_url(url))
    writer = LedgerWriter(
        db,
        quarantine=quarantine_file(config),
        capacity=config.ledger_async_buffer_size,
        batch_size=config.ledger_async_batch_size,
        flush_interval=config.ledger_async_flush_ms / 1000,
    )
    return Ledger(db=db, writer=writer)


def quarantine_file(config: Config) -> Path:
    """Where the ledger keeps rows its database refused: beside the SQLite
    file, or in the data directory for a database by URL."""
    if config.database_url:
        return config.data_dir / QUARANTINE_FILE
    return config.ledger_file().parent / QUARANTINE_FILE


async def open_responses(config: Config, ledger_db: peewee.Database | None) -> ResponseStore:
    """Stored Responses turns, in the ledger's database: on the ledger's own
    connection when the ledger is on, else on a connection of their own."""
    url, _ = urls(config)
    if ledger_db is not None:
        try:
            await trio.to_thread.run_sync(migrate_responses, ledger_db)
        except _OPEN_ERRORS as exc:
            raise _cannot_open(url, "responses", exc) from None
        return ResponseStore(ledger_db)
    return ResponseStore(await open_migrated(url, "responses", migrate_responses))


@dataclass(kw_only=True, slots=True)
class Identity:
    db: peewee.Database
    service: IdentityService
    gate: Gatekeeper
    tracker: LastUsedTracker


async def open_identity(
    config: Config, ledger_db: peewee.Database | None, hooks: HookRunner | None
) -> Identity:
    """The identity database, migrated, with the root admin ensured, and the
    gatekeeper that authenticates and limits every request; ``hooks`` is
    :func:`hook_runner`'s, made when the configuration was checked."""
    _, url = urls(config)
    db = await open_migrated(url, "identity", migrate_identity)

    async def spent(key_id: int, since: datetime) -> Decimal:
        if ledger_db is None:
            return Decimal(0)
        from .ledger.queries import usage_summary  # only keys with a budget need it

        rows = await trio.to_thread.run_sync(
            partial(usage_summary, ledger_db, group_by="key", since=since, api_key_id=key_id)
        )
        return rows[0].cost_usd if rows else Decimal(0)

    cache = KeyCache(partial(store.lookup_hash, db), ttl=config.auth_cache_ttl)
    limiter = KeyLimiter(store=DatabaseLimitStore(db), spent=spent)
    tracker = LastUsedTracker(
        partial(store.touch_last_used, db), interval=config.key_last_used_interval
    )
    service = IdentityService(db, hooks=hooks, cache=cache)
    await service.ensure_root_admin(config.admin_email)
    # Auth may be off only on a loopback address (or with --insecure): build()
    # refuses a public bind without it.
    gate = Gatekeeper(
        auth_required=not config.auth_disabled, cache=cache, limiter=limiter, tracker=tracker
    )
    return Identity(db=db, service=service, gate=gate, tracker=tracker)


def hook_runner(config: Config) -> HookRunner | None:
    if not config.hooks_enabled:
        return None
    if config.hooks_script_path is None:
        raise ConfigError("hooks_enabled is true but hooks_script_path is empty")
    try:
        return HookRunner(
            config.hooks_script_path,
            args=parse_args(config.hooks_script_args),
            env=parse_env(config.hooks_script_env),
            timeout=parse_timeout(config.hooks_timeout),
        )
    except ValueError as exc:
        raise ConfigError(f"hooks: {exc}") from None


async def close_all(*databases: peewee.Database | None) -> None:
    """Close each distinct database once."""
    seen: list[peewee.Database] = []
    for db in databases:
        if db is not None and all(db is not other for other in seen):
            seen.append(db)
            await trio.to_thread.run_sync(close_database, db)
