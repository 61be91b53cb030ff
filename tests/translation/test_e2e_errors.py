"""Errors on every path (FM18): before the first byte and in the middle of a stream.

Before the first byte the client must get its own protocol's error envelope
(Anthropic ``{"type":"error","error":{...}}`` for Messages clients, OpenAI
``{"error":{...}}`` otherwise) with the upstream's status, so its SDK raises
the right exception class, and ``retry-after`` on a 429. After the first
byte the client must see its protocol's in-stream error and no success
terminator (Chat: no ``[DONE]``; Messages: no ``message_stop``; Responses:
``response.failed``), and the call is never retried.

The rig retries 429/5xx once, so every error reply is queued twice; a 429
says ``retry-after: 60``, beyond the gateway's longest wait, so it is passed
on at once instead of slept on.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, anthropic_error, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_stream, openai_error
from tests.fakes.openai_responses import MessageItem, ResponsesScenario, responses_stream
from tests.fakes.sse_script import Framing
from tests.fakes.wire import Reply, html_error
from tests.sse_util import events

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig
from .rigs import (
    PATHS,
    Path,
    UpstreamKind,
    chat_client,
    messages_client,
    path_params,
    post_raw,
    raw_outcome,
    script,
    stream_body,
)

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
STATUSES = [400, 401, 404, 429, 500, 529, 502]
RETRIED = {500, 502, 529}
ANTHROPIC_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    404: "not_found_error",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
    502: "api_error",
}
OPENAI_TYPES: dict[int, tuple[str, str | None]] = {
    400: ("invalid_request_error", None),
    401: ("invalid_request_error", "invalid_api_key"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("requests", "rate_limit_exceeded"),
    500: ("server_error", None),
    529: ("server_error", "overloaded"),
}
OPENAI_CLASSES: dict[int, type[openai.APIStatusError]] = {
    400: openai.BadRequestError,
    401: openai.AuthenticationError,
    404: openai.NotFoundError,
    429: openai.RateLimitError,
    500: openai.InternalServerError,
    529: openai.InternalServerError,
    502: openai.InternalServerError,
}
ANTHROPIC_CLASSES: dict[int, type[anthropic.APIStatusError]] = {
    400: anthropic.BadRequestError,
    401: anthropic.AuthenticationError,
    404: anthropic.NotFoundError,
    429: anthropic.RateLimitError,
    500: anthropic.InternalServerError,
    529: anthropic.OverloadedError,
    502: anthropic.InternalServerError,
}
MARK = "upstream says no"


def error_reply(upstream: UpstreamKind, status: int) -> Reply:
    if status == 502:
        return html_error(502)  # a reverse proxy's page, not an API envelope
    retry_after = 60 if status == 429 else None
    if upstream == "anthropic":
        return anthropic_error(status, ANTHROPIC_TYPES[status], MARK, retry_after=retry_after)
    kind, code = OPENAI_TYPES[status]
    return openai_error(status, kind, MARK, code, retry_after=retry_after)


def _call(rig: Rig, path: Path, stream: bool) -> None:
    """One request through the client's SDK; consumes a stream fully."""
    hi: Any = [{"role": "user", "content": "hi"}]
    if path.client == "messages":
        with messages_client(rig) as client:
            if stream:
                for _ in client.messages.create(
                    model=path.model, max_tokens=64, messages=hi, stream=True
                ):
                    pass
            else:
                client.messages.create(model=path.model, max_tokens=64, messages=hi)
        return
    with chat_client(rig) as client:
        if path.client == "chat":
            if stream:
                for _ in client.chat.completions.create(model=path.model, messages=hi, stream=True):
                    pass
            else:
                client.chat.completions.create(model=path.model, messages=hi)
        elif stream:
            for _ in client.responses.create(model=path.model, input="hi", stream=True):
                pass
        else:
            client.responses.create(model=path.model, input="hi")


@path_params()
@pytest.mark.parametrize("status", STATUSES)
@STREAM
def test_fm18_pre_stream_error_in_the_clients_envelope(
    fresh: Rig, path: Path, status: int, stream: bool
) -> None:
    reply = error_reply(path.upstream, status)
    script(fresh, path, reply, reply)
    expected: type[Exception] = (
        ANTHROPIC_CLASSES[status] if path.client == "messages" else OPENAI_CLASSES[status]
    )
    with pytest.raises(expected) as caught:
        _call(fresh, path, stream)
    error = caught.value
    assert isinstance(error, (openai.APIStatusError, anthropic.APIStatusError))
    response = error.response
    assert response.status_code == status
    assert response.headers["content-type"].startswith("application/json")
    body = response.json()  # an envelope, even when the upstream sent HTML
    if path.client == "messages":
        assert body["type"] == "error"
        assert body["error"]["type"] == ANTHROPIC_TYPES[status]
        message = body["error"]["message"]
    else:
        assert set(body) == {"error"}
        assert {"message", "type"} <= set(body["error"])
        message = body["error"]["message"]
    assert isinstance(message, str)
    assert (MARK in message) if status != 502 else ("502" in message)
    if status == 429:
        assert response.headers["retry-after"] == "60"
    for secret in (OPENAI_KEY, ANTHROPIC_KEY):
        assert secret not in response.text
    upstream_calls = len(path.fake(fresh).requests(path.upstream_path))
    assert upstream_calls == (2 if status in RETRIED else 1)


# ------------------------------------------------------------------ mid-stream


def broken_stream(upstream: UpstreamKind, how: str) -> Reply:
    """Two text deltas, then an in-stream error (``how="error"``) or a cut TCP
    connection (``how="abrupt"``)."""
    if upstream == "anthropic":
        # message_start, block start, ping, two deltas: then the failure.
        blocks = [TextBlock(pieces=["Hel", "lo"])]
        if how == "error":
            return messages_stream(MessagesScenario(blocks=blocks, error_after=5))
        return messages_stream(MessagesScenario(blocks=blocks, framing=Framing(cut_after=5)))
    if upstream == "chat":
        if how == "error":
            return chat_stream(ChatScenario(text=["Hel", "lo"], error_after=3))
        return chat_stream(ChatScenario(text=["Hel", "lo"], abrupt=True))
    items = [MessageItem(pieces=["Hel", "lo"])]
    if how == "error":
        return responses_stream(ResponsesScenario(items=items, terminal="failed", error_event=True))
    return responses_stream(ResponsesScenario(items=items, abrupt=True))


def _sdk_stream_fails(rig: Rig, path: Path) -> None:
    """The client's SDK must raise (Chat, Messages) or end on response.failed."""
    hi: Any = [{"role": "user", "content": "hi"}]
    if path.client == "messages":
        with (
            messages_client(rig) as client,
            pytest.raises(anthropic.APIError),
            client.messages.stream(model=path.model, max_tokens=64, messages=hi) as s,
        ):
            s.get_final_message()
        return
    with chat_client(rig) as client:
        if path.client == "chat":
            with pytest.raises(openai.APIError):
                for _ in client.chat.completions.create(model=path.model, messages=hi, stream=True):
                    pass
        else:
            try:
                stream = client.responses.create(model=path.model, input="hi", stream=True)
                seen = [event.type for event in stream]
            except openai.APIError:
                return  # a broken connection is a failure the client sees too
            assert seen[-1] == "response.failed"
            assert "response.completed" not in seen


@path_params()
@pytest.mark.parametrize("how", ["error", "abrupt"])
def test_fm18_mid_stream_failure_is_an_in_stream_error_without_terminator(
    fresh: Rig, path: Path, how: str
) -> None:
    reply = broken_stream(path.upstream, how)
    script(fresh, path, reply, reply)
    raw = post_raw(fresh, path.client_path, stream_body(path))
    assert raw.status == 200
    done, failed, text = raw_outcome(path.client, raw.body)
    assert text == "Hello"  # what came before the failure was delivered
    assert not done, "a broken stream must not end with a success terminator"
    assert failed or raw.error is not None, "the client must be told the stream failed"
    _sdk_stream_fails(fresh, path)
    # Past the first byte nothing is retried: one upstream call per client call.
    assert len(path.fake(fresh).requests(path.upstream_path)) == 2


@pytest.mark.parametrize(
    "path", [p for p in PATHS if p.upstream == "anthropic"], ids=lambda p: p.id
)
def test_fm18_anthropic_overloaded_mid_stream_keeps_its_type(fresh: Rig, path: Path) -> None:
    script(fresh, path, broken_stream("anthropic", "error"))
    raw = post_raw(fresh, path.client_path, stream_body(path))
    payloads = [d for _, d in events(raw.body) if isinstance(d, dict)]
    if path.client == "messages":
        (error,) = [d for d in payloads if d.get("type") == "error"]
        assert error["error"]["type"] == "overloaded_error"
    elif path.client == "chat":
        (error,) = [d for d in payloads if "error" in d]
        assert error["error"]["code"] == "overloaded"
    else:
        (failed,) = [d for d in payloads if d.get("type") == "response.failed"]
        assert failed["response"]["status"] == "failed"
        assert failed["response"]["error"]["code"] == "server_error"
