"""Stored responses through real gateways: two gateway instances on one
database (SQLite file or PostgreSQL), the official OpenAI SDK as client,
and a fake Anthropic upstream that records what translation sent.

The properties: a turn stored with ``store`` is readable (``GET
/v1/responses/{id}``) from the other gateway the moment its
``response.completed`` arrives; ``previous_response_id`` continues it there
with the whole history; unknown ids get OpenAI's errors; ``store: false``
stores nothing; and with auth on, one user cannot see another's turns.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_json, messages_stream
from tests.fakes.wire import FakeServer, Received, Reply
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity import store as identity_store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database

MODEL = "claude-sonnet-4-5"
MESSAGES_PATH = "/v1/messages"


def answer(received: Received) -> Reply:
    """A model that says which user turn it is answering."""
    body = received.json
    last = body["messages"][-1]["content"]
    text = last if isinstance(last, str) else "".join(b.get("text", "") for b in last)
    scenario = MessagesScenario(
        id=f"msg_{received.connection}_{len(body['messages'])}",
        blocks=[TextBlock(pieces=["re: ", text])],
    )
    return messages_stream(scenario) if body.get("stream") else messages_json(scenario)


@dataclass
class Pair:
    a: GatewayThread
    b: GatewayThread
    fake: FakeServer

    def client(self, gateway: GatewayThread, key: str = "unused") -> openai.OpenAI:
        return openai.OpenAI(base_url=gateway.url() + "/v1", api_key=key, max_retries=0)


def start_pair(tmp: Path, database_url: str, **env: str) -> Iterator[Pair]:
    fake = FakeServer()
    fake.set_default(MESSAGES_PATH, answer)
    with fake.running_in_thread() as url:
        settings = {
            "TOKLIGENCE_DATABASE_URL": database_url,
            "TOKLIGENCE_ANTHROPIC_API_KEY": "upstream-key",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": url,
            **env,
        }
        with (
            GatewayThread(isolated_config(tmp / "a", env=settings)) as a,
            GatewayThread(isolated_config(tmp / "b", env=settings)) as b,
        ):
            yield Pair(a=a, b=b, fake=fake)


@pytest.fixture
def pair(tmp_path: Path, database_url: str) -> Iterator[Pair]:
    yield from start_pair(tmp_path, database_url)


def sent_texts(fake: FakeServer) -> list[list[str]]:
    out = []
    for received in fake.requests(MESSAGES_PATH):
        texts = []
        for message in received.json["messages"]:
            content = message["content"]
            blocks = [{"text": content}] if isinstance(content, str) else content
            texts.append(message["role"] + ":" + "".join(b.get("text", "") for b in blocks))
        out.append(texts)
    return out


def test_a_streamed_turn_is_stored_before_completed_and_continues_elsewhere(pair: Pair) -> None:
    first_id = ""
    with pair.client(pair.a).responses.stream(model=MODEL, input="first", store=True) as stream:
        for event in stream:
            if event.type == "response.completed":
                first_id = event.response.id
                # Nothing has been read after the terminal event: the other
                # gateway must already find the turn.
                stored = pair.client(pair.b).responses.retrieve(first_id)
                assert stored.status == "completed"
                assert stored.output_text == "re: first"
    assert first_id
    follow = pair.client(pair.b).responses.create(
        model=MODEL, input="second", previous_response_id=first_id
    )
    assert follow.output_text == "re: second"
    assert follow.previous_response_id == first_id
    # The upstream got the whole conversation, not just the new input.
    assert sent_texts(pair.fake)[-1] == ["user:first", "assistant:re: first", "user:second"]
    # And the follow-up is itself stored (store defaults to true), on A too.
    again = pair.client(pair.a).responses.retrieve(follow.id)
    assert again.output_text == "re: second"
    third = pair.client(pair.a).responses.create(
        model=MODEL, input="third", previous_response_id=follow.id
    )
    assert third.output_text == "re: third"
    assert sent_texts(pair.fake)[-1] == [
        "user:first",
        "assistant:re: first",
        "user:second",
        "assistant:re: second",
        "user:third",
    ]


def test_unknown_ids_get_openais_errors(pair: Pair) -> None:
    client = pair.client(pair.a)
    with pytest.raises(openai.BadRequestError) as caught:
        client.responses.create(model=MODEL, input="x", previous_response_id="resp_nope")
    error = caught.value.response.json()["error"]
    assert error["code"] == "previous_response_not_found"
    assert error["param"] == "previous_response_id"
    assert error["type"] == "invalid_request_error"
    with pytest.raises(openai.NotFoundError):
        client.responses.retrieve("resp_nope")
    assert pair.fake.requests(MESSAGES_PATH) == []


def test_store_false_stores_nothing(pair: Pair) -> None:
    done = pair.client(pair.a).responses.create(model=MODEL, input="private", store=False)
    assert done.to_dict()["store"] is False
    with pytest.raises(openai.NotFoundError):
        pair.client(pair.b).responses.retrieve(done.id)


def test_loopback_turns_are_stored_too(pair: Pair) -> None:
    done = pair.client(pair.a).responses.create(model="loopback", input="echo me")
    assert pair.client(pair.b).responses.retrieve(done.id).output_text == "echo me"


def two_users(database_url: str) -> tuple[str, str]:
    """Gateway keys of two users, alice and bob, in the shared database."""
    db = open_database(database_url)
    try:
        migrate_identity(db)
        keys = []
        for email in ("alice@example.com", "bob@example.com"):
            user = identity_store.create_user(db, email=email)
            keys.append(identity_store.issue_key(db, user.id)[1])
    finally:
        close_database(db)
    return keys[0], keys[1]


def test_one_user_cannot_read_anothers_turns(tmp_path: Path, database_url: str) -> None:
    alice_key, bob_key = two_users(database_url)
    for pair in start_pair(tmp_path, database_url, TOKLIGENCE_AUTH_DISABLED="false"):
        mine = pair.client(pair.a, alice_key).responses.create(model=MODEL, input="secret")
        assert pair.client(pair.b, alice_key).responses.retrieve(mine.id).id == mine.id
        intruder = pair.client(pair.b, bob_key)
        with pytest.raises(openai.NotFoundError):
            intruder.responses.retrieve(mine.id)
        with pytest.raises(openai.BadRequestError):
            intruder.responses.create(model=MODEL, input="x", previous_response_id=mine.id)
        # The refusal looks exactly like an unknown id: nothing leaks.
        raw = httpx.get(
            pair.b.url() + f"/v1/responses/{mine.id}",
            headers={"authorization": f"Bearer {bob_key}"},
        )
        unknown = httpx.get(
            pair.b.url() + "/v1/responses/resp_nope",
            headers={"authorization": f"Bearer {bob_key}"},
        )
        assert raw.status_code == unknown.status_code == 404
        assert _without_id(raw.json()) == _without_id(unknown.json())


def test_an_upstream_that_repeats_its_ids_never_overwrites_a_turn(
    tmp_path: Path, database_url: str
) -> None:
    alice_key, bob_key = two_users(database_url)

    def same_id(received: Received) -> Reply:
        scenario = MessagesScenario(id="msg_always_the_same", blocks=[TextBlock(pieces=["ok"])])
        return messages_stream(scenario) if received.json.get("stream") else messages_json(scenario)

    for pair in start_pair(tmp_path, database_url, TOKLIGENCE_AUTH_DISABLED="false"):
        pair.fake.set_default(MESSAGES_PATH, same_id)
        alices = pair.client(pair.a, alice_key).responses.create(model=MODEL, input="alice's")
        with pair.client(pair.b, bob_key).responses.stream(model=MODEL, input="bob's") as stream:
            bobs = stream.get_final_response()
        again = pair.client(pair.a, alice_key).responses.create(model=MODEL, input="again")
        ids = {alices.id, bobs.id, again.id}
        assert len(ids) == 3 and all(i.startswith("resp_") for i in ids)
        assert not any("always_the_same" in i for i in ids)  # the gateway's own ids
        # Each turn is still its owner's, with its own input.
        kept = pair.client(pair.b, alice_key).responses.retrieve(alices.id)
        assert kept.id == alices.id
        assert pair.client(pair.a, bob_key).responses.retrieve(bobs.id).id == bobs.id
        with pytest.raises(openai.NotFoundError):
            pair.client(pair.a, bob_key).responses.retrieve(alices.id)
        follow = pair.client(pair.a, alice_key).responses.create(
            model=MODEL, input="and?", previous_response_id=alices.id
        )
        assert follow.id not in ids
        assert sent_texts(pair.fake)[-1][0] == "user:alice's"  # its own history, not bob's


def test_a_turn_is_deleted_by_its_owner_only(tmp_path: Path, database_url: str) -> None:
    alice_key, bob_key = two_users(database_url)
    for pair in start_pair(tmp_path, database_url, TOKLIGENCE_AUTH_DISABLED="false"):
        mine = pair.client(pair.a, alice_key).responses.create(model=MODEL, input="keep me")
        with pytest.raises(openai.NotFoundError):
            pair.client(pair.b, bob_key).responses.delete(mine.id)
        assert pair.client(pair.b, alice_key).responses.retrieve(mine.id).id == mine.id
        raw = httpx.delete(
            pair.b.url() + f"/v1/responses/{mine.id}",
            headers={"authorization": f"Bearer {alice_key}"},
        )
        assert raw.status_code == 200
        assert raw.json() == {"id": mine.id, "object": "response", "deleted": True}
        with pytest.raises(openai.NotFoundError):
            pair.client(pair.a, alice_key).responses.retrieve(mine.id)
        with pytest.raises(openai.NotFoundError):
            pair.client(pair.a, alice_key).responses.delete(mine.id)


def _without_id(body: dict[str, Any]) -> dict[str, Any]:
    error = dict(body["error"])
    error["message"] = error["message"].split("'")[0]
    return error


def test_with_the_ledger_off_turns_are_still_stored(tmp_path: Path, database_url: str) -> None:
    # The store then has a database connection of its own (with the ledger
    # on it shares the ledger's).
    for pair in start_pair(tmp_path, database_url, TOKLIGENCE_LEDGER_ENABLED="false"):
        first = pair.client(pair.a).responses.create(model=MODEL, input="first", store=True)
        stored = pair.client(pair.b).responses.retrieve(first.id)
        assert stored.output_text == "re: first"
