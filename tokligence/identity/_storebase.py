"""What the two halves of the identity store share (package-private).

Transactions, the user row -> record conversion, the value checks whose
failures become 400s, and the ``GatewayError`` of a missing user.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timezone

import peewee

from ..auth import Role, parse_role
from ..errors import ClientError, GatewayError, invalid
from ..ledger import db as dbmod
from ..ledger.models import from_stored
from .models import User
from .records import Status, UserRecord, parse_status

MAX_NAME_LENGTH = 200


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def aware(moment: datetime | None) -> datetime | None:
    return None if moment is None else from_stored(moment)


@contextmanager
def reading(db: peewee.Database) -> Iterator[None]:
    with dbmod.connection(db):
        yield


# The lock every identity write holds on PostgreSQL (see ``writing``).
WRITE_LOCK = "identity-write"


@contextmanager
def writing(db: peewee.Database) -> Iterator[None]:
    """A write transaction that every other identity write waits for, in this
    process or another: SQLite's ``BEGIN IMMEDIATE`` (the file's write lock),
    PostgreSQL's advisory transaction lock on :data:`WRITE_LOCK`. So a
    read-then-write (the root admin made once by gateways starting together,
    the "only active root_admin" check, an import) sees every write
    committed before it and none interleaves; a plain PostgreSQL
    transaction (READ COMMITTED) would let two such writes both pass their
    checks. Identity writes are admin operations and batched ``last_used``
    updates: serialising them costs nothing that matters."""
    try:
        with dbmod.connection(db), dbmod.backend_of(db).exclusive_transaction(db, WRITE_LOCK):
            yield
    except peewee.IntegrityError:
        # The store checks before it writes (a taken e-mail, say) under the
        # lock; a writer that does not take it (another program, an older
        # gateway) could still commit between check and write.
        raise ClientError(
            "invalid_request",
            "the change conflicts with one made at the same time; retry it",
            status=409,
            code="conflict",
        ) from None


# ------------------------------------------------------------------ values


def normalize_email(text: str) -> str:
    email = text.strip().lower()
    local, at, domain = email.partition("@")
    if not (local and at and domain) or any(ch.isspace() for ch in email):
        raise invalid(f"invalid e-mail address {text.strip()!r}", param="email")
    return email


def check_role(text: str) -> Role:
    try:
        return parse_role(text)
    except ValueError as error:
        raise invalid(str(error), param="role") from None


def check_status(text: str) -> Status:
    try:
        return parse_status(text)
    except ValueError as error:
        raise invalid(str(error), param="status") from None


def clean_text(value: str, param: str) -> str:
    text = value.strip()
    if len(text) > MAX_NAME_LENGTH:
        raise invalid(f"{param} is longer than {MAX_NAME_LENGTH} characters", param=param)
    return text


def user_record(row: User) -> UserRecord:
    return UserRecord(
        id=row.id,
        email=row.email,
        display_name=row.display_name or "",
        role=parse_role(row.role),
        status=parse_status(row.status),
        created_at=from_stored(row.created_at),
        updated_at=from_stored(row.updated_at),
    )


def user_row(db: peewee.Database, user_id: int) -> User:
    row = User.select().where(User.id == user_id).first(db)
    if row is None:
        raise ClientError("not_found", f"no user with id {user_id}", code="user_not_found")
    return row  # type: ignore[no-any-return]


def _duplicate(email: str) -> GatewayError:
    return ClientError(
        "invalid_request",
        f"a user with e-mail {email} already exists",
        status=409,
        code="user_exists",
    )
