"""What the pipeline submits to the ledger for every request (pure).

A :class:`LedgerRow` is the request's fate in protocol-neutral terms. It is
validated on construction, like h11's events, so a bad row fails in the
request that built it rather than later inside the writer's batch. Cost is
not a field: the writer computes it from the price in force at ``created_at``.

Token semantics follow ``canonical.Usage``: ``input_tokens`` excludes cache
reads and writes (each priced separately); ``output_tokens`` includes
``reasoning_tokens``, which only breaks them out.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias, get_args

Mode: TypeAlias = Literal["native", "passthrough", "translation", "none"]
MODES: tuple[str, ...] = get_args(Mode)

TOKEN_FIELDS = (
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
)
# BIGINT columns hold the counts on both back-ends.
MAX_TOKENS = 2**63 - 1
MAX_SESSION_ID = 128  # agents send UUIDs; anything longer is not kept


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerRow:
    created_at: datetime  # timezone-aware; stored as UTC
    request_id: str
    endpoint: str  # the client's path, e.g. "/v1/messages"
    client_dialect: str  # "openai_chat" | "openai_responses" | "anthropic_messages" | ...
    provider: str  # "" when the request failed before a provider was chosen
    requested_model: str
    upstream_model: str  # "" when no upstream was called
    mode: Mode  # "none" when the request never reached a target
    stream: bool
    status: int  # HTTP status the client saw
    error_kind: str | None = None  # an errors.ErrorKind value, None on success
    user_id: int | None = None
    api_key_id: int | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    estimated: bool = False
    latency_ms: float = 0.0
    ttfb_ms: float | None = None
    # The gateway's own share of the time to the response head, and the
    # upstream's time (every attempt); None when no upstream was called.
    gateway_ms: float | None = None
    upstream_ms: float | None = None
    # The gateway's own count of what it relayed, independent of the
    # upstream's report (the billing audit compares the two); None: not counted.
    counted_input_tokens: int | None = None
    counted_output_tokens: int | None = None
    session_id: str | None = None  # the agent session the request belongs to

    def __post_init__(self) -> None:
        offset = self.created_at.utcoffset()
        if offset is None:
            raise ValueError("LedgerRow.created_at must be timezone-aware")
        if not self.request_id:
            raise ValueError("LedgerRow.request_id must not be empty")
        if self.mode not in MODES:
            raise ValueError(f"LedgerRow.mode must be one of {', '.join(MODES)}")
        if not 100 <= self.status <= 599:
            raise ValueError("LedgerRow.status must be an HTTP status (100-599)")
        for name in TOKEN_FIELDS:
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"LedgerRow.{name} must be an int")
            if not 0 <= value <= MAX_TOKENS:
                raise ValueError(f"LedgerRow.{name} must be between 0 and {MAX_TOKENS}")
        if self.reasoning_tokens > self.output_tokens:
            raise ValueError("LedgerRow.reasoning_tokens are part of output_tokens")
        for name in ("ttfb_ms", "gateway_ms", "upstream_ms"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError("LedgerRow latencies must not be negative")
        if self.latency_ms < 0:
            raise ValueError("LedgerRow latencies must not be negative")
        for name in ("counted_input_tokens", "counted_output_tokens"):
            value = getattr(self, name)
            if value is not None and not 0 <= value <= MAX_TOKENS:
                raise ValueError(f"LedgerRow.{name} must be between 0 and {MAX_TOKENS}")
        if self.session_id is not None and len(self.session_id) > MAX_SESSION_ID:
            raise ValueError(f"LedgerRow.session_id is at most {MAX_SESSION_ID} characters")

    @property
    def model(self) -> str:
        """The model that was billed: the upstream's, else the requested one."""
        return self.upstream_model or self.requested_model


def audited_tokens(row: LedgerRow) -> tuple[int, int, int, int] | None:
    """(reported input, counted input, reported output, counted output) of a
    row the billing audit compares, else None: the upstream reported its
    usage and the gateway counted what it relayed. Reported input includes
    cache reads and writes (the count covers the whole prompt); reported
    output leaves out the reasoning reported apart, which the gateway never
    sees. ``ledger.audit`` applies the same rule in SQL."""
    counted_input, counted_output = row.counted_input_tokens, row.counted_output_tokens
    if row.estimated or not row.provider or counted_input is None or counted_output is None:
        return None
    reported_input = row.input_tokens + row.cache_read_tokens + row.cache_write_tokens
    reported_output = row.output_tokens - row.reasoning_tokens
    return reported_input, counted_input, reported_output, counted_output


ROW_FIELD_NAMES: tuple[str, ...] = tuple(f.name for f in dataclasses.fields(LedgerRow))


def row_fields(row: LedgerRow) -> dict[str, Any]:
    """``row``'s fields by name, in declaration order (the dataclass is the
    one place that lists them)."""
    return {name: getattr(row, name) for name in ROW_FIELD_NAMES}
