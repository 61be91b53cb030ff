"""A buyer's books when the seller's receipt is not what it should be.

The seller here is a fake on 127.0.0.1 (its offer and receipts signed with
the test seller key, the buyer gateway pinned to it) that answers each
order as the test scripts it: an honest receipt; one that bills more
tokens than the answer says (``suspect``); one signed by another key, or
at other prices than the offer's (``bad_receipt``, booked at the buyer's
own count); none at all (``unverified``). Every answer still reaches the
client, and each problem is booked and logged.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import ExitStack
from decimal import Decimal
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_chat import ChatScenario, chat_events, chat_json
from tests.fakes.sse_script import to_chunks
from tests.fakes.wire import Chunk, FakeServer, Received, Reply, json_reply
from tokligence.trade.documents import decode
from tokligence.trade.metering import receipt_event
from tokligence.trade.money import Prices, Tokens
from tokligence.trade.offers import Offer, offer_document
from tokligence.trade.orders import read_order
from tokligence.trade.receipts import GENESIS, Receipt, SignedReceipt
from tokligence.trade.signing import Signer, seal

from .keys import SELLER, STRANGER
from .nodes import Node, now_ms, stop_all, until

CHAT = "/v1/chat/completions"
PRICES = Prices(
    input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal("2.5"), cache_write=Decimal("2.5")
)
ANSWER = ChatScenario(text=["Hello."], prompt_tokens=1_000, completion_tokens=200)
HONEST = Tokens(input=1_000, output=200)


@dataclasses.dataclass
class Script:
    """What the fake seller signs for the next request."""

    tokens: Tokens = HONEST
    prices: Prices = PRICES
    signer: Signer | None = SELLER  # None: no receipt
    chain: list[SignedReceipt] = dataclasses.field(default_factory=list)

    def receipt(self, received: Received) -> SignedReceipt | None:
        order = read_order(received.headers["tokligence-order"].encode(), seller=SELLER.public_id)
        if self.signer is None:
            return None
        previous = self.chain[-1] if self.chain else None
        made = Receipt(
            request_id=order.order.request_id,
            buyer=order.order.buyer,
            seller=SELLER.public_id,
            offer=order.order.offer,
            requested_model="gpt-4o-mini",
            served_model="gpt-4o-mini",
            tokens=self.tokens,
            prices=self.prices,
            cost_micro_usd=0,
            status="ok",
            started_at=now_ms(),
            ended_at=now_ms(),
            seq=len(self.chain) + 1,
            prev=previous.hash if previous else GENESIS,
        )
        made = dataclasses.replace(made, cost_micro_usd=made.expected_cost)
        # Signed by the test's signer, whoever the receipt names.
        signed = SignedReceipt(receipt=made, sealed=seal("receipt", made.document(), self.signer))
        self.chain.append(signed)
        return signed

    def answer(self, received: Received) -> Reply:
        signed = self.receipt(received)
        if received.json.get("stream"):
            chunks = to_chunks(chat_events(ANSWER))
            if signed is not None:
                chunks = (*chunks, Chunk(data=receipt_event(signed.data)))
            return Reply(headers=(("content-type", "text/event-stream"),), chunks=chunks)
        reply = chat_json(ANSWER)
        if signed is None:
            return reply
        return dataclasses.replace(
            reply, headers=(*reply.headers, ("tokligence-receipt", signed.header_value))
        )


@pytest.fixture
def bought(tmp_path: Path) -> Iterator[tuple[Node, Script]]:
    offer = Offer(name="fast", models=("gpt-*",), provider="openai", prices=PRICES)
    document = offer_document(offer, seller=SELLER.public_id, version=1, effective_at=1)
    listed = [decode(seal("offer", document, SELLER).data)]
    script = Script()
    fake = FakeServer(
        defaults={
            "/v1/trade/offers": json_reply(listed),
            "/v1/trade/acks": json_reply({"acknowledged": 1, "new": "yes"}),
            CHAT: script.answer,
        }
    )
    with ExitStack() as stack:
        url = stack.enter_context(fake.running_in_thread())
        buyer = Node(
            "bob",
            tmp_path / "bob",
            {
                "TOKLIGENCE_TRADE_PEER_ALICE_URL": url,
                "TOKLIGENCE_TRADE_PEER_ALICE_PUBLIC_ID": SELLER.public_id,
                "TOKLIGENCE_TRADE_PEER_ALICE_API_KEY": "tra_" + "z" * 43,
                "TOKLIGENCE_ROUTES": "gpt-*=>peer:alice",
            },
        )
        stack.callback(stop_all, [buyer])
        buyer.start()
        yield buyer, script


@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
@pytest.mark.parametrize(
    ("change", "status", "cost", "note"),
    [
        ({}, "ok", 4_500, None),
        ({"tokens": Tokens(input=1_100, output=200)}, "suspect", 4_750, "input 1100 billed"),
        ({"signer": STRANGER}, "bad_receipt", 4_500, "bad_signature"),
        (
            {"prices": dataclasses.replace(PRICES, output=Decimal(20))},
            "bad_receipt",
            4_500,
            "billed at fast@1",
        ),
        ({"signer": None}, "unverified", 4_500, "the seller sent no receipt"),
    ],
    ids=["honest", "more tokens", "another key", "other prices", "no receipt"],
)
def test_the_buyer_books_what_the_receipt_is_worth(
    bought: tuple[Node, Script],
    stream: bool,
    change: dict[str, object],
    status: str,
    cost: int,
    note: str | None,
) -> None:
    buyer, script = bought
    for name, value in change.items():
        setattr(script, name, value)
    body = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    answer = httpx.post(buyer.url + CHAT, json={**body, "stream": stream}, timeout=30)
    assert answer.status_code == 200 and "Hello." in answer.text  # delivered all the same
    assert "tokligence_receipt" not in answer.text and "tokligence-receipt" not in answer.headers
    (entry,) = until(lambda: buyer.entries(SELLER.public_id, "consume"), "the buyer's entry")
    assert (entry.status, entry.cost_micro_usd) == (status, cost)
    if note is None:
        assert entry.note is None
        return
    assert entry.note is not None and note in entry.note
    until(lambda: f"{entry.request_id}: {status}" in buyer.log.read_text(), "the warning")
