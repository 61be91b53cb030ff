"""Canonical :class:`Request` -> Anthropic Messages request body.

Theory of operation
-------------------
The conversation (``system`` and ``messages``) is built by
``codec_anthropic_messages``; this module maps everything around it, with
one complete, tested parameter map per direction (failure mode 11):

==========================  ==============================================
canonical                   Anthropic
==========================  ==============================================
max_tokens                  ``max_tokens`` (required): the client's, else
                            ``default_max_tokens``; clamped only to the
                            model's real limit
stop                        ``stop_sequences`` (whitespace-only dropped)
temperature / top_p / top_k same names; temperature clamped to 0..1
tool_choice                 auto -> auto, required -> any, tool -> tool,
                            none -> none
parallel_tool_calls=False   ``tool_choice.disable_parallel_tool_use``
reasoning                   ``thinking`` (see below)
response_format             ``output_config.format`` (json_schema);
                            json_object -> a system instruction
metadata / user             ``metadata.user_id`` only
extra                       verbatim for Anthropic clients, never otherwise
==========================  ==============================================

Thinking. An Anthropic client's ``thinking`` object is rebuilt verbatim. For
other dialects a reasoning effort becomes thinking only when the target
accepts it (``EncodeOptions.thinking``): on models with adaptive thinking
(``model_limits``) ``{"type": "adaptive"}`` plus ``output_config.effort``,
elsewhere a manual budget (low 1024, medium 4096, high 16384, xhigh 32768);
``none``/``minimal`` mean no thinking. Anthropic refuses thinking next to
forced tool use, a modified temperature, top_k or a top_p below 0.95; in a
translated request forced tool use wins (no thinking) and thinking wins over
those sampling parameters (dropped), each with a note.

A manual budget must be below ``max_tokens``: if the gateway chose
``max_tokens`` it is raised to make room (within the model limit),
otherwise the budget shrinks, and thinking is dropped when not even the
1024-token minimum fits. Manual thinking is also dropped when the request
continues a tool-use turn that has no thinking block (history from another
vendor): Anthropic would refuse it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, Final

from ..canonical import CustomTool, FunctionTool, HostedTool, Request, Tool
from ..errors import invalid
from ..wire.json_body import dumps
from .anthropic_blocks import Notes
from .anthropic_messages import NATIVE, Conversation, build_conversation
from .base import Encoded, EncodeOptions
from .model_limits import limits_for

PATH: Final = "/v1/messages"
MIN_THINKING_BUDGET = 1024  # Anthropic refuses smaller budgets
# Room kept for the visible answer when a thinking budget has to shrink.
ANSWER_RESERVE = 1024
EFFORT_BUDGETS: Mapping[str, int] = {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 32768}
NO_THINKING_EFFORTS = frozenset({"none", "minimal"})
# With thinking on, Anthropic accepts top_p only in this range.
THINKING_MIN_TOP_P = 0.95
JSON_OBJECT_INSTRUCTION = "Respond with a single valid JSON object and nothing else."
EMPTY_SCHEMA: Mapping[str, Any] = {"type": "object", "properties": {}}
# Body fields this codec owns; an extra of the same name never replaces them.
_OWNED = frozenset(
    {"model", "max_tokens", "system", "messages", "tools", "thinking", "stop_sequences"}
    | {"temperature", "top_p", "top_k", "metadata", "stream"}
)
_CHOICES: Mapping[str, str] = {"auto": "auto", "required": "any", "tool": "tool", "none": "none"}


def encode_request(request: Request, options: EncodeOptions) -> Encoded:
    native = request.dialect == NATIVE
    notes = Notes()
    conversation = build_conversation(request, notes)
    tools, custom = _tools(request.tools, native, notes)
    explicit = request.max_tokens is not None
    max_tokens = _max_tokens(request.max_tokens, options, notes)
    output_config: dict[str, Any] = {}
    if native:
        thinking = _native_thinking(request)
    else:
        thinking = _translated_thinking(request, options, output_config, notes)
    thinking, max_tokens = _fit_thinking(
        thinking, max_tokens, explicit, conversation, options, notes
    )

    body: dict[str, Any] = {"model": options.model, "max_tokens": max_tokens}
    system = list(conversation.system)
    if not native:
        _response_format(request, output_config, system, notes)
    if system:
        body["system"] = system
    body["messages"] = list(conversation.messages)
    if tools:
        body["tools"] = tools
        choice = _tool_choice(request)
        if choice is not None:
            body["tool_choice"] = choice
    if thinking is not None:
        body["thinking"] = thinking
    _sampling(request, body, thinking is not None and not native, notes)
    metadata = _metadata(request, native)
    if metadata:
        body["metadata"] = metadata
    if output_config:
        body["output_config"] = output_config
    body["stream"] = options.stream
    _extras(request, body, native, notes)
    return Encoded(path=PATH, body=dumps(body), notes=notes.render(), custom_tools=custom)


# -------------------------------------------------------------------- limits


def _max_tokens(requested: int | None, options: EncodeOptions, notes: Notes) -> int:
    limit = options.max_output_tokens
    value = options.default_max_tokens if requested is None else requested
    if limit is not None and value > limit:
        # Clamping to the model's real limit only replaces a certain 400.
        notes.add(f"max_tokens clamped to {limit}")
        return limit
    return value


def _native_thinking(request: Request) -> dict[str, Any] | None:
    config = request.reasoning
    if config is None:
        return None
    thinking: dict[str, Any] = {}
    if config.mode is not None:
        thinking["type"] = config.mode
    if config.budget_tokens is not None:
        thinking["budget_tokens"] = config.budget_tokens
    if config.display is not None:
        thinking["display"] = config.display
    thinking.update(config.extra)  # a newer type carries its own name here
    return thinking if "type" in thinking else None


def _translated_thinking(
    request: Request, options: EncodeOptions, output_config: dict[str, Any], notes: Notes
) -> dict[str, Any] | None:
    config = request.reasoning
    if config is None:
        return None
    effort: str
    if config.mode in ("enabled", "adaptive"):
        if config.mode == "enabled" and config.budget_tokens is not None:
            return {"type": "enabled", "budget_tokens": config.budget_tokens}
        effort = config.effort or "medium"
    elif config.mode == "disabled" or config.effort in (None, *NO_THINKING_EFFORTS):
        return None
    else:
        effort = str(config.effort)
    if not options.thinking:
        notes.add(f"reasoning effort {effort!r} dropped: the model has no extended thinking")
        return None
    if request.tool_choice is not None and request.tool_choice.mode in ("required", "tool"):
        notes.add("thinking not enabled: Anthropic refuses it with forced tool use")
        return None
    if effort not in EFFORT_BUDGETS:
        notes.add(f"unknown reasoning effort {effort!r} treated as medium")
        effort = "medium"
    if limits_for(options.model).adaptive_thinking:
        output_config["effort"] = effort
        return {"type": "adaptive"}
    return {"type": "enabled", "budget_tokens": EFFORT_BUDGETS[effort]}


def _fit_thinking(
    thinking: dict[str, Any] | None,
    max_tokens: int,
    explicit: bool,
    conversation: Conversation,
    options: EncodeOptions,
    notes: Notes,
) -> tuple[dict[str, Any] | None, int]:
    if thinking is None or thinking.get("type") != "enabled":
        return thinking, max_tokens
    if conversation.unthought_tool_loop:
        notes.add("thinking disabled: the tool-use turn being continued has no thinking block")
        return None, max_tokens
    budget = thinking.get("budget_tokens")
    if not isinstance(budget, int) or budget < max_tokens:
        return thinking, max_tokens
    if not explicit:
        raised = budget + options.default_max_tokens
        if options.max_output_tokens is not None:
            raised = min(raised, options.max_output_tokens)
        if raised > budget:
            notes.add(f"max_tokens raised to {raised} to fit the thinking budget")
            return thinking, raised
    reduced = max(MIN_THINKING_BUDGET, max_tokens - ANSWER_RESERVE)
    if reduced < max_tokens:
        notes.add(f"thinking budget reduced to {reduced} to stay below max_tokens")
        return {**thinking, "budget_tokens": reduced}, max_tokens
    notes.add(f"thinking disabled: max_tokens {max_tokens} leaves no room for a budget")
    return None, max_tokens


# --------------------------------------------------------------------- tools


def _tools(
    tools: tuple[Tool, ...], native: bool, notes: Notes
) -> tuple[list[dict[str, Any]], frozenset[str]]:
    out: list[dict[str, Any]] = []
    custom: set[str] = set()
    for tool in tools:
        if isinstance(tool, FunctionTool):
            out.append(_function_tool(tool, native, notes))
        elif isinstance(tool, CustomTool):
            out.append(_custom_tool(tool))
            custom.add(tool.name)
        elif isinstance(tool, HostedTool):
            if tool.dialect == NATIVE:
                out.append(dict(tool.spec))
            else:
                notes.add(f"dropped hosted tool {tool.type}: anthropic upstream cannot run it")
    return out, frozenset(custom)


def _function_tool(tool: FunctionTool, native: bool, notes: Notes) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else dict(EMPTY_SCHEMA)
    schema.setdefault("type", "object")
    spec: dict[str, Any] = {"name": tool.name}
    if tool.description:
        spec["description"] = tool.description
    spec["input_schema"] = schema
    if native:
        if tool.strict is not None:
            spec["strict"] = tool.strict
        spec.update(tool.extra)
    else:
        if tool.strict:
            # Anthropic's strict mode is model-dependent; an unsupported model 400s.
            notes.add("strict tool schemas are not forwarded to anthropic")
        if "cache_control" in tool.extra:
            spec["cache_control"] = tool.extra["cache_control"]
    return spec


def _custom_tool(tool: CustomTool) -> dict[str, Any]:
    """A freeform tool as a function of one required string, ``input``."""
    lines = [tool.description or f"The {tool.name} tool."]
    lines.append('It takes freeform text: put the whole input in the string parameter "input".')
    fmt = tool.format
    if fmt and fmt.get("type") == "grammar":
        syntax = fmt.get("syntax", "")
        lines.append(f"The input must match this {syntax} grammar:\n{fmt.get('definition', '')}")
    elif fmt and fmt.get("type") != "text":
        lines.append("Input format: " + json.dumps(fmt, ensure_ascii=False))
    return {
        "name": tool.name,
        "description": "\n\n".join(lines),
        "input_schema": {
            "type": "object",
            "properties": {"input": {"type": "string", "description": "The raw tool input."}},
            "required": ["input"],
        },
    }


def _tool_choice(request: Request) -> dict[str, Any] | None:
    choice = request.tool_choice
    disable_parallel = request.parallel_tool_calls is False
    if choice is None:
        return {"type": "auto", "disable_parallel_tool_use": True} if disable_parallel else None
    out: dict[str, Any] = {"type": _CHOICES[choice.mode]}
    if choice.name is not None:
        out["name"] = choice.name
    if disable_parallel and choice.mode != "none":
        out["disable_parallel_tool_use"] = True
    return out


# ------------------------------------------------------------ other settings


def _sampling(request: Request, body: dict[str, Any], thinking: bool, notes: Notes) -> None:
    stops = [s for s in request.stop if s.strip()]
    if len(stops) < len(request.stop):
        notes.add("dropped whitespace-only stop sequences: Anthropic refuses them")
    if stops:
        body["stop_sequences"] = stops
    temperature = request.temperature
    if temperature is not None and temperature > 1:
        notes.add(f"temperature {temperature:g} clamped to 1")
        temperature = 1.0
    if thinking and temperature is not None and temperature != 1:
        notes.add("temperature dropped: Anthropic refuses it with thinking")
        temperature = None
    if temperature is not None:
        body["temperature"] = temperature
    top_p = request.top_p
    if thinking and top_p is not None and top_p < THINKING_MIN_TOP_P:
        notes.add("top_p dropped: Anthropic accepts only 0.95..1 with thinking")
        top_p = None
    if top_p is not None:
        body["top_p"] = top_p
    if request.top_k is not None:
        if thinking:
            notes.add("top_k dropped: Anthropic refuses it with thinking")
        else:
            body["top_k"] = request.top_k
    if request.seed is not None:
        notes.add("seed dropped: Anthropic has no seed")


def _metadata(request: Request, native: bool) -> dict[str, Any] | None:
    if native:
        return dict(request.metadata) if request.metadata is not None else None
    user_id = (request.metadata or {}).get("user_id")
    if not isinstance(user_id, str):
        user_id = request.user
    return {"user_id": user_id} if user_id else None


def _response_format(
    request: Request, output_config: dict[str, Any], system: list[dict[str, Any]], notes: Notes
) -> None:
    fmt = request.response_format
    if fmt is None or fmt.kind == "text":
        return
    if fmt.kind == "json_schema" and fmt.schema is not None:
        output_config["format"] = {"type": "json_schema", "schema": dict(fmt.schema)}
        return
    # No schema to enforce: say what is wanted, as a client would in a prompt.
    notes.add("JSON output requested by a system instruction")
    system.append({"type": "text", "text": JSON_OBJECT_INSTRUCTION})


def _refuse_logprobs(request: Request) -> None:
    """Anthropic has no token log probabilities: asking for them is refused
    like ``n > 1``, not answered with ``logprobs: null`` as if granted."""
    for field in ("logprobs", "top_logprobs"):
        if request.extra.get(field) not in (None, False, 0):
            raise invalid(
                f"'{field}' is not available from {request.model}: Anthropic models "
                "return no log probabilities",
                param=field,
            )


def _extras(request: Request, body: dict[str, Any], native: bool, notes: Notes) -> None:
    if not native:
        _refuse_logprobs(request)
        if request.extra:
            names = ", ".join(sorted(request.extra))
            notes.add(f"not forwarded to anthropic: {names}")
        return
    for key, value in request.extra.items():
        if key in _OWNED:
            notes.add(f"ignored extra field {key!r}: the codec sets it")
        elif key == "tool_choice" and "tools" not in body:
            continue
        else:
            body[key] = value
