"""Admin API request bodies and query strings -> frozen requests (pure).

Bodies are JSON objects whose every field is checked: a wrong type, a bad
value or a field this API does not know is a 400 naming the field, so a
typo such as ``displayName`` fails loudly instead of changing nothing.
``null`` is the same as leaving a field out.

Query strings are split on ``&`` and ``=`` and percent-decoded *without*
turning ``+`` into a space: ``since=2026-03-01T12:00:00+02:00`` is common
and means the offset (``+`` as space is HTML form encoding, not URLs).
Unknown and repeated parameters are 400s too; an empty value is absent.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any, TypeVar
from urllib.parse import unquote

from ..auth import DEFAULT_SCOPES
from ..errors import invalid
from ..limits import UNLIMITED, KeyLimits
from ..wire.json_body import load_object
from .values import (
    AUDIT_LIMITS,
    GROUP_BY,
    MAX_EXPIRY_DAYS,
    MAX_MIN_REQUESTS,
    MAX_RECENT,
    MAX_RPM,
    MAX_TPM,
    SERIES_BUCKETS,
    SERIES_BY,
    GroupBy,
    parse_count,
    parse_duration,
    parse_fraction,
    parse_id,
    parse_money,
    parse_time,
    shown,
)

T = TypeVar("T")

DEFAULT_RECENT = 50
# Longest model pattern or provider name accepted for a price.
MAX_PATTERN_LENGTH = 200


@dataclass(frozen=True, kw_only=True, slots=True)
class NewUser:
    email: str
    display_name: str = ""
    role: str = "gateway_user"


@dataclass(frozen=True, kw_only=True, slots=True)
class UserChanges:
    email: str | None = None
    display_name: str | None = None
    role: str | None = None
    status: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class NewKey:
    name: str = ""
    scopes: tuple[str, ...] | str = DEFAULT_SCOPES
    expires_at: datetime | None = None
    expires_in_days: int | None = None  # resolved against the clock by the API
    limits: KeyLimits = UNLIMITED


@dataclass(frozen=True, kw_only=True, slots=True)
class NewPrice:
    model_pattern: str
    provider: str = "*"
    input_per_mtok: Decimal
    output_per_mtok: Decimal
    cache_read_per_mtok: Decimal = Decimal(0)
    cache_write_per_mtok: Decimal = Decimal(0)
    effective_from: datetime | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class UsageQuery:
    group_by: GroupBy = "day"
    since: datetime | None = None
    until: datetime | None = None
    user_id: int | None = None
    api_key_id: int | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RecentQuery:
    limit: int = DEFAULT_RECENT
    user_id: int | None = None
    api_key_id: int | None = None
    before_id: int | None = None  # the next page after this entry


@dataclass(frozen=True, kw_only=True, slots=True)
class SeriesQuery:
    bucket: str
    by: str
    since: datetime | None  # None: DEFAULT_SPANS[bucket] before ``until``
    until: datetime | None  # None: now


# The span of a series when no 'since' is given: a day of hours, a month of days.
DEFAULT_SPANS = {"hour": timedelta(hours=24), "day": timedelta(days=30)}


@dataclass(frozen=True, kw_only=True, slots=True)
class BillingQuery:
    since: datetime | None = None
    until: datetime | None = None
    provider: str | None = None
    model: str | None = None
    tolerance: float | None = None  # None: the ledger's default


@dataclass(frozen=True, kw_only=True, slots=True)
class HealthQuery:
    until: datetime | None = None  # None: now
    window: timedelta | None = None
    baseline: timedelta | None = None
    ttfb_increase: float | None = None
    tps_drop: float | None = None
    error_points: float | None = None
    min_requests: int | None = None


# ------------------------------------------------------------------ helpers


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    names = {bool: "a boolean", str: "a string", int: "an integer", float: "a number"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "an array" if isinstance(value, list) else "an object"


def _only(body: Mapping[str, Any], allowed: tuple[str, ...], path: str = "") -> None:
    for name in body:
        if name not in allowed:
            where = f"{path}.{name}" if path else name
            raise invalid(f"unknown field '{where}'; accepted: {', '.join(allowed)}", param=where)


def _text(body: Mapping[str, Any], name: str) -> str | None:
    value = body.get(name)
    if value is None:
        return None
    if not isinstance(value, str):
        raise invalid(f"'{name}' must be a string, not {_describe(value)}", param=name)
    return value


def _parsed(body: Mapping[str, Any], name: str, parse: Callable[[Any], T]) -> T | None:
    value = body.get(name)
    if value is None:
        return None
    try:
        return parse(value)
    except ValueError as error:
        raise invalid(f"'{name}' {error}", param=name) from None


def _string_time(value: Any) -> datetime:
    if not isinstance(value, str):
        raise ValueError(f"must be a string holding an ISO 8601 time, not {_describe(value)}")
    return parse_time(value)


def _object(body: bytes, *, allow_empty: bool = False) -> dict[str, Any]:
    if allow_empty and not body.strip():
        return {}
    return load_object(body)


# ------------------------------------------------------------------- bodies


def new_user(body: bytes) -> NewUser:
    data = _object(body)
    _only(data, ("email", "display_name", "role"))
    email = _text(data, "email")
    if email is None:
        raise invalid("'email' is required", param="email")
    return NewUser(
        email=email,
        display_name=_text(data, "display_name") or "",
        role=_text(data, "role") or "gateway_user",
    )


# The most micro-USD a credit limit may be (the trading store's bound).
MAX_CREDIT = 2**62


def credit_limit(body: bytes) -> int:
    """A trading account's new credit limit: ``{"credit_limit_micro_usd": N}``."""
    data = _object(body)
    _only(data, ("credit_limit_micro_usd",))
    value = data.get("credit_limit_micro_usd")
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_CREDIT:
        raise invalid(
            f"'credit_limit_micro_usd' must be a whole number from 0 to {MAX_CREDIT}",
            param="credit_limit_micro_usd",
        )
    return value


def user_changes(body: bytes) -> UserChanges:
    data = _object(body)
    _only(data, ("email", "display_name", "role", "status"))
    return UserChanges(
        email=_text(data, "email"),
        display_name=_text(data, "display_name"),
        role=_text(data, "role"),
        status=_text(data, "status"),
    )


IMPORT_FIELDS = ("email", "display_name", "role", "status")


def import_rows(body: bytes) -> list[dict[str, Any]]:
    """``{"users": [...]}`` or the bare array; each row an object of
    :data:`IMPORT_FIELDS` (the store checks their values, naming the row)."""
    if body.lstrip()[:1] == b"[":
        try:
            rows = json.loads(body)
        except (UnicodeDecodeError, json.JSONDecodeError):
            raise invalid("request body is not valid JSON") from None
        path = ""
    else:
        data = load_object(body)
        _only(data, ("users",))
        rows = data.get("users")
        if rows is None:
            raise invalid("'users' is required: an array of user objects", param="users")
        path = "users"
    if not isinstance(rows, list):
        raise invalid(f"'{path}' must be an array, not {_describe(rows)}", param=path)
    for index, row in enumerate(rows):
        where = f"{path}[{index}]" if path else f"[{index}]"
        if not isinstance(row, dict):
            raise invalid(f"'{where}' must be an object, not {_describe(row)}", param=where)
        _only(row, IMPORT_FIELDS, where)
    return rows


def _scopes(value: Any) -> tuple[str, ...] | str:
    if isinstance(value, str):
        return value
    if isinstance(value, list) and all(isinstance(item, str) for item in value):
        return tuple(value)
    raise ValueError(f'must be an array of strings such as ["model"], got {shown(value)}')


def _limit(maximum: int) -> Callable[[Any], int]:
    def parse(value: Any) -> int:
        if isinstance(value, str):
            raise ValueError(f"must be an integer, not a string ({shown(value)})")
        return parse_count(value, minimum=0, maximum=maximum)

    return parse


def new_key(body: bytes) -> NewKey:
    data = _object(body, allow_empty=True)
    _only(
        data,
        (
            "name",
            "scopes",
            "expires_at",
            "expires_in_days",
            "rpm",
            "tpm",
            "budget_daily_usd",
            "budget_monthly_usd",
        ),
    )
    expires_at = _parsed(data, "expires_at", _string_time)
    days = _parsed(data, "expires_in_days", _limit(MAX_EXPIRY_DAYS))
    if expires_at is not None and days is not None:
        raise invalid("give 'expires_at' or 'expires_in_days', not both", param="expires_in_days")
    if days == 0:
        raise invalid("'expires_in_days' must be at least 1", param="expires_in_days")
    limits = KeyLimits(
        rpm=_parsed(data, "rpm", _limit(MAX_RPM)),
        tpm=_parsed(data, "tpm", _limit(MAX_TPM)),
        budget_daily_usd=_parsed(data, "budget_daily_usd", parse_money),
        budget_monthly_usd=_parsed(data, "budget_monthly_usd", parse_money),
    )
    scopes = _parsed(data, "scopes", _scopes)
    return NewKey(
        name=_text(data, "name") or "",
        scopes=DEFAULT_SCOPES if scopes is None else scopes,
        expires_at=expires_at,
        expires_in_days=days,
        limits=limits,
    )


def _pattern(body: Mapping[str, Any], name: str) -> str | None:
    value = _text(body, name)
    if value is None:
        return None
    value = value.strip()
    if not value or len(value) > MAX_PATTERN_LENGTH:
        raise invalid(f"'{name}' must be 1 to {MAX_PATTERN_LENGTH} characters", param=name)
    return value


def new_price(body: bytes) -> NewPrice:
    data = _object(body)
    _only(
        data,
        (
            "model_pattern",
            "provider",
            "input_per_mtok",
            "output_per_mtok",
            "cache_read_per_mtok",
            "cache_write_per_mtok",
            "effective_from",
        ),
    )
    pattern = _pattern(data, "model_pattern")
    if pattern is None:
        raise invalid("'model_pattern' is required", param="model_pattern")
    prices: dict[str, Decimal] = {}
    for name in ("input_per_mtok", "output_per_mtok"):
        price = _parsed(data, name, parse_money)
        if price is None:
            raise invalid(f"'{name}' is required (USD per million tokens)", param=name)
        prices[name] = price
    return NewPrice(
        model_pattern=pattern,
        provider=_pattern(data, "provider") or "*",
        input_per_mtok=prices["input_per_mtok"],
        output_per_mtok=prices["output_per_mtok"],
        cache_read_per_mtok=_parsed(data, "cache_read_per_mtok", parse_money) or Decimal(0),
        cache_write_per_mtok=_parsed(data, "cache_write_per_mtok", parse_money) or Decimal(0),
        effective_from=_parsed(data, "effective_from", _string_time),
    )


# ------------------------------------------------------------------- queries


def parse_query(query: str, allowed: tuple[str, ...]) -> dict[str, str]:
    """The non-empty parameters of a query string (see the module doc)."""
    params: dict[str, str] = {}
    for part in query.split("&"):
        if not part:
            continue
        raw_name, _, raw_value = part.partition("=")
        name, value = unquote(raw_name), unquote(raw_value)
        if name not in allowed:
            accepted = ", ".join(allowed) if allowed else "none"
            raise invalid(
                f"unknown query parameter {shown(name)}; accepted: {accepted}", param=name
            )
        if name in params:
            raise invalid(f"query parameter '{name}' is given twice", param=name)
        if value.strip():
            params[name] = value
    return params


def _query_value(params: Mapping[str, str], name: str, parse: Callable[[str], T]) -> T | None:
    if name not in params:
        return None
    try:
        return parse(params[name])
    except ValueError as error:
        raise invalid(f"'{name}' {error}", param=name) from None


def usage_query(query: str) -> UsageQuery:
    params = parse_query(query, ("group_by", "since", "until", "user_id", "api_key_id"))
    wanted = params.get("group_by", "day").strip().lower()
    for group_by in GROUP_BY:
        if group_by == wanted:
            break
    else:
        raise invalid(
            f"'group_by' must be one of {', '.join(GROUP_BY)}, got {shown(params['group_by'])}",
            param="group_by",
        )
    since = _query_value(params, "since", parse_time)
    until = _query_value(params, "until", parse_time)
    if since is not None and until is not None and until <= since:
        raise invalid("'until' must be later than 'since'", param="until")
    return UsageQuery(
        group_by=group_by,
        since=since,
        until=until,
        user_id=_query_value(params, "user_id", parse_id),
        api_key_id=_query_value(params, "api_key_id", parse_id),
    )


def recent_query(query: str) -> RecentQuery:
    params = parse_query(query, ("limit", "user_id", "api_key_id", "before_id"))

    def limit(text: str) -> int:
        return parse_count(text, minimum=1, maximum=MAX_RECENT)

    return RecentQuery(
        limit=_query_value(params, "limit", limit) or DEFAULT_RECENT,
        user_id=_query_value(params, "user_id", parse_id),
        api_key_id=_query_value(params, "api_key_id", parse_id),
        before_id=_query_value(params, "before_id", parse_id),
    )


def _choice(params: Mapping[str, str], name: str, choices: tuple[str, ...], default: str) -> str:
    wanted = params.get(name, default).strip().lower()
    if wanted not in choices:
        raise invalid(
            f"'{name}' must be one of {', '.join(choices)}, got {shown(params[name])}", param=name
        )
    return wanted


def series_query(query: str) -> SeriesQuery:
    """``bucket`` (hour or day, default day), ``by`` (model, provider, user
    or key, default model), ``since`` and ``until``."""
    params = parse_query(query, ("bucket", "by", "since", "until"))
    since = _query_value(params, "since", parse_time)
    until = _query_value(params, "until", parse_time)
    if since is not None and until is not None and until <= since:
        raise invalid("'until' must be later than 'since'", param="until")
    return SeriesQuery(
        bucket=_choice(params, "bucket", SERIES_BUCKETS, "day"),
        by=_choice(params, "by", SERIES_BY, "model"),
        since=since,
        until=until,
    )


def prices_query(query: str) -> datetime | None:
    """``at``: only the prices in force then (default: the whole history)."""
    return _query_value(parse_query(query, ("at",)), "at", parse_time)


def keys_query(query: str) -> int | None:
    """``user_id``: only that user's keys."""
    return _query_value(parse_query(query, ("user_id",)), "user_id", parse_id)


def _fraction(name: str) -> Callable[[str], float]:
    def parse(text: str) -> float:
        return parse_fraction(text, maximum=AUDIT_LIMITS[name])

    return parse


def billing_query(query: str) -> BillingQuery:
    params = parse_query(query, ("since", "until", "provider", "model", "tolerance"))
    since = _query_value(params, "since", parse_time)
    until = _query_value(params, "until", parse_time)
    if since is not None and until is not None and until <= since:
        raise invalid("'until' must be later than 'since'", param="until")
    return BillingQuery(
        since=since,
        until=until,
        provider=params.get("provider"),
        model=params.get("model"),
        tolerance=_query_value(params, "tolerance", _fraction("tolerance")),
    )


def health_query(query: str) -> HealthQuery:
    names = ("until", "window", "baseline", *AUDIT_LIMITS, "min_requests")
    params = parse_query(query, tuple(name for name in names if name != "tolerance"))

    def count(text: str) -> int:
        return parse_count(text, minimum=0, maximum=MAX_MIN_REQUESTS)

    return HealthQuery(
        until=_query_value(params, "until", parse_time),
        window=_query_value(params, "window", parse_duration),
        baseline=_query_value(params, "baseline", parse_duration),
        ttfb_increase=_query_value(params, "ttfb_increase", _fraction("ttfb_increase")),
        tps_drop=_query_value(params, "tps_drop", _fraction("tps_drop")),
        error_points=_query_value(params, "error_points", _fraction("error_points")),
        min_requests=_query_value(params, "min_requests", count),
    )
