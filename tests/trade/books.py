"""Trades written into two books through the book API, as the seller's and
the buyer's request paths will write them: the seller signs the next
receipt of its chain and enters a supply row; the buyer keeps the receipt
and enters a consume row at the seller's price."""

from __future__ import annotations

import peewee

from tokligence.trade.book import Entry, Link, append_entry, append_receipt, store_receipt
from tokligence.trade.money import Tokens
from tokligence.trade.receipts import SignedReceipt, sign_receipt
from tokligence.trade.signing import Signer

from .samples import STARTED, TOKENS, receipt

MINUTE = 60_000


def entry_of(signed: SignedReceipt, *, direction: str, counterparty: str, now: int) -> Entry:
    r = signed.receipt
    return Entry(
        counterparty=counterparty,
        direction=direction,
        request_id=r.request_id,
        offer=r.offer,
        requested_model=r.requested_model,
        served_model=r.served_model,
        status=r.status,
        input_tokens=r.tokens.input,
        output_tokens=r.tokens.output,
        cache_read_tokens=r.tokens.cache_read,
        cache_write_tokens=r.tokens.cache_write,
        cost_micro_usd=r.cost_micro_usd,
        receipt=signed.data,
        created_at=now,
    )


def sell(
    seller_db: peewee.Database,
    *,
    seller: Signer,
    buyer: str,
    request_id: str,
    tokens: Tokens,
    started_at: int,
    **changes: object,
) -> SignedReceipt:
    """The seller's half of one trade: its next receipt and its supply row."""
    ended = started_at + 500

    def make(link: Link) -> SignedReceipt:
        made = receipt(
            request_id=request_id,
            buyer=buyer,
            seller=seller.public_id,
            tokens=tokens,
            started_at=started_at,
            ended_at=ended,
            seq=link.seq,
            prev=link.prev,
            **changes,
        )
        return sign_receipt(made, seller)

    signed = append_receipt(
        seller_db, counterparty=buyer, direction="supply", make=make, now=ended + 5
    )
    append_entry(seller_db, entry_of(signed, direction="supply", counterparty=buyer, now=ended + 5))
    return signed


def keep(buyer_db: peewee.Database, signed: SignedReceipt, *, now: int | None = None) -> None:
    """The buyer's half: keep the receipt and enter the consume row."""
    seller = signed.receipt.seller
    at = signed.receipt.ended_at + 20 if now is None else now
    store_receipt(buyer_db, counterparty=seller, direction="consume", signed=signed, now=at)
    append_entry(buyer_db, entry_of(signed, direction="consume", counterparty=seller, now=at))


def trade(
    seller_db: peewee.Database,
    buyer_db: peewee.Database,
    *,
    seller: Signer,
    buyer: Signer,
    request_id: str,
    tokens: Tokens = TOKENS,
    started_at: int = STARTED,
) -> SignedReceipt:
    """One whole trade, both books written."""
    signed = sell(
        seller_db,
        seller=seller,
        buyer=buyer.public_id,
        request_id=request_id,
        tokens=tokens,
        started_at=started_at,
    )
    keep(buyer_db, signed)
    return signed


def workload(
    a_db: peewee.Database,
    b_db: peewee.Database,
    *,
    a: Signer,
    b: Signer,
    count: int = 6,
    start: int = STARTED,
) -> list[SignedReceipt]:
    """A mixed workload both ways: even requests A sells to B, odd B to A,
    a minute apart, with token counts that differ."""
    out = []
    for n in range(count):
        seller, buyer = (a, b) if n % 2 == 0 else (b, a)
        s_db, b_db_ = (a_db, b_db) if n % 2 == 0 else (b_db, a_db)
        out.append(
            trade(
                s_db,
                b_db_,
                seller=seller,
                buyer=buyer,
                request_id=f"req_{n:04d}",
                tokens=Tokens(input=1_000 + 10 * n, output=200 + n, cache_read=5 * n),
                started_at=start + n * MINUTE,
            )
        )
    return out
