"""The canonical request: one internal language every dialect translates to and from.

Theory of operation
-------------------
Each client dialect (``fronts/``) parses its wire JSON into a :class:`Request`,
and each upstream codec renders a :class:`Request` into its provider's wire
JSON. Translation is therefore N + M codecs, never N x M translators.

Two rules keep round trips lossless:

* A concept that several dialects share gets a typed field (``max_tokens``,
  ``stop``, tool calls, reasoning with its signature ...).
* A field only one dialect has is *carried*, not dropped: it lands in an
  ``extra`` mapping (``Request.extra`` for top-level fields, ``extra`` on parts
  and tools for per-item fields such as ``cache_control``). A codec for the
  same dialect writes ``extra`` back verbatim; a codec for another dialect
  ignores it (or maps the few fields it understands).

Normal form of messages
-----------------------
* Roles are ``system``, ``developer``, ``user``, ``assistant`` and ``tool``.
  The request-level ``system`` holds the top-level system prompt (Anthropic
  ``system``, Responses ``instructions``); ``system``/``developer`` messages in
  ``messages`` are the ones that stood *inside* the conversation.
* Tool results live only in ``tool`` messages, which hold only
  :class:`ToolResultPart`. An Anthropic user turn ``[tool_result, tool_result,
  text]`` becomes a ``tool`` message with two results followed by a ``user``
  message with the text; an Anthropic renderer merges them back.
* Tool calls live only in ``assistant`` messages.

Values here are frozen; JSON that is carried opaquely (schemas, ``extra``) is
typed :data:`JsonObject` and must not be mutated after parsing.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

JsonValue = Any
"""Any value ``json.loads`` can return. Kept as ``Any``: JSON is recursive."""

JsonObject = Mapping[str, JsonValue]


class _Empty(Mapping[str, JsonValue]):
    """An immutable empty mapping usable as a dataclass default (a ``{}``
    default would be shared and mutable, so dataclasses refuse it)."""

    __slots__ = ()

    def __getitem__(self, key: str) -> JsonValue:
        raise KeyError(key)

    def __iter__(self) -> Iterator[str]:
        return iter(())

    def __len__(self) -> int:
        return 0

    def __hash__(self) -> int:
        return 0

    def __repr__(self) -> str:
        return "{}"


EMPTY: JsonObject = _Empty()

Role = Literal["system", "developer", "user", "assistant", "tool"]
ROLES: tuple[Role, ...] = ("system", "developer", "user", "assistant", "tool")

Vendor = Literal["anthropic", "openai", "other"]
"""Who produced an opaque reasoning artefact (signature, encrypted content).
Opaque artefacts are only ever sent back to the vendor that made them."""


# --------------------------------------------------------------------- parts


@dataclass(frozen=True, kw_only=True, slots=True)
class TextPart:
    text: str
    extra: JsonObject = EMPTY  # e.g. cache_control, citations, annotations


@dataclass(frozen=True, kw_only=True, slots=True)
class ImagePart:
    """An image given either by URL or inline as base64 ``data``."""

    url: str | None = None
    data: str | None = None  # base64, without the ``data:`` prefix
    media_type: str | None = None
    detail: str | None = None  # OpenAI's low/high/auto
    extra: JsonObject = EMPTY

    def __post_init__(self) -> None:
        if (self.url is None) == (self.data is None):
            raise ValueError("ImagePart needs exactly one of url or data")


@dataclass(frozen=True, kw_only=True, slots=True)
class DocumentPart:
    """A document (PDF, plain text, file reference)."""

    source_type: Literal["base64", "text", "url", "file"]
    data: str  # base64 data, text, URL or file id by ``source_type``
    media_type: str | None = None
    title: str | None = None
    filename: str | None = None
    extra: JsonObject = EMPTY


ToolKind = Literal["function", "custom"]


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolCallPart:
    """A call the assistant made.

    ``arguments`` is the raw JSON text of a function call exactly as the model
    produced it (never re-serialised, so escapes survive), or the raw input
    text of a custom (freeform) tool call.
    """

    id: str
    name: str
    arguments: str
    kind: ToolKind = "function"
    item_id: str | None = None  # Responses ``fc_…`` item id, when distinct from ``id``
    extra: JsonObject = EMPTY


ToolResultContent = TextPart | ImagePart | DocumentPart


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolResultPart:
    call_id: str
    content: tuple[ToolResultContent, ...]
    is_error: bool = False
    kind: ToolKind = "function"
    extra: JsonObject = EMPTY


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasoningPart:
    """Model reasoning: Anthropic ``thinking``, Responses ``reasoning`` items,
    chat-dialect ``reasoning_content``.

    ``signature`` (Anthropic) and ``encrypted_content`` (OpenAI) are opaque and
    only valid for ``vendor``; a block with empty ``text`` and a signature is a
    real block (display omitted), not an empty one.
    """

    text: str = ""
    summary: tuple[str, ...] = ()
    signature: str | None = None
    encrypted_content: str | None = None
    id: str | None = None
    vendor: Vendor = "other"
    extra: JsonObject = EMPTY


@dataclass(frozen=True, kw_only=True, slots=True)
class RedactedReasoningPart:
    data: str
    vendor: Vendor = "anthropic"


Part = (
    TextPart
    | ImagePart
    | DocumentPart
    | ToolCallPart
    | ToolResultPart
    | ReasoningPart
    | RedactedReasoningPart
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Message:
    role: Role
    parts: tuple[Part, ...]
    name: str | None = None
    extra: JsonObject = EMPTY

    def text(self) -> str:
        """The concatenated visible text of the message (no reasoning)."""
        return "".join(p.text for p in self.parts if isinstance(p, TextPart))


# --------------------------------------------------------------------- tools


@dataclass(frozen=True, kw_only=True, slots=True)
class FunctionTool:
    name: str
    description: str | None = None
    parameters: JsonObject | None = None
    strict: bool | None = None
    extra: JsonObject = EMPTY  # e.g. cache_control, defer_loading, input_examples


@dataclass(frozen=True, kw_only=True, slots=True)
class CustomTool:
    """A freeform tool whose input is raw text (Responses ``custom``)."""

    name: str
    description: str | None = None
    format: JsonObject | None = None  # e.g. {"type": "grammar", "syntax": "lark", ...}
    extra: JsonObject = EMPTY


@dataclass(frozen=True, kw_only=True, slots=True)
class HostedTool:
    """A tool the provider runs itself (web search, code execution, ...),
    carried verbatim: ``spec`` is the dialect's whole tool object."""

    type: str
    spec: JsonObject
    dialect: str


Tool = FunctionTool | CustomTool | HostedTool


@dataclass(frozen=True, kw_only=True, slots=True)
class ToolChoice:
    """``auto``: model decides; ``none``: no tools; ``required``: some tool
    (Anthropic ``any``); ``tool``: the named one."""

    mode: Literal["auto", "none", "required", "tool"]
    name: str | None = None

    def __post_init__(self) -> None:
        if (self.mode == "tool") != (self.name is not None):
            raise ValueError("ToolChoice.name is set exactly when mode is 'tool'")


# ------------------------------------------------------------------ settings


@dataclass(frozen=True, kw_only=True, slots=True)
class ReasoningConfig:
    """What the client asked of reasoning, in whichever terms it used.

    ``mode``: Anthropic ``thinking.type`` (enabled/disabled/adaptive);
    ``effort``: OpenAI ``reasoning_effort`` / ``reasoning.effort`` or Anthropic
    ``output_config.effort``; ``summary``: Responses ``reasoning.summary``.
    """

    mode: Literal["enabled", "disabled", "adaptive"] | None = None
    budget_tokens: int | None = None
    effort: str | None = None
    summary: str | None = None
    display: str | None = None
    extra: JsonObject = EMPTY


@dataclass(frozen=True, kw_only=True, slots=True)
class ResponseFormat:
    kind: Literal["text", "json_object", "json_schema"]
    name: str | None = None
    schema: JsonObject | None = None
    strict: bool | None = None
    description: str | None = None


Dialect = Literal["openai_chat", "openai_responses", "anthropic_messages"]


@dataclass(frozen=True, kw_only=True, slots=True)
class Request:
    model: str
    dialect: Dialect
    messages: tuple[Message, ...]
    system: tuple[TextPart, ...] = ()
    tools: tuple[Tool, ...] = ()
    tool_choice: ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    max_tokens: int | None = None
    temperature: float | None = None
    top_p: float | None = None
    top_k: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    stream: bool = False
    include_usage: bool = False
    reasoning: ReasoningConfig | None = None
    response_format: ResponseFormat | None = None
    user: str | None = None
    metadata: JsonObject | None = None
    store: bool | None = None
    extra: JsonObject = field(default_factory=dict)
    """Top-level fields of the source dialect with no canonical home
    (``context_management``, ``service_tier``, ``prompt_cache_key``,
    ``previous_response_id``, ``logprobs``, penalties ...), verbatim."""

    def last_user_text(self) -> str:
        for message in reversed(self.messages):
            if message.role == "user":
                return message.text()
        return ""
