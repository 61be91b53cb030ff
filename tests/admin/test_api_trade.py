"""Admin API: ``GET trade/summary`` answers what ``tokligence trade summary
--json`` prints, from the trade entries; empty on a gateway that never
traded."""

from __future__ import annotations

from tests.trade.books import keep, sell
from tests.trade.keys import BUYER, SELLER
from tests.trade.samples import STARTED, receipt
from tokligence.trade.migrations import migrate_trade
from tokligence.trade.money import Tokens
from tokligence.trade.receipts import sign_receipt
from tokligence.trade.summary import summary, summary_json

from .harness import Admin


async def test_trade_summary(admin: Admin) -> None:
    empty = await admin.call("GET", "trade/summary")
    assert empty.status == 200
    assert empty.body["counterparties"] == []
    # This gateway (SELLER) sold to BUYER and bought from it.
    migrate_trade(admin.db)
    sell(
        admin.db,
        seller=SELLER,
        buyer=BUYER.public_id,
        request_id="req_sold",
        tokens=Tokens(input=1_000, output=200),
        started_at=STARTED,
    )
    bought = receipt(
        request_id="req_bought",
        seller=BUYER.public_id,
        buyer=SELLER.public_id,
        tokens=Tokens(input=400),
    )
    keep(admin.db, sign_receipt(bought, BUYER))
    reply = await admin.call("GET", "trade/summary")
    assert reply.status == 200
    assert reply.headers["cache-control"] == "no-store"
    assert reply.body == summary_json(summary(admin.db))
    (row,) = reply.body["counterparties"]
    assert row["counterparty"] == BUYER.public_id
    assert (row["supplied"]["cost_micro_usd"], row["consumed"]["cost_micro_usd"]) == (4500, 1000)
    assert row["net"] == {"tokens": 800, "cost_micro_usd": 3500, "cost_usd": "0.003500"}
    refused = await admin.call("GET", "trade/summary?since=2026-01-01")
    assert refused.status == 400


async def test_trade_summary_needs_the_ledger(no_ledger: Admin) -> None:
    reply = await no_ledger.call("GET", "trade/summary")
    assert reply.status == 503
    assert reply.error["code"] == "ledger_disabled"
