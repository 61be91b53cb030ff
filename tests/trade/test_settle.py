"""Settlements: the document both sides sign, the exchange between two
books on SQLite and PostgreSQL, idempotence, catching up, and the summary
before and after."""

from __future__ import annotations

import hashlib
from dataclasses import replace

import peewee
import pytest

from tokligence.ledger import db as dbmod
from tokligence.trade.book import Entry, append_correction, append_entry
from tokligence.trade.documents import decode, encode
from tokligence.trade.models import TradeEntry
from tokligence.trade.receipts import GENESIS, SignedReceipt
from tokligence.trade.settle import (
    Behind,
    Refused,
    Stored,
    accept,
    adopt,
    propose,
    record,
    settlements,
    stored_from_envelopes,
)
from tokligence.trade.settle_models import SettledEntryRow, SettlementRow
from tokligence.trade.settlements import (
    SETTLEMENT,
    SettledEntry,
    Settlement,
    entries_hash,
    settlement_for,
    sign_settlement,
    verify_settlement,
)
from tokligence.trade.statements import Amounts
from tokligence.trade.summary import Counterparty, summary, summary_json

from .books import MINUTE, trade, workload
from .conftest import Books
from .keys import BUYER, SELLER, STRANGER
from .samples import STARTED
from .test_store import at_once

LATER = STARTED + 24 * 60 * MINUTE  # a cut-off after the workloads


def entry(request_id: str, revision: int = 0, cost: int = 100) -> SettledEntry:
    return SettledEntry(
        request_id=request_id,
        revision=revision,
        amounts=Amounts(input=10, output=2, cost_micro_usd=cost),
    )


def test_the_document_both_sides_sign() -> None:
    supplied = [entry("req_b"), entry("req_a"), entry("req_a", 1, cost=-10)]
    consumed = [entry("req_c", cost=250)]
    made = settlement_for(
        us=SELLER.public_id,
        them=BUYER.public_id,
        number=1,
        previous=GENESIS,
        cut_off=LATER,
        supplied=supplied,
        consumed=consumed,
    )
    assert made is not None
    # The same from the other side: nothing depends on who proposes.
    mirrored = settlement_for(
        us=BUYER.public_id,
        them=SELLER.public_id,
        number=1,
        previous=GENESIS,
        cut_off=LATER,
        supplied=consumed,
        consumed=supplied,
    )
    assert mirrored == made and mirrored.data == made.data
    body = made.document()
    assert body["parties"] == sorted([SELLER.public_id, BUYER.public_id])
    ours = next(f for f in body["flows"] if f["seller"] == SELLER.public_id)
    assert (ours["requests"], ours["entries"], ours["cost_micro_usd"]) == (2, 3, 190)
    lines = "req_a 0 10 2 0 0 100\nreq_a 1 10 2 0 0 -10\nreq_b 0 10 2 0 0 100\n"
    assert ours["entries_hash"] == hashlib.sha256(lines.encode()).hexdigest()
    assert entries_hash(supplied) == ours["entries_hash"]
    # BUYER owes SELLER 190, SELLER owes BUYER 250: SELLER pays 60.
    assert body["net"] == {"payer": SELLER.public_id, "payee": BUYER.public_id, "micro_usd": 60}
    assert Settlement.from_document(decode(made.data)) == made
    assert made.hash == hashlib.sha256(made.data).hexdigest()
    # Nothing to settle: no document.
    assert (
        settlement_for(
            us=SELLER.public_id,
            them=BUYER.public_id,
            number=1,
            previous=GENESIS,
            cut_off=LATER,
            supplied=[],
            consumed=[],
        )
        is None
    )


def test_a_signed_settlement_refuses_any_change() -> None:
    made = settlement_for(
        us=SELLER.public_id,
        them=BUYER.public_id,
        number=1,
        previous=GENESIS,
        cut_off=LATER,
        supplied=[entry("req_a")],
        consumed=[],
    )
    assert made is not None
    data = sign_settlement(made, SELLER).data
    assert verify_settlement(data, signer=SELLER.public_id).ok
    assert verify_settlement(data, signer=BUYER.public_id).reason == "bad_signature"
    assert verify_settlement(data, signer=STRANGER.public_id).reason == "wrong_party"
    text = data.decode()
    for position, char in enumerate(text):
        other = "A" if char != "A" else "B"
        changed = (text[:position] + other + text[position + 1 :]).encode()
        assert not verify_settlement(changed, signer=SELLER.public_id).ok, position
    with pytest.raises(ValueError, match="signed by its parties"):
        sign_settlement(made, STRANGER)
    # A net that is not what the flows make is malformed, signed or not.
    body = made.document()
    body["net"]["micro_usd"] += 1
    forged = encode({SETTLEMENT: body, "sig": text.split('"sig":"')[1].rstrip('"}')})
    assert verify_settlement(forged, signer=SELLER.public_id).reason == "malformed"


# ------------------------------------------------------------- two books


def settle(books: Books, *, cut_off: int = LATER) -> Stored | None:
    """B proposes, A accepts, B records: the exchange without HTTP."""
    proposal = propose(books.b, BUYER, them=SELLER.public_id, cut_off=cut_off)
    if proposal is None:
        return None
    settlement, data = proposal
    stored = accept(books.a, SELLER, proposer=BUYER.public_id, data=data, now=cut_off)
    assert stored.settlement == settlement
    assert record(books.b, stored_on_b(stored), us=BUYER.public_id, now=cut_off)
    return stored


def stored_on_b(stored: Stored) -> Stored:
    """What B makes of A's answer: the same body, both signatures."""
    return replace(stored, proposer=BUYER.public_id)


def row_of(books_rows: list[Counterparty], party: str) -> Counterparty:
    (row,) = [row for row in books_rows if row.counterparty == party]
    return row


def expected_costs(made: list[SignedReceipt], seller: str) -> int:
    return sum(s.receipt.cost_micro_usd for s in made if s.receipt.seller == seller)


def test_settling_brings_the_net_to_zero_once(books: Books) -> None:
    made = workload(books.a, books.b, a=SELLER, b=BUYER, count=6)
    a_sold, b_sold = expected_costs(made, SELLER.public_id), expected_costs(made, BUYER.public_id)
    before = row_of(summary(books.a), BUYER.public_id)
    assert before.supplied.total.cost_micro_usd == a_sold
    assert before.consumed.total.cost_micro_usd == b_sold
    assert before.net_micro_usd == a_sold - b_sold
    assert before.supplied.total.requests == 3
    assert before.supplied.total.tokens == sum(
        s.receipt.tokens.total for s in made if s.receipt.seller == SELLER.public_id
    )
    assert before.net_tokens == before.supplied.total.tokens - before.consumed.total.tokens
    # B's view is A's mirrored.
    mirror = row_of(summary(books.b), SELLER.public_id)
    assert (mirror.net_micro_usd, mirror.net_tokens) == (-before.net_micro_usd, -before.net_tokens)

    stored = settle(books)
    assert stored is not None and stored.verified()
    payer, payee, amount = stored.settlement.net
    assert (payer, payee, amount) == (
        (BUYER.public_id, SELLER.public_id, a_sold - b_sold)
        if a_sold >= b_sold
        else (SELLER.public_id, BUYER.public_id, b_sold - a_sold)
    )
    for db, other in ((books.a, BUYER.public_id), (books.b, SELLER.public_id)):
        after = row_of(summary(db), other)
        assert (after.net_micro_usd, after.net_tokens) == (0, 0)
        assert after.supplied.settled == after.supplied.total
        assert after.consumed.settled == after.consumed.total
        # Both hold it, signed by both.
        (held,) = settlements(
            db, us=SELLER.public_id if db is books.a else BUYER.public_id, counterparty=other
        )
        assert held.settlement == stored.settlement and held.verified()
    # Again: nothing new, no new document, on either side.
    assert settle(books) is None
    assert propose(books.a, SELLER, them=BUYER.public_id, cut_off=LATER) is None
    with dbmod.connection(books.a):
        assert SettlementRow.select().count(books.a) == 1
        assert SettledEntryRow.select().count(books.a) == 6
    # A restart changes nothing.
    books.reopen()
    assert row_of(summary(books.a), BUYER.public_id).net_micro_usd == 0
    assert settle(books) is None


def test_new_trades_make_the_next_settlement(books: Books) -> None:
    workload(books.a, books.b, a=SELLER, b=BUYER, count=2)
    first = settle(books)
    assert first is not None
    trade(books.a, books.b, seller=SELLER, buyer=BUYER, request_id="req_late", started_at=LATER)
    # Started after the cut-off: waits for a later one.
    assert settle(books) is None
    # A correction of an old request is settled with the new trades.
    fix = Entry(
        counterparty=BUYER.public_id,
        direction="supply",
        request_id="req_0000",
        offer="fast@1",
        requested_model="gpt-4o-mini",
        served_model="gpt-4o-mini",
        status="ok",
        cost_micro_usd=-500,
        note="refund",
        created_at=LATER,
    )
    append_correction(books.a, fix)
    append_correction(books.b, replace(fix, counterparty=SELLER.public_id, direction="consume"))
    second = settle(books, cut_off=LATER + MINUTE)
    assert second is not None
    assert (second.settlement.number, second.settlement.previous) == (2, first.settlement.hash)
    flow = next(f for f in second.settlement.flows if f.seller == SELLER.public_id)
    assert (flow.requests, flow.entries) == (2, 2)
    assert flow.amounts.cost_micro_usd == 4500 - 500
    assert row_of(summary(books.b), SELLER.public_id).net_micro_usd == 0


def test_an_attempt_never_billed_is_never_owed(books: Books) -> None:
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
            input_tokens=40,
            created_at=STARTED,
        ),
    )
    row = row_of(summary(books.b), SELLER.public_id)
    assert row.consumed.total.requests == 2
    assert row.consumed.unbilled.requests == 1 and row.consumed.unsettled.requests == 1
    assert settle(books) is not None
    row = row_of(summary(books.b), SELLER.public_id)
    assert (row.net_micro_usd, row.net_tokens) == (0, 0)
    assert row.consumed.total.tokens == row.consumed.settled.tokens + 40


def test_books_that_differ_are_not_settled(books: Books) -> None:
    workload(books.a, books.b, a=SELLER, b=BUYER, count=4)
    with dbmod.connection(books.a):
        TradeEntry.update(cost_micro_usd=1).where(TradeEntry.request_id == "req_0002").execute(
            books.a
        )
    proposal = propose(books.b, BUYER, them=SELLER.public_id, cut_off=LATER)
    assert proposal is not None
    with pytest.raises(Refused) as refused:
        accept(books.a, SELLER, proposer=BUYER.public_id, data=proposal[1], now=LATER)
    assert refused.value.code == "settlement_mismatch"
    assert "reconcile first" in refused.value.message
    assert settlements(books.a, us=SELLER.public_id, counterparty=BUYER.public_id) == []


def test_proposals_that_cannot_be_accepted(books: Books) -> None:
    workload(books.a, books.b, a=SELLER, b=BUYER, count=2)
    settlement, data = propose(books.b, BUYER, them=SELLER.public_id, cut_off=LATER) or (None, b"")
    assert settlement is not None
    # Signed by someone else than the account's buyer, or garbage.
    with pytest.raises(Refused) as refused:
        accept(books.a, SELLER, proposer=STRANGER.public_id, data=data, now=LATER)
    assert (refused.value.code, refused.value.status) == ("wrong_party", 400)
    with pytest.raises(Refused) as refused:
        accept(books.a, SELLER, proposer=BUYER.public_id, data=b"{}", now=LATER)
    assert refused.value.code == "malformed"
    # A cut-off in the acceptor's future.
    with pytest.raises(Refused) as refused:
        accept(books.a, SELLER, proposer=BUYER.public_id, data=data, now=LATER - 3_600_000)
    assert refused.value.code == "cut_off_in_future"
    # Number 2 before number 1.
    second = sign_settlement(replace(settlement, number=2, previous="1" * 64), BUYER).data
    with pytest.raises(Refused) as refused:
        accept(books.a, SELLER, proposer=BUYER.public_id, data=second, now=LATER)
    assert refused.value.code == "settlement_out_of_order"


def test_asking_twice_gets_the_same_answer_and_a_lost_answer_is_caught_up(books: Books) -> None:
    workload(books.a, books.b, a=SELLER, b=BUYER, count=4)
    settlement, data = propose(books.b, BUYER, them=SELLER.public_id, cut_off=LATER) or (None, b"")
    assert settlement is not None
    # Two deliveries of one proposal at once: one settlement, one answer.
    answers = at_once(
        2, lambda _: accept(books.a, SELLER, proposer=BUYER.public_id, data=data, now=LATER)
    )
    assert answers[0] == answers[1]
    with dbmod.connection(books.a):
        assert SettlementRow.select().count(books.a) == 1
    # B never stored the answer, and proposes again with another cut-off:
    # A holds settlement 1 and says so, signed by both.
    _, again = propose(books.b, BUYER, them=SELLER.public_id, cut_off=LATER + MINUTE) or (None, b"")
    with pytest.raises(Behind) as behind:
        accept(books.a, SELLER, proposer=BUYER.public_id, data=again, now=LATER + MINUTE)
    sent = behind.value.stored.envelopes()
    caught = stored_from_envelopes(sent)
    assert caught is not None and caught.settlement == settlement
    # A copy signed by one party only is not caught up.
    assert stored_from_envelopes([sent[0], sent[0]]) is None
    assert stored_from_envelopes([sent[0]]) is None
    with pytest.raises(Refused) as refused:
        adopt(books.b, replace(caught, signatures={}), us=BUYER.public_id, now=LATER)
    assert refused.value.code == "bad_signature"
    # Nor one our book does not make.
    with dbmod.connection(books.b):
        changed = TradeEntry.update(cost_micro_usd=TradeEntry.cost_micro_usd + 1).where(
            TradeEntry.request_id == "req_0001"
        )
        changed.execute(books.b)
    with pytest.raises(Refused) as refused:
        adopt(books.b, caught, us=BUYER.public_id, now=LATER)
    assert refused.value.code == "settlement_mismatch"
    with dbmod.connection(books.b):
        restored = TradeEntry.update(cost_micro_usd=TradeEntry.cost_micro_usd - 1).where(
            TradeEntry.request_id == "req_0001"
        )
        restored.execute(books.b)
    assert adopt(books.b, caught, us=BUYER.public_id, now=LATER)
    assert not adopt(books.b, caught, us=BUYER.public_id, now=LATER)  # once
    assert propose(books.b, BUYER, them=SELLER.public_id, cut_off=LATER + MINUTE) is None
    assert row_of(summary(books.b), SELLER.public_id).net_micro_usd == 0


def test_the_summary_json(books: Books) -> None:
    trade(books.a, books.b, seller=SELLER, buyer=BUYER, request_id="req_one")
    value = summary_json(summary(books.a))
    (row,) = value["counterparties"]
    assert row["counterparty"] == BUYER.public_id
    assert row["supplied"] == {
        "requests": 1,
        "tokens": {"input": 1000, "output": 200, "cache_read": 0, "cache_write": 0, "total": 1200},
        "cost_micro_usd": 4500,
        "cost_usd": "0.004500",
    }
    assert row["consumed"]["requests"] == 0
    assert row["net"] == {"tokens": 1200, "cost_micro_usd": 4500, "cost_usd": "0.004500"}
    assert row["settled"]["supplied"]["cost_micro_usd"] == 0
    assert row["unsettled"]["supplied"]["cost_micro_usd"] == 4500
    assert value["totals"]["net"] == row["net"]
    empty = summary_json([])
    assert empty["counterparties"] == []
    assert empty["totals"]["net"] == {"tokens": 0, "cost_micro_usd": 0, "cost_usd": "0.000000"}


def test_a_database_without_trading_tables_has_nothing_to_sum(database: peewee.Database) -> None:
    assert summary(database) == []
