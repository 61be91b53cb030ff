"""Ledger rows shared by the admin API and CLI tests, and the price that
costs them: four requests over two UTC days whose totals the tests know."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any

from tokligence.ledger.row import LedgerRow

DAY1 = datetime(2026, 3, 1, 10, 0, tzinfo=timezone.utc)
TEST_PRICE = {
    "model_pattern": "test-model*",
    "input_per_mtok": 1,
    "output_per_mtok": "2",
    "cache_read_per_mtok": 0.5,
    "cache_write_per_mtok": "1.25",
    "effective_from": "2026-01-01T00:00:00Z",
}


def row(**fields: Any) -> LedgerRow:
    base: dict[str, Any] = {
        "created_at": DAY1,
        "request_id": "req",
        "endpoint": "/v1/chat/completions",
        "client_dialect": "openai_chat",
        "provider": "openai",
        "requested_model": "test-model",
        "upstream_model": "test-model",
        "mode": "passthrough",
        "stream": False,
        "status": 200,
        "latency_ms": 12.5,
    }
    return LedgerRow(**{**base, **fields})


ROWS = (
    # 1000*1 + 500*2 + 200*0.5 = 2100 micro-dollars
    row(
        request_id="r1",
        user_id=1,
        api_key_id=10,
        input_tokens=1000,
        output_tokens=500,
        cache_read_tokens=200,
        reasoning_tokens=100,
    ),
    # 3000*1 = 3000 micro-dollars, token counts estimated
    row(
        request_id="r2",
        created_at=DAY1.replace(hour=12),
        user_id=1,
        api_key_id=11,
        provider="anthropic",
        requested_model="alias",
        upstream_model="test-model-b",
        input_tokens=3000,
        estimated=True,
    ),
    # no price matches: not in the cost
    row(
        request_id="r3",
        created_at=datetime(2026, 3, 2, 1, 0, tzinfo=timezone.utc),
        user_id=2,
        api_key_id=12,
        requested_model="zzz-local-model",
        upstream_model="zzz-local-model",
        status=500,
        error_kind="api_error",
        input_tokens=10,
    ),
    # 1e6 * 2 = 2 dollars; made without a key
    row(
        request_id="r4",
        created_at=datetime(2026, 3, 2, 2, 0, tzinfo=timezone.utc),
        output_tokens=1_000_000,
        cache_write_tokens=0,
    ),
)
