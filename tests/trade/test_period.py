"""Statements issued from real books and reconciled against the other
book, on SQLite and PostgreSQL: clean after a workload both ways, and the
right class, naming the request, after a row is deleted or altered on
either side; the same after a restart."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from decimal import Decimal

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.trade.book import Entry, append_correction, append_entry
from tokligence.trade.models import ReceiptRow, TradeEntry
from tokligence.trade.money import Prices, Tokens
from tokligence.trade.offers import Offer
from tokligence.trade.period import read_period, reconcile_statement, statement_of
from tokligence.trade.reconcile import (
    AMOUNT_MISMATCH,
    BAD_SIGNATURE,
    MATCHED,
    MISSING_HERE,
    MISSING_THERE,
    SEQUENCE_GAP,
    SUSPECT,
    Report,
)
from tokligence.trade.signing import Signer
from tokligence.trade.statements import Period, verify_bundle
from tokligence.trade.store import publish_offers

from .books import MINUTE, keep, sell, trade, workload
from .conftest import Books
from .keys import BUYER, SELLER
from .samples import PRICES, STARTED

ALL_TIME = Period(start=0, end=STARTED + 10 * 24 * 60 * MINUTE)


def reconcile_from(
    us: peewee.Database, them: peewee.Database, *, issuer: Signer, to: Signer, period: Period
) -> Report:
    """``to`` reconciles its book ``us`` with ``issuer``'s statement of its
    supply, sent and verified as over HTTP."""
    bundle = statement_of(
        them, issuer, counterparty=to.public_id, direction="supply", period=period, now=1
    )
    verdict = verify_bundle(bundle.to_json(), issuer=issuer.public_id, counterparty=to.public_id)
    assert verdict.ok and verdict.value is not None, verdict.detail
    return reconcile_statement(us, verdict.value)


def findings(report: Report) -> set[tuple[str, str]]:
    return {(f.kind, f.request_id) for f in report.findings if f.kind != MATCHED}


def test_a_workload_both_ways_reconciles_clean_on_both_sides(books: Books) -> None:
    made = workload(books.a, books.b, a=SELLER, b=BUYER, count=8)
    # B reconciles what it consumed from A, A what it consumed from B.
    b_side = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME)
    a_side = reconcile_from(books.a, books.b, issuer=BUYER, to=SELLER, period=ALL_TIME)
    assert b_side.clean and a_side.clean
    assert len(b_side.of(MATCHED)) == len(a_side.of(MATCHED)) == 4
    # A seller reconciles its supply against the buyer's consume statement.
    consumed = statement_of(
        books.b,
        BUYER,
        counterparty=SELLER.public_id,
        direction="consume",
        period=ALL_TIME,
        now=1,
    )
    verdict = verify_bundle(consumed.to_json(), counterparty=SELLER.public_id)
    assert verdict.ok and verdict.value is not None
    assert reconcile_statement(books.a, verdict.value).clean
    # A period selects the requests that started in it, on both sides alike.
    third = Period(start=STARTED + 2 * MINUTE, end=STARTED + 6 * MINUTE)
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=third)
    assert report.clean
    assert {f.request_id for f in report.of(MATCHED)} == {"req_0002", "req_0004"}
    assert {s.receipt.request_id for s in made} >= {"req_0002", "req_0004"}


def _delete_entry(db: peewee.Database) -> None:
    TradeEntry.delete().where(TradeEntry.request_id == "req_0002").execute(db)


def _alter_entry(db: peewee.Database) -> None:
    TradeEntry.update(cost_micro_usd=TradeEntry.cost_micro_usd + 1).where(
        TradeEntry.request_id == "req_0002"
    ).execute(db)


def _delete_receipt(db: peewee.Database) -> None:
    ReceiptRow.delete().where(ReceiptRow.request_id == "req_0002").execute(db)


def _alter_receipt(db: peewee.Database) -> None:
    row = ReceiptRow.select().where(ReceiptRow.request_id == "req_0002").get(db)
    document = row.document.replace('"output":202', '"output":201')
    assert document != row.document
    ReceiptRow.update(document=document).where(ReceiptRow.id == row.id).execute(db)


Edit = Callable[[peewee.Database], None]


@pytest.mark.parametrize(
    ("side", "edit", "expected"),
    [
        ("buyer", _delete_entry, {(MISSING_HERE, "req_0002")}),
        ("buyer", _alter_entry, {(AMOUNT_MISMATCH, "req_0002")}),
        ("buyer", _delete_receipt, {(MISSING_HERE, "req_0002"), (SEQUENCE_GAP, "req_0003")}),
        ("buyer", _alter_receipt, {(BAD_SIGNATURE, "req_0002"), (SEQUENCE_GAP, "req_0003")}),
        ("seller", _delete_entry, {(MISSING_THERE, "req_0002")}),
        ("seller", _alter_entry, {(AMOUNT_MISMATCH, "req_0002")}),
        ("seller", _delete_receipt, {(MISSING_THERE, "req_0002"), (SEQUENCE_GAP, "req_0003")}),
        ("seller", _alter_receipt, {(BAD_SIGNATURE, "req_0002"), (SEQUENCE_GAP, "req_0003")}),
    ],
)
def test_a_row_deleted_or_altered_on_either_side_is_named(
    books: Books, side: str, edit: Edit, expected: set[tuple[str, str]]
) -> None:
    # A sells everything to B here: B is the buyer whose reconcile reports.
    for n in range(5):
        trade(
            books.a,
            books.b,
            seller=SELLER,
            buyer=BUYER,
            request_id=f"req_{n:04d}",
            tokens=Tokens(input=1_000, output=200 + n),
            started_at=STARTED + n * MINUTE,
        )
    assert reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME).clean
    target = books.b if side == "buyer" else books.a
    with dbmod.connection(target):
        edit(target)
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME)
    assert findings(report) == expected
    # Nothing is kept but the rows: a restart reports the same.
    books.reopen()
    again = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME)
    assert again == report


def test_a_long_request_of_an_earlier_period_is_context(books: Books) -> None:
    """Receipt 2 started an hour before the others but ended between them:
    it is in the earlier period, and the context of this one."""
    early = STARTED - 60 * MINUTE
    for n, started in enumerate([STARTED, early, STARTED + MINUTE]):
        signed = sell(
            books.a,
            seller=SELLER,
            buyer=BUYER.public_id,
            request_id=f"req_{n:04d}",
            tokens=Tokens(input=100 + n),
            started_at=started,
        )
        keep(books.b, signed)
    period = Period(start=STARTED, end=STARTED + 10 * MINUTE)
    book = read_period(books.a, counterparty=BUYER.public_id, direction="supply", period=period)
    assert [(h.request_id, h.seq) for h in book.receipts] == [("req_0000", 1), ("req_0002", 3)]
    assert [(h.request_id, h.seq) for h in book.context] == [("req_0001", 2)]
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=period)
    assert report.clean
    assert {f.request_id for f in report.of(MATCHED)} == {"req_0000", "req_0002"}
    earlier = Period(start=early, end=STARTED)
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=earlier)
    assert report.clean and [f.request_id for f in report.of(MATCHED)] == ["req_0001"]


def test_suspect_entries_and_corrections(books: Books) -> None:
    signed = [
        trade(books.a, books.b, seller=SELLER, buyer=BUYER, request_id=f"req_{n}") for n in range(3)
    ]
    # The buyer flagged one when it wrote it; the seller corrected another
    # and the buyer did not.
    suspect = signed[0]
    with dbmod.connection(books.b):
        TradeEntry.update(note="suspect: the answer showed 950 input tokens").where(
            TradeEntry.request_id == suspect.receipt.request_id
        ).execute(books.b)
    correction = Entry(
        counterparty=BUYER.public_id,
        direction="supply",
        request_id=signed[1].receipt.request_id,
        offer="fast@1",
        requested_model="gpt-4o-mini",
        served_model="gpt-4o-mini",
        status="ok",
        cost_micro_usd=-100,
        note="refund",
        created_at=STARTED + 5 * MINUTE,
    )
    assert append_correction(books.a, correction) == 1
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME)
    assert findings(report) == {(SUSPECT, "req_0"), (AMOUNT_MISMATCH, "req_1")}
    mismatch = report.of(AMOUNT_MISMATCH)[0].detail
    assert (
        "their book says 1000 in, 200 out, 0 cache read, 0 cache write, 4400 micro-USD" in mismatch
    )
    # The buyer books the same correction: the books agree again, though
    # both differ from the receipt, which stays what was signed.
    mirrored = replace(correction, counterparty=SELLER.public_id, direction="consume")
    assert append_correction(books.b, mirrored) == 1
    report = reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME)
    assert findings(report) == {(SUSPECT, "req_0")}
    assert [f.detail for f in report.of(MATCHED)] == ["both books corrected it alike", ""]


def test_an_attempt_never_billed_is_no_difference(books: Books) -> None:
    trade(books.a, books.b, seller=SELLER, buyer=BUYER, request_id="req_ok")
    append_entry(
        books.b,
        Entry(
            counterparty=SELLER.public_id,
            direction="consume",
            request_id="req_aborted",
            offer="fast@1",
            requested_model="gpt-4o-mini",
            served_model="gpt-4o-mini",
            status="aborted",
            created_at=STARTED + MINUTE,
        ),
    )
    assert reconcile_from(books.b, books.a, issuer=SELLER, to=BUYER, period=ALL_TIME).clean


@pytest.mark.parametrize(("price_input", "clean"), [("2.5", True), ("2.4", False)])
def test_receipts_are_checked_against_the_sellers_signed_offer(
    books: Books, price_input: str, clean: bool
) -> None:
    offered = Prices(
        input=Decimal(price_input),
        output=PRICES.output,
        cache_read=PRICES.cache_read,
        cache_write=PRICES.cache_write,
    )
    offer = Offer(name="fast", models=("gpt-4o-mini",), provider="loopback", prices=offered)
    (published,) = publish_offers(books.a, [offer], SELLER, now=STARTED - MINUTE)
    assert published.version == 1  # the receipts name fast@1
    trade(books.a, books.b, seller=SELLER, buyer=BUYER, request_id="req_priced")
    bundle = statement_of(
        books.a, SELLER, counterparty=BUYER.public_id, direction="supply", period=ALL_TIME, now=1
    )
    assert bundle.offers == (published.document,)
    report = reconcile_statement(books.b, bundle)
    assert report.clean == clean
    if not clean:
        assert report.of(AMOUNT_MISMATCH)[0].detail.startswith("priced above offer fast@1")
