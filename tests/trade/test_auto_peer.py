"""``peer:auto`` end to end (docs/trading.md, "Buying from the directory"):
a ``tokligence trade directory``, two seller gateways selling the loopback
model at different prices, and a buyer gateway routing ``gpt-4o-mini =>
peer:auto|loopback`` -- every one its own process on 127.0.0.1. Waits poll
for what is expected with generous bounds; nothing is timed."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from typing import Any

from tokligence.trade import auto
from tokligence.trade.directory.documents import announcement_body

from .keys import STRANGER
from .nodes import Node, offer_env, pair, until
from .test_directory_processes import listing, post, processes, start_directory

MODEL = "gpt-4o-mini"
NAMED_MODEL = "gpt-4.1-mini"  # routed to the dear seller by name
TTL = 9  # seconds a seller stays listed without a heartbeat (the cache holds answers 5 s)
CREDIT = 5_000_000


def seller(tmp: Path, name: str, directory_url: str, *, price_in: str, price_out: str) -> Node:
    node = Node(name, tmp / name, {})
    node.env.update(
        offer_env(
            "fast",
            f"{MODEL}, gpt-4.1*",
            "loopback",
            price_input=price_in,
            price_output=price_out,
        )
        | {
            "TOKLIGENCE_TRADE_DIRECTORY_URL": directory_url,
            "TOKLIGENCE_TRADE_PUBLIC_URL": node.url,
        }
    )
    return node.start()


def chat(buyer: Node, model: str, text: str) -> tuple[str, dict[str, Any]]:
    """One chat request to the buyer: (its request id, the answer)."""
    body = {"model": model, "messages": [{"role": "user", "content": text}]}
    request = urllib.request.Request(
        buyer.url + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=60) as response:
        assert response.status == 200
        return str(response.headers["x-request-id"]), json.loads(response.read())


def provider_of(buyer: Node, request_id: str) -> str:
    """The provider of the buyer's ledger row of ``request_id``, once written."""

    def row() -> str:
        for found in buyer.ledger_rows():
            if found["request_id"] == request_id:
                return str(found["provider"])
        return ""

    return until(row, f"the buyer's ledger row of {request_id}")


def bought(buyer: Node, seller: Node, request_id: str) -> None:
    """``request_id`` is in both books, the same purchase on both sides."""

    def both() -> bool:
        mine = [e for e in buyer.entries(seller, "consume") if e.request_id.startswith(request_id)]
        theirs = [e for e in seller.entries(buyer, "supply") if e.request_id.startswith(request_id)]
        return len(mine) == len(theirs) == 1 and mine[0].request_id == theirs[0].request_id

    until(both, f"{request_id} in the books of the buyer and {seller.name}")
    (mine,) = [e for e in buyer.entries(seller, "consume") if e.request_id.startswith(request_id)]
    (theirs,) = [e for e in seller.entries(buyer, "supply") if e.request_id.startswith(request_id)]
    assert mine.status == theirs.status == "ok", (mine, theirs)
    assert mine.cost_micro_usd == theirs.cost_micro_usd > 0
    assert (mine.input_tokens, mine.output_tokens) == (theirs.input_tokens, theirs.output_tokens)


def supplied(seller: Node, buyer: Node) -> int:
    return len(seller.entries(buyer, "supply"))


def test_peer_auto_buys_from_the_cheaper_live_seller_and_outlives_the_directory(
    tmp_path: Path,
) -> None:
    nodes: list[Node] = []
    with processes() as started:
        directory = start_directory(tmp_path, ttl=TTL)
        started.append(directory)
        try:
            cheap = seller(tmp_path, "cheap", directory.url, price_in="1", price_out="4")
            nodes.append(cheap)
            dear = seller(tmp_path, "dear", directory.url, price_in="2.50", price_out="10")
            nodes.append(dear)
            both = {cheap.id, dear.id}
            until(lambda: {e["seller"] for e in listing(directory)} == both, "both listed")

            # A forged offer: the cheap seller's, made cheaper, announced by a
            # stranger at its own URL. The directory refuses it.
            genuine = next(e for e in listing(directory) if e["seller"] == cheap.id)
            signed = json.dumps(genuine["offer"], separators=(",", ":"), sort_keys=True)
            forged = signed.replace('"output":"4"', '"output":"0.01"').encode()
            body = announcement_body(
                STRANGER, url="http://127.0.0.1:1", offers=[forged], issued_at=_now_ms()
            )
            status, answer = post(f"{directory.url}/v1/directory/offers", body)
            assert status in (400, 401) and answer["error"]["code"] in (
                "wrong_seller",
                "bad_signature",
            )
            assert {e["seller"] for e in listing(directory)} == both

            buyer = Node("buyer", tmp_path / "buyer", {})
            nodes.append(buyer)
            named = pair(buyer, dear, name="dear", credit=CREDIT)
            buyer.start(
                TOKLIGENCE_TRADE_DIRECTORY_URL=directory.url,
                TOKLIGENCE_ROUTES=f"{MODEL}=>peer:auto|loopback, {NAMED_MODEL}=>peer:dear",
                **named,
            )

            # The first purchase opens an account at the cheaper seller, which
            # grants no credit yet (402): the route's next target answers.
            first, _ = chat(buyer, MODEL, "hello")
            assert provider_of(buyer, first) == "loopback"
            assert cheap.account(buyer).credit_limit == 0
            with buyer.db() as database:
                assert auto.kept_account(database, cheap.id) is not None
                assert auto.kept_account(database, dear.id) is None  # the named peer's key
            assert supplied(cheap, buyer) == supplied(dear, buyer) == 0

            granted = cheap.cli("trade", "accounts", "--set-credit", buyer.id, str(CREDIT))
            assert granted.returncode == 0, granted.stderr
            # The same account, reused: now bought from the cheaper seller.
            second, answer = chat(buyer, MODEL, "hello again")
            assert answer["choices"][0]["message"]["content"]
            assert provider_of(buyer, second) == "peer:auto"
            bought(buyer, cheap, second)
            assert supplied(dear, buyer) == 0
            with buyer.db() as database:
                assert auto.kept_account(database, cheap.id) is not None

            # The named peer, as ever.
            named_id, _ = chat(buyer, NAMED_MODEL, "by name")
            bought(buyer, dear, named_id)

            # The cheaper seller dies: its heartbeats stop, the directory drops
            # it after the TTL, and peer:auto buys from the other (with the
            # named peer's account: no new one is opened).
            cheap.kill()
            until(lambda: {e["seller"] for e in listing(directory)} == {dear.id}, "cheap gone")
            served_by: list[str] = []

            def via_dear() -> bool:
                request_id, _ = chat(buyer, MODEL, "after the cheap one died")
                served_by.append(provider_of(buyer, request_id))
                if served_by[-1] != "peer:auto":
                    return False  # fell back while the cached listing named the dead one
                bought(buyer, dear, request_id)
                return True

            until(via_dear, "a purchase from the dear seller")
            with buyer.db() as database:
                assert auto.kept_account(database, dear.id) is None

            # The directory stops: trading by name goes on; peer:auto answers
            # from what the directory said while it lives, then by the
            # route's next target -- never an error.
            directory.process.kill()
            directory.process.wait(timeout=30)
            named_id, _ = chat(buyer, NAMED_MODEL, "the directory is down")
            bought(buyer, dear, named_id)
            after: list[str] = []

            def fell_back() -> bool:
                request_id, _ = chat(buyer, MODEL, "the directory is down")
                after.append(provider_of(buyer, request_id))
                return after[-1] == "loopback"

            until(fell_back, "peer:auto falling back once the listing expired")
            cached = after[: after.index("loopback")]
            assert set(cached) <= {"peer:auto"}, after
            assert "using what it said before" in buyer.log.read_text()
            named_id, _ = chat(buyer, NAMED_MODEL, "still by name")
            bought(buyer, dear, named_id)
        except BaseException:
            for node in nodes:
                print(node.output())
            print(directory.output())
            raise
        finally:
            for node in nodes:
                node.stop()


def _now_ms() -> int:
    import time

    return time.time_ns() // 1_000_000
