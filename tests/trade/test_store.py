"""The trading tables on SQLite and PostgreSQL: migrations, offer versions,
accounts and credit, including many threads and processes at once."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from pathlib import Path
from typing import TypeVar

import peewee
import pytest

from tokligence.identity.keys import hash_key, key_prefix
from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import MigrationResult, applied_versions
from tokligence.trade.migrations import migrate_trade
from tokligence.trade.models import TRADE_MODELS, Account
from tokligence.trade.money import Prices
from tokligence.trade.offers import Limits, Offer, offer_document
from tokligence.trade.signing import unseal
from tokligence.trade.store import (
    CreditLimitExceeded,
    StoreConflict,
    account_by_key,
    account_of,
    offer_in_force,
    offer_versions,
    open_account,
    post,
    publish_offers,
    reservation,
    reserve,
    set_credit_limit,
    void,
    void_stale,
)

from .keys import BUYER, SELLER, STRANGER

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
# Not a real key: shaped like the gateway's, which the store never sees anyway.
KEY = "tok_" + "x" * 43


@pytest.fixture
def trade_db(database: peewee.Database) -> peewee.Database:
    migrate_trade(database)
    return database


def at_once(count: int, work: Callable[[int], T]) -> list[T]:
    """``work(i)`` in ``count`` threads released together; raises the first error."""
    barrier = threading.Barrier(count)
    results: list[T] = []
    errors: list[BaseException] = []
    lock = threading.Lock()

    def run(number: int) -> None:
        barrier.wait()
        try:
            result = work(number)
        except BaseException as error:  # re-raised below, in the test's thread
            with lock:
                errors.append(error)
            return
        with lock:
            results.append(result)

    threads = [threading.Thread(target=run, args=(n,)) for n in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    if errors:
        raise errors[0]
    return results


# ---------------------------------------------------------------- migrations


def test_the_migration_runs_once_and_matches_the_models(database: peewee.Database) -> None:
    assert migrate_trade(database) == MigrationResult(role="trade", applied=(1, 2, 3), version=3)
    assert migrate_trade(database) == MigrationResult(role="trade", applied=(), version=3)
    with dbmod.connection(database):
        assert applied_versions(database, "trade") == [1, 2, 3]
        for model in TRADE_MODELS:
            table = model._meta.table_name
            columns = {column.name for column in database.get_columns(table)}
            assert columns == set(model._meta.columns), table
        unique = {
            (table, tuple(index.columns))
            for table in (
                "trade_receipts",
                "trade_entries",
                "trade_reservations",
                "trade_offer_days",
                "trade_acks",
            )
            for index in database.get_indexes(table)
            if index.unique
        }
    assert ("trade_receipts", ("counterparty", "direction", "request_id")) in unique
    assert ("trade_receipts", ("counterparty", "direction", "seq")) in unique
    assert ("trade_entries", ("counterparty", "direction", "request_id", "revision")) in unique
    assert ("trade_reservations", ("account_id", "request_id")) in unique
    assert ("trade_offer_days", ("offer", "day")) in unique
    assert ("trade_acks", ("counterparty", "direction", "hash")) in unique


# -------------------------------------------------------------------- offers


def offer(price_input: str = "2.5", **changes: object) -> Offer:
    base = Offer(
        name="fast",
        models=("gpt-4o-mini",),
        provider="loopback",
        prices=Prices(
            input=Decimal(price_input),
            output=Decimal(10),
            cache_read=Decimal(0),
            cache_write=Decimal(0),
        ),
        limits=Limits(rpm=60),
    )
    return Offer(**{**{f: getattr(base, f) for f in base.__slots__}, **changes})  # type: ignore[arg-type]


def test_a_new_version_only_when_the_terms_change(trade_db: peewee.Database) -> None:
    (first,) = publish_offers(trade_db, [offer()], SELLER, now=1_000)
    assert (first.version, first.effective_at, first.new) == (1, 1_000, True)
    (again,) = publish_offers(trade_db, [offer(provider="openai")], SELLER, now=2_000)
    assert (again.version, again.effective_at, again.new) == (1, 1_000, False)
    assert again.document == first.document
    (cheaper,) = publish_offers(trade_db, [offer("2")], SELLER, now=3_000)
    assert (cheaper.version, cheaper.effective_at, cheaper.new) == (2, 3_000, True)
    # Back to the first price: a new version from now, not the old one back.
    (back,) = publish_offers(trade_db, [offer()], SELLER, now=2_500)
    assert (back.version, back.effective_at) == (3, 3_001)  # never before version 2
    assert [v.version for v in offer_versions(trade_db, "fast")] == [1, 2, 3]
    in_force = {t: offer_in_force(trade_db, "fast", t) for t in (999, 1_000, 2_999, 3_000, 10**13)}
    assert in_force[999] is None
    assert [in_force[t].version for t in (1_000, 2_999, 3_000, 10**13)] == [1, 1, 2, 3]  # type: ignore[union-attr]


def test_the_stored_offer_is_signed_by_the_seller(trade_db: peewee.Database) -> None:
    (published,) = publish_offers(trade_db, [offer()], SELLER, now=1_000)
    sealed = unseal("offer", published.document)
    assert sealed.verified_by(SELLER.public_id)
    assert sealed.body == offer_document(
        offer(), seller=SELLER.public_id, version=1, effective_at=1_000
    )
    # Another node key sells other terms: a new version, signed by it.
    (other,) = publish_offers(trade_db, [offer()], STRANGER, now=2_000)
    assert other.version == 2 and unseal("offer", other.document).verified_by(STRANGER.public_id)


def test_concurrent_starts_publish_each_change_once(database_url: str) -> None:
    databases = [dbmod.open_database(database_url) for _ in range(4)]
    try:
        migrate_trade(databases[0])
        offers = [offer(), offer(name="bulk", models=("*",))]
        results = at_once(4, lambda n: publish_offers(databases[n], offers, SELLER, now=1_000 + n))
        assert sorted(sum(p.new for p in result) for result in results) == [0, 0, 0, 2]
        assert {(p.name, p.version) for result in results for p in result} == {
            ("fast", 1),
            ("bulk", 1),
        }
        assert len(offer_versions(databases[0], "fast")) == 1
    finally:
        for db in databases:
            dbmod.close_database(db)


# ------------------------------------------------------------------ accounts


def test_accounts(trade_db: peewee.Database) -> None:
    account = open_account(
        trade_db, buyer=BUYER.public_id, key_hash=hash_key(KEY), key_prefix=key_prefix(KEY), now=5
    )
    assert (account.buyer, account.credit_limit, account.reserved, account.posted) == (
        BUYER.public_id,
        0,
        0,
        0,
    )
    assert account.status == "active" and account.created_at == 5
    assert account_of(trade_db, BUYER.public_id) == account
    assert account_by_key(trade_db, hash_key(KEY)) == account
    assert account_of(trade_db, STRANGER.public_id) is None
    assert account_by_key(trade_db, hash_key(KEY + "y")) is None
    with pytest.raises(StoreConflict):
        open_account(trade_db, buyer=BUYER.public_id, key_hash="other", key_prefix="", now=6)
    with pytest.raises(ValueError, match="public id"):
        open_account(trade_db, buyer="alice", key_hash="third", key_prefix="", now=6)
    with pytest.raises(StoreConflict):  # a key is one account's
        open_account(
            trade_db, buyer=STRANGER.public_id, key_hash=hash_key(KEY), key_prefix="", now=6
        )
    assert set_credit_limit(trade_db, BUYER.public_id, 7_000).credit_limit == 7_000
    with pytest.raises(StoreConflict, match="no account"):
        set_credit_limit(trade_db, STRANGER.public_id, 1)
    with pytest.raises(ValueError):
        set_credit_limit(trade_db, BUYER.public_id, -1)


@pytest.fixture
def account_id(trade_db: peewee.Database) -> int:
    return open_account(
        trade_db, buyer=BUYER.public_id, key_hash=hash_key(KEY), key_prefix="tok_", now=0
    ).id


def test_no_credit_by_default(trade_db: peewee.Database, account_id: int) -> None:
    with pytest.raises(CreditLimitExceeded) as refused:
        reserve(trade_db, account_id=account_id, request_id="r1", amount=1, now=1)
    assert (refused.value.limit, refused.value.available, refused.value.requested) == (0, 0, 1)
    assert str(refused.value) == "credit_limit_exceeded: 1 micro-USD requested, 0 of 0 available"
    assert account_of(trade_db, BUYER.public_id).reserved == 0  # type: ignore[union-attr]


def test_reserve_post_and_void(trade_db: peewee.Database, account_id: int) -> None:
    set_credit_limit(trade_db, BUYER.public_id, 10_000)
    held = reserve(trade_db, account_id=account_id, request_id="r1", amount=6_000, now=1)
    assert (held.state, held.amount, held.posted) == ("held", 6_000, None)
    with pytest.raises(CreditLimitExceeded) as refused:
        reserve(trade_db, account_id=account_id, request_id="r2", amount=4_001, now=2)
    assert refused.value.available == 4_000
    # The same request id twice: refused, and the credit is not taken twice.
    with pytest.raises(StoreConflict, match="already has a reservation"):
        reserve(trade_db, account_id=account_id, request_id="r1", amount=1, now=3)
    assert account_of(trade_db, BUYER.public_id).reserved == 6_000  # type: ignore[union-attr]

    posted = post(trade_db, held.id, actual=4_500, now=4)
    assert (posted.state, posted.posted, posted.closed_at) == ("posted", 4_500, 4)
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted, account.available) == (0, 4_500, 5_500)  # type: ignore[union-attr]
    with pytest.raises(StoreConflict, match="not held"):
        post(trade_db, held.id, actual=1, now=5)
    assert not void(trade_db, held.id, now=5)

    second = reserve(trade_db, account_id=account_id, request_id="r2", amount=5_500, now=6)
    assert void(trade_db, second.id, now=7)
    assert not void(trade_db, second.id, now=8)
    assert reservation(trade_db, second.id).state == "voided"  # type: ignore[union-attr]
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (0, 4_500)  # type: ignore[union-attr]


def test_an_actual_cost_above_the_hold_is_charged_only_within_the_limit(
    trade_db: peewee.Database, account_id: int
) -> None:
    set_credit_limit(trade_db, BUYER.public_id, 1_000)
    held = reserve(trade_db, account_id=account_id, request_id="r1", amount=500, now=1)
    other = reserve(trade_db, account_id=account_id, request_id="r2", amount=300, now=1)
    with pytest.raises(CreditLimitExceeded):
        post(trade_db, held.id, actual=701, now=2)  # 701 + 300 held > 1000
    assert reservation(trade_db, held.id).state == "held"  # type: ignore[union-attr]
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (800, 0)  # type: ignore[union-attr]
    assert post(trade_db, held.id, actual=700, now=3).posted == 700
    assert post(trade_db, other.id, actual=300, now=3).posted == 300
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (0, 1_000)  # type: ignore[union-attr]


def test_a_disabled_or_unknown_account_reserves_nothing(
    trade_db: peewee.Database, account_id: int
) -> None:
    set_credit_limit(trade_db, BUYER.public_id, 1_000)
    with dbmod.connection(trade_db):
        Account.update(status="disabled").where(Account.id == account_id).execute(trade_db)
    with pytest.raises(StoreConflict, match="no active account"):
        reserve(trade_db, account_id=account_id, request_id="r1", amount=1, now=1)
    with pytest.raises(StoreConflict, match="no active account"):
        reserve(trade_db, account_id=account_id + 1, request_id="r1", amount=1, now=1)


def test_stale_reservations_are_voided(trade_db: peewee.Database, account_id: int) -> None:
    set_credit_limit(trade_db, BUYER.public_id, 1_000)
    old = [
        reserve(trade_db, account_id=account_id, request_id=f"old{n}", amount=100, now=n)
        for n in (1, 2)
    ]
    done = reserve(trade_db, account_id=account_id, request_id="done", amount=100, now=3)
    post(trade_db, done.id, actual=50, now=4)
    fresh = reserve(trade_db, account_id=account_id, request_id="fresh", amount=100, now=10)
    assert void_stale(trade_db, older_than=10, now=11) == 2
    assert void_stale(trade_db, older_than=10, now=12) == 0
    assert [reservation(trade_db, r.id).state for r in (*old, done, fresh)] == [  # type: ignore[union-attr]
        "voided",
        "voided",
        "posted",
        "held",
    ]
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (100, 50)  # type: ignore[union-attr]


REQUESTS = 20
AMOUNT = 300
LIMIT = 5_000  # 16 of the 20 fit: 4,800


def test_twenty_threads_never_overdraw(trade_db: peewee.Database, account_id: int) -> None:
    set_credit_limit(trade_db, BUYER.public_id, LIMIT)

    def request(number: int) -> bool:
        try:
            held = reserve(
                trade_db, account_id=account_id, request_id=f"r{number}", amount=AMOUNT, now=1
            )
        except CreditLimitExceeded:
            return False
        post(trade_db, held.id, actual=AMOUNT, now=2)
        return True

    outcomes = at_once(REQUESTS, request)
    assert outcomes.count(True) == LIMIT // AMOUNT
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (0, LIMIT // AMOUNT * AMOUNT)  # type: ignore[union-attr]


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[str]]]:
    started: list[subprocess.Popen[str]] = []
    yield started
    for process in started:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_twenty_requests_in_four_processes_never_overdraw(
    database_url: str,
    trade_db: peewee.Database,
    account_id: int,
    processes: list[subprocess.Popen[str]],
) -> None:
    set_credit_limit(trade_db, BUYER.public_id, LIMIT)
    for tag in ("a", "b", "c", "d"):
        processes.append(
            subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.trade.reserve_process",
                    database_url,
                    str(account_id),
                    tag,
                    str(REQUESTS // 4),
                    str(AMOUNT),
                ],
                cwd=ROOT,
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                text=True,
            )
        )
    for process in processes:  # every process has its database open ...
        assert process.stdout is not None and process.stdout.readline() == "ready\n"
    outputs = [process.communicate("go\n", timeout=120)[0] for process in processes]  # ... go
    assert [process.returncode for process in processes] == [0] * 4, outputs
    results = [json.loads(output) for output in outputs]
    assert [result["errors"] for result in results] == [[]] * 4
    assert sum(result["reserved"] for result in results) == LIMIT // AMOUNT
    assert sum(result["refused"] for result in results) == REQUESTS - LIMIT // AMOUNT
    account = account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (0, LIMIT // AMOUNT * AMOUNT)  # type: ignore[union-attr]
