"""``GET /v1/trade/statement`` and ``POST /v1/trade/settlements`` on a real
gateway (in a thread, on 127.0.0.1), with the buyer's side driven by the
commands' own client."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import peewee
import pytest

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity.keys import generate_key, hash_key, key_prefix
from tokligence.ledger import db as dbmod
from tokligence.trade.ledger_client import Peer, PeerError, fetch_statement, post_settlement
from tokligence.trade.money import Tokens
from tokligence.trade.node_key import load_or_create
from tokligence.trade.period import reconcile_statement
from tokligence.trade.settle import propose, record, settlements
from tokligence.trade.settlements import verify_settlement
from tokligence.trade.signing import Signer
from tokligence.trade.statements import Period, verify_bundle
from tokligence.trade.store import open_account
from tokligence.trade.summary import summary

from .books import MINUTE, keep, sell
from .conftest import open_book
from .keys import BUYER
from .samples import STARTED

OFFER = {
    "TOKLIGENCE_TRADE_OFFER_FAST_MODELS": "gpt-4o-mini",
    "TOKLIGENCE_TRADE_OFFER_FAST_PROVIDER": "loopback",
    "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": "2.50",
    "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT": "10",
}
ALL_TIME = Period(start=0, end=STARTED + 24 * 60 * MINUTE)


class Seller:
    def __init__(self, gateway: GatewayThread, db: peewee.Database, signer: Signer) -> None:
        self.gateway, self.db, self.signer = gateway, db, signer

    def peer(self, key: str) -> Peer:
        return Peer(url=self.gateway.url(), seller=self.signer.public_id, key=key)


@pytest.fixture
def seller(tmp_path: Path) -> Iterator[Seller]:
    """A selling gateway whose auth is on: its own keys are not the buyers'."""
    config = isolated_config(tmp_path, env={**OFFER, "TOKLIGENCE_AUTH_DISABLED": "false"})
    signer, _ = load_or_create(config.data_dir)  # the key the gateway will sign with
    db = open_book(dbmod.sqlite_url(config.ledger_file()))
    try:
        with GatewayThread(config) as gateway:
            yield Seller(gateway, db, signer)
    finally:
        dbmod.close_database(db)


@pytest.fixture
def buyer_book(tmp_path: Path) -> Iterator[peewee.Database]:
    db = open_book(dbmod.sqlite_url(tmp_path / "buyer" / "ledger.db"))
    try:
        yield db
    finally:
        dbmod.close_database(db)


def account(seller: Seller, buyer: str = BUYER.public_id) -> str:
    key = generate_key()
    open_account(
        seller.db, buyer=buyer, key_hash=hash_key(key), key_prefix=key_prefix(key), now=STARTED
    )
    return key


def test_the_statement_of_an_account(seller: Seller, buyer_book: peewee.Database) -> None:
    key = account(seller)
    for n in range(3):
        signed = sell(
            seller.db,
            seller=seller.signer,
            buyer=BUYER.public_id,
            request_id=f"req_{n}",
            tokens=Tokens(input=100 + n),
            started_at=STARTED + n * MINUTE,
        )
        keep(buyer_book, signed)
    data = fetch_statement(seller.peer(key), ALL_TIME)
    verdict = verify_bundle(data, issuer=seller.signer.public_id, counterparty=BUYER.public_id)
    assert verdict.ok and verdict.value is not None, verdict.detail
    assert verdict.value.statement.period == ALL_TIME
    assert verdict.value.statement.requests == 3
    assert reconcile_statement(buyer_book, verdict.value).clean
    # A period without trades: an empty statement, signed all the same.
    quiet = fetch_statement(seller.peer(key), Period(start=1, end=2))
    assert verify_bundle(quiet).value.statement.requests == 0  # type: ignore[union-attr]


def test_refusals(seller: Seller) -> None:
    key = account(seller)
    url = seller.gateway.url() + "/v1/trade/statement"
    for headers, status in (
        ({}, 401),
        ({"authorization": "Bearer tok_nobody"}, 401),
        ({"authorization": f"Bearer {key}"}, 200),
        ({"x-api-key": key}, 200),
    ):
        assert httpx.get(url, headers=headers).status_code == status
    auth = {"authorization": f"Bearer {key}"}
    bad = httpx.get(url + "?period_from=5&period_to=5", headers=auth)
    assert bad.status_code == 400 and "before" in bad.json()["error"]["message"]
    assert httpx.get(url + "?period_from=-1", headers=auth).status_code == 400
    assert httpx.get(url + "?since=1", headers=auth).status_code == 400
    posted = httpx.post(url, headers=auth)
    assert (posted.status_code, posted.headers["allow"]) == (405, "GET")
    assert httpx.get(seller.gateway.url() + "/v1/trade/nothing", headers=auth).status_code == 404
    garbage = httpx.post(
        seller.gateway.url() + "/v1/trade/settlements", headers=auth, content=b"{}"
    )
    assert (garbage.status_code, garbage.json()["error"]["code"]) == (400, "malformed")
    with pytest.raises(PeerError, match="401"):
        fetch_statement(seller.peer("tok_wrong"), ALL_TIME)


def test_a_settlement_over_http(seller: Seller, buyer_book: peewee.Database) -> None:
    key = account(seller)
    for n in range(2):
        keep(
            buyer_book,
            sell(
                seller.db,
                seller=seller.signer,
                buyer=BUYER.public_id,
                request_id=f"req_{n}",
                tokens=Tokens(input=1),
                started_at=STARTED + n * MINUTE,
            ),
        )
    proposal = propose(buyer_book, BUYER, them=seller.signer.public_id, cut_off=ALL_TIME.end)
    assert proposal is not None
    settlement, data = proposal
    answer = post_settlement(seller.peer(key), data)
    verdict = verify_settlement(answer, signer=seller.signer.public_id, party=BUYER.public_id)
    assert verdict.ok and verdict.value == settlement
    (stored,) = settlements(seller.db, us=seller.signer.public_id, counterparty=BUYER.public_id)
    assert stored.settlement == settlement and stored.proposer == BUYER.public_id
    # The same proposal again: the same answer, nothing new stored.
    assert post_settlement(seller.peer(key), data) == answer
    # Another cut-off while the buyer never stored it: behind, with the
    # settlement signed by both.
    later = propose(buyer_book, BUYER, them=seller.signer.public_id, cut_off=ALL_TIME.end + 1)
    assert later is not None
    with pytest.raises(PeerError) as behind:
        post_settlement(seller.peer(key), later[1])
    assert behind.value.code == "settlement_behind"
    assert len(behind.value.body["settlement"]) == 2
    # What the buyer stores once it has the answer: the net is zero both sides.
    assert record(buyer_book, stored, us=BUYER.public_id, now=1)
    assert summary(seller.db)[0].net_micro_usd == summary(buyer_book)[0].net_micro_usd == 0


def test_a_gateway_that_does_not_trade_has_no_trading_endpoints(tmp_path: Path) -> None:
    with GatewayThread(isolated_config(tmp_path)) as gateway:
        answer = httpx.get(gateway.url() + "/v1/trade/statement")
    assert answer.status_code == 404
    assert "sells nothing" in answer.json()["error"]["message"]
