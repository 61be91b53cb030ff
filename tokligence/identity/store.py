"""The identity store: users and API keys, synchronous peewee.

Callers on the trio side run these in ``trio.to_thread.run_sync`` (the
``service`` module does). Every function takes the database explicitly and
returns frozen records (``records``), never model instances; problems a
caller can fix are raised as ``GatewayError`` — 400 for a bad value, 404
for a missing user or key, 409 for a duplicate e-mail — so the admin API
renders them as they are and the CLI prints their message.

Writes run in a transaction every other identity write waits for (SQLite
``BEGIN IMMEDIATE``, a PostgreSQL advisory lock: ``_storebase.writing``),
so a read-then-write such as :func:`import_users`, the "last root admin"
check or :func:`ensure_root_admin` cannot interleave with another
process's.

This module holds the user functions and re-exports the key functions of
``store_keys``, so ``store`` is the one import callers need.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from typing import Any, Literal

import peewee

from ..errors import ClientError, GatewayError, invalid
from ._storebase import (
    check_role,
    check_status,
    clean_text,
    normalize_email,
    now_utc,
    reading,
    user_record,
    user_row,
    writing,
)
from .models import ApiKey, User
from .records import DeletedUser, ImportResult, UserRecord
from .store_keys import (
    get_key,
    issue_key,
    list_keys,
    lookup_hash,
    lookup_key,
    revoke_key,
    touch_last_used,
    update_key,
)
from .store_keys import key_record as _key_record

__all__ = [
    "check_role",
    "check_status",
    "create_user",
    "delete_user",
    "ensure_root_admin",
    "find_user",
    "get_key",
    "get_user",
    "import_users",
    "issue_key",
    "list_keys",
    "list_users",
    "lookup_hash",
    "lookup_key",
    "normalize_email",
    "revoke_key",
    "touch_last_used",
    "update_key",
    "update_user",
]


def _duplicate(email: str) -> GatewayError:
    return ClientError(
        "invalid_request",
        f"a user with e-mail {email} already exists",
        status=409,
        code="user_exists",
    )


# ------------------------------------------------------------------- users


def create_user(
    db: peewee.Database,
    *,
    email: str,
    role: str = "gateway_user",
    display_name: str = "",
    status: str = "active",
) -> UserRecord:
    values = {
        "email": normalize_email(email),
        "role": check_role(role),
        "display_name": clean_text(display_name, "display_name"),
        "status": check_status(status),
    }
    with writing(db):
        if User.select().where(User.email == values["email"]).exists(db):
            raise _duplicate(values["email"])
        now = now_utc()
        user_id = User.insert(created_at=now, updated_at=now, **values).execute(db)
        return user_record(user_row(db, int(user_id)))


def get_user(db: peewee.Database, user_id: int) -> UserRecord:
    with reading(db):
        return user_record(user_row(db, user_id))


def find_user(db: peewee.Database, email: str) -> UserRecord | None:
    with reading(db):
        row = User.select().where(User.email == email.strip().lower()).first(db)
        return None if row is None else user_record(row)


def list_users(db: peewee.Database) -> list[UserRecord]:
    with reading(db):
        return [user_record(row) for row in User.select().order_by(User.id).execute(db)]


def _other_root_admins(db: peewee.Database, user_id: int) -> int:
    """Active root admins besides ``user_id``."""
    query = User.select().where(
        (User.role == "root_admin") & (User.status == "active") & (User.id != user_id)
    )
    return int(query.count(db))


def update_user(
    db: peewee.Database,
    user_id: int,
    *,
    email: str | None = None,
    display_name: str | None = None,
    role: str | None = None,
    status: str | None = None,
) -> UserRecord:
    """Change the given fields (None: keep). The last root admin cannot be
    demoted or disabled: nobody could manage the gateway any more."""
    changes: dict[str, Any] = {}
    if email is not None:
        changes["email"] = normalize_email(email)
    if display_name is not None:
        changes["display_name"] = clean_text(display_name, "display_name")
    if role is not None:
        changes["role"] = check_role(role)
    if status is not None:
        changes["status"] = check_status(status)
    with writing(db):
        row = user_row(db, user_id)
        changes = {name: value for name, value in changes.items() if getattr(row, name) != value}
        if not changes:
            return user_record(row)
        if "email" in changes and User.select().where(User.email == changes["email"]).exists(db):
            raise _duplicate(changes["email"])
        losing_root = row.role == "root_admin" and (
            changes.get("role", "root_admin") != "root_admin" or changes.get("status") == "disabled"
        )
        if losing_root and _other_root_admins(db, user_id) == 0:
            raise invalid(
                f"{row.email} is the only active root_admin: promote another user first",
                param="role",
            )
        User.update(updated_at=now_utc(), **changes).where(User.id == user_id).execute(db)
        return user_record(user_row(db, user_id))


def delete_user(db: peewee.Database, user_id: int) -> DeletedUser:
    """Delete a user and its keys (the ledger keeps their ids; see models)."""
    with writing(db):
        row = user_row(db, user_id)
        if row.role == "root_admin" and _other_root_admins(db, user_id) == 0:
            raise invalid(f"{row.email} is the only active root_admin and cannot be deleted")
        owner = user_record(row)
        keys = tuple(
            _key_record(key, owner)
            for key in ApiKey.select().where(ApiKey.user == user_id).order_by(ApiKey.id).execute(db)
        )
        # Explicit rather than trusting ON DELETE CASCADE: SQLite enforces it
        # only with PRAGMA foreign_keys on, a per-connection setting.
        ApiKey.delete().where(ApiKey.user == user_id).execute(db)
        User.delete().where(User.id == user_id).execute(db)
    return DeletedUser(user=owner, keys=keys)


_IMPORT_FIELDS: dict[str, Callable[[str], str]] = {
    "display_name": lambda value: clean_text(value, "display_name"),
    "role": check_role,
    "status": check_status,
}


def import_users(db: peewee.Database, records: Iterable[Mapping[str, Any]]) -> ImportResult:
    """Create or update users by e-mail, all or nothing.

    Each record has ``email`` and optionally ``display_name``, ``role``
    (default ``gateway_user`` for new users) and ``status``; fields a record
    leaves out keep their stored value. Errors name the record's index.
    """
    wanted: dict[str, dict[str, Any]] = {}
    for index, record in enumerate(records):
        try:
            if not isinstance(record, Mapping):
                raise invalid("must be an object")
            email = record.get("email")
            if not isinstance(email, str):
                raise invalid("email is required and must be a string", param="email")
            values: dict[str, Any] = {}
            for name in ("display_name", "role", "status"):
                value = record.get(name)
                if value is None:
                    continue
                if not isinstance(value, str):
                    raise invalid(f"{name} must be a string", param=name)
                values[name] = _IMPORT_FIELDS[name](value)
            wanted[normalize_email(email)] = values  # a later record for an e-mail wins
        except GatewayError as error:
            where = f"users[{index}]" + (f".{error.param}" if error.param else "")
            raise invalid(f"{where}: {error.message}", param=where) from None
    created: list[UserRecord] = []
    updated: list[UserRecord] = []
    unchanged: list[UserRecord] = []
    with writing(db):
        existing = {
            row.email: row for row in User.select().where(User.email.in_(list(wanted))).execute(db)
        }
        now = now_utc()
        for email, values in wanted.items():
            row = existing.get(email)
            if row is None:
                values = {"role": "gateway_user", "display_name": "", **values}
                insert = User.insert(email=email, created_at=now, updated_at=now, **values)
                created.append(user_record(user_row(db, int(insert.execute(db)))))
                continue
            changes = {name: value for name, value in values.items() if getattr(row, name) != value}
            if not changes:
                unchanged.append(user_record(row))
                continue
            User.update(updated_at=now, **changes).where(User.id == row.id).execute(db)
            updated.append(user_record(user_row(db, row.id)))
        # As update_user and delete_user refuse it one user at a time: an
        # import never leaves the gateway without an active root admin
        # (raising rolls the whole import back).
        if _other_root_admins(db, 0) == 0 and any(
            row.role == "root_admin" and row.status == "active" for row in existing.values()
        ):
            raise invalid("the import would leave no active root_admin: promote another user first")
    return ImportResult(created=tuple(created), updated=tuple(updated), unchanged=tuple(unchanged))


RootAdminOutcome = Literal["existing", "created", "promoted"]


def ensure_root_admin(db: peewee.Database, email: str) -> tuple[UserRecord, RootAdminOutcome]:
    """The root admin, created from ``admin_email`` when there is none.

    Returns the user and what happened: ``existing`` (there was a root
    admin), ``created`` (a new account) or ``promoted`` (the account with
    that address became the root admin). An existing root admin is left as it is, even
    when ``admin_email`` names someone else: renaming accounts from a config
    file would let whoever edits it take one over.
    """
    address = normalize_email(email)
    with writing(db):
        row = User.select().where(User.role == "root_admin").order_by(User.id).first(db)
        if row is not None:
            return user_record(row), "existing"
        taken = User.select().where(User.email == address).first(db)
        now = now_utc()
        if taken is not None:
            # The configured address already has an account: promote it.
            User.update(role="root_admin", status="active", updated_at=now).where(
                User.id == taken.id
            ).execute(db)
            return user_record(user_row(db, taken.id)), "promoted"
        user_id = User.insert(
            email=address,
            display_name="",
            role="root_admin",
            status="active",
            created_at=now,
            updated_at=now,
        ).execute(db)
        return user_record(user_row(db, int(user_id))), "created"
