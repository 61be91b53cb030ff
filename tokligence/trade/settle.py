"""Settling a pair: what is unsettled, the exchange that signs a settlement
on both sides, and storing it.

Theory of operation
-------------------
One side *proposes* (``tokligence trade settle --peer NAME``: the side that
has the other as a peer, i.e. a buyer of it): :func:`propose` reads its
latest settlement with the counterparty and its unsettled billable entries
up to the cut-off (settlements.py), and signs the settlement they make --
or returns None when there is nothing new, so settling again changes
nothing. It sends the signed body to the other side
(``POST /v1/trade/settlements``), which *accepts* (:func:`accept`): under
the pair's lock it computes the settlement of the same number, previous
and cut-off from its own book, and signs and stores it only when the
bodies are identical. The proposer checks that signature and stores the
settlement too (:func:`record`). Both now hold the body with both
signatures, and each covered entry is named in ``trade_settled_entries``
so it is never settled again.

The exchange is safe to repeat: a proposal the acceptor already holds is
answered with the signature it stored. A proposer whose last answer was
lost is *behind* (the acceptor holds a settlement it does not): the
acceptor answers 409 ``settlement_behind`` with that settlement, signed by
both, and the proposer :func:`adopt`\\ s it -- after checking both
signatures and that its own book makes the same body -- then proposes again.
Books that differ are ``settlement_mismatch``: reconcile first.

Every function opens its own connection; :func:`accept` and :func:`record`
write in one transaction under a lock on the pair (SQLite's write lock, a
PostgreSQL advisory lock), so concurrent settlements of a pair are
numbered once and an entry is covered once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import peewee

from ..ledger import db as dbmod
from .documents import DocumentError, b64url_decode, b64url_encode, decode, encode
from .models import TradeEntry
from .receipts import GENESIS, read_signed
from .settle_models import SettledEntryRow, SettlementRow
from .settlements import (
    SETTLEMENT,
    SettledEntry,
    Settlement,
    settlement_for,
    sign_settlement,
    verify_settlement,
)
from .signing import SIG, Signer, verify
from .statements import Amounts, started_at

# A proposal's cut-off may be this far in the acceptor's future: the clock
# skew trading tolerates elsewhere (orders), in milliseconds.
CUT_OFF_SKEW_MS = 300_000


class Refused(Exception):
    """The other side's settlement cannot be accepted; ``code`` says why."""

    def __init__(self, code: str, message: str, *, status: int = 409) -> None:
        super().__init__(message)
        self.code = code
        self.status = status
        self.message = message


class Behind(Refused):
    """The acceptor holds the settlement the proposer is missing."""

    def __init__(self, stored: Stored) -> None:
        super().__init__(
            "settlement_behind",
            f"settlement {stored.settlement.number} of this pair is settled already, with "
            "another cut-off: store it, then propose again",
        )
        self.stored = stored


@dataclass(frozen=True, kw_only=True, slots=True)
class Stored:
    """A settlement as both signed it."""

    settlement: Settlement
    signatures: dict[str, bytes]  # party -> signature over the body
    proposer: str
    created_at: int = 0

    def envelope(self, party: str) -> bytes:
        """``party``'s signed settlement: the usual envelope."""
        return encode(
            {SETTLEMENT: self.settlement.document(), SIG: b64url_encode(self.signatures[party])}
        )

    def envelopes(self) -> list[str]:
        """Both parties' envelopes, in the order of the parties."""
        return [self.envelope(party).decode("utf-8") for party in self.settlement.parties]

    def verified(self) -> bool:
        return all(
            verify(party, self.settlement.data, self.signatures.get(party, b""))
            for party in self.settlement.parties
        )


def stored_from_envelopes(envelopes: object) -> Stored | None:
    """A settlement signed by both from its two envelopes (as
    :meth:`Stored.envelopes` lists them), when they are that."""
    if not isinstance(envelopes, list) or len(envelopes) != 2:
        return None
    found: list[Settlement] = []
    signatures: dict[str, bytes] = {}
    for text in envelopes:
        if not isinstance(text, str):
            return None
        try:
            sealed = read_signed(SETTLEMENT, text.encode("utf-8"))
            settlement = Settlement.from_document(sealed.body)
        except DocumentError:
            return None
        found.append(settlement)
        for party in settlement.parties:
            if sealed.verified_by(party):
                signatures[party] = sealed.signature
    if found[0] != found[1] or set(signatures) != set(found[0].parties):
        return None
    return Stored(settlement=found[0], signatures=signatures, proposer="")


# ---------------------------------------------------------------- reading


def _stored(row: SettlementRow, us: str) -> Stored:
    settlement = Settlement.from_document(decode(row.document.encode("utf-8")))
    return Stored(
        settlement=settlement,
        signatures={
            us: b64url_decode(row.our_sig),
            row.counterparty: b64url_decode(row.their_sig),
        },
        proposer=row.proposer,
        created_at=row.created_at,
    )


def _latest_row(db: peewee.Database, counterparty: str) -> SettlementRow | None:
    row: SettlementRow | None = (
        SettlementRow.select()
        .where(SettlementRow.counterparty == counterparty)
        .order_by(SettlementRow.number.desc())
        .first(db)
    )
    return row


def settlements(db: peewee.Database, *, us: str, counterparty: str) -> list[Stored]:
    """Every settlement with ``counterparty``, oldest first."""
    with dbmod.connection(db):
        rows = (
            SettlementRow.select()
            .where(SettlementRow.counterparty == counterparty)
            .order_by(SettlementRow.number)
        )
        return [_stored(row, us) for row in rows.execute(db)]


def _entries(db: peewee.Database, counterparty: str) -> list[Any]:
    """Every entry with ``counterparty`` and whether it is settled."""
    settled = (
        (SettledEntryRow.counterparty == TradeEntry.counterparty)
        & (SettledEntryRow.direction == TradeEntry.direction)
        & (SettledEntryRow.request_id == TradeEntry.request_id)
        & (SettledEntryRow.revision == TradeEntry.revision)
    )
    query = (
        TradeEntry.select(
            TradeEntry.direction,
            TradeEntry.request_id,
            TradeEntry.revision,
            TradeEntry.input_tokens,
            TradeEntry.output_tokens,
            TradeEntry.cache_read_tokens,
            TradeEntry.cache_write_tokens,
            TradeEntry.cost_micro_usd,
            TradeEntry.receipt,
            TradeEntry.created_at,
            SettledEntryRow.id.alias("settled"),
        )
        .join(SettledEntryRow, peewee.JOIN.LEFT_OUTER, on=settled)
        .where(TradeEntry.counterparty == counterparty)
        .order_by(TradeEntry.direction, TradeEntry.request_id, TradeEntry.revision)
    )
    return list(query.namedtuples().execute(db))


def unsettled(
    db: peewee.Database, counterparty: str, cut_off: int
) -> tuple[list[SettledEntry], list[SettledEntry]]:
    """The billable entries with ``counterparty`` not settled yet whose
    request started before ``cut_off``: (supplied, consumed). Runs on the
    caller's connection."""
    rows = _entries(db, counterparty)
    # Per request, from its first entry: whether it holds a receipt, and
    # when the request started.
    first: dict[tuple[str, str], tuple[bool, int]] = {}
    for row in rows:
        if row.revision == 0:
            moment = None if row.receipt is None else started_at(row.receipt.encode("utf-8"))
            first[(row.direction, row.request_id)] = (
                row.receipt is not None,
                row.created_at if moment is None else moment,
            )
    out: dict[str, list[SettledEntry]] = {"supply": [], "consume": []}
    for row in rows:
        if row.settled is not None or row.direction not in out:
            continue
        receipt, moment = first.get((row.direction, row.request_id), (False, row.created_at))
        billable = receipt or row.cost_micro_usd != 0
        if not billable or moment >= cut_off:
            continue
        amounts = Amounts(
            input=row.input_tokens,
            output=row.output_tokens,
            cache_read=row.cache_read_tokens,
            cache_write=row.cache_write_tokens,
            cost_micro_usd=row.cost_micro_usd,
        )
        out[row.direction].append(
            SettledEntry(request_id=row.request_id, revision=row.revision, amounts=amounts)
        )
    return out["supply"], out["consume"]


def _next(db: peewee.Database, counterparty: str) -> tuple[int, str]:
    latest = _latest_row(db, counterparty)
    return (1, GENESIS) if latest is None else (latest.number + 1, latest.hash)


def compute(
    db: peewee.Database,
    *,
    us: str,
    them: str,
    cut_off: int,
    number: int | None = None,
    previous: str | None = None,
) -> tuple[Settlement | None, tuple[list[SettledEntry], list[SettledEntry]]]:
    """The settlement our book makes with ``them`` up to ``cut_off`` (as the
    next one after our latest, unless ``number`` and ``previous`` say), and
    the entries it covers; on the caller's connection."""
    if number is None or previous is None:
        number, previous = _next(db, them)
    supplied, consumed = unsettled(db, them, cut_off)
    settlement = settlement_for(
        us=us,
        them=them,
        number=number,
        previous=previous,
        cut_off=cut_off,
        supplied=supplied,
        consumed=consumed,
    )
    return settlement, (supplied, consumed)


# ---------------------------------------------------------------- writing


def _lock(counterparty: str) -> str:
    return f"trade-settle:{counterparty}"


def _insert(
    db: peewee.Database,
    stored: Stored,
    *,
    us: str,
    covered: tuple[list[SettledEntry], list[SettledEntry]],
    now: int,
) -> None:
    settlement = stored.settlement
    them = settlement.other(us)
    row_id = SettlementRow.insert(
        counterparty=them,
        number=settlement.number,
        cut_off=settlement.cut_off,
        hash=settlement.hash,
        document=settlement.data.decode("utf-8"),
        our_sig=b64url_encode(stored.signatures[us]),
        their_sig=b64url_encode(stored.signatures[them]),
        proposer=stored.proposer,
        created_at=now,
    ).execute(db)
    rows = [
        {
            "settlement_id": row_id,
            "counterparty": them,
            "direction": direction,
            "request_id": entry.request_id,
            "revision": entry.revision,
        }
        for direction, entries in zip(("supply", "consume"), covered, strict=True)
        for entry in entries
    ]
    # Small batches: SQLite's oldest limit is 999 parameters per statement.
    for start in range(0, len(rows), 100):
        SettledEntryRow.insert_many(rows[start : start + 100]).execute(db)


def record(db: peewee.Database, stored: Stored, *, us: str, now: int) -> bool:
    """Store a settlement both signed, on the proposer's side (or one
    adopted): False when it is here already; raises Refused when it is not
    the next one, or our book does not make it."""
    settlement = stored.settlement
    them = settlement.other(us)
    if not stored.verified():
        raise Refused("bad_signature", "the settlement is not signed by both parties")
    try:
        with dbmod.connection(db), dbmod.backend_of(db).exclusive_transaction(db, _lock(them)):
            same = (
                SettlementRow.select(SettlementRow.id)
                .where(
                    (SettlementRow.counterparty == them) & (SettlementRow.hash == settlement.hash)
                )
                .first(db)
            )
            if same is not None:
                return False
            ours, covered = compute(
                db,
                us=us,
                them=them,
                cut_off=settlement.cut_off,
                number=settlement.number,
                previous=settlement.previous,
            )
            number, previous = _next(db, them)
            if (settlement.number, settlement.previous) != (number, previous):
                raise Refused(
                    "settlement_out_of_order",
                    f"settlement {settlement.number} does not follow our latest ({number - 1})",
                )
            if ours != settlement:
                raise Refused(
                    "settlement_mismatch",
                    "our book does not make this settlement: reconcile first",
                )
            _insert(db, stored, us=us, covered=covered, now=now)
    except peewee.IntegrityError:
        raise Refused("settlement_conflict", "its entries were settled meanwhile") from None
    return True


def propose(
    db: peewee.Database, signer: Signer, *, them: str, cut_off: int
) -> tuple[Settlement, bytes] | None:
    """Our signed proposal to settle with ``them`` up to ``cut_off``; None
    when nothing billable is unsettled."""
    with dbmod.connection(db):
        settlement, _ = compute(db, us=signer.public_id, them=them, cut_off=cut_off)
    if settlement is None:
        return None
    return settlement, sign_settlement(settlement, signer).data


def accept(db: peewee.Database, signer: Signer, *, proposer: str, data: bytes, now: int) -> Stored:
    """The acceptor's side of the exchange: check ``proposer``'s signed
    proposal against our own book, then sign and store it. Returns the
    settlement as both signed it; raises Refused (Behind) otherwise."""
    us = signer.public_id
    verdict = verify_settlement(data, signer=proposer, party=us)
    if not verdict.ok or verdict.value is None:
        raise Refused(
            verdict.reason or "malformed", f"not a settlement: {verdict.detail}", status=400
        )
    proposal = verdict.value
    if proposal.cut_off > now + CUT_OFF_SKEW_MS:
        raise Refused("cut_off_in_future", "the cut-off is in the future", status=400)
    theirs = b64url_decode(decode(data)[SIG])
    try:
        with dbmod.connection(db), dbmod.backend_of(db).exclusive_transaction(db, _lock(proposer)):
            held = (
                SettlementRow.select()
                .where(
                    (SettlementRow.counterparty == proposer)
                    & (SettlementRow.number == proposal.number)
                )
                .first(db)
            )
            if held is not None:
                stored = _stored(held, us)
                if stored.settlement == proposal:
                    return stored  # asked again: the same answer
                raise Behind(stored)
            number, previous = _next(db, proposer)
            if (proposal.number, proposal.previous) != (number, previous):
                raise Refused(
                    "settlement_out_of_order",
                    f"settlement {proposal.number} does not follow our latest with you "
                    f"({number - 1})",
                )
            ours, covered = compute(
                db,
                us=us,
                them=proposer,
                cut_off=proposal.cut_off,
                number=number,
                previous=previous,
            )
            if ours != proposal:
                raise Refused("settlement_mismatch", _mismatch(ours, proposal, us))
            stored = Stored(
                settlement=proposal,
                signatures={us: sign_settlement(proposal, signer).signature, proposer: theirs},
                proposer=proposer,
                created_at=now,
            )
            _insert(db, stored, us=us, covered=covered, now=now)
    except peewee.IntegrityError:
        raise Refused("settlement_conflict", "its entries were settled meanwhile") from None
    return stored


def _mismatch(ours: Settlement | None, proposal: Settlement, us: str) -> str:
    if ours is None:
        return "our book has nothing unsettled up to that cut-off: reconcile first"
    parts = []
    for mine, theirs in zip(ours.flows, proposal.flows, strict=True):
        if mine != theirs:
            parts.append(
                f"{mine.seller} to {mine.buyer}: we count {mine.entries} entries, "
                f"{mine.amounts.cost_micro_usd} micro-USD; you {theirs.entries}, "
                f"{theirs.amounts.cost_micro_usd}"
            )
    return "our book does not make this settlement (" + "; ".join(parts) + "): reconcile first"


def adopt(db: peewee.Database, stored: Stored, *, us: str, now: int) -> bool:
    """Store a settlement the other side holds and we do not (its answer
    to us was lost), once both signatures verify and our book makes it."""
    return record(db, stored, us=us, now=now)
