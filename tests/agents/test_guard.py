"""The repeated-tool-call guard: the streak, the levels, the note in every
dialect (pure), and the whole thing through a real gateway with the loopback
model for three client dialects, ledger row included."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import httpx
import pytest
import trio

from tests.fakes.wire import FakeServer, json_reply
from tests.gateway_thread import isolated_config
from tokligence.agents.guard import (
    CODE_HEADER,
    NOTE_PREFIX,
    REFUSAL_CODE,
    GuardPolicy,
    canonical_arguments,
    guard_call,
    judge,
    note_text,
    repeat_streak,
    with_note,
)
from tokligence.agents.guard_wire import with_wire_note
from tokligence.app import build, run
from tokligence.canonical import (
    FunctionTool,
    Message,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)
from tokligence.config import ConfigError, load_config
from tokligence.fronts.registry import FRONTS
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.queries import recent_entries

LS = '{"path": "."}'


def call(name: str = "ls", args: str = LS, *more: tuple[str, str]) -> Message:
    parts = [
        ToolCallPart(id=f"c{i}", name=n, arguments=a)
        for i, (n, a) in enumerate(((name, args), *more))
    ]
    return Message(role="assistant", parts=tuple(parts))


def result(text: str = "a.txt", *more: str) -> Message:
    parts = [
        ToolResultPart(call_id=f"c{i}", content=(TextPart(text=t),))
        for i, t in enumerate((text, *more))
    ]
    return Message(role="tool", parts=tuple(parts))


def user(text: str) -> Message:
    return Message(role="user", parts=(TextPart(text=text),))


def said(text: str) -> Message:
    return Message(role="assistant", parts=(TextPart(text=text),))


def request(*messages: Message, tools: bool = True) -> Request:
    return Request(
        model="m",
        dialect="openai_chat",
        messages=(user("go"), *messages),
        tools=(FunctionTool(name="ls"),) if tools else (),
    )


def rounds(n: int, name: str = "ls", args: str = LS) -> tuple[Message, ...]:
    return tuple(m for _ in range(n) for m in (call(name, args), result()))


STREAKS = [
    ("three identical calls", rounds(3), 3, ("ls",)),
    (
        "same JSON, other key order and spacing",
        (
            call(args='{"a":1,"b":[1,2]}'),
            result(),
            call(args='{ "b": [1, 2], "a": 1 }'),
            result(),
            call(args='{"b":[1,2],"a":1}'),
            result(),
        ),
        3,
        ("ls",),
    ),
    (
        "only the run at the end counts",
        (*rounds(2), *rounds(1, args='{"path":"/"}'), *rounds(2)),
        2,
        ("ls",),
    ),
    (
        "a text-only assistant turn breaks it",
        (*rounds(2), said("done?"), user("again"), *rounds(1)),
        1,
        ("ls",),
    ),
    (
        "user reminders between calls do not",
        (
            call(),
            result(),
            user("<system-reminder>x</system-reminder>"),
            call(),
            result(),
            call(),
            result(),
        ),
        3,
        ("ls",),
    ),
    (
        "parallel calls in any order",
        (
            call("ls", LS, ("cat", '{"f":1}')),
            result("a", "b"),
            call("cat", '{"f":1}', ("ls", LS)),
            result("a", "b"),
        ),
        2,
        ("cat", "ls"),
    ),
    (
        "another tool with the same arguments breaks it",
        (*rounds(2), *rounds(1, "cat")),
        1,
        ("cat",),
    ),
    (
        "freeform input compared verbatim",
        rounds(4, "apply_patch", "*** Begin Patch\nx"),
        4,
        ("apply_patch",),
    ),
    ("no calls at all", (said("hello"),), 0, ()),
]


@pytest.mark.parametrize(
    ("history", "count", "names"), [s[1:] for s in STREAKS], ids=[s[0] for s in STREAKS]
)
def test_repeat_streak(history: tuple[Message, ...], count: int, names: tuple[str, ...]) -> None:
    assert repeat_streak(request(*history).messages) == (count, names)


def test_canonical_arguments() -> None:
    assert canonical_arguments('{"b": 2, "a": [1, {"d": 0, "c": "é"}]}') == (
        '{"a":[1,{"c":"é","d":0}],"b":2}'
    )
    assert canonical_arguments("not json {") == "not json {"


@pytest.mark.parametrize(
    ("policy", "count", "level"),
    [
        (GuardPolicy(), 2, "ok"),
        (GuardPolicy(), 3, "warn"),
        (GuardPolicy(), 4, "insist"),
        (GuardPolicy(), 5, "stop"),
        (GuardPolicy(), 9, "stop"),
        (GuardPolicy(enabled=False), 9, "ok"),
        (GuardPolicy(warn_at=0), 3, "ok"),
        (GuardPolicy(stop_at=0), 7, "insist"),
        (GuardPolicy(warn_at=2, insist_at=0, stop_at=3), 2, "warn"),
        (GuardPolicy(warn_at=2, insist_at=0, stop_at=3), 3, "stop"),
    ],
)
def test_levels(policy: GuardPolicy, count: int, level: str) -> None:
    verdict = judge(request(*rounds(count)), policy)
    assert verdict.level == level
    assert verdict.count == (count if level != "ok" else 0)


def test_only_agent_traffic_is_judged() -> None:
    assert judge(request(*rounds(9), tools=False), GuardPolicy()).level == "ok"


def test_insist_is_stronger_and_names_the_limit() -> None:
    policy = GuardPolicy()
    warn = note_text(judge(request(*rounds(3)), policy), policy)
    insist = note_text(judge(request(*rounds(4)), policy), policy)
    assert warn.startswith(NOTE_PREFIX) and insist.startswith(NOTE_PREFIX)
    assert "'ls'" in warn and "3 times" in warn and "STOP" not in warn
    assert "STOP" in insist and "4 times" in insist and "after 5" in insist


def test_note_goes_to_the_last_tool_result_only() -> None:
    before = request(call("ls", LS, ("cat", "{}")), result("one", "two"), user("reminder"))
    after = with_note(before, "NOTE")
    tool = after.messages[2]
    assert [p.content for p in tool.parts if isinstance(p, ToolResultPart)] == [
        (TextPart(text="one"),),
        (TextPart(text="two"), TextPart(text="NOTE")),
    ]
    assert after.messages[:2] == before.messages[:2] and after.messages[3:] == before.messages[3:]
    # No tool result after the latest assistant turn: nothing to attach to.
    ended = request(*rounds(3), said("all done"))
    assert with_note(ended, "NOTE") is ended


# ------------------------------------------------------------------ wire shapes

WIRE = [
    (
        "anthropic_messages",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": "out",
                            "cache_control": {},
                        },
                        {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": "out\n\nNOTE",
                            "cache_control": {},
                        },
                        {"type": "text", "text": "<system-reminder>r</system-reminder>"},
                    ],
                }
            ]
        },
    ),
    (
        "anthropic_messages",
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [{"type": "text", "text": "o"}],
                        },
                    ],
                }
            ]
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {
                            "type": "tool_result",
                            "tool_use_id": "t",
                            "content": [
                                {"type": "text", "text": "o"},
                                {"type": "text", "text": "NOTE"},
                            ],
                        },
                    ],
                }
            ]
        },
    ),
    (
        "anthropic_messages",
        {"messages": [{"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t"}]}]},
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "tool_result", "tool_use_id": "t", "content": "NOTE"},
                    ],
                }
            ]
        },
    ),
    (
        "openai_chat",
        {
            "messages": [
                {"role": "assistant", "tool_calls": []},
                {"role": "tool", "tool_call_id": "a", "content": "x"},
                {"role": "tool", "tool_call_id": "b", "content": [{"type": "text", "text": "y"}]},
                {"role": "user", "content": "hint"},
            ]
        },
        {
            "messages": [
                {"role": "assistant", "tool_calls": []},
                {"role": "tool", "tool_call_id": "a", "content": "x"},
                {
                    "role": "tool",
                    "tool_call_id": "b",
                    "content": [{"type": "text", "text": "y"}, {"type": "text", "text": "NOTE"}],
                },
                {"role": "user", "content": "hint"},
            ]
        },
    ),
    (
        "openai_responses",
        {
            "input": [
                {"type": "function_call", "call_id": "a", "name": "ls", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "a", "output": "x"},
            ]
        },
        {
            "input": [
                {"type": "function_call", "call_id": "a", "name": "ls", "arguments": "{}"},
                {"type": "function_call_output", "call_id": "a", "output": "x\n\nNOTE"},
            ]
        },
    ),
    (
        "openai_responses",
        {
            "input": [
                {
                    "type": "custom_tool_call_output",
                    "call_id": "a",
                    "output": [{"type": "input_text", "text": "x"}],
                }
            ]
        },
        {
            "input": [
                {
                    "type": "custom_tool_call_output",
                    "call_id": "a",
                    "output": [
                        {"type": "input_text", "text": "x"},
                        {"type": "input_text", "text": "NOTE"},
                    ],
                }
            ]
        },
    ),
]


@pytest.mark.parametrize(("dialect", "body", "expected"), WIRE, ids=lambda v: str(v)[:20])
def test_wire_note(dialect: str, body: dict[str, Any], expected: dict[str, Any]) -> None:
    original = copy.deepcopy(body)
    assert with_wire_note(dialect, body, "NOTE") == expected
    assert body == original  # never mutated


@pytest.mark.parametrize(
    ("dialect", "body"),
    [
        ("anthropic_messages", {"messages": [{"role": "assistant", "content": "hi"}]}),
        ("anthropic_messages", {"messages": [{"role": "user", "content": "plain"}]}),
        (
            "openai_chat",
            {
                "messages": [
                    {"role": "tool", "content": "x"},
                    {"role": "assistant", "content": "done"},
                ]
            },
        ),
        (
            "openai_responses",
            {
                "input": [
                    {"type": "function_call_output", "call_id": "a", "output": "x"},
                    {"role": "assistant", "content": "done"},
                ]
            },
        ),
        ("openai_responses", {"input": "just text"}),
        ("openai_embeddings", {"input": "x"}),
    ],
)
def test_wire_note_leaves_bodies_without_a_trailing_result(
    dialect: str, body: dict[str, Any]
) -> None:
    assert with_wire_note(dialect, body, "NOTE") is body


def chat_body(n: int, *, stream: bool = False, model: str = "loopback") -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "list the files"}]
    for i in range(n):
        messages.append(
            {
                "role": "assistant",
                "content": None,
                "tool_calls": [
                    {
                        "id": f"call_{i}",
                        "type": "function",
                        "function": {"name": "ls", "arguments": LS if i % 2 else '{"path":"."}'},
                    }
                ],
            }
        )
        messages.append({"role": "tool", "tool_call_id": f"call_{i}", "content": "a.txt"})
    tool = {"type": "function", "function": {"name": "ls", "parameters": {"type": "object"}}}
    return {"model": model, "messages": messages, "tools": [tool], "stream": stream}


def messages_body(n: int, *, stream: bool = False, model: str = "loopback") -> dict[str, Any]:
    messages: list[dict[str, Any]] = [{"role": "user", "content": "list the files"}]
    for i in range(n):
        messages.append(
            {
                "role": "assistant",
                "content": [
                    {"type": "tool_use", "id": f"toolu_{i}", "name": "ls", "input": {"path": "."}},
                ],
            }
        )
        messages.append(
            {
                "role": "user",
                "content": [
                    {"type": "tool_result", "tool_use_id": f"toolu_{i}", "content": "a.txt"},
                ],
            }
        )
    tools = [{"name": "ls", "input_schema": {"type": "object"}}]
    return {
        "model": model,
        "max_tokens": 100,
        "messages": messages,
        "tools": tools,
        "stream": stream,
    }


def responses_body(n: int, *, stream: bool = False, model: str = "loopback") -> dict[str, Any]:
    items: list[dict[str, Any]] = [{"role": "user", "content": "list the files"}]
    for i in range(n):
        items.append(
            {"type": "function_call", "call_id": f"call_{i}", "name": "ls", "arguments": LS}
        )
        items.append({"type": "function_call_output", "call_id": f"call_{i}", "output": "a.txt"})
    tools = [{"type": "function", "name": "ls", "parameters": {"type": "object"}}]
    return {"model": model, "input": items, "tools": tools, "stream": stream, "store": False}


def test_guard_call_on_a_passthrough_body_rewrites_only_the_wire_json() -> None:
    obj = messages_body(3)
    guarded = guard_call(GuardPolicy(), FRONTS["anthropic_messages"], obj, None)
    assert guarded.verdict.level == "warn" and guarded.request is None
    assert guarded.body is not None
    sent = json.loads(guarded.body)
    assert sent["messages"][-1]["content"][0]["content"].startswith("a.txt\n\n" + NOTE_PREFIX)
    assert sent["messages"][:-1] == obj["messages"][:-1]
    # Not agent traffic: not even parsed (an unparsable body passes untouched).
    plain = {"messages": "nonsense"}
    assert guard_call(GuardPolicy(), FRONTS["openai_chat"], plain, None).obj is plain
    # Agent traffic the front refuses is not judged either: the passthrough's
    # API answers for itself (and may know a value the front does not yet).
    refused = {**messages_body(5), "temperature": 1.5}
    guarded = guard_call(GuardPolicy(), FRONTS["anthropic_messages"], refused, None)
    assert (guarded.obj, guarded.body, guarded.verdict.level) == (refused, None, "ok")


@pytest.mark.parametrize(
    ("dialect", "make"),
    [
        ("openai_chat", chat_body),
        ("anthropic_messages", messages_body),
        ("openai_responses", responses_body),
    ],
)
def test_long_passthrough_bodies_are_judged_on_their_tail(dialect: str, make: Any) -> None:
    """Only the last items are parsed for a passthrough body; the streak at
    the end is still seen exactly, and the note still lands in the body."""
    front = FRONTS[dialect]
    key = "input" if dialect == "openai_responses" else "messages"
    for streak, level in ((2, "ok"), (3, "warn"), (5, "stop")):
        obj = make(streak)
        other = make(120)[key][1 : -2 * streak] if streak else []
        # 120 earlier rounds of a different call, then the streak.
        varied = json.loads(json.dumps(other).replace('"ls"', '"cat"'))
        obj[key] = [obj[key][0], *varied, *obj[key][1:]]
        assert len(obj[key]) > 200
        guarded = guard_call(GuardPolicy(), front, obj, None)
        assert (guarded.verdict.level, guarded.verdict.count) == (
            level,
            streak if level != "ok" else 0,
        )
        if level == "warn":
            assert guarded.body is not None and NOTE_PREFIX.encode() in guarded.body


# ------------------------------------------------------------- through the gateway

PATHS = {
    "openai_chat": ("/v1/chat/completions", chat_body),
    "anthropic_messages": ("/v1/messages", messages_body),
    "openai_responses": ("/v1/responses", responses_body),
}


def answer_text(dialect: str, body: dict[str, Any]) -> str:
    if dialect == "openai_chat":
        return str(body["choices"][0]["message"]["content"])
    if dialect == "anthropic_messages":
        return "".join(b["text"] for b in body["content"] if b["type"] == "text")
    return "".join(
        c["text"] for item in body["output"] if item["type"] == "message" for c in item["content"]
    )


def stream_text(raw: str) -> str:
    """The visible text of an SSE stream in any of the three dialects."""
    out = []
    for line in raw.splitlines():
        if not line.startswith("data: ") or line == "data: [DONE]":
            continue
        event = json.loads(line[6:])
        if "choices" in event:
            out.append(event["choices"][0]["delta"].get("content") or "")
        elif event.get("type") == "content_block_delta" and event["delta"]["type"] == "text_delta":
            out.append(event["delta"]["text"])
        elif event.get("type") == "response.output_text.delta":
            out.append(event["delta"])
    return "".join(out)


@pytest.mark.parametrize("dialect", list(PATHS))
async def test_warn_insist_stop_through_the_gateway(tmp_path: Path, dialect: str) -> None:
    config = isolated_config(tmp_path)
    built = build(config)
    path, make = PATHS[dialect]
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        url = f"http://127.0.0.1:{bound[0].port}"
        async with httpx.AsyncClient(base_url=url, timeout=30) as client:
            quiet = await client.post(path, json=make(2))
            warned = await client.post(path, json=make(3))
            insisted = await client.post(path, json=make(4, stream=True))
            stopped = await client.post(path, json=make(5))
            stopped_stream = await client.post(path, json=make(6, stream=True))
        built.server.shutdown()
    assert quiet.status_code == 200 and answer_text(dialect, quiet.json()) == "a.txt"
    assert warned.status_code == 200
    text = answer_text(dialect, warned.json())
    assert text.startswith("a.txt" + NOTE_PREFIX) and "3 times in a row" in text
    assert "STOP" in stream_text(insisted.text) and "4 times" in stream_text(insisted.text)
    for refused in (stopped, stopped_stream):
        assert refused.status_code == 400
        assert refused.headers[CODE_HEADER] == REFUSAL_CODE
        body = refused.json()
        error = body["error"]
        assert error["message"].startswith(REFUSAL_CODE + ":")
        if dialect == "anthropic_messages":
            assert body["type"] == "error" and error["type"] == "invalid_request_error"
        else:
            assert error["code"] == REFUSAL_CODE
    db = open_database(sqlite_url(config.ledger_file()))
    try:
        rows = [entry.row for entry in recent_entries(db, limit=10)]
    finally:
        close_database(db)
    refused_rows = [r for r in rows if r.status == 400]
    assert len(rows) == 5 and len(refused_rows) == 2
    assert {r.error_kind for r in refused_rows} == {REFUSAL_CODE}
    assert {r.client_dialect for r in rows} == {dialect}


async def test_the_guard_can_be_switched_off(tmp_path: Path) -> None:
    config = isolated_config(tmp_path, env={"TOKLIGENCE_DUPLICATE_TOOL_DETECTION": "false"})
    built = build(config)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound[0].port}") as client:
            response = await client.post("/v1/chat/completions", json=chat_body(7))
        built.server.shutdown()
    assert response.status_code == 200
    assert answer_text("openai_chat", response.json()) == "a.txt"


async def test_thresholds_come_from_the_settings(tmp_path: Path) -> None:
    env = {"TOKLIGENCE_DUPLICATE_TOOL_WARN_AT": "2", "TOKLIGENCE_DUPLICATE_TOOL_STOP_AT": "3"}
    config = isolated_config(tmp_path, env=env)
    built = build(config)
    async with trio.open_nursery() as nursery:
        bound = await nursery.start(run, built)
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound[0].port}") as client:
            two = await client.post("/v1/messages", json=messages_body(2))
            three = await client.post("/v1/messages", json=messages_body(3))
        built.server.shutdown()
    assert NOTE_PREFIX in answer_text("anthropic_messages", two.json())
    assert three.status_code == 400


ANTHROPIC_REPLY = {
    "id": "msg_1",
    "type": "message",
    "role": "assistant",
    "model": "claude-x",
    "content": [{"type": "text", "text": "ok"}],
    "stop_reason": "end_turn",
    "stop_sequence": None,
    "usage": {"input_tokens": 3, "output_tokens": 1},
}
RESPONSES_REPLY = {
    "id": "resp_1",
    "object": "response",
    "created_at": 1,
    "status": "completed",
    "model": "gpt-x",
    "output": [
        {
            "type": "message",
            "id": "msg_1",
            "role": "assistant",
            "status": "completed",
            "content": [{"type": "output_text", "text": "ok", "annotations": []}],
        }
    ],
    "usage": {"input_tokens": 3, "output_tokens": 1, "total_tokens": 4},
}


async def test_the_note_reaches_real_upstreams_passthrough_and_translated(
    tmp_path: Path,
) -> None:
    """Passthrough rewrites the client's own JSON; translation the canonical
    request; either way the upstream reads the note in the last tool result."""
    fake = FakeServer()
    fake.set_default("/v1/messages", json_reply(ANTHROPIC_REPLY))
    fake.set_default("/v1/responses", json_reply(RESPONSES_REPLY))
    async with fake.serving() as upstream:
        env = {
            "TOKLIGENCE_ANTHROPIC_API_KEY": "k-anthropic",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": upstream,
            "TOKLIGENCE_OPENAI_API_KEY": "k-openai",
            "TOKLIGENCE_OPENAI_BASE_URL": upstream + "/v1",
        }
        config = isolated_config(tmp_path, env=env)
        built = build(config)
        async with trio.open_nursery() as nursery:
            bound = await nursery.start(run, built)
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{bound[0].port}") as client:
                passthrough = await client.post(
                    "/v1/messages", json=messages_body(3, model="claude-x")
                )
                passthrough_body = fake.last_json("/v1/messages")
                translated = await client.post(
                    "/v1/chat/completions", json=chat_body(4, model="claude-x")
                )
                translated_body = fake.last_json("/v1/messages")
                responses = await client.post(
                    "/v1/responses", json=responses_body(3, model="gpt-x")
                )
                responses_body_sent = fake.last_json("/v1/responses")
            built.server.shutdown()
    assert passthrough.status_code == translated.status_code == responses.status_code == 200
    result = passthrough_body["messages"][-1]["content"][0]
    assert result["type"] == "tool_result" and result["content"].startswith(
        "a.txt\n\n" + NOTE_PREFIX
    )
    assert passthrough_body["messages"][:-1] == messages_body(3)["messages"][:-1]
    last = translated_body["messages"][-1]["content"][-1]
    assert last["type"] == "tool_result"
    assert "STOP" in json.dumps(last["content"]) and "a.txt" in json.dumps(last["content"])
    output = responses_body_sent["input"][-1]
    assert output["type"] == "function_call_output"
    assert output["output"].startswith("a.txt\n\n" + NOTE_PREFIX)


def test_settings_from_ini_keys_and_environment(tmp_path: Path) -> None:
    ini = tmp_path / "gateway.ini"
    ini.write_text(
        "duplicate_tool_detection = false\nduplicate_tool_warn_at = 6\n"
        "duplicate_tool_insist_at = 7\nduplicate_tool_stop_at = 0\nshell_normalization = off\n"
    )
    config = load_config(
        config_file=ini,
        env={"TOKLIGENCE_DUPLICATE_TOOL_WARN_AT": "2"},
        cwd=tmp_path,
        user_config_dir=tmp_path / "config",
    )
    assert not config.duplicate_tool_detection and not config.shell_normalization
    assert (config.duplicate_tool_warn_at, config.duplicate_tool_insist_at) == (2, 7)
    assert config.duplicate_tool_stop_at == 0
    assert config.sources["duplicate_tool_warn_at"] == "env TOKLIGENCE_DUPLICATE_TOOL_WARN_AT"
    with pytest.raises(ConfigError, match="duplicate_tool_stop_at"):
        load_config(
            env={"TOKLIGENCE_DUPLICATE_TOOL_STOP_AT": "-1"},
            cwd=tmp_path,
            user_config_dir=tmp_path / "config",
        )
