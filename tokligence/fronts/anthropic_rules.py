"""What the Anthropic Messages dialect accepts (``/v1/messages`` and
``count_tokens``), as tables.

The values come from the official ``anthropic`` SDK's request types
(``anthropic/types/message_create_params.py`` and the param types it
names), and from its ``beta`` types as well: Claude Code and other clients
send beta features (``anthropic-beta``) on the same path, and the front does
not see the headers, so what either accepts passes. The real API enforces
these rules, so a request the gateway translates or answers itself is held
to them too.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .rules import ObjectOf, OneOf, Rule, integer, number, of_type, one_of

# {"type": "ephemeral", "ttl": "5m" | "1h"}: on the top level, every content
# block, system block and tool.
CACHE_CONTROL = ObjectOf(
    {"type": one_of("ephemeral"), "ttl": one_of("5m", "1h")}, required=("type",)
)
BLOCK_FIELDS: Mapping[str, Rule] = {"cache_control": CACHE_CONTROL}

EFFORT = one_of("low", "medium", "high", "xhigh", "max")
# "budget_tokens: Must be >=1024 and less than max_tokens". The second half
# depends on the request's headers (the interleaved-thinking beta, which
# Claude Code sends, lets the budget exceed max_tokens), so it is checked
# where they are known: call/prepare.py, _refuse_budget_past_max_tokens.
THINKING_BUDGET = integer(1024)
THINKING = ObjectOf(
    {
        "type": one_of("enabled", "disabled", "adaptive", "between_tools"),
        "budget_tokens": THINKING_BUDGET,
        "display": one_of("summarized", "omitted"),
    },
    required=("type",),
)

MAX_TOKENS = integer(1)

MESSAGES_FIELDS: Mapping[str, Rule] = {
    "temperature": number(0, 1),
    "top_p": number(0, 1),
    "top_k": integer(0),
    # The API's metadata takes user_id and nothing else; any string goes there
    # (Claude Code puts a JSON document of session ids in it).
    "metadata": ObjectOf({"user_id": of_type(str)}, closed=True),
    "thinking": THINKING,
    "output_config": ObjectOf(
        {
            "effort": EFFORT,
            "format": ObjectOf({"type": one_of("json_schema")}, required=("type",)),
        }
    ),
    "service_tier": one_of("auto", "standard_only"),
    "container": of_type(str, dict),  # an id, or {"id", "skills"}
    "speed": one_of("standard", "fast"),
    "inference_geo": of_type(str),
    "cache_control": CACHE_CONTROL,
}

# Content blocks of a message (ContentBlockParam and BetaContentBlockParam).
BLOCK_TYPE = OneOf(
    (
        "text",
        "image",
        "document",
        "search_result",
        "thinking",
        "redacted_thinking",
        "tool_use",
        "tool_result",
        "server_tool_use",
        "web_search_tool_result",
        "web_fetch_tool_result",
        "advisor_tool_result",
        "code_execution_tool_result",
        "bash_code_execution_tool_result",
        "text_editor_code_execution_tool_result",
        "tool_search_tool_result",
        "mcp_tool_use",
        "mcp_tool_result",
        "container_upload",
        "compaction",
        "tool_addition",
        "tool_removal",
        "mcp_tool_listing",
        "fallback",
    ),
    what="content block type",
)
# The blocks a tool_result's content may hold.
TOOL_RESULT_BLOCK_TYPE = OneOf(
    ("text", "image", "document", "search_result", "tool_reference", "browser_state"),
    what="tool_result content block type",
)

# Server and client tools are versioned by date (web_search_20250305,
# bash_20250124, text_editor_20250728, computer_20250124,
# code_execution_20250825, memory_20250818, web_fetch_20250910,
# tool_search_tool_regex_20251119 ...): every dated name passes, so that a
# tool version released after the SDK does not break the gateway. The
# undated names are listed.
TOOL_TYPE = OneOf(
    ("custom", "tool_search_tool_bm25", "tool_search_tool_regex", "mcp_toolset"),
    what="tool type",
    also=re.compile("[a-z][a-z0-9_]*_[0-9]{8}"),
)

IMAGE_MEDIA_TYPE = one_of("image/jpeg", "image/png", "image/gif", "image/webp")
PDF_MEDIA_TYPE = one_of("application/pdf")
TEXT_MEDIA_TYPE = one_of("text/plain")
