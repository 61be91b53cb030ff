"""The guard's note written into a client's own JSON body, for passthrough
(pure).

A passthrough call relays the client's bytes, so the canonical request the
guard judged cannot carry the note upstream. These functions put the same
text in the same place (the last tool result of the conversation) in each
dialect's wire shape, leaving every other byte's meaning alone: a string
result gets the note appended after a blank line, a list of content parts
gets one more text part. A body whose shape is unexpected is returned
unchanged (the guard is a help, not a validator).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

JsonDict = dict[str, Any]


def _append(content: Any, text: str, part_type: str) -> Any:
    if isinstance(content, str):
        return f"{content}\n\n{text}" if content else text
    if isinstance(content, list):
        return [*content, {"type": part_type, "text": text}]
    if content is None:
        return text
    return content


def _anthropic(obj: JsonDict, text: str) -> JsonDict:
    messages = obj.get("messages")
    if not isinstance(messages, list) or not messages:
        return obj
    last = messages[-1]
    if not isinstance(last, dict) or last.get("role") != "user":
        return obj
    blocks = last.get("content")
    if not isinstance(blocks, list):
        return obj
    for index in range(len(blocks) - 1, -1, -1):
        block = blocks[index]
        if isinstance(block, dict) and block.get("type") == "tool_result":
            out = copy.copy(obj)
            out["messages"] = [*messages[:-1], {**last, "content": list(blocks)}]
            new_block = {**block, "content": _append(block.get("content"), text, "text")}
            out["messages"][-1]["content"][index] = new_block
            return out
    return obj


def _chat(obj: JsonDict, text: str) -> JsonDict:
    messages = obj.get("messages")
    if not isinstance(messages, list):
        return obj
    for index in range(len(messages) - 1, -1, -1):
        message = messages[index]
        if not isinstance(message, dict) or message.get("role") == "assistant":
            return obj
        if message.get("role") == "tool":
            out = copy.copy(obj)
            out["messages"] = list(messages)
            out["messages"][index] = {
                **message,
                "content": _append(message.get("content"), text, "text"),
            }
            return out
    return obj


_OUTPUT_ITEMS = ("function_call_output", "custom_tool_call_output")
_CALL_ITEMS = ("function_call", "custom_tool_call")


def _responses(obj: JsonDict, text: str) -> JsonDict:
    items = obj.get("input")
    if not isinstance(items, list):
        return obj
    for index in range(len(items) - 1, -1, -1):
        item = items[index]
        if not isinstance(item, dict):
            return obj
        kind = item.get("type")
        if kind in _CALL_ITEMS or item.get("role") == "assistant":
            return obj
        if kind in _OUTPUT_ITEMS:
            out = copy.copy(obj)
            out["input"] = list(items)
            out["input"][index] = {
                **item,
                "output": _append(item.get("output"), text, "input_text"),
            }
            return out
    return obj


_BY_DIALECT: dict[str, Callable[[JsonDict, str], JsonDict]] = {
    "anthropic_messages": _anthropic,
    "openai_chat": _chat,
    "openai_responses": _responses,
}


def with_wire_note(dialect: str, obj: JsonDict, text: str) -> JsonDict:
    """``obj`` (never mutated) with ``text`` appended to its last tool result."""
    inject = _BY_DIALECT.get(dialect)
    return inject(obj, text) if inject is not None else obj
