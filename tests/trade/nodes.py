"""Gateways that trade, as deployed: ``tokligence serve`` processes on
127.0.0.1, each with its own data directory (and database), configured by
environment variables, beside fake upstreams in the test process.

A :class:`Node` is one gateway: started, stopped, killed and restarted;
its node key made before it starts (the same file the gateway loads), so
a test knows every id up front; its books read straight from its database.
:func:`pair` opens an account for a buyer at a seller the way a user does,
with ``tokligence trade open`` and ``tokligence trade accounts
--set-credit``, and returns the buyer's peer variables.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import peewee

from tests.e2e.test_process import clean_env, free_port
from tests.fakes.openai_chat import ChatScenario, chat_json
from tests.fakes.wire import FakeServer
from tokligence.ledger import db as dbmod
from tokligence.trade import book, store
from tokligence.trade.book import Entry
from tokligence.trade.node_key import load_or_create
from tokligence.trade.signing import Signer

START_WAIT = 60.0  # several interpreters importing at once on a loaded machine
SETTLE_WAIT = 30.0  # for books written after the answer, and acknowledgements
T = TypeVar("T")


def until(condition: Callable[[], T], what: str, wait: float = SETTLE_WAIT) -> T:
    """``condition()`` once it is truthy; fails naming ``what`` after ``wait``
    seconds (the bound of a wait, never a measured time)."""
    deadline = time.monotonic() + wait
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"never happened: {what}")
        time.sleep(0.05)


@dataclass
class Node:
    name: str
    home: Path
    env: dict[str, str]
    database_url: str = ""  # "" : SQLite files in the data directory
    port: int = field(default_factory=free_port)
    # What runs ``tokligence``: this source tree, or a frozen binary.
    command: tuple[str, ...] = (sys.executable, "-m", "tokligence")
    process: subprocess.Popen[bytes] | None = None

    def __post_init__(self) -> None:
        self.home.mkdir(parents=True, exist_ok=True)
        self.signer: Signer = load_or_create(self.data_dir)[0]

    @property
    def data_dir(self) -> Path:
        return self.home / "data"

    @property
    def id(self) -> str:
        return self.signer.public_id

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self) -> Path:
        return self.home / "gateway.log"

    def environment(self) -> dict[str, str]:
        env = clean_env(self.home) | self.env
        if self.database_url:
            env["TOKLIGENCE_DATABASE_URL"] = self.database_url
        return env

    def start(self, **changes: str) -> Node:
        """Start (or restart) it; ``changes`` are variables to set from now on."""
        assert self.process is None or self.process.poll() is not None, "already running"
        self.env.update(changes)
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    *self.command, "serve",
                    "--port", str(self.port), "--data-dir", str(self.data_dir),
                ],
                cwd=self.home,
                env=self.environment(),
                stdout=out,
                stderr=subprocess.STDOUT,
            )  # fmt: skip
        until(self.healthy, f"{self.name} healthy\n{self.output()}", START_WAIT)
        return self

    def healthy(self) -> bool:
        assert self.process is not None
        code = self.process.poll()
        assert code is None, f"{self.name} exited with {code}\n{self.output()}"
        try:
            with urllib.request.urlopen(self.url + "/health", timeout=2) as response:
                return bool(json.loads(response.read())["status"] == "ok")
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()

    def kill(self) -> None:
        """SIGKILL: no shutdown, nothing flushed."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait()

    def output(self) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return f"--- gateway {self.name} ---\n{text[-4000:]}"

    def cli(self, *args: str) -> subprocess.CompletedProcess[str]:
        """``tokligence ARGS`` on this gateway's configuration."""
        return subprocess.run(
            [*self.command, *args, "--data-dir", str(self.data_dir)],
            cwd=self.home,
            env=self.environment(),
            capture_output=True,
            text=True,
            timeout=120,
        )

    @contextmanager
    def db(self) -> Iterator[peewee.Database]:
        url = self.database_url or dbmod.sqlite_url(self.data_dir / "ledger.db")
        database = dbmod.open_database(url)
        try:
            yield database
        finally:
            dbmod.close_database(database)

    def entries(self, counterparty: Node | str, direction: str) -> list[Entry]:
        """Its entries with ``counterparty`` (a node, or a public id)."""
        other = counterparty if isinstance(counterparty, str) else counterparty.id
        with self.db() as database:
            return book.entries(database, counterparty=other, direction=direction)

    def account(self, buyer: Node) -> store.AccountRecord:
        with self.db() as database:
            account = store.account_of(database, buyer.id)
        assert account is not None
        return account

    def acknowledged(self, buyer: Node) -> set[str]:
        with self.db() as database:
            return book.acknowledged(database, counterparty=buyer.id, direction="supply")

    def ledger_rows(self) -> list[dict[str, Any]]:
        from tokligence.ledger.models import LedgerEntry

        with self.db() as database, dbmod.connection(database):
            return list(LedgerEntry.select().dicts().execute(database))


def pair(buyer: Node, seller: Node, *, name: str, credit: int) -> dict[str, str]:
    """Open ``buyer``'s account at ``seller`` (running) as a user does, grant
    it ``credit`` micro-USD, and return the buyer's variables for the peer."""
    opened = buyer.cli("trade", "open", seller.url, "--seller", seller.id, "--name", name)
    assert opened.returncode == 0, opened.stderr
    section = dict(line.split(" = ", 1) for line in opened.stdout.splitlines() if " = " in line)
    assert opened.stdout.startswith(f"[trade.peer.{name}]\n")
    assert section["public_id"] == seller.id and section["url"] == seller.url
    granted = seller.cli("trade", "accounts", "--set-credit", buyer.id, str(credit))
    assert granted.returncode == 0, granted.stderr
    prefix = f"TOKLIGENCE_TRADE_PEER_{name.upper()}_"
    return {prefix + key.upper(): value for key, value in section.items()}


def offer_env(name: str, models: str, provider: str, **fields: str) -> dict[str, str]:
    """An offer's variables: 2.50 input and 10 output per million unless given."""
    values = {"models": models, "provider": provider, "price_input": "2.50", "price_output": "10"}
    values.update(fields)
    prefix = f"TOKLIGENCE_TRADE_OFFER_{name.upper()}_"
    return {prefix + key.upper(): value for key, value in values.items()}


CHAT = "/v1/chat/completions"


@contextmanager
def seller_and_buyer(
    tmp_path: Path, offers: dict[str, str], *, credit: int
) -> Iterator[tuple[Node, Node, FakeServer]]:
    """Alice sells ``offers`` through a fake OpenAI whose every chat answer
    is 1,000 input and 200 output tokens; Bob routes ``gpt-*`` to her, with
    ``credit`` micro-USD granted. Both are stopped on exit."""
    chat = ChatScenario(text=["Hello."], prompt_tokens=1_000, completion_tokens=200)
    fake = FakeServer(defaults={CHAT: chat_json(chat)})
    with ExitStack() as stack:
        url = stack.enter_context(fake.running_in_thread())
        alice = Node(
            "alice",
            tmp_path / "alice",
            {
                "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                **offers,
            },
        )
        bob = Node("bob", tmp_path / "bob", {"TOKLIGENCE_ROUTES": "gpt-*=>peer:alice"})
        stack.callback(stop_all, [alice, bob])
        alice.start()
        bob.env.update(pair(bob, alice, name="alice", credit=credit))
        bob.start()
        yield alice, bob, fake


def stop_all(nodes: Mapping[str, Node] | list[Node]) -> None:
    for node in nodes.values() if isinstance(nodes, Mapping) else nodes:
        node.stop()


# --------------------------------------------------------- the buyer by hand


def open_account(seller: Node, buyer: Signer) -> str:
    """An account for ``buyer`` at ``seller``, over HTTP: its API key."""
    import httpx

    from tokligence.trade.orders import AccountRequest, sign_account_request

    request = AccountRequest(buyer=buyer.public_id, seller=seller.id, issued_at=now_ms())
    answer = httpx.post(
        seller.url + "/v1/trade/accounts",
        content=sign_account_request(request, buyer).data,
        timeout=30,
    )
    assert answer.status_code == 201, answer.text
    return str(answer.json()["api_key"])


def now_ms() -> int:
    return int(time.time() * 1000)


def order_headers(
    signer: Signer,
    seller: Node,
    key: str,
    body: bytes,
    *,
    request_id: str,
    offer: str = "fast@1",
    **changes: Any,
) -> dict[str, str]:
    """The headers of a traded request, the order signed by ``signer``;
    ``changes`` alter the order (its time, its buyer, its body's hash)."""
    from tokligence.trade.documents import sha256_hex
    from tokligence.trade.orders import Order, sign_order

    fields: dict[str, Any] = {
        "buyer": signer.public_id,
        "seller": seller.id,
        "request_id": request_id,
        "offer": offer,
        "body_sha256": sha256_hex(body),
        "issued_at": now_ms(),
    }
    fields.update(changes)
    value = sign_order(Order(**fields), signer).header_value
    return {
        "authorization": f"Bearer {key}",
        "content-type": "application/json",
        "tokligence-order": value,
    }
