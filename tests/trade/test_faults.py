"""A trade cut short: the seller killed mid-stream, the buyer's client gone.

Alice sells a slow stream (a piece every half second) to Bob's gateway.

* SIGKILL of Alice in the middle: Bob's client gets the dialect's in-stream
  error (no ``[DONE]``), Bob books the purchase ``aborted`` at zero cost;
  Alice's reservation stays held until she restarts after the execution
  timeout, when it is voided: nothing posted, nothing entered.
* Bob's client going away in the middle: Alice has served what went out, so
  she posts it (her receipt says ``aborted``, with the tokens delivered);
  Bob, who never got the receipt, books ``aborted`` at zero cost until
  reconciliation brings it (docs/trading.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path

import httpx
import pytest

from tests.fakes.openai_chat import ChatScenario, chat_events
from tests.fakes.sse_script import to_chunks
from tests.fakes.wire import Chunk, FakeServer, Reply
from tokligence.ledger import db as dbmod
from tokligence.trade.models import Reservation
from tokligence.trade.receipts import verify_receipt

from .nodes import Node, now_ms, offer_env, pair, stop_all, until

CHAT = "/v1/chat/completions"
PIECES = 40
DELAY = 0.5  # seconds between pieces: the stream lasts twenty
EXECUTION_TIMEOUT = 5  # seconds a traded request may run at Alice's
BODY = {
    "model": "gpt-4o-mini",
    "max_tokens": 200,
    "stream": True,
    "messages": [{"role": "user", "content": "Count slowly."}],
}


def slow_stream() -> Reply:
    chunks = to_chunks(chat_events(ChatScenario(text=[f"piece{i} " for i in range(PIECES)])))
    slow = tuple(Chunk(data=c.data, delay=DELAY if i else 0.0) for i, c in enumerate(chunks))
    return Reply(headers=(("content-type", "text/event-stream"),), chunks=slow)


@pytest.fixture
def market(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    fake = FakeServer(defaults={CHAT: slow_stream()})
    with ExitStack() as stack:
        url = stack.enter_context(fake.running_in_thread())
        alice = Node(
            "alice",
            tmp_path / "alice",
            {
                "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                "TOKLIGENCE_TRADE_EXECUTION_TIMEOUT": str(EXECUTION_TIMEOUT),
                **offer_env("fast", "gpt-*", "openai"),
            },
        )
        bob = Node("bob", tmp_path / "bob", {"TOKLIGENCE_ROUTES": "gpt-*=>peer:alice"})
        stack.callback(stop_all, [alice, bob])
        alice.start()
        bob.env.update(pair(bob, alice, name="alice", credit=10_000_000))
        bob.start()
        yield alice, bob


def reservations(node: Node) -> list[tuple[str, str, int]]:
    """(request id, state, created at) of every reservation at ``node``."""
    with node.db() as db, dbmod.connection(db):
        query = Reservation.select(
            Reservation.request_id, Reservation.state, Reservation.created_at
        )
        return [(r.request_id, r.state, r.created_at) for r in query.execute(db)]


def test_a_seller_killed_mid_stream(market: tuple[Node, Node]) -> None:
    alice, bob = market
    lines: list[str] = []
    with httpx.stream("POST", bob.url + CHAT, json=BODY, timeout=60) as answer:
        assert answer.status_code == 200
        for line in answer.iter_lines():
            lines.append(line)
            if "piece1 " in line:
                alice.kill()  # in the middle of the stream, nothing flushed
        # The rest of the answer: Bob's in-stream error, and its end.
    assert any(line.startswith('data: {"error"') for line in lines), lines[-3:]
    assert "data: [DONE]" not in lines
    (bought,) = until(lambda: bob.entries(alice, "consume"), "Bob's entry")
    assert (bought.status, bought.cost_micro_usd, bought.receipt) == ("aborted", 0, None)
    # Alice died holding the reservation; a restart after the execution
    # timeout voids it, and nothing is posted or entered.
    ((request_id, state, created_at),) = reservations(alice)
    assert (request_id, state) == (bought.request_id, "held")
    until(
        lambda: now_ms() - created_at > (EXECUTION_TIMEOUT + 1) * 1000,
        "the reservation outliving the execution timeout",
        wait=EXECUTION_TIMEOUT + 30,
    )
    alice.start()
    assert reservations(alice) == [(request_id, "voided", created_at)]
    account = alice.account(bob)
    assert (account.reserved, account.posted) == (0, 0)
    assert alice.entries(bob, "supply") == []
    # And the two books agree: Bob's attempt, booked at zero without a
    # receipt, is owed by nobody.
    reconciled = bob.cli("trade", "reconcile", "--peer", "alice", "--json")
    assert reconciled.returncode == 0, reconciled.stdout + reconciled.stderr
    assert json.loads(reconciled.stdout)["clean"] is True


def test_a_buyer_that_leaves_mid_stream_pays_for_what_went_out(
    market: tuple[Node, Node],
) -> None:
    alice, bob = market
    with httpx.stream("POST", bob.url + CHAT, json=BODY, timeout=60) as answer:
        for line in answer.iter_lines():
            if "piece1 " in line:
                break  # and close the connection
    (sold,) = until(lambda: alice.entries(bob, "supply"), "Alice's entry")
    assert sold.status == "aborted" and sold.cost_micro_usd > 0
    assert sold.receipt is not None
    verdict = verify_receipt(sold.receipt, seller=alice.id, buyer=bob.id)
    assert verdict.ok and verdict.value is not None
    receipt = verdict.value.receipt
    assert (receipt.status, receipt.cost_micro_usd) == ("aborted", sold.cost_micro_usd)
    assert receipt.tokens.output >= 2  # what went out before Bob's client left
    (bought,) = until(lambda: bob.entries(alice, "consume"), "Bob's entry")
    assert (bought.request_id, bought.status, bought.cost_micro_usd) == (
        sold.request_id,
        "aborted",
        0,
    )
    assert bought.note is not None and bought.note.startswith("no receipt")
    account = alice.account(bob)
    assert (account.reserved, account.posted) == (0, sold.cost_micro_usd)
