"""The seller's and the buyer's operations on the trading tables, on SQLite
and PostgreSQL: admission under an offer's limits, a sale closed at once,
a purchase kept with its receipt, acknowledgements, accounts."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import peewee
import pytest

from tokligence.identity.keys import hash_key
from tokligence.trade import book, store
from tokligence.trade.acks import acknowledge, verify_ack
from tokligence.trade.book import BookConflict, Entry, Link
from tokligence.trade.migrations import migrate_trade
from tokligence.trade.money import Tokens
from tokligence.trade.offers import Limits
from tokligence.trade.receipts import SignedReceipt, sign_receipt

from .keys import BUYER, SELLER, STRANGER
from .samples import chain, receipt
from .test_store import KEY, at_once

MINUTE = 60_000
NOON = 1_767_268_800_000  # 2026-01-01T12:00:00Z


@pytest.fixture
def trade_db(database: peewee.Database) -> peewee.Database:
    migrate_trade(database)
    return database


@pytest.fixture
def account_id(trade_db: peewee.Database) -> int:
    account = store.open_account(
        trade_db, buyer=BUYER.public_id, key_hash=hash_key(KEY), key_prefix="tra_", now=0
    )
    store.set_credit_limit(trade_db, BUYER.public_id, 1_000_000)
    return account.id


def admit(
    db: peewee.Database,
    account_id: int,
    request_id: str,
    now: int,
    limits: Limits,
    amount: int = 10,
) -> store.ReservationRecord:
    return store.admit(
        db,
        account_id=account_id,
        request_id=request_id,
        offer="fast",
        limits=limits,
        amount=amount,
        body_sha256="ab" * 32,
        order=b'{"order":{}}',
        now=now,
    )


def refused(call: Callable[[], object]) -> store.OfferLimitExceeded:
    with pytest.raises(store.OfferLimitExceeded) as caught:
        call()
    return caught.value


def sale(
    db: peewee.Database,
    reservation: store.ReservationRecord,
    tokens: Tokens,
    *,
    now: int,
    buyer: str = BUYER.public_id,
) -> SignedReceipt:
    def make(link: Link) -> SignedReceipt:
        made = receipt(
            request_id=reservation.request_id, seq=link.seq, prev=link.prev, tokens=tokens
        )
        return sign_receipt(dataclasses.replace(made, cost_micro_usd=made.expected_cost), SELLER)

    def entry(signed: SignedReceipt) -> Entry:
        return Entry(
            counterparty=buyer,
            direction="supply",
            request_id=signed.receipt.request_id,
            offer=signed.receipt.offer,
            requested_model="m",
            served_model="m",
            status="ok",
            input_tokens=tokens.input,
            output_tokens=tokens.output,
            cost_micro_usd=signed.receipt.cost_micro_usd,
            receipt=signed.data,
            created_at=now,
        )

    return book.close_sale(
        db,
        reservation_id=reservation.id,
        buyer=buyer,
        offer="fast",
        make=make,
        entry=entry,
        now=now,
    )


def test_rpm_counts_admissions_of_the_last_minute(
    trade_db: peewee.Database, account_id: int
) -> None:
    limits = Limits(rpm=2)
    admit(trade_db, account_id, "r1", NOON, limits)
    admit(trade_db, account_id, "r2", NOON + 10_000, limits)
    third = refused(lambda: admit(trade_db, account_id, "r3", NOON + 20_000, limits))
    assert (third.limit, third.value, third.retry_after) == ("rpm", 2, 40.0)
    assert str(third).startswith("offer_rpm_exceeded")
    # A refused request took nothing: no reservation, no credit.
    assert store.reservation_for(trade_db, account_id, "r3") is None
    assert store.account_of(trade_db, BUYER.public_id).reserved == 20  # type: ignore[union-attr]
    admit(trade_db, account_id, "r4", NOON + MINUTE, limits)  # r1 has left the window


def test_concurrency_counts_requests_still_held(trade_db: peewee.Database, account_id: int) -> None:
    limits = Limits(concurrency=1)
    first = admit(trade_db, account_id, "r1", NOON, limits)
    assert refused(lambda: admit(trade_db, account_id, "r2", NOON, limits)).retry_after is None
    store.void(trade_db, first.id, now=NOON + 1)
    admit(trade_db, account_id, "r2", NOON + 2, limits)


def test_tpm_and_the_daily_cap_count_posted_tokens(
    trade_db: peewee.Database, account_id: int
) -> None:
    limits = Limits(tpm=1_000, daily_tokens=2_000)
    first = admit(trade_db, account_id, "r1", NOON, limits)
    sale(trade_db, first, Tokens(input=900, output=200), now=NOON + 1_000)
    tpm = refused(lambda: admit(trade_db, account_id, "r2", NOON + 2_000, limits))
    assert (tpm.limit, tpm.retry_after) == ("tpm", 59.0)
    second = admit(trade_db, account_id, "r2", NOON + MINUTE + 1_000, limits)
    sale(trade_db, second, Tokens(input=900, output=200), now=NOON + MINUTE + 2_000)
    daily = refused(lambda: admit(trade_db, account_id, "r3", NOON + 3 * MINUTE, limits))
    assert daily.limit == "daily_tokens"
    assert daily.retry_after == pytest.approx(12 * 3600 - 180)  # to UTC midnight
    # The next UTC day starts from zero.
    admit(trade_db, account_id, "r3", NOON + 12 * 3600 * 1000, limits)


def test_limits_hold_under_twenty_threads(trade_db: peewee.Database, account_id: int) -> None:
    limits = Limits(concurrency=3)

    def request(number: int) -> bool:
        try:
            admit(trade_db, account_id, f"r{number}", NOON, limits)
        except store.OfferLimitExceeded:
            return False
        return True

    assert at_once(20, request).count(True) == 3


def test_a_sale_is_closed_at_once(trade_db: peewee.Database, account_id: int) -> None:
    held = admit(trade_db, account_id, "r1", NOON, Limits(), amount=10)
    signed = sale(trade_db, held, Tokens(input=1_000, output=200), now=NOON + 5)
    assert (signed.receipt.seq, signed.receipt.cost_micro_usd) == (1, 4_500)
    closed = store.reservation(trade_db, held.id)
    assert closed is not None
    assert (closed.state, closed.posted, closed.tokens) == ("posted", 4_500, 1_200)
    # Served, so charged in full although more than the 10 held.
    account = store.account_of(trade_db, BUYER.public_id)
    assert (account.reserved, account.posted) == (0, 4_500)  # type: ignore[union-attr]
    (entry,) = book.entries(trade_db, counterparty=BUYER.public_id, direction="supply")
    assert (entry.request_id, entry.cost_micro_usd, entry.receipt) == ("r1", 4_500, signed.data)
    assert (
        book.receipt_for(
            trade_db, counterparty=BUYER.public_id, direction="supply", request_id="r1"
        )
        == signed
    )
    # Closed once: a second close changes nothing.
    with pytest.raises(store.StoreConflict):
        sale(trade_db, held, Tokens(input=1), now=NOON + 6)
    assert len(book.receipts(trade_db, counterparty=BUYER.public_id, direction="supply")) == 1
    assert len(book.entries(trade_db, counterparty=BUYER.public_id, direction="supply")) == 1


def test_a_voided_sale_cannot_be_closed(trade_db: peewee.Database, account_id: int) -> None:
    held = admit(trade_db, account_id, "r1", NOON, Limits())
    assert store.void_stale(trade_db, older_than=NOON + 1, now=NOON + 2) == 1
    with pytest.raises(store.StoreConflict):
        sale(trade_db, held, Tokens(input=1), now=NOON + 3)
    assert book.entries(trade_db, counterparty=BUYER.public_id, direction="supply") == []


def test_a_purchase_keeps_the_receipt_and_the_entry_together(trade_db: peewee.Database) -> None:
    (first,) = chain(1)
    entry = Entry(
        counterparty=SELLER.public_id,
        direction="consume",
        request_id=first.receipt.request_id,
        offer="fast@1",
        requested_model="m",
        served_model="m",
        status="ok",
        cost_micro_usd=first.receipt.cost_micro_usd,
        receipt=first.data,
    )
    book.record_purchase(trade_db, signed=first, entry=entry, now=1)
    # The same receipt number again: neither the receipt nor the entry.
    reused = dataclasses.replace(entry, request_id="req_other")
    forged = sign_receipt(dataclasses.replace(first.receipt, request_id="req_other"), SELLER)
    with pytest.raises(BookConflict):
        book.record_purchase(trade_db, signed=forged, entry=reused, now=2)
    assert len(book.entries(trade_db, counterparty=SELLER.public_id, direction="consume")) == 1
    book.record_purchase(trade_db, signed=None, entry=reused, now=3)  # an entry alone
    assert book.spent(trade_db, SELLER.public_id) == 2 * first.receipt.cost_micro_usd
    assert book.spent(trade_db, STRANGER.public_id) == 0


def test_acknowledgements(trade_db: peewee.Database, account_id: int) -> None:
    signed = [
        sale(
            trade_db,
            admit(trade_db, account_id, f"r{n}", NOON, Limits()),
            Tokens(input=n),
            now=NOON,
        )
        for n in (1, 2)
    ]
    sealed = acknowledge(signed, BUYER, at=NOON + 1)
    ack = verify_ack(sealed.data, seller=SELLER.public_id).value
    assert ack is not None
    assert book.unknown_acknowledged(trade_db, ack) == []
    assert book.store_ack(
        trade_db, counterparty=BUYER.public_id, direction="supply", ack=ack, sealed=sealed, now=1
    )
    assert not book.store_ack(
        trade_db, counterparty=BUYER.public_id, direction="supply", ack=ack, sealed=sealed, now=2
    )
    assert book.acknowledged(trade_db, counterparty=BUYER.public_id, direction="supply") == {
        "r1",
        "r2",
    }
    # A receipt this seller never signed, or another than the one it signed.
    strange = acknowledge(chain(1), BUYER, at=NOON)  # request req_0001: unknown here
    strange_ack = verify_ack(strange.data).value
    assert strange_ack is not None
    assert book.unknown_acknowledged(trade_db, strange_ack) == ["unknown request id req_0001"]
    altered = dataclasses.replace(
        ack, receipts=(dataclasses.replace(ack.receipts[0], receipt="0" * 64),)
    )
    assert book.unknown_acknowledged(trade_db, altered) == [
        "request r1 is receipt 1 with another hash"
    ]


def test_account_listing_and_key_rotation(trade_db: peewee.Database, account_id: int) -> None:
    (account,) = store.accounts(trade_db)
    assert account.id == account_id and store.account_by_id(trade_db, account_id) == account
    rotated = store.rotate_key(
        trade_db, BUYER.public_id, key_hash=hash_key("tra_new"), key_prefix="tra_new"
    )
    assert rotated.key_prefix == "tra_new"
    assert store.account_by_key(trade_db, hash_key(KEY)) is None
    assert store.account_by_key(trade_db, hash_key("tra_new")) == rotated
    with pytest.raises(store.StoreConflict):
        store.rotate_key(trade_db, STRANGER.public_id, key_hash="x", key_prefix="x")
