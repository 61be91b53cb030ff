"""``GET /metrics``: the gateway's figures in the Prometheus text format.

Written here rather than taken from ``prometheus_client``: the gateway
needs counters, a few histograms and values read at scrape time, and the
exposition format for those is a page of code; the library would add a
dependency and its import to every start-up for what the gateway uses of it.
(The tests parse what this writes with the library's own parser.)

Theory of operation
-------------------
The request path does one thing: when a model request is over, the
gateway hands its ledger row to :meth:`GatewayMetrics.observe`, a handful
of dictionary updates. Everything else -- streams in flight, breakers, the
ledger writer's queue -- is read when Prometheus scrapes.

Label values are bounded: dialects, modes, status classes and providers
come from the gateway's own sets; a model name comes from the client, so
only the first :data:`MAX_MODELS` distinct names get a series of their own
and later ones are counted as ``model="other"``. No per-request id and no
key ever becomes a label.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal

from .ledger.row import LedgerRow, audited_tokens

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
MAX_MODELS = 200
OTHER = "other"
# Seconds: from a loopback answer (well under a millisecond) to a long
# generation (minutes).
LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0,
                   2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0)  # fmt: skip
# The gateway's own time: microseconds to milliseconds.
OVERHEAD_BUCKETS = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 1.0)  # fmt: skip
TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
# A refused request, by what refused it: the row's error kind, or the
# rate limiter's code (a rate limit and a spend budget are both 429s).
REFUSAL_KINDS = frozenset({"authentication", "permission", "rate_limit"})


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _labels(names: Sequence[str], values: Sequence[str], extra: str = "") -> str:
    pairs = [f'{n}="{_escape(v)}"' for n, v in zip(names, values, strict=True)]
    if extra:
        pairs.append(extra)
    return "{" + ",".join(pairs) + "}" if pairs else ""


def _number(value: float) -> str:
    if value == math.inf:
        return "+Inf"
    if float(value).is_integer():
        return str(int(value))
    return repr(float(value))


@dataclass
class Counter:
    name: str
    help: str
    labels: tuple[str, ...]
    values: dict[tuple[str, ...], float] = field(default_factory=dict)

    def add(self, key: tuple[str, ...], amount: float = 1.0) -> None:
        self.values[key] = self.values.get(key, 0.0) + amount

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} counter"
        for key, value in sorted(self.values.items()):
            yield f"{self.name}{_labels(self.labels, key)} {_number(value)}"


@dataclass
class Histogram:
    name: str
    help: str
    labels: tuple[str, ...]
    buckets: tuple[float, ...]
    # per label set: counts per bucket (not cumulative), then the sum
    series: dict[tuple[str, ...], tuple[list[int], list[float]]] = field(default_factory=dict)

    def observe(self, key: tuple[str, ...], value: float) -> None:
        found = self.series.get(key)
        if found is None:
            found = self.series[key] = ([0] * (len(self.buckets) + 1), [0.0])
        counts, total = found
        counts[bisect.bisect_left(self.buckets, value)] += 1
        total[0] += value

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} histogram"
        for key, (counts, total) in sorted(self.series.items()):
            running = 0
            for bound, count in zip((*self.buckets, math.inf), counts, strict=True):
                running += count
                le = f'le="{_number(bound)}"'
                yield f"{self.name}_bucket{_labels(self.labels, key, le)} {running}"
            yield f"{self.name}_sum{_labels(self.labels, key)} {_number(total[0])}"
            yield f"{self.name}_count{_labels(self.labels, key)} {running}"


@dataclass(frozen=True)
class Gauge:
    """A value read at scrape time: ``read`` returns (label values, value)
    pairs. ``type`` is "counter" for a total kept elsewhere (rows written)."""

    name: str
    help: str
    labels: tuple[str, ...]
    read: Callable[[], Iterable[tuple[tuple[str, ...], float]]]
    type: str = "gauge"

    def lines(self) -> Iterable[str]:
        yield f"# HELP {self.name} {self.help}"
        yield f"# TYPE {self.name} {self.type}"
        for key, value in sorted(self.read()):
            yield f"{self.name}{_labels(self.labels, key)} {_number(value)}"


_STATUS_CLASSES = {hundreds: f"{hundreds}xx" for hundreds in range(1, 6)}
# The sums kept per request shape, in order.
_SHAPE_SUMS = (
    "requests",
    *(f"{kind}_tokens" for kind in ("input", "output", "cache_read", "cache_write")),
    "cost_usd",
    "audited_requests",
    "reported_input",
    "counted_input",
    "reported_output",
    "counted_output",
)
_AUDITED = (
    ("input", "reported"),
    ("input", "counted"),
    ("output", "reported"),
    ("output", "counted"),
)


class GatewayMetrics:
    """The gateway's metric families; :meth:`observe` feeds them one request."""

    def __init__(self) -> None:
        self._models: set[str] = set()
        self._shapes: dict[tuple[str, ...], list[float]] = {}  # see observe()
        self.streams_in_flight = 0
        self.requests = Counter(
            "tokligence_requests_total",
            "Model requests by client dialect, provider, model, mode and status class.",
            ("dialect", "provider", "model", "mode", "status_class"),
        )
        self.tokens = Counter(
            "tokligence_tokens_total",
            "Tokens by provider, model and kind (input excludes cache reads and writes).",
            ("provider", "model", "kind"),
        )
        self.cost = Counter(
            "tokligence_cost_usd_total",
            "Cost in USD by provider and model, at the ledger's prices (priced requests only).",
            ("provider", "model"),
        )
        self.audited = Counter(
            "tokligence_audited_tokens_total",
            "Tokens of the requests the billing audit compares, by provider, model, kind "
            "(input, output) and source: reported by the upstream, or counted by the gateway.",
            ("provider", "model", "kind", "source"),
        )
        self.refusals = Counter(
            "tokligence_refusals_total",
            "Requests refused by the gateway's policy: authentication, permission, "
            "rate limits (rate_limit_exceeded) and budgets (insufficient_quota).",
            ("reason",),
        )
        self.attempts = Counter(
            "tokligence_upstream_attempts_total",
            "Attempts at an upstream, by outcome (ok, failed).",
            ("provider", "outcome"),
        )
        self.retries = Counter(
            "tokligence_upstream_retries_total",
            "Attempts that were retries of a failed attempt at the same upstream.",
            ("provider",),
        )
        self.fallbacks = Counter(
            "tokligence_upstream_fallbacks_total",
            "Requests that moved on from one upstream of their route to the next.",
            ("from_provider", "to_provider"),
        )
        self.latency = Histogram(
            "tokligence_request_duration_seconds",
            "Time from the request's arrival to its last byte.",
            ("dialect", "mode"),
            LATENCY_BUCKETS,
        )
        self.upstream_ttfb = Histogram(
            "tokligence_upstream_first_byte_seconds",
            "The upstream's time to its first byte (its head), over every attempt.",
            ("provider",),
            LATENCY_BUCKETS,
        )
        self.gateway_time = Histogram(
            "tokligence_gateway_added_seconds",
            "The gateway's own time before the response head (what Server-Timing reports).",
            ("mode",),
            OVERHEAD_BUCKETS,
        )
        self.gauges: list[Gauge] = [
            Gauge(
                "tokligence_streams_in_flight",
                "Streamed answers being relayed now.",
                (),
                lambda: [((), self.streams_in_flight)],
            )
        ]

    def add_gauge(self, gauge: Gauge) -> None:
        self.gauges.append(gauge)

    def _admit_model(self, name: str) -> str:
        """A model name not seen yet: its own series while there is room."""
        if len(self._models) < MAX_MODELS:
            self._models.add(name)
            return name
        return OTHER

    def observe(
        self,
        row: LedgerRow,
        cost: Decimal | None,
        *,
        upstream_ttfb_ms: float | None,
        refusal: str | None,
    ) -> None:
        """One finished model request (its ledger row). Every request adds
        to one row of sums for its shape (dialect, provider, model, mode,
        status class); the request, token, cost and audit families are
        summed from those rows at scrape time. (Measured: a third of the
        time of updating each family per request.)"""
        model = row.model
        if model not in self._models:
            model = self._admit_model(model)
        provider, mode, dialect = row.provider or "none", row.mode, row.client_dialect or "unknown"
        shape = (dialect, provider, model, mode, _STATUS_CLASSES.get(row.status // 100, "other"))
        sums = self._shapes.get(shape)
        if sums is None:
            sums = self._shapes[shape] = [0.0] * len(_SHAPE_SUMS)
        sums[0] += 1
        sums[1] += row.input_tokens
        sums[2] += row.output_tokens
        sums[3] += row.cache_read_tokens
        sums[4] += row.cache_write_tokens
        if cost:
            sums[5] += float(cost)
        audited = audited_tokens(row)
        if audited is not None:
            sums[6] += 1
            sums[7] += audited[0]
            sums[8] += audited[1]
            sums[9] += audited[2]
            sums[10] += audited[3]
        self.latency.observe((dialect, mode), row.latency_ms / 1000)
        if row.gateway_ms is not None:
            self.gateway_time.observe((mode,), row.gateway_ms / 1000)
        if upstream_ttfb_ms is not None and row.provider:
            self.upstream_ttfb.observe((provider,), upstream_ttfb_ms / 1000)
        if row.error_kind in REFUSAL_KINDS:
            self.refusals.add((refusal or row.error_kind or "",))

    def _sum_shapes(self) -> None:
        """Fill the request, token, cost and audit families from the sums."""
        requests: dict[tuple[str, ...], float] = {}
        tokens: dict[tuple[str, ...], float] = {}
        costs: dict[tuple[str, ...], float] = {}
        audited: dict[tuple[str, ...], float] = {}
        for shape, sums in self._shapes.items():
            provider, model = shape[1], shape[2]
            requests[shape] = sums[0]
            for index, kind in enumerate(TOKEN_KINDS, start=1):
                if sums[index]:
                    key = (provider, model, kind)
                    tokens[key] = tokens.get(key, 0.0) + sums[index]
            if sums[5]:
                costs[(provider, model)] = costs.get((provider, model), 0.0) + sums[5]
            if sums[6]:
                for index, (kind, source) in enumerate(_AUDITED, start=7):
                    labels = (provider, model, kind, source)
                    audited[labels] = audited.get(labels, 0.0) + sums[index]
        self.requests.values = requests
        self.tokens.values = tokens
        self.cost.values = costs
        self.audited.values = audited

    def attempt(self, provider: str, *, ok: bool, retry: bool) -> None:
        self.attempts.add((provider, "ok" if ok else "failed"))
        if retry:
            self.retries.add((provider,))

    def fallback(self, from_provider: str, to_provider: str) -> None:
        self.fallbacks.add((from_provider, to_provider))

    def exposition(self) -> bytes:
        self._sum_shapes()
        families: list[Counter | Histogram | Gauge] = [
            self.requests,
            self.tokens,
            self.cost,
            self.audited,
            self.refusals,
            self.attempts,
            self.retries,
            self.fallbacks,
            self.latency,
            self.upstream_ttfb,
            self.gateway_time,
            *self.gauges,
        ]
        lines = [line for family in families for line in family.lines()]
        return ("\n".join(lines) + "\n").encode()


def labelled(values: Mapping[str, float]) -> list[tuple[tuple[str, ...], float]]:
    """A gauge reading from a name -> value mapping (one label)."""
    return [((name,), value) for name, value in values.items()]
