"""Two ``tokligence serve`` processes on 127.0.0.1 that trade with each
other both ways, on SQLite and on PostgreSQL. Their books are written
through the book API, so that each row can be placed, deleted and altered
exactly (tests/trade/test_restart.py and test_two_gateways.py trade for
real); everything else is the real thing: the statement and settlement
endpoints of the serving gateways, and the ``tokligence trade`` commands
run as processes against each gateway's own configuration.

Reconcile is clean on both sides, settling brings the net to zero on both
and settling again changes nothing; then rows are deleted and altered on
either side and each reconcile names the request and its class; and after
both gateways restart, every summary, settlement and reconciliation reads
the same."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.e2e.test_process import clean_env, free_port, wait_healthy
from tokligence.identity.keys import generate_key, hash_key, key_prefix
from tokligence.ledger import db as dbmod
from tokligence.trade.models import ReceiptRow, TradeEntry
from tokligence.trade.node_key import load_or_create
from tokligence.trade.signing import Signer
from tokligence.trade.store import open_account

from .books import MINUTE, workload
from .conftest import Books, open_book
from .samples import STARTED
from .test_ledger_api import OFFER

ROOT = Path(__file__).resolve().parents[2]
UNTIL = STARTED + 24 * 60 * MINUTE  # a fixed period end: the same answer every run
CUT_OFF = STARTED + 12 * 60 * MINUTE


@dataclass
class Node:
    name: str
    data: Path
    url_of_book: str
    signer: Signer
    port: int = 0
    process: subprocess.Popen[str] | None = None
    key_here: str = ""  # the other node's trade account key at this one

    @property
    def id(self) -> str:
        return self.signer.public_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = clean_env(self.data.parent) | OFFER  # OFF included: no update check
        if self.url_of_book.startswith("postgres"):
            env["TOKLIGENCE_DATABASE_URL"] = self.url_of_book
        return env

    def start(self) -> None:
        self.port = self.port or free_port()
        command = [sys.executable, "-m", "tokligence", "serve", "--host", "127.0.0.1"]
        command += ["--port", str(self.port), "--data-dir", str(self.data)]
        # Its log goes to a file: a pipe nobody reads would block it.
        with (self.data.parent / "serve.log").open("a") as log:
            self.process = subprocess.Popen(
                command,
                cwd=self.data.parent,
                env=self.env(),
                stdout=subprocess.DEVNULL,
                stderr=log,
                text=True,
            )
        wait_healthy(self.process, self.port)

    def stop(self) -> None:
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.communicate(timeout=30)
        finally:
            if self.process.poll() is None:
                self.process.kill()
                self.process.communicate()
        self.process = None

    def trade(self, *argv: str) -> tuple[int, str, str]:
        done = subprocess.run(
            [sys.executable, "-m", "tokligence", "trade", *argv, "--data-dir", str(self.data)],
            cwd=self.data.parent,
            env=self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        return done.returncode, done.stdout, done.stderr

    def with_peer(self, peer: Node, *argv: str) -> tuple[int, str, str]:
        """A command of this node about ``peer``, reached over HTTP."""
        return self.trade(*argv, "--url", peer.url, "--seller", peer.id, "--key", peer.key_here)


def node(tmp: Path, name: str, url: str) -> Node:
    data = tmp / name / "data"
    return Node(name=name, data=data, url_of_book=url, signer=load_or_create(data)[0])


@pytest.fixture
def pair(tmp_path: Path, book_urls: tuple[str, str]) -> Iterator[tuple[Node, Node, Books]]:
    """Gateways A and B; on SQLite each book is the file its gateway uses."""
    urls = book_urls
    if urls[0].startswith("sqlite"):
        urls = tuple(  # type: ignore[assignment]
            dbmod.sqlite_url(tmp_path / name / "data" / "ledger.db") for name in ("a", "b")
        )
    a, b = node(tmp_path, "a", urls[0]), node(tmp_path, "b", urls[1])
    books = Books(urls=urls, a=open_book(urls[0]), b=open_book(urls[1]))
    try:
        for this, other, db in ((a, b, books.a), (b, a, books.b)):
            this.key_here = generate_key()
            open_account(
                db,
                buyer=other.id,
                key_hash=hash_key(this.key_here),
                key_prefix=key_prefix(this.key_here),
                now=STARTED,
            )
        a.start()
        b.start()
        yield a, b, books
    finally:
        for gateway in (a, b):
            gateway.stop()
        dbmod.close_database(books.a)
        dbmod.close_database(books.b)


def reconcile(this: Node, peer: Node) -> tuple[int, dict[str, Any]]:
    status, out, err = this.with_peer(peer, "reconcile", "--to", str(UNTIL), "--json")
    assert status in (0, 1) and out, err
    return status, json.loads(out)


def not_matched(report: dict[str, Any]) -> set[tuple[str, str]]:
    return {
        (kind, item["request_id"])
        for kind, items in report["findings"].items()
        if kind != "matched"
        for item in items
    }


def stable(result: tuple[int, dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    """A reconcile's result without the statement's own hash, which
    changes with the time it was issued."""
    status, report = result
    return status, {key: value for key, value in report.items() if key != "statement"}


def summary(this: Node) -> dict[str, Any]:
    status, out, err = this.trade("summary", "--json")
    assert status == 0, err
    return json.loads(out)  # type: ignore[no-any-return]


def test_two_gateways_reconcile_settle_and_restart(pair: tuple[Node, Node, Books]) -> None:
    a, b, books = pair
    workload(books.a, books.b, a=a.signer, b=b.signer, count=8)  # A sells evens, B odds

    # Clean both ways: each reconciles what it consumed with the other's statement.
    for this, peer in ((b, a), (a, b)):
        status, report = reconcile(this, peer)
        assert status == 0 and report["clean"], report
        assert report["counts"]["matched"] == 4
        assert report["counterparty"] == peer.id and report["direction"] == "consume"

    # The summary: both directions in one row, the same seen from either side.
    before_a, before_b = summary(a), summary(b)
    (row_a,) = before_a["counterparties"]
    (row_b,) = before_b["counterparties"]
    assert row_a["supplied"] == row_b["consumed"] and row_a["consumed"] == row_b["supplied"]
    assert row_a["net"]["cost_micro_usd"] == -row_b["net"]["cost_micro_usd"] != 0
    # The admin API of the serving gateway answers the same.
    admin = httpx.get(a.url + "/api/v1/admin/trade/summary", timeout=30).json()
    assert admin == before_a

    # B settles with A: both sign, both store, the net is zero on both.
    status, out, err = b.with_peer(a, "settle", "--cut-off", str(CUT_OFF), "--json")
    assert status == 0, err
    settled = json.loads(out)
    assert settled["settled"] and settled["number"] == 1
    for this in (a, b):
        (row,) = summary(this)["counterparties"]
        assert row["net"] == {"tokens": 0, "cost_micro_usd": 0, "cost_usd": "0.000000"}
        assert row["settled"]["supplied"] == row["supplied"]
    # Again: nothing new, no new document.
    status, out, err = b.with_peer(a, "settle", "--cut-off", str(CUT_OFF))
    assert status == 0 and out.startswith(f"nothing to settle with {a.id}"), err
    status, out, err = a.with_peer(b, "settle", "--cut-off", str(CUT_OFF))
    assert status == 0 and out.startswith(f"nothing to settle with {b.id}"), err

    # Rows deleted or altered on either side, each named by the reconcile
    # of the side that sees it.
    with dbmod.connection(books.a):
        # A's receipt of a sale to B (req_0002, A's receipt 2) is dropped.
        ReceiptRow.delete().where(
            (ReceiptRow.request_id == "req_0002") & (ReceiptRow.direction == "supply")
        ).execute(books.a)
        # A's consume row of req_0005 (bought from B) is deleted.
        TradeEntry.delete().where(
            (TradeEntry.request_id == "req_0005") & (TradeEntry.direction == "consume")
        ).execute(books.a)
    with dbmod.connection(books.b):
        # B's supply row of req_0003 (sold to A) is altered.
        TradeEntry.update(cost_micro_usd=TradeEntry.cost_micro_usd * 2).where(
            (TradeEntry.request_id == "req_0003") & (TradeEntry.direction == "supply")
        ).execute(books.b)
    status_b, report_b = reconcile(b, a)
    status_a, report_a = reconcile(a, b)
    assert (status_b, status_a) == (1, 1)
    assert not_matched(report_b) == {("missing_there", "req_0002"), ("sequence_gap", "req_0004")}
    assert not_matched(report_a) == {
        ("amount_mismatch", "req_0003"),
        ("missing_here", "req_0005"),
    }
    status, out, err = b.with_peer(a, "reconcile", "--to", str(UNTIL))
    assert status == 1 and "\nmissing_there:\n  req_0002  " in out, err

    # Both gateways restart: every result reads the same.
    summaries = (summary(a), summary(b))
    for gateway in (a, b):
        gateway.stop()
        gateway.start()
    assert stable(reconcile(b, a)) == stable((status_b, report_b))
    assert stable(reconcile(a, b)) == stable((status_a, report_a))
    assert (summary(a), summary(b)) == summaries
    status, out, err = b.with_peer(a, "settle", "--cut-off", str(CUT_OFF), "--json")
    assert status == 0 and json.loads(out)["settled"] is False, err
