"""Claude Code's real requests through the gateway, at the protocol level.

The bodies and headers are the samples recorded from the pinned binary
(``tests/agents/samples``, redacted): the first turn of ``claude -p`` and the
turn that returns a Bash result. They are replayed byte for byte with httpx,
so every field Claude Code sends meets the gateway exactly as it does live:

* passthrough to Anthropic: body bytes, ``?beta=true``, ``anthropic-beta``,
  ``anthropic-version`` arrive untouched, with either way of sending a key;
* translation to OpenAI Chat: each field mapped or dropped as the table in
  docs/claude-code.md says, and the stream back keeps the content-block
  invariants (checked by our lifecycle checker and the SDK's accumulator);
* ``count_tokens`` both ways, and ``GET /v1/models`` as discovery asks it.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import httpx
import pydantic
import pytest
from anthropic.lib.streaming._messages import accumulate_event
from anthropic.types import Message as SdkMessage
from anthropic.types import RawMessageStreamEvent

from tests.fakes.anthropic import MessagesScenario, TextBlock, count_tokens_reply, messages_stream
from tests.fakes.openai_chat import ChatScenario, ChatToolCall, chat_stream

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig
from .rigs import CHAT_PATH, MESSAGES_PATH, post_raw
from .test_e2e_wire import check_anthropic_lifecycle

SAMPLES = Path(__file__).parents[1] / "agents" / "samples"
GPT = "gpt-5"  # routed to the openai fake; a reasoning model
COUNT_PATH = "/v1/messages/count_tokens"
EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(RawMessageStreamEvent)


def sample(name: str) -> tuple[dict[str, str], bytes]:
    """(headers, body bytes) of a recorded Claude Code request."""
    recorded = json.loads((SAMPLES / f"claude_code_2.1.332_{name}.json").read_text())
    headers = {k.lower(): v for k, v in recorded["headers"].items()}
    headers.pop("accept-encoding", None)  # the raw reply is read undecoded
    return headers, recorded["body"].encode()


def with_model(body: bytes, model: str) -> bytes:
    return json.dumps({**json.loads(body), "model": model}).encode()


def compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def accumulate(body: bytes) -> SdkMessage:
    snapshot: Any = None  # the SDK types it as its ParsedMessage
    buffers: dict[int, bytes] = {}
    for name, payload in check_anthropic_lifecycle(body):
        if name != "ping":
            snapshot = accumulate_event(
                event=EVENT.validate_python(payload), current_snapshot=snapshot, json_bufs=buffers
            )
    assert snapshot is not None
    return snapshot


# ------------------------------------------------------------------ passthrough


@pytest.mark.parametrize("name", ["turn1_text", "turn2_tool_result"])
@pytest.mark.parametrize("auth", ["x-api-key", "authorization"])
def test_passthrough_forwards_claude_codes_request_untouched(
    fresh: Rig, name: str, auth: str
) -> None:
    headers, body = sample(name)
    headers.pop("x-api-key", None)
    headers.pop("authorization", None)
    headers[auth] = "Bearer sk-ant-client" if auth == "authorization" else "sk-ant-client"
    reply = messages_stream(MessagesScenario(blocks=[TextBlock(pieces=["o", "k"])]))
    fresh.anthropic.enqueue(MESSAGES_PATH, reply)
    raw = post_raw(fresh, MESSAGES_PATH, body, headers=headers, query="beta=true")
    assert raw.status == 200 and raw.body == reply.body
    sent = fresh.anthropic.last(MESSAGES_PATH)
    assert sent.body == body
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == headers["anthropic-beta"]
    assert "claude-code-20250219" in sent.headers["anthropic-beta"]
    assert sent.headers["anthropic-version"] == headers["anthropic-version"]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert "sk-ant-client" not in json.dumps(dict(sent.headers))


# ------------------------------------------------------------------ translation


def _translate(fresh: Rig, name: str, reply: Any) -> tuple[dict[str, Any], bytes]:
    """Replay a sample aimed at a GPT model: (the body OpenAI got, the stream back)."""
    headers, body = sample(name)
    fresh.openai.enqueue(CHAT_PATH, reply)
    raw = post_raw(fresh, MESSAGES_PATH, with_model(body, GPT), headers=headers, query="beta=true")
    assert raw.status == 200, raw.body
    sent = fresh.openai.last(CHAT_PATH)
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    return sent.json, raw.body


def test_translation_maps_or_drops_every_claude_code_field(fresh: Rig) -> None:
    _, body = sample("turn1_text")
    original = json.loads(body)
    sent, _ = _translate(fresh, "turn1_text", chat_stream(ChatScenario(text=["hi"])))
    # thinking adaptive + output_config.effort -> reasoning_effort.
    assert original["thinking"] == {"type": "adaptive", "display": "omitted"}
    assert sent["reasoning_effort"] == original["output_config"]["effort"] == "medium"
    # metadata.user_id (a JSON document) -> a stable hashed `user`.
    user_id = original["metadata"]["user_id"]
    assert sent["user"] == "uid_" + hashlib.sha256(user_id.encode()).hexdigest()[:40]
    # max_tokens -> max_completion_tokens (a reasoning model), within its limit.
    assert sent["max_completion_tokens"] == min(original["max_tokens"], 128_000)
    assert "max_tokens" not in sent
    # system blocks -> one system message, less the billing line; the system
    # message Claude Code puts inside the conversation stays where it was.
    roles = [m["role"] for m in sent["messages"]]
    assert roles == ["system", "user", "system"]
    system = sent["messages"][0]["content"]
    assert system.startswith(original["system"][1]["text"])
    assert "x-anthropic-billing-header" not in json.dumps(sent)
    assert sent["messages"][2]["content"].startswith("# Environment")
    # the user turn's text blocks -> content parts, in order.
    assert [p["text"] for p in sent["messages"][1]["content"]] == [
        b["text"] for b in original["messages"][0]["content"]
    ]
    # tools -> functions, one for one, the defer_loading one included.
    assert [t["function"]["name"] for t in sent["tools"]] == [t["name"] for t in original["tools"]]
    for wire, tool in zip(sent["tools"], original["tools"], strict=True):
        assert wire["function"]["parameters"] == tool["input_schema"]
        assert wire["function"]["description"] == tool["description"]
    # Anthropic-only fields never reach OpenAI (they would be 400s).
    text = json.dumps(sent)
    for dropped in ("cache_control", "defer_loading", "context_management", "output_config"):
        assert dropped not in text
    assert set(sent) == {
        "model",
        "messages",
        "tools",
        "max_completion_tokens",
        "reasoning_effort",
        "user",
        "stream",
        "stream_options",
    }
    assert sent["stream_options"] == {"include_usage": True}


def test_translated_tool_result_turn_pairs_the_call_and_result(fresh: Rig) -> None:
    _, body = sample("turn2_tool_result")
    original = json.loads(body)
    sent, _ = _translate(fresh, "turn2_tool_result", chat_stream(ChatScenario(text=["ok"])))
    use = original["messages"][-2]["content"][-1]
    result = original["messages"][-1]["content"][0]
    assert use["type"] == "tool_use" and result["type"] == "tool_result"
    call_turn, tool_turn = sent["messages"][-2:]
    # The assistant's unsigned thinking is not sent back; the call is.
    assert call_turn == {
        "role": "assistant",
        "content": None,
        "tool_calls": [
            {
                "id": use["id"],
                "type": "function",
                "function": {"name": "Bash", "arguments": compact(use["input"])},
            }
        ],
    }
    assert tool_turn == {"role": "tool", "tool_call_id": use["id"], "content": result["content"]}


def test_translated_stream_hides_reasoning_when_display_is_omitted(fresh: Rig) -> None:
    arguments = '{"command": "echo \\"hi\\" > f.txt", "description": "write"}'
    call = ChatToolCall(
        id="call_0001", name="Bash", fragments=["", arguments[:9], arguments[9:30], arguments[30:]]
    )
    scenario = ChatScenario(
        model=GPT,
        reasoning=["SECRET-REASONING ", "about the file"],
        text=["Writing it."],
        tool_calls=[call],
        reasoning_tokens=5,
    )
    _, stream = _translate(fresh, "turn1_text", chat_stream(scenario))
    assert b"SECRET-REASONING" not in stream  # neither as thinking nor as text
    message = accumulate(stream)
    blocks = [b.model_dump(mode="json", exclude_none=True) for b in message.content]
    assert len(blocks) == 2
    assert blocks[0] == {"type": "text", "text": "Writing it."}
    tool = {k: v for k, v in blocks[1].items() if k != "caller"}  # newer SDKs add caller
    assert tool == {
        "type": "tool_use",
        "id": "call_0001",
        "name": "Bash",
        "input": json.loads(arguments),
    }
    assert message.stop_reason == "tool_use"
    assert message.usage.output_tokens == 9  # reasoning tokens still counted


def test_translated_stream_shows_reasoning_when_display_is_not_omitted(fresh: Rig) -> None:
    headers, body = sample("turn1_text")
    shown = json.loads(body)
    shown["thinking"] = {"type": "adaptive"}
    shown["model"] = GPT
    scenario = ChatScenario(model=GPT, reasoning=["visible ", "thought"], text=["Done."])
    fresh.openai.enqueue(CHAT_PATH, chat_stream(scenario))
    raw = post_raw(fresh, MESSAGES_PATH, json.dumps(shown).encode(), headers=headers)
    blocks = [b.model_dump(mode="json") for b in accumulate(raw.body).content]
    assert blocks == [
        {"type": "thinking", "thinking": "visible thought", "signature": ""},
        {"type": "text", "text": "Done.", "citations": None},
    ]


# ------------------------------------------------------------------ count_tokens


def count_body(name: str) -> tuple[dict[str, str], dict[str, Any]]:
    """The count_tokens form of a sample: the same body less max_tokens/stream."""
    headers, body = sample(name)
    obj = json.loads(body)
    keep = ("model", "messages", "system", "tools", "thinking", "output_config")
    return headers, {k: obj[k] for k in keep}


def test_count_tokens_passthrough_forwards_body_betas_and_query(fresh: Rig) -> None:
    headers, obj = count_body("turn1_text")
    body = json.dumps(obj).encode()
    fresh.anthropic.enqueue(COUNT_PATH, count_tokens_reply(15_000))
    raw = post_raw(fresh, COUNT_PATH, body, headers=headers, query="beta=true")
    assert raw.status == 200 and json.loads(raw.body) == {"input_tokens": 15_000}
    assert "x-tokligence-token-estimate" not in raw.headers
    sent = fresh.anthropic.last(COUNT_PATH)
    assert sent.body == body
    assert sent.query == "beta=true"
    assert sent.headers["anthropic-beta"] == headers["anthropic-beta"]
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY


def test_count_tokens_for_a_translated_model_is_a_high_estimate(fresh: Rig) -> None:
    headers, obj = count_body("turn1_text")
    obj["model"] = GPT
    raw = post_raw(fresh, COUNT_PATH, json.dumps(obj).encode(), headers=headers)
    assert raw.status == 200
    assert raw.headers["x-tokligence-token-estimate"] == "true"
    counted = json.loads(raw.body)["input_tokens"]
    # Real tokenizers give ~4 bytes a token on this text; the estimate must
    # not be under that (an agent that under-counts never compacts).
    content = json.dumps([obj["messages"], obj["system"], obj["tools"]], ensure_ascii=False)
    assert counted >= len(content.encode()) // 4
    assert fresh.openai.received == [] and fresh.anthropic.received == []


# ------------------------------------------------------------------ /v1/models


def test_models_discovery_request_gets_the_anthropic_shape(fresh: Rig) -> None:
    recorded = json.loads((SAMPLES / "claude_code_2.1.332_models_discovery.json").read_text())
    assert recorded["path"] == "/v1/models?limit=1000"
    headers = {k: v for k, v in recorded["headers"].items() if k.lower() != "accept-encoding"}
    reply = httpx.get(fresh.url + recorded["path"], headers=headers)
    assert reply.status_code == 200
    listing = reply.json()
    assert set(listing) == {"data", "has_more", "first_id", "last_id"}
    assert listing["has_more"] is False
    ids = [m["id"] for m in listing["data"]]
    assert listing["first_id"] == ids[0] and listing["last_id"] == ids[-1]
    for model in listing["data"]:
        assert set(model) == {"type", "id", "display_name", "created_at"}
        assert model["type"] == "model"
    # Without anthropic-version the OpenAI shape stays the default.
    plain = httpx.get(fresh.url + "/v1/models").json()
    assert plain["object"] == "list"
    assert [m["id"] for m in plain["data"]] == ids
