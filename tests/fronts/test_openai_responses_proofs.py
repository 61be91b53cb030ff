"""Claude's thinking signatures carried in ``encrypted_content`` through a
Responses client, and kept away from OpenAI."""

from __future__ import annotations

import json
from typing import Any

from tokligence.canonical import ReasoningPart
from tokligence.fronts.openai_responses import OpenAIResponsesFront
from tokligence.fronts.openai_responses_proofs import carried, carry, without_carried

FRONT = OpenAIResponsesFront()
CARRIED = {
    "type": "reasoning",
    "id": "rs_x_0",
    "summary": [],
    "content": [{"type": "reasoning_text", "text": "Think."}],
    "encrypted_content": carry("EqQB/sig=="),
}
OPENAIS = {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "gAAAAB-x"}
USER = {"role": "user", "content": "hi"}


def reasoning_of(item: dict[str, Any]) -> ReasoningPart:
    body = {"model": "m", "input": [USER, item]}
    (part,) = FRONT.parse_request(json.dumps(body).encode()).messages[-1].parts
    assert isinstance(part, ReasoningPart)
    return part


def test_a_carried_signature_comes_back_as_claudes_thinking() -> None:
    assert reasoning_of(CARRIED) == ReasoningPart(
        text="Think.", signature="EqQB/sig==", vendor="anthropic"
    )


def test_openais_own_encrypted_content_stays_openais() -> None:
    part = reasoning_of(OPENAIS)
    assert (part.vendor, part.encrypted_content, part.signature) == ("openai", "gAAAAB-x", None)


def test_carry_round_trips_and_ignores_anything_else() -> None:
    assert carried(carry("abc")) == "abc"
    assert carried("gAAAAB-x") is None and carried(None) is None


def test_only_carrying_items_are_removed_for_openai() -> None:
    body = {"model": "m", "input": [USER, CARRIED, OPENAIS]}
    assert without_carried(body) == {"model": "m", "input": [USER, OPENAIS]}
    assert without_carried({"model": "m", "input": [USER, OPENAIS]}) is None
    assert without_carried({"model": "m", "input": "hi"}) is None


def test_unencrypted_reasoning_is_removed_only_when_openai_stores_nothing() -> None:
    bare = {"type": "reasoning", "id": "rs_lb_0", "summary": [], "content": []}
    unstored = {"model": "m", "store": False, "input": [USER, bare, OPENAIS]}
    assert without_carried(unstored) == {**unstored, "input": [USER, OPENAIS]}
    # With store on, OpenAI may hold the item by its id: leave it.
    assert without_carried({"model": "m", "input": [USER, bare]}) is None
