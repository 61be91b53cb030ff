"""Receipts for the trading tests, signed with the fixed test keys."""

from __future__ import annotations

from dataclasses import replace
from decimal import Decimal

from tokligence.trade.money import Prices, Tokens, cost_micro_usd
from tokligence.trade.receipts import GENESIS, Receipt, SignedReceipt, sign_receipt

from .keys import BUYER, SELLER

PRICES = Prices(
    input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal("0.25"), cache_write=Decimal(0)
)
TOKENS = Tokens(input=1_000, output=200)
STARTED = 1_767_225_600_000  # 2026-01-01T00:00:00Z


def receipt(**changes: object) -> Receipt:
    """The issue's example, 4,500 micro-USD, as the first of a chain."""
    tokens = changes.get("tokens", TOKENS)
    prices = changes.get("prices", PRICES)
    base = Receipt(
        request_id="req_0001",
        buyer=BUYER.public_id,
        seller=SELLER.public_id,
        offer="fast@1",
        requested_model="gpt-4o-mini",
        served_model="gpt-4o-mini-2024-07-18",
        tokens=TOKENS,
        prices=PRICES,
        cost_micro_usd=cost_micro_usd(tokens, prices),  # type: ignore[arg-type]
        status="ok",
        started_at=STARTED,
        ended_at=STARTED + 812,
        seq=1,
        prev=GENESIS,
    )
    return replace(base, **changes)  # type: ignore[arg-type]


def chain(count: int) -> list[SignedReceipt]:
    """``count`` receipts of one pair, each linked to the one before."""
    out: list[SignedReceipt] = []
    for seq in range(1, count + 1):
        prev = out[-1].hash if out else GENESIS
        tokens = Tokens(input=100 * seq, output=seq)
        out.append(
            sign_receipt(
                receipt(
                    request_id=f"req_{seq:04d}",
                    seq=seq,
                    prev=prev,
                    tokens=tokens,
                    started_at=STARTED + seq * 1_000,
                    ended_at=STARTED + seq * 1_000 + 500,
                ),
                SELLER,
            )
        )
    return out
