"""Every client -> upstream path, streaming and not, through the official SDKs.

Paths (see ``rigs.PATHS``): (a) Chat -> Anthropic, (b) Messages -> OpenAI
Chat, (c) Responses -> Anthropic, (d) Responses -> an OpenAI-compatible
chat-only provider, (e) Chat passthrough, (f) Messages passthrough,
(g) Responses passthrough. One turn is scripted in the upstream's dialect and
the client's SDK must see the same content, tool calls, reasoning (never as
visible text) and usage in its own protocol's terms.
"""

from __future__ import annotations

import json

import pytest

from .conftest import Rig
from .rigs import (
    SIGNATURE,
    Call,
    Path,
    Turn,
    ask,
    neutral_usage,
    path_params,
    script,
    upstream_reply,
)

STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
NORMAL_STOP = {"chat": "stop", "messages": "end_turn", "responses": "completed"}
TOOL_STOP = {"chat": "tool_calls", "messages": "tool_use", "responses": "completed"}

# Arguments with odd spacing, so "byte-exact" means something on passthrough.
WEATHER_ARGS = ("", '{"city": ', ' "Paris",  "unit":"c"}')
OSLO_ARGS = ('{"city":"Oslo"', "}")


def _scripted(rig: Rig, path: Path, turn: Turn, stream: bool) -> None:
    script(rig, path, upstream_reply(path.upstream, turn, stream=stream))


@path_params()
@STREAM
def test_plain_text(fresh: Rig, path: Path, stream: bool) -> None:
    _scripted(fresh, path, Turn(text=("Hel", "lo ", "wörld ✓ \u2028 😀")), stream)
    answer = ask(fresh, path, stream=stream)
    assert answer.text == "Hello wörld ✓ \u2028 😀"
    assert answer.calls == [] and answer.reasoning == ""
    assert answer.stop == NORMAL_STOP[path.client]
    assert len(path.fake(fresh).requests(path.upstream_path)) == 1


@path_params()
@STREAM
def test_fm1_tool_call_arguments_arrive_intact(fresh: Rig, path: Path, stream: bool) -> None:
    call = Call(id="call_01WeatherA", name="get_weather", fragments=WEATHER_ARGS)
    _scripted(fresh, path, Turn(calls=(call,)), stream)
    answer = ask(fresh, path, stream=stream, tools=True)
    assert [(i, n) for i, n, _ in answer.calls] == [(call.id, call.name)]
    if path.passthrough and path.client != "messages":
        assert answer.calls[0][2] == call.arguments  # byte for byte
    assert answer.inputs == [json.loads(call.arguments)]
    assert answer.stop == TOOL_STOP[path.client]
    assert answer.text == ""


@path_params()
@STREAM
def test_fm10_two_parallel_tool_calls_stay_apart(fresh: Rig, path: Path, stream: bool) -> None:
    calls = (
        Call(id="call_01WeatherA", name="get_weather", fragments=WEATHER_ARGS),
        Call(id="call_02WeatherB", name="get_weather", fragments=OSLO_ARGS),
    )
    _scripted(fresh, path, Turn(text=("Checking both.",), calls=calls), stream)
    answer = ask(fresh, path, stream=stream, tools=True)
    assert [(i, n) for i, n, _ in answer.calls] == [(c.id, c.name) for c in calls]
    assert answer.inputs == [json.loads(c.arguments) for c in calls]
    if path.passthrough and path.client != "messages":
        assert [a for _, _, a in answer.calls] == [c.arguments for c in calls]
    assert answer.text == "Checking both."
    assert answer.stop == TOOL_STOP[path.client]


@path_params()
@STREAM
def test_fm19_reasoning_is_rendered_in_the_clients_dialect_never_as_text(
    fresh: Rig, path: Path, stream: bool
) -> None:
    turn = Turn(reasoning=("Let me think", " about it (secretly)."), text=("Answer: 4.",))
    _scripted(fresh, path, turn, stream)
    answer = ask(fresh, path, stream=stream)
    assert answer.text == "Answer: 4."
    assert "secretly" not in answer.text
    assert answer.reasoning == "Let me think about it (secretly)."
    if path.client == "chat":
        final = answer.final
        assert "secretly" not in (final.choices[0].message.content or "")
    if path.client == "responses":
        kinds = [item.type for item in answer.final.output]
        assert kinds == ["reasoning", "message"]
    if path.client == "messages":
        kinds = [block.type for block in answer.final.content]
        assert kinds == ["thinking", "text"]
        # Anthropic signatures are relayed, never forged for another vendor (FM4).
        expected = SIGNATURE if path.passthrough else ""
        assert answer.signatures == [expected]


@path_params()
@STREAM
def test_fm6_cache_usage_is_converted_not_lost(fresh: Rig, path: Path, stream: bool) -> None:
    turn = Turn(text=("ok",), input_tokens=21, cache_read=100, cache_write=50, output_tokens=13)
    _scripted(fresh, path, turn, stream)
    usage = ask(fresh, path, stream=stream).usage
    assert neutral_usage(path.client, usage) == (21, 100, 50, 13)
    if path.client == "chat":  # prompt_tokens INCLUDES the cache
        assert usage["prompt_tokens"] == 171
        assert usage["prompt_tokens_details"]["cached_tokens"] == 100
        assert usage["total_tokens"] == 184
    elif path.client == "messages":  # input_tokens EXCLUDES the cache
        assert usage["input_tokens"] == 21
        assert usage["cache_read_input_tokens"] == 100
        assert usage["cache_creation_input_tokens"] == 50
        assert usage["output_tokens"] == 13
    else:
        assert usage["input_tokens"] == 171
        assert usage["input_tokens_details"]["cached_tokens"] == 100
        assert usage["total_tokens"] == 184


@path_params()
@STREAM
def test_fm5_usage_without_cache_is_reported(fresh: Rig, path: Path, stream: bool) -> None:
    _scripted(fresh, path, Turn(text=("ok",), input_tokens=40, output_tokens=7), stream)
    usage = ask(fresh, path, stream=stream).usage
    assert neutral_usage(path.client, usage) == (40, 0, 0, 7)
