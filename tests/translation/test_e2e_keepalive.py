"""Keep-alives, idle timeouts and unbuffered streaming, on the quick rig.

The quick rig (``rigs.quick_rig``) sends a keep-alive after 0.2 s of upstream
silence and gives up on an upstream silent for 1 s. A 0.6 s gap in the middle
of a stream must reach Anthropic clients as ``event: ping`` and OpenAI
clients as SSE comments (FM16), with the bytes before the gap delivered
before it (FM17); a relay may only put its comments between events. A 3 s
gap must end in the client protocol's in-stream error well before the
upstream would have resumed, not in a hang. The quick rig also carries a
model alias, for the model-identity tests at the end (FM20).
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.fakes.anthropic import PING, messages_events
from tests.fakes.openai_chat import chat_events
from tests.fakes.openai_responses import responses_events
from tests.fakes.sse_script import Gap, Item, Raw, encode, sse_reply
from tests.fakes.wire import Reply
from tests.sse_util import decode, events

from .conftest import Rig
from .rigs import (  # noqa: F401  (fixtures)
    ALIAS_MODEL,
    ALIAS_TARGET,
    CHAT_PATH,
    KEEPALIVE_S,
    MESSAGES_PATH,
    PATH_BY_ID,
    PATHS,
    READ_TIMEOUT_S,
    Path,
    Turn,
    anthropic_scenario,
    chat_client,
    chat_scenario,
    messages_client,
    path_params,
    post_raw,
    quick_fixture,
    quick_rig_fixture,
    raw_outcome,
    responses_scenario,
    script,
    stream_body,
    upstream_reply,
)

TURN = Turn(text=("Hel", "lo", " world"))
GAP_S = 0.6
DEAD_GAP_S = 3.0
COMMENT = b": keep-alive\n\n"
PING_EVENT = b"event: ping\n"


def _items(path: Path) -> list[Item]:
    if path.upstream == "anthropic":
        return messages_events(anthropic_scenario(TURN))
    if path.upstream == "chat":
        return chat_events(chat_scenario(TURN))
    return responses_events(responses_scenario(TURN))


def _is_text(item: Item, text: str) -> bool:
    if not isinstance(item, tuple) or not isinstance(item[1], dict):
        return False
    payload = item[1]
    if payload.get("type") == "content_block_delta":
        return bool(payload["delta"].get("text") == text)
    if payload.get("type") == "response.output_text.delta":
        return bool(payload["delta"] == text)
    return any(c["delta"].get("content") == text for c in payload.get("choices") or [])


def _with_gap(path: Path, seconds: float) -> Reply:
    """TURN with ``seconds`` of silence between the "Hel" and "lo" events."""
    items = _items(path)
    at = next(i for i, item in enumerate(items) if _is_text(item, "lo"))
    return sse_reply([*items[:at], Gap(seconds=seconds), *items[at:]])


def _text_positions(body: bytes) -> tuple[int, int]:
    first = body.index(b'"Hel"')
    return first, body.index(b'"lo"', first)


def _arrival(reply: Any, offset: int) -> float:
    """When the byte at ``offset`` of the body arrived."""
    seen = 0
    for at, piece in reply.pieces:
        seen += len(piece)
        if seen > offset:
            return float(at)
    raise AssertionError("offset beyond the body")


# ------------------------------------------------------------------ keep-alives


@path_params()
def test_fm16_fm17_silent_upstream_gets_keepalives_and_earlier_bytes_are_not_held(
    quick: Rig, path: Path
) -> None:
    reply = _with_gap(path, GAP_S)
    script(quick, path, reply)
    asked = {"stream_options": {"include_usage": True}} if path.client == "chat" else {}
    raw = post_raw(quick, path.client_path, stream_body(path, **asked))
    done, failed, text = raw_outcome(path.client, raw.body)
    assert (done, failed, text) == (True, False, "Hello world")
    first, second = _text_positions(raw.body)
    during = raw.body[first:second]
    # FM17: "Hel" reached the client before the upstream went quiet.
    assert _arrival(raw, second) - _arrival(raw, first) >= GAP_S - 0.1
    expected = int(GAP_S / KEEPALIVE_S) - 1
    if path.client == "messages" and not path.passthrough:
        assert during.count(PING_EVENT) >= expected  # Anthropic's own keep-alive event
        assert COMMENT not in raw.body
    else:
        assert during.count(COMMENT) >= expected
        assert PING_EVENT not in during
    if path.passthrough:
        # A relay adds comments only between events: without them, the
        # upstream's bytes are untouched.
        assert raw.body.replace(COMMENT, b"") == reply.body


@path_params([p for p in PATHS if p.passthrough])
def test_fm16_relay_never_puts_a_keepalive_inside_an_event(quick: Rig, path: Path) -> None:
    items = _items(path)
    at = next(i for i, item in enumerate(items) if _is_text(item, "lo"))
    data = encode(items[at])
    cut = data.index(b'"lo"')  # inside the data line of the event
    reply = sse_reply(
        [
            *items[:at],
            Raw(data=data[:cut]),
            Gap(seconds=GAP_S),
            Raw(data=data[cut:]),
            *items[at + 1 :],
        ]
    )
    script(quick, path, reply)
    asked = {"stream_options": {"include_usage": True}} if path.client == "chat" else {}
    raw = post_raw(quick, path.client_path, stream_body(path, **asked))
    without = raw.body.replace(COMMENT, b"")
    assert without == reply.body
    # Every comment sits where an event ended.
    position = 0
    for part in raw.body.split(COMMENT)[:-1]:
        position += len(part)
        assert position == 0 or reply.body[:position].endswith(b"\n\n")


@path_params([PATH_BY_ID["a_chat_to_anthropic"], PATH_BY_ID["c_responses_to_anthropic"]])
def test_fm16_upstream_pings_alone_still_keep_the_client_alive(quick: Rig, path: Path) -> None:
    items = messages_events(anthropic_scenario(TURN))
    first_delta = next(i for i, item in enumerate(items) if _is_text(item, "Hel"))
    pings: list[Item] = [x for _ in range(6) for x in (Gap(seconds=0.12), PING)]
    script(quick, path, sse_reply([*items[:first_delta], *pings, *items[first_delta:]]))
    raw = post_raw(quick, path.client_path, stream_body(path))
    before_text = raw.body[: raw.body.index(b'"Hel"')]
    # The upstream's pings are consumed, so the gateway must speak itself.
    assert before_text.count(COMMENT) >= 2
    assert raw_outcome(path.client, raw.body)[2] == "Hello world"


def test_fm16_relay_forwards_the_upstreams_own_pings(quick: Rig) -> None:
    path = PATH_BY_ID["f_messages_passthrough"]
    items = messages_events(anthropic_scenario(TURN))
    first_delta = next(i for i, item in enumerate(items) if _is_text(item, "Hel"))
    reply = sse_reply([*items[:first_delta], PING, PING, PING, *items[first_delta:]])
    script(quick, path, reply)
    raw = post_raw(quick, MESSAGES_PATH, stream_body(path))
    assert raw.body == reply.body
    assert [n for n, _ in events(raw.body)].count("ping") == 4


# ------------------------------------------------------------------ idle timeout


@path_params()
def test_fm16_dead_upstream_is_an_in_stream_error_not_a_hang(quick: Rig, path: Path) -> None:
    script(quick, path, _with_gap(path, DEAD_GAP_S))
    raw = post_raw(quick, path.client_path, stream_body(path))
    elapsed = raw.pieces[-1][0] if raw.pieces else 0.0
    done, failed, text = raw_outcome(path.client, raw.body)
    assert text == "Hel"
    assert not done
    assert failed or raw.error is not None, "the client must be told the upstream went silent"
    assert READ_TIMEOUT_S - 0.1 <= elapsed < DEAD_GAP_S - 0.5
    if path.client == "messages" and not path.passthrough:
        (error,) = [d for n, d in events(raw.body) if n == "error"]
        assert error["error"]["type"] == "timeout_error"
    assert len(path.fake(quick).requests(path.upstream_path)) == 1


# ------------------------------------------------------------------ headers (FM17)


@path_params()
def test_fm17_streams_are_marked_unbufferable_and_never_compressed(quick: Rig, path: Path) -> None:
    script(quick, path, upstream_reply(path.upstream, TURN, stream=True))
    raw = post_raw(
        quick, path.client_path, stream_body(path), headers={"accept-encoding": "gzip, br"}
    )
    assert raw.status == 200
    assert raw.headers["content-type"].startswith("text/event-stream")
    assert "content-encoding" not in raw.headers
    cache = raw.headers["cache-control"]
    assert "no-cache" in cache and "no-transform" in cache
    assert raw.headers["x-accel-buffering"] == "no"
    assert [item for item in decode(raw.body)]  # plain SSE, readable as is


# ------------------------------------------------------------------ model identity (FM20)


def test_fm20_claude_looking_alias_is_discoverable_by_claude_code(quick: Rig) -> None:
    with messages_client(quick) as client:
        ids = [m.id for m in client.models.list()]
    assert ALIAS_MODEL in ids
    # Claude Code keeps only ids that look like Claude's.
    assert [i for i in ids if i.startswith(("claude", "anthropic"))] == [ALIAS_MODEL]
    with chat_client(quick) as openai_client:
        assert ALIAS_MODEL in [m.id for m in openai_client.models.list()]


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_fm20_claude_looking_alias_is_mapped_to_the_internal_model(
    quick: Rig, stream: bool
) -> None:
    quick.openai.enqueue(CHAT_PATH, upstream_reply("chat", TURN, stream=stream))
    with messages_client(quick) as client:
        hi: Any = [{"role": "user", "content": "hi"}]
        if stream:
            with client.messages.stream(model=ALIAS_MODEL, max_tokens=32, messages=hi) as s:
                message = s.get_final_message()
        else:
            message = client.messages.create(model=ALIAS_MODEL, max_tokens=32, messages=hi)
    assert message.content[0].type == "text" and message.content[0].text == "Hello world"
    # The client sees the name it asked for, never the internal one.
    assert message.model == ALIAS_MODEL
    sent = quick.openai.last(CHAT_PATH)
    assert sent.json["model"] == ALIAS_TARGET
    assert sent.headers["authorization"] == "Bearer compat-key"
