"""``GET /v1/responses/{id}/input_items``: a stored turn's input, paged as
OpenAI pages it.

The items are the turn's *effective* input -- every earlier turn it
continued, then its own -- which is what the model was given. Clients send
items in short forms (a bare string, ``{"role", "content": "text"}``, no
ids); the list answers each in the full form of OpenAI's item types: a
``type``, content parts, a ``status``, and an id. An item without an id of
its own gets one derived from the response id and its position, so the
same item has the same id on every read and ``after`` cursors stay valid.
"""

from __future__ import annotations

import hashlib
import urllib.parse
from collections.abc import Mapping, Sequence
from typing import Any

from ..errors import invalid

DEFAULT_LIMIT = 20
MAX_LIMIT = 100
_ID_PREFIX = {"message": "msg", "function_call": "fc", "function_call_output": "fco"}
_HAS_STATUS = frozenset(_ID_PREFIX)


def _parts(role: str, content: Any) -> Any:
    if not isinstance(content, str):
        return content
    if role == "assistant":
        return [{"type": "output_text", "text": content, "annotations": []}]
    return [{"type": "input_text", "text": content}]


def full_item(item: Any, response_id: str, position: int) -> Any:
    """``item`` in its full listed form (anything not an object as it is)."""
    if not isinstance(item, Mapping):
        return item
    full = dict(item)
    kind = full.get("type") or ("message" if "role" in full else "item")
    full["type"] = kind
    if kind == "message":
        full["content"] = _parts(str(full.get("role", "user")), full.get("content"))
    if kind in _HAS_STATUS:
        full.setdefault("status", "completed")
    if not isinstance(full.get("id"), str) or not full["id"]:
        digest = hashlib.sha256(f"{response_id}:{position}".encode()).hexdigest()[:32]
        full["id"] = f"{_ID_PREFIX.get(kind, 'item')}_{digest}"
    return full


def _item_id(item: Any) -> str | None:
    return item.get("id") if isinstance(item, Mapping) else None


def _limit(values: Mapping[str, list[str]]) -> int:
    raw = values.get("limit", [str(DEFAULT_LIMIT)])[-1]
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= MAX_LIMIT:
        raise invalid(f"limit must be an integer from 1 to {MAX_LIMIT}", param="limit")
    return limit


def input_item_page(response_id: str, items: Sequence[Any], query: str) -> dict[str, Any]:
    """One page of the list object for ``query`` (``after``, ``limit``,
    ``order``; ``include`` changes nothing: no item here has more to show)."""
    values = urllib.parse.parse_qs(query, keep_blank_values=True)
    order = values.get("order", ["desc"])[-1]
    if order not in ("asc", "desc"):
        raise invalid("order must be 'asc' or 'desc'", param="order")
    limit = _limit(values)
    listed = [full_item(item, response_id, i) for i, item in enumerate(items)]
    if order == "desc":
        listed.reverse()
    start = 0
    after = values.get("after", [""])[-1]
    if after:
        ids = [_item_id(item) for item in listed]
        if after not in ids:
            raise invalid(f"no input item {after!r} in response {response_id!r}", param="after")
        start = ids.index(after) + 1
    page = listed[start : start + limit]
    return {
        "object": "list",
        "data": page,
        "first_id": _item_id(page[0]) if page else None,
        "last_id": _item_id(page[-1]) if page else None,
        "has_more": start + limit < len(listed),
    }
