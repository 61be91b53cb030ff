"""The provider audit's queries on both back-ends: billing drift against a
plain-Python reference (``audited_tokens``), and health figures, hourly
buckets and flags against a known trailing baseline."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.ledger.audit import Thresholds, billing_audit, drift, provider_health
from tokligence.ledger.models import ENTRY_COLUMNS, LedgerEntry, entry_values
from tokligence.ledger.row import LedgerRow, audited_tokens

from .rows import make_row

UTC = timezone.utc
NOW = datetime(2026, 3, 2, 12, 30, tzinfo=UTC)


def store(db: peewee.Database, rows: Sequence[LedgerRow]) -> None:
    values = [entry_values(row, None) for row in rows]
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        dbmod.insert_rows(db, LedgerEntry._meta.table_name, ENTRY_COLUMNS, values)


def billed(request_id: str, provider: str, factor: float, **fields: Any) -> LedgerRow:
    """A request of 1000 counted input and 200 counted output tokens whose
    upstream reported ``factor`` times as many."""
    base: dict[str, Any] = {
        "request_id": request_id,
        "created_at": NOW - timedelta(hours=1),
        "provider": provider,
        "requested_model": f"{provider}-model",
        "upstream_model": f"{provider}-model",
        "input_tokens": round(1000 * factor),
        "output_tokens": round(200 * factor),
        "counted_input_tokens": 1000,
        "counted_output_tokens": 200,
    }
    return make_row(**{**base, **fields})


BILLING_ROWS = [
    billed("h1", "honest", 0.8),
    # cache reads and writes are input; reasoning reported apart is not output
    billed(
        "h2",
        "honest",
        0.8,
        input_tokens=300,
        cache_read_tokens=400,
        cache_write_tokens=100,
        output_tokens=460,
        reasoning_tokens=300,
    ),
    billed("o1", "greedy", 3.0),
    billed("o2", "greedy", 2.0),
    billed("o3", "greedy", 4.0, counted_output_tokens=100),
    # not audited: estimated usage, no count, no provider
    billed("x1", "greedy", 50.0, estimated=True),
    billed("x2", "greedy", 50.0, counted_input_tokens=None, counted_output_tokens=None),
    billed("x3", "", 50.0, mode="none", status=404, error_kind="not_found"),
    # outside a period that ends before it
    billed("late", "greedy", 9.0, created_at=NOW + timedelta(hours=2)),
]


def reference(rows: Sequence[LedgerRow]) -> dict[tuple[str, str], list[int]]:
    sums: dict[tuple[str, str], list[int]] = {}
    for row in rows:
        figures = audited_tokens(row)
        if figures is not None:
            total = sums.setdefault((row.provider, row.model), [0, 0, 0, 0, 0])
            total[0] += 1
            for index, value in enumerate(figures, start=1):
                total[index] += value
    return sums


def test_billing_sums_agree_with_the_row_rule(ledger_db: peewee.Database) -> None:
    store(ledger_db, BILLING_ROWS)
    audit = billing_audit(ledger_db)
    found = {
        (e.provider, e.model): [
            e.requests,
            e.reported_input_tokens,
            e.counted_input_tokens,
            e.reported_output_tokens,
            e.counted_output_tokens,
        ]
        for e in audit.entries
    }
    assert found == reference(BILLING_ROWS)
    assert [e.provider for e in audit.entries] == ["greedy", "honest"]


def test_an_over_reporting_provider_is_flagged_with_its_requests(
    ledger_db: peewee.Database,
) -> None:
    store(ledger_db, BILLING_ROWS)
    audit = billing_audit(ledger_db, until=NOW)
    greedy, honest = audit.entries
    assert audit.flagged and audit.tolerance == 0.35 and audit.until == NOW
    assert not honest.flagged and honest.requests_behind == ()
    assert honest.input_drift == pytest.approx(-0.2)
    assert honest.output_drift == pytest.approx(-0.2)
    assert greedy.flagged and greedy.requests == 3
    assert greedy.input_drift == pytest.approx(9000 / 3000 - 1)
    assert greedy.output_drift == pytest.approx(drift(600 + 400 + 800, 500))
    # Most over-reported first: o3 (4x), o1 (3x), o2 (2x).
    assert [r.request_id for r in greedy.requests_behind] == ["o3", "o1", "o2"]
    first = greedy.requests_behind[0]
    assert (first.reported_input_tokens, first.counted_input_tokens) == (4000, 1000)
    assert (first.reported_output_tokens, first.counted_output_tokens) == (800, 100)
    assert first.created_at == NOW - timedelta(hours=1)


def test_billing_filters_and_tolerance(ledger_db: peewee.Database) -> None:
    store(ledger_db, BILLING_ROWS)
    assert [e.provider for e in billing_audit(ledger_db, provider="honest").entries] == ["honest"]
    only = billing_audit(ledger_db, model="greedy-model", since=NOW - timedelta(hours=1))
    assert [e.requests for e in only.entries] == [4]  # the late one too
    assert billing_audit(ledger_db, since=NOW + timedelta(days=1)).entries == ()
    lenient = billing_audit(ledger_db, until=NOW, tolerance=3.0)
    assert not lenient.flagged
    strict = billing_audit(ledger_db, until=NOW, tolerance=0.1)
    assert [e.flagged for e in strict.entries] == [True, True]
    assert [r.request_id for r in strict.entries[1].requests_behind][:1] == ["h1"]
    with pytest.raises(ValueError):
        billing_audit(ledger_db, tolerance=-1)


# ------------------------------------------------------------------- health


def served(minutes_ago: float, index: int, **fields: Any) -> LedgerRow:
    """A streamed request: 100 ms to the first byte, then 50 output tokens
    over 500 ms (100 tokens/s)."""
    base: dict[str, Any] = {
        "request_id": f"r{minutes_ago}-{index}",
        "created_at": NOW - timedelta(minutes=minutes_ago),
        "stream": True,
        "ttfb_ms": 100.0,
        "latency_ms": 600.0,
        "output_tokens": 50,
    }
    return make_row(**{**base, **fields})


def baseline_rows() -> list[LedgerRow]:
    # 30 requests in each of the three hours before the window, one timeout.
    rows = [served(60 + 60 * hour + 10, i) for hour in range(3) for i in range(30)]
    rows.append(served(100, 99, status=504, error_kind="timeout", ttfb_ms=None))
    return rows


@pytest.mark.parametrize(
    ("window_fields", "flags"),
    [
        ({}, ()),
        ({"ttfb_ms": 400.0, "latency_ms": 900.0}, ("ttfb_ms",)),
        ({"latency_ms": 2100.0}, ("output_tokens_per_s",)),
        ({"status": 502, "error_kind": "api_error"}, ("error_rate",)),
        ({"status": 504, "error_kind": "timeout"}, ("error_rate", "timeout_rate")),
        # the client's own errors and disconnects tell nothing of the upstream
        ({"status": 400, "error_kind": "invalid_request"}, ()),
    ],
)
def test_a_window_worse_than_its_baseline_is_flagged(
    ledger_db: peewee.Database, window_fields: dict[str, Any], flags: tuple[str, ...]
) -> None:
    window = [served(5, i) for i in range(20)]
    # a quarter of the window's requests are the degraded kind
    window += [served(6, i, **window_fields) for i in range(10)]
    store(ledger_db, [*baseline_rows(), *window])
    health = provider_health(ledger_db, until=NOW, baseline=timedelta(hours=3))
    (entry,) = health.entries
    assert entry.flags == flags
    assert health.flagged == bool(flags)
    assert entry.baseline.requests == 91 and entry.window.requests == 30
    assert entry.baseline.timeouts == entry.baseline.errors == 1
    assert entry.baseline.ttfb_ms == pytest.approx(100.0)
    assert entry.baseline.output_tokens_per_s == pytest.approx(100.0)


def test_health_buckets_are_utc_hours(ledger_db: peewee.Database) -> None:
    rows = [*baseline_rows(), *(served(5, i) for i in range(30))]
    rows.append(served(60 * 30, 0, provider="old"))  # before the baseline: not read
    store(ledger_db, rows)
    health = provider_health(ledger_db, until=NOW, baseline=timedelta(hours=3))
    assert health.window_since == NOW - timedelta(hours=1)
    assert health.baseline_since == NOW - timedelta(hours=4)
    (entry,) = health.entries
    starts = [bucket.start for bucket in entry.buckets]
    # The baseline's requests at 9:20, 10:20 (and the timeout at 10:50),
    # 11:20; the window's at 12:25.
    assert starts == [datetime(2026, 3, 2, hour, tzinfo=UTC) for hour in (9, 10, 11, 12)]
    assert [bucket.figures.requests for bucket in entry.buckets] == [30, 31, 30, 30]
    assert sum(b.figures.requests for b in entry.buckets) == (
        entry.window.requests + entry.baseline.requests
    )


def test_too_few_requests_flag_nothing(ledger_db: peewee.Database) -> None:
    window = [served(5, i, ttfb_ms=900.0, latency_ms=1400.0) for i in range(5)]
    store(ledger_db, [*baseline_rows(), *window])
    health = provider_health(ledger_db, until=NOW, baseline=timedelta(hours=3))
    assert health.entries[0].flags == ()
    lenient = Thresholds(min_requests=5)
    flagged = provider_health(ledger_db, until=NOW, baseline=timedelta(hours=3), thresholds=lenient)
    assert flagged.entries[0].flags == ("ttfb_ms",)
    with pytest.raises(ValueError):
        provider_health(ledger_db, until=NOW, window=timedelta(0))
