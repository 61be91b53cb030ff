"""docs/protocols.md §5 through the gateway: odd but real upstream wire shapes.

Every behaviour the fakes can inject is played at a real gateway and judged
by what the official SDK (and, where the protocol's shape is the point, the
raw SSE) delivers to the client: byte splits inside UTF-8 characters and
``data:`` lines, CRLF/CR line endings, padded JSON, pings and comments
anywhere, argument-fragment shapes, bad tool indices, usage shapes, and
upstreams that lie about why they stopped.
"""

from __future__ import annotations

import json
import random
from typing import Any

import pydantic
import pytest
from openai.types.responses import ResponseStreamEvent

from tests.fakes.anthropic import (
    PING,
    MessagesScenario,
    RedactedThinkingBlock,
    ThinkingBlock,
    ToolUseBlock,
    messages_events,
    messages_stream,
)
from tests.fakes.openai_chat import chat_events
from tests.fakes.sse_script import Comment, Framing
from tests.sse_util import assert_byte_stable, events

from .conftest import Rig
from .rigs import (
    MESSAGES_PATH,
    PATH_BY_ID,
    PATHS,
    SIGNATURE,
    TRANSLATED,
    Call,
    Path,
    Turn,
    anthropic_scenario,
    ask,
    chat_scenario,
    path_params,
    post_raw,
    script,
    stream_body,
    tools_for,
    upstream_reply,
)

TEXT = ("naïve ", "日本語 ", "😀🏳️‍🌈 ", "\u2028 \u2029 ", "end")
# ~800 bytes of a shell command full of quotes and backslashes (FM1: 9router #3416).
COMMAND = (
    'grep -rn "a \\"quoted\\" word" C:\\\\dir\\\\sub && '
    'printf \'%s\\n\' "$X" | sed "s/\\\\/\\//g"; '
)
HEAVY = json.dumps({"command": COMMAND * 9, "description": 'Say "hi" \\ bye'})
assert 780 <= len(HEAVY) <= 1000


def _slices(text: str, size: int) -> tuple[str, ...]:
    """Fragments cut every ``size`` characters (inside escape sequences too)."""
    return ("", *(text[i : i + size] for i in range(0, len(text), size)))


HEAVY_CALL = Call(id="call_01Heavy", name="get_weather", fragments=_slices(HEAVY, 7))
STREAMING_TURN = Turn(text=TEXT, calls=(HEAVY_CALL,))
# Byte-at-a-time streams cost one HTTP chunk per byte: keep that turn small.
QUOTED = json.dumps({"command": COMMAND, "note": "naïve 😀"}, ensure_ascii=False)
SPLIT_TURN = Turn(
    text=TEXT, calls=(Call(id="call_01Q", name="get_weather", fragments=_slices(QUOTED, 5)),)
)
TOOL_STOP = {"chat": "tool_calls", "messages": "tool_use", "responses": "completed"}
CHAT_UPSTREAMS = [p for p in TRANSLATED if p.upstream == "chat"]
ANTHROPIC_UPSTREAMS = [p for p in TRANSLATED if p.upstream == "anthropic"]


def _run(rig: Rig, path: Path, turn: Turn, **more: Any) -> Any:
    script(rig, path, upstream_reply(path.upstream, turn, stream=True, **more))
    return ask(rig, path, stream=True, tools=bool(turn.calls))


# ---------------------------------------------------------------- byte-level framing


@path_params(TRANSLATED)
@pytest.mark.parametrize("split_every", range(1, 8))
def test_fm1_splits_inside_utf8_and_data_lines(fresh: Rig, path: Path, split_every: int) -> None:
    answer = _run(fresh, path, SPLIT_TURN, framing=Framing(split_every=split_every))
    assert answer.text == "".join(TEXT)
    assert answer.inputs == [json.loads(QUOTED)]
    assert answer.calls[0][:2] == ("call_01Q", "get_weather")


@path_params(TRANSLATED)
@pytest.mark.parametrize(
    "framing",
    [
        Framing(eol="\r\n"),
        Framing(eol="\r"),
        Framing(pad_json=3),
        Framing(space_after_colon=False),
        Framing(eol="\r\n", pad_json=2, split_every=13),
    ],
    ids=["crlf", "cr", "padded_json", "no_space", "crlf_padded_split13"],
)
def test_line_endings_and_padded_json(fresh: Rig, path: Path, framing: Framing) -> None:
    answer = _run(fresh, path, STREAMING_TURN, framing=framing)
    assert answer.text == "".join(TEXT)
    assert answer.inputs == [json.loads(HEAVY)]


@path_params([p for p in PATHS if p.passthrough])
@pytest.mark.parametrize("split_every", [1, 5])
def test_fm17_passthrough_relays_split_bytes_unchanged(
    fresh: Rig, path: Path, split_every: int
) -> None:
    framing = Framing(split_every=split_every, eol="\r\n")
    reply = upstream_reply(path.upstream, SPLIT_TURN, stream=True, framing=framing)
    script(fresh, path, reply)
    asked = {"stream_options": {"include_usage": True}} if path.client == "chat" else {}
    raw = post_raw(fresh, path.client_path, stream_body(path, **asked))
    assert raw.body == reply.body
    assert "content-encoding" not in raw.headers


@path_params(TRANSLATED)
def test_pings_and_comments_at_random_positions(fresh: Rig, path: Path) -> None:
    rng = random.Random(20240611)
    if path.upstream == "anthropic":
        count = len(messages_events(anthropic_scenario(STREAMING_TURN)))
        noise: list[Any] = [PING, Comment()]
    else:
        count = len(chat_events(chat_scenario(STREAMING_TURN)))
        noise = [Comment(), Comment(text="")]
    positions = rng.sample(range(count + 1), 6)
    framing = Framing(insert={i: [rng.choice(noise)] for i in positions}, split_every=11)
    answer = _run(fresh, path, STREAMING_TURN, framing=framing)
    assert answer.text == "".join(TEXT)
    assert answer.inputs == [json.loads(HEAVY)]


# ---------------------------------------------------------------- tool-argument shapes


@path_params(CHAT_UPSTREAMS)
def test_fm1_arguments_only_at_the_end(fresh: Rig, path: Path) -> None:
    calls = (
        Call(id="call_A", name="get_weather", fragments=_slices(HEAVY, 50)),
        Call(id="call_B", name="get_weather", fragments=('{"city":"Oslo"}',)),
    )
    answer = _run(fresh, path, Turn(calls=calls), arguments_at_end=True)
    assert answer.inputs == [json.loads(HEAVY), {"city": "Oslo"}]
    assert [c[0] for c in answer.calls] == ["call_A", "call_B"]


@path_params()
def test_fm1_empty_first_fragment_and_heavy_arguments_on_every_path(fresh: Rig, path: Path) -> None:
    answer = _run(fresh, path, Turn(calls=(HEAVY_CALL,)))
    assert answer.inputs == [json.loads(HEAVY)]
    if path.passthrough and path.client != "messages":
        assert answer.calls[0][2] == HEAVY  # byte for byte


@path_params(TRANSLATED)
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_fm1_tool_without_arguments(fresh: Rig, path: Path, stream: bool) -> None:
    turn = Turn(calls=(Call(id="call_N", name="get_time", fragments=()),))
    script(fresh, path, upstream_reply(path.upstream, turn, stream=stream))
    answer = ask(fresh, path, stream=stream, tools=True)
    assert answer.inputs == [{}]
    if path.client != "messages":
        # "{}", never "": OpenAI clients json.loads the arguments of every call.
        assert answer.calls[0][2] == "{}"


@path_params(CHAT_UPSTREAMS)
def test_fm10_same_index_reused_by_a_bad_upstream_is_split(fresh: Rig, path: Path) -> None:
    calls = (
        Call(id="call_A", name="get_weather", fragments=("", '{"city":', '"A"}')),
        Call(id="call_B", name="get_weather", fragments=("", '{"city":', '"B"}')),
    )
    answer = _run(fresh, path, Turn(calls=calls), same_index_reused=True)
    assert answer.inputs == [{"city": "A"}, {"city": "B"}]
    assert [c[0] for c in answer.calls] == ["call_A", "call_B"]


@path_params(CHAT_UPSTREAMS)
def test_fm10_interleaved_parallel_fragments_merge_by_index(fresh: Rig, path: Path) -> None:
    calls = (
        Call(id="call_A", name="get_weather", fragments=("", '{"city":', '"A"}')),
        Call(id="call_B", name="get_weather", fragments=("", '{"city":', '"B"}')),
    )
    answer = _run(fresh, path, Turn(calls=calls), interleave=[0, 1, 1, 0, 0, 1])
    assert answer.inputs == [{"city": "A"}, {"city": "B"}]


# ---------------------------------------------------------------- usage shapes


@path_params(CHAT_UPSTREAMS)
@pytest.mark.parametrize(
    "shape", ["final_chunk", "choices_null", "on_finish_chunk", "absent", "null_every_chunk"]
)
def test_fm5_usage_shapes_from_compatible_servers(fresh: Rig, path: Path, shape: str) -> None:
    turn = Turn(text=("ok",), input_tokens=12, output_tokens=9)
    answer = _run(fresh, path, turn, usage=shape)
    assert answer.text == "ok"
    usage = answer.usage
    reported = shape in ("final_chunk", "choices_null", "on_finish_chunk")
    if path.client == "messages":
        assert isinstance(usage["input_tokens"], int) and isinstance(usage["output_tokens"], int)
        if reported:
            assert (usage["input_tokens"], usage["output_tokens"]) == (12, 9)
    else:
        if reported:
            assert (usage["input_tokens"], usage["output_tokens"]) == (12, 9)


def test_fm5_real_input_and_cache_usage_reach_a_chat_stream(fresh: Rig) -> None:
    path = PATH_BY_ID["a_chat_to_anthropic"]
    turn = Turn(text=("ok",), input_tokens=500, cache_read=1000, output_tokens=3)
    answer = _run(fresh, path, turn)
    assert answer.usage["prompt_tokens"] == 1500
    assert answer.usage["completion_tokens"] == 3


def test_fm5_message_start_usage_is_well_formed_for_a_translated_stream(fresh: Rig) -> None:
    # Claude Code rejects a message_start whose usage is all zeros or oddly shaped.
    path = PATH_BY_ID["b_messages_to_openai"]
    script(fresh, path, upstream_reply("chat", Turn(text=("ok",), input_tokens=30), stream=True))
    raw = post_raw(fresh, MESSAGES_PATH, stream_body(path))
    (start,) = [d for n, d in events(raw.body) if n == "message_start"]
    usage = start["message"]["usage"]
    fields = ("input_tokens", "output_tokens", "cache_creation_input_tokens")
    assert all(isinstance(usage[f], int) for f in (*fields, "cache_read_input_tokens"))
    assert usage["output_tokens"] >= 1
    (delta,) = [d for n, d in events(raw.body) if n == "message_delta"]
    assert delta["usage"]["input_tokens"] == 30 and delta["usage"]["output_tokens"] == 13


# ---------------------------------------------------------------- stop reasons (FM3)


@path_params(TRANSLATED)
def test_fm3_upstream_lying_stop_with_tool_calls_reports_a_tool_stop(
    fresh: Rig, path: Path
) -> None:
    call = Call(id="call_L", name="get_weather", fragments=('{"city":"Rome"}',))
    lie = {"finish_reason": "stop"} if path.upstream == "chat" else {"stop_reason": "end_turn"}
    answer = _run(fresh, path, Turn(text=("Let me check.",), calls=(call,)), **lie)
    assert answer.stop == TOOL_STOP[path.client]
    assert answer.inputs == [{"city": "Rome"}]
    if path.client == "messages":
        assert answer.final.stop_sequence is None


@path_params(TRANSLATED)
def test_fm3_length_with_partial_tool_json_is_a_length_stop(fresh: Rig, path: Path) -> None:
    partial = Call(id="call_P", name="get_weather", fragments=("", '{"city": "Par'))
    turn = Turn(text=("Checking",), calls=(partial,))
    lie = {"finish_reason": "length"} if path.upstream == "chat" else {"stop_reason": "max_tokens"}
    script(fresh, path, upstream_reply(path.upstream, turn, stream=True, **lie))
    raw = post_raw(fresh, path.client_path, stream_body(path, tools=_raw_tools(path)))
    evs = events(raw.body)
    if path.client == "chat":
        chunks = [d for _, d in evs if isinstance(d, dict)]
        reasons = [c["finish_reason"] for d in chunks for c in d.get("choices") or []]
        assert [r for r in reasons if r] == ["length"]
    elif path.client == "messages":
        (delta,) = [d for n, d in evs if n == "message_delta"]
        assert delta["delta"]["stop_reason"] == "max_tokens"
    else:
        (last_name, last) = evs[-1]
        assert last_name == "response.incomplete"
        assert last["response"]["incomplete_details"] == {"reason": "max_output_tokens"}


def _raw_tools(path: Path) -> list[Any]:
    return tools_for(path.client)


@path_params(ANTHROPIC_UPSTREAMS)
def test_fm3_stop_sequence_is_a_normal_stop(fresh: Rig, path: Path) -> None:
    turn = Turn(text=("one two",))
    answer = _run(fresh, path, turn, stop_reason="stop_sequence", stop_sequence="END")
    assert answer.stop == {"chat": "stop", "responses": "completed"}[path.client]


def test_fm3_no_empty_stop_sequence_for_a_messages_client(fresh: Rig) -> None:
    path = PATH_BY_ID["b_messages_to_openai"]
    for stream in (False, True):
        script(fresh, path, upstream_reply("chat", Turn(text=("ok",)), stream=stream))
        answer = ask(fresh, path, stream=stream)
        assert answer.stop == "end_turn"
        assert answer.final.stop_sequence is None


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_fm3_length_is_max_tokens_for_a_messages_client(fresh: Rig, stream: bool) -> None:
    path = PATH_BY_ID["b_messages_to_openai"]
    reply = upstream_reply("chat", Turn(text=("cut sh",)), stream=stream, finish_reason="length")
    script(fresh, path, reply)
    assert ask(fresh, path, stream=stream).stop == "max_tokens"


# ---------------------------------------------------------------- reasoning (FM4, FM19)


@path_params(CHAT_UPSTREAMS)
@pytest.mark.parametrize("dialect", ["reasoning_content", "reasoning", "reasoning_details"])
def test_fm19_every_reasoning_dialect_is_accepted_never_shown_as_text(
    fresh: Rig, path: Path, dialect: str
) -> None:
    turn = Turn(reasoning=("hidden ", "thoughts"), text=("visible",))
    answer = _run(fresh, path, turn, reasoning_dialect=dialect)
    assert answer.text == "visible"
    assert answer.reasoning == "hidden thoughts"


def test_fm4_signature_only_thinking_and_redacted_thinking_pass_through(fresh: Rig) -> None:
    path = PATH_BY_ID["f_messages_passthrough"]
    sc = MessagesScenario(
        blocks=[
            ThinkingBlock(pieces=(), signature=SIGNATURE),
            RedactedThinkingBlock(),
            ToolUseBlock(id="toolu_01T", name="get_weather", fragments=['{"city":"Rome"}']),
        ]
    )
    script(fresh, path, messages_stream(sc))
    answer = ask(fresh, path, stream=True, tools=True)
    kinds = [b.type for b in answer.final.content]
    assert kinds == ["thinking", "redacted_thinking", "tool_use"]
    assert answer.final.content[0].signature == SIGNATURE
    assert answer.final.content[0].thinking == ""
    assert answer.final.content[1].data == RedactedThinkingBlock().data


@path_params(ANTHROPIC_UPSTREAMS)
def test_fm4_signature_only_thinking_does_not_break_a_translated_tool_turn(
    fresh: Rig, path: Path
) -> None:
    sc = MessagesScenario(
        blocks=[
            ThinkingBlock(pieces=(), signature=SIGNATURE),
            RedactedThinkingBlock(),
            ToolUseBlock(id="toolu_01T", name="get_weather", fragments=['{"city":"Rome"}']),
        ]
    )
    script(fresh, path, messages_stream(sc))
    answer = ask(fresh, path, stream=True, tools=True)
    assert answer.inputs == [{"city": "Rome"}]
    seen = json.dumps([str(e) for e in answer.events])
    if path.client == "responses":
        # Carried, marked, for the client to replay (openai_responses_proofs).
        assert seen.count(SIGNATURE) == seen.count("tokligence:anthropic:" + SIGNATURE) == 2
    else:
        assert SIGNATURE not in seen
    assert answer.text == ""


# ---------------------------------------------------------------- protocol shape (FM2, FM7)


def check_anthropic_lifecycle(body: bytes) -> list[tuple[str | None, Any]]:
    """Claude Code's expectations: one message_start first, blocks strictly
    sequential with contiguous indices, deltas only for the open block and of
    its type, message_delta then message_stop last."""
    evs = assert_byte_stable(body)
    names = [n for n, _ in evs if n != "ping"]
    assert names[0] == "message_start" and names.count("message_start") == 1
    assert names[-2:] == ["message_delta", "message_stop"]
    allowed = {
        "text": {"text_delta", "citations_delta"},
        "thinking": {"thinking_delta", "signature_delta"},
        "redacted_thinking": set(),
        "tool_use": {"input_json_delta"},
    }
    open_index: int | None = None
    open_type = ""
    next_index = 0
    for name, data in evs:
        assert isinstance(data, dict) and data["type"] == name
        if name == "content_block_start":
            assert open_index is None, "a block started while another was open"
            assert data["index"] == next_index
            open_index, open_type = next_index, data["content_block"]["type"]
            next_index += 1
        elif name == "content_block_delta":
            assert data["index"] == open_index
            assert data["delta"]["type"] in allowed[open_type]
        elif name == "content_block_stop":
            assert data["index"] == open_index
            open_index = None
        elif name in ("message_delta", "message_stop"):
            assert open_index is None
    return evs


@pytest.mark.parametrize(
    "more",
    [
        {},
        {"interleave": [0, 1, 1, 0, 0, 1]},
        {"same_index_reused": True},
        {"reasoning_dialect": "reasoning"},
    ],
    ids=["sequential", "interleaved", "same_index", "reasoning_dialect"],
)
def test_fm2_messages_stream_lifecycle_from_openai(fresh: Rig, more: dict[str, Any]) -> None:
    path = PATH_BY_ID["b_messages_to_openai"]
    turn = Turn(
        reasoning=("think ", "hard"),
        text=("Two calls:",),
        calls=(
            Call(id="call_A", name="get_weather", fragments=("", '{"city":', '"A"}')),
            Call(id="call_B", name="get_weather", fragments=("", '{"city":', '"B"}')),
        ),
    )
    script(fresh, path, upstream_reply("chat", turn, stream=True, **more))
    raw = post_raw(fresh, MESSAGES_PATH, stream_body(path, tools=_raw_tools(path)))
    evs = check_anthropic_lifecycle(raw.body)
    starts = [d["content_block"]["type"] for n, d in evs if n == "content_block_start"]
    assert starts == ["thinking", "text", "tool_use", "tool_use"]


RESPONSE_EVENT: pydantic.TypeAdapter[Any] = pydantic.TypeAdapter(ResponseStreamEvent)
TERMINALS = {"response.completed", "response.incomplete", "response.failed"}


@path_params([p for p in TRANSLATED if p.client == "responses"])
@pytest.mark.parametrize("failing", [False, True], ids=["completed", "failed"])
def test_fm7_responses_stream_has_only_standard_events_and_one_terminal(
    fresh: Rig, path: Path, failing: bool
) -> None:
    turn = Turn(
        reasoning=("think",),
        text=("Calling.",),
        calls=(Call(id="call_A", name="get_weather", fragments=("", '{"city":"A"}')),),
    )
    if failing:
        more: dict[str, Any] = (
            {"error_after": 6} if path.upstream == "anthropic" else {"error_after": 4}
        )
    else:
        more = {}
    script(fresh, path, upstream_reply(path.upstream, turn, stream=True, **more))
    raw = post_raw(fresh, path.client_path, stream_body(path, tools=_raw_tools(path)))
    evs = assert_byte_stable(raw.body)
    assert evs[0][0] == "response.created"
    for number, (name, data) in enumerate(evs):
        assert isinstance(data, dict) and data["type"] == name
        assert data["sequence_number"] == number
        RESPONSE_EVENT.validate_python(data)  # the SDK's own union: no invented events
    terminals = [n for n, _ in evs if n in TERMINALS]
    assert terminals == [evs[-1][0]]
    assert terminals == (["response.failed"] if failing else ["response.completed"])
    if not failing:
        assert evs[-1][1]["response"]["id"] == evs[0][1]["response"]["id"]
