"""Per-key limits: requests and tokens per minute, USD budgets per day and month.

Theory of operation
-------------------
:class:`KeyLimiter` holds the rules; the state they decide on is shared by
every gateway process through the identity database
(:mod:`~tokligence.identity.limit_store`): each limited key's admissions
and token counts of the last 60 seconds, and its spend per UTC day and
month. An admission reads that state and, if the rules admit it, records
itself in one transaction that every other admission of the key waits for,
so limits hold exactly however many processes serve the key. The clock is
injected, so every threshold is testable with a fake one.

Requests per minute are counted on admission: the window holds the
admission times of the last 60 s and a request is refused when it already
holds ``rpm`` of them. Tokens per minute are recorded after the call (their
count is only known then): a request is refused while the window already
holds ``tpm`` tokens or more. A timestamp ``t`` is in the window at time
``now`` while ``t > now - 60``, so with ``rpm=3`` the fourth request within
a minute is refused with ``retry_after = t_oldest + 60 - now`` and a request
made exactly then passes. Refused requests are not counted.

Budgets compare the spend of the current UTC day / month with the key's
budget and refuse once ``spent >= budget``, with ``retry_after`` running to
the next UTC midnight / first of the month. Each finished call adds its
cost to the shared spend rows at once; a period's row starts from the
ledger's sum for the key (the spend made before the row existed), read once
by the first process that needs it. Calls still running are not known yet:
a burst of concurrent calls may together pass a budget they each fit.
Unlimited keys touch none of this.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from functools import partial
from typing import Literal, Protocol

from .errors import GatewayError, PolicyRefusal

WINDOW_SECONDS = 60.0  # "per minute", sliding (limit_store.py keeps the same window)

Period = Literal["day", "month"]
SpentFn = Callable[[int, datetime], Awaitable[Decimal]]


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyLimits:
    """None means unlimited; 0 refuses every request."""

    rpm: int | None = None
    tpm: int | None = None
    budget_daily_usd: Decimal | None = None
    budget_monthly_usd: Decimal | None = None

    def __post_init__(self) -> None:
        for name in ("rpm", "tpm"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or value < 0):
                raise ValueError(f"{name} must be a non-negative integer or unlimited")
        for name in ("budget_daily_usd", "budget_monthly_usd"):
            value = getattr(self, name)
            if value is None:
                continue
            if not isinstance(value, Decimal) or not value.is_finite() or value < 0:
                raise ValueError(f"{name} must be a non-negative decimal or unlimited")

    @property
    def has_budget(self) -> bool:
        return self.budget_daily_usd is not None or self.budget_monthly_usd is not None

    @property
    def unlimited(self) -> bool:
        return self.rpm is None and self.tpm is None and not self.has_budget


UNLIMITED = KeyLimits()


class LimitedKey(Protocol):
    """What the limiter needs of a caller (``auth.Principal`` fits)."""

    @property
    def key_id(self) -> int: ...
    @property
    def key_prefix(self) -> str: ...
    @property
    def limits(self) -> KeyLimits: ...


def period_start(moment: datetime, period: Period) -> datetime:
    """Start of the UTC day or month containing ``moment`` (aware)."""
    utc = moment.astimezone(timezone.utc)
    day = utc.replace(hour=0, minute=0, second=0, microsecond=0)
    return day if period == "day" else day.replace(day=1)


def next_period(moment: datetime, period: Period) -> datetime:
    """Start of the UTC day or month after the one containing ``moment``."""
    start = period_start(moment, period)
    if period == "day":
        return start + timedelta(days=1)
    if start.month == 12:
        return start.replace(year=start.year + 1, month=1)
    return start.replace(month=start.month + 1)


def format_usd(amount: Decimal) -> str:
    """$5.00, $0.125: at least cents, more places only when they matter."""
    text = f"{amount:.2f}"
    if Decimal(text) != amount:
        text = format(amount.normalize(), "f")
    return "$" + text


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyWindow:
    """A key's last minute and its spend, as an admission sees them: sums,
    and the entries behind them read only to say when a refusal ends."""

    requests: int  # admissions in the window
    tokens: int  # tokens recorded in the window
    spent: dict[tuple[str, datetime], Decimal]  # (period, start) -> USD, seeded rows only
    request_times: Callable[[], Sequence[float]]  # admission times, oldest first
    token_entries: Callable[[], Sequence[tuple[float, int]]]  # (time, tokens), oldest first


class LimitStore(Protocol):
    """Where the limit state lives: shared by every process
    (identity/limit_store.py keeps it in the identity database)."""

    async def admit(
        self,
        key_id: int,
        now: float,
        periods: Sequence[tuple[str, datetime]],
        check: Callable[[KeyWindow], None],
        *,
        count_request: bool,
    ) -> None:
        """Atomically: read the key's window, ``check`` it (which raises to
        refuse), and count the admission if ``count_request``."""

    async def record(
        self,
        key_id: int,
        now: float,
        *,
        tokens: int,
        cost: Decimal | None,
        periods: Sequence[tuple[str, datetime]],
    ) -> None: ...

    async def seeded(self, key_id: int, period: str, start: datetime) -> bool: ...

    async def seed(self, key_id: int, period: str, start: datetime, amount: Decimal) -> None: ...


def wait_until_below(entries: Sequence[tuple[float, int]], limit: int, now: float) -> float:
    """Seconds until the amounts of ``entries`` (time, amount; oldest first,
    all in the window) sum below ``limit`` as the oldest leave the window."""
    remaining = sum(amount for _, amount in entries)
    for stamp, amount in entries:
        remaining -= amount
        if remaining < limit:
            return max(0.0, stamp + WINDOW_SECONDS - now)
    return WINDOW_SECONDS  # limit 0: never below; any wait is as good


def _periods(moment: datetime) -> list[tuple[Period, datetime]]:
    return [("day", period_start(moment, "day")), ("month", period_start(moment, "month"))]


class KeyLimiter:
    """Admits or refuses requests per key; see the module docstring."""

    def __init__(
        self,
        *,
        store: LimitStore,
        spent: SpentFn | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._store = store
        self._spent = spent
        self._clock = clock  # epoch seconds: periods are UTC calendar days

    async def admit(self, key: LimitedKey) -> None:
        """Count a request against ``key``'s limits or raise a 429
        ``GatewayError`` naming the limit, with ``retry_after``."""
        limits = key.limits
        if limits.unlimited:
            return
        now = self._clock()
        moment = datetime.fromtimestamp(now, timezone.utc)
        periods = _periods(moment) if limits.has_budget else []
        for period, start in periods:
            await self._seed(key.key_id, period, start)
        await self._store.admit(
            key.key_id,
            now,
            periods,
            partial(self._check, key, now, moment),
            count_request=limits.rpm is not None,
        )

    async def record(self, key: LimitedKey, *, tokens: int, cost_usd: Decimal | None) -> None:
        """What a finished call of ``key`` used (cost None: unpriced); only
        what the key is limited by is kept."""
        limits = key.limits
        if limits.unlimited:
            return
        now = self._clock()
        await self._store.record(
            key.key_id,
            now,
            tokens=tokens if limits.tpm is not None and tokens > 0 else 0,
            cost=cost_usd if limits.has_budget else None,
            periods=_periods(datetime.fromtimestamp(now, timezone.utc)),
        )

    async def _seed(self, key_id: int, period: Period, start: datetime) -> None:
        """The period's spend before the store knew it, from the ledger, once."""
        if await self._store.seeded(key_id, period, start):
            return
        if self._spent is None:
            raise RuntimeError("a key has a budget but the limiter has no spent() function")
        await self._store.seed(key_id, period, start, await self._spent(key_id, start))

    # ------------------------------------------------------------- checks

    @staticmethod
    def _check(key: LimitedKey, now: float, moment: datetime, window: KeyWindow) -> None:
        """The rules, applied to the key's shared window (raises to refuse)."""
        limits = key.limits
        if limits.rpm is not None and window.requests >= limits.rpm:
            times = [(at, 1) for at in window.request_times()]
            raise _refusal(
                f"requests per minute limit of {limits.rpm} reached for key {key.key_prefix}…",
                wait_until_below(times, limits.rpm, now),
                code="rate_limit_exceeded",
            )
        if limits.tpm is not None and window.tokens >= limits.tpm:
            raise _refusal(
                f"tokens per minute limit of {limits.tpm} reached for key "
                f"{key.key_prefix}… ({window.tokens} tokens in the last minute)",
                wait_until_below(window.token_entries(), limits.tpm, now),
                code="rate_limit_exceeded",
            )
        budgets: tuple[tuple[Period, Decimal | None], ...] = (
            ("day", limits.budget_daily_usd),
            ("month", limits.budget_monthly_usd),
        )
        for period, budget in budgets:
            if budget is None:
                continue
            spent = window.spent.get((period, period_start(moment, period)), Decimal(0))
            if spent >= budget:
                resets = next_period(moment, period)
                noun = "daily" if period == "day" else "monthly"
                raise _refusal(
                    f"{noun} budget of {format_usd(budget)} reached for key "
                    f"{key.key_prefix}… (spent {format_usd(spent)}); it resets at "
                    f"{resets:%Y-%m-%dT%H:%M:%SZ}",
                    (resets - moment).total_seconds(),
                    code="insufficient_quota",
                )


def _refusal(message: str, retry_after: float, *, code: str) -> GatewayError:
    return PolicyRefusal("rate_limit", message, code=code, retry_after=retry_after)
