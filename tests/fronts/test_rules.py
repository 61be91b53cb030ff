"""The field rules (``fronts/rules.py``) and the dialects' tables of them.

Two halves: each kind of rule refuses what it should with a 400 naming the
field, and lets the rest through; and each table accepts every value the
official SDKs' request types allow (``openai`` and ``anthropic`` as
installed, beta types included): a rule stricter than the API would break
real clients. Upgrading an SDK that learned a new type tag or enum value
fails the second half until the table learns it too.
"""

from __future__ import annotations

import importlib
import re
import typing
from pathlib import Path
from typing import Any

import pytest

from tokligence.errors import GatewayError
from tokligence.fronts import anthropic_rules as anthropic
from tokligence.fronts import openai_rules as openai
from tokligence.fronts.rules import (
    ListOf,
    MapOf,
    ObjectOf,
    OneOf,
    Rule,
    Text,
    check,
    integer,
    number,
    of_type,
    one_of,
)

# ---------------------------------------------------------------- the rules

COLOUR = one_of("red", "green")
TOOL = OneOf(("custom",), what="tool type", also=re.compile("[a-z_]+_[0-9]{8}"))
NAME = Text(max_length=4, pattern=re.compile("[a-z]+"), shape="lower-case letters")
BOX = ObjectOf({"colour": COLOUR, "size": integer(1)}, required=("colour",))
CLOSED = ObjectOf({"user_id": of_type(str)}, closed=True)
TAGS = MapOf(value=Text(max_length=3), key=Text(max_length=2), max_pairs=2)

# (rule, value, the param of the 400, a fragment of its message); param None: passes
CASES: list[tuple[Rule, Any, str | None, str]] = [
    (COLOUR, "red", None, ""),
    (COLOUR, "blue", "f", "must be one of red, green; got 'blue'"),
    (COLOUR, 1, "f", "must be a string, not an integer"),
    (COLOUR, "x" * 100, "f", "x" * 40 + "...'"),  # a long value is cut short
    (TOOL, "custom", None, ""),
    (TOOL, "bash_20991231", None, ""),
    (TOOL, "bash_2099123", "f", "'bash_2099123' is not a known tool type"),
    (number(0, 2), 0, None, ""),
    (number(0, 2), 2.0, None, ""),
    (number(0, 2), 2.01, "f", "must be between 0 and 2, got 2.01"),
    (number(-2, 2), -2.5, "f", "between -2 and 2"),
    (number(0, 2), True, "f", "must be a number, not a boolean"),
    (integer(0, 20), 20, None, ""),
    (integer(0, 20), 1.5, "f", "must be an integer"),
    (integer(1024), 1023, "f", "at least 1024, got 1023"),
    (integer(high=5), 6, "f", "at most 5"),
    (of_type(str, dict), "id", None, ""),
    (of_type(str, dict), {}, None, ""),
    (of_type(str, dict), [], "f", "must be a string or an object, not an array"),
    (of_type(bool), 0, "f", "must be a boolean, not an integer"),
    (NAME, "abcd", None, ""),
    (NAME, "abcde", "f", "longer than 4 characters (5)"),
    (NAME, "a-b", "f", "must be lower-case letters"),
    (ListOf(COLOUR), ["red", "green"], None, ""),
    (ListOf(COLOUR), ["red", "blue"], "f[1]", "'blue'"),
    (ListOf(COLOUR), "red", "f", "must be an array"),
    (BOX, {"colour": "red", "future": 1}, None, ""),  # unknown fields pass
    (BOX, {"colour": "red", "size": None}, None, ""),  # null is "not set"
    (BOX, {"size": 2}, "f.colour", "is required"),
    (BOX, {"colour": "red", "size": 0}, "f.size", "at least 1"),
    (BOX, [], "f", "must be an object"),
    (CLOSED, {"user_id": "u"}, None, ""),
    (
        CLOSED,
        {"user_id": "u", "org": "o"},
        "f.org",
        "'f.org' is not allowed: 'f' takes only user_id",
    ),
    (TAGS, {"a": "xyz", "b": ""}, None, ""),
    (TAGS, {"a": "", "b": "", "c": ""}, "f", "holds 3 pairs; at most 2"),
    (TAGS, {"abc": ""}, "f", "key 'abc' is longer than 2 characters"),
    (TAGS, {"a": "wxyz"}, "f.a", "longer than 3"),
    (TAGS, {"a": 1}, "f.a", "must be a string"),
]


@pytest.mark.parametrize(("rule", "value", "param", "fragment"), CASES)
def test_a_rule_refuses_with_a_400_naming_the_field(
    rule: Rule, value: Any, param: str | None, fragment: str
) -> None:
    if param is None:
        rule(value, "f")
        return
    with pytest.raises(GatewayError) as info:
        rule(value, "f")
    error = info.value
    assert (error.status, error.kind, error.param) == (400, "invalid_request", param)
    assert fragment in error.message


def test_check_applies_a_table_to_the_fields_that_are_set() -> None:
    table = {"colour": COLOUR, "box": BOX}
    check({"colour": "red", "box": None, "unknown": object()}, table)  # null and unknown pass
    with pytest.raises(GatewayError) as info:
        check({"box": {"colour": "blue"}}, table, "item[2]")
    assert info.value.param == "item[2].box.colour"


# ---------------------------------------------------------------- the SDKs agree


def _quoted(annotation: str) -> set[str]:
    """The strings of the Literal[...] parts of an annotation written as text
    (the SDKs use ``from __future__ import annotations``)."""
    literals = re.findall(r"Literal\[([^\]]*)\]", annotation)
    return {value for literal in literals for value in re.findall(r"[\"']([^\"']*)[\"']", literal)}


def _literals(alias: Any) -> set[str]:
    """The strings of a Literal alias (an Optional or Union of them too)."""
    if typing.get_origin(alias) is typing.Literal:
        return {v for v in typing.get_args(alias) if isinstance(v, str)}
    return {v for arg in typing.get_args(alias) for v in _literals(arg)}


def sdk(name: str) -> Any:
    module, _, attribute = name.rpartition(".")
    return getattr(importlib.import_module(module), attribute)


def field(name: str) -> set[str]:
    """The literals a TypedDict field takes: ``module.Class.field``."""
    owner, _, key = name.rpartition(".")
    return _quoted(str(sdk(owner).__annotations__[key]))


def alias(name: str) -> set[str]:
    """The literals of a type alias: ``module.Alias``."""
    return _literals(sdk(name))


def type_tags(name: str) -> set[str]:
    """The ``type`` tags of the TypedDicts in a union: ``module.Union``."""
    tags: set[str] = set()
    for member in typing.get_args(sdk(name)):
        annotations = getattr(member, "__annotations__", {})
        if "type" in annotations:
            tags |= _quoted(str(annotations["type"]))
    return tags


OA = "openai.types"
AN = "anthropic.types"
CHAT_PARAMS = f"{OA}.chat.completion_create_params.CompletionCreateParamsBase"
RESPONSE_PARAMS = f"{OA}.responses.response_create_params.ResponseCreateParamsBase"
MESSAGE_PARAMS = f"{AN}.message_create_params.MessageCreateParamsBase"
BETA_MESSAGE_PARAMS = f"{AN}.beta.message_create_params.MessageCreateParamsBase"


def listed(rule: Rule) -> Rule:
    """A rule for arrays, applied to one value as a one-item array."""
    return lambda value, path: rule([value], path)


def in_object(rule: Rule, key: str) -> Rule:
    """A rule for objects, applied to one value as the object's ``key``."""
    return lambda value, path: rule({key: value}, path)


# (what, our rule, the values the SDK allows)
AGREEMENT: list[tuple[str, Rule, set[str]]] = [
    # ---- Chat Completions
    ("chat service_tier", openai.CHAT_FIELDS["service_tier"], field(f"{CHAT_PARAMS}.service_tier")),
    ("chat verbosity", openai.CHAT_FIELDS["verbosity"], field(f"{CHAT_PARAMS}.verbosity")),
    (
        "chat modalities",
        listed(openai.CHAT_FIELDS["modalities"]),
        field(f"{CHAT_PARAMS}.modalities"),
    ),
    (
        "reasoning effort",
        openai.REASONING_EFFORT,
        alias(f"{OA}.shared_params.reasoning_effort.ReasoningEffort"),
    ),
    (
        "chat image detail",
        openai.IMAGE_DETAIL,
        field(f"{OA}.chat.chat_completion_content_part_image_param.ImageURL.detail"),
    ),
    (
        "chat tool types",
        openai.CHAT_TOOL_TYPE,
        type_tags(f"{OA}.chat.chat_completion_tool_union_param.ChatCompletionToolUnionParam"),
    ),
    # ---- Responses
    (
        "responses include",
        listed(openai.RESPONSES_FIELDS["include"]),
        alias(f"{OA}.responses.response_includable.ResponseIncludable"),
    ),
    ("truncation", openai.RESPONSES_FIELDS["truncation"], field(f"{RESPONSE_PARAMS}.truncation")),
    (
        "responses service_tier",
        openai.RESPONSES_FIELDS["service_tier"],
        alias(f"{OA}.responses.service_tier.ServiceTier"),
    ),
    (
        "text verbosity",
        in_object(openai.RESPONSES_FIELDS["text"], "verbosity"),
        field(f"{OA}.responses.response_text_config_param.ResponseTextConfigParam.verbosity"),
    ),
    (
        "reasoning summary",
        in_object(openai.RESPONSES_FIELDS["reasoning"], "summary"),
        field(f"{OA}.shared_params.reasoning.Reasoning.summary"),
    ),
    (
        "responses image detail",
        openai.IMAGE_DETAIL,
        alias(f"{OA}.responses.image_detail.ImageDetail"),
    ),
    (
        "input item types",
        openai.RESPONSES_ITEM_TYPE,
        type_tags(f"{OA}.responses.response_input_item_param.ResponseInputItemParam"),
    ),
    ("tool types", openai.RESPONSES_TOOL_TYPE, type_tags(f"{OA}.responses.tool_param.ToolParam")),
    (
        "tool_choice types",
        openai.RESPONSES_TOOL_CHOICE_TYPE,
        type_tags(f"{OA}.responses.response_create_params.ToolChoice"),
    ),
    # ---- Messages (and the beta types clients send on the same path)
    (
        "messages service_tier",
        anthropic.MESSAGES_FIELDS["service_tier"],
        field(f"{MESSAGE_PARAMS}.service_tier") | field(f"{BETA_MESSAGE_PARAMS}.service_tier"),
    ),
    (
        "speed",
        anthropic.MESSAGES_FIELDS["speed"],
        field(f"{MESSAGE_PARAMS}.speed") | field(f"{BETA_MESSAGE_PARAMS}.speed"),
    ),
    (
        "effort",
        anthropic.EFFORT,
        field(f"{AN}.output_config_param.OutputConfigParam.effort")
        | field(f"{AN}.beta.beta_output_config_param.BetaOutputConfigParam.effort"),
    ),
    (
        "thinking types",
        in_object(anthropic.THINKING, "type"),
        type_tags(f"{AN}.thinking_config_param.ThinkingConfigParam")
        | type_tags(f"{AN}.beta.beta_thinking_config_param.BetaThinkingConfigParam"),
    ),
    (
        "thinking display",
        lambda value, path: anthropic.THINKING({"type": "adaptive", "display": value}, path),
        field(f"{AN}.thinking_config_adaptive_param.ThinkingConfigAdaptiveParam.display"),
    ),
    (
        "cache_control ttl",
        lambda value, path: anthropic.CACHE_CONTROL({"type": "ephemeral", "ttl": value}, path),
        field(f"{AN}.cache_control_ephemeral_param.CacheControlEphemeralParam.ttl")
        | field(f"{AN}.beta.beta_cache_control_ephemeral_param.BetaCacheControlEphemeralParam.ttl"),
    ),
    (
        "content block types",
        anthropic.BLOCK_TYPE,
        type_tags(f"{AN}.content_block_param.ContentBlockParam")
        | type_tags(f"{AN}.beta.beta_content_block_param.BetaContentBlockParam"),
    ),
    (
        "tool_result content types",
        anthropic.TOOL_RESULT_BLOCK_TYPE,
        type_tags(f"{AN}.tool_result_block_param.Content")
        | type_tags(f"{AN}.beta.beta_tool_result_block_param.Content"),
    ),
    (
        "tool types",
        anthropic.TOOL_TYPE,
        type_tags(f"{AN}.tool_union_param.ToolUnionParam")
        | type_tags(f"{AN}.beta.beta_tool_union_param.BetaToolUnionParam"),
    ),
    (
        "image media types",
        anthropic.IMAGE_MEDIA_TYPE,
        field(f"{AN}.base64_image_source_param.Base64ImageSourceParam.media_type"),
    ),
    (
        "pdf media type",
        anthropic.PDF_MEDIA_TYPE,
        field(f"{AN}.base64_pdf_source_param.Base64PDFSourceParam.media_type"),
    ),
    (
        "text media type",
        anthropic.TEXT_MEDIA_TYPE,
        field(f"{AN}.plain_text_source_param.PlainTextSourceParam.media_type"),
    ),
]


@pytest.mark.parametrize(
    ("rule", "values"), [a[1:] for a in AGREEMENT], ids=[a[0] for a in AGREEMENT]
)
def test_every_value_the_sdk_allows_passes(rule: Rule, values: set[str]) -> None:
    assert values, "the SDK type was not found: the test would check nothing"
    for value in sorted(values):
        rule(value, "f")


def test_messages_metadata_takes_what_the_sdk_types_and_nothing_else() -> None:
    keys = set(sdk(f"{AN}.metadata_param.MetadataParam").__annotations__)
    metadata = anthropic.MESSAGES_FIELDS["metadata"]
    metadata(dict.fromkeys(keys, "x"), "metadata")
    with pytest.raises(GatewayError):
        metadata({"not_a_key_the_sdk_has": "x"}, "metadata")


DOC = Path(__file__).parents[2] / "docs" / "validation.md"


@pytest.mark.parametrize(
    "table",
    [
        openai.CHAT_FIELDS,
        openai.RESPONSES_FIELDS,
        anthropic.MESSAGES_FIELDS,
        anthropic.BLOCK_FIELDS,
    ],
    ids=["chat", "responses", "messages", "blocks"],
)
def test_docs_list_every_field_a_table_checks(table: dict[str, Rule]) -> None:
    text = DOC.read_text()
    assert [key for key in table if f"`{key}`" not in text] == []
