"""Credit and offer limits at a seller, with a buyer gateway in front.

Twenty requests at once through Bob's gateway, together worth more than
Bob's credit at Alice's: what Alice posts never passes the limit, the
others are 402 ``credit_limit_exceeded`` (relayed by Bob to his client,
with the amounts), and a refused request leaves no supply entry. An
offer's requests per minute and its daily token cap answer 429 naming the
limit, and write nothing.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.wire import FakeServer
from tokligence.trade import store

from .nodes import (
    CHAT,
    Node,
    offer_env,
    open_account,
    order_headers,
    seller_and_buyer,
    until,
)

# 1,000 bytes of body (at least the 1,000 input tokens the upstream reports)
# and 200 output tokens at most: 4,500 micro-USD held and posted at 2.50 and 10.
PAD = "x" * (1_000 - 90)
REQUESTS = 20
COST = 4_500
LIMIT = 9 * COST + 1_000  # nine fit, the tenth does not


def body(model: str) -> bytes:
    data = json.dumps(
        {"model": model, "max_tokens": 200, "messages": [{"role": "user", "content": PAD}]}
    ).encode()
    assert len(data) <= 1_000, len(data)
    return data + b" " * (1_000 - len(data))


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[Node, Node, FakeServer]]:
    offers = {
        **offer_env("fast", "gpt-4o*", "openai"),
        **offer_env("paced", "gpt-paced*", "openai", rpm="2"),
        **offer_env("daily", "gpt-daily*", "openai", daily_tokens="1000"),
    }
    with seller_and_buyer(tmp_path, offers, credit=LIMIT) as market:
        yield market


def test_twenty_at_once_never_pass_the_credit_limit(
    market: tuple[Node, Node, FakeServer],
) -> None:
    alice, bob, _ = market
    answers: list[httpx.Response] = []
    barrier = threading.Barrier(REQUESTS)

    def client() -> None:
        barrier.wait()
        answer = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=60)
        answers.append(answer)

    threads = [threading.Thread(target=client) for _ in range(REQUESTS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    statuses = sorted(a.status_code for a in answers)
    served = statuses.count(200)
    assert statuses == [200] * served + [402] * (REQUESTS - served), statuses
    assert served == 9  # each holds and posts 4,500: exactly nine fit, whatever the timing
    refused = [a for a in answers if a.status_code == 402]
    error = refused[0].json()["error"]
    assert error["code"] == "credit_limit_exceeded"
    assert "micro-USD" in error["message"] and f"of the account's {LIMIT}" in error["message"]
    account = alice.account(bob)
    assert account.reserved == 0 and account.posted == served * COST <= LIMIT
    # One supply entry for each answer served, none for a refusal.
    entries = alice.entries(bob, "supply")
    assert [e.cost_micro_usd for e in entries] == [COST] * served
    until(lambda: len(bob.entries(alice, "consume")) == served, "Bob's purchases")


def test_rate_and_daily_limits_answer_429_naming_them(
    market: tuple[Node, Node, FakeServer],
) -> None:
    alice, bob, fake = market
    key = bob.env["TOKLIGENCE_TRADE_PEER_ALICE_API_KEY"]

    def buy(model: str, offer: str, request_id: str) -> httpx.Response:
        data = body(model)
        headers = order_headers(bob.signer, alice, key, data, request_id=request_id, offer=offer)
        return httpx.post(alice.url + CHAT, content=data, headers=headers, timeout=30)

    assert [buy("gpt-paced-1", "paced@1", f"p{n}").status_code for n in (1, 2)] == [200, 200]
    paced = buy("gpt-paced-1", "paced@1", "p3")
    assert paced.status_code == 429
    assert paced.json()["error"]["code"] == "offer_rpm_exceeded"
    assert int(paced.headers["retry-after"]) >= 1
    assert buy("gpt-daily-1", "daily@1", "d1").status_code == 200  # 1,200 tokens today
    daily = buy("gpt-daily-1", "daily@1", "d2")
    assert daily.status_code == 429
    assert daily.json()["error"]["code"] == "offer_daily_tokens_exceeded"
    # The refused ones wrote nothing, and their upstream was never asked.
    assert len(fake.requests(CHAT)) == 3
    assert sorted(e.request_id for e in alice.entries(bob, "supply")) == ["d1", "p1", "p2"]
    with alice.db() as db:
        account = store.account_of(db, bob.id)
        assert account is not None and account.reserved == 0
        assert store.reservation_for(db, account.id, "p3") is None
        assert store.reservation_for(db, account.id, "d2") is None


def test_an_account_is_opened_once(market: tuple[Node, Node, FakeServer]) -> None:
    alice, bob, _ = market
    with pytest.raises(AssertionError, match="account_exists"):
        open_account(alice, bob.signer)
    again = bob.cli("trade", "open", alice.url, "--seller", alice.id)
    assert again.returncode == 1 and "account_exists" in again.stderr
    # The seller's admin rotates the key instead; the old one stops working.
    rotated = alice.cli("trade", "accounts", "--rotate", bob.id)
    assert rotated.returncode == 0, rotated.stderr
    new_key = rotated.stdout.strip()
    old_key = bob.env["TOKLIGENCE_TRADE_PEER_ALICE_API_KEY"]
    data = body("gpt-4o-mini")
    for key, status in ((old_key, 401), (new_key, 200)):
        headers = order_headers(bob.signer, alice, key, data, request_id=f"r-{status}")
        assert httpx.post(alice.url + CHAT, content=data, headers=headers).status_code == status
    listed = alice.cli("trade", "accounts", "--json")
    (account,) = json.loads(listed.stdout)["accounts"]
    assert account["buyer"] == bob.id and account["key_prefix"] == new_key[:12]
    assert account["posted_micro_usd"] == COST and account["credit_limit_micro_usd"] == LIMIT


def test_the_admin_api_lists_accounts_and_sets_credit(
    market: tuple[Node, Node, FakeServer],
) -> None:
    alice, bob, _ = market
    admin = alice.url + "/api/v1/admin/trade/accounts"
    (account,) = httpx.get(admin, timeout=30).json()["accounts"]
    assert (account["buyer"], account["credit_limit_micro_usd"]) == (bob.id, LIMIT)
    changed = httpx.patch(
        f"{admin}/{account['id']}", json={"credit_limit_micro_usd": 0}, timeout=30
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["account"]["available_micro_usd"] == 0
    refused = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=30)
    assert (refused.status_code, refused.json()["error"]["code"]) == (402, "credit_limit_exceeded")
    for wrong in ({"credit_limit_micro_usd": -1}, {"credit": 5}, {"credit_limit_micro_usd": "5"}):
        answer = httpx.patch(f"{admin}/{account['id']}", json=wrong, timeout=30)
        assert answer.status_code == 400, answer.text
    missing = httpx.patch(f"{admin}/99", json={"credit_limit_micro_usd": 1}, timeout=30)
    assert (missing.status_code, missing.json()["error"]["code"]) == (404, "account_not_found")
    # A gateway that sells nothing keeps no accounts.
    off = httpx.get(bob.url + "/api/v1/admin/trade/accounts", timeout=30)
    assert (off.status_code, off.json()["error"]["code"]) == (404, "trading_off")
    assert httpx.get(bob.url + "/v1/trade/offers", timeout=30).status_code == 404


def answered(response: httpx.Response) -> str:
    assert response.status_code == 200, response.text
    return str(response.json()["choices"][0]["message"]["content"])


def test_a_spent_cap_and_a_dead_seller_fall_back_like_any_provider(
    market: tuple[Node, Node, FakeServer],
) -> None:
    alice, bob, _ = market
    bob.stop()
    # One purchase fills the cap; then the route's next provider answers.
    bob.start(
        TOKLIGENCE_TRADE_PEER_ALICE_SPEND_CAP=str(COST),
        TOKLIGENCE_ROUTES="gpt-*=>peer:alice|loopback",
    )
    first = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=30)
    assert answered(first) == "Hello."  # Alice's upstream
    until(lambda: len(bob.entries(alice, "consume")) == 1, "Bob's purchase")
    second = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=30)
    assert answered(second).startswith("xxxx")  # the loopback model echoes
    assert len(alice.entries(bob, "supply")) == 1  # nothing more was bought
    # Alone on its route, the cap is the client's answer.
    bob.stop()
    bob.start(TOKLIGENCE_ROUTES="gpt-*=>peer:alice")
    capped = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=30)
    assert (capped.status_code, capped.json()["error"]["code"]) == (429, "spend_cap_reached")
    # A seller that is down: the next provider, before the first byte.
    alice.stop()
    bob.stop()
    bob.start(
        TOKLIGENCE_ROUTES="gpt-*=>peer:alice|loopback", TOKLIGENCE_TRADE_PEER_ALICE_SPEND_CAP="0"
    )
    fallen = httpx.post(bob.url + CHAT, content=body("gpt-4o-mini"), timeout=60)
    assert answered(fallen).startswith("xxxx")
