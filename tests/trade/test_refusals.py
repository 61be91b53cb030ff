"""What a seller refuses, and that a refusal bills nothing.

A seller process (offers ``gpt-*`` through a fake OpenAI upstream) and the
test as its buyer, signing orders with Bob's node key by hand: a replay
(same request id, same body) answers with the stored receipt and is
billed once; the same id with another body is 409; an order of another
node, a forged order, an order off the clock, another body, an unknown
offer version or model, a missing key: each refused with its code, the
upstream never called, nothing reserved or entered. An acknowledgement
naming a request id the seller never sold is refused. And a buyer
gateway whose peer serves an offer its pinned id did not sign buys
nothing.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream, openai_error
from tests.fakes.wire import FakeServer, by_stream, json_reply
from tokligence.trade import book, store
from tokligence.trade.acks import acknowledge
from tokligence.trade.documents import b64url_decode, b64url_encode, decode, encode
from tokligence.trade.receipts import HEADER, verify_receipt
from tokligence.trade.signing import Signer

from .keys import STRANGER
from .nodes import Node, now_ms, offer_env, open_account, order_headers, stop_all

CHAT = "/v1/chat/completions"
BODY = json.dumps(
    {"model": "gpt-4o-mini", "max_tokens": 200, "messages": [{"role": "user", "content": "hi"}]}
).encode()


@dataclass
class Market:
    seller: Node
    bob: Node  # never started: the test buys with Bob's key
    fake: FakeServer
    key: str  # Bob's account key at Alice's

    def buy(
        self,
        body: bytes = BODY,
        *,
        signer: Signer | None = None,
        forge: bool = False,
        key: str | None = None,
        **order: Any,
    ) -> httpx.Response:
        """A traded request signed by Bob (or ``signer``, or forged: Bob's
        order signed by another key) with Bob's account key (or ``key``)."""
        order.setdefault("request_id", "req_1")
        key = self.key if key is None else key
        headers = order_headers(signer or self.bob.signer, self.seller, key, body, **order)
        if forge:
            envelope = decode(b64url_decode(headers["tokligence-order"]))
            envelope["sig"] = b64url_encode(STRANGER.sign(encode(envelope["order"])))
            headers["tokligence-order"] = b64url_encode(encode(envelope))
        if not key:
            del headers["authorization"]
        return httpx.post(self.seller.url + CHAT, content=body, headers=headers, timeout=30)

    def billed(self) -> tuple[int, int, int]:
        """(requests the upstream got, supply entries, micro-USD held or posted)"""
        account = self.seller.account(self.bob)
        entries = self.seller.entries(self.bob, "supply")
        return len(self.fake.requests(CHAT)), len(entries), account.posted + account.reserved


@pytest.fixture
def market(tmp_path: Path) -> Iterator[Market]:
    chat = ChatScenario(text=["Hello."], prompt_tokens=1_000, completion_tokens=200)
    fake = FakeServer(defaults={CHAT: by_stream(chat_stream(chat), chat_json(chat))})
    with ExitStack() as stack:
        url = stack.enter_context(fake.running_in_thread())
        seller = Node(
            "alice",
            tmp_path / "alice",
            {
                "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                # A seller that requires gateway keys of its own clients.
                "TOKLIGENCE_AUTH_DISABLED": "false",
                **offer_env("fast", "gpt-*", "openai"),
            },
        )
        stack.callback(stop_all, [seller])
        seller.start()
        bob = Node("bob", tmp_path / "bob", {})
        key = open_account(seller, bob.signer)
        granted = seller.cli("trade", "accounts", "--set-credit", bob.id, "1000000")
        assert granted.returncode == 0, granted.stderr
        yield Market(seller=seller, bob=bob, fake=fake, key=key)


def code(answer: httpx.Response) -> str:
    return str(answer.json()["error"]["code"])


def test_a_replay_is_answered_with_its_receipt_and_billed_once(market: Market) -> None:
    first = market.buy()
    assert first.status_code == 200, first.text
    receipt = first.headers[HEADER]
    assert verify_receipt(receipt.encode(), seller=market.seller.id).ok
    again = market.buy()
    assert again.status_code == 200, again.text
    assert again.headers["tokligence-replay"] == "posted"
    assert again.headers[HEADER] == receipt  # the same receipt, not a new one
    assert again.json()["state"] == "posted"
    assert market.billed() == (1, 1, 4_500)
    # The same request id with another body.
    conflict = market.buy(BODY.replace(b'"hi"', b'"hello"'))
    assert (conflict.status_code, code(conflict)) == (409, "request_conflict")
    assert market.billed() == (1, 1, 4_500)


REFUSALS: list[tuple[str, Callable[[Market], httpx.Response], int, str]] = [
    # Another node's order on Bob's account (signed by that node, naming it).
    (
        "another node",
        lambda m: m.buy(signer=STRANGER, buyer=STRANGER.public_id),
        401,
        "wrong_buyer",
    ),
    # An order naming Bob, signed by another key.
    ("forged order", lambda m: m.buy(forge=True), 401, "bad_order"),
    # Ten minutes off the seller's clock, either way.
    ("clock behind", lambda m: m.buy(issued_at=now_ms() - 600_000), 401, "clock_skew"),
    ("clock ahead", lambda m: m.buy(issued_at=now_ms() + 600_000), 401, "clock_skew"),
    # An order for another body.
    ("another body", lambda m: m.buy(body_sha256="0" * 64), 400, "body_mismatch"),
    # An offer version the seller never published; an offer it does not have.
    ("unknown version", lambda m: m.buy(offer="fast@9"), 400, "unknown_offer"),
    ("unknown offer", lambda m: m.buy(offer="slow@1"), 400, "unknown_offer"),
    # A model the offer does not sell.
    (
        "another model",
        lambda m: m.buy(BODY.replace(b"gpt-4o-mini", b"claude-3-haiku")),
        400,
        "model_not_offered",
    ),
    # No account key, or one of no account.
    ("no key", lambda m: m.buy(key=""), 401, "unknown_account"),
    ("unknown key", lambda m: m.buy(key="tra_" + "x" * 43), 401, "unknown_account"),
]


@pytest.mark.parametrize(
    ("make", "status", "expected"),
    [pytest.param(*row[1:], id=row[0]) for row in REFUSALS],
)
def test_each_refusal_bills_nothing(
    make: Callable[[Market], httpx.Response], status: int, expected: str, market: Market
) -> None:
    answer = make(market)
    assert (answer.status_code, code(answer)) == (status, expected), answer.text
    assert market.billed() == (0, 0, 0)
    with market.seller.db() as db:
        account = store.account_of(db, market.bob.id)
        assert account is not None
        assert store.reservation_for(db, account.id, "req_1") is None


def test_an_acknowledgement_of_an_unknown_request_is_refused(market: Market) -> None:
    assert market.buy().status_code == 200
    entry = market.seller.entries(market.bob, "supply")[0]
    assert entry.receipt is not None
    signed = verify_receipt(entry.receipt).value
    assert signed is not None
    ack = acknowledge([signed], market.bob.signer, at=now_ms())
    url = market.seller.url + "/v1/trade/acks"
    # A request id this seller never sold to Bob.
    body = decode(ack.data)["receipt_ack"]
    body["receipts"][0]["request_id"] = "req_unknown"
    forged = {"receipt_ack": body, "sig": b64url_encode(market.bob.signer.sign(encode(body)))}
    refused = httpx.post(url, content=encode(forged), timeout=30)
    assert (refused.status_code, code(refused)) == (400, "unknown_receipt")
    assert "req_unknown" in refused.json()["error"]["message"]
    assert market.seller.acknowledged(market.bob) == set()
    # Signed by someone else than the buyer it names.
    real = decode(ack.data)["receipt_ack"]
    stolen = {"receipt_ack": real, "sig": b64url_encode(STRANGER.sign(encode(real)))}
    assert httpx.post(url, content=encode(stolen), timeout=30).status_code == 401
    # The real one is kept, once.
    kept = httpx.post(url, content=ack.data, timeout=30)
    assert kept.status_code == 200 and kept.json() == {"acknowledged": 1, "new": "yes"}
    assert httpx.post(url, content=ack.data, timeout=30).json()["new"] == "no"
    assert market.seller.acknowledged(market.bob) == {"req_1"}


def test_a_forged_offer_is_never_bought(market: Market, tmp_path: Path) -> None:
    """A buyer pinned to Alice's id, at an address that serves Alice's
    offer with a signature of another key, buys nothing."""
    real = httpx.get(market.seller.url + "/v1/trade/offers", timeout=30).json()
    forged = [{"offer": real[0]["offer"], "sig": ""}]
    forged[0]["sig"] = b64url_encode(STRANGER.sign(encode(real[0]["offer"])))
    impostor = FakeServer(defaults={"/v1/trade/offers": json_reply(forged)})
    with impostor.running_in_thread() as url:
        buyer = Node(
            "carol",
            tmp_path / "carol",
            {
                "TOKLIGENCE_TRADE_PEER_ALICE_URL": url,
                "TOKLIGENCE_TRADE_PEER_ALICE_PUBLIC_ID": market.seller.id,
                "TOKLIGENCE_TRADE_PEER_ALICE_API_KEY": "tra_" + "y" * 43,
                "TOKLIGENCE_ROUTES": "gpt-*=>peer:alice",
                "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "0",
            },
        )
        try:
            buyer.start()
            answer = httpx.post(buyer.url + CHAT, content=BODY, timeout=30)
            assert answer.status_code == 502, answer.text
            assert "not signed by" in answer.json()["error"]["message"]
            assert impostor.requests(CHAT) == []  # no order was ever sent
            with buyer.db() as db:
                assert book.entries(db, counterparty=market.seller.id, direction="consume") == []
        finally:
            buyer.stop()
        # Nor does anyone open an account there with the seller's id pinned.
        opened = buyer.cli("trade", "open", url, "--seller", market.seller.id)
        assert opened.returncode == 1 and "not signed by" in opened.stderr


def test_an_upstream_failure_before_any_output_bills_nothing(market: Market) -> None:
    # The seller's provider fails every attempt (the first and two retries).
    error = openai_error(400, "invalid_request_error", "bad request", "bad")
    market.fake.enqueue(CHAT, error)
    answer = market.buy()
    assert answer.status_code == 400  # the provider's error, relayed to the buyer
    assert market.billed() == (1, 0, 0)
    with market.seller.db() as db:
        account = store.account_of(db, market.bob.id)
        assert account is not None
        held = store.reservation_for(db, account.id, "req_1")
        assert held is not None and held.state == "voided"


def test_an_upstream_failure_mid_stream_is_billed_as_an_error(market: Market) -> None:
    broken = ChatScenario(text=["Hel", "lo."], error_after=2, prompt_tokens=1_000)
    market.fake.enqueue(CHAT, chat_stream(broken))
    body = BODY.replace(b'"max_tokens"', b'"stream": true, "max_tokens"')
    answer = market.buy(body)
    assert answer.status_code == 200
    # The dialect's in-stream error, then the receipt: the buyer's to take out.
    assert '"error"' in answer.text and "data: [DONE]" not in answer.text
    receipt = answer.text.rsplit("event: tokligence_receipt\ndata: ", 1)[1].strip()
    verdict = verify_receipt(receipt.encode(), seller=market.seller.id)
    assert verdict.ok and verdict.value is not None
    assert verdict.value.receipt.status == "error"
    (entry,) = market.seller.entries(market.bob, "supply")
    assert (entry.status, entry.cost_micro_usd) == ("error", verdict.value.receipt.cost_micro_usd)


def test_an_account_key_is_not_a_gateway_key(market: Market) -> None:
    """Auth is on at the seller: a traded request needs no gateway key, and
    the account key without an order buys nothing and opens nothing."""
    answer = httpx.post(
        market.seller.url + CHAT,
        content=BODY,
        headers={"authorization": f"Bearer {market.key}", "content-type": "application/json"},
        timeout=30,
    )
    assert (answer.status_code, code(answer)) == (401, "invalid_api_key")
    assert market.billed() == (0, 0, 0)
