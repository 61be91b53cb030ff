"""Reconciliation as a table: each way two books can differ, and the class
(and request id) it is reported as."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from decimal import Decimal

import pytest

from tokligence.trade.acks import acknowledge
from tokligence.trade.money import Prices, Tokens
from tokligence.trade.receipts import SignedReceipt, sign_receipt
from tokligence.trade.reconcile import (
    AMOUNT_MISMATCH,
    BAD_SIGNATURE,
    CLASSES,
    MATCHED,
    MISSING_HERE,
    MISSING_THERE,
    SEQUENCE_GAP,
    SUSPECT,
    Report,
    Side,
    reconcile,
    reconcile_acks,
)
from tokligence.trade.statements import Amounts, BookLine, Held, held

from .keys import BUYER, SELLER, STRANGER
from .samples import PRICES, STARTED, chain, receipt
from .test_statements import line_of

RECEIPTS = chain(6)  # req_0001 … req_0006, SELLER to BUYER


@dataclass
class Book:
    """One side's record, to be changed by a case."""

    receipts: list[Held] = field(default_factory=lambda: [held(s.data) for s in RECEIPTS])
    lines: dict[str, BookLine] = field(
        default_factory=lambda: {s.receipt.request_id: line_of(s) for s in RECEIPTS}
    )
    suspect: set[str] = field(default_factory=set)

    def side(self) -> Side:
        return Side(
            receipts=tuple(self.receipts),
            lines=tuple(self.lines.values()),
            suspect=frozenset(self.suspect),
        )

    def drop_receipt(self, request_id: str) -> None:
        self.receipts = [item for item in self.receipts if item.request_id != request_id]

    def replace_receipt(self, request_id: str, data: bytes) -> None:
        self.receipts = [
            held(data, request_id=item.request_id, seq=item.seq)
            if item.request_id == request_id
            else item
            for item in self.receipts
        ]


def run(ours: Book, theirs: Book, **options: object) -> Report:
    return reconcile(
        ours.side(),
        theirs.side(),
        seller=SELLER.public_id,
        buyer=BUYER.public_id,
        **options,  # type: ignore[arg-type]
    )


def classes(report: Report) -> dict[str, str]:
    """request id -> class, for every request not matched."""
    return {f.request_id: f.kind for f in report.findings if f.kind not in (MATCHED, SEQUENCE_GAP)}


def gaps(report: Report) -> set[str]:
    return {f.request_id for f in report.findings if f.kind == SEQUENCE_GAP}


def another_receipt(request_id: str = "req_0003", **changes: object) -> SignedReceipt:
    """A second receipt the seller signed for a request of the chain."""
    original = next(s for s in RECEIPTS if s.receipt.request_id == request_id).receipt
    return sign_receipt(replace(original, **changes), SELLER)  # type: ignore[arg-type]


def altered(request_id: str) -> bytes:
    """The request's receipt with one figure changed after signing."""
    signed = next(s for s in RECEIPTS if s.receipt.request_id == request_id)
    data = signed.data.replace(b'"output":3', b'"output":4')
    assert data != signed.data
    return data


Case = Callable[[Book, Book], None]


def _nothing(ours: Book, theirs: Book) -> None:
    pass


def _our_entry_deleted(ours: Book, theirs: Book) -> None:
    del ours.lines["req_0003"]


def _our_row_and_receipt_deleted(ours: Book, theirs: Book) -> None:
    del ours.lines["req_0003"]
    ours.drop_receipt("req_0003")


def _their_entry_deleted(ours: Book, theirs: Book) -> None:
    del theirs.lines["req_0003"]


def _their_receipt_dropped(ours: Book, theirs: Book) -> None:
    theirs.drop_receipt("req_0003")


def _our_receipt_dropped(ours: Book, theirs: Book) -> None:
    ours.drop_receipt("req_0003")


def _their_row_and_receipt_deleted(ours: Book, theirs: Book) -> None:
    del theirs.lines["req_0003"]
    theirs.drop_receipt("req_0003")


def _our_entry_altered(ours: Book, theirs: Book) -> None:
    line = ours.lines["req_0003"]
    ours.lines["req_0003"] = replace(line, amounts=replace(line.amounts, cost_micro_usd=1))


def _their_entry_altered(ours: Book, theirs: Book) -> None:
    line = theirs.lines["req_0003"]
    theirs.lines["req_0003"] = replace(line, amounts=replace(line.amounts, output=99))


def _our_receipt_altered(ours: Book, theirs: Book) -> None:
    ours.replace_receipt("req_0003", altered("req_0003"))


def _their_receipt_altered(ours: Book, theirs: Book) -> None:
    theirs.replace_receipt("req_0003", altered("req_0003"))


def _seller_signed_two_receipts(ours: Book, theirs: Book) -> None:
    other = another_receipt(tokens=Tokens(input=999, output=3), cost_micro_usd=2528)
    theirs.replace_receipt("req_0003", other.data)
    theirs.lines["req_0003"] = line_of(other)


def _flagged_suspect(ours: Book, theirs: Book) -> None:
    ours.suspect.add("req_0005")


def _they_billed_one_we_never_saw(ours: Book, theirs: Book) -> None:
    extra = sign_receipt(
        receipt(
            request_id="req_0007",
            seq=7,
            prev=RECEIPTS[-1].hash,
            started_at=STARTED + 7000,
            ended_at=STARTED + 7500,
        ),
        SELLER,
    )
    theirs.receipts.append(held(extra.data))
    theirs.lines["req_0007"] = line_of(extra)


def _an_attempt_never_billed(ours: Book, theirs: Book) -> None:
    ours.lines["req_aborted"] = BookLine(
        request_id="req_aborted", status="aborted", amounts=Amounts()
    )


def _a_receipt_for_another_buyer(ours: Book, theirs: Book) -> None:
    stranger = sign_receipt(
        receipt(request_id="req_0003", buyer=STRANGER.public_id, seq=3, prev=RECEIPTS[1].hash),
        SELLER,
    )
    theirs.replace_receipt("req_0003", stranger.data)


def _a_receipt_signed_by_someone_else(ours: Book, theirs: Book) -> None:
    forged = sign_receipt(replace(RECEIPTS[2].receipt, seller=STRANGER.public_id), STRANGER)
    theirs.replace_receipt("req_0003", forged.data)


@pytest.mark.parametrize(
    ("case", "expected", "expected_gaps"),
    [
        (_nothing, {}, set()),
        (_our_entry_deleted, {"req_0003": MISSING_HERE}, set()),
        (_our_row_and_receipt_deleted, {"req_0003": MISSING_HERE}, {"req_0004"}),
        (_our_receipt_dropped, {"req_0003": MISSING_HERE}, {"req_0004"}),
        (_their_entry_deleted, {"req_0003": MISSING_THERE}, set()),
        (_their_receipt_dropped, {"req_0003": MISSING_THERE}, {"req_0004"}),
        (_their_row_and_receipt_deleted, {"req_0003": MISSING_THERE}, {"req_0004"}),
        (_our_entry_altered, {"req_0003": AMOUNT_MISMATCH}, set()),
        (_their_entry_altered, {"req_0003": AMOUNT_MISMATCH}, set()),
        (_our_receipt_altered, {"req_0003": BAD_SIGNATURE}, {"req_0004"}),
        (_their_receipt_altered, {"req_0003": BAD_SIGNATURE}, {"req_0004"}),
        (_seller_signed_two_receipts, {"req_0003": AMOUNT_MISMATCH}, {"req_0004"}),
        (_flagged_suspect, {"req_0005": SUSPECT}, set()),
        (_they_billed_one_we_never_saw, {"req_0007": MISSING_HERE}, set()),
        (_an_attempt_never_billed, {}, set()),
        (_a_receipt_for_another_buyer, {"req_0003": BAD_SIGNATURE}, {"req_0004"}),
        (_a_receipt_signed_by_someone_else, {"req_0003": BAD_SIGNATURE}, {"req_0004"}),
    ],
)
def test_each_difference_has_its_class(
    case: Case, expected: dict[str, str], expected_gaps: set[str]
) -> None:
    ours, theirs = Book(), Book()
    case(ours, theirs)
    report = run(ours, theirs)
    assert classes(report) == expected
    assert gaps(report) == expected_gaps
    assert report.clean == (not expected and not expected_gaps)
    # Every request either side names is classified exactly once.
    named = set(ours.lines) | set(theirs.lines)
    named |= {item.request_id for item in (*ours.receipts, *theirs.receipts)}
    per_request = [f.request_id for f in report.findings if f.kind != SEQUENCE_GAP]
    assert sorted(per_request) == sorted(named)


def test_the_details_say_what_differs() -> None:
    ours, theirs = Book(), Book()
    _our_entry_altered(ours, theirs)
    (finding,) = [f for f in run(ours, theirs).findings if f.kind == AMOUNT_MISMATCH]
    assert finding.detail.startswith("our book says 300 in, 3 out, 0 cache read, 0 cache write, 1 ")
    assert (
        "the receipt says 300 in, 3 out, 0 cache read, 0 cache write, 780 micro-USD"
        in finding.detail
    )
    ours, theirs = Book(), Book()
    _their_receipt_dropped(ours, theirs)
    report = run(ours, theirs)
    (gap,) = report.of(SEQUENCE_GAP)
    assert gap.detail == "their chain: receipt 4 follows 2; 3 missing"
    assert report.of(MISSING_THERE)[0].detail == "they booked it but hold no receipt; we hold one"
    ours, theirs = Book(), Book()
    _their_receipt_altered(ours, theirs)
    report = run(ours, theirs)
    assert report.of(BAD_SIGNATURE)[0].detail.startswith("their receipt: bad_signature: ")
    assert report.of(SEQUENCE_GAP)[0].detail == (
        "their chain: receipt 4's prev is not the hash of receipt 3 (req_0003)"
    )


LOWER = Prices(
    input=Decimal("2.4"), output=Decimal(10), cache_read=Decimal("0.25"), cache_write=Decimal(0)
)


@pytest.mark.parametrize(
    ("offers", "mismatched"),
    [
        (None, 0),
        ({"fast@1": PRICES}, 0),
        ({"fast@2": LOWER}, 0),  # the receipts name another version: not checked
        ({"fast@1": LOWER}, 6),
    ],
)
def test_a_receipt_priced_above_its_offer_is_a_mismatch(
    offers: dict[str, Prices] | None, mismatched: int
) -> None:
    report = run(Book(), Book(), offers=offers)
    found = report.of(AMOUNT_MISMATCH)
    assert len(found) == mismatched
    if found:
        assert found[0].detail == (
            "priced above offer fast@1 (input 2.5 > 2.4 USD per million tokens)"
        )


def test_chain_breaks_on_either_side() -> None:
    # A period from the beginning must start at receipt 1.
    ours, theirs = Book(), Book()
    for book in (ours, theirs):
        book.drop_receipt("req_0001")
        del book.lines["req_0001"]
    assert gaps(run(ours, theirs)) == set()
    report = run(ours, theirs, from_start=True)
    assert {(f.request_id, f.detail) for f in report.of(SEQUENCE_GAP)} == {
        ("req_0002", "our chain starts at receipt 2: 1 to 1 are missing"),
        ("req_0002", "their chain starts at receipt 2: 1 to 1 are missing"),
    }
    # The same number twice.
    ours, theirs = Book(), Book()
    theirs.receipts.insert(3, held(RECEIPTS[2].data, request_id="req_dup", seq=3))
    assert any("has receipt 3 twice" in f.detail for f in run(ours, theirs).of(SEQUENCE_GAP))


def test_context_receipts_close_the_chain() -> None:
    """Receipts between the period's that started outside it are context:
    with them the chain has no gap; without them, it has."""
    ours, theirs = Book(), Book()
    for book in (ours, theirs):
        book.drop_receipt("req_0003")
        del book.lines["req_0003"]
    context = (held(RECEIPTS[2].data),)
    with_context = reconcile(
        replace(ours.side(), context=context),
        replace(theirs.side(), context=context),
        seller=SELLER.public_id,
        buyer=BUYER.public_id,
    )
    assert with_context.clean
    assert gaps(run(ours, theirs)) == {"req_0004"}


def test_counts_and_cleanliness() -> None:
    report = run(Book(), Book())
    assert report.clean
    assert report.counts() == {kind: (6 if kind == MATCHED else 0) for kind in CLASSES}


# ------------------------------------------------------- acknowledgements


def test_the_seller_reconciles_against_acknowledgements() -> None:
    ours = [held(s.data) for s in RECEIPTS]
    ack = acknowledge(RECEIPTS[:4], BUYER, at=STARTED + 10_000).data
    report = reconcile_acks(ours, [ack], seller=SELLER.public_id, buyer=BUYER.public_id)
    assert classes(report) == {"req_0005": MISSING_THERE, "req_0006": MISSING_THERE}
    complete = acknowledge(RECEIPTS, BUYER, at=STARTED + 20_000).data
    assert reconcile_acks(ours, [complete], seller=SELLER.public_id, buyer=BUYER.public_id).clean
    # The buyer acknowledged a receipt we do not hold, or another one.
    other = another_receipt(tokens=Tokens(input=999, output=3), cost_micro_usd=2528)
    odd = acknowledge([*RECEIPTS[:2], other, *RECEIPTS[3:]], BUYER, at=1).data
    dropped = [item for item in ours if item.request_id != "req_0002"]
    report = reconcile_acks(dropped, [odd], seller=SELLER.public_id, buyer=BUYER.public_id)
    assert classes(report) == {"req_0002": MISSING_HERE, "req_0003": AMOUNT_MISMATCH}
    assert gaps(report) == {"req_0003"}
    # An acknowledgement not signed by the buyer, or one of our receipts altered.
    forged = acknowledge(
        [sign_receipt(replace(RECEIPTS[0].receipt, buyer=STRANGER.public_id), SELLER)],
        STRANGER,
        at=1,
    ).data
    report = reconcile_acks(
        ours, [forged, complete], seller=SELLER.public_id, buyer=BUYER.public_id
    )
    assert classes(report) == {"req_0001": BAD_SIGNATURE}
    tampered = [held(altered("req_0003")) if i.request_id == "req_0003" else i for i in ours]
    report = reconcile_acks(tampered, [complete], seller=SELLER.public_id, buyer=BUYER.public_id)
    assert classes(report)["req_0003"] == BAD_SIGNATURE
