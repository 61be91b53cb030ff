"""Canonical :class:`Request` -> OpenAI Chat Completions request body.

Theory of operation
-------------------
One pass builds the JSON body; what the target cannot take is dropped and
*said* in ``Encoded.notes`` (logged, never sent). The message walk, with its
pairing and hoisting rules, lives in ``codec_openai_chat_messages``; this
module writes the top level, where the parameter map must be complete and
tested in both directions (failure mode 11):

* Streaming always asks for ``stream_options.include_usage``: without it no
  usage chunk comes and every ledger and context meter reads zero.
* ``max_tokens`` is ``max_completion_tokens`` for reasoning models (which
  refuse the old name), clamped to the model's known limit, never invented.
* Stop sequences beyond OpenAI's four, ``top_k``, and reasoning controls a
  non-reasoning model would refuse are dropped with a note.
* ``tools``/``tool_choice``/``parallel_tool_calls`` go only together: OpenAI
  refuses a choice without tools. Freeform (custom) tools become functions
  with one string parameter ``input``; their names go to
  ``Encoded.custom_tools`` so the decoder can turn calls back.
* ``Request.extra`` is written back only for a client of this same dialect;
  the Responses fields Chat also has are mapped, the rest noted. Anthropic
  fields are never forwarded (they would be "Unknown parameter" 400s).

What a Claude Code request becomes (docs/claude-code.md has the whole table):
``output_config.effort`` -> ``reasoning_effort`` (``xhigh``/``max`` -> ``high``,
the highest every OpenAI reasoning model takes); ``metadata.user_id`` (a JSON
document of device and session ids) -> ``user``, hashed when longer than
:data:`MAX_END_USER_ID`; tools marked ``defer_loading`` are sent like any other
(Chat has no tool search; Claude Code lists a deferred tool only once its
ToolSearch has loaded it, and the message walk turns that ``tool_reference``
answer into words); ``cache_control`` and ``context_management`` are dropped
(OpenAI caches prefixes by itself).
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from typing import Any, Final

from ..canonical import CustomTool, FunctionTool, HostedTool, Request
from ..wire.json_body import dumps
from ..wire.text import utf8
from .base import Encoded, EncodeOptions
from .openai_chat_messages import Notes, encode_messages

DIALECT: Final = "openai_chat"
PATH: Final = "/chat/completions"

# OpenAI refuses more stop sequences than this.
MAX_STOP = 4
EMPTY_PARAMETERS: Final = {"type": "object", "properties": {}}
# Responses fields that Chat Completions has under the same name and meaning.
_SHARED_RESPONSES_FIELDS = ("prompt_cache_key", "safety_identifier", "service_tier")
# Anthropic fields already mapped to typed canonical fields (effort, format).
_MAPPED_ANTHROPIC_FIELDS = frozenset({"output_config"})
# Anthropic efforts above OpenAI's widely accepted "high" (gpt-5 and o-series
# refuse "xhigh"/"max" with a 400); lower ones have the same names.
_ANTHROPIC_EFFORTS = {"xhigh": "high", "max": "high"}
# Longest end-user id sent as ``user`` verbatim; longer ones are hashed. Well
# inside the 128 OpenAI documents for ``safety_identifier``, so compatible
# servers with stricter copies of the check accept it too.
MAX_END_USER_ID = 64


def encode_request(request: Request, options: EncodeOptions) -> Encoded:
    return _Encoder(request, options).run()


class _Encoder:
    def __init__(self, request: Request, options: EncodeOptions) -> None:
        self.request = request
        self.options = options
        self.notes = Notes()
        self.custom_tools: set[str] = set()

    def note(self, text: str) -> None:
        self.notes.add(text)

    def run(self) -> Encoded:
        request, options = self.request, self.options
        body: dict[str, Any] = {
            "model": options.model,
            "messages": encode_messages(request, self.notes),
        }
        tools = self.tools()
        if tools:
            body["tools"] = tools
            if request.tool_choice is not None:
                body["tool_choice"] = self.tool_choice()
            if request.parallel_tool_calls is not None:
                body["parallel_tool_calls"] = request.parallel_tool_calls
        elif request.tool_choice is not None and request.tool_choice.mode != "none":
            self.note(f"dropped tool_choice {request.tool_choice.mode!r}: no tools to choose from")
        self.limits(body)
        self.sampling(body)
        self.reasoning(body)
        body["stream"] = options.stream
        if options.stream:
            body["stream_options"] = {"include_usage": True}
        self.extra(body)
        return Encoded(
            path=PATH,
            body=dumps(body),
            notes=tuple(self.notes),
            custom_tools=frozenset(self.custom_tools),
        )

    # ---------------------------------------------------------------- tools

    def tools(self) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for tool in self.request.tools:
            if isinstance(tool, FunctionTool):
                fn: dict[str, Any] = {"name": tool.name}
                if tool.description is not None:
                    fn["description"] = tool.description
                fn["parameters"] = (
                    tool.parameters if tool.parameters is not None else EMPTY_PARAMETERS
                )
                if tool.strict is not None:
                    fn["strict"] = tool.strict
                if tool.extra.get("defer_loading"):
                    # Anthropic's tool search loads such tools on demand; Chat
                    # has none, so the model sees them (and can call them) now.
                    self.note("sent tools marked defer_loading as ordinary tools")
                out.append({"type": "function", "function": fn})
            elif isinstance(tool, CustomTool):
                self.custom_tools.add(tool.name)
                out.append(_custom_as_function(tool))
            elif isinstance(tool, HostedTool) and tool.dialect == DIALECT:
                out.append(dict(tool.spec))
            else:
                self.note(f"dropped hosted tool {tool.type}: {DIALECT} upstream cannot run it")
        return out

    def tool_choice(self) -> Any:
        choice = self.request.tool_choice
        assert choice is not None
        if choice.mode == "tool":
            return {"type": "function", "function": {"name": choice.name}}
        return choice.mode

    # ------------------------------------------------------------ settings

    def limits(self, body: dict[str, Any]) -> None:
        max_tokens = self.request.max_tokens
        if max_tokens is None:
            return  # Chat has a default; inventing one would only cut answers short
        ceiling = self.options.max_output_tokens
        if ceiling is not None and max_tokens > ceiling:
            self.note(f"clamped max_tokens {max_tokens} to the model's limit {ceiling}")
            max_tokens = ceiling
        # Reasoning models refuse max_tokens; older compatible servers only know it.
        key = "max_completion_tokens" if self.options.reasoning_model else "max_tokens"
        body[key] = max_tokens

    def sampling(self, body: dict[str, Any]) -> None:
        request = self.request
        for key, value in (
            ("temperature", request.temperature),
            ("top_p", request.top_p),
        ):
            if value is None:
                continue
            # OpenAI's reasoning models accept only the default sampling (1)
            # and answer anything else with a 400; a translated request that
            # carries a client's habit (Claude Code sends temperature 1, some
            # clients 0.7) must not fail for it.
            if self.options.reasoning_model and value != 1 and request.dialect != "openai_chat":
                self.note(f"dropped {key} {value}: reasoning models take only the default")
                continue
            body[key] = value
        if request.stop:
            if len(request.stop) > MAX_STOP:
                self.note(f"kept the first {MAX_STOP} of {len(request.stop)} stop sequences")
            body["stop"] = list(request.stop[:MAX_STOP])
        if request.seed is not None:
            body["seed"] = request.seed
        if request.top_k is not None:
            self.note("dropped top_k: chat completions has no such parameter")
        if request.user is not None:
            body["user"] = request.user
        fmt = request.response_format
        if fmt is not None and fmt.kind == "json_object":
            body["response_format"] = {"type": "json_object"}
        elif fmt is not None and fmt.kind == "json_schema":
            spec: dict[str, Any] = {"name": fmt.name or "response"}
            if fmt.description is not None:
                spec["description"] = fmt.description
            if fmt.schema is not None:
                spec["schema"] = fmt.schema
            if fmt.strict is not None:
                spec["strict"] = fmt.strict
            body["response_format"] = {"type": "json_schema", "json_schema": spec}
        same = request.dialect == DIALECT
        if request.metadata is not None:
            self.metadata(body, request.metadata)
        if request.store is not None and same:
            body["store"] = request.store

    def metadata(self, body: dict[str, Any], metadata: Mapping[str, Any]) -> None:
        request = self.request
        if request.dialect == DIALECT and all(isinstance(v, str) for v in metadata.values()):
            body["metadata"] = dict(metadata)
            return
        user_id = metadata.get("user_id")
        if request.dialect == "anthropic_messages" and isinstance(user_id, str) and user_id:
            # Anthropic's end-user id is Chat's ``user``; an explicit one wins.
            body.setdefault("user", end_user_id(user_id))
            if len(metadata) == 1:
                return
        self.note(f"dropped metadata: only forwarded for {DIALECT} clients with string values")

    def reasoning(self, body: dict[str, Any]) -> None:
        config = self.request.reasoning
        if config is None or config.mode == "disabled":
            return
        effort = config.effort
        if effort is None and config.mode == "enabled" and config.budget_tokens is not None:
            effort = _effort_for_budget(config.budget_tokens)
        if effort is None:
            if config.mode is not None or config.summary is not None:
                self.note("dropped reasoning settings with no chat completions equivalent")
            return
        if not self.options.reasoning_model:
            self.note("dropped reasoning effort: the target is not a reasoning model")
            return
        if self.request.dialect == "anthropic_messages" and effort in _ANTHROPIC_EFFORTS:
            self.note(f"sent effort {effort!r} as {_ANTHROPIC_EFFORTS[effort]!r}")
            effort = _ANTHROPIC_EFFORTS[effort]
        body["reasoning_effort"] = effort

    def extra(self, body: dict[str, Any]) -> None:
        request, extra = self.request, self.request.extra
        if not extra:
            return
        if request.dialect == DIALECT:
            for key, value in extra.items():
                if key == "stream_options":
                    if self.options.stream:  # OpenAI refuses stream_options otherwise
                        body["stream_options"] = {**value, "include_usage": True}
                elif key == "tool_choice":
                    if "tools" in body:  # the whole allowed_tools object
                        body["tool_choice"] = value
                elif key not in body:
                    body[key] = value
            return
        dropped = set(extra)
        if request.dialect == "openai_responses":
            for key in _SHARED_RESPONSES_FIELDS:
                if key in extra:
                    body[key] = extra[key]
                    dropped.discard(key)
        else:
            dropped -= _MAPPED_ANTHROPIC_FIELDS
        if dropped:
            names = ", ".join(sorted(dropped))
            self.note(f"dropped {request.dialect} fields chat completions does not take: {names}")


def end_user_id(user_id: str) -> str:
    """``user_id`` if short enough, else a stable hash of it (Claude Code's is
    a JSON document of device and session ids: too long, and not OpenAI's
    business verbatim)."""
    if len(user_id) <= MAX_END_USER_ID and user_id.isprintable():
        return user_id
    return "uid_" + hashlib.sha256(utf8(user_id)).hexdigest()[:40]


def _effort_for_budget(budget: int) -> str:
    """Anthropic's thinking budget in OpenAI's effort words."""
    if budget <= 2048:
        return "low"
    if budget <= 16384:
        return "medium"
    return "high"


def _custom_as_function(tool: CustomTool) -> dict[str, Any]:
    lines = [tool.description] if tool.description else []
    lines.append(
        "This tool takes freeform text, not JSON fields: put the whole input, verbatim, "
        'in the string parameter "input".'
    )
    fmt: Mapping[str, Any] = tool.format or {}
    # Responses puts the grammar flat in the format; Chat nests it under "grammar".
    nested = fmt.get("grammar")
    grammar: Mapping[str, Any] = nested if isinstance(nested, Mapping) else fmt
    definition = grammar.get("definition")
    if fmt.get("type") == "grammar" and isinstance(definition, str):
        syntax = grammar.get("syntax") or "grammar"
        lines.append(f"The input must match this {syntax} grammar:\n{definition}")
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": "\n\n".join(lines),
            "parameters": {
                "type": "object",
                "properties": {"input": {"type": "string", "description": "The raw input text."}},
                "required": ["input"],
                "additionalProperties": False,
            },
        },
    }
