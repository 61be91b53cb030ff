"""OpenAI Responses request body -> canonical :class:`Request`.

The conversation (``input``) is walked in ``openai_responses_input``; this
module reads the top level: instructions, tools, tool choice, sampling,
limits, reasoning and text format. Every top-level field without a typed
canonical home is carried verbatim in ``Request.extra`` (``include``,
``prompt_cache_key``, ``previous_response_id``, ``truncation``,
``service_tier`` ...); ``text`` is modelled *and* carried whole, so
``text.verbosity`` survives a same-dialect round trip. The fields the API
types, carried ones too, are checked against its rules first
(``openai_rules.RESPONSES_FIELDS``); a field nobody knows yet passes.

``input`` may be left out only when the conversation comes from elsewhere:
``previous_response_id``, ``conversation`` or a stored ``prompt``.
"""

from __future__ import annotations

from typing import Any, Literal

from ..canonical import (
    CustomTool,
    Dialect,
    FunctionTool,
    HostedTool,
    ReasoningConfig,
    Request,
    ResponseFormat,
    TextPart,
    Tool,
    ToolChoice,
)
from ..errors import invalid
from ..wire.json_body import as_object, load_object, opt, positive_int, req, rest
from .openai_responses_input import list_at, parse_input
from .openai_responses_tools import flatten
from .openai_rules import RESPONSES_FIELDS, RESPONSES_TOOL_CHOICE_TYPE, RESPONSES_TOOL_TYPE
from .rules import check, quote

DIALECT: Dialect = "openai_responses"

# Top-level fields given a typed canonical home. ``text`` is modelled
# (``response_format``) *and* carried whole in ``extra`` so ``verbosity`` and
# any future sibling survive a same-dialect round trip.
_MODELLED = frozenset(
    {
        "model",
        "input",
        "instructions",
        "tools",
        "tool_choice",
        "parallel_tool_calls",
        "max_output_tokens",
        "temperature",
        "top_p",
        "reasoning",
        "stream",
        "store",
        "metadata",
        "user",
    }
)

_TOOL_CHOICE_MODES: tuple[Literal["auto", "none", "required"], ...] = ("auto", "none", "required")
# Where a conversation comes from when the body has no ``input``.
_INPUT_ELSEWHERE = ("previous_response_id", "conversation", "prompt")


def parse_request(body: bytes) -> Request:
    return parse_object(load_object(body))


def parse_object(obj: dict[str, Any]) -> Request:
    """Like :func:`parse_request`, for a body already decoded (routing reads
    the model first, so the JSON is not parsed twice)."""
    model = req(obj, "model", str)
    extra: dict[str, Any] = rest(obj, _MODELLED)
    check(obj, RESPONSES_FIELDS)
    if obj.get("input") is None and all(obj.get(key) is None for key in _INPUT_ELSEWHERE):
        raise invalid(
            "'input' is required unless previous_response_id, conversation or prompt "
            "supplies the conversation",
            param="input",
        )
    reasoning = _reasoning(opt(obj, "reasoning", dict))
    text = opt(obj, "text", dict)
    instructions = opt(obj, "instructions", str)
    return Request(
        model=model,
        dialect=DIALECT,
        messages=parse_input(obj.get("input")),
        system=(TextPart(text=instructions),) if instructions is not None else (),
        tools=_tools(list_at(obj, "tools")),
        tool_choice=_tool_choice(obj.get("tool_choice"), extra),
        parallel_tool_calls=opt(obj, "parallel_tool_calls", bool),
        max_tokens=positive_int(obj, "max_output_tokens"),
        temperature=opt(obj, "temperature", float),
        top_p=opt(obj, "top_p", float),
        stream=bool(opt(obj, "stream", bool)),
        # Responses always reports usage, streaming or not.
        include_usage=True,
        reasoning=reasoning,
        response_format=_text_format(text),
        user=opt(obj, "user", str),
        metadata=opt(obj, "metadata", dict),
        store=opt(obj, "store", bool),
        extra=extra,
    )


# ----------------------------------------------------------------- settings


def _reasoning(obj: dict[str, Any] | None) -> ReasoningConfig | None:
    if obj is None:
        return None
    return ReasoningConfig(
        effort=opt(obj, "effort", str, "reasoning"),
        summary=opt(obj, "summary", str, "reasoning"),
        extra=rest(obj, frozenset({"effort", "summary"})),
    )


def _text_format(text: dict[str, Any] | None) -> ResponseFormat | None:
    if text is None:
        return None
    fmt = opt(text, "format", dict, "text")
    if fmt is None:
        return None
    kind = req(fmt, "type", str, "text.format")
    if kind == "text":
        return ResponseFormat(kind="text")
    if kind == "json_object":
        return ResponseFormat(kind="json_object")
    if kind == "json_schema":
        return ResponseFormat(
            kind="json_schema",
            name=req(fmt, "name", str, "text.format"),
            schema=req(fmt, "schema", dict, "text.format"),
            strict=opt(fmt, "strict", bool, "text.format"),
            description=opt(fmt, "description", str, "text.format"),
        )
    raise invalid(
        f"'text.format.type' must be text, json_object or json_schema, not {quote(kind)}",
        param="text.format.type",
    )


def _tools(raw: list[Any]) -> tuple[Tool, ...]:
    out: list[Tool] = []
    for i, entry in enumerate(raw):
        path = f"tools[{i}]"
        tool = as_object(entry, path)
        if tool.get("type") == "namespace":
            # Only OpenAI knows namespaces: members become flat tools (and
            # are re-nested in the output, see openai_responses_tools).
            out.extend(flatten(tool, path, _tool))
        else:
            out.append(_tool(tool, path))
    return tuple(out)


def _tool(raw: Any, path: str) -> Tool:
    tool = as_object(raw, path)
    kind = req(tool, "type", str, path)
    if kind == "function":
        return FunctionTool(
            name=req(tool, "name", str, path),
            description=opt(tool, "description", str, path),
            parameters=opt(tool, "parameters", dict, path),
            strict=opt(tool, "strict", bool, path),
            extra=rest(tool, frozenset({"type", "name", "description", "parameters", "strict"})),
        )
    if kind == "custom":
        return CustomTool(
            name=req(tool, "name", str, path),
            description=opt(tool, "description", str, path),
            format=opt(tool, "format", dict, path),
            extra=rest(tool, frozenset({"type", "name", "description", "format"})),
        )
    # web_search, file_search, mcp, local_shell, tool_search ...: run by the
    # provider (or by the client in a shape only OpenAI models know), so only
    # a Responses upstream can use them; other codecs drop them with a note.
    RESPONSES_TOOL_TYPE(kind, f"{path}.type")
    return HostedTool(type=kind, spec=tool, dialect=DIALECT)


def _tool_choice(value: Any, extra: dict[str, Any]) -> ToolChoice | None:
    if value is None:
        return None
    if isinstance(value, str):
        for mode in _TOOL_CHOICE_MODES:
            if value == mode:
                return ToolChoice(mode=mode)
        raise invalid(
            f"'tool_choice' must be auto, none, required or an object, not {quote(value)}",
            param="tool_choice",
        )
    if not isinstance(value, dict):
        raise invalid("'tool_choice' must be a string or an object", param="tool_choice")
    kind = req(value, "type", str, "tool_choice")
    if kind in ("function", "custom"):
        # Function and custom names share one namespace; the tool list tells
        # a Responses upstream which of the two to write back.
        return ToolChoice(mode="tool", name=req(value, "name", str, "tool_choice"))
    RESPONSES_TOOL_CHOICE_TYPE(kind, "tool_choice.type")
    extra["tool_choice"] = value  # allowed_tools, hosted tool types, mcp ...
    return None
