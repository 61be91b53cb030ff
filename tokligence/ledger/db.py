"""The database adapter: a back-end chosen by URL through an explicit registry.

Theory of operation
-------------------
:data:`BACKENDS` maps each accepted URL scheme to a :class:`Backend`: how to
open it and the handful of things that differ between SQLite and PostgreSQL
(how a writer serialises against other writers and processes, how a
timestamp becomes a day). Everything else in the package speaks peewee and
asks :func:`backend_of` when it needs one of those differences — there is no
``if sqlite`` anywhere else.

Databases are *pooled* (``playhouse.pool``): the writer and the report
queries run in ``trio.to_thread`` worker threads, which are not always the
same thread, so a connection must be checked out and back in per unit of
work (:func:`connection`) rather than live in one thread's local state.

SQLite runs in WAL mode with a busy timeout, so readers never block the
writer and two gateway processes on one file queue for the write lock
instead of failing. A SQLite write transaction starts ``BEGIN IMMEDIATE``:
a deferred transaction that reads first and writes later cannot wait for
the lock (SQLite would report "database is locked" at once).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import sqlite3
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, quote, unquote, urlsplit, urlunsplit

import peewee
from playhouse.pool import PooledPostgresqlDatabase, PooledSqliteDatabase

# Milliseconds a SQLite connection waits for another writer's lock before
# failing; a ledger batch commits in well under that.
SQLITE_BUSY_TIMEOUT_MS = 5000
SQLITE_PRAGMAS = (
    # busy_timeout first: switching to WAL needs a lock another process may hold.
    ("busy_timeout", SQLITE_BUSY_TIMEOUT_MS),
    ("journal_mode", "wal"),
    # In WAL mode NORMAL is durable against application crashes and only
    # risks the last commits on power loss, at a fraction of FULL's fsyncs.
    ("synchronous", "normal"),
    ("foreign_keys", 1),
)
# The writer, a report query or two and the migrator: a handful of
# connections per process is plenty; more would only crowd a shared server.
POOL_MAX_CONNECTIONS = 8
# Parameters one statement may bind on the oldest SQLite we run on (3.31 and
# older; newer ones allow 32766).
SQLITE_MAX_PARAMETERS = 999
# Seconds a thread waits for a free pooled connection before failing loudly.
POOL_WAIT_SECONDS = 30
# Server-side idle timeouts and restarts kill old connections; recycle ours
# well before a typical proxy's limit.
POOL_STALE_SECONDS = 300
# Driver exceptions re-raised as peewee's of the same DB-API name (or of
# their base's), as peewee does for its own queries, so callers catch one
# family whatever the driver.
_DRIVER_ERRORS = peewee.ExceptionWrapper(
    {
        error.__name__: error
        for error in (
            peewee.DatabaseError,
            peewee.DataError,
            peewee.IntegrityError,
            peewee.InterfaceError,
            peewee.InternalError,
            peewee.NotSupportedError,
            peewee.OperationalError,
            peewee.ProgrammingError,
        )
    }
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Backend:
    name: str
    database_class: type[peewee.Database]
    open: Callable[[SplitResult], peewee.Database]
    # Context manager of a write transaction that other writers wait for.
    write_transaction: Callable[[peewee.Database], contextlib.AbstractContextManager[Any]]
    # Context manager of a transaction holding a lock named by ``key`` that
    # every process migrating the same database waits for.
    exclusive_transaction: Callable[[peewee.Database, str], contextlib.AbstractContextManager[Any]]
    # SQL expression of the UTC calendar day of a timestamp column.
    day: Callable[[peewee.Field], peewee.Node]
    # SQL expression of the UTC hour a timestamp column falls in.
    hour: Callable[[peewee.Field], peewee.Node]
    # A grouping key no index may order (see _sqlite_unindexed).
    unindexed: Callable[[peewee.Node], peewee.Node]


def _sqlite_path(url: SplitResult) -> Path:
    # sqlite:///relative/path and sqlite:////absolute/path: everything after
    # the third slash is the path, as in SQLAlchemy and playhouse.db_url.
    if url.netloc:
        raise ValueError("a sqlite URL has no host: use sqlite:///relative or sqlite:////absolute")
    text = unquote(url.path[1:] if url.path.startswith("/") else url.path)
    if not text:
        raise ValueError("a sqlite URL needs a file path: sqlite:///PATH")
    if text == ":memory:":
        # Every pooled connection would see a different empty database.
        raise ValueError("in-memory SQLite is not supported: use a file path")
    return Path(text)


def _enable_wal(path: Path) -> None:
    """Switch the file to WAL once, before any pooled connection opens.

    WAL is a property of the file and switching needs an exclusive lock,
    which SQLite refuses at once ("database is locked") rather than waiting
    on the busy handler when another process is opening the same new file at
    the same moment. Retried here for up to the busy timeout; afterwards the
    per-connection pragma finds WAL already on and needs no lock."""
    deadline = time.monotonic() + SQLITE_BUSY_TIMEOUT_MS / 1000
    while True:
        connection = sqlite3.connect(str(path), timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)
        try:
            connection.execute("PRAGMA journal_mode=wal")
            return
        except sqlite3.OperationalError as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
        finally:
            connection.close()
        time.sleep(0.01)


def _open_sqlite(url: SplitResult) -> peewee.Database:
    path = _sqlite_path(url)
    path.parent.mkdir(parents=True, exist_ok=True)
    _enable_wal(path)
    db: peewee.Database = PooledSqliteDatabase(
        str(path),
        pragmas=list(SQLITE_PRAGMAS),
        # Pooled connections move between worker threads (never two at once).
        check_same_thread=False,
        max_connections=POOL_MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
    )
    return db


def _open_postgresql(url: SplitResult) -> peewee.Database:
    if importlib.util.find_spec("psycopg") is None:
        raise ValueError(
            "PostgreSQL support needs the psycopg driver: pip install 'tokligence[postgres]'"
        )
    if not url.path.strip("/"):
        raise ValueError("a postgresql URL needs a database name: postgresql://HOST/DB")
    # libpq accepts the URL itself as its connection string (query options
    # such as sslmode included); peewee passes it through when it starts
    # with postgresql://, so the alias scheme is normalised.
    conninfo = urlunsplit(url._replace(scheme="postgresql"))
    db: peewee.Database = PooledPostgresqlDatabase(
        conninfo,
        prefer_psycopg3=True,
        max_connections=POOL_MAX_CONNECTIONS,
        timeout=POOL_WAIT_SECONDS,
        stale_timeout=POOL_STALE_SECONDS,
    )
    return db


@contextlib.contextmanager
def _sqlite_write(db: peewee.Database) -> Iterator[None]:
    with db.atomic("IMMEDIATE"):
        yield


@contextlib.contextmanager
def _sqlite_exclusive(db: peewee.Database, key: str) -> Iterator[None]:
    # One write lock per file: BEGIN IMMEDIATE already excludes every other
    # writer, whatever the key.
    with db.atomic("IMMEDIATE"):
        yield


@contextlib.contextmanager
def _postgres_write(db: peewee.Database) -> Iterator[None]:
    with db.atomic():
        yield


def advisory_key(key: str) -> int:
    """A stable signed 64-bit lock id for ``key`` (pg_advisory locks take a bigint)."""
    digest = hashlib.sha256(f"tokligence:{key}".encode()).digest()
    return int.from_bytes(digest[:8], "big", signed=True)


@contextlib.contextmanager
def _postgres_exclusive(db: peewee.Database, key: str) -> Iterator[None]:
    with db.atomic():
        # Held until the transaction ends, released even if the process dies.
        execute(db, "SELECT pg_advisory_xact_lock(%s)", (advisory_key(key),))
        yield


def _sqlite_day(column: peewee.Field) -> peewee.Node:
    # Timestamps are stored as ISO text; date() keeps 'YYYY-MM-DD'. Without
    # coerce(False) peewee would parse the result with the column's converter.
    node: peewee.Node = peewee.fn.DATE(column).coerce(False)
    return node


def _postgres_day(column: peewee.Field) -> peewee.Node:
    # A cast carries no bind parameter, so the same expression can appear in
    # SELECT and GROUP BY (date_trunc('day', …) would bind 'day' twice).
    node: peewee.Node = column.cast("date")
    return node


def _sqlite_hour(column: peewee.Field) -> peewee.Node:
    # The format is a literal, not a bind parameter (see _postgres_day).
    node: peewee.Node = peewee.fn.STRFTIME(peewee.SQL("'%Y-%m-%d %H:00:00'"), column).coerce(False)
    return node


def _postgres_hour(column: peewee.Field) -> peewee.Node:
    node: peewee.Node = peewee.fn.DATE_TRUNC(peewee.SQL("'hour'"), column)
    return node


def _sqlite_unindexed(node: peewee.Node) -> peewee.Node:
    """``+column``: the same value, but no longer a column an index can
    order. Without statistics SQLite prefers an index that yields rows in
    GROUP BY order to one that narrows the WHERE clause: totals per user
    over the last day walked the whole (user_id, created_at) index, ten
    million rows on a large ledger, instead of the day's range of the
    created_at index; and over the whole ledger, reading the table in that
    index's order cost four times a sequential scan and a sort."""
    return peewee.NodeList((peewee.SQL("+"), node), glue="")


def _postgres_unindexed(node: peewee.Node) -> peewee.Node:
    # PostgreSQL's planner has statistics and hashes groups: no hint needed.
    return node


SQLITE = Backend(
    name="sqlite",
    database_class=peewee.SqliteDatabase,
    open=_open_sqlite,
    write_transaction=_sqlite_write,
    exclusive_transaction=_sqlite_exclusive,
    day=_sqlite_day,
    hour=_sqlite_hour,
    unindexed=_sqlite_unindexed,
)
POSTGRESQL = Backend(
    name="postgresql",
    database_class=peewee.PostgresqlDatabase,
    open=_open_postgresql,
    write_transaction=_postgres_write,
    exclusive_transaction=_postgres_exclusive,
    day=_postgres_day,
    hour=_postgres_hour,
    unindexed=_postgres_unindexed,
)
BACKENDS: dict[str, Backend] = {
    "sqlite": SQLITE,
    "postgresql": POSTGRESQL,
    "postgres": POSTGRESQL,  # libpq's alias, accepted by the original's config
}


def _split(url: str) -> tuple[SplitResult, Backend]:
    parts = urlsplit(url)
    backend = BACKENDS.get(parts.scheme.lower())
    if backend is None:
        accepted = ", ".join(f"{scheme}://" for scheme in BACKENDS)
        raise ValueError(f"unsupported database URL scheme {parts.scheme!r}: use {accepted}")
    return parts, backend


def open_database(url: str) -> peewee.Database:
    """Open (lazily: no connection yet) the database ``url`` names.

    ``sqlite:///relative/path``, ``sqlite:////absolute/path`` (parent
    directories are created) or ``postgresql://user:password@host:port/db``.
    Close with ``close_database`` when done.
    """
    parts, backend = _split(url)
    return backend.open(parts)


def close_database(db: peewee.Database) -> None:
    """Close every pooled connection (idle and checked out)."""
    db.close_all()  # type: ignore[attr-defined]


def backend_of(db: peewee.Database) -> Backend:
    for backend in (SQLITE, POSTGRESQL):
        if isinstance(db, backend.database_class):
            return backend
    raise ValueError(f"unsupported database class {type(db).__name__}")


def sqlite_url(path: Path) -> str:
    """The ``sqlite:///`` URL of a file path (absolute paths get four slashes)."""
    return "sqlite:///" + quote(path.as_posix(), safe="/:")


def describe_url(url: str) -> str:
    """``url`` fit for logs and ``config show``: the password masked."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = f"{parts.username or ''}:***@{host}"
    if parts.port is not None:
        netloc += f":{parts.port}"
    return urlunsplit(parts._replace(netloc=netloc))


def database_urls(*, database_url: str, ledger_file: Path, identity_file: Path) -> tuple[str, str]:
    """(ledger URL, identity URL): both ``database_url`` when it is set, else
    the original gateway's two SQLite files."""
    if database_url:
        _split(database_url)  # fail early on a bad scheme
        return database_url, database_url
    return sqlite_url(ledger_file), sqlite_url(identity_file)


@contextlib.contextmanager
def connection(db: peewee.Database) -> Iterator[peewee.Database]:
    """Check a pooled connection out for the current thread, and back in."""
    with db.connection_context():
        yield db


def execute(db: peewee.Database, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
    """Run raw SQL (``%s``/``?`` placeholders per back-end) and fetch its rows."""
    cursor = db.execute_sql(sql, tuple(params))  # type: ignore[no-untyped-call]
    if cursor.description is None:
        return []
    return [tuple(row) for row in cursor.fetchall()]


# Rows per INSERT statement, largest first: a batch goes out as a few
# multi-row statements of these fixed sizes (each prepared once and cached
# by the driver). 32 rows of the ledger's 23 columns stay under SQLite's
# oldest limit of 999 parameters per statement.
INSERT_CHUNKS = (32, 8, 1)


def insert_rows(
    db: peewee.Database, table: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]
) -> None:
    """INSERT ``rows`` as a few multi-row statements.

    peewee's ``insert_many`` renders and binds every value in Python, which
    costs more than the database's own work for a ledger batch. The
    driver's ``executemany`` would step once per row, and the sqlite3
    module gives up and retakes the GIL around every step: with the event
    loop busy on the main thread, each retake waits for the loop's next
    system call, and the batch turns into hundreds of thread handoffs. A
    multi-row statement steps once for many rows.
    """
    names = ", ".join(f'"{column}"' for column in columns)
    group = "(" + ", ".join([db.param] * len(columns)) + ")"
    cursor = db.cursor()  # type: ignore[no-untyped-call]
    start = 0
    with _DRIVER_ERRORS:
        for size in INSERT_CHUNKS:
            if len(columns) * size > SQLITE_MAX_PARAMETERS and size > 1:
                continue
            sql = f'INSERT INTO "{table}" ({names}) VALUES ' + ", ".join([group] * size)
            while len(rows) - start >= size:
                params = [value for row in rows[start : start + size] for value in row]
                cursor.execute(sql, params)
                start += size


def check(db: peewee.Database) -> str | None:
    """None when the database answers a trivial query, else the error (for /health)."""
    try:
        with connection(db):
            execute(db, "SELECT 1")
    except (peewee.PeeweeException, ValueError) as error:
        return f"{type(error).__name__}: {error}"
    return None
