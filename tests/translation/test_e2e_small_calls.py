"""``count_tokens`` and embeddings are model calls like the others: the same
routing, work modes, retries, circuit breaker and fallback (the rig retries
each upstream once on 429/5xx and routes ``fallback-*`` to Anthropic, then
``backup``, an OpenAI-Chat provider).

``count_tokens`` passes through to an Anthropic counter and is answered
with the gateway's own flagged estimate on any other target; embeddings
pass through to an OpenAI-kind provider and are computed by the loopback
model.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.fakes.anthropic import anthropic_error, count_tokens_reply
from tests.fakes.openai_chat import openai_error
from tests.fakes.wire import html_error, json_reply

from .conftest import Rig
from .test_ledger_paths import row_for

COUNT_PATH = "/v1/messages/count_tokens"
EMBEDDINGS_PATH = "/v1/embeddings"
ESTIMATE_HEADER = "x-tokligence-token-estimate"


def count(rig: Rig, model: str) -> httpx.Response:
    body = {"model": model, "messages": [{"role": "user", "content": "how many tokens is this"}]}
    return httpx.post(
        f"{rig.url}/v1/messages/count_tokens",
        json=body,
        headers={"anthropic-version": "2023-06-01", "x-api-key": "client-key"},
        timeout=10,
    )


def embed(rig: Rig, model: str) -> httpx.Response:
    body = {"model": model, "input": ["hello", "world"]}
    return httpx.post(f"{rig.url}/v1/embeddings", json=body, timeout=10)


def embeddings_reply() -> Any:
    return json_reply(
        {
            "object": "list",
            "data": [
                {"object": "embedding", "index": 0, "embedding": [0.1, 0.2]},
                {"object": "embedding", "index": 1, "embedding": [0.3, 0.4]},
            ],
            "model": "text-embedding-3-small",
            "usage": {"prompt_tokens": 2, "total_tokens": 2},
        }
    )


def overloaded() -> Any:
    return anthropic_error(529, "overloaded_error", "Overloaded")


# ------------------------------------------------------------------ count_tokens


def test_count_tokens_is_retried_after_a_529(fresh: Rig) -> None:
    fresh.anthropic.enqueue(COUNT_PATH, overloaded(), count_tokens_reply(321))
    answer = count(fresh, "claude-sonnet-4-5")
    assert answer.status_code == 200
    assert answer.json() == {"input_tokens": 321}
    assert ESTIMATE_HEADER not in answer.headers
    assert len(fresh.anthropic.requests(COUNT_PATH)) == 2


def test_count_tokens_falls_back_to_the_next_target_as_an_estimate(fresh: Rig) -> None:
    fresh.anthropic.enqueue(COUNT_PATH, overloaded(), overloaded())
    answer = count(fresh, "fallback-x")
    assert answer.status_code == 200
    assert answer.headers[ESTIMATE_HEADER] == "true"
    assert answer.json()["input_tokens"] > 0
    assert len(fresh.anthropic.requests(COUNT_PATH)) == 2
    assert fresh.backup.requests(COUNT_PATH) == []  # an estimate: nothing reached it
    row = row_for(fresh, answer.headers["x-request-id"])
    assert (row.provider, row.mode, row.status, row.error_kind) == ("backup", "native", 200, None)
    assert (row.input_tokens, row.output_tokens) == (0, 0)  # counting costs nothing


def test_count_tokens_upstream_error_is_relayed_in_its_own_envelope(fresh: Rig) -> None:
    fresh.anthropic.enqueue(
        COUNT_PATH, anthropic_error(400, "invalid_request_error", "messages: too short")
    )
    answer = count(fresh, "claude-sonnet-4-5")
    assert answer.status_code == 400
    assert answer.json()["error"] == {
        "type": "invalid_request_error",
        "message": "messages: too short",
    }
    assert len(fresh.anthropic.requests(COUNT_PATH)) == 1  # a 400 is not retried


def test_count_tokens_html_error_page_becomes_an_anthropic_envelope(fresh: Rig) -> None:
    fresh.anthropic.enqueue(COUNT_PATH, html_error(502), html_error(502))
    answer = count(fresh, "claude-sonnet-4-5")
    assert answer.status_code == 502
    assert answer.json()["type"] == "error"
    assert len(fresh.anthropic.requests(COUNT_PATH)) == 2


def test_count_tokens_passthrough_relays_a_body_it_does_not_read(fresh: Rig) -> None:
    """The counter of the client's own API answers for the bytes it gets: a
    value the front refuses (or does not know yet) is its to judge. Where the
    gateway answers with its estimate, it reads the body and refuses it."""
    future = {"type": "a_block_from_the_future", "data": "x"}
    body = {
        "model": "claude-sonnet-4-5",
        "messages": [{"role": "user", "content": [future]}],
        "temperature": 1.5,
    }
    headers = {"anthropic-version": "2023-06-01", "x-api-key": "client-key"}
    fresh.anthropic.enqueue(COUNT_PATH, count_tokens_reply(7))
    relayed = httpx.post(fresh.url + COUNT_PATH, json=body, headers=headers, timeout=10)
    assert (relayed.status_code, relayed.json()) == (200, {"input_tokens": 7})
    assert fresh.anthropic.last_json(COUNT_PATH)["messages"] == body["messages"]
    estimated = httpx.post(
        fresh.url + COUNT_PATH, json={**body, "model": "compat-x"}, headers=headers, timeout=10
    )
    assert estimated.status_code == 400
    assert "temperature" in estimated.json()["error"]["message"]


# ------------------------------------------------------------------ embeddings


def test_embeddings_are_retried_after_a_503(fresh: Rig) -> None:
    fresh.openai.enqueue(
        EMBEDDINGS_PATH,
        openai_error(503, "server_error", "The server is overloaded"),
        embeddings_reply(),
    )
    answer = embed(fresh, "text-embedding-3-small")
    assert answer.status_code == 200
    assert [d["embedding"] for d in answer.json()["data"]] == [[0.1, 0.2], [0.3, 0.4]]
    assert len(fresh.openai.requests(EMBEDDINGS_PATH)) == 2
    row = row_for(fresh, answer.headers["x-request-id"])
    assert (row.provider, row.mode, row.status) == ("openai", "passthrough", 200)


def test_embeddings_html_error_on_the_last_try_is_an_openai_envelope(fresh: Rig) -> None:
    fresh.openai.enqueue(EMBEDDINGS_PATH, html_error(502), html_error(502))
    answer = embed(fresh, "text-embedding-3-small")
    assert answer.status_code == 502
    assert answer.json()["error"]["type"] == "server_error"
    assert answer.headers["content-type"].startswith("application/json")
    assert len(fresh.openai.requests(EMBEDDINGS_PATH)) == 2


@pytest.mark.parametrize("model", ["claude-sonnet-4-5", "fallback-x"])
def test_embeddings_of_a_model_on_anthropic_are_refused(fresh: Rig, model: str) -> None:
    answer = embed(fresh, model)
    assert answer.status_code == 400
    error = answer.json()["error"]
    assert "serves no embeddings" in error["message"]
    assert error["param"] == "model"
    assert fresh.anthropic.requests(EMBEDDINGS_PATH) == []


def test_loopback_embeddings_are_counted(fresh: Rig) -> None:
    answer = embed(fresh, "loopback")
    assert answer.status_code == 200
    assert len(answer.json()["data"]) == 2
    row = row_for(fresh, answer.headers["x-request-id"])
    assert (row.provider, row.mode) == ("loopback", "native")
    assert row.input_tokens == answer.json()["usage"]["prompt_tokens"] > 0
