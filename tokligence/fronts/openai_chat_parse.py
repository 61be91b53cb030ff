"""Parse an OpenAI Chat Completions request body into the canonical Request.

Theory of operation
-------------------
One pass over the JSON object, field by field. Fields the canonical model has
a home for are validated (a wrong type, a missing required field, an unknown
role or content-part type is a 400 naming the dotted path, e.g.
``messages[1].content[0].type``) and converted; every other top-level field is
carried verbatim in ``Request.extra`` so an OpenAI upstream can write it back.
The fields the API types are checked against its rules first, carried ones
too (``openai_rules.CHAT_FIELDS``: ranges, enums, types, metadata limits);
a field nobody knows yet passes.
Per-item fields we do not model (``prompt_cache_breakpoint`` on a part, an
assistant ``refusal`` or ``audio``) ride in the part's or message's ``extra``.

Normalisations worth knowing (message-level ones are in openai_chat_messages):

* ``max_completion_tokens`` wins over the deprecated ``max_tokens``.
* The legacy ``functions`` / ``function_call`` become tools / tool choice.
* ``n`` other than 1 is refused: the gateway renders exactly one choice.
"""

from __future__ import annotations

from typing import Any, Final

from ..canonical import (
    CustomTool,
    FunctionTool,
    ReasoningConfig,
    Request,
    ResponseFormat,
    Tool,
    ToolChoice,
)
from ..errors import invalid
from ..wire.json_body import (
    as_list,
    as_object,
    load_object,
    opt,
    positive_int,
    req,
    rest,
    string_list,
)
from .openai_chat_messages import parse_messages
from .openai_rules import CHAT_FIELDS, CHAT_FUNCTION_NAME, CHAT_TOOL_TYPE
from .rules import check

DIALECT: Final = "openai_chat"

# OpenAI's documented limit; its API rejects a longer list, so we do too rather
# than let one upstream accept what another refuses.
MAX_STOP_SEQUENCES = 4

_TOP_LEVEL = frozenset(
    {
        "model", "messages", "tools", "functions", "tool_choice", "function_call",
        "parallel_tool_calls", "response_format", "stop", "max_tokens",
        "max_completion_tokens", "temperature", "top_p", "seed", "stream",
        "stream_options", "reasoning_effort", "user", "metadata", "store", "n",
    }
)  # fmt: skip


def parse_request(body: bytes) -> Request:
    return parse_object(load_object(body))


def parse_object(obj: dict[str, Any]) -> Request:
    """Like :func:`parse_request`, for a body already decoded (routing reads
    the model first, so the JSON is not parsed twice)."""
    model = req(obj, "model", str)
    if not model:
        raise invalid("'model' must not be empty", param="model")
    messages = parse_messages(obj)
    _check_n(obj)
    check(obj, CHAT_FIELDS)

    stop = string_list(obj.get("stop"), "stop")
    if len(stop) > MAX_STOP_SEQUENCES:
        raise invalid(
            f"'stop' allows at most {MAX_STOP_SEQUENCES} sequences, got {len(stop)}", param="stop"
        )
    max_tokens = positive_int(obj, "max_tokens")
    max_completion_tokens = positive_int(obj, "max_completion_tokens")

    extra = rest(obj, _TOP_LEVEL)
    include_usage = False
    stream_options = opt(obj, "stream_options", dict)
    if stream_options is not None:
        include_usage = bool(opt(stream_options, "include_usage", bool, "stream_options"))
        other_options = rest(stream_options, frozenset({"include_usage"}))
        if other_options:
            extra["stream_options"] = other_options

    tool_choice = _tool_choice(obj, extra)
    effort = opt(obj, "reasoning_effort", str)
    return Request(
        model=model,
        dialect=DIALECT,
        messages=messages,
        tools=_tools(obj),
        tool_choice=tool_choice,
        parallel_tool_calls=opt(obj, "parallel_tool_calls", bool),
        max_tokens=max_completion_tokens if max_completion_tokens is not None else max_tokens,
        temperature=opt(obj, "temperature", float),
        top_p=opt(obj, "top_p", float),
        stop=stop,
        seed=opt(obj, "seed", int),
        stream=bool(opt(obj, "stream", bool)),
        include_usage=include_usage,
        reasoning=ReasoningConfig(effort=effort) if effort is not None else None,
        response_format=_response_format(obj),
        user=opt(obj, "user", str),
        metadata=opt(obj, "metadata", dict),
        store=opt(obj, "store", bool),
        extra=extra,
    )


def _check_n(obj: dict[str, Any]) -> None:
    n = opt(obj, "n", int)
    if n is not None and n != 1:
        raise invalid(
            f"'n' must be 1, got {n}: this gateway returns exactly one choice per request",
            param="n",
        )


# --------------------------------------------------------------------- tools


def _tools(obj: dict[str, Any]) -> tuple[Tool, ...]:
    tools: list[Tool] = []
    for i, item in enumerate(opt(obj, "tools", list) or ()):
        path = f"tools[{i}]"
        tool = as_object(item, path)
        kind = req(tool, "type", str, path)
        CHAT_TOOL_TYPE(kind, f"{path}.type")  # no hosted tools in Chat Completions
        if kind == "function":
            tools.append(_function(req(tool, "function", dict, path), f"{path}.function", tool))
        else:
            custom = req(tool, "custom", dict, path)
            where = f"{path}.custom"
            tools.append(
                CustomTool(
                    name=req(custom, "name", str, where),
                    description=opt(custom, "description", str, where),
                    format=opt(custom, "format", dict, where),
                    extra={
                        **rest(custom, frozenset({"name", "description", "format"})),
                        **rest(tool, frozenset({"type", "custom"})),
                    },
                )
            )
    for i, item in enumerate(opt(obj, "functions", list) or ()):
        path = f"functions[{i}]"
        tools.append(_function(as_object(item, path), path, {}))
    return tuple(tools)


def _function(fn: dict[str, Any], path: str, tool: dict[str, Any]) -> FunctionTool:
    # Unknown keys of the function object and of its wrapper both ride in
    # extra; the wrapper's only known keys are "type" and "function".
    name = req(fn, "name", str, path)
    CHAT_FUNCTION_NAME(name, f"{path}.name")
    return FunctionTool(
        name=name,
        description=opt(fn, "description", str, path),
        parameters=opt(fn, "parameters", dict, path),
        strict=opt(fn, "strict", bool, path),
        extra={
            **rest(fn, frozenset({"name", "description", "parameters", "strict"})),
            **rest(tool, frozenset({"type", "function"})),
        },
    )


def _tool_choice(obj: dict[str, Any], extra: dict[str, Any]) -> ToolChoice | None:
    """``tool_choice``, or the legacy ``function_call`` when it is absent.

    ``allowed_tools`` has no canonical form beyond its mode; the whole object
    is also carried in ``extra["tool_choice"]`` for an OpenAI upstream.
    """
    key = "tool_choice" if obj.get("tool_choice") is not None else "function_call"
    choice = obj.get(key)
    if choice is None:
        return None
    if isinstance(choice, str):
        modes = ("auto", "none", "required") if key == "tool_choice" else ("auto", "none")
        if choice not in modes:
            raise invalid(f"'{key}' {choice!r} is not one of {', '.join(modes)}", param=key)
        return ToolChoice(mode=choice)  # type: ignore[arg-type]
    choice = as_object(choice, key)
    if key == "function_call":
        return ToolChoice(mode="tool", name=req(choice, "name", str, key))
    kind = req(choice, "type", str, key)
    if kind in ("function", "custom"):
        named = req(choice, kind, dict, key)
        return ToolChoice(mode="tool", name=req(named, "name", str, f"{key}.{kind}"))
    if kind == "allowed_tools":
        allowed = req(choice, "allowed_tools", dict, key)
        mode = req(allowed, "mode", str, f"{key}.allowed_tools")
        if mode not in ("auto", "required"):
            raise invalid(
                f"'{key}.allowed_tools.mode' {mode!r} is not one of auto, required",
                param=f"{key}.allowed_tools.mode",
            )
        as_list(allowed.get("tools"), f"{key}.allowed_tools.tools")
        extra["tool_choice"] = choice
        return ToolChoice(mode=mode)  # type: ignore[arg-type]
    raise invalid(
        f"'{key}.type' {kind!r} is not one of function, custom, allowed_tools",
        param=f"{key}.type",
    )


def _response_format(obj: dict[str, Any]) -> ResponseFormat | None:
    fmt = opt(obj, "response_format", dict)
    if fmt is None:
        return None
    kind = req(fmt, "type", str, "response_format")
    if kind in ("text", "json_object"):
        return ResponseFormat(kind=kind)  # type: ignore[arg-type]
    if kind == "json_schema":
        path = "response_format.json_schema"
        spec = req(fmt, "json_schema", dict, "response_format")
        return ResponseFormat(
            kind="json_schema",
            name=req(spec, "name", str, path),
            schema=opt(spec, "schema", dict, path),
            strict=opt(spec, "strict", bool, path),
            description=opt(spec, "description", str, path),
        )
    raise invalid(
        f"'response_format.type' {kind!r} is not one of text, json_object, json_schema",
        param="response_format.type",
    )
