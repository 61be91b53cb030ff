"""Provider audit from the ledger: billing drift and silent degradation.

Plain synchronous peewee over ``ledger_entries``, the same on SQLite and
PostgreSQL (callers on the trio side run these in a worker thread); every
query is bounded by time and served by the ``created_at`` and
``(provider, created_at)`` indexes.

**Billing.** A request is *audited* when the upstream reported its usage
(not ``estimated``) and the gateway counted what it relayed (the
``counted_*`` columns, see ``call/usage.py``). The report is compared with
the count as the gateway can see it: input with its cache reads and writes
(the count covers the whole prompt), output without the reasoning the
upstream reports apart (which the gateway never sees).
:func:`~tokligence.ledger.row.audited_tokens` is that rule for one row (the
metrics use it); :func:`billing_audit` applies it in SQL. Drift is
``reported / counted - 1`` over a provider and model's audited requests;
beyond ``tolerance`` either way, the pair is flagged and its requests that
the upstream over-reported most are listed.

**Health.** Per provider and model and UTC hour: requests, errors (5xx, or
an upstream error kind after the answer began), timeouts, the mean time to
the first byte of a stream, and the output tokens per second of streams
(output tokens over the time from the first byte to the last). The latest
``window`` is compared with the ``baseline`` before it; a pair with enough
requests in both is flagged for each figure that worsened beyond its
threshold.

Groups refer to their columns by position, as in ``queries``.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta, timezone
from typing import Any

import peewee

from . import db as dbmod
from .models import LedgerEntry, from_stored, to_utc_naive
from .queries import as_int, count_where, model_key

# Billing: the estimator counts high (3 bytes a token), so an honest
# upstream's drift is about -10% to -30% (measured in docs/audit.md); a
# drift beyond this, either way, is flagged.
DEFAULT_TOLERANCE = 0.35
MAX_TOLERANCE = 100.0
REQUESTS_BEHIND = 10  # requests listed under a flagged pair
# Health: the figures of the window against its baseline.
DEFAULT_WINDOW = timedelta(hours=1)
DEFAULT_BASELINE = timedelta(hours=24)
DEFAULT_TTFB_INCREASE = 0.5  # time to first byte up by half
DEFAULT_TPS_DROP = 1 / 3  # output tokens per second down by a third
DEFAULT_ERROR_POINTS = 5.0  # error or timeout rate up by five percentage points
DEFAULT_MIN_REQUESTS = 20  # in the window and in the baseline, else no flag
# Error kinds that tell of the upstream (a 4xx the client caused does not).
UPSTREAM_ERROR_KINDS = ("api_error", "overloaded", "timeout", "unavailable")
FLAGS = ("ttfb_ms", "output_tokens_per_s", "error_rate", "timeout_rate")


# ------------------------------------------------------------------ billing


@dataclass(frozen=True, kw_only=True, slots=True)
class BilledRequest:
    request_id: str
    created_at: datetime
    reported_input_tokens: int
    counted_input_tokens: int
    reported_output_tokens: int
    counted_output_tokens: int


@dataclass(frozen=True, kw_only=True, slots=True)
class BillingEntry:
    provider: str
    model: str
    requests: int
    reported_input_tokens: int
    counted_input_tokens: int
    reported_output_tokens: int
    counted_output_tokens: int
    input_drift: float | None  # reported / counted - 1; None when nothing was counted
    output_drift: float | None
    flagged: bool
    requests_behind: tuple[BilledRequest, ...] = ()


@dataclass(frozen=True, kw_only=True, slots=True)
class BillingAudit:
    since: datetime | None
    until: datetime | None
    tolerance: float
    entries: tuple[BillingEntry, ...]

    @property
    def flagged(self) -> bool:
        return any(entry.flagged for entry in self.entries)


# SQL expressions (typed Any: peewee's operators are untyped).
def _reported_input() -> Any:
    e = LedgerEntry
    return e.input_tokens + e.cache_read_tokens + e.cache_write_tokens


def _reported_output() -> Any:
    return LedgerEntry.output_tokens - LedgerEntry.reasoning_tokens


def _model_is(model: str) -> Any:
    key: Any = model_key()
    return key == model


def _audited(
    since: datetime | None, until: datetime | None, provider: str | None
) -> list[peewee.Node]:
    """The rows :func:`~tokligence.ledger.row.audited_tokens` accepts."""
    e = LedgerEntry
    conditions: list[peewee.Node] = [
        e.provider != "",
        e.estimated == False,  # noqa: E712  (SQL, not Python)
        e.counted_input_tokens.is_null(False),
        e.counted_output_tokens.is_null(False),
    ]
    if since is not None:
        conditions.append(e.created_at >= to_utc_naive(since))
    if until is not None:
        conditions.append(e.created_at < to_utc_naive(until))
    if provider is not None:
        conditions.append(e.provider == provider)
    return conditions


def drift(reported: int, counted: int) -> float | None:
    return reported / counted - 1 if counted else None


def _beyond(value: float | None, tolerance: float) -> bool:
    return value is not None and abs(value) > tolerance


def billing_audit(
    db: peewee.Database,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    provider: str | None = None,
    model: str | None = None,
    tolerance: float = DEFAULT_TOLERANCE,
    top: int = REQUESTS_BEHIND,
) -> BillingAudit:
    """Reported against counted tokens per provider and model for
    ``since <= created_at < until`` (either optional), ordered by provider
    and model; a pair whose drift exceeds ``tolerance`` is flagged, with
    its ``top`` most over-reported requests."""
    if not 0 <= tolerance <= MAX_TOLERANCE:
        raise ValueError(f"tolerance must be between 0 and {MAX_TOLERANCE:g}")
    e = LedgerEntry
    query = e.select(
        e.provider,
        model_key(),
        peewee.fn.COUNT(e.id),
        peewee.fn.SUM(_reported_input()),
        peewee.fn.SUM(e.counted_input_tokens),
        peewee.fn.SUM(_reported_output()),
        peewee.fn.SUM(e.counted_output_tokens),
    ).where(*_audited(since, until, provider))
    if model is not None:
        query = query.where(_model_is(model))
    query = query.group_by(peewee.SQL("1"), peewee.SQL("2")).order_by(
        peewee.SQL("1"), peewee.SQL("2")
    )
    entries: list[BillingEntry] = []
    with dbmod.connection(db):
        for name, model_name, count, rin, cin, rout, cout in query.tuples().execute(db):
            entry = BillingEntry(
                provider=name,
                model=model_name,
                requests=as_int(count),
                reported_input_tokens=as_int(rin),
                counted_input_tokens=as_int(cin),
                reported_output_tokens=as_int(rout),
                counted_output_tokens=as_int(cout),
                input_drift=drift(as_int(rin), as_int(cin)),
                output_drift=drift(as_int(rout), as_int(cout)),
                flagged=False,
            )
            if _beyond(entry.input_drift, tolerance) or _beyond(entry.output_drift, tolerance):
                behind = _requests_behind(db, entry, since, until, top)
                entry = replace(entry, flagged=True, requests_behind=behind)
            entries.append(entry)
    return BillingAudit(since=since, until=until, tolerance=tolerance, entries=tuple(entries))


def _requests_behind(
    db: peewee.Database,
    entry: BillingEntry,
    since: datetime | None,
    until: datetime | None,
    top: int,
) -> tuple[BilledRequest, ...]:
    """The pair's requests whose report exceeds the count by most tokens
    (by least, when the pair under-reports)."""
    e = LedgerEntry
    excess = (
        _reported_input() + _reported_output() - e.counted_input_tokens - e.counted_output_tokens
    )
    over = (entry.input_drift or 0) + (entry.output_drift or 0) >= 0
    query = (
        e.select(
            e.request_id,
            e.created_at,
            _reported_input(),
            e.counted_input_tokens,
            _reported_output(),
            e.counted_output_tokens,
        )
        .where(*_audited(since, until, entry.provider), _model_is(entry.model))
        .order_by(excess.desc() if over else excess.asc(), e.id)
        .limit(top)
    )
    return tuple(
        BilledRequest(
            request_id=request_id,
            created_at=from_stored(created_at),
            reported_input_tokens=as_int(rin),
            counted_input_tokens=as_int(cin),
            reported_output_tokens=as_int(rout),
            counted_output_tokens=as_int(cout),
        )
        for request_id, created_at, rin, cin, rout, cout in query.tuples().execute(db)
    )


# ------------------------------------------------------------------- health


@dataclass(frozen=True, kw_only=True, slots=True)
class Figures:
    """What a provider and model did over a span of time, as raw sums."""

    requests: int = 0
    errors: int = 0
    timeouts: int = 0
    ttfb_sum_ms: float = 0.0
    ttfb_count: int = 0
    output_tokens: int = 0
    generation_ms: float = 0.0

    def __add__(self, other: Figures) -> Figures:
        return Figures(
            requests=self.requests + other.requests,
            errors=self.errors + other.errors,
            timeouts=self.timeouts + other.timeouts,
            ttfb_sum_ms=self.ttfb_sum_ms + other.ttfb_sum_ms,
            ttfb_count=self.ttfb_count + other.ttfb_count,
            output_tokens=self.output_tokens + other.output_tokens,
            generation_ms=self.generation_ms + other.generation_ms,
        )

    @property
    def ttfb_ms(self) -> float | None:
        return self.ttfb_sum_ms / self.ttfb_count if self.ttfb_count else None

    @property
    def output_tokens_per_s(self) -> float | None:
        return self.output_tokens / (self.generation_ms / 1000) if self.generation_ms > 0 else None

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def timeout_rate(self) -> float:
        return self.timeouts / self.requests if self.requests else 0.0


@dataclass(frozen=True, kw_only=True, slots=True)
class Thresholds:
    ttfb_increase: float = DEFAULT_TTFB_INCREASE  # fraction: 0.5 is +50%
    tps_drop: float = DEFAULT_TPS_DROP  # fraction: 1/3 is -33%
    error_points: float = DEFAULT_ERROR_POINTS  # percentage points
    min_requests: int = DEFAULT_MIN_REQUESTS

    def flags(self, window: Figures, baseline: Figures) -> tuple[str, ...]:
        """The figures of ``window`` that worsened beyond a threshold (names
        from :data:`FLAGS`); none unless both spans have enough requests."""
        if min(window.requests, baseline.requests) < max(self.min_requests, 1):
            return ()
        found = []
        now, before = window.ttfb_ms, baseline.ttfb_ms
        if now is not None and before is not None and now > before * (1 + self.ttfb_increase):
            found.append("ttfb_ms")
        now, before = window.output_tokens_per_s, baseline.output_tokens_per_s
        if now is not None and before is not None and now < before * (1 - self.tps_drop):
            found.append("output_tokens_per_s")
        points = self.error_points / 100
        if window.error_rate - baseline.error_rate > points:
            found.append("error_rate")
        if window.timeout_rate - baseline.timeout_rate > points:
            found.append("timeout_rate")
        return tuple(found)


@dataclass(frozen=True, kw_only=True, slots=True)
class Bucket:
    start: datetime  # the UTC hour
    figures: Figures


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthEntry:
    provider: str
    model: str
    buckets: tuple[Bucket, ...]
    window: Figures
    baseline: Figures
    flags: tuple[str, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthAudit:
    window_since: datetime
    until: datetime
    baseline_since: datetime
    thresholds: Thresholds
    entries: tuple[HealthEntry, ...]

    @property
    def flagged(self) -> bool:
        return any(entry.flags for entry in self.entries)


def _hour(value: Any) -> datetime:
    """A bucket's hour as the back-end returned it (SQLite: text)."""
    moment = value if isinstance(value, datetime) else datetime.fromisoformat(str(value))
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def provider_health(
    db: peewee.Database,
    *,
    until: datetime,
    window: timedelta = DEFAULT_WINDOW,
    baseline: timedelta = DEFAULT_BASELINE,
    thresholds: Thresholds | None = None,
) -> HealthAudit:
    """Hourly figures per provider and model over ``baseline`` then
    ``window`` (ending at ``until``), the two spans' totals and their flags."""
    if window <= timedelta(0) or baseline <= timedelta(0):
        raise ValueError("the window and the baseline must be longer than zero")
    thresholds = thresholds or Thresholds()
    window_since = until - window
    baseline_since = window_since - baseline
    e = LedgerEntry
    backend = dbmod.backend_of(db)
    ok_stream = (e.stream == True) & (e.status < 400) & e.error_kind.is_null()  # noqa: E712
    has_ttfb = ok_stream & e.ttfb_ms.is_null(False)
    generating = has_ttfb & (e.output_tokens > 0) & (e.latency_ms > e.ttfb_ms)
    error = (e.status >= 500) | e.error_kind.in_(UPSTREAM_ERROR_KINDS)
    in_window = peewee.Case(None, ((e.created_at >= to_utc_naive(window_since), 1),), 0)
    query = (
        e.select(
            e.provider,
            model_key(),
            backend.hour(e.created_at),
            in_window,
            peewee.fn.COUNT(e.id),
            count_where(error),
            count_where(e.error_kind == "timeout"),
            peewee.fn.SUM(peewee.Case(None, ((has_ttfb, e.ttfb_ms),), 0)),
            count_where(has_ttfb),
            peewee.fn.SUM(peewee.Case(None, ((generating, e.output_tokens),), 0)),
            peewee.fn.SUM(peewee.Case(None, ((generating, e.latency_ms - e.ttfb_ms),), 0)),
        )
        .where(
            e.provider != "",
            e.created_at >= to_utc_naive(baseline_since),
            e.created_at < to_utc_naive(until),
        )
        .group_by(*(peewee.SQL(str(i)) for i in range(1, 5)))
        .order_by(*(peewee.SQL(str(i)) for i in range(1, 4)))
    )
    with dbmod.connection(db):
        rows = list(query.tuples().execute(db))
    spans: dict[tuple[str, str], dict[str, Any]] = {}
    for name, model, hour, recent, count, errors, timeouts, tsum, tcount, tokens, gen in rows:
        figures = Figures(
            requests=as_int(count),
            errors=as_int(errors),
            timeouts=as_int(timeouts),
            ttfb_sum_ms=float(tsum or 0),
            ttfb_count=as_int(tcount),
            output_tokens=as_int(tokens),
            generation_ms=float(gen or 0),
        )
        span = spans.setdefault(
            (name, model), {"buckets": {}, "window": Figures(), "baseline": Figures()}
        )
        start = _hour(hour)
        span["buckets"][start] = span["buckets"].get(start, Figures()) + figures
        side = "window" if as_int(recent) else "baseline"
        span[side] = span[side] + figures
    entries = tuple(
        HealthEntry(
            provider=name,
            model=model,
            buckets=tuple(
                Bucket(start=start, figures=figures)
                for start, figures in sorted(span["buckets"].items())
            ),
            window=span["window"],
            baseline=span["baseline"],
            flags=thresholds.flags(span["window"], span["baseline"]),
        )
        for (name, model), span in sorted(spans.items())
    )
    return HealthAudit(
        window_since=window_since,
        until=until,
        baseline_since=baseline_since,
        thresholds=thresholds,
        entries=entries,
    )
