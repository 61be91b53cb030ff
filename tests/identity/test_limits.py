"""limits.py: every limit trips exactly at its threshold, names itself, and
says when to retry -- on a fake clock and a fake ledger, with the limit state
in a real identity database (each test runs on SQLite and on PostgreSQL),
shared exactly by limiters standing for several gateway processes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from decimal import Decimal

import peewee
import pytest
import trio

from tokligence.errors import GatewayError
from tokligence.identity.limit_store import DatabaseLimitStore, KeyRateEvent, KeySpend
from tokligence.ledger import db as dbmod
from tokligence.limits import KeyLimiter, KeyLimits, format_usd, next_period, period_start

from .fakes import T0, FakeClock, principal


class FakeLedger:
    """spent(key_id, since): a settable amount per period start; counts reads."""

    def __init__(self) -> None:
        self.amounts: dict[datetime, Decimal] = {}
        self.reads: list[tuple[int, datetime]] = []

    async def __call__(self, key_id: int, since: datetime) -> Decimal:
        self.reads.append((key_id, since))
        return self.amounts.get(since, Decimal(0))


Make = Callable[..., KeyLimiter]


@pytest.fixture
def make(identity_db: peewee.Database) -> Make:
    def limiter(clock: FakeClock, ledger: FakeLedger | None = None) -> KeyLimiter:
        return KeyLimiter(
            store=DatabaseLimitStore(identity_db), spent=ledger or FakeLedger(), clock=clock
        )

    return limiter


async def refused(lim: KeyLimiter, key: object) -> GatewayError:
    with pytest.raises(GatewayError) as caught:
        await lim.admit(key)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.kind) == (429, "rate_limit")
    return caught.value


async def test_rpm_refuses_the_request_after_the_limit_until_the_oldest_leaves(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
    key = principal(limits=KeyLimits(rpm=3))
    for offset in (0, 10, 20):  # three requests at t=0, 10, 20
        clock.set(T0 + timedelta(seconds=offset))
        await lim.admit(key)
    clock.set(T0 + timedelta(seconds=30))
    error = await refused(lim, key)
    assert error.message == "requests per minute limit of 3 reached for key tok_AbCdEfGh…"
    assert error.code == "rate_limit_exceeded"
    assert error.retry_after == pytest.approx(30)  # the t=0 request leaves at t=60
    clock.set(T0 + timedelta(seconds=59.999))
    assert (await refused(lim, key)).retry_after == pytest.approx(0.001, abs=1e-6)
    clock.set(T0 + timedelta(seconds=60))
    await lim.admit(key)  # the first after the oldest left the window
    error = await refused(lim, key)  # t=10, 20, 60 are in the window now
    assert error.retry_after == pytest.approx(10)


async def test_refused_requests_do_not_count(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
    key = principal(limits=KeyLimits(rpm=1))
    await lim.admit(key)
    for _ in range(5):
        await refused(lim, key)
    clock.advance(60)
    await lim.admit(key)


async def test_tpm_refuses_once_the_window_holds_the_limit(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
    key = principal(limits=KeyLimits(tpm=1000))
    await lim.admit(key)
    await lim.record(key, tokens=600, cost_usd=None)
    clock.advance(5)
    await lim.admit(key)  # 600 < 1000: in-flight calls are not known yet
    await lim.record(key, tokens=399, cost_usd=None)
    clock.advance(5)
    await lim.admit(key)  # 999 < 1000
    await lim.record(key, tokens=1, cost_usd=None)  # t=10: exactly 1000
    error = await refused(lim, key)
    assert error.message == (
        "tokens per minute limit of 1000 reached for key tok_AbCdEfGh… "
        "(1000 tokens in the last minute)"
    )
    # Dropping the 600 tokens of t=0 brings the window below the limit.
    assert error.retry_after == pytest.approx(50)
    clock.advance(50)
    await lim.admit(key)


async def test_tpm_retry_waits_for_as_many_entries_as_needed(make: Make) -> None:
    clock = FakeClock()
    lim = make(clock)
    key = principal(limits=KeyLimits(tpm=100))
    await lim.admit(key)
    for _ in range(3):  # 50 tokens at t=0, 1, 2
        await lim.record(key, tokens=50, cost_usd=None)
        clock.advance(1)
    error = await refused(lim, key)  # 150 at t=3: two entries must leave (t=0 and t=1)
    assert error.retry_after == pytest.approx(58)


@pytest.mark.parametrize(
    ("limits", "code"),
    [(KeyLimits(rpm=0), "rate_limit_exceeded"), (KeyLimits(budget_daily_usd=Decimal(0)), None)],
)
async def test_zero_limits_refuse_everything(
    make: Make, limits: KeyLimits, code: str | None
) -> None:
    lim = make(FakeClock())
    error = await refused(lim, principal(limits=limits))
    assert error.code == (code or "insufficient_quota")


async def test_daily_budget_trips_at_the_budget_and_resets_at_midnight(make: Make) -> None:
    clock = FakeClock()
    ledger = FakeLedger()
    day = period_start(T0, "day")
    ledger.amounts[day] = Decimal("4.99")
    lim = make(clock, ledger)
    key = principal(limits=KeyLimits(budget_daily_usd=Decimal(5)))
    await lim.admit(key)  # 4.99 < 5
    await lim.record(key, tokens=10, cost_usd=Decimal("0.01"))  # 5.00: spent == budget
    error = await refused(lim, key)
    assert error.message == (
        "daily budget of $5.00 reached for key tok_AbCdEfGh… (spent $5.00); "
        "it resets at 2025-03-13T00:00:00Z"
    )
    assert error.code == "insufficient_quota"
    assert error.retry_after == pytest.approx(12 * 3600)  # T0 is noon
    clock.set(datetime(2025, 3, 13, tzinfo=timezone.utc) - timedelta(seconds=1))
    assert (await refused(lim, key)).retry_after == pytest.approx(1)
    clock.set(datetime(2025, 3, 13, tzinfo=timezone.utc))
    await lim.admit(key)  # a new day: the ledger has nothing for it
    # Each period's base is read from the ledger once: the day, the month, the next day.
    assert ledger.reads == [
        (7, day),
        (7, datetime(2025, 3, 1, tzinfo=timezone.utc)),
        (7, datetime(2025, 3, 13, tzinfo=timezone.utc)),
    ]


async def test_monthly_budget_resets_on_the_first_of_the_next_month(make: Make) -> None:
    clock = FakeClock()
    ledger = FakeLedger()
    month = period_start(T0, "month")
    ledger.amounts[month] = Decimal("100")
    lim = make(clock, ledger)
    key = principal(limits=KeyLimits(budget_daily_usd=Decimal(50), budget_monthly_usd=Decimal(100)))
    error = await refused(lim, key)  # nothing today, but the month is spent
    assert error.message.startswith("monthly budget of $100.00 reached")
    assert error.message.endswith("it resets at 2025-04-01T00:00:00Z")
    assert error.retry_after == (datetime(2025, 4, 1, tzinfo=timezone.utc) - T0).total_seconds()
    clock.set(datetime(2025, 4, 1, tzinfo=timezone.utc))
    await lim.admit(key)


async def test_spend_recorded_by_one_process_counts_in_another_at_once(
    make: Make,
) -> None:
    clock = FakeClock()
    ledger = FakeLedger()
    first, second = make(clock, ledger), make(clock, ledger)
    key = principal(limits=KeyLimits(budget_daily_usd=Decimal("1.00")))
    await first.admit(key)
    await second.admit(key)
    await first.record(key, tokens=1, cost_usd=Decimal("0.60"))
    await second.admit(key)  # 0.60: no ledger read needed, the shared row has it
    await second.record(key, tokens=1, cost_usd=Decimal("0.40"))
    error = await refused(first, key)  # 1.00, from the other "process"'s record
    assert "(spent $1.00)" in error.message
    assert len(ledger.reads) == 2  # the day's and the month's base, once


async def test_unlimited_keys_cost_nothing(make: Make, identity_db: peewee.Database) -> None:
    ledger = FakeLedger()
    lim = make(FakeClock(), ledger)
    key = principal()
    for _ in range(100):
        await lim.admit(key)
        await lim.record(key, tokens=10**6, cost_usd=Decimal(1000))
    assert ledger.reads == []
    with dbmod.connection(identity_db):
        assert KeyRateEvent.select().count(identity_db) == KeySpend.select().count(identity_db) == 0


async def test_a_budget_without_a_ledger_function_is_a_configuration_bug(
    identity_db: peewee.Database,
) -> None:
    lim = KeyLimiter(store=DatabaseLimitStore(identity_db), clock=FakeClock())
    with pytest.raises(RuntimeError, match="no spent"):
        await lim.admit(principal(limits=KeyLimits(budget_monthly_usd=Decimal(1))))


async def test_only_what_a_key_is_limited_by_is_kept(
    make: Make, identity_db: peewee.Database
) -> None:
    clock = FakeClock()
    lim = make(clock)
    key = principal(limits=KeyLimits(rpm=1000))
    for _ in range(100):
        await lim.admit(key)
        await lim.record(key, tokens=500, cost_usd=Decimal(1))
        clock.advance(0.01)
    with dbmod.connection(identity_db):
        tokens = KeyRateEvent.select().where(KeyRateEvent.tokens > 0).count(identity_db)
        assert (tokens, KeySpend.select().count(identity_db)) == (0, 0)
    # The window is pruned as it moves: a minute later only the new admission is left.
    clock.advance(61)
    await lim.admit(key)
    with dbmod.connection(identity_db):
        assert KeyRateEvent.select().count(identity_db) == 1


async def test_four_processes_admit_exactly_rpm_of_a_concurrent_burst(
    database_url: str,
) -> None:
    """Four limiters, each on its own connection pool (as four gateway
    processes would be), admit one key's burst of 40: exactly rpm pass."""
    databases = [dbmod.open_database(database_url) for _ in range(4)]
    try:
        from tokligence.identity.migrations import migrate_identity

        migrate_identity(databases[0])
        limiters = [
            KeyLimiter(store=DatabaseLimitStore(db), spent=FakeLedger()) for db in databases
        ]
        key = principal(limits=KeyLimits(rpm=10))
        admitted: list[int] = []
        refusals: list[int] = []

        async def one(index: int) -> None:
            try:
                await limiters[index % 4].admit(key)
            except GatewayError:
                refusals.append(index)
            else:
                admitted.append(index)

        async with trio.open_nursery() as nursery:
            for index in range(40):
                nursery.start_soon(one, index)
        assert (len(admitted), len(refusals)) == (10, 30)
    finally:
        for db in databases:
            dbmod.close_database(db)


@pytest.mark.parametrize(
    ("moment", "day", "month", "next_day", "next_month"),
    [
        ("2025-03-12T12:00:00+00:00", "2025-03-12", "2025-03-01", "2025-03-13", "2025-04-01"),
        ("2025-12-31T23:59:59+00:00", "2025-12-31", "2025-12-01", "2026-01-01", "2026-01-01"),
        # 01:00 in +02:00 is still the previous UTC day.
        ("2025-03-01T01:00:00+02:00", "2025-02-28", "2025-02-01", "2025-03-01", "2025-03-01"),
        ("2024-02-29T00:00:00+00:00", "2024-02-29", "2024-02-01", "2024-03-01", "2024-03-01"),
    ],
)
def test_utc_periods(moment: str, day: str, month: str, next_day: str, next_month: str) -> None:
    at = datetime.fromisoformat(moment)

    def iso(value: datetime) -> str:
        assert value.tzinfo == timezone.utc and value.time() == datetime.min.time()
        return value.date().isoformat()

    assert iso(period_start(at, "day")) == day
    assert iso(period_start(at, "month")) == month
    assert iso(next_period(at, "day")) == next_day
    assert iso(next_period(at, "month")) == next_month


@pytest.mark.parametrize(
    ("amount", "text"),
    [("5", "$5.00"), ("0.1", "$0.10"), ("0.125", "$0.125"), ("12.000001", "$12.000001")],
)
def test_format_usd(amount: str, text: str) -> None:
    assert format_usd(Decimal(amount)) == text


@pytest.mark.parametrize(
    "kwargs",
    [
        {"rpm": -1},
        {"tpm": True},
        {"budget_daily_usd": Decimal("-0.01")},
        {"budget_monthly_usd": Decimal("NaN")},
        {"budget_daily_usd": 5.0},
    ],
)
def test_bad_limits_are_refused(kwargs: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="must be"):
        KeyLimits(**kwargs)  # type: ignore[arg-type]
