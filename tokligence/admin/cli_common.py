"""What the management commands share: databases, errors and output.

A command opens only the database it needs, at the URL the gateway itself
would use, and migrates it first (migrations are safe to run while the
gateway runs: they take the same lock). User and key changes go through
``IdentityService`` in ``trio.run``, with the gateway's configured hook
script, so a change made here is announced exactly as one made over the
admin API. A running gateway sees it when its key cache entry expires
(``auth_cache_ttl``).

Exit statuses: 0 done; 1 refused or failed (the message says why: no such
user, a duplicate e-mail, a database that cannot be reached); 2 for
configuration and usage errors, as everywhere in the CLI.
"""

from __future__ import annotations

import contextlib
import csv
import json
import sqlite3
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import peewee
import trio

from ..config import Config, ConfigError
from ..errors import GatewayError
from ..identity import store
from ..identity.migrations import migrate_identity
from ..identity.service import IdentityService
from ..ledger import db as dbmod
from ..ledger.migrations import migrate

# What a database that cannot be opened raises: peewee wraps the drivers'
# errors, except those of the raw sqlite3 connection that switches on WAL.
OPEN_ERRORS = (peewee.PeeweeException, sqlite3.Error, OSError, ValueError)

EXIT_FAILED = 1
EXIT_USAGE = 2


class CommandFailed(Exception):
    """A failure the command reports in one line, with its exit status."""

    def __init__(self, message: str, status: int = EXIT_FAILED) -> None:
        super().__init__(message)
        self.status = status


def guarded(prog: str, command: Callable[[], int]) -> int:
    """Run ``command``, turning expected failures into a message and a status."""
    try:
        return command()
    except CommandFailed as failure:
        print(f"{prog}: error: {failure}", file=sys.stderr)
        return failure.status
    except GatewayError as error:
        print(f"{prog}: error: {error.message}", file=sys.stderr)
        return EXIT_FAILED
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE


# ---------------------------------------------------------------- databases


@dataclass(frozen=True, kw_only=True, slots=True)
class Urls:
    ledger: str
    identity: str


def urls(config: Config) -> Urls:
    ledger, identity = dbmod.database_urls(
        database_url=config.database_url,
        ledger_file=config.ledger_file(),
        identity_file=config.identity_file(),
    )
    return Urls(ledger=ledger, identity=identity)


@contextlib.contextmanager
def opened(
    url: str, what: str, migrate_schema: Callable[[peewee.Database], Any]
) -> Iterator[peewee.Database]:
    """The database at ``url``, migrated; closed on the way out."""
    try:
        db = dbmod.open_database(url)
    except OPEN_ERRORS as error:
        raise CommandFailed(
            f"cannot open the {what} database {dbmod.describe_url(url)}: {error}"
        ) from None
    try:
        try:
            migrate_schema(db)
        except OPEN_ERRORS as error:
            raise CommandFailed(
                f"cannot open the {what} database {dbmod.describe_url(url)}: {error}"
            ) from None
        yield db
    finally:
        dbmod.close_database(db)


def ledger_database(config: Config) -> contextlib.AbstractContextManager[peewee.Database]:
    if not config.ledger_enabled:
        raise CommandFailed("the ledger is disabled (ledger_enabled = false)")
    return opened(urls(config).ledger, "ledger", lambda db: migrate(db, "ledger"))


def identity_database(config: Config) -> contextlib.AbstractContextManager[peewee.Database]:
    return opened(urls(config).identity, "identity", migrate_identity)


def identity_service(config: Config, db: peewee.Database) -> IdentityService:
    # The gateway's own hook construction, so both announce changes alike.
    from ..databases import hook_runner

    return IdentityService(db, hooks=hook_runner(config))


def run_async(function: Callable[[], Any]) -> Any:
    """Run one IdentityService call (a coroutine function) to completion."""
    return trio.run(function)


def resolve_user(db: peewee.Database, text: str) -> int:
    """A user id from an id or an e-mail address."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    if "@" in value:
        user = store.find_user(db, value)
        if user is None:
            raise CommandFailed(
                f"no user with e-mail {value.lower()}; create one first with "
                f"'tokligence users create {value.lower()}'"
            )
        return user.id
    raise CommandFailed(f"{text!r} is neither a user id nor an e-mail address", EXIT_USAGE)


# ------------------------------------------------------------------- output


def print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, ensure_ascii=False))


def csv_cells(value: Mapping[str, Any], prefix: str = "") -> dict[str, str]:
    """One JSON object as CSV cells: a nested object becomes dotted columns
    (``limits.rpm``), a list one comma-joined cell, null an empty cell."""
    cells: dict[str, str] = {}
    for name, item in value.items():
        column = prefix + name
        if isinstance(item, Mapping):
            cells.update(csv_cells(item, column + "."))
        elif isinstance(item, list):
            cells[column] = ",".join(str(part) for part in item)
        elif item is None:
            cells[column] = ""
        elif isinstance(item, bool):
            cells[column] = "true" if item else "false"
        else:
            cells[column] = str(item)
    return cells


def print_csv(rows: Sequence[Mapping[str, Any]], fields: Sequence[str] | None = None) -> None:
    """``rows`` (JSON objects, as ``--json`` prints them) as CSV with a header
    row: ``fields`` in order, else the first row's columns."""
    table = [csv_cells(row) for row in rows]
    if fields is None:
        fields = list(table[0]) if table else []
    if not fields:
        return
    writer = csv.DictWriter(sys.stdout, fieldnames=list(fields), lineterminator="\n")
    writer.writeheader()
    writer.writerows(table)


def print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, right: frozenset[int] = frozenset()
) -> None:
    """Aligned columns under a header; columns in ``right`` (numbers) align right."""
    table = [list(header), *(list(row) for row in rows)]
    widths = [max(len(row[column]) for row in table) for column in range(len(header))]
    for row in table:
        cells = [
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def short_time(text: str | None) -> str:
    """``2026-03-01T12:00:00.123456Z`` -> ``2026-03-01 12:00:00``; None -> ``-``."""
    if text is None:
        return "-"
    return text.replace("T", " ").split(".")[0].removesuffix("Z")
