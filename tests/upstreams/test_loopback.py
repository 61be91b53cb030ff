"""The loopback model, table-driven over canonical requests."""

from __future__ import annotations

import json

import pytest

from tokligence.canonical import (
    CustomTool,
    Message,
    ReasoningConfig,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
    collect,
)
from tokligence.upstreams import loopback


def ask(text: str, **fields: object) -> Request:
    return Request(
        model="loopback",
        dialect="openai_chat",
        messages=(Message(role="user", parts=(TextPart(text=text),)),),
        **fields,  # type: ignore[arg-type]
    )


def answer(request: Request):  # type: ignore[no-untyped-def]
    return collect(loopback.respond(request, response_id="abc", created=1))


@pytest.mark.parametrize(
    ("request_", "text", "stop_reason", "stop_sequence"),
    [
        (ask("hello world"), "hello world", "end_turn", None),
        (ask("  spaced  out  "), "  spaced  out  ", "end_turn", None),
        (ask("line\u2028sep"), "line\u2028sep", "end_turn", None),
        (ask(""), loopback.EMPTY_ANSWER, "end_turn", None),
        (ask("one STOP two", stop=("STOP",)), "one ", "stop_sequence", "STOP"),
        (ask("a b c d", stop=("c", "b")), "a ", "stop_sequence", "b"),
        (ask("x" * 300, max_tokens=10), "x" * 30, "max_tokens", None),
        # Claude Code's injected reminders are not what the user wrote.
        (
            ask("<system-reminder>\nThe date is today.\n</system-reminder>\nhello there"),
            "hello there",
            "end_turn",
            None,
        ),
        (
            ask("<system-reminder>only this</system-reminder>"),
            loopback.EMPTY_ANSWER,
            "end_turn",
            None,
        ),
    ],
)
def test_text_answers(
    request_: Request, text: str, stop_reason: str, stop_sequence: str | None
) -> None:
    response = answer(request_)
    assert response.text() == text
    assert response.stop_reason == stop_reason
    assert response.stop_sequence == stop_sequence
    assert response.usage.input_tokens > 0 and response.usage.output_tokens > 0


def test_tool_line_makes_a_tool_call_with_the_users_exact_arguments() -> None:
    raw = '{"command": "echo \\"hi\\" \\\\ there", "n": 1}'
    response = answer(ask(f"/tool Bash {raw}"))
    (call,) = response.tool_calls()
    assert (call.name, call.arguments, call.kind) == ("Bash", raw, "function")
    assert json.loads(call.arguments)["command"] == 'echo "hi" \\ there'
    assert response.stop_reason == "tool_use"
    assert call.id.startswith("call_lb_")


def test_several_tool_lines_make_parallel_calls_with_distinct_ids() -> None:
    response = answer(ask('/tool a {"x":1}\n/tool b\n'))
    calls = response.tool_calls()
    assert [(c.name, c.arguments) for c in calls] == [("a", '{"x":1}'), ("b", "{}")]
    assert len({c.id for c in calls}) == 2


def test_anthropic_requests_get_toolu_ids() -> None:
    request = Request(
        model="loopback",
        dialect="anthropic_messages",
        messages=(Message(role="user", parts=(TextPart(text="/tool t {}"),)),),
    )
    assert answer(request).tool_calls()[0].id.startswith("toolu_lb_")


def test_custom_tool_takes_the_raw_line() -> None:
    patch = "*** Begin Patch\n"
    request = ask(f"/tool apply_patch {patch}", tools=(CustomTool(name="apply_patch"),))
    (call,) = answer(request).tool_calls()
    assert (call.kind, call.arguments) == ("custom", "*** Begin Patch")


@pytest.mark.parametrize("args", ["{not json", "[1, 2]"])
def test_bad_arguments_get_a_text_answer(args: str) -> None:
    response = answer(ask(f"/tool t {args}"))
    assert response.tool_calls() == ()
    assert "tool t" in response.text()


def test_tool_result_is_answered_with_its_text() -> None:
    request = Request(
        model="loopback",
        dialect="openai_chat",
        messages=(
            Message(role="user", parts=(TextPart(text="/tool t {}"),)),
            Message(role="assistant", parts=(ToolCallPart(id="c1", name="t", arguments="{}"),)),
            Message(
                role="tool",
                parts=(
                    ToolResultPart(call_id="c1", content=(TextPart(text="result one"),)),
                    ToolResultPart(call_id="c2", content=(TextPart(text="result two"),)),
                ),
            ),
        ),
    )
    response = answer(request)
    assert response.text() == "result one\nresult two"
    assert response.stop_reason == "end_turn"


def test_reasoning_only_when_asked() -> None:
    plain = answer(ask("hi"))
    thinking = answer(ask("hi", reasoning=ReasoningConfig(mode="enabled", budget_tokens=1024)))
    assert [type(p).__name__ for p in plain.content] == ["TextPart"]
    assert [type(p).__name__ for p in thinking.content] == ["ReasoningPart", "TextPart"]
    assert thinking.content[0].signature is None  # type: ignore[union-attr]  # never forged
    assert (
        answer(ask("hi", reasoning=ReasoningConfig(effort="none"))).content[0].__class__.__name__
        == "TextPart"
    )


def test_answers_are_deterministic() -> None:
    assert loopback.respond(ask("same"), response_id="r", created=5) == loopback.respond(
        ask("same"), response_id="r", created=5
    )


def test_embeddings_are_deterministic_unit_vectors() -> None:
    a, b, c = loopback.embed("alpha", 64), loopback.embed("alpha", 64), loopback.embed("beta", 64)
    assert a == b and a != c and len(a) == 64
    assert abs(sum(v * v for v in a) - 1.0) < 1e-6
