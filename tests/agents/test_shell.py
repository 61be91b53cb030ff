"""Shell call normalisation: the argument rules (table), the stream fixer fed
every slicing, and the loopback model's calls through a real gateway."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.gateway_thread import isolated_config
from tokligence.agents.shell import (
    MAX_ARGUMENT_BYTES,
    ShellCallFixer,
    fixed_shell_calls,
    normalize_arguments,
    wants_argv,
)
from tokligence.app import build, run
from tokligence.canonical import (
    CustomTool,
    Event,
    Finish,
    FunctionTool,
    MessageStart,
    Request,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallPart,
    ToolCallStart,
    collect,
)

WRAPPED = ["bash", "-lc"]

RULES = [
    ('{"command":"ls -la | head"}', {"command": [*WRAPPED, "ls -la | head"]}),
    ('{"command": "echo \\"hi\\"\\nexit 3"}', {"command": [*WRAPPED, 'echo "hi"\nexit 3']}),
    ('{"command":"[\\"ls\\", \\"-la\\"]"}', {"command": ["ls", "-la"]}),
    ('{"command":"[ -f x ] && echo y"}', {"command": [*WRAPPED, "[ -f x ] && echo y"]}),
    ('{"command":"[1, 2]"}', {"command": [*WRAPPED, "[1, 2]"]}),
    ('{"command":["ls -la"]}', {"command": [*WRAPPED, "ls -la"]}),
    ('{"command":["cat a>b"]}', {"command": [*WRAPPED, "cat a>b"]}),
    (
        '{"command":"pwd","workdir":"/tmp","timeout_ms":1000}',
        {"command": [*WRAPPED, "pwd"], "workdir": "/tmp", "timeout_ms": 1000},
    ),
    ('{"command":"grep é ü"}', {"command": [*WRAPPED, "grep é ü"]}),
]

UNCHANGED = [
    '{"command":["ls"]}',
    '{"command":["ls","-la"]}',
    '{"command":["bash","-lc","ls | wc"]}',
    '{"command":"   "}',
    '{"command":[]}',
    '{"command":[" "]}',
    '{"command":[1]}',
    '{"cmd":"ls -la"}',
    '["ls -la"]',
    "not json",
    "",
    json.dumps({"command": "x " * (MAX_ARGUMENT_BYTES // 2)}),
]


@pytest.mark.parametrize(("arguments", "expected"), RULES)
def test_rules(arguments: str, expected: dict[str, Any]) -> None:
    out = normalize_arguments(arguments)
    assert json.loads(out) == expected
    assert list(json.loads(out)) == list(expected)  # other keys keep their order
    assert "\\u" not in out  # text stays text


@pytest.mark.parametrize("arguments", UNCHANGED)
def test_everything_else_is_untouched(arguments: str) -> None:
    assert normalize_arguments(arguments) == arguments


def shell_tool(command_type: str) -> FunctionTool:
    return FunctionTool(
        name="shell",
        parameters={
            "type": "object",
            "properties": {"command": {"type": command_type}, "workdir": {"type": "string"}},
        },
    )


@pytest.mark.parametrize(
    ("tools", "expected"),
    [
        ((shell_tool("array"),), True),
        ((FunctionTool(name="other"), shell_tool("array")), True),
        ((shell_tool("string"),), False),
        ((FunctionTool(name="shell"),), False),
        ((CustomTool(name="shell"),), False),
        ((), False),
    ],
)
def test_applies_only_to_a_declared_argv_shell(tools: tuple[Any, ...], expected: bool) -> None:
    request = Request(model="m", dialect="openai_responses", messages=(), tools=tools)
    assert wants_argv(request) is expected


ARGS = '{"command":"ls -la | head","workdir":"/w"}'


def events(slice_size: int, *, end: bool = True) -> list[Event]:
    out: list[Event] = [
        MessageStart(id="m", model="x", created=1),
        TextDelta(text="running"),
        ToolCallStart(index=0, id="c0", name="shell"),
        ToolCallStart(index=1, id="c1", name="read", kind="function"),
    ]
    other = '{"path":"a b"}'
    for i in range(0, max(len(ARGS), len(other)), slice_size):
        if ARGS[i : i + slice_size]:
            out.append(ToolCallDelta(index=0, arguments=ARGS[i : i + slice_size]))
        if other[i : i + slice_size]:
            out.append(ToolCallDelta(index=1, arguments=other[i : i + slice_size]))
    if end:
        out += [ToolCallEnd(index=1), ToolCallEnd(index=0)]
    out.append(Finish(stop_reason="tool_use"))
    return out


def fixed(source: list[Event]) -> list[Event]:
    fixer = ShellCallFixer()
    return [out for event in source for out in fixer.feed(event)]


@pytest.mark.parametrize("slice_size", [1, 7, 1000])
def test_stream_fixer_whatever_the_slicing(slice_size: int) -> None:
    source = events(slice_size)
    out = fixed(source)
    response = collect(out)
    calls = {p.name: p.arguments for p in response.content if isinstance(p, ToolCallPart)}
    assert json.loads(calls["shell"]) == {"command": [*WRAPPED, "ls -la | head"], "workdir": "/w"}
    assert calls["read"] == '{"path":"a b"}'
    # Other calls stream through at once; the shell call's arguments come in
    # one delta, just before its end.
    shell_deltas = [e for e in out if isinstance(e, ToolCallDelta) and e.index == 0]
    assert len(shell_deltas) == 1
    assert out.index(shell_deltas[0]) == out.index(ToolCallEnd(index=0)) - 1
    assert [e for e in out if not (isinstance(e, ToolCallDelta) and e.index == 0)] == [
        e for e in source if not (isinstance(e, ToolCallDelta) and e.index == 0)
    ]


def test_a_shell_call_cut_short_releases_what_arrived_unchanged() -> None:
    out = fixed(events(5, end=False))
    held = [e for e in out if isinstance(e, ToolCallDelta) and e.index == 0]
    assert held == [ToolCallDelta(index=0, arguments=ARGS)]
    assert out[-1] == Finish(stop_reason="tool_use")


async def test_the_async_wrapper_flushes_at_the_end_and_closes_its_source() -> None:
    closed: list[bool] = []

    async def source() -> Any:
        try:
            for event in events(3, end=False)[:-1]:  # no Finish either
                yield event
        finally:
            closed.append(True)

    got = [event async for event in fixed_shell_calls(source())]
    assert got[-1] == ToolCallDelta(index=0, arguments=ARGS)
    assert closed == [True]


# ------------------------------------------------------------- through the gateway


def shell_call_prompt(command: Any) -> str:
    return "/tool shell " + json.dumps({"command": command, "workdir": "/w"})


def chat(command_type: str, *, stream: bool) -> dict[str, Any]:
    tool = shell_tool(command_type)
    return {
        "model": "loopback",
        "stream": stream,
        "messages": [{"role": "user", "content": shell_call_prompt("ls -la | wc -l")}],
        "tools": [
            {
                "type": "function",
                "function": {"name": "shell", "parameters": dict(tool.parameters or {})},
            }
        ],
    }


def responses(command_type: str, *, stream: bool) -> dict[str, Any]:
    tool = shell_tool(command_type)
    return {
        "model": "loopback",
        "stream": stream,
        "store": False,
        "input": [{"role": "user", "content": shell_call_prompt("ls -la | wc -l")}],
        "tools": [{"type": "function", "name": "shell", "parameters": dict(tool.parameters or {})}],
    }


def messages(command_type: str, *, stream: bool) -> dict[str, Any]:
    tool = shell_tool(command_type)
    return {
        "model": "loopback",
        "stream": stream,
        "max_tokens": 200,
        "messages": [{"role": "user", "content": shell_call_prompt("ls -la | wc -l")}],
        "tools": [{"name": "shell", "input_schema": dict(tool.parameters or {})}],
    }


def sse_events(raw: str) -> list[dict[str, Any]]:
    return [
        json.loads(line[6:])
        for line in raw.splitlines()
        if line.startswith("data: ") and line != "data: [DONE]"
    ]


def shell_arguments(dialect: str, response: httpx.Response, stream: bool) -> Any:
    if not stream:
        body = response.json()
        if dialect == "chat":
            return json.loads(
                body["choices"][0]["message"]["tool_calls"][0]["function"]["arguments"]
            )
        if dialect == "responses":
            return json.loads(
                next(i for i in body["output"] if i["type"] == "function_call")["arguments"]
            )
        return next(b for b in body["content"] if b["type"] == "tool_use")["input"]
    parts: list[str] = []
    for event in sse_events(response.text):
        if dialect == "chat":
            for call in (event.get("choices") or [{}])[0].get("delta", {}).get("tool_calls") or []:
                parts.append(call["function"].get("arguments") or "")
        elif dialect == "responses" and event["type"] == "response.function_call_arguments.delta":
            parts.append(event["delta"])
        elif (
            event.get("type") == "content_block_delta"
            and event["delta"]["type"] == "input_json_delta"
        ):
            parts.append(event["delta"]["partial_json"])
    return json.loads("".join(parts))


DIALECTS = {
    "chat": ("/v1/chat/completions", chat),
    "responses": ("/v1/responses", responses),
    "messages": ("/v1/messages", messages),
}


async def ask_all(tmp_path: Path, env: dict[str, str], command_type: str) -> dict[str, Any]:
    built = build(isolated_config(tmp_path, env=env))
    results: dict[str, Any] = {}
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound[0].port}") as client:
            for name, (path, make) in DIALECTS.items():
                for stream in (False, True):
                    response = await client.post(path, json=make(command_type, stream=stream))
                    assert response.status_code == 200, response.text
                    results[f"{name}-{stream}"] = shell_arguments(name, response, stream)
        built.server.shutdown()
    return results


async def test_string_commands_come_back_as_argv_in_every_dialect(tmp_path: Path) -> None:
    results = await ask_all(tmp_path, {}, "array")
    assert len(results) == 6
    for key, arguments in results.items():
        assert arguments == {"command": [*WRAPPED, "ls -la | wc -l"], "workdir": "/w"}, key


async def test_a_shell_declared_with_a_string_command_is_left_alone(tmp_path: Path) -> None:
    results = await ask_all(tmp_path, {}, "string")
    for key, arguments in results.items():
        assert arguments == {"command": "ls -la | wc -l", "workdir": "/w"}, key


async def test_normalisation_can_be_switched_off(tmp_path: Path) -> None:
    results = await ask_all(tmp_path, {"TOKLIGENCE_SHELL_NORMALIZATION": "false"}, "array")
    for key, arguments in results.items():
        assert arguments == {"command": "ls -la | wc -l", "workdir": "/w"}, key
