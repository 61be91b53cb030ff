"""Anthropic thinking signatures carried through a Responses client.

Theory of operation
-------------------
Claude's extended thinking must be replayed with its signature, byte for
byte, when a tool-use turn continues; without it the gateway has to switch
thinking off for the rest of the turn. A Responses client (Codex) keeps
reasoning items and sends them back verbatim -- including
``encrypted_content``, the field OpenAI uses for exactly this purpose. So a
signed Anthropic thinking block leaves as a ``reasoning`` item whose
``encrypted_content`` is the signature behind :data:`PREFIX`, and comes back
in as an Anthropic :class:`~tokligence.canonical.ReasoningPart` with that
signature. OpenAI's own encrypted content is base64 and never contains the
prefix's colons, so the two cannot be confused.

Such an item means nothing to OpenAI (it would reject the content), so
:func:`without_carried` removes them from a body that passes through to an
OpenAI Responses upstream -- a session that moved from Claude to GPT. With
``store: false`` it also removes reasoning items with no
``encrypted_content`` at all (another model's thinking, loopback's): OpenAI
would look them up by id and answer 404, "Items are not persisted when
``store`` is set to false".
"""

from __future__ import annotations

from typing import Any

PREFIX = "tokligence:anthropic:"


def carry(signature: str) -> str:
    return PREFIX + signature


def carried(encrypted: str | None) -> str | None:
    """The Anthropic signature inside ``encrypted``, or None."""
    if encrypted is None or not encrypted.startswith(PREFIX):
        return None
    return encrypted[len(PREFIX) :]


def _foreign(item: Any, unstored: bool) -> bool:
    if not isinstance(item, dict) or item.get("type") != "reasoning":
        return False
    encrypted = item.get("encrypted_content")
    if isinstance(encrypted, str):
        return encrypted.startswith(PREFIX)
    return unstored


def without_carried(obj: dict[str, Any]) -> dict[str, Any] | None:
    """``obj`` without the reasoning items OpenAI cannot take (see above);
    None when it has none (the body can then go out as the client sent it)."""
    items = obj.get("input")
    unstored = obj.get("store") is False
    if not isinstance(items, list) or not any(_foreign(item, unstored) for item in items):
        return None
    return {**obj, "input": [item for item in items if not _foreign(item, unstored)]}
