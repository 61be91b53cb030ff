"""Per-key limits: requests and tokens per minute, USD budgets per day and month.

Theory of operation
-------------------
:class:`KeyLimiter` keeps, per API key, two sliding 60-second windows and a
spend snapshot; it reads no clock and touches no database of its own — the
clock and the ledger query are injected, so every threshold is testable
with a fake clock. It imports no I/O library (``admit`` is a coroutine only
because it awaits the injected ledger query).

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
the next UTC midnight / first of the month. The spend is the ledger's sum
(``spent(key_id, since)``, re-read at most every ``spend_ttl`` seconds and
whenever a period rolls over) plus the cost this process recorded since
that read. The ledger writer commits a moment after a request ends, so
costs recorded up to ``settle`` seconds before a read are still added on top
of it: a cost may then count twice until the next read (refusing a little
early), never zero times (admitting beyond the budget).

Limits are per process: two gateway processes behind one balancer each
allow ``rpm`` requests; budgets are shared through the ledger, up to the
spend of the last ``spend_ttl`` seconds in the other process.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import Literal, Protocol

from .errors import GatewayError, PolicyRefusal

WINDOW_SECONDS = 60.0  # "per minute", sliding
# The ledger is re-read this often per budgeted key: a budget may be
# overrun by the spend another process makes in this long.
DEFAULT_SPEND_TTL = 5.0
# The ledger writer commits within its flush interval (50 ms) plus one
# commit; a cost recorded this long before a read may not be in it yet.
DEFAULT_SETTLE = 2.0

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


class _Window:
    """(time, amount) pairs of the last WINDOW_SECONDS, with their sum."""

    __slots__ = ("entries", "total")

    def __init__(self) -> None:
        self.entries: deque[tuple[float, int]] = deque()
        self.total = 0

    def prune(self, now: float) -> None:
        horizon = now - WINDOW_SECONDS
        while self.entries and self.entries[0][0] <= horizon:
            self.total -= self.entries.popleft()[1]

    def add(self, now: float, amount: int) -> None:
        self.entries.append((now, amount))
        self.total += amount

    def wait_until_below(self, limit: int, now: float) -> float:
        """Seconds until the sum drops below ``limit`` as old entries leave."""
        remaining = self.total
        for stamp, amount in self.entries:
            remaining -= amount
            if remaining < limit:
                return max(0.0, stamp + WINDOW_SECONDS - now)
        return WINDOW_SECONDS  # limit 0: never below; any wait is as good


@dataclass(slots=True)
class _Spend:
    read_started: float = float("-inf")
    day: datetime | None = None  # period starts the bases were read for
    month: datetime | None = None
    day_base: Decimal = Decimal(0)
    month_base: Decimal = Decimal(0)
    recent: deque[tuple[float, Decimal]] = field(default_factory=deque)


@dataclass(slots=True)
class _KeyState:
    limits: KeyLimits  # as of the latest admission: what record() must keep
    requests: _Window = field(default_factory=_Window)
    tokens: _Window = field(default_factory=_Window)
    spend: _Spend = field(default_factory=_Spend)


class KeyLimiter:
    """Admits or refuses requests per key; see the module docstring."""

    def __init__(
        self,
        *,
        spent: SpentFn | None = None,
        clock: Callable[[], float] = time.time,
        spend_ttl: float = DEFAULT_SPEND_TTL,
        settle: float = DEFAULT_SETTLE,
    ) -> None:
        if spend_ttl < 0 or settle < 0:
            raise ValueError("spend_ttl and settle must not be negative")
        self._spent = spent
        self._clock = clock  # epoch seconds: periods are UTC calendar days
        self._spend_ttl = spend_ttl
        self._settle = settle
        self._keys: dict[int, _KeyState] = {}

    async def admit(self, key: LimitedKey) -> None:
        """Count a request against ``key``'s limits or raise a 429
        ``GatewayError`` naming the limit, with ``retry_after``."""
        limits = key.limits
        if limits.unlimited:
            return
        state = self._keys.get(key.key_id)
        if state is None:
            state = self._keys[key.key_id] = _KeyState(limits=limits)
        state.limits = limits
        # Refuse on the windows first: a rate-limited burst costs no query.
        self._check_windows(key, state, self._clock())
        if limits.has_budget:
            await self._refresh(key.key_id, state)
        now = self._clock()  # the read may have taken a while
        self._check_windows(key, state, now)
        if limits.has_budget:
            self._check_budgets(key, state, now)
        if limits.rpm is not None:
            state.requests.add(now, 1)

    def record(self, key_id: int, *, tokens: int, cost_usd: Decimal | None) -> None:
        """What a finished call of ``key_id`` used (cost None: unpriced)."""
        state = self._keys.get(key_id)
        if state is None:
            return  # an unlimited key: nothing to track
        now = self._clock()
        if tokens > 0 and state.limits.tpm is not None:
            state.tokens.prune(now)
            state.tokens.add(now, tokens)
        if cost_usd and state.limits.has_budget:
            state.spend.recent.append((now, cost_usd))

    def forget(self, key_id: int) -> None:
        """Drop ``key_id``'s state (revoked key, changed limits)."""
        self._keys.pop(key_id, None)

    # ------------------------------------------------------------- checks

    def _check_windows(self, key: LimitedKey, state: _KeyState, now: float) -> None:
        limits = key.limits
        if limits.rpm is not None:
            state.requests.prune(now)
            if state.requests.total >= limits.rpm:
                raise _refusal(
                    f"requests per minute limit of {limits.rpm} reached for key {key.key_prefix}…",
                    state.requests.wait_until_below(limits.rpm, now),
                    code="rate_limit_exceeded",
                )
        if limits.tpm is not None:
            state.tokens.prune(now)
            if state.tokens.total >= limits.tpm:
                raise _refusal(
                    f"tokens per minute limit of {limits.tpm} reached for key "
                    f"{key.key_prefix}… ({state.tokens.total} tokens in the last minute)",
                    state.tokens.wait_until_below(limits.tpm, now),
                    code="rate_limit_exceeded",
                )

    def _check_budgets(self, key: LimitedKey, state: _KeyState, now: float) -> None:
        moment = datetime.fromtimestamp(now, timezone.utc)
        budgets: tuple[tuple[Period, Decimal | None, Decimal], ...] = (
            ("day", key.limits.budget_daily_usd, state.spend.day_base),
            ("month", key.limits.budget_monthly_usd, state.spend.month_base),
        )
        for period, budget, base in budgets:
            if budget is None:
                continue
            start = period_start(moment, period)
            spent = base + self._recent_spend(state.spend, start.timestamp())
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

    def _recent_spend(self, spend: _Spend, period_start_epoch: float) -> Decimal:
        since = max(spend.read_started - self._settle, period_start_epoch)
        return sum((cost for stamp, cost in spend.recent if stamp >= since), Decimal(0))

    async def _refresh(self, key_id: int, state: _KeyState) -> None:
        spend = state.spend
        started = self._clock()
        moment = datetime.fromtimestamp(started, timezone.utc)
        day, month = period_start(moment, "day"), period_start(moment, "month")
        fresh = started - spend.read_started < self._spend_ttl
        if fresh and spend.day == day and spend.month == month:
            return
        if self._spent is None:
            raise RuntimeError("a key has a budget but the limiter has no spent() function")
        day_base = await self._spent(key_id, day)
        month_base = await self._spent(key_id, month)
        if started < spend.read_started:
            return  # a concurrent, later read already landed
        spend.read_started = started
        spend.day, spend.month = day, month
        spend.day_base, spend.month_base = day_base, month_base
        horizon = started - self._settle
        while spend.recent and spend.recent[0][0] < horizon:
            spend.recent.popleft()


def _refusal(message: str, retry_after: float, *, code: str) -> GatewayError:
    return PolicyRefusal("rate_limit", message, code=code, retry_after=retry_after)
