"""Receipt chains and supply/consume entries on SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.trade.book import (
    BookConflict,
    Entry,
    Link,
    Totals,
    append_correction,
    append_entry,
    append_receipt,
    receipt_for,
    receipts,
    store_receipt,
    totals,
)
from tokligence.trade.migrations import migrate_trade
from tokligence.trade.money import Tokens
from tokligence.trade.receipts import GENESIS, SignedReceipt, chain_breaks, sign_receipt

from .keys import BUYER, SELLER, STRANGER
from .samples import chain, receipt
from .test_store import at_once


@pytest.fixture
def trade_db(database: peewee.Database) -> peewee.Database:
    migrate_trade(database)
    return database


def maker(request_id: str) -> object:
    tokens = Tokens(input=100, output=1)

    def make(link: Link) -> SignedReceipt:
        made = receipt(request_id=request_id, seq=link.seq, prev=link.prev, tokens=tokens)
        return sign_receipt(made, SELLER)

    return make


def sell(db: peewee.Database, request_id: str, buyer: str = BUYER.public_id) -> SignedReceipt:
    return append_receipt(
        db,
        counterparty=buyer,
        direction="supply",
        make=maker(request_id),  # type: ignore[arg-type]
        now=1,
    )


def test_a_sellers_chain_links_each_receipt(trade_db: peewee.Database) -> None:
    made = [sell(trade_db, f"req_{n}") for n in range(3)]
    assert [s.receipt.seq for s in made] == [1, 2, 3]
    assert made[0].receipt.prev == GENESIS
    stored = receipts(trade_db, counterparty=BUYER.public_id, direction="supply")
    assert stored == made
    assert chain_breaks(stored) == []
    assert (
        receipt_for(trade_db, counterparty=BUYER.public_id, direction="supply", request_id="req_1")
        == made[1]
    )
    assert (
        receipt_for(trade_db, counterparty=BUYER.public_id, direction="supply", request_id="x")
        is None
    )
    # Each buyer has a chain of its own, and so does each direction.
    assert sell(trade_db, "req_0", buyer=STRANGER.public_id).receipt.seq == 1
    assert receipts(trade_db, counterparty=BUYER.public_id, direction="consume") == []


def test_a_request_id_is_billed_once(trade_db: peewee.Database) -> None:
    sell(trade_db, "req_1")
    with pytest.raises(BookConflict, match="already has request req_1"):
        sell(trade_db, "req_1")
    assert sell(trade_db, "req_2").receipt.seq == 2  # no number was used up


def test_a_receipt_off_the_next_link_is_refused(trade_db: peewee.Database) -> None:
    def wrong(link: Link) -> SignedReceipt:
        return sign_receipt(receipt(request_id="req_1"), SELLER)  # always seq 1

    sell(trade_db, "req_0")
    with pytest.raises(ValueError, match="next link"):
        append_receipt(
            trade_db, counterparty=BUYER.public_id, direction="supply", make=wrong, now=1
        )
    with pytest.raises(ValueError, match="direction"):
        append_receipt(trade_db, counterparty=BUYER.public_id, direction="sell", make=wrong, now=1)


# How long the first sale holds its link open for a second one to barge in.
# A correct store makes the second wait, so the first always goes on after
# this; it only gives a broken store the chance to show it.
BARGE_IN_WINDOW = 0.3


def test_a_sale_waits_for_the_one_before_it(database_url: str) -> None:
    """The second sale to a buyer reads its link only after the first is
    stored, even from another process's connection: no two receipts get
    one number, and each links to the one before."""
    databases = [dbmod.open_database(database_url) for _ in range(2)]
    inside, second_made = threading.Event(), threading.Event()
    errors: list[BaseException] = []

    def first(link: Link) -> SignedReceipt:
        inside.set()
        second_made.wait(BARGE_IN_WINDOW)
        return sign_receipt(receipt(request_id="req_a", seq=link.seq, prev=link.prev), SELLER)

    def second(link: Link) -> SignedReceipt:
        second_made.set()
        return sign_receipt(receipt(request_id="req_b", seq=link.seq, prev=link.prev), SELLER)

    def sale(db: peewee.Database, make: Callable[[Link], SignedReceipt]) -> None:
        try:
            append_receipt(db, counterparty=BUYER.public_id, direction="supply", make=make, now=1)
        except BaseException as error:  # reported below
            errors.append(error)

    try:
        migrate_trade(databases[0])
        threads = [threading.Thread(target=sale, args=(databases[0], first))]
        threads[0].start()
        inside.wait()
        threads.append(threading.Thread(target=sale, args=(databases[1], second)))
        threads[1].start()
        for thread in threads:
            thread.join()
        assert errors == []
        stored = receipts(databases[0], counterparty=BUYER.public_id, direction="supply")
        assert [(s.receipt.seq, s.receipt.request_id) for s in stored] == [
            (1, "req_a"),
            (2, "req_b"),
        ]
        assert chain_breaks(stored) == []
    finally:
        for db in databases:
            dbmod.close_database(db)


def test_many_concurrent_sales_get_consecutive_links(database_url: str) -> None:
    databases = [dbmod.open_database(database_url) for _ in range(2)]
    try:
        migrate_trade(databases[0])
        at_once(12, lambda n: sell(databases[n % 2], f"req_{n}"))
        stored = receipts(databases[0], counterparty=BUYER.public_id, direction="supply")
        assert [s.receipt.seq for s in stored] == list(range(1, 13))
        assert chain_breaks(stored) == []
        assert {s.receipt.request_id for s in stored} == {f"req_{n}" for n in range(12)}
    finally:
        for db in databases:
            dbmod.close_database(db)


def test_a_buyer_keeps_receipts_as_received(trade_db: peewee.Database) -> None:
    received = chain(3)
    for signed in (received[0], received[2]):  # one went missing on the way
        store_receipt(
            trade_db, counterparty=SELLER.public_id, direction="consume", signed=signed, now=1
        )
    stored = receipts(trade_db, counterparty=SELLER.public_id, direction="consume")
    assert stored == [received[0], received[2]]
    assert chain_breaks(stored) == ["receipt 3 (req_0003): expected 2"]
    with pytest.raises(BookConflict):
        store_receipt(
            trade_db, counterparty=SELLER.public_id, direction="consume", signed=received[0], now=2
        )
    other = sign_receipt(replace(received[1].receipt, seq=3, prev="a" * 64), SELLER)
    with pytest.raises(BookConflict):  # a second receipt 3
        store_receipt(
            trade_db, counterparty=SELLER.public_id, direction="consume", signed=other, now=2
        )


def entry(request_id: str, direction: str = "supply", **changes: object) -> Entry:
    signed = sign_receipt(receipt(request_id=request_id), SELLER)
    base = Entry(
        counterparty=BUYER.public_id,
        direction=direction,
        request_id=request_id,
        offer="fast@1",
        requested_model="gpt-4o-mini",
        served_model="gpt-4o-mini",
        status="ok",
        input_tokens=1_000,
        output_tokens=200,
        cost_micro_usd=4_500,
        receipt=signed.data,
        created_at=10,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def test_entries_corrections_and_totals(trade_db: peewee.Database) -> None:
    append_entry(trade_db, entry("req_1"))
    append_entry(trade_db, entry("req_2", output_tokens=0, cost_micro_usd=2_500))
    append_entry(trade_db, entry("req_1", direction="consume"))
    append_entry(trade_db, entry("req_9", counterparty=STRANGER.public_id))
    with pytest.raises(BookConflict, match="has an entry already"):
        append_entry(trade_db, entry("req_1"))
    with pytest.raises(ValueError):
        append_entry(trade_db, entry("req_3", revision=1))
    fix = entry(
        "req_1", input_tokens=-100, output_tokens=0, cost_micro_usd=-250, receipt=None, note="x"
    )
    assert append_correction(trade_db, fix) == 1
    assert append_correction(trade_db, fix) == 2
    with pytest.raises(BookConflict, match="no entry to correct"):
        append_correction(trade_db, entry("req_7"))
    assert totals(trade_db, BUYER.public_id) == [
        Totals(
            counterparty=BUYER.public_id,
            direction="consume",
            requests=1,
            input_tokens=1_000,
            output_tokens=200,
            cache_read_tokens=0,
            cache_write_tokens=0,
            cost_micro_usd=4_500,
        ),
        Totals(
            counterparty=BUYER.public_id,
            direction="supply",
            requests=2,  # the corrections are not more requests
            input_tokens=2_000 - 200,
            output_tokens=200,
            cache_read_tokens=0,
            cache_write_tokens=0,
            cost_micro_usd=4_500 + 2_500 - 500,
        ),
    ]
    assert {t.counterparty for t in totals(trade_db)} == {BUYER.public_id, STRANGER.public_id}
    assert totals(trade_db, SELLER.public_id) == []
