"""Input values of the admin API and the management commands (pure).

Each parser takes what a person or a script typed — a query parameter, a
JSON scalar, a command-line argument — and returns the typed value, or
raises ``ValueError`` with a message that says what is wrong with it. The
caller names the field: the API as a 400's ``param``, the CLI as an
argparse error. Input is echoed back only cut short (:func:`shown`), never
whole.

Times: an ISO 8601 date (``2026-03-01``, midnight UTC) or date and time,
with ``Z`` or an offset; a time without one is taken as UTC, the zone every
stored timestamp and every reported day is in.
"""

from __future__ import annotations

import math
import re
from datetime import datetime, timedelta, timezone
from decimal import Decimal, InvalidOperation
from typing import Any, Literal, TypeAlias, get_args

# As ledger.queries.GroupBy (which this pure module cannot import).
GroupBy: TypeAlias = Literal["day", "model", "user", "key", "provider"]
GROUP_BY: tuple[GroupBy, ...] = get_args(GroupBy)
MAX_RECENT = 10_000  # as ledger.queries allows
# As ledger.queries' time series allow.
SERIES_BUCKETS = ("hour", "day")
SERIES_BY = ("model", "provider", "user", "key")

# Ids are BIGINT on both back-ends.
MAX_ID = 2**63 - 1
# rpm is an INTEGER column (32-bit on PostgreSQL), tpm a BIGINT.
MAX_RPM = 2**31 - 1
MAX_TPM = 2**63 - 1
# Prices and budgets are NUMERIC(18, 6): six decimals, twelve integer digits.
MONEY_PLACES = 6
MAX_MONEY = Decimal(10) ** 12
# A key that should outlive a century should simply not expire.
MAX_EXPIRY_DAYS = 36_525
# The audit's thresholds: the largest value each accepts (a fraction, or
# percentage points for error_points).
AUDIT_LIMITS = {
    "tolerance": 100.0,  # as ledger.audit.MAX_TOLERANCE
    "ttfb_increase": 100.0,
    "tps_drop": 1.0,
    "error_points": 100.0,
}
MAX_MIN_REQUESTS = 10**9
# Audit spans: a window or a baseline of up to a year.
MAX_DURATION = timedelta(days=366)
_DURATION = re.compile(r"\s*(\d{1,9})\s*([smhd])\s*")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
# Characters of a rejected value quoted back in an error message.
SHOWN_CHARS = 40


def shown(value: Any) -> str:
    """A rejected value as an error message may quote it: repr, cut short."""
    text = repr(value)
    return text if len(text) <= SHOWN_CHARS else text[: SHOWN_CHARS - 1] + "…"


def parse_id(text: str) -> int:
    """A positive integer id written in decimal digits."""
    value = text.strip()
    if not (value.isascii() and value.isdigit()) or not 1 <= int(value) <= MAX_ID:
        raise ValueError(f"must be a positive integer id, got {shown(text)}")
    return int(value)


def parse_time(text: str) -> datetime:
    """An aware UTC-normalised datetime from an ISO 8601 date or time."""
    value = text.strip()
    if value[-1:] in ("Z", "z"):
        value = value[:-1] + "+00:00"  # fromisoformat takes "Z" only from 3.11
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(
            f"must be an ISO 8601 date or time such as 2026-03-01 or "
            f"2026-03-01T12:00:00Z, got {shown(text)}"
        ) from None
    if moment.utcoffset() is None:
        moment = moment.replace(tzinfo=timezone.utc)
    return moment.astimezone(timezone.utc)


def parse_money(value: object) -> Decimal:
    """A non-negative USD amount with at most six decimals, from decimal
    text or a JSON number (whose shortest repr is the number as written)."""
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise ValueError(f"must be a decimal number or a string holding one, got {shown(value)}")
    try:
        amount = Decimal(value.strip() if isinstance(value, str) else repr(value))
    except InvalidOperation:
        raise ValueError(f"must be a decimal number, got {shown(value)}") from None
    if not amount.is_finite() or amount < 0:
        raise ValueError(f"must be a finite, non-negative amount, got {shown(value)}")
    if amount != amount.quantize(Decimal(1).scaleb(-MONEY_PLACES)):
        raise ValueError(f"has more than {MONEY_PLACES} decimals: {shown(value)}")
    if amount >= MAX_MONEY:
        raise ValueError(f"must be less than {MAX_MONEY}, got {shown(value)}")
    return amount


def parse_count(value: object, *, minimum: int, maximum: int) -> int:
    """An integer in [minimum, maximum], from a JSON integer or digit text."""
    number: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    elif isinstance(value, str) and value.strip().lstrip("-").isdigit() and value.isascii():
        number = int(value.strip())
    if number is None:
        raise ValueError(f"must be an integer, got {shown(value)}")
    if not minimum <= number <= maximum:
        raise ValueError(f"must be between {minimum} and {maximum}, got {number}")
    return number


def parse_duration(text: str) -> timedelta:
    """A span such as ``90m``, ``1h``, ``24h`` or ``7d`` (s, m, h, d)."""
    found = _DURATION.fullmatch(text)
    if found is None:
        raise ValueError(f"must be a duration such as 30m, 1h or 7d, got {shown(text)}")
    span = timedelta(**{_UNITS[found.group(2)]: int(found.group(1))})
    if not timedelta(0) < span <= MAX_DURATION:
        raise ValueError(f"must be longer than zero and at most {MAX_DURATION.days} days")
    return span


def parse_fraction(text: str, *, maximum: float) -> float:
    """A non-negative decimal number up to ``maximum`` (0.25 is 25%)."""
    try:
        value = float(text.strip())
    except ValueError:
        raise ValueError(f"must be a number such as 0.25, got {shown(text)}") from None
    if not math.isfinite(value) or not 0 <= value <= maximum:
        raise ValueError(f"must be between 0 and {maximum:g}, got {shown(text)}")
    return value
