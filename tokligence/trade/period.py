"""A pair's book for a period, read from the trading tables: what a
statement states, and what reconciliation compares with one.

Theory of operation
-------------------
A request belongs to the period its receipt started in (statements.py).
Neither table has a column for that time -- it is inside the signed
receipt -- so rows are read from a little before the period on (their
``created_at``, when the side wrote them, comes after the request started:
:data:`WRITE_DELAY_MARGIN_MS` allows for a day of clock difference and
delay), and the receipts' own ``started_at`` decides. A row whose receipt
cannot be read at all is placed by its ``created_at``; it is reported
wherever it lands.

The receipts of the period are the chain rows whose receipt started in
it; the *context* is the chain's rows numbered between the first and the
last of those that started outside it. The lines are the entries grouped
by request: the sums of every revision, the status of the first; a
request's time is that of the receipt its first entry holds, or the
entry's ``created_at`` when it holds none. An entry is *suspect* when any
revision of it says so (:func:`flagged_suspect`).

Every read is one pooled connection and plain SELECTs, so it runs beside
a serving gateway on SQLite and PostgreSQL alike, and gives the same
answer after a restart: nothing here is kept anywhere but in the rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import peewee

from ..ledger import db as dbmod
from .models import AckRow, OfferVersion, ReceiptRow, TradeEntry
from .money import Prices
from .offers import parse_offer_ref
from .reconcile import Report, Side, reconcile, reconcile_acks
from .signing import Signer
from .statements import (
    STATUS,
    Amounts,
    BookLine,
    Bundle,
    Held,
    Period,
    held,
    issue,
    offer_of,
    offer_prices,
    opposite,
    started_at,
)

# How long before a request's start its row may have been written, by the
# writer's clock: orders outside a 300 s skew window are refused, so a day
# leaves room for any clock that still trades.
WRITE_DELAY_MARGIN_MS = 86_400_000
SUSPECT = "suspect"
UNKNOWN_STATUS = "unknown"  # what a line says of a status no line may hold


@dataclass(frozen=True, kw_only=True, slots=True)
class PeriodBook:
    receipts: tuple[Held, ...] = ()  # started in the period, in sequence order
    context: tuple[Held, ...] = ()
    lines: tuple[BookLine, ...] = ()  # in request-id order
    suspect: frozenset[str] = field(default_factory=frozenset)


def flagged_suspect(status: str, note: str | None) -> bool:
    """Whether an entry was flagged suspect when it was written: its status
    is ``suspect``, or its note starts with it (the buyer's path flags an
    answer whose tokens are not the receipt's)."""
    return status == SUSPECT or (note or "").lower().startswith(SUSPECT)


def _chain(counterparty: str, direction: str) -> peewee.Expression:
    return (ReceiptRow.counterparty == counterparty) & (ReceiptRow.direction == direction)


def _held(row: ReceiptRow) -> Held:
    return held(row.document.encode("utf-8"), request_id=row.request_id, seq=row.seq)


def _receipts(
    db: peewee.Database, counterparty: str, direction: str, period: Period
) -> tuple[tuple[Held, ...], tuple[Held, ...]]:
    columns = (ReceiptRow.id, ReceiptRow.seq, ReceiptRow.request_id, ReceiptRow.document)
    recent = (
        ReceiptRow.select(*columns, ReceiptRow.created_at)
        .where(
            _chain(counterparty, direction)
            & (ReceiptRow.created_at >= period.start - WRITE_DELAY_MARGIN_MS)
        )
        .order_by(ReceiptRow.seq)
    )
    inside: list[Held] = []
    ids: set[int] = set()
    for row in recent.execute(db):
        moment = started_at(row.document.encode("utf-8"))
        if (row.created_at if moment is None else moment) in period:
            inside.append(_held(row))
            ids.add(row.id)
    if not inside:
        return (), ()
    between = (
        ReceiptRow.select(*columns)
        .where(
            _chain(counterparty, direction)
            & (ReceiptRow.seq > inside[0].seq)
            & (ReceiptRow.seq < inside[-1].seq)
        )
        .order_by(ReceiptRow.seq)
    )
    context = tuple(_held(row) for row in between.execute(db) if row.id not in ids)
    return tuple(inside), context


def _lines(
    db: peewee.Database, counterparty: str, direction: str, period: Period
) -> tuple[tuple[BookLine, ...], frozenset[str]]:
    rows = (
        TradeEntry.select()
        .where(
            (TradeEntry.counterparty == counterparty)
            & (TradeEntry.direction == direction)
            & (TradeEntry.created_at >= period.start - WRITE_DELAY_MARGIN_MS)
        )
        .order_by(TradeEntry.request_id, TradeEntry.revision)
    )
    by_request: dict[str, list[TradeEntry]] = {}
    for row in rows.execute(db):
        by_request.setdefault(row.request_id, []).append(row)
    lines, suspect = [], set()
    for request_id, revisions in by_request.items():
        first = revisions[0]
        if first.revision != 0:
            continue  # corrections of a request older than the rows read
        if request_time(first) not in period:
            continue
        lines.append(
            BookLine(
                request_id=request_id,
                status=first.status if STATUS.match(first.status) else UNKNOWN_STATUS,
                amounts=entry_sums(revisions),
            )
        )
        if any(flagged_suspect(row.status, row.note) for row in revisions):
            suspect.add(request_id)
    return tuple(lines), frozenset(suspect)


def request_time(first: TradeEntry) -> int:
    """When a request started, for its period: its receipt's start, or its
    first entry's ``created_at`` when that holds no readable receipt."""
    moment = None if first.receipt is None else started_at(first.receipt.encode("utf-8"))
    return first.created_at if moment is None else moment


def entry_sums(rows: Iterable[TradeEntry]) -> Amounts:
    out = Amounts()
    for row in rows:
        out = out + Amounts(
            input=row.input_tokens,
            output=row.output_tokens,
            cache_read=row.cache_read_tokens,
            cache_write=row.cache_write_tokens,
            cost_micro_usd=row.cost_micro_usd,
        )
    return out


def read_period(
    db: peewee.Database, *, counterparty: str, direction: str, period: Period
) -> PeriodBook:
    """Our book of the trades with ``counterparty`` in ``direction`` that
    started in ``period``."""
    with dbmod.connection(db):
        receipts, context = _receipts(db, counterparty, direction, period)
        lines, suspect = _lines(db, counterparty, direction, period)
    return PeriodBook(receipts=receipts, context=context, lines=lines, suspect=suspect)


def _offer_documents(db: peewee.Database, receipts: Sequence[Held]) -> tuple[bytes, ...]:
    """Our signed offer versions that ``receipts`` name."""
    refs = set()
    for item in receipts:
        ref = offer_of(item.data)
        try:
            refs.add(parse_offer_ref(ref))
        except ValueError:
            continue
    out = []
    with dbmod.connection(db):
        for name, version in sorted(refs):
            row = (
                OfferVersion.select(OfferVersion.document)
                .where((OfferVersion.name == name) & (OfferVersion.version == version))
                .first(db)
            )
            if row is not None:
                out.append(row.document.encode("utf-8"))
    return tuple(out)


def reconcile_statement(
    db: peewee.Database, bundle: Bundle, *, offers: Mapping[str, Prices] | None = None
) -> Report:
    """Our book against ``bundle`` (a statement that verified, issued to
    us): the same period, our direction of the same trades. A seller's
    statement brings its signed offer versions: its receipts are checked
    against their prices unless ``offers`` (the buyer's record of what it
    accepted) is given."""
    statement = bundle.statement
    ours = read_period(
        db,
        counterparty=statement.issuer,
        direction=opposite(statement.direction),
        period=statement.period,
    )
    if offers is None and statement.direction == "supply":
        offers = offer_prices(bundle.offers, statement.seller)
    return reconcile(
        Side(receipts=ours.receipts, context=ours.context, lines=ours.lines, suspect=ours.suspect),
        Side(receipts=bundle.receipts, context=bundle.context, lines=bundle.lines),
        seller=statement.seller,
        buyer=statement.buyer,
        offers=offers,
        from_start=statement.period.start == 0,
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class AckBook:
    """A seller's whole chain of receipts to a buyer, and the buyer's
    acknowledgements of it that the seller kept."""

    receipts: tuple[Held, ...]
    acks: tuple[bytes, ...]


def read_acks(db: peewee.Database, *, buyer: str) -> AckBook:
    """Our supply chain to ``buyer`` and its kept acknowledgements, from
    the rows (the same answer before and after a restart)."""
    with dbmod.connection(db):
        chain = (
            ReceiptRow.select(ReceiptRow.seq, ReceiptRow.request_id, ReceiptRow.document)
            .where(_chain(buyer, "supply"))
            .order_by(ReceiptRow.seq)
        )
        receipts = tuple(_held(row) for row in chain.execute(db))
        kept = (
            AckRow.select(AckRow.document)
            .where((AckRow.counterparty == buyer) & (AckRow.direction == "supply"))
            .order_by(AckRow.acked_at, AckRow.id)
        )
        acks = tuple(row.document.encode("utf-8") for row in kept.execute(db))
    return AckBook(receipts=receipts, acks=acks)


def reconcile_acknowledgements(db: peewee.Database, *, seller: str, buyer: str) -> Report:
    """The seller's side: every receipt it gave ``buyer`` against the
    acknowledgements ``buyer`` sent (reconcile.reconcile_acks)."""
    book = read_acks(db, buyer=buyer)
    return reconcile_acks(book.receipts, book.acks, seller=seller, buyer=buyer)


def statement_of(
    db: peewee.Database,
    signer: Signer,
    *,
    counterparty: str,
    direction: str,
    period: Period,
    now: int,
) -> Bundle:
    """This node's signed statement of its ``direction`` with
    ``counterparty`` for ``period`` (a seller's names its offer versions).
    Raises ValueError when the period holds too many receipts."""
    book = read_period(db, counterparty=counterparty, direction=direction, period=period)
    offers = _offer_documents(db, book.receipts) if direction == "supply" else ()
    return issue(
        signer=signer,
        counterparty=counterparty,
        direction=direction,
        period=period,
        issued_at=now,
        receipts=book.receipts,
        context=book.context,
        lines=book.lines,
        offers=offers,
    )
