"""What the OpenAI dialects accept: Chat Completions and Responses, as tables.

The values come from the official ``openai`` SDK's request types
(``openai/types/chat/completion_create_params.py``,
``openai/types/responses/response_create_params.py`` and the param types
they name); the limits from their docstrings. The real API enforces them,
so a request the gateway translates or answers itself is held to them too.
Sets of type tags are the SDK's, for the same reason; a newer tag the SDK
does not know yet is refused until this table learns it (docs/validation.md
says why).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from .rules import (
    ListOf,
    MapOf,
    ObjectOf,
    OneOf,
    Rule,
    Text,
    integer,
    number,
    of_type,
    one_of,
)

# ---------------------------------------------------------------- shared

REASONING_EFFORT = one_of("none", "minimal", "low", "medium", "high", "xhigh", "max")
IMAGE_DETAIL = one_of("auto", "low", "high", "original")
VERBOSITY = one_of("low", "medium", "high")
# "Set of 16 key-value pairs ... keys are strings with a maximum length of
# 64 characters. Values are strings with a maximum length of 512 characters."
METADATA = MapOf(value=Text(max_length=512), key=Text(max_length=64), max_pairs=16)
TEMPERATURE = number(0, 2)
TOP_P = number(0, 1)
TOP_LOGPROBS = integer(0, 20)

# ---------------------------------------------------------------- Chat Completions

CHAT_FIELDS: Mapping[str, Rule] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "presence_penalty": number(-2, 2),
    "frequency_penalty": number(-2, 2),
    # Token ids (as JSON keys, so strings of digits) to a bias from -100 to 100.
    "logit_bias": MapOf(
        value=integer(-100, 100), key=Text(pattern=re.compile("[0-9]+"), shape="a token id")
    ),
    "logprobs": of_type(bool),
    "top_logprobs": TOP_LOGPROBS,
    "modalities": ListOf(one_of("text", "audio")),
    "service_tier": one_of("auto", "default", "flex", "scale", "priority", "fast"),
    "prediction": of_type(dict),
    "audio": of_type(dict),
    "verbosity": VERBOSITY,
    "web_search_options": of_type(dict),
    "safety_identifier": of_type(str),
    "prompt_cache_key": of_type(str),
    "reasoning_effort": REASONING_EFFORT,
    "metadata": METADATA,
    "stream_options": ObjectOf(
        {"include_usage": of_type(bool), "include_obfuscation": of_type(bool)}
    ),
}
CHAT_TOOL_TYPE = one_of("function", "custom")
# "Must be a-z, A-Z, 0-9, or contain underscores and dashes, with a maximum
# length of 64."
CHAT_FUNCTION_NAME = Text(
    pattern=re.compile("[a-zA-Z0-9_-]{1,64}"),
    shape="1 to 64 characters of a-z, A-Z, 0-9, _ and -",
)

# ---------------------------------------------------------------- Responses

_SUMMARY = one_of("auto", "concise", "detailed")

RESPONSES_FIELDS: Mapping[str, Rule] = {
    "temperature": TEMPERATURE,
    "top_p": TOP_P,
    "include": ListOf(
        one_of(
            "file_search_call.results",
            "web_search_call.results",
            "web_search_call.action.sources",
            "message.input_image.image_url",
            "computer_call_output.output.image_url",
            "code_interpreter_call.outputs",
            "reasoning.encrypted_content",
            "message.output_text.logprobs",
        )
    ),
    "truncation": one_of("auto", "disabled"),
    "service_tier": one_of("auto", "default", "flex", "scale", "priority", "fast", "ultrafast"),
    "top_logprobs": TOP_LOGPROBS,
    "max_tool_calls": integer(0),
    "background": of_type(bool),
    "previous_response_id": of_type(str),
    "prompt_cache_key": of_type(str),
    "safety_identifier": of_type(str),
    "conversation": of_type(str, dict),  # an id, or {"id": ...}
    "prompt": of_type(dict),
    "stream_options": ObjectOf({"include_obfuscation": of_type(bool)}),
    "text": ObjectOf({"verbosity": VERBOSITY}),  # its format is read by the parser
    "reasoning": ObjectOf(
        {"effort": REASONING_EFFORT, "summary": _SUMMARY, "generate_summary": _SUMMARY}
    ),
    "metadata": METADATA,
}

# The item types of ResponseInputItemParam; an item with a role and no type
# is a message.
RESPONSES_ITEM_TYPE = OneOf(
    (
        "message",
        "function_call",
        "function_call_output",
        "custom_tool_call",
        "custom_tool_call_output",
        "reasoning",
        "item_reference",
        "file_search_call",
        "web_search_call",
        "computer_call",
        "computer_call_output",
        "tool_search_call",
        "tool_search_output",
        "additional_tools",
        "configuration_update",
        "compaction",
        "compaction_trigger",
        "image_generation_call",
        "code_interpreter_call",
        "local_shell_call",
        "local_shell_call_output",
        "shell_call",
        "shell_call_output",
        "apply_patch_call",
        "apply_patch_call_output",
        "mcp_list_tools",
        "mcp_approval_request",
        "mcp_approval_response",
        "mcp_call",
        "program",
        "program_output",
    ),
    what="input item type",
)

# OpenAI dates a new version of a hosted tool with a suffix
# (web_search_preview_2025_03_11): a newer one passes before the SDK knows it.
_DATED_OPENAI_TOOL = re.compile("[a-z][a-z_]*_[0-9]{4}_[0-9]{2}_[0-9]{2}")

RESPONSES_TOOL_TYPE = OneOf(
    (
        "function",
        "custom",
        "namespace",
        "file_search",
        "computer",
        "computer_use_preview",
        "web_search",
        "web_search_preview",
        "mcp",
        "code_interpreter",
        "programmatic_tool_calling",
        "image_generation",
        "local_shell",
        "shell",
        "tool_search",
        "apply_patch",
    ),
    what="tool type",
    also=_DATED_OPENAI_TOOL,
)
RESPONSES_TOOL_CHOICE_TYPE = OneOf(
    (
        "function",
        "custom",
        "allowed_tools",
        "mcp",
        "file_search",
        "web_search_preview",
        "computer",
        "computer_use_preview",
        "computer_use",
        "image_generation",
        "code_interpreter",
        "programmatic_tool_calling",
        "apply_patch",
        "shell",
    ),
    what="tool_choice type",
    also=_DATED_OPENAI_TOOL,
)
