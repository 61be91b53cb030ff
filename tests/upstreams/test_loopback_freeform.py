"""Loopback's scripted freeform (custom) tool input: a JSON string literal
on the ``/tool`` line is decoded, so a multi-line patch fits on one line."""

from __future__ import annotations

import json

import pytest

from tokligence.canonical import CustomTool, Message, Request, TextPart, collect
from tokligence.upstreams import loopback

PATCH = '*** Begin Patch\n*** Add File: a.txt\n+a "quoted" line\n*** End Patch\n'


def call_input(line: str) -> str:
    request = Request(
        model="loopback",
        dialect="openai_responses",
        messages=(Message(role="user", parts=(TextPart(text=line),)),),
        tools=(CustomTool(name="apply_patch"),),
    )
    response = collect(loopback.respond(request, response_id="r1", created=0))
    (call,) = response.tool_calls()
    assert call.kind == "custom"
    return call.arguments


@pytest.mark.parametrize(
    ("rest", "expected"),
    [
        (json.dumps(PATCH), PATCH),
        ('"one line"', "one line"),
        ('"not closed', '"not closed'),  # not a literal: kept as typed
        ("plain text", "plain text"),
        ("[1, 2]", "[1, 2]"),  # freeform input need not be a string literal
    ],
)
def test_freeform_input(rest: str, expected: str) -> None:
    assert call_input(f"/tool apply_patch {rest}") == expected
