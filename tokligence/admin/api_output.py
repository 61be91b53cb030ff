"""Records -> the admin API's JSON, also what ``tokligence … --json`` prints (pure).

Money is a fixed-point decimal *string* (``"0.001250000000"``): JSON numbers become
binary floats in most clients, and a ledger that is exact in the database
should stay exact on the wire. Times are ISO 8601 UTC with ``Z``. A key is
its record without hash or plaintext (``KeyRecord`` carries neither) plus
its state at the time of the answer.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timezone
from decimal import Decimal
from typing import TYPE_CHECKING, Any

from ..identity.records import DeletedUser, KeyRecord, UserRecord
from ..ledger.row import row_fields
from .values import MONEY_PLACES

if TYPE_CHECKING:
    from ..ledger.audit import BillingAudit, Figures, HealthAudit
    from ..ledger.prices import PriceEntry
from ..ledger.queries import LedgerRecord, UsageSeries, UsageTotals

# Each grouping's key, named as the ledger names its column.
GROUP_FIELDS = {
    "day": "day",
    "model": "model",
    "user": "user_id",
    "key": "api_key_id",
    "provider": "provider",
}
# The ledger's cost places (ledger.models.COST_PLACES), kept by sums.
COST_QUANTUM = Decimal("1E-12")
PRICE_QUANTUM = Decimal(1).scaleb(-MONEY_PLACES)
COUNT_FIELDS = (
    "requests",
    "errors",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "estimated_requests",
    "unpriced_requests",
)


# The fields of a ledger entry, in entry_json's order (CSV columns).
ENTRY_FIELDS = (
    "id",
    "created_at",
    "request_id",
    "user_id",
    "api_key_id",
    "endpoint",
    "client_dialect",
    "provider",
    "requested_model",
    "upstream_model",
    "mode",
    "stream",
    "status",
    "error_kind",
    "input_tokens",
    "output_tokens",
    "cache_read_tokens",
    "cache_write_tokens",
    "reasoning_tokens",
    "estimated",
    "latency_ms",
    "ttfb_ms",
    "gateway_ms",
    "upstream_ms",
    "counted_input_tokens",
    "counted_output_tokens",
    "session_id",
    "cost_usd",
)


def iso(moment: datetime | None) -> str | None:
    if moment is None:
        return None
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def user_json(user: UserRecord) -> dict[str, Any]:
    return user.to_json()


def money(amount: Decimal) -> str:
    """Fixed-point text: ``str`` would write a zero of twelve places as ``0E-12``."""
    return format(amount, "f")


def key_json(key: KeyRecord, now: datetime) -> dict[str, Any]:
    body = key.to_json()
    limits = key.limits
    body["limits"] = {
        **body["limits"],
        "budget_daily_usd": _maybe_money(limits.budget_daily_usd),
        "budget_monthly_usd": _maybe_money(limits.budget_monthly_usd),
    }
    return {**body, "state": key.state(now)}


def _maybe_money(amount: Decimal | None) -> str | None:
    return None if amount is None else money(amount)


def deleted_json(deleted: DeletedUser, now: datetime) -> dict[str, Any]:
    """A deleted user, and how many of its keys worked until then (the others
    were already revoked or expired)."""
    usable = sum(1 for key in deleted.keys if key.state(now) == "active")
    return {"deleted": user_json(deleted.user), "revoked_keys": usable}


def _counts(row: UsageTotals) -> dict[str, Any]:
    return {name: getattr(row, name) for name in COUNT_FIELDS}


def usage_row_json(group_by: str, row: UsageTotals) -> dict[str, Any]:
    return {GROUP_FIELDS[group_by]: row.key, **_counts(row), "cost_usd": money(row.cost_usd)}


def usage_totals(rows: Sequence[UsageTotals]) -> dict[str, Any]:
    totals: dict[str, Any] = dict.fromkeys(COUNT_FIELDS, 0)
    cost = Decimal(0).quantize(COST_QUANTUM)
    for row in rows:
        for name in COUNT_FIELDS:
            totals[name] += getattr(row, name)
        cost += row.cost_usd
    totals["cost_usd"] = money(cost)
    return totals


def usage_json(
    group_by: str,
    rows: Sequence[UsageTotals],
    *,
    since: datetime | None,
    until: datetime | None,
) -> dict[str, Any]:
    return {
        "group_by": group_by,
        "since": iso(since),
        "until": iso(until),
        "rows": [usage_row_json(group_by, row) for row in rows],
        "totals": usage_totals(rows),
    }


def entry_json(entry: LedgerRecord) -> dict[str, Any]:
    return {
        "id": entry.id,
        **row_fields(entry.row),
        "created_at": iso(entry.row.created_at),
        "cost_usd": _maybe_money(entry.cost_usd),
    }


def _price(amount: Decimal) -> str:
    # Six places whether the entry was read back or is the one just added.
    return money(amount.quantize(PRICE_QUANTUM))


def price_json(price: PriceEntry) -> dict[str, Any]:
    return {
        "id": price.id,
        "model_pattern": price.model_pattern,
        "provider": price.provider,
        "input_per_mtok": _price(price.input_per_mtok),
        "output_per_mtok": _price(price.output_per_mtok),
        "cache_read_per_mtok": _price(price.cache_read_per_mtok),
        "cache_write_per_mtok": _price(price.cache_write_per_mtok),
        "effective_from": iso(price.effective_from),
        "source": price.source,
    }


# ------------------------------------------------------------------- audit

BILLING_FIELDS = (
    "provider",
    "model",
    "requests",
    "reported_input_tokens",
    "counted_input_tokens",
    "reported_output_tokens",
    "counted_output_tokens",
    "input_drift",
    "output_drift",
    "flagged",
)
BILLED_REQUEST_FIELDS = (
    "request_id",
    "created_at",
    "reported_input_tokens",
    "counted_input_tokens",
    "reported_output_tokens",
    "counted_output_tokens",
)


def billing_json(audit: BillingAudit) -> dict[str, Any]:
    return {
        "since": iso(audit.since),
        "until": iso(audit.until),
        "tolerance": audit.tolerance,
        "entries": [
            {
                **{name: getattr(entry, name) for name in BILLING_FIELDS},
                "requests_behind": [
                    {
                        **{name: getattr(request, name) for name in BILLED_REQUEST_FIELDS},
                        "created_at": iso(request.created_at),
                    }
                    for request in entry.requests_behind
                ],
            }
            for entry in audit.entries
        ],
    }


def figures_json(figures: Figures) -> dict[str, Any]:
    return {
        "requests": figures.requests,
        "errors": figures.errors,
        "timeouts": figures.timeouts,
        "ttfb_ms": figures.ttfb_ms,
        "output_tokens_per_s": figures.output_tokens_per_s,
    }


def health_json(audit: HealthAudit) -> dict[str, Any]:
    return {
        "window": {"since": iso(audit.window_since), "until": iso(audit.until)},
        "baseline": {"since": iso(audit.baseline_since), "until": iso(audit.window_since)},
        "entries": [
            {
                "provider": entry.provider,
                "model": entry.model,
                "buckets": [
                    {"start": iso(bucket.start), **figures_json(bucket.figures)}
                    for bucket in entry.buckets
                ],
                "window": figures_json(entry.window),
                "baseline": figures_json(entry.baseline),
                "flags": list(entry.flags),
            }
            for entry in audit.entries
        ],
    }


# Each series grouping's key, named as the ledger names its column.
SERIES_FIELDS = {"model": "model", "provider": "provider", "user": "user_id", "key": "api_key_id"}
SERIES_COUNTS = ("requests", "errors", "input_tokens", "output_tokens")


def series_json(result: UsageSeries, *, since: datetime, until: datetime) -> dict[str, Any]:
    """Buckets and one array per figure per series, in bucket order (the
    shape a chart draws from); ``other`` sums the keys past the top ones."""
    return {
        "bucket": result.bucket,
        "by": result.by,
        "since": iso(result.starts[0] if result.starts else since),
        "until": iso(until),
        "buckets": [iso(start) for start in result.starts],
        "series": [
            {
                "key": None if series.other else series.key,
                "other": series.other,
                **{name: [getattr(p, name) for p in series.points] for name in SERIES_COUNTS},
                "cost_usd": [money(p.cost_usd) for p in series.points],
            }
            for series in result.series
        ],
    }
