"""The endpoint table: every route the gateway serves, keyed as the original
gateway keys them for multi-port mode.

Each listener serves only the endpoint keys configured for it; a path that
exists under another key answers 404 on this listener, exactly as if it did
not exist, and a path served here with the wrong method answers 405 with
``Allow``.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal

from .errors import ClientError

EndpointKey = Literal[
    "openai_core", "openai_responses", "anthropic", "admin", "health", "metrics", "trade"
]
ENDPOINT_KEYS: tuple[EndpointKey, ...] = (
    "openai_core",
    "openai_responses",
    "anthropic",
    "admin",
    "health",
    "metrics",
    "trade",
)

Action = Literal[
    "admin",
    "console",
    "metrics",
    "chat",
    "embeddings",
    "models",
    "model_get",
    "responses",
    "responses_get",
    "responses_delete",
    "responses_input_items",
    "messages",
    "count_tokens",
    "health",
    "trade_offers",
    "trade_accounts",
    "trade_acks",
    "trade_statement",
    "trade_settlements",
]


@dataclass(frozen=True, kw_only=True, slots=True)
class Endpoint:
    method: str
    path: str  # exact, a prefix ending in "/", or with one "{id}" segment
    key: EndpointKey
    action: Action

    def matches_path(self, path: str) -> str | None:
        """None when the path does not match; the ``{id}`` value (or "") when
        it does; for a prefix (a path ending in "/"), the rest of the path."""
        if self.path.endswith("/"):
            return path[len(self.path) :] if path.startswith(self.path) else None
        if "{id}" in self.path:
            prefix, suffix = self.path.split("{id}")
            if not (path.startswith(prefix) and path.endswith(suffix)):
                return None
            rest = path[len(prefix) : len(path) - len(suffix)]
            return rest if rest and "/" not in rest else None
        return "" if path == self.path else None


ENDPOINTS: tuple[Endpoint, ...] = (
    Endpoint(method="POST", path="/v1/chat/completions", key="openai_core", action="chat"),
    Endpoint(method="POST", path="/v1/embeddings", key="openai_core", action="embeddings"),
    Endpoint(method="GET", path="/v1/models", key="openai_core", action="models"),
    # A prefix: model ids may hold '/' (provider/model, as routers name them).
    Endpoint(method="GET", path="/v1/models/", key="openai_core", action="model_get"),
    Endpoint(method="POST", path="/v1/responses", key="openai_responses", action="responses"),
    Endpoint(
        method="GET", path="/v1/responses/{id}", key="openai_responses", action="responses_get"
    ),
    Endpoint(
        method="DELETE",
        path="/v1/responses/{id}",
        key="openai_responses",
        action="responses_delete",
    ),
    Endpoint(
        method="GET",
        path="/v1/responses/{id}/input_items",
        key="openai_responses",
        action="responses_input_items",
    ),
    Endpoint(method="POST", path="/v1/messages", key="anthropic", action="messages"),
    Endpoint(method="POST", path="/anthropic/v1/messages", key="anthropic", action="messages"),
    Endpoint(
        method="POST", path="/v1/messages/count_tokens", key="anthropic", action="count_tokens"
    ),
    Endpoint(
        method="POST",
        path="/anthropic/v1/messages/count_tokens",
        key="anthropic",
        action="count_tokens",
    ),
    Endpoint(method="GET", path="/health", key="health", action="health"),
    # Trading (docs/trading.md): a seller's offers, accounts and the
    # acknowledgements of its receipts. Signed documents authenticate them.
    Endpoint(method="GET", path="/v1/trade/offers", key="trade", action="trade_offers"),
    Endpoint(method="POST", path="/v1/trade/accounts", key="trade", action="trade_accounts"),
    Endpoint(method="POST", path="/v1/trade/acks", key="trade", action="trade_acks"),
    # The seller's book: a buyer's statement, and settlements both sign.
    Endpoint(method="GET", path="/v1/trade/statement", key="trade", action="trade_statement"),
    Endpoint(method="POST", path="/v1/trade/settlements", key="trade", action="trade_settlements"),
    Endpoint(method="GET", path="/metrics", key="metrics", action="metrics"),
    # The admin API routes its own sub-paths and methods (404/405 inside).
    Endpoint(method="*", path="/api/v1/admin/", key="admin", action="admin"),
    # The web console's static files (no data: that comes from the admin API).
    Endpoint(method="GET", path="/console", key="admin", action="console"),
    Endpoint(method="GET", path="/console/", key="admin", action="console"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Match:
    endpoint: Endpoint
    path_id: str


class EndpointTable:
    def __init__(self, keys: Iterable[str]) -> None:
        wanted = set(keys)
        self.endpoints = tuple(e for e in ENDPOINTS if e.key in wanted)
        self.keys = frozenset(wanted)
        # Exact paths with their own method, answered by one lookup (every
        # model request is one of these); the rest go through the scan.
        self._exact = {
            (e.method, e.path): Match(endpoint=e, path_id="")
            for e in self.endpoints
            if e.method != "*" and not e.path.endswith("/") and "{id}" not in e.path
        }

    def match(self, method: str, path: str) -> Match:
        hit = self._exact.get((method, path))
        if hit is not None:
            return hit
        # Tolerate a trailing slash, a common client-side base-URL mistake.
        if len(path) > 1 and path.endswith("/") and not path.startswith("/api/v1/admin/"):
            path = path.rstrip("/")
        allowed: list[str] = []
        for endpoint in self.endpoints:
            path_id = endpoint.matches_path(path)
            if path_id is None:
                continue
            if endpoint.method in (method, "*") or (method == "HEAD" and endpoint.method == "GET"):
                return Match(endpoint=endpoint, path_id=path_id)
            allowed.append(endpoint.method)
        if allowed:
            allow = ", ".join(sorted(set(allowed)))
            raise ClientError(
                "method_not_allowed",
                f"method {method} is not allowed on {path}; allowed: {allow}",
                headers=(("allow", allow),),
            )
        raise ClientError("not_found", f"no such endpoint: {method} {path}", code="unknown_url")


def dialect_for_path(path: str) -> str:
    """Which client dialect's error envelope suits a path (even an unknown one)."""
    if path.startswith("/anthropic/") or path.startswith("/v1/messages"):
        return "anthropic_messages"
    if path.startswith("/v1/responses"):
        return "openai_responses"
    return "openai_chat"
