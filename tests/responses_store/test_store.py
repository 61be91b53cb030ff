"""The stored-responses table on both back-ends: migrations, rows, owners."""

from __future__ import annotations

from datetime import datetime

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import applied_versions
from tokligence.responses_store.migrations import ROLE, migrate_responses
from tokligence.responses_store.models import RESPONSES_TABLE, StoredResponse
from tokligence.responses_store.store import ResponseStore, StoredTurn, load_turn, save_turn
from tokligence.responses_store.turns import input_items, resumed

WHEN = datetime(2026, 1, 2, 3, 4, 5)
ITEMS = ({"type": "message", "role": "user", "content": [{"type": "input_text", "text": "hi"}]},)
ANSWER = {"id": "msg_1", "type": "message", "role": "assistant", "content": []}


def turn(rid: str = "resp_1", *, user_id: int | None = 7, text: str = "é \u2028") -> StoredTurn:
    return StoredTurn(
        id=rid,
        user_id=user_id,
        api_key_id=3,
        model="claude-x",
        previous_response_id=None,
        input_items=ITEMS,
        response={"id": rid, "output": [ANSWER], "note": text},
        created_at=WHEN,
    )


@pytest.fixture
def db(database: peewee.Database) -> peewee.Database:
    migrate_responses(database)
    return database


def test_migration_is_idempotent_and_matches_the_model(database: peewee.Database) -> None:
    assert migrate_responses(database).applied == (1,)
    assert migrate_responses(database).applied == ()
    with dbmod.connection(database):
        assert applied_versions(database, ROLE) == [1]
        columns = {c.name for c in database.get_columns(RESPONSES_TABLE)}
        indexed = {tuple(i.columns) for i in database.get_indexes(RESPONSES_TABLE)}
    assert columns == set(StoredResponse._meta.columns)
    assert ("user_id",) in indexed


def test_a_turn_round_trips_exactly(db: peewee.Database) -> None:
    save_turn(db, turn())
    assert load_turn(db, "resp_1") == turn()
    assert load_turn(db, "resp_missing") is None


def test_a_repeated_id_never_replaces_the_older_turn(db: peewee.Database) -> None:
    save_turn(db, turn(text="first"))
    with pytest.raises(peewee.IntegrityError):
        save_turn(db, turn(text="second"))
    loaded = load_turn(db, "resp_1")
    assert loaded is not None and loaded.response["note"] == "first"


async def test_only_the_owner_reads_a_turn(db: peewee.Database) -> None:
    store = ResponseStore(db)
    await store.save(turn("resp_a", user_id=7))
    await store.save(turn("resp_anon", user_id=None))
    assert (await store.load("resp_a", user_id=7)) == turn("resp_a", user_id=7)
    assert await store.load("resp_a", user_id=8) is None
    assert await store.load("resp_a", user_id=None) is None
    assert await store.load("resp_anon", user_id=7) is None
    assert (await store.load("resp_anon", user_id=None)) is not None


def test_history_is_input_then_output_then_the_new_input() -> None:
    body = resumed({"model": "m", "input": "next", "previous_response_id": "resp_1"}, turn())
    assert "previous_response_id" not in body
    assert body["input"] == [*ITEMS, ANSWER, *input_items("next")]
    assert input_items(None) == []
    assert input_items([ANSWER]) == [ANSWER]
