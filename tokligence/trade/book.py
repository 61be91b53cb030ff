"""The trading book: receipt chains and supply/consume entries.

Theory of operation
-------------------
Receipts are kept per counterparty and direction: ``supply`` holds the
receipts this gateway signed for a buyer, ``consume`` those a seller signed
for it. A request id appears once per chain and so does a sequence number
(unique indexes), so a replayed request can never be billed twice.

A seller extends its own chain with :func:`append_receipt`: under a lock
on that chain (SQLite's write lock, a PostgreSQL advisory lock on the
chain's key) it reads the last receipt, hands the next link (sequence
number and previous hash) to the caller's function that makes and signs
the receipt, and stores it -- so concurrent requests to one buyer get
consecutive numbers and each links to the one before. A buyer stores what
a seller sent as it is (:func:`store_receipt`); gaps and broken links are
for reconciliation to find, not for the store to hide.

Entries are the supply and consume rows: one per request (revision 0),
and a correction is another row of the same request with the next
revision holding the difference, so an entry is never updated and totals
are plain sums.

A sale is closed in one transaction (:func:`close_sale`): the reservation
posted at the actual cost, the offer's tokens of the day counted, the
receipt signed into the chain and the supply entry written -- a seller that
dies in between has done none of it, and its reservation is voided later.
A purchase is kept the same way (:func:`record_purchase`): the seller's
receipt in the consume chain and the consume entry, together.
Acknowledgements are kept as signed (:func:`store_ack`), each once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import peewee

from ..ledger import db as dbmod
from .acks import ACK, Ack
from .documents import sha256_hex
from .models import AckRow, OfferDay, ReceiptRow, TradeEntry
from .receipts import GENESIS, RECEIPT, Receipt, SignedReceipt
from .signing import Sealed, unseal
from .store import POSTED, StoreConflict, close_held, utc_day

DIRECTIONS = ("supply", "consume")


class BookConflict(Exception):
    """The row is there already (a replayed request id or sequence number)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Link:
    """Where the next receipt of a chain goes."""

    seq: int
    prev: str


def _check_direction(direction: str) -> None:
    if direction not in DIRECTIONS:
        raise ValueError(f"direction is supply or consume, not {direction!r}")


def _chain(counterparty: str, direction: str) -> peewee.Expression:
    return (ReceiptRow.counterparty == counterparty) & (ReceiptRow.direction == direction)


def _insert_receipt(
    db: peewee.Database, counterparty: str, direction: str, signed: SignedReceipt, now: int
) -> None:
    ReceiptRow.insert(
        counterparty=counterparty,
        direction=direction,
        seq=signed.receipt.seq,
        request_id=signed.receipt.request_id,
        hash=signed.hash,
        prev=signed.receipt.prev,
        document=signed.data.decode("utf-8"),
        created_at=now,
    ).execute(db)


def append_receipt(
    db: peewee.Database,
    *,
    counterparty: str,
    direction: str,
    make: Callable[[Link], SignedReceipt],
    now: int,
) -> SignedReceipt:
    """Extend this gateway's chain with the receipt ``make`` signs for the
    next link; raises BookConflict when its request id is in the chain."""
    _check_direction(direction)
    backend = dbmod.backend_of(db)
    try:
        with (
            dbmod.connection(db),
            backend.exclusive_transaction(db, _chain_lock(direction, counterparty)),
        ):
            signed = _extend(db, counterparty, direction, make, now)
    except peewee.IntegrityError as error:
        raise BookConflict(f"the chain already has that request ({error})") from None
    return signed


def _chain_lock(direction: str, counterparty: str) -> str:
    return f"trade-chain:{direction}:{counterparty}"


def _made(
    db: peewee.Database, counterparty: str, direction: str, make: Callable[[Link], SignedReceipt]
) -> SignedReceipt:
    """The receipt ``make`` signs for the chain's next link (under the
    caller's lock on the chain)."""
    last = (
        ReceiptRow.select(ReceiptRow.seq, ReceiptRow.hash)
        .where(_chain(counterparty, direction))
        .order_by(ReceiptRow.seq.desc())
        .first(db)
    )
    link = Link(seq=1, prev=GENESIS) if last is None else Link(seq=last.seq + 1, prev=last.hash)
    signed = make(link)
    if (signed.receipt.seq, signed.receipt.prev) != (link.seq, link.prev):
        raise ValueError(f"the receipt is not at the chain's next link {link}")
    return signed


def _chained(
    db: peewee.Database, counterparty: str, direction: str, signed: SignedReceipt, now: int
) -> None:
    try:
        _insert_receipt(db, counterparty, direction, signed, now)
    except peewee.IntegrityError:  # the transaction is undone as this leaves it
        raise BookConflict(f"the chain already has request {signed.receipt.request_id}") from None


def _extend(
    db: peewee.Database,
    counterparty: str,
    direction: str,
    make: Callable[[Link], SignedReceipt],
    now: int,
) -> SignedReceipt:
    """The chain's next receipt, made and inserted under the caller's lock."""
    signed = _made(db, counterparty, direction, make)
    _chained(db, counterparty, direction, signed, now)
    return signed


def close_sale(
    db: peewee.Database,
    *,
    reservation_id: int,
    buyer: str,
    offer: str,
    make: Callable[[Link], SignedReceipt],
    entry: Callable[[SignedReceipt], Entry],
    now: int,
) -> SignedReceipt:
    """Close a sale at once (see the module docstring): post the
    reservation at the cost of the receipt ``make`` signs for the chain's
    next link, count its tokens for ``offer`` (its name) today, and write
    the supply ``entry`` made from it. The request was served, so its cost
    is posted even where it exceeds the amount held and the credit left.
    Raises StoreConflict when the reservation is no longer held (closed, or
    voided as stale), BookConflict when the chain has the request."""
    backend = dbmod.backend_of(db)
    try:
        with (
            dbmod.connection(db),
            backend.exclusive_transaction(db, _chain_lock("supply", buyer)),
        ):
            signed = _made(db, buyer, "supply", make)
            receipt = signed.receipt
            total = receipt.tokens.total
            if not close_held(
                db,
                reservation_id,
                POSTED,
                receipt.cost_micro_usd,
                now,
                tokens=total,
                beyond_limit=True,
            ):
                raise StoreConflict(f"reservation {reservation_id} is not held")
            _chained(db, buyer, "supply", signed, now)
            if total:
                OfferDay.insert(offer=offer, day=utc_day(now), tokens=total).on_conflict(
                    conflict_target=[OfferDay.offer, OfferDay.day],
                    update={OfferDay.tokens: OfferDay.tokens + total},
                ).execute(db)
            TradeEntry.insert(**_entry_row(entry(signed))).execute(db)
    except peewee.IntegrityError as error:
        raise BookConflict(f"the book already has that request ({error})") from None
    return signed


def record_purchase(
    db: peewee.Database, *, signed: SignedReceipt | None, entry: Entry, now: int
) -> None:
    """Keep a purchase: the seller's receipt (when it sent a valid one) in
    the consume chain and the consume entry, together; raises BookConflict
    when the chain has the receipt's request or number, or the book the
    entry's request."""
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            if signed is not None:
                _insert_receipt(db, entry.counterparty, "consume", signed, now)
            TradeEntry.insert(**_entry_row(entry)).execute(db)
    except peewee.IntegrityError as error:
        raise BookConflict(f"the book already has that purchase ({error})") from None


def spent(db: peewee.Database, counterparty: str) -> int:
    """Micro-USD this gateway bought from ``counterparty`` (corrections included)."""
    mine = (TradeEntry.counterparty == counterparty) & (TradeEntry.direction == "consume")
    with dbmod.connection(db):
        total = (
            TradeEntry.select(peewee.fn.COALESCE(peewee.fn.SUM(TradeEntry.cost_micro_usd), 0))
            .where(mine)
            .scalar(db)
        )
    return int(total)


def entries(db: peewee.Database, *, counterparty: str, direction: str) -> list[Entry]:
    """A counterparty's entries in one direction, in the order written."""
    _check_direction(direction)
    mine = (TradeEntry.counterparty == counterparty) & (TradeEntry.direction == direction)
    with dbmod.connection(db):
        rows = list(TradeEntry.select().where(mine).order_by(TradeEntry.id).execute(db))
    return [
        Entry(
            counterparty=row.counterparty,
            direction=row.direction,
            request_id=row.request_id,
            offer=row.offer,
            requested_model=row.requested_model,
            served_model=row.served_model,
            status=row.status,
            input_tokens=row.input_tokens,
            output_tokens=row.output_tokens,
            cache_read_tokens=row.cache_read_tokens,
            cache_write_tokens=row.cache_write_tokens,
            cost_micro_usd=row.cost_micro_usd,
            receipt=None if row.receipt is None else row.receipt.encode("utf-8"),
            note=row.note,
            revision=row.revision,
            created_at=row.created_at,
        )
        for row in rows
    ]


# ------------------------------------------------------------ acknowledgements


def unknown_acknowledged(db: peewee.Database, ack: Ack) -> list[str]:
    """The receipts ``ack`` (a buyer's, of our supply chain) names that the
    chain does not hold as named: by request id, number and hash."""
    ids = [item.request_id for item in ack.receipts]
    with dbmod.connection(db):
        rows = ReceiptRow.select(ReceiptRow.request_id, ReceiptRow.seq, ReceiptRow.hash).where(
            _chain(ack.buyer, "supply") & ReceiptRow.request_id.in_(ids)
        )
        held = {row.request_id: (row.seq, row.hash) for row in rows.execute(db)}
    problems = []
    for item in ack.receipts:
        found = held.get(item.request_id)
        if found is None:
            problems.append(f"unknown request id {item.request_id}")
        elif found != (item.seq, item.receipt):
            problems.append(f"request {item.request_id} is receipt {found[0]} with another hash")
    return problems


def store_ack(
    db: peewee.Database, *, counterparty: str, direction: str, ack: Ack, sealed: Sealed, now: int
) -> bool:
    """Keep a signed acknowledgement; False when it was kept before."""
    _check_direction(direction)
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            AckRow.insert(
                counterparty=counterparty,
                direction=direction,
                acked_at=ack.acked_at,
                receipts=len(ack.receipts),
                hash=sha256_hex(sealed.data),
                document=sealed.data.decode("utf-8"),
                created_at=now,
            ).execute(db)
    except peewee.IntegrityError:
        return False
    return True


def acknowledged(db: peewee.Database, *, counterparty: str, direction: str) -> set[str]:
    """The request ids the kept acknowledgements of a chain name."""
    with dbmod.connection(db):
        query = AckRow.select(AckRow.document).where(
            (AckRow.counterparty == counterparty) & (AckRow.direction == direction)
        )
        documents = [row.document for row in query.execute(db)]
    out: set[str] = set()
    for document in documents:
        body = unseal(ACK, document.encode("utf-8")).body
        out.update(item.request_id for item in Ack.from_document(body).receipts)
    return out


def store_receipt(
    db: peewee.Database, *, counterparty: str, direction: str, signed: SignedReceipt, now: int
) -> None:
    """Keep a receipt as received; raises BookConflict when its request id
    or sequence number is in the chain already."""
    _check_direction(direction)
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            _insert_receipt(db, counterparty, direction, signed, now)
    except peewee.IntegrityError:
        raise BookConflict(
            f"the chain already has request {signed.receipt.request_id} "
            f"or receipt {signed.receipt.seq}"
        ) from None


def _signed(document: str) -> SignedReceipt:
    sealed = unseal(RECEIPT, document.encode("utf-8"))
    return SignedReceipt(receipt=Receipt.from_document(sealed.body), sealed=sealed)


def receipts(db: peewee.Database, *, counterparty: str, direction: str) -> list[SignedReceipt]:
    """A chain's receipts in sequence order."""
    with dbmod.connection(db):
        query = (
            ReceiptRow.select(ReceiptRow.document)
            .where(_chain(counterparty, direction))
            .order_by(ReceiptRow.seq)
        )
        return [_signed(row.document) for row in query.execute(db)]


def receipt_for(
    db: peewee.Database, *, counterparty: str, direction: str, request_id: str
) -> SignedReceipt | None:
    """The receipt of ``request_id`` in a chain, if any (a replay's answer)."""
    with dbmod.connection(db):
        row = (
            ReceiptRow.select(ReceiptRow.document)
            .where(_chain(counterparty, direction) & (ReceiptRow.request_id == request_id))
            .first(db)
        )
    return None if row is None else _signed(row.document)


# ---------------------------------------------------------------------- entries


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """A supply or consume row; in a correction the counts and the cost
    are differences, and may be negative."""

    counterparty: str
    direction: str
    request_id: str
    offer: str
    requested_model: str
    served_model: str
    status: str
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    cost_micro_usd: int = 0
    receipt: bytes | None = None  # the signed receipt, when there is one
    note: str | None = None
    revision: int = 0
    created_at: int = 0  # Unix ms


def _entry_row(entry: Entry) -> dict[str, object]:
    _check_direction(entry.direction)
    return {
        "created_at": entry.created_at,
        "counterparty": entry.counterparty,
        "direction": entry.direction,
        "request_id": entry.request_id,
        "revision": entry.revision,
        "offer": entry.offer,
        "requested_model": entry.requested_model,
        "served_model": entry.served_model,
        "status": entry.status,
        "input_tokens": entry.input_tokens,
        "output_tokens": entry.output_tokens,
        "cache_read_tokens": entry.cache_read_tokens,
        "cache_write_tokens": entry.cache_write_tokens,
        "cost_micro_usd": entry.cost_micro_usd,
        "receipt": None if entry.receipt is None else entry.receipt.decode("utf-8"),
        "note": entry.note,
    }


def append_entry(db: peewee.Database, entry: Entry) -> None:
    """Record a request's entry (revision 0); raises BookConflict when the
    request has one in this direction with this counterparty."""
    if entry.revision != 0:
        raise ValueError("a new entry is revision 0; corrections take append_correction")
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            TradeEntry.insert(**_entry_row(entry)).execute(db)
    except peewee.IntegrityError:
        raise BookConflict(f"request {entry.request_id} has an entry already") from None


def append_correction(db: peewee.Database, correction: Entry) -> int:
    """Record a correction of an entered request as its next revision (the
    revision ``correction`` names is ignored); returns the revision."""
    mine = (
        (TradeEntry.counterparty == correction.counterparty)
        & (TradeEntry.direction == correction.direction)
        & (TradeEntry.request_id == correction.request_id)
    )
    backend = dbmod.backend_of(db)
    with (
        dbmod.connection(db),
        backend.exclusive_transaction(
            db, f"trade-entry:{correction.direction}:{correction.counterparty}"
        ),
    ):
        latest = TradeEntry.select(peewee.fn.MAX(TradeEntry.revision)).where(mine).scalar(db)
        if latest is None:
            raise BookConflict(f"request {correction.request_id} has no entry to correct")
        row = _entry_row(correction)
        row["revision"] = latest + 1
        TradeEntry.insert(**row).execute(db)
    return int(latest) + 1


@dataclass(frozen=True, kw_only=True, slots=True)
class Totals:
    counterparty: str
    direction: str
    requests: int  # entered requests, corrections not counted again
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    cost_micro_usd: int


def totals(db: peewee.Database, counterparty: str | None = None) -> list[Totals]:
    """Sums per counterparty and direction (corrections included)."""
    sums = [
        peewee.fn.COALESCE(peewee.fn.SUM(column), 0)
        for column in (
            TradeEntry.input_tokens,
            TradeEntry.output_tokens,
            TradeEntry.cache_read_tokens,
            TradeEntry.cache_write_tokens,
            TradeEntry.cost_micro_usd,
        )
    ]
    query = (
        TradeEntry.select(
            TradeEntry.counterparty,
            TradeEntry.direction,
            peewee.fn.COUNT(TradeEntry.id).filter(TradeEntry.revision == 0),
            *sums,
        )
        .group_by(TradeEntry.counterparty, TradeEntry.direction)
        .order_by(TradeEntry.counterparty, TradeEntry.direction)
    )
    if counterparty is not None:
        query = query.where(TradeEntry.counterparty == counterparty)
    with dbmod.connection(db):
        rows = list(query.tuples().execute(db))
    return [
        Totals(
            counterparty=row[0],
            direction=row[1],
            requests=int(row[2]),
            input_tokens=int(row[3]),
            output_tokens=int(row[4]),
            cache_read_tokens=int(row[5]),
            cache_write_tokens=int(row[6]),
            cost_micro_usd=int(row[7]),
        )
        for row in rows
    ]
