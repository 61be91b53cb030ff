"""A price change: the seller restarts with new prices, which is a new
version of its offer; a request started before is billed at the old
version, one started after at the new, and every receipt names its own.

Bob's gateway knows version 1 when Alice's prices double: his next order
names it, Alice answers 409 ``offer_superseded``, Bob fetches her offers
again and buys at version 2 -- his client sees one ordinary answer.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tokligence.trade.receipts import verify_receipt

from .nodes import CHAT, Node, offer_env, order_headers, seller_and_buyer, until

BODY = json.dumps(
    {"model": "gpt-4o-mini", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
).encode()


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    offers = offer_env("fast", "gpt-*", "openai")
    with seller_and_buyer(tmp_path, offers, credit=10_000_000) as (alice, bob, _):
        yield alice, bob


def test_a_request_is_billed_at_the_version_in_force_when_it_started(
    market: tuple[Node, Node],
) -> None:
    alice, bob = market
    key = bob.env["TOKLIGENCE_TRADE_PEER_ALICE_API_KEY"]
    assert httpx.post(bob.url + CHAT, content=BODY, timeout=30).status_code == 200
    # An order issued now, under version 1, sent after the price change.
    early = order_headers(bob.signer, alice, key, BODY, request_id="started-before")
    alice.stop()
    alice.start(
        TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT="5", TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT="20"
    )
    (offer,) = httpx.get(alice.url + "/v1/trade/offers", timeout=30).json()
    assert (offer["offer"]["version"], offer["offer"]["prices"]["input"]) == (2, "5")
    late = httpx.post(alice.url + CHAT, content=BODY, headers=early, timeout=30)
    assert late.status_code == 200, late.text
    # Bob's gateway still knows version 1: refused, refreshed, bought at 2.
    assert httpx.post(bob.url + CHAT, content=BODY, timeout=30).status_code == 200
    # An order issued after the change, naming version 1, buys nothing.
    stale = order_headers(bob.signer, alice, key, BODY, request_id="started-after")
    refused = httpx.post(alice.url + CHAT, content=BODY, headers=stale, timeout=30)
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "offer_superseded"
    entries = alice.entries(bob, "supply")
    billed = []
    for entry in entries:
        assert entry.receipt is not None
        receipt = verify_receipt(entry.receipt, seller=alice.id).value
        assert receipt is not None and receipt.receipt.offer == entry.offer
        billed.append((entry.offer, entry.cost_micro_usd))
    # 1,000 in and 200 out at 2.50/10, then at 5/20.
    assert billed == [("fast@1", 4_500), ("fast@1", 4_500), ("fast@2", 9_000)]
    assert entries[1].request_id == "started-before"
    until(lambda: len(bob.entries(alice, "consume")) == 2, "Bob's purchases")
    assert [(e.offer, e.cost_micro_usd) for e in bob.entries(alice, "consume")] == [
        ("fast@1", 4_500),
        ("fast@2", 9_000),
    ]
