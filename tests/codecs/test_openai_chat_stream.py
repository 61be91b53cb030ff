"""Chat Completions SSE streams -> canonical events.

Every stream is written as the bytes a real server sends, decoded with our
``SseDecoder`` whole, one byte at a time and in 7-byte slices (all three must
give the same events), fed to the codec's stream decoder, and checked both
as an exact event list and through ``collect``. Standard-shaped chunks are
validated with the openai SDK's ``ChatCompletionChunk``, and for standard
tool streams the SDK's own ``ChatCompletionStreamState`` accumulates the same
chunks as a judge of what the stream means.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk

from tokligence.canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    Response,
    StreamError,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
    Usage,
    UsageUpdate,
    collect,
)
from tokligence.codecs.base import Encoded
from tokligence.codecs.openai_chat import OpenAIChatCodec
from tokligence.wire.sse_read import SseDecoder, SseEvent

CODEC = OpenAIChatCodec()
PLAIN = Encoded(path="/chat/completions", body=b"{}")
ID = "chatcmpl-AyPNinnUqUDYo9SAdA52NobMflmj2"
MODEL = "gpt-4o-2024-08-06"
CREATED = 1738960610
START = MessageStart(id=ID, model=MODEL, created=CREATED)
ABSENT: Any = object()

# A ~900-byte shell command dense with quotes, backslashes and non-ASCII: the
# shape gateways truncated or unescaped (failure mode 1).
HEAVY = json.dumps(
    {
        "command": (
            'find . -name \'*.py\' -exec grep -Hn "print(\\"" {} \\; | '
            'sed -e \'s/\\\\n/\\n/g\' -e "s/\'/\\"/g" > "out \\"1\\".txt" && '
        )
        * 7
        + 'echo "done ✓ \u2028 {\\"ok\\": true}"',
        "description": 'Search for print("…") calls; quote "everything" \\ twice',
    },
    ensure_ascii=False,
)


def chunk(
    delta: dict[str, Any] | None = None,
    finish: str | None = None,
    *,
    usage: Any = ABSENT,
    choices: Any = ABSENT,
    validate: bool = True,
    **top: Any,
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "id": ID,
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "system_fingerprint": "fp_4691090a87",
        "choices": (
            [{"index": 0, "delta": delta or {}, "logprobs": None, "finish_reason": finish}]
            if choices is ABSENT
            else choices
        ),
        **top,
    }
    if usage is not ABSENT:
        body["usage"] = usage
    if validate:
        ChatCompletionChunk.model_validate(body)
    return body


def usage_chunk(prompt: int, completion: int, cached: int = 0, **top: Any) -> dict[str, Any]:
    return chunk(choices=[], usage=usage(prompt, completion, cached), **top)


def usage(prompt: int, completion: int, cached: int = 0) -> dict[str, Any]:
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
    }


def role() -> dict[str, Any]:
    return chunk({"role": "assistant", "content": "", "refusal": None})


def tool_start(
    index: int, call_id: str | None, name: str | None, arguments: str = ""
) -> dict[str, Any]:
    fragment: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if call_id is not None:
        fragment["id"] = call_id
        fragment["type"] = "function"
    if name is not None:
        fragment["function"]["name"] = name
    return chunk({"tool_calls": [fragment]})


def tool_args(index: int, arguments: str) -> dict[str, Any]:
    return chunk({"tool_calls": [{"index": index, "function": {"arguments": arguments}}]})


def sse(payloads: list[Any], *, done: bool = True, newline: bytes = b"\n") -> bytes:
    out = b""
    for payload in payloads:
        data = (
            payload
            if isinstance(payload, (bytes, str))
            else json.dumps(payload, ensure_ascii=False)
        )
        data = data.encode() if isinstance(data, str) else data
        out += b"data: " + data + newline + newline
    if done:
        out += b"data: [DONE]" + newline + newline
    return out


def decode(data: bytes, encoded: Encoded = PLAIN, *, step: int | None = None) -> list[Event]:
    sse_decoder = SseDecoder()
    decoder = CODEC.stream_decoder(encoded)
    out: list[Event] = []
    size = step or len(data) or 1
    for i in range(0, len(data), size):
        for item in sse_decoder.feed(data[i : i + size]):
            if isinstance(item, SseEvent):
                out.extend(decoder.feed(item))
    sse_decoder.close()
    out.extend(decoder.close())
    return out


def run(data: bytes, encoded: Encoded = PLAIN) -> list[Event]:
    whole = decode(data, encoded)
    assert decode(data, encoded, step=1) == whole
    assert decode(data, encoded, step=7) == whole
    assert_well_formed(whole)
    return whole


def assert_well_formed(events: list[Event]) -> None:
    """The event contract: one MessageStart first (unless the stream failed
    before it began), one terminal Finish/StreamError last, no empty text,
    every tool call started before its deltas and ended once."""
    terminal = [e for e in events if isinstance(e, (Finish, StreamError))]
    assert len(terminal) == 1 and events[-1] is terminal[0]
    starts = [e for e in events if isinstance(e, MessageStart)]
    assert len(starts) <= 1
    if starts:
        assert events[0] is starts[0]
    else:
        assert isinstance(events[-1], StreamError)
    opened: set[int] = set()
    ended: set[int] = set()
    for event in events:
        if isinstance(event, TextDelta):
            assert event.text
        elif isinstance(event, ToolCallStart):
            assert event.index not in opened
            opened.add(event.index)
        elif isinstance(event, ToolCallDelta):
            assert event.index in opened and event.index not in ended and event.arguments
        elif isinstance(event, ToolCallEnd):
            assert event.index in opened and event.index not in ended
            ended.add(event.index)
    if isinstance(events[-1], Finish):
        assert opened == ended
    assert sorted(opened) == list(range(len(opened)))


def sdk_calls(payloads: list[dict[str, Any]]) -> list[tuple[str, str, str]]:
    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for payload in payloads:
        state.handle_chunk(ChatCompletionChunk.model_validate(payload))
    message = state.current_completion_snapshot.choices[0].message
    return [(c.id, c.function.name, c.function.arguments) for c in message.tool_calls or []]


def our_calls(response: Response) -> list[tuple[str, str, str]]:
    return [(c.id, c.name, c.arguments) for c in response.tool_calls()]


def fragments(text: str, size: int) -> list[str]:
    return [text[i : i + size] for i in range(0, len(text), size)]


# ---------------------------------------------------------------- text


def test_text_stream_with_usage_chunk() -> None:
    payloads = [
        role(),
        chunk({"content": "Hel"}),
        chunk({"content": "lo \u2028 there"}),
        chunk({}, "stop"),
        usage_chunk(12, 4),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        TextDelta(text="Hel"),
        TextDelta(text="lo \u2028 there"),
        UsageUpdate(usage=Usage(input_tokens=12, output_tokens=4)),
        Finish(stop_reason="end_turn"),
    ]
    assert collect(events).text() == "Hello \u2028 there"


def test_crlf_line_endings_comments_and_event_names_are_tolerated() -> None:
    data = (
        b": keep-alive\r\n\r\n"
        + b"event: message\r\n"
        + sse([role(), chunk({"content": "ok"}), chunk({}, "stop")], newline=b"\r\n")
    )
    events = run(data)
    assert events == [START, TextDelta(text="ok"), Finish(stop_reason="end_turn")]


def test_obfuscation_and_unknown_fields_ignored() -> None:
    payloads = [
        chunk({"role": "assistant", "content": ""}, obfuscation="Qx9", service_tier="default"),
        chunk({"content": "hi"}, obfuscation="a"),
        chunk({}, "length", obfuscation="bc"),
    ]
    assert run(sse(payloads)) == [START, TextDelta(text="hi"), Finish(stop_reason="max_tokens")]


def test_unparseable_lines_are_skipped() -> None:
    payloads = [role(), b"{not json", chunk({"content": "fine"}), b"[1,2]", chunk({}, "stop")]
    assert run(sse(payloads)) == [START, TextDelta(text="fine"), Finish(stop_reason="end_turn")]


def test_nothing_valid_ever_came_is_an_error() -> None:
    assert run(sse([b"garbage", b"{oops"], done=False)) == [
        StreamError(kind="api_error", message="upstream stream carried no valid data")
    ]


def test_close_without_finish_is_an_error() -> None:
    events = run(sse([role(), chunk({"content": "partial"})], done=False))
    assert events == [
        START,
        TextDelta(text="partial"),
        StreamError(kind="api_error", message="upstream stream ended before completion"),
    ]


def test_done_without_finish_reason_still_finishes() -> None:
    events = run(sse([role(), chunk({"content": "x"})]))
    assert events[-1] == Finish(stop_reason="end_turn")


def test_other_choices_ignored() -> None:
    second = {"index": 1, "delta": {"content": "other"}, "logprobs": None, "finish_reason": None}
    first = {"index": 0, "delta": {"content": "mine"}, "logprobs": None, "finish_reason": None}
    payloads = [chunk(choices=[second, first]), chunk({}, "stop")]
    assert run(sse(payloads)) == [START, TextDelta(text="mine"), Finish(stop_reason="end_turn")]


def test_refusal_stream() -> None:
    payloads = [
        role(),
        chunk({"refusal": "I can't"}),
        chunk({"refusal": " do that."}),
        chunk({}, "stop"),
    ]
    events = run(sse(payloads))
    assert events[-1] == Finish(stop_reason="refusal")
    assert collect(events).text() == "I can't do that."


# ------------------------------------------------------------------- fm1


def test_fm1_long_quote_heavy_arguments_split_every_13_bytes_survive() -> None:
    assert len(HEAVY.encode()) > 750
    payloads = [
        chunk(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_bash",
                        "type": "function",
                        "function": {"name": "Bash", "arguments": ""},
                    }
                ],
                "refusal": None,
            }
        ),
        *(tool_args(0, piece) for piece in fragments(HEAVY, 13)),
        chunk({}, "tool_calls"),
        usage_chunk(300, 250),
    ]
    events = run(sse(payloads))
    deltas = [e.arguments for e in events if isinstance(e, ToolCallDelta)]
    assert deltas == fragments(HEAVY, 13)  # every fragment, as is, immediately
    assert not any(isinstance(e, TextDelta) for e in events)
    response = collect(events)
    assert our_calls(response) == [("call_bash", "Bash", HEAVY)] == sdk_calls(payloads)
    assert response.stop_reason == "tool_use"


def test_fm1_arguments_only_at_the_end_in_one_fragment() -> None:
    payloads = [
        role(),
        tool_start(0, "call_1", "Read"),  # empty first fragment
        tool_args(0, HEAVY),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        ToolCallStart(index=0, id="call_1", name="Read"),
        ToolCallDelta(index=0, arguments=HEAVY),
        ToolCallEnd(index=0),
        Finish(stop_reason="tool_use"),
    ]
    assert our_calls(collect(events)) == sdk_calls(payloads)


def test_fm1_whole_call_in_the_first_fragment_and_no_argument_tools() -> None:
    payloads = [
        role(),
        tool_start(0, "call_a", "Write", '{"path": "a"}'),
        tool_start(1, "call_b", "ListDir"),  # no arguments at all
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        ToolCallStart(index=0, id="call_a", name="Write"),
        ToolCallDelta(index=0, arguments='{"path": "a"}'),
        ToolCallStart(index=1, id="call_b", name="ListDir"),
        ToolCallEnd(index=0),
        ToolCallEnd(index=1),
        Finish(stop_reason="tool_use"),
    ]


# ------------------------------------------------------------------- fm3


def test_fm3_lying_stop_with_tool_calls_is_tool_use() -> None:
    payloads = [role(), tool_start(0, "call_1", "ls", "{}"), chunk({}, "stop")]
    assert run(sse(payloads))[-1] == Finish(stop_reason="tool_use")


def test_fm3_length_with_partial_tool_json_is_max_tokens() -> None:
    payloads = [role(), tool_start(0, "call_1", "write", '{"text": "abc'), chunk({}, "length")]
    events = run(sse(payloads))
    assert events[-1] == Finish(stop_reason="max_tokens")
    assert collect(events).tool_calls()[0].arguments == '{"text": "abc'


def test_fm3_tool_calls_reason_without_calls_is_end_turn() -> None:
    payloads = [role(), chunk({"content": "done"}), chunk({}, "tool_calls")]
    assert run(sse(payloads))[-1] == Finish(stop_reason="end_turn")


# ------------------------------------------------------------------- fm5


TEXT = [role(), chunk({"content": "hi"})]


@pytest.mark.parametrize(
    ("payloads", "expected"),
    [
        pytest.param([*TEXT, chunk({}, "stop")], None, id="absent"),
        pytest.param(
            [
                chunk({"role": "assistant", "content": ""}, usage=None),
                chunk({"content": "hi"}, usage=None),
                chunk({}, "stop", usage=None),
            ],
            None,
            id="null-on-every-chunk",
        ),
        pytest.param(
            [*TEXT, chunk({}, "stop"), usage_chunk(10, 2, cached=6)],
            Usage(input_tokens=4, output_tokens=2, cache_read_tokens=6),
            id="only-final",
        ),
        pytest.param(
            [*TEXT, chunk({}, "stop"), chunk(choices=None, usage=usage(10, 2), validate=False)],
            Usage(input_tokens=10, output_tokens=2),
            id="choices-null",
        ),
        pytest.param(
            [*TEXT, chunk({}, "stop", usage=usage(10, 2, cached=8))],
            Usage(input_tokens=2, output_tokens=2, cache_read_tokens=8),
            id="on-the-finish-chunk",
        ),
        pytest.param(
            # vLLM continuous usage: cumulative on every chunk; the last one counts.
            [
                chunk({"content": "h"}, usage=usage(10, 1)),
                chunk({"content": "i"}, usage=usage(10, 2)),
                chunk({}, "stop", usage=usage(10, 2)),
            ],
            Usage(input_tokens=10, output_tokens=2),
            id="cumulative-on-every-chunk",
        ),
    ],
)
def test_fm5_usage_shapes(payloads: list[dict[str, Any]], expected: Usage | None) -> None:
    events = run(sse(payloads))
    updates = [e.usage for e in events if isinstance(e, UsageUpdate)]
    if expected is None:
        assert updates == []
        assert collect(events).usage == Usage()
    else:
        assert updates[-1] == expected
        assert collect(events).usage == expected
        assert len(updates) == len(set(updates))  # repeats are not re-sent
    assert events[-1] == Finish(stop_reason="end_turn")


def test_fm5_usage_arrives_before_finish_is_emitted() -> None:
    events = run(sse([*TEXT, chunk({}, "stop"), usage_chunk(3, 1)]))
    assert [type(e).__name__ for e in events[-2:]] == ["UsageUpdate", "Finish"]


# ------------------------------------------------------------------ fm10


def test_fm10_parallel_calls_interleaved_by_index() -> None:
    payloads = [
        role(),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_a",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": ""},
                    },
                    {
                        "index": 1,
                        "id": "call_b",
                        "type": "function",
                        "function": {"name": "get_time", "arguments": ""},
                    },
                ]
            }
        ),
        tool_args(1, '{"tz": '),
        tool_args(0, '{"city": '),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "function": {"arguments": '"Paris"}'}},
                    {"index": 1, "function": {"arguments": '"CET"}'}},
                ]
            }
        ),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    response = collect(events)
    assert (
        our_calls(response)
        == [
            ("call_a", "get_weather", '{"city": "Paris"}'),
            ("call_b", "get_time", '{"tz": "CET"}'),
        ]
        == sdk_calls(payloads)
    )
    assert events[-3:] == [
        ToolCallEnd(index=0),
        ToolCallEnd(index=1),
        Finish(stop_reason="tool_use"),
    ]


def test_fm10_same_index_reused_with_a_new_id_is_a_new_call() -> None:
    # Ollama via a proxy: every call arrives whole with index 0.
    payloads = [
        role(),
        tool_start(0, "call_x", "read", '{"path": "a"}'),
        tool_start(0, "call_y", "read", '{"path": "b"}'),
        chunk(
            {
                "tool_calls": [
                    {
                        "id": "call_z",
                        "type": "function",
                        "function": {"name": "ls", "arguments": "{}"},
                    }
                ]
            },
            validate=False,
        ),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        ToolCallStart(index=0, id="call_x", name="read"),
        ToolCallDelta(index=0, arguments='{"path": "a"}'),
        ToolCallEnd(index=0),
        ToolCallStart(index=1, id="call_y", name="read"),
        ToolCallDelta(index=1, arguments='{"path": "b"}'),
        ToolCallEnd(index=1),
        ToolCallStart(index=2, id="call_z", name="ls"),  # no index at all: position 0
        ToolCallDelta(index=2, arguments="{}"),
        ToolCallEnd(index=2),
        Finish(stop_reason="tool_use"),
    ]


def test_fm10_fragments_without_id_go_to_their_index_not_the_last_call() -> None:
    payloads = [
        role(),
        tool_start(0, "call_a", "f", '{"a":'),
        tool_start(1, "call_b", "g", '{"b":'),
        tool_args(0, "1}"),  # belongs to call_a although call_b came last
        tool_args(1, "2}"),
        chunk({}, "tool_calls"),
    ]
    response = collect(run(sse(payloads)))
    assert (
        our_calls(response)
        == [("call_a", "f", '{"a":1}'), ("call_b", "g", '{"b":2}')]
        == sdk_calls(payloads)
    )


def test_fm10_late_id_buffers_until_known() -> None:
    payloads = [
        role(),
        chunk({"tool_calls": [{"index": 0, "function": {"arguments": '{"q"'}}]}),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "search", "arguments": ": "}}]}),
        chunk({"tool_calls": [{"index": 0, "id": "call_late", "function": {"arguments": '"x"'}}]}),
        tool_args(0, "}"),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        ToolCallStart(index=0, id="call_late", name="search"),
        ToolCallDelta(index=0, arguments='{"q": "x"'),  # buffered fragments, in order
        ToolCallDelta(index=0, arguments="}"),
        ToolCallEnd(index=0),
        Finish(stop_reason="tool_use"),
    ]


def test_fm10_id_that_never_comes_is_synthesised_deterministically() -> None:
    payloads = [
        role(),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "a", "arguments": "{}"}}]}),
        chunk({"tool_calls": [{"index": 1, "function": {"name": "b", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    digest = hashlib.sha256(ID.encode()).hexdigest()[:12]
    starts = [e for e in events if isinstance(e, ToolCallStart)]
    assert starts == [
        ToolCallStart(index=0, id=f"call_0_{digest}", name="a"),
        ToolCallStart(index=1, id=f"call_1_{digest}", name="b"),
    ]


def test_fm10_new_name_without_id_on_a_reused_index_is_a_new_call() -> None:
    payloads = [
        role(),
        chunk(
            {
                "tool_calls": [
                    {"index": 0, "id": "call_1", "function": {"name": "a", "arguments": "{}"}}
                ]
            }
        ),
        chunk({"tool_calls": [{"index": 0, "function": {"name": "b", "arguments": "{}"}}]}),
        chunk({}, "tool_calls"),
    ]
    calls = collect(run(sse(payloads))).tool_calls()
    assert [(c.name, c.arguments) for c in calls] == [("a", "{}"), ("b", "{}")]


# ------------------------------------------------------------------ fm18


@pytest.mark.parametrize(
    ("error", "kind", "code"),
    [
        (
            {"message": "Rate limit reached", "type": "tokens", "code": "rate_limit_exceeded"},
            "rate_limit",
            "rate_limit_exceeded",
        ),
        (
            {"message": "The server had an error", "type": "server_error", "code": None},
            "api_error",
            None,
        ),
        ({"message": "Overloaded", "type": "overloaded_error"}, "overloaded", None),
        ({"message": "too long", "code": 400}, "invalid_request", None),
    ],
)
def test_fm18_mid_stream_error_data_line(
    error: dict[str, Any], kind: str, code: str | None
) -> None:
    payloads = [
        role(),
        chunk({"content": "par"}),
        {"error": error},
        chunk({"content": "ignored"}),
        chunk({}, "stop"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        TextDelta(text="par"),
        StreamError(kind=kind, message=error["message"], code=code),
    ]


def test_fm18_error_before_any_chunk_has_no_message_start() -> None:
    # The pipeline can still fall back: nothing reached the client yet.
    events = run(sse([{"error": "model crashed"}], done=False))
    assert events == [StreamError(kind="api_error", message="model crashed")]


def test_fm18_error_event_with_plain_text_data() -> None:
    data = sse([role()], done=False) + b"event: error\ndata: worker died\n\n"
    assert run(data) == [START, StreamError(kind="api_error", message="worker died")]


# ------------------------------------------------------------------ fm19


@pytest.mark.parametrize(
    "deltas",
    [
        pytest.param(
            [{"reasoning_content": "Let me "}, {"reasoning_content": "think."}],
            id="reasoning_content",
        ),
        pytest.param([{"reasoning": "Let me "}, {"reasoning": "think."}], id="reasoning"),
        pytest.param(
            [
                {
                    "reasoning": "Let me ",
                    "reasoning_details": [{"type": "reasoning.text", "text": "Let me "}],
                },
                {"reasoning_details": [{"type": "reasoning.text", "text": "think."}]},
            ],
            id="reasoning_details",
        ),
    ],
)
def test_fm19_reasoning_deltas_never_become_text(deltas: list[dict[str, Any]]) -> None:
    payloads = [
        chunk({"role": "assistant", "content": None, **deltas[0]}, validate=False),
        chunk({"content": None, **deltas[1]}, validate=False),
        chunk({"content": "Answer"}),
        chunk({}, "stop"),
    ]
    events = run(sse(payloads))
    assert events == [
        START,
        ReasoningDelta(text="Let me "),
        ReasoningDelta(text="think."),
        TextDelta(text="Answer"),
        Finish(stop_reason="end_turn"),
    ]
    response = collect(events)
    assert response.text() == "Answer"
    assert response.content[0].text == "Let me think."  # type: ignore[union-attr]


# ------------------------------------------------------------------- fm9


def test_fm9_custom_tool_call_rewrapped_in_stream() -> None:
    patch = '*** Begin Patch\n*** Update File: a.py\n-print("a")\n+print("b \\\\ c")\n*** End Patch'
    wrapped = json.dumps({"input": patch})
    encoded = Encoded(path="/chat/completions", body=b"{}", custom_tools=frozenset({"apply_patch"}))
    payloads = [
        role(),
        tool_start(0, "call_p", "apply_patch"),
        *(tool_args(0, piece) for piece in fragments(wrapped, 11)),
        tool_start(1, "call_b", "Bash", '{"cmd": "ls"}'),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads), encoded)
    assert events == [
        START,
        ToolCallStart(index=0, id="call_p", name="apply_patch", kind="custom"),
        ToolCallStart(index=1, id="call_b", name="Bash"),
        ToolCallDelta(index=1, arguments='{"cmd": "ls"}'),
        ToolCallDelta(index=0, arguments=patch),  # the raw input, whole, at the end
        ToolCallEnd(index=0),
        ToolCallEnd(index=1),
        Finish(stop_reason="tool_use"),
    ]


def test_fm9_unparseable_custom_arguments_are_passed_raw() -> None:
    encoded = Encoded(path="/chat/completions", body=b"{}", custom_tools=frozenset({"apply_patch"}))
    payloads = [
        role(),
        tool_start(0, "call_p", "apply_patch", '{"input": "trunc'),
        chunk({}, "length"),
    ]
    events = run(sse(payloads), encoded)
    assert ToolCallDelta(index=0, arguments='{"input": "trunc') in events
    assert events[-1] == Finish(stop_reason="max_tokens")


def test_native_custom_tool_call_fragments() -> None:
    payloads = [
        role(),
        chunk(
            {
                "tool_calls": [
                    {
                        "index": 0,
                        "id": "call_c",
                        "type": "custom",
                        "custom": {"name": "grep", "input": "a b"},
                    }
                ]
            },
            validate=False,
        ),
        chunk({"tool_calls": [{"index": 0, "custom": {"input": " c"}}]}, validate=False),
        chunk({}, "tool_calls"),
    ]
    events = run(sse(payloads))
    assert events[1:4] == [
        ToolCallStart(index=0, id="call_c", name="grep", kind="custom"),
        ToolCallDelta(index=0, arguments="a b"),
        ToolCallDelta(index=0, arguments=" c"),
    ]


def test_legacy_function_call_stream() -> None:
    payloads = [
        chunk(
            {"role": "assistant", "content": None, "function_call": {"name": "f", "arguments": ""}}
        ),
        chunk({"function_call": {"arguments": '{"x":1}'}}),
        chunk({}, "function_call"),
    ]
    events = run(sse(payloads))
    assert our_calls(collect(events)) == [("call_legacy_0", "f", '{"x":1}')]
    assert events[-1] == Finish(stop_reason="tool_use")


def test_events_after_done_are_ignored() -> None:
    data = sse([role(), chunk({"content": "a"}), chunk({}, "stop")]) + sse(
        [chunk({"content": "late"})], done=False
    )
    assert run(data) == [START, TextDelta(text="a"), Finish(stop_reason="end_turn")]
