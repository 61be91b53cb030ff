"""LedgerRow validates on construction; the row module stays pure."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tests.test_purity import FORBIDDEN, PACKAGE, transitive_imports

from .rows import make_row


@pytest.mark.parametrize(
    ("overrides", "fragment"),
    [
        ({"created_at": datetime(2026, 1, 1)}, "timezone-aware"),
        ({"request_id": ""}, "request_id"),
        ({"mode": "relay"}, "mode must be one of native, passthrough, translation, none"),
        ({"status": 0}, "HTTP status"),
        ({"status": 600}, "HTTP status"),
        ({"input_tokens": -1}, "input_tokens must be between"),
        ({"cache_read_tokens": 2**63}, "cache_read_tokens must be between"),
        ({"output_tokens": 1.5}, "output_tokens must be an int"),
        ({"cache_write_tokens": True}, "cache_write_tokens must be an int"),
        ({"output_tokens": 3, "reasoning_tokens": 4}, "reasoning_tokens are part of output"),
        ({"latency_ms": -0.1}, "latencies"),
        ({"ttfb_ms": -2.0}, "latencies"),
    ],
)
def test_invalid_rows_are_refused(overrides: dict[str, Any], fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        make_row(**overrides)


def test_the_billed_model_falls_back_to_the_requested_one() -> None:
    assert make_row(upstream_model="gpt-4o-2024-08-06").model == "gpt-4o-2024-08-06"
    assert make_row(upstream_model="", mode="none", status=404).model == "gpt-4o-mini"


def test_any_utc_offset_is_accepted() -> None:
    tz = timezone(timedelta(hours=-7))
    row = make_row(created_at=datetime(2026, 1, 1, 5, tzinfo=tz))
    assert row.created_at == datetime(2026, 1, 1, 12, tzinfo=timezone.utc)


def test_the_row_module_imports_no_io_library() -> None:
    imports = transitive_imports(PACKAGE / "ledger" / "row.py")
    offending = {name for name in imports if name.split(".")[0] in FORBIDDEN}
    assert not offending
