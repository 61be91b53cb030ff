"""Two gateways that sell to each other, as processes on 127.0.0.1.

Alice sells ``gpt-*`` through a fake OpenAI upstream, Bob ``claude-*``
through a fake Anthropic one, both at 2.50 USD input and 10 USD output per
million tokens, and each buys the other's models (``peer:bob``,
``peer:alice``). The official OpenAI and Anthropic SDKs call both
gateways in all three dialects, streamed and whole, so each side's seller
translates for the other's clients (a Messages client of Bob buying
``gpt-4o-mini`` from Alice, a Chat or Responses client of Alice buying
``claude-*`` from Bob). Every answer is the upstream's; afterwards both
books agree entry for entry -- the same request ids, the same token counts
and the exact cost, 1,000 input tokens at 2.50 plus 200 output at 10 =
4,500 micro-USD on both sides -- every receipt is acknowledged, and each
buyer's ledger has its ordinary rows. On SQLite and on PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import astuple
from pathlib import Path

import anthropic
import openai
import pytest

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_json, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream
from tests.fakes.openai_responses import (
    MessageItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)
from tests.fakes.wire import FakeServer, by_stream
from tests.pg_cluster import scratch_schema
from tokligence.trade.receipts import verify_receipt

from .nodes import Node, offer_env, pair, stop_all, until

INPUT, OUTPUT, COST = 1_000, 200, 4_500
CREDIT = 10_000_000
GPT, CLAUDE = "gpt-4o-mini", "claude-sonnet-4-5"
TEXT = "Hello."


def upstream() -> FakeServer:
    """OpenAI's and Anthropic's endpoints, each reporting exactly 1,000
    input and 200 output tokens."""
    chat = ChatScenario(text=[TEXT], prompt_tokens=INPUT, completion_tokens=OUTPUT)
    responses = ResponsesScenario(
        items=[MessageItem(pieces=[TEXT])], input_tokens=INPUT, output_tokens=OUTPUT
    )
    messages = MessagesScenario(
        blocks=[TextBlock(pieces=[TEXT])], input_tokens=INPUT, output_tokens=OUTPUT
    )
    return FakeServer(
        defaults={
            "/v1/chat/completions": by_stream(chat_stream(chat), chat_json(chat)),
            "/v1/responses": by_stream(responses_stream(responses), responses_json(responses)),
            "/v1/messages": by_stream(messages_stream(messages), messages_json(messages)),
        }
    )


@pytest.fixture(params=["sqlite", "postgresql"])
def traders(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    with ExitStack() as stack:
        url = stack.enter_context(upstream().running_in_thread())
        databases = ["", ""]
        if request.param == "postgresql":
            base = request.getfixturevalue("postgres_url")
            databases = [stack.enter_context(scratch_schema(base)) for _ in databases]
        alice = Node(
            "alice",
            tmp_path / "alice",
            {
                "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                **offer_env("gpt", "gpt-*", "openai"),
            },
            database_url=databases[0],
        )
        bob = Node(
            "bob",
            tmp_path / "bob",
            {
                "TOKLIGENCE_ANTHROPIC_API_KEY": "upstream-key",
                "TOKLIGENCE_ANTHROPIC_BASE_URL": url,
                **offer_env("claude", "claude-*", "anthropic"),
            },
            database_url=databases[1],
        )
        nodes = [alice, bob]
        stack.callback(stop_all, nodes)
        for node in nodes:
            node.start()
        # Each opens an account at the other, then buys from it.
        bob_buys = pair(bob, alice, name="alice", credit=CREDIT)
        alice_buys = pair(alice, bob, name="bob", credit=CREDIT)
        stop_all(nodes)
        alice.start(**alice_buys, TOKLIGENCE_ROUTES="claude-*=>peer:bob")
        bob.start(**bob_buys, TOKLIGENCE_ROUTES="gpt-*=>peer:alice")
        yield alice, bob


def ask_everything(gateway: Node, model: str) -> list[str]:
    """Chat, Responses and Messages, whole and streamed, through
    ``gateway`` with the official SDKs; the texts they got."""
    chat = openai.OpenAI(base_url=gateway.url + "/v1", api_key="unused", max_retries=0)
    claude = anthropic.Anthropic(base_url=gateway.url, api_key="unused", max_retries=0)
    question = [{"role": "user", "content": "Say hello."}]
    texts = []
    whole = chat.chat.completions.create(model=model, messages=question)  # type: ignore[arg-type]
    assert whole.usage is not None and whole.usage.prompt_tokens == INPUT
    texts.append(whole.choices[0].message.content or "")
    streamed = chat.chat.completions.create(
        model=model,
        messages=question,  # type: ignore[arg-type]
        stream=True,
        stream_options={"include_usage": True},
    )
    chunks = list(streamed)
    assert chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == OUTPUT
    texts.append("".join(c.choices[0].delta.content or "" for c in chunks if c.choices))
    answer = chat.responses.create(model=model, input="Say hello.")
    assert answer.usage is not None and answer.usage.output_tokens == OUTPUT
    texts.append(answer.output_text)
    with chat.responses.stream(model=model, input="Say hello.") as events:
        texts.append(events.get_final_response().output_text)
    message = claude.messages.create(model=model, max_tokens=300, messages=question)  # type: ignore[arg-type]
    assert message.usage.input_tokens == INPUT
    texts.append("".join(block.text for block in message.content if block.type == "text"))
    with claude.messages.stream(model=model, max_tokens=300, messages=question) as stream:  # type: ignore[arg-type]
        texts.append(stream.get_final_text())
    return texts


def books(seller: Node, buyer: Node) -> tuple[list[tuple[object, ...]], list[tuple[object, ...]]]:
    """Both sides' entries of the trade from ``seller`` to ``buyer``,
    without the time each side wrote its own."""

    def rows(node: Node, other: Node, direction: str) -> list[tuple[object, ...]]:
        entries = node.entries(other, direction)
        return sorted(astuple(entry)[2:-1] for entry in entries)  # no counterparty, direction, time

    return rows(seller, buyer, "supply"), rows(buyer, seller, "consume")


def check_books(seller: Node, buyer: Node, offer: str) -> None:
    """The trade from ``seller`` to ``buyer``: both books agree, at 4,500
    micro-USD a request, each receipt valid, the chain whole, the seller's
    account of the buyer posted, every receipt acknowledged."""
    until(lambda: len(buyer.entries(seller, "consume")) == 6, f"{buyer.name}'s purchases")
    supply, consume = books(seller, buyer)
    differ = [pair for pair in zip(supply, consume, strict=False) if pair[0] != pair[1]]
    assert supply == consume, f"{seller.name} -> {buyer.name}: {differ[:1]}"
    assert len(supply) == 6
    seqs = []
    for entry in seller.entries(buyer, "supply"):
        assert (entry.status, entry.input_tokens, entry.output_tokens) == ("ok", INPUT, OUTPUT)
        assert entry.cost_micro_usd == COST
        assert entry.receipt is not None
        verdict = verify_receipt(
            entry.receipt, seller=seller.id, buyer=buyer.id, request_id=entry.request_id
        )
        assert verdict.ok and verdict.value is not None, verdict.detail
        assert verdict.value.receipt.offer == offer
        seqs.append(verdict.value.receipt.seq)
    assert sorted(seqs) == [1, 2, 3, 4, 5, 6]
    account = seller.account(buyer)
    assert (account.reserved, account.posted) == (0, 6 * COST)
    ids = {entry.request_id for entry in seller.entries(buyer, "supply")}
    until(lambda: seller.acknowledged(buyer) == ids, f"{buyer.name}'s acknowledgements")


def test_they_trade_both_ways_and_their_books_agree(traders: tuple[Node, Node]) -> None:
    alice, bob = traders
    # Bob's clients buy gpt from Alice; Alice's clients buy claude from Bob.
    assert ask_everything(bob, GPT) == [TEXT] * 6
    assert ask_everything(alice, CLAUDE) == [TEXT] * 6
    check_books(alice, bob, "gpt@1")
    check_books(bob, alice, "claude@1")

    # The buyer's ledger has its ordinary row of each request, by its peer.
    def bought() -> list[dict[str, object]]:
        return [row for row in bob.ledger_rows() if row["provider"] == "peer:alice"]

    rows = until(lambda: len(bought()) == 6 and bought(), "Bob's ledger rows")
    assert {(r["status"], r["input_tokens"], r["output_tokens"]) for r in rows} == {
        (200, INPUT, OUTPUT)
    }
