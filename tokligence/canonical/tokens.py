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
