"""What the Anthropic front does for Claude Code in particular.

``thinking.display: "omitted"`` (Claude Code's default) asks for no reasoning
text back. Anthropic then sends signed, text-less thinking blocks; a
translated stream has no signature to send, so its reasoning renders nothing,
neither as thinking nor as text, while a real signature still opens a block.
Claude Code's recorded request parses with every field accounted for.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.sse_util import assert_byte_stable
from tokligence.canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    ReasoningPart,
    ReasoningSignature,
    Response,
    TextDelta,
    TextPart,
)
from tokligence.fronts.anthropic_messages import AnthropicMessagesFront

FRONT = AnthropicMessagesFront()
SAMPLE = Path(__file__).parents[1] / "agents" / "samples" / "claude_code_2.1.332_turn1_text.json"
SIGNATURE = "EqQBCkYIBxgCKkBreal0001"


def request(display: str | None) -> Any:
    thinking: dict[str, Any] = {"type": "adaptive"}
    if display is not None:
        thinking["display"] = display
    body = {
        "model": "claude-opus-5-5",
        "max_tokens": 64,
        "messages": [{"role": "user", "content": "hi"}],
        "thinking": thinking,
        "stream": True,
    }
    return FRONT.parse_request(json.dumps(body).encode())


def blocks(display: str | None, events: list[Event]) -> list[Any]:
    renderer = FRONT.stream_renderer(request(display))
    body = b"".join(renderer.feed(ev) for ev in events)
    return [d["content_block"] for n, d in assert_byte_stable(body) if n == "content_block_start"]


START = MessageStart(id="msg_1", model="claude-opus-5-5", created=0)


@pytest.mark.parametrize(
    ("display", "shown"), [("omitted", False), ("summarized", True), (None, True)]
)
def test_other_vendors_reasoning_is_shown_only_when_not_omitted(
    display: str | None, shown: bool
) -> None:
    events: list[Event] = [
        START,
        ReasoningDelta(text="private thought"),
        TextDelta(text="answer"),
        Finish(stop_reason="end_turn"),
    ]
    thinking = {"type": "thinking", "thinking": "", "signature": ""}
    text = {"type": "text", "text": ""}
    assert blocks(display, events) == ([thinking, text] if shown else [text])
    renderer = FRONT.stream_renderer(request(display))
    raw = b"".join(renderer.feed(ev) for ev in events)
    assert (b"private thought" in raw) is shown


def test_a_real_signature_still_opens_a_text_less_thinking_block() -> None:
    events: list[Event] = [
        START,
        ReasoningDelta(text="private thought", vendor="anthropic"),
        ReasoningSignature(signature=SIGNATURE, vendor="anthropic"),
        TextDelta(text="answer"),
        Finish(stop_reason="end_turn"),
    ]
    renderer = FRONT.stream_renderer(request("omitted"))
    evs = assert_byte_stable(b"".join(renderer.feed(ev) for ev in events))
    deltas = [d["delta"] for n, d in evs if n == "content_block_delta"]
    assert deltas == [
        {"type": "signature_delta", "signature": SIGNATURE},
        {"type": "text_delta", "text": "answer"},
    ]


def test_non_stream_answer_omits_reasoning_text_too() -> None:
    response = Response(
        id="msg_1",
        model="claude-opus-5-5",
        created=0,
        content=(
            ReasoningPart(text="private thought"),
            ReasoningPart(text="signed thought", signature=SIGNATURE, vendor="anthropic"),
            TextPart(text="answer"),
        ),
        stop_reason="end_turn",
    )
    omitted = json.loads(FRONT.render_response(response, request("omitted")))
    assert omitted["content"] == [
        {"type": "thinking", "thinking": "", "signature": SIGNATURE},
        {"type": "text", "text": "answer"},
    ]
    shown = json.loads(FRONT.render_response(response, request(None)))
    assert [b.get("thinking") for b in shown["content"]] == [
        "private thought",
        "signed thought",
        None,
    ]


def test_claude_codes_recorded_request_parses_field_by_field() -> None:
    raw = json.loads(SAMPLE.read_text())["body"]
    original = json.loads(raw)
    parsed = FRONT.parse_request(raw.encode())
    assert parsed.stream is True and parsed.max_tokens == original["max_tokens"]
    assert parsed.reasoning is not None
    assert (parsed.reasoning.mode, parsed.reasoning.display) == ("adaptive", "omitted")
    assert parsed.reasoning.effort == original["output_config"]["effort"]
    # Carried for a same-dialect upstream, never interpreted.
    assert parsed.extra["context_management"] == original["context_management"]
    assert parsed.extra["output_config"] == original["output_config"]
    assert parsed.metadata == original["metadata"]
    assert [p.text for p in parsed.system] == [b["text"] for b in original["system"]]
    assert [p.extra for p in parsed.system] == [
        {k: v for k, v in b.items() if k not in ("type", "text")} for b in original["system"]
    ]
    assert [m.role for m in parsed.messages] == [m["role"] for m in original["messages"]]
    deferred = [t for t in parsed.tools if getattr(t, "extra", {}).get("defer_loading")]
    assert [t.name for t in deferred] == [  # type: ignore[union-attr]
        t["name"] for t in original["tools"] if t.get("defer_loading")
    ]
