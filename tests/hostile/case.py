"""One hostile input and what a serious gateway answers to it.

A :class:`Case` is plain data: the bytes to send (through an HTTP client, or
exactly as written over a raw socket) and the expectation. Expectations are
written as the real APIs behave (the official SDKs' type definitions are the
reference for what they accept), never as this gateway happens to behave;
``corpus.XFAIL`` lists the cases it does not meet yet.

Helpers here build bodies from a valid base and a dotted path
(``messages.0.content``), so the tables in the ``*_cases`` modules stay one
line per field.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

Endpoint = Literal["chat", "responses", "messages", "count_tokens", "embeddings"]
Target = Literal["loopback", "translated", "passthrough"]

PATHS: Final[dict[Endpoint, str]] = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
    "count_tokens": "/v1/messages/count_tokens",
    "embeddings": "/v1/embeddings",
}

# The model that takes each endpoint to each kind of target, by the rig's
# routes (gpt* -> the fake OpenAI, claude* -> the fake Anthropic).
MODELS: Final[dict[Endpoint, dict[Target, str]]] = {
    "chat": {"loopback": "loopback", "translated": "claude-sonnet-4-5", "passthrough": "gpt-4o"},
    "responses": {
        "loopback": "loopback",
        "translated": "claude-sonnet-4-5",
        "passthrough": "gpt-4o",
    },
    "messages": {
        "loopback": "loopback",
        "translated": "gpt-4o",
        "passthrough": "claude-sonnet-4-5",
    },
    "count_tokens": {
        "loopback": "loopback",
        "translated": "gpt-4o",
        "passthrough": "claude-sonnet-4-5",
    },
    "embeddings": {"loopback": "loopback", "passthrough": "text-embedding-3-small"},
}

# Status sets.
OK: Final = frozenset({200})
BAD: Final = frozenset({400})
TOO_LARGE: Final = frozenset({413})
NOT_ALLOWED: Final = frozenset({405})

RID: Final = b"@RID@"  # replaced by a fresh x-request-id in raw requests
# The rig's max_body_bytes: small, so that bodies past it are cheap to send.
BODY_LIMIT: Final = 1 << 20


@dataclass(frozen=True, kw_only=True, slots=True)
class Case:
    id: str
    category: str  # "http", "json", "types", "sizes": what the report counts
    path: str  # the request target's path: decides the client's dialect
    statuses: frozenset[int]  # acceptable statuses (a set only where the specs allow several)
    method: str = "POST"
    body: bytes = b""  # sent through the HTTP client with Content-Length
    raw: bytes | None = None  # sent as is over a socket instead (RID replaced)
    half_close: bool = False  # shut the socket's write side after sending
    names: str | None = None  # the field the error must name (dotted or indexed)
    allow: str | None = None  # a method the Allow header must list
    closes: bool = False  # the server must close the connection after its answer
    lone: bool = False  # no second answer may follow on the connection
    ledger: bool = False  # the request reached a model endpoint: a ledger row
    may_drop: bool = False  # the client broke the request: closing without an answer is fine
    refused_upstream: bool = False  # passthrough: the fake upstream refuses as the real API
    wait: float = 3.0  # seconds to wait for the answer
    target: Target | None = None

    @property
    def dialect(self) -> Literal["openai", "anthropic", "any"]:
        """The envelope of an error answer: the client's own dialect; any
        JSON envelope when the request never said which one it speaks."""
        if not self.path:
            return "any"
        if self.path.startswith(("/v1/messages", "/anthropic/")):
            return "anthropic"
        return "openai"


class _Missing:
    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing()


def dumps(value: Any) -> bytes:
    """Compact JSON; non-ASCII (and lone surrogates) as \\u escapes."""
    return json.dumps(value, separators=(",", ":")).encode()


def put(base: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """A copy of ``base`` with the value at dotted ``path`` replaced
    (``MISSING`` deletes it); list indexes are numbers in the path."""
    out = copy.deepcopy(base)
    keys: list[str | int] = [int(k) if k.isdigit() else k for k in path.split(".")]
    node: Any = out
    for key in keys[:-1]:
        node = node[key]
    last = keys[-1]
    if value is MISSING:
        del node[last]
    else:
        node[last] = value
    return out


def label(value: Any) -> str:
    """A short name for a wrong value, for case ids."""
    if value is MISSING:
        return "missing"
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, int):
        return "int" if value >= 0 else "negative"
    if isinstance(value, float):
        return "float"
    if isinstance(value, str):
        return "empty" if not value else "string"
    if isinstance(value, list):
        return "array" if value else "empty-array"
    return "object" if value else "empty-object"


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def ids_unique(cases: list[Case]) -> list[Case]:
    seen: set[str] = set()
    for case in cases:
        if case.id in seen:
            raise ValueError(f"duplicate case id {case.id}")
        seen.add(case.id)
    return cases


def model_case(
    *,
    id: str,
    category: str,
    endpoint: Endpoint,
    target: Target,
    body: bytes,
    statuses: frozenset[int] = BAD,
    names: str | None = None,
) -> Case:
    """A POST to a model endpoint: a ledger row whatever its fate; on a
    passthrough target the fake upstream refuses like the real API (the
    gateway may also refuse first: either way the client gets the 400)."""
    refused = target == "passthrough" and statuses == BAD
    return Case(
        id=id,
        category=category,
        path=PATHS[endpoint],
        statuses=statuses,
        body=body,
        names=names,
        ledger=True,
        refused_upstream=refused,
        target=target,
    )


# ---------------------------------------------------------------- type tables


@dataclass(frozen=True, slots=True)
class V:
    """A wrong value with its own id tag, or naming a deeper field."""

    value: Any
    tag: str | None = None
    names: str | None = None


Row = tuple[str, Sequence[Any], dict[str, Any]]  # path, wrong values, base overrides

UNKNOWN = "bogus_value"  # an enum value or type tag no API knows
PNG = "iVBORw0KGgo="  # the PNG signature, base64: an image part's data
