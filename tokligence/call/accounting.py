"""One ledger row per model request, whatever its fate (pure).

The pipeline fills an :class:`~tokligence.server.exchange.AccessRecord` as a
request goes through its stages; when the request is over, this turns the
record into the protocol-neutral :class:`~tokligence.ledger.row.LedgerRow`
the ledger writer stores. Requests that failed before reaching a provider
still get a row (mode "none", status and error kind kept, zero tokens), and
so do clients that went away (error "client_disconnect").
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from ..canonical import Usage
from ..ledger.row import MAX_TOKENS, MODES, LedgerRow, Mode
from ..wire.text import storable

if TYPE_CHECKING:
    from ..server.exchange import AccessRecord


def ledger_row(
    *,
    request_id: str,
    path: str,
    record: AccessRecord,
    finished_at: float,
    disconnected: bool,
    now: datetime | None = None,
) -> LedgerRow:
    usage = record.usage or Usage()
    mode: Mode = "none"
    if record.mode in MODES:
        mode = record.mode  # type: ignore[assignment]
    status = record.status if 100 <= record.status <= 599 else 499 if disconnected else 500
    error = record.error
    if disconnected and error is None:
        error = "client_disconnect"
    ttfb = (
        (record.first_byte_at - record.started_at) * 1000
        if record.first_byte_at is not None
        else None
    )
    return LedgerRow(
        created_at=now or datetime.now(timezone.utc),
        request_id=request_id,
        # What the client named is stored escaped where a database could
        # not hold it (a lone surrogate, NUL): the row is never lost for it.
        endpoint=storable(path),
        client_dialect=record.dialect or "",
        provider=record.provider or "",
        requested_model=storable(record.model or ""),
        upstream_model=storable(record.upstream_model or "") if record.provider else "",
        mode=mode,
        stream=record.stream,
        status=status,
        error_kind=error,
        user_id=record.user_id,
        api_key_id=record.api_key_id,
        input_tokens=_tokens(usage.input_tokens),
        output_tokens=_tokens(max(usage.output_tokens, usage.reasoning_tokens)),
        cache_read_tokens=_tokens(usage.cache_read_tokens),
        cache_write_tokens=_tokens(usage.cache_write_tokens),
        reasoning_tokens=_tokens(usage.reasoning_tokens),
        estimated=usage.estimated,
        latency_ms=max((finished_at - record.started_at) * 1000, 0.0),
        ttfb_ms=max(ttfb, 0.0) if ttfb is not None else None,
        gateway_ms=record.gateway_ms,
        upstream_ms=record.upstream_ms(),
        counted_input_tokens=record.counted_input_tokens,
        counted_output_tokens=record.counted_output_tokens,
        session_id=record.session_id,
    )


def _tokens(count: int) -> int:
    """A count an upstream reported, as a row can hold it: an upstream that
    claims more than 2**63 tokens (or fewer than none) is lying, and its
    claim must not cost the request its row."""
    return min(max(count, 0), MAX_TOKENS)
