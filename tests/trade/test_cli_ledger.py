"""``tokligence trade statement|reconcile|summary|settle``: what they print
and their exit statuses, on two data directories (two gateways' books)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import peewee
import pytest

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.cli import main
from tokligence.identity.keys import generate_key, hash_key, key_prefix
from tokligence.ledger import db as dbmod
from tokligence.trade.acks import Ack, acknowledge
from tokligence.trade.book import store_ack
from tokligence.trade.models import TradeEntry
from tokligence.trade.money import Tokens
from tokligence.trade.node_key import load_or_create
from tokligence.trade.receipts import SignedReceipt, sign_receipt
from tokligence.trade.signing import Signer
from tokligence.trade.store import open_account

from .books import sell, workload
from .conftest import open_book
from .keys import STRANGER
from .samples import STARTED
from .test_cli import isolated  # noqa: F401  (autouse: no real settings leak in)
from .test_ledger_api import OFFER


class Node:
    """One gateway's data directory: its key and its book."""

    def __init__(self, data: Path) -> None:
        self.data = data
        self.signer: Signer = load_or_create(data)[0]
        self.db: peewee.Database = open_book(dbmod.sqlite_url(data / "ledger.db"))

    @property
    def id(self) -> str:
        return self.signer.public_id

    def run(self, *argv: str) -> int:
        return main(["trade", *argv, "--data-dir", str(self.data)])


@pytest.fixture
def nodes(tmp_path: Path) -> Iterator[tuple[Node, Node]]:
    a, b = Node(tmp_path / "a"), Node(tmp_path / "b")
    try:
        yield a, b
    finally:
        dbmod.close_database(a.db)
        dbmod.close_database(b.db)


def output(capsys: pytest.CaptureFixture[str]) -> str:
    return capsys.readouterr().out


def test_summary(nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str]) -> None:
    a, b = nodes
    assert a.run("summary") == 0
    assert output(capsys) == "no trades yet\n"
    workload(a.db, b.db, a=a.signer, b=b.signer, count=4)
    assert a.run("summary", "--json") == 0
    value = json.loads(output(capsys))
    (row,) = value["counterparties"]
    assert row["counterparty"] == b.id
    assert row["supplied"]["requests"] == row["consumed"]["requests"] == 2
    assert row["net"]["cost_micro_usd"] == (
        row["supplied"]["cost_micro_usd"] - row["consumed"]["cost_micro_usd"]
    )
    assert a.run("summary") == 0
    table = output(capsys).splitlines()
    assert table[0].split() == [
        "COUNTERPARTY",
        "CONSUMED",
        "TOKENS",
        "USD",
        "SUPPLIED",
        "TOKENS",
        "USD",
        "SETTLED",
        "IN",
        "USD",
        "SETTLED",
        "OUT",
        "USD",
        "NET",
        "TOKENS",
        "NET",
        "USD",
    ]
    cells = table[1].split()
    assert cells[0] == b.id and cells[1] == "2" and cells[4] == "2"
    assert cells[-1] == row["net"]["cost_usd"]


def test_reconcile_a_statement_file_both_ways(
    nodes: tuple[Node, Node], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    a, b = nodes
    workload(a.db, b.db, a=a.signer, b=b.signer, count=6)
    statement = tmp_path / "a-supply.json"
    assert a.run("statement", "--counterparty", b.id, "--direction", "supply") == 0
    statement.write_text(output(capsys))
    assert b.run("reconcile", "--statement", str(statement), "--seller", a.id) == 0
    report = output(capsys)
    assert f"consume with {a.id}, 1970-01-01T00:00:00.000Z to " in report
    assert "their statement has 3 requests, 3 receipts" in report and report.count("clean") == 1
    # The seller's side: B's statement of what it consumed from A.
    consumed = tmp_path / "b-consume.json"
    assert b.run("statement", "--counterparty", a.id, "--direction", "consume") == 0
    consumed.write_text(output(capsys))
    assert a.run("reconcile", "--statement", str(consumed)) == 0
    output(capsys)
    # A row altered on B's side: B's reconcile names it, exit status 1.
    with dbmod.connection(b.db):
        TradeEntry.update(output_tokens=1).where(
            (TradeEntry.request_id == "req_0002") & (TradeEntry.counterparty == a.id)
        ).execute(b.db)
    assert b.run("reconcile", "--statement", str(statement), "--json") == 1
    value = json.loads(output(capsys))
    assert value["clean"] is False
    assert value["counts"]["amount_mismatch"] == 1 and value["counts"]["matched"] == 2
    (found,) = value["findings"]["amount_mismatch"]
    assert found["request_id"] == "req_0002"
    assert found["detail"].startswith("our book says 1020 in, 1 out, 10 cache read")
    assert b.run("reconcile", "--statement", str(statement)) == 1
    printed = output(capsys)
    assert "NOT clean" in printed and "\namount_mismatch:\n  req_0002  our book says" in printed
    # A statement that is not the peer's, or not to us, is refused.
    assert b.run("reconcile", "--statement", str(statement), "--seller", STRANGER.public_id) == 1
    assert "does not verify: wrong_issuer" in capsys.readouterr().err
    assert a.run("reconcile", "--statement", str(statement)) == 1
    assert "does not verify: wrong_counterparty" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["reconcile"], "name the peer: --peer NAME, or --url, --seller and --key"),
        (["reconcile", "--peer", "alice"], "no peer 'alice' is configured ([trade.peer.alice])"),
        (["settle", "--peer", "alice", "--url", "http://127.0.0.1:1"], "not both"),
        (
            ["settle", "--url", "http://127.0.0.1:1", "--seller", "alice", "--key", "k"],
            "--seller must be a public id",
        ),
        (
            ["reconcile", "--url", "127.0.0.1:1", "--seller", STRANGER.public_id, "--key", "k"],
            "--url must be http://HOST:PORT",
        ),
        (["statement", "--counterparty", "bob", "--direction", "supply"], "--counterparty must"),
        (["reconcile", "--statement", "-", "--from", "1"], "its period included"),
        (["reconcile", "--acks"], "--acks needs --buyer ID"),
        (["reconcile", "--acks", "--buyer", "bob"], "--acks needs --buyer ID"),
        (["reconcile", "--acks", "--buyer", STRANGER.public_id, "--peer", "x"], "no --peer"),
        (["reconcile", "--buyer", STRANGER.public_id], "--buyer goes with --acks"),
        (
            [
                "statement",
                "--counterparty",
                STRANGER.public_id,
                "--direction",
                "supply",
                "--from",
                "2026-02-01",
                "--to",
                "2026-01-01",
            ],
            "--from must be before --to",
        ),
    ],
)
def test_usage_errors(
    nodes: tuple[Node, Node], argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    a, _ = nodes
    assert a.run(*argv) == 2
    assert message in capsys.readouterr().err


def test_reconcile_acknowledgements(
    nodes: tuple[Node, Node], capsys: pytest.CaptureFixture[str]
) -> None:
    """A seller's receipts against the buyer's kept acknowledgements: clean
    when each is acknowledged with its hash; a receipt never acknowledged is
    missing_there, one acknowledged with another receipt's hash an
    amount_mismatch, each named by its request id, exit status 1."""
    a, b = nodes
    sold = [
        sell(
            a.db,
            seller=a.signer,
            buyer=b.id,
            request_id=f"req_ack{n}",
            tokens=Tokens(input=100 * n, output=n),
            started_at=STARTED + n * 1_000,
        )
        for n in (1, 2, 3)
    ]

    def kept(receipts: list[SignedReceipt], at: int) -> None:
        sealed = acknowledge(receipts, b.signer, at=at)
        ack = Ack.from_document(sealed.body)
        assert store_ack(
            a.db, counterparty=b.id, direction="supply", ack=ack, sealed=sealed, now=at
        )

    assert a.run("reconcile", "--acks", "--buyer", b.id) == 1  # nothing acknowledged yet
    assert "missing_there" in output(capsys)
    kept(sold[:2], STARTED + 10_000)
    assert a.run("reconcile", "--acks", "--buyer", b.id, "--json") == 1
    report = json.loads(output(capsys))
    assert report["counts"]["matched"] == 2
    assert report["findings"]["missing_there"] == [
        {"request_id": "req_ack3", "detail": "not acknowledged"}
    ]
    kept(sold[2:], STARTED + 20_000)
    assert a.run("reconcile", "--acks", "--buyer", b.id) == 0
    assert "clean" in output(capsys)
    # The buyer acknowledges a receipt for request 2 that is not the one sold.
    other = sign_receipt(replace(sold[1].receipt, status="error"), a.signer)
    kept([other], STARTED + 30_000)
    assert a.run("reconcile", "--acks", "--buyer", b.id) == 1
    printed = output(capsys)
    assert "NOT clean" in printed
    assert "amount_mismatch:\n  req_ack2  acknowledged with another receipt's hash" in printed
    # Another buyer's acknowledgements are not this buyer's.
    assert a.run("reconcile", "--acks", "--buyer", STRANGER.public_id, "--json") == 0
    assert json.loads(output(capsys))["counts"]["matched"] == 0


def test_bad_times_are_usage_errors(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trade", "summary", "--cut-off", "1"]) == 2
    assert main(["trade", "settle", "--cut-off", "yesterday"]) == 2
    assert "time must be an ISO 8601 date" in capsys.readouterr().err


def test_reconcile_and_settle_with_a_peer_over_http(
    nodes: tuple[Node, Node], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A sells to B and B to A; A serves. B reconciles and settles with A."""
    a, b = nodes
    workload(a.db, b.db, a=a.signer, b=b.signer, count=6)
    key = generate_key()
    open_account(a.db, buyer=b.id, key_hash=hash_key(key), key_prefix=key_prefix(key), now=1)
    config = isolated_config(tmp_path, env=OFFER, data_dir=str(a.data))
    with GatewayThread(config) as gateway:
        peer = ["--url", gateway.url(), "--seller", a.id, "--key", key]
        assert b.run("reconcile", *peer) == 0
        assert "clean" in output(capsys)
        assert b.run("reconcile", *peer, "--from", "2026-01-01T00:02:00Z", "--json") == 0
        value = json.loads(output(capsys))
        assert value["findings"]["matched"] == ["req_0002", "req_0004"]
        assert value["period_from"] == STARTED + 120_000
        # Settle: both sides now hold it and the net is zero on both.
        assert b.run("settle", *peer, "--json") == 0
        settled = json.loads(output(capsys))
        assert settled["settled"] is True and settled["number"] == 1
        assert len(settled["signed"]) == 2
        assert b.run("settle", *peer) == 0
        assert output(capsys).startswith(f"nothing to settle with {a.id} before ")
        for node in (a, b):
            assert node.run("summary", "--json") == 0
            (row,) = json.loads(output(capsys))["counterparties"]
            assert row["net"] == {"tokens": 0, "cost_micro_usd": 0, "cost_usd": "0.000000"}
        # A wrong key is refused by the peer: exit status 1.
        wrong = ["--url", gateway.url(), "--seller", a.id, "--key", "tok_wrong"]
        assert b.run("settle", *wrong) == 0  # nothing to settle: the peer is not asked
        assert b.run("reconcile", *wrong) == 1
        assert "the peer answered 401 invalid_api_key" in capsys.readouterr().err
    assert b.run("reconcile", *peer) == 1
    assert "cannot reach" in capsys.readouterr().err
