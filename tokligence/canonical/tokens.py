"""Local token estimates, for upstreams without a counter and for loopback.

The estimate errs high on purpose: an agent that under-counts its context
never compacts and then fails with "prompt is too long", while one that
over-counts merely compacts a little early. Real tokenizers give roughly 4
bytes per token for English and code; we count 3, plus a few tokens of
framing per message and per tool.
"""

from __future__ import annotations

import json
import math

from ..wire.text import utf8
from .request import (
    CustomTool,
    DocumentPart,
    FunctionTool,
    ImagePart,
    Part,
    ReasoningPart,
    RedactedReasoningPart,
    Request,
    TextPart,
    ToolCallPart,
    ToolResultPart,
)

BYTES_PER_TOKEN = 3
MESSAGE_OVERHEAD = 4  # role markers and separators per message
TOOL_OVERHEAD = 8  # per declared tool, beyond its JSON
IMAGE_TOKENS = 1600  # a large image costs about this much in either vendor


def text_tokens(text: str) -> int:
    if not text:
        return 0
    return math.ceil(len(utf8(text)) / BYTES_PER_TOKEN)


def _part_tokens(part: Part) -> int:
    if isinstance(part, TextPart):
        return text_tokens(part.text)
    if isinstance(part, ImagePart):
        return IMAGE_TOKENS
    if isinstance(part, DocumentPart):
        return text_tokens(part.data) if part.source_type == "text" else IMAGE_TOKENS
    if isinstance(part, ToolCallPart):
        return text_tokens(part.name) + text_tokens(part.arguments) + MESSAGE_OVERHEAD
    if isinstance(part, ToolResultPart):
        return sum(_part_tokens(p) for p in part.content) + MESSAGE_OVERHEAD
    if isinstance(part, ReasoningPart):
        return text_tokens(part.text) + sum(text_tokens(s) for s in part.summary)
    if isinstance(part, RedactedReasoningPart):
        return text_tokens(part.data)
    return 0


def request_tokens(request: Request) -> int:
    """Estimated input tokens of a whole request."""
    total = sum(text_tokens(p.text) for p in request.system)
    for message in request.messages:
        total += MESSAGE_OVERHEAD + sum(_part_tokens(p) for p in message.parts)
    for tool in request.tools:
        if isinstance(tool, FunctionTool):
            schema = json.dumps(tool.parameters or {}, separators=(",", ":"))
            total += (
                TOOL_OVERHEAD
                + text_tokens(tool.name)
                + text_tokens(tool.description or "")
                + text_tokens(schema)
            )
        elif isinstance(tool, CustomTool):
            total += TOOL_OVERHEAD + text_tokens(tool.name) + text_tokens(tool.description or "")
        else:
            total += TOOL_OVERHEAD + text_tokens(json.dumps(dict(tool.spec)))
    return max(total, 1)


# ------------------------------------------------- a JSON value, unparsed

# String values that name or label rather than say anything the model reads
# as text: not counted when a JSON body is counted as it came.
LABEL_KEYS = frozenset(
    {
        "model",
        "role",
        "type",
        "id",
        "call_id",
        "tool_call_id",
        "tool_use_id",
        "object",
        "status",
        "finish_reason",
        "stop_reason",
        "signature",
        "encrypted_content",
        "media_type",
        "detail",
        "previous_response_id",
        "tool_choice",
        "service_tier",
        "user",
        "prompt_cache_key",
        "safety_identifier",
        "truncation",
    }
)
# Objects the model reads as JSON text (tool schemas, a call's arguments).
JSON_TEXT_KEYS = frozenset({"parameters", "input_schema", "schema", "input", "arguments"})
# Lists whose items are messages, and lists of declared tools.
MESSAGE_LIST_KEYS = frozenset({"messages", "input"})
IMAGE_KEYS = frozenset({"url", "image_url", "file_data"})


def json_tokens(value: object) -> int:
    """Estimated tokens of a JSON value as the client or upstream sent it,
    by the rules of :func:`request_tokens` without parsing it into canonical
    form: the bytes of its text-bearing strings (labels such as ``role`` and
    ``model`` left out), tool schemas and call arguments as compact JSON, a
    message's and a tool's framing, an inline image or file as
    :data:`IMAGE_TOKENS`."""
    size = _Size()
    size.walk(value, "")
    return math.ceil(size.text_bytes / BYTES_PER_TOKEN) + size.extra


class _Size:
    __slots__ = ("extra", "text_bytes")

    def __init__(self) -> None:
        self.text_bytes = 0
        self.extra = 0  # framing and images, already in tokens

    def walk(self, value: object, key: str) -> None:
        if isinstance(value, str):
            self.string(value, key)
        elif isinstance(value, dict):
            if key in JSON_TEXT_KEYS:
                self.text_bytes += len(utf8(json.dumps(value, separators=(",", ":"))))
                return
            binary = value.get("type") == "base64"  # an Anthropic image or PDF source
            for name, item in value.items():
                if binary and name == "data":
                    self.extra += IMAGE_TOKENS
                else:
                    self.walk(item, name)
        elif isinstance(value, list):
            if key in MESSAGE_LIST_KEYS:
                self.extra += MESSAGE_OVERHEAD * len(value)
            elif key == "tools":
                self.extra += TOOL_OVERHEAD * len(value)
            for item in value:
                self.walk(item, "")

    def string(self, text: str, key: str) -> None:
        if key in LABEL_KEYS:
            return
        if key in IMAGE_KEYS or text.startswith("data:"):
            self.extra += IMAGE_TOKENS
            return
        self.text_bytes += len(text) if text.isascii() else len(utf8(text))
