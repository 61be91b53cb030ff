"""``tokligence users list|create|update|delete|import``.

Import files: JSON is checked exactly as the admin API checks an import
body; CSV has a header row naming the columns (``name`` is accepted for
``display_name``), and an empty cell leaves that field as it is.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from datetime import datetime, timezone
from functools import partial
from pathlib import Path
from typing import Any

from ..config import Config
from ..identity.records import UserRecord
from . import api_input
from .api_output import deleted_json, user_json
from .cli_common import (
    EXIT_USAGE,
    CommandFailed,
    identity_database,
    identity_service,
    print_csv,
    print_json,
    print_table,
    resolve_user,
    run_async,
    short_time,
)

CSV_ALIASES = {"name": "display_name"}


def run_users(args: argparse.Namespace, config: Config) -> int:
    rows = _read_import(args.file) if args.action == "import" else None
    with identity_database(config) as db:
        service = identity_service(config, db)
        if args.action == "list":
            users = run_async(service.list_users)
            if args.json:
                print_json({"users": [user_json(user) for user in users]})
            elif args.csv:
                print_csv([user_json(user) for user in users])
            else:
                _table(users)
        elif args.action == "create":
            user = run_async(
                partial(
                    service.create_user, email=args.email, role=args.role, display_name=args.name
                )
            )
            _done(args, user, f"created user {user.id}: {user.email} ({user.role})")
        elif args.action == "update":
            changes = {
                "email": args.email,
                "display_name": args.name,
                "role": args.role,
                "status": args.status,
            }
            if all(value is None for value in changes.values()):
                raise CommandFailed(
                    "nothing to change: give --email, --name, --role or --status", EXIT_USAGE
                )
            user_id = resolve_user(db, args.user)
            user = run_async(partial(service.update_user, user_id, **changes))
            _done(args, user, f"updated user {user.id}: {user.email} ({user.role}, {user.status})")
        elif args.action == "delete":
            deleted = run_async(partial(service.delete_user, resolve_user(db, args.user)))
            body = deleted_json(deleted, datetime.now(timezone.utc))
            if args.json:
                print_json(body)
            else:
                keys = len(deleted.keys)
                print(
                    f"deleted user {deleted.user.id} ({deleted.user.email}) and its {keys} "
                    f"API key{'' if keys == 1 else 's'} ({body['revoked_keys']} still usable)"
                )
        else:
            assert rows is not None
            result = run_async(partial(service.import_users, rows))
            if args.json:
                print_json(
                    {
                        "created": [user_json(user) for user in result.created],
                        "updated": [user_json(user) for user in result.updated],
                        "unchanged": [user_json(user) for user in result.unchanged],
                    }
                )
            else:
                print(
                    f"created {len(result.created)}, updated {len(result.updated)}, "
                    f"unchanged {len(result.unchanged)}"
                )
                for verb, users in (("created", result.created), ("updated", result.updated)):
                    for user in users:
                        print(f"  {verb} {user.id}: {user.email} ({user.role}, {user.status})")
    return 0


def _done(args: argparse.Namespace, user: UserRecord, line: str) -> None:
    if args.json:
        print_json({"user": user_json(user)})
    else:
        print(line)


def _table(users: list[UserRecord]) -> None:
    print_table(
        ("ID", "EMAIL", "NAME", "ROLE", "STATUS", "CREATED"),
        [
            (
                str(user.id),
                user.email,
                user.display_name or "-",
                user.role,
                user.status,
                short_time(user_json(user)["created_at"]),
            )
            for user in users
        ],
        right=frozenset({0}),
    )


def _read_import(name: str) -> list[dict[str, Any]]:
    """The rows of an import file, checked before any database is opened."""
    if name == "-":
        return api_input.import_rows(sys.stdin.buffer.read())
    path = Path(name)
    suffix = path.suffix.lower()
    if suffix not in (".json", ".csv"):
        raise CommandFailed(f"{name}: the import file must end in .json or .csv", EXIT_USAGE)
    try:
        data = path.read_bytes()
    except OSError as error:
        raise CommandFailed(f"cannot read {name}: {error.strerror or error}") from None
    if suffix == ".json":
        return api_input.import_rows(data)
    return _csv_rows(name, data)


def _csv_rows(name: str, data: bytes) -> list[dict[str, Any]]:
    try:
        text = data.decode("utf-8-sig")  # spreadsheets often write a BOM
    except UnicodeDecodeError:
        raise CommandFailed(f"{name} is not UTF-8 text") from None
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    if header is None:
        return []
    columns = [CSV_ALIASES.get(cell.strip().lower(), cell.strip().lower()) for cell in header]
    for column in columns:
        if column not in api_input.IMPORT_FIELDS:
            raise CommandFailed(
                f"{name}: unknown column {column!r}; use {', '.join(api_input.IMPORT_FIELDS)}",
                EXIT_USAGE,
            )
    if "email" not in columns:
        raise CommandFailed(f"{name}: the header row has no email column", EXIT_USAGE)
    rows: list[dict[str, Any]] = []
    for line, cells in enumerate(reader, start=2):
        if not any(cell.strip() for cell in cells):
            continue  # blank lines, often at the end
        if len(cells) > len(columns):
            raise CommandFailed(f"{name}, line {line}: more cells than columns", EXIT_USAGE)
        rows.append(
            {
                column: cell.strip()
                for column, cell in zip(columns, cells, strict=False)
                if cell.strip()
            }
        )
    return rows
