"""Stored Responses turns: rows in, rows out, and the async face the
pipeline uses.

Theory of operation
-------------------
A turn is stored whole: the *effective* input (the items of every earlier
turn it continued, then its own) and the Response object exactly as the
client received it. A follow-up naming it in ``previous_response_id`` reads
one row and prepends ``input + output`` -- no chain walk, no partial
history if an old row is gone.

Writes are synchronous from the caller's point of view: the pipeline
awaits :meth:`ResponseStore.save` *before* the terminal event leaves, so a
client that saw ``response.completed`` can always continue from it, from
any gateway process on the same database. Database work runs in worker
threads (``trio.to_thread``) on pooled connections, as the ledger's does.

A row belongs to the gateway user whose key made the call (``None`` with
auth off). Another user's id reads as unknown: the answer never reveals
that the id exists.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from functools import partial
from typing import Any

import peewee
import trio

from ..errors import InternalError
from ..ledger import db as dbmod
from ..wire.json_body import dumps
from ..wire.text import storable
from .models import StoredResponse

log = logging.getLogger(__name__)

_DB_ERRORS = (peewee.PeeweeException, sqlite3.Error, OSError)


@dataclass(frozen=True, kw_only=True, slots=True)
class StoredTurn:
    id: str
    user_id: int | None
    api_key_id: int | None
    model: str
    previous_response_id: str | None
    input_items: Sequence[Any]
    response: Mapping[str, Any]
    created_at: datetime  # naive UTC

    def history(self) -> list[Any]:
        """What a follow-up continues from: the input, then the output."""
        output = self.response.get("output")
        return [*self.input_items, *(output if isinstance(output, list) else [])]


def now_utc() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def save_turn(db: peewee.Database, turn: StoredTurn) -> None:
    # A plain insert: the id is the gateway's own (unique per turn), and an
    # existing turn, perhaps another user's, is never replaced.
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        StoredResponse.insert(
            id=turn.id,
            user_id=turn.user_id,
            api_key_id=turn.api_key_id,
            model=storable(turn.model),
            previous_response_id=turn.previous_response_id,
            # dumps escapes a lone surrogate, which no database driver takes.
            input_items=dumps(list(turn.input_items)).decode(),
            response=dumps(dict(turn.response)).decode(),
            created_at=turn.created_at,
        ).execute(db)


def load_turn(db: peewee.Database, response_id: str) -> StoredTurn | None:
    with dbmod.connection(db):
        row = StoredResponse.select().where(StoredResponse.id == response_id).first(db)
    if row is None:
        return None
    return StoredTurn(
        id=row.id,
        user_id=row.user_id,
        api_key_id=row.api_key_id,
        model=row.model,
        previous_response_id=row.previous_response_id,
        input_items=tuple(json.loads(row.input_items)),
        response=json.loads(row.response),
        created_at=row.created_at,
    )


def delete_turn(db: peewee.Database, response_id: str, user_id: int | None) -> bool:
    """Delete ``user_id``'s turn ``response_id``; False when there was none."""
    owner = (
        StoredResponse.user_id.is_null() if user_id is None else StoredResponse.user_id == user_id
    )
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        query = StoredResponse.delete().where((StoredResponse.id == response_id) & owner)
        return bool(query.execute(db))


class ResponseStore:
    def __init__(self, db: peewee.Database) -> None:
        self.db = db

    async def save(self, turn: StoredTurn) -> None:
        try:
            await trio.to_thread.run_sync(partial(save_turn, self.db, turn))
        except _DB_ERRORS as exc:
            log.error("response %s not stored: %s", turn.id, exc)
            raise InternalError(
                "api_error", "the response could not be stored; retry the request"
            ) from None

    async def load(self, response_id: str, *, user_id: int | None) -> StoredTurn | None:
        """The turn, if it exists and belongs to ``user_id``."""
        try:
            turn = await trio.to_thread.run_sync(partial(load_turn, self.db, response_id))
        except _DB_ERRORS as exc:
            log.error("stored response %s not read: %s", response_id, exc)
            raise InternalError(
                "unavailable", "stored responses cannot be read right now; retry the request"
            ) from None
        if turn is None or turn.user_id != user_id:
            return None
        return turn

    async def delete(self, response_id: str, *, user_id: int | None) -> bool:
        """Delete the turn if it exists and belongs to ``user_id``."""
        try:
            return await trio.to_thread.run_sync(
                partial(delete_turn, self.db, response_id, user_id)
            )
        except _DB_ERRORS as exc:
            log.error("stored response %s not deleted: %s", response_id, exc)
            raise InternalError(
                "unavailable", "stored responses cannot be changed right now; retry the request"
            ) from None
