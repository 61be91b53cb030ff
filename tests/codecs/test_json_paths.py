"""Dotted paths into decoded JSON (wire/json_body.path_where), which the
errors for refused numbers and lone surrogates name in ``param``."""

from __future__ import annotations

from tokligence.wire.json_body import path_where
from tokligence.wire.text import lone_surrogate_at

BODY = {
    "model": "m",
    "messages": [{"role": "user", "content": [{"type": "text", "text": "x"}]}],
    "metadata": {"bad\ud800key": "v"},
}


def test_the_path_of_an_item_in_objects_and_lists() -> None:
    target = BODY["messages"][0]["content"][0]  # type: ignore[index]
    assert path_where(BODY, lambda item: item is target) == "messages[0].content[0]"
    assert path_where(BODY, lambda item: item == "x") == "messages[0].content[0].text"
    assert path_where(BODY, lambda item: item == "absent") is None


def test_a_key_is_named_by_its_object() -> None:
    assert path_where(BODY, lambda item: item == "bad\ud800key") == "metadata"
    assert path_where({"k\ud800": 1}, lambda item: item == "k\ud800") == ""


def test_lone_surrogates_are_looked_for_only_when_the_bytes_hold_one() -> None:
    assert lone_surrogate_at(b'{"metadata": {"bad\\ud800key": "v"}}', BODY) == "metadata"
    assert lone_surrogate_at(b"{}", BODY) is None  # no escape in the bytes: no walk
