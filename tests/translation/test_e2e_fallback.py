"""Retries and fallback, seen from the official SDKs.

The rig retries each upstream once (``max_retries=1``, 10 ms backoff) on
429/5xx and routes ``fallback-*`` to Anthropic first, then ``backup`` (an
OpenAI-Chat provider). Until the first byte reaches the client a failure may
go to the next attempt; after it, never: the client sees the in-stream error
and the upstream saw exactly one request.
"""

from __future__ import annotations

import time
from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, anthropic_error, messages_stream
from tests.fakes.openai_chat import openai_error

from .conftest import Rig
from .rigs import (
    CHAT_PATH,
    CLAUDE,
    MESSAGES_PATH,
    PATHS,
    ClientKind,
    Path,
    Turn,
    ask,
    chat_client,
    messages_client,
    path_params,
    post_raw,
    raw_outcome,
    script,
    stream_body,
    upstream_reply,
)

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
CLIENTS = pytest.mark.parametrize("client", ["chat", "messages", "responses"])
OK = Turn(text=("from ", "primary"))
BACKUP_OK = Turn(text=("from ", "backup"))


def fallback_path(client: ClientKind) -> Path:
    # The Anthropic attempt is a passthrough for a Messages client.
    return Path("fallback", client, "anthropic", "fallback-x", passthrough=client == "messages")


def overloaded() -> Any:
    return anthropic_error(529, "overloaded_error", "Overloaded")


@CLIENTS
@STREAM
def test_fallback_after_529_twice_the_backup_answers(
    fresh: Rig, client: ClientKind, stream: bool
) -> None:
    fresh.anthropic.enqueue(MESSAGES_PATH, overloaded(), overloaded())
    fresh.backup.enqueue(CHAT_PATH, upstream_reply("chat", BACKUP_OK, stream=stream))
    answer = ask(fresh, fallback_path(client), stream=stream)
    assert answer.text == "from backup"
    assert len(fresh.anthropic.requests(MESSAGES_PATH)) == 2
    (sent,) = fresh.backup.requests(CHAT_PATH)
    assert sent.json["model"] == "fallback-x"
    assert sent.headers["authorization"] == "Bearer backup-key"


@path_params()
@STREAM
def test_500_then_success_is_retried_on_the_same_upstream(
    fresh: Rig, path: Path, stream: bool
) -> None:
    if path.upstream == "anthropic":
        failure = anthropic_error(500, "api_error", "Internal server error")
    else:
        failure = openai_error(500, "server_error", "The server had an error")
    script(fresh, path, failure, upstream_reply(path.upstream, OK, stream=stream))
    answer = ask(fresh, path, stream=stream)
    assert answer.text == "from primary"
    assert len(path.fake(fresh).requests(path.upstream_path)) == 2


@CLIENTS
def test_fm18_mid_stream_failure_is_neither_retried_nor_fallen_back(
    fresh: Rig, client: ClientKind
) -> None:
    path = fallback_path(client)
    broken = messages_stream(
        MessagesScenario(blocks=[TextBlock(pieces=["Hel", "lo"])], error_after=5)
    )
    fresh.anthropic.enqueue(MESSAGES_PATH, broken, messages_stream(MessagesScenario()))
    fresh.backup.enqueue(CHAT_PATH, upstream_reply("chat", BACKUP_OK, stream=True))
    raw = post_raw(fresh, path.client_path, stream_body(path))
    done, failed, text = raw_outcome(path.client, raw.body)
    assert (done, failed, text) == (False, True, "Hello")
    assert len(fresh.anthropic.requests(MESSAGES_PATH)) == 1
    assert fresh.backup.received == []


def test_non_retryable_400_is_neither_retried_nor_fallen_back(fresh: Rig) -> None:
    bad = anthropic_error(400, "invalid_request_error", "messages: bad")
    fresh.anthropic.enqueue(MESSAGES_PATH, bad, bad)
    fresh.backup.enqueue(CHAT_PATH, upstream_reply("chat", BACKUP_OK, stream=False))
    with chat_client(fresh) as client, pytest.raises(openai.BadRequestError):
        client.chat.completions.create(
            model="fallback-x", messages=[{"role": "user", "content": "hi"}]
        )
    assert len(fresh.anthropic.requests(MESSAGES_PATH)) == 1
    assert fresh.backup.received == []


def test_retry_after_zero_then_success(fresh: Rig) -> None:
    limited = anthropic_error(429, "rate_limit_error", "slow down", retry_after=0)
    ok = upstream_reply("anthropic", OK, stream=True)
    fresh.anthropic.enqueue(MESSAGES_PATH, limited, ok)
    answer = ask(fresh, PATHS[0], stream=True)
    assert answer.text == "from primary"
    assert len(fresh.anthropic.requests(MESSAGES_PATH)) == 2


def test_retry_after_is_honoured_before_retrying(fresh: Rig) -> None:
    # The rig's own backoff is 10 ms: only the upstream's hint explains a wait.
    limited = anthropic_error(429, "rate_limit_error", "slow down", retry_after=0.5)
    fresh.anthropic.enqueue(MESSAGES_PATH, limited, upstream_reply("anthropic", OK, stream=False))
    started = time.monotonic()
    with messages_client(fresh) as client:
        message = client.messages.create(
            model=CLAUDE,
            max_tokens=32,
            messages=[{"role": "user", "content": "hi"}],
        )
    elapsed = time.monotonic() - started
    assert message.content[0].type == "text"
    first, second = fresh.anthropic.requests(MESSAGES_PATH)
    assert second.body == first.body
    assert elapsed >= 0.5


def test_retry_after_beyond_the_longest_wait_falls_back_at_once(fresh: Rig) -> None:
    limited = anthropic_error(429, "rate_limit_error", "slow down", retry_after=3600)
    fresh.anthropic.enqueue(MESSAGES_PATH, limited, limited)
    fresh.backup.enqueue(CHAT_PATH, upstream_reply("chat", BACKUP_OK, stream=False))
    started = time.monotonic()
    answer = ask(fresh, fallback_path("chat"), stream=False)
    assert answer.text == "from backup"
    assert time.monotonic() - started < 5
    assert len(fresh.anthropic.requests(MESSAGES_PATH)) == 1


def test_rate_limit_on_the_last_upstream_reaches_the_messages_client(fresh: Rig) -> None:
    fresh.anthropic.enqueue(MESSAGES_PATH, overloaded(), overloaded())
    limited = openai_error(429, "requests", "Rate limit reached", "rate_limit_exceeded")
    fresh.backup.enqueue(CHAT_PATH, limited, limited)
    with messages_client(fresh) as client, pytest.raises(anthropic.RateLimitError) as caught:
        client.messages.create(
            model="fallback-x", max_tokens=32, messages=[{"role": "user", "content": "hi"}]
        )
    body = caught.value.response.json()
    assert body["type"] == "error" and body["error"]["type"] == "rate_limit_error"
    assert "Rate limit reached" in body["error"]["message"]
    assert len(fresh.backup.requests(CHAT_PATH)) == 2
