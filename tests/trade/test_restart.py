"""Restarting every process changes nothing a trade left behind (issue 13,
criterion 8), on SQLite and on PostgreSQL.

Alice and Bob (``test_two_gateways``'s pair: each sells to the other and
buys from it) trade a mixed workload: all three dialects, whole and
streamed, with translation on the selling side, both ways. Once both
books are written and every receipt is acknowledged, each side's summary,
its stored receipts, its reconciliation with the other's statement and
its reconciliation against the other's acknowledgements are read; both
gateways stop and start again, and every one of them reads the same.
"""

from __future__ import annotations

import json
import time
from typing import Any

from tokligence.ledger import db as dbmod
from tokligence.trade.models import AckRow, ReceiptRow

from .nodes import Node
from .test_two_gateways import (
    CLAUDE,
    GPT,
    TEXT,
    ask_everything,
    check_books,
    traders,  # noqa: F401  (the fixture)
)


def cli_json(node: Node, *args: str, status: int = 0) -> Any:
    done = node.cli("trade", *args, "--json")
    assert done.returncode == status, f"{args}: {done.stderr}\n{done.stdout}"
    return json.loads(done.stdout)


def stored(node: Node) -> dict[str, list[dict[str, Any]]]:
    """Every receipt and acknowledgement the node keeps, as rows."""
    with node.db() as database, dbmod.connection(database):
        return {
            "receipts": list(
                ReceiptRow.select()
                .order_by(ReceiptRow.counterparty, ReceiptRow.direction, ReceiptRow.seq)
                .dicts()
                .execute(database)
            ),
            "acks": list(AckRow.select().order_by(AckRow.id).dicts().execute(database)),
        }


def state(node: Node, other: Node, peer: str, until: int) -> dict[str, Any]:
    """What ``node`` says of its trades with ``other`` (its peer ``peer``):
    summary, stored rows, both reconciliations (without the statement's
    own hash, which changes with the time it is issued)."""
    reconciled = cli_json(node, "reconcile", "--peer", peer, "--to", str(until))
    assert reconciled["clean"] and reconciled["counts"]["matched"] == 6, reconciled
    reconciled.pop("statement")
    acks = cli_json(node, "reconcile", "--acks", "--buyer", other.id)
    assert acks["clean"] and acks["counts"]["matched"] == 6, acks
    return {
        "summary": cli_json(node, "summary"),
        "stored": stored(node),
        "reconcile": reconciled,
        "reconcile --acks": acks,
    }


def test_restarting_every_process_changes_nothing(traders: tuple[Node, Node]) -> None:  # noqa: F811
    alice, bob = traders
    assert ask_everything(bob, GPT) == [TEXT] * 6
    assert ask_everything(alice, CLAUDE) == [TEXT] * 6
    check_books(alice, bob, "gpt@1")  # waits for both books and every acknowledgement
    check_books(bob, alice, "claude@1")
    until = time.time_ns() // 1_000_000 + 1  # a fixed period end for both readings
    before = {"alice": state(alice, bob, "bob", until), "bob": state(bob, alice, "alice", until)}
    summary = before["alice"]["summary"]["counterparties"][0]
    assert summary["supplied"]["requests"] == summary["consumed"]["requests"] == 6

    for node in (alice, bob):
        node.stop()
    for node in (alice, bob):
        node.start()

    after = {"alice": state(alice, bob, "bob", until), "bob": state(bob, alice, "alice", until)}
    assert after == before
