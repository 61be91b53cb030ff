"""Scale-out as deployed: three ``tokligence serve`` processes, each with its
own port and data directory, sharing one PostgreSQL database
(``TOKLIGENCE_DATABASE_URL``), behind a load balancer the test plays
(round-robin over the ports, skipping one that refuses connections, as
nginx's ``proxy_next_upstream error`` does). Auth is on; the upstreams are
fakes on 127.0.0.1.

What docs/scale-out.md ("Several gateways, one database") promises, checked
here: the three start together on an empty database; every request has
exactly one ledger row whichever gateway served it, tokens exact; a stored
Responses turn made on one gateway is read and continued on the others
with the official OpenAI SDK; a key's ``rpm`` holds exactly across the
three, and a key revoked through one gateway is refused by all within about
``auth_cache_ttl``; and a gateway killed (SIGKILL) in the middle of a stream
costs only its in-flight call's row, while the other two keep serving and
lose nothing.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import httpx
import openai
import pytest

from tests.e2e.test_process import clean_env, free_port
from tests.fakes.openai_chat import ChatScenario, chat_events, chat_json
from tests.fakes.sse_script import to_chunks
from tests.fakes.wire import Chunk, FakeServer, Received, Reply
from tests.pg_cluster import scratch_schema
from tests.responses_store.test_gateways import MESSAGES_PATH, answer, sent_texts
from tokligence.ledger import db as dbmod
from tokligence.ledger.models import LedgerEntry

START_WAIT = 90.0  # three interpreters importing at once on a loaded machine
ROWS_WAIT = 30.0
CHAT_PATH = "/v1/chat/completions"
CHAT_MODEL = "gpt-4o-mini"  # routed to the fake OpenAI upstream
TURN_MODEL = "claude-sonnet-4-5"  # routed to the fake Anthropic one: translated, stored
SLOW_PIECES = 12
SLOW_DELAY = 0.8  # between the pieces of a streamed answer: ~10 s in all
# The fake's token counts (ChatScenario defaults), exact in every row.
PROMPT_TOKENS, COMPLETION_TOKENS = 12, 9


def chat_reply(received: Received) -> Reply:
    """Quick JSON answers; a streamed one is slow, to be killed in the middle."""
    if not received.json.get("stream"):
        return chat_json(ChatScenario(text=["pong"]))
    pieces = [f"piece{i} " for i in range(SLOW_PIECES)]
    chunks = to_chunks(chat_events(ChatScenario(text=pieces)))
    slow = tuple(Chunk(data=c.data, delay=SLOW_DELAY if i else 0.0) for i, c in enumerate(chunks))
    return Reply(headers=(("content-type", "text/event-stream"),), chunks=slow)


class Answer(NamedTuple):
    port: int  # of the gateway that answered
    status: int
    request_id: str  # the gateway's, as its ledger row has it


class Row(NamedTuple):
    request_id: str
    status: int
    stream: bool
    input_tokens: int
    output_tokens: int


@dataclass
class Gateway:
    name: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return f"--- gateway {self.name} ---\n{self.log.read_text()[-3000:]}"


class Balancer:
    """The load balancer: round-robin over the ports; a port that refuses the
    connection (nothing was sent) passes the request to the next one."""

    def __init__(self, ports: list[int]) -> None:
        self.ports = ports
        self._turn = itertools.count()
        self._lock = threading.Lock()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        for _ in self.ports:
            with self._lock:
                port = self.ports[next(self._turn) % len(self.ports)]
            try:
                return httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=60, **kwargs)
            except httpx.ConnectError:
                continue
        raise AssertionError(f"no gateway of {self.ports} accepted the connection")

    def chat(self, key: str) -> Answer:
        body = {"model": CHAT_MODEL, "messages": [{"role": "user", "content": "ping"}]}
        headers = {"authorization": f"Bearer {key}"}
        response = self.request("POST", CHAT_PATH, json=body, headers=headers)
        return Answer(
            port=int(response.url.port or 0),
            status=response.status_code,
            request_id=response.headers["x-request-id"],
        )


@dataclass
class Deployment:
    gateways: list[Gateway]
    fake: FakeServer
    admin_key: str
    db: Any = field(repr=False)

    def balancer(self, *names: str) -> Balancer:
        chosen = [g for g in self.gateways if not names or g.name in names]
        return Balancer([g.port for g in chosen])

    def gateway(self, name: str) -> Gateway:
        return next(g for g in self.gateways if g.name == name)

    def admin(self, gateway: Gateway, method: str, path: str, **kwargs: Any) -> Any:
        response = httpx.request(
            method,
            f"{gateway.url}/api/v1/admin/{path}",
            headers={"authorization": f"Bearer {self.admin_key}"},
            timeout=30,
            **kwargs,
        )
        assert response.is_success, response.text
        return response.json()

    def new_key(self, via: Gateway, email: str, **limits: int) -> tuple[int, str]:
        """A user and a key made through ``via``'s admin API: (key id, key)."""
        user = self.admin(via, "POST", "users", json={"email": email})["user"]
        made = self.admin(via, "POST", f"users/{user['id']}/api-keys", json=limits)
        return int(made["key"]["id"]), str(made["api_key"])

    def rows(self, key_id: int) -> list[Row]:
        """The key's ledger rows."""
        with dbmod.connection(self.db):
            query = LedgerEntry.select().where(LedgerEntry.api_key_id == key_id)
            return [
                Row(e.request_id, e.status, e.stream, e.input_tokens, e.output_tokens)
                for e in query.execute(self.db)
            ]

    def rows_once_settled(self, key_id: int, expected: int) -> list[Row]:
        """The key's rows once ``expected`` are there (the writers commit in
        batches, off the request path), and a little longer, so that a row
        written twice would be seen too."""
        deadline = time.monotonic() + ROWS_WAIT
        while len(self.rows(key_id)) < expected and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)  # ten flush intervals: any extra row would be in
        return self.rows(key_id)


def healthy(gateway: Gateway) -> bool:
    try:
        with urllib.request.urlopen(gateway.url + "/health", timeout=2) as response:
            return bool(json.loads(response.read())["status"] == "ok")
    except OSError:
        return False


def wait_healthy(gateways: list[Gateway]) -> None:
    deadline = time.monotonic() + START_WAIT
    for gateway in gateways:
        while not healthy(gateway):
            code = gateway.process.poll()
            assert code is None, f"exited with {code}\n{gateway.output()}"
            assert time.monotonic() < deadline, f"never healthy\n{gateway.output()}"
            time.sleep(0.05)


def deploy(tmp: Path, database_url: str) -> Iterator[Deployment]:
    """Three gateways started at the same moment on one empty database."""
    fake = FakeServer()
    fake.set_default(CHAT_PATH, chat_reply)
    fake.set_default(MESSAGES_PATH, answer)
    with fake.running_in_thread() as upstream:
        shared = {
            "TOKLIGENCE_DATABASE_URL": database_url,
            "TOKLIGENCE_AUTH_DISABLED": "false",
            "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
            "TOKLIGENCE_OPENAI_BASE_URL": upstream + "/v1",
            "TOKLIGENCE_ANTHROPIC_API_KEY": "upstream-key",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": upstream,
        }
        gateways: list[Gateway] = []
        try:
            for name in "ABC":
                home = tmp / name
                home.mkdir()
                port = free_port()
                log = home / "gateway.log"
                with log.open("wb") as out:
                    process = subprocess.Popen(
                        [
                            sys.executable, "-m", "tokligence", "serve",
                            "--port", str(port), "--data-dir", str(home / "data"),
                        ],
                        cwd=home,
                        env=clean_env(home) | shared,
                        stdout=out,
                        stderr=subprocess.STDOUT,
                    )  # fmt: skip
                gateways.append(Gateway(name=name, port=port, process=process, log=log))
            wait_healthy(gateways)
            # The first admin key, made as docs/admin-api.md says: with the
            # CLI, on the same database, while the gateways run.
            made = subprocess.run(
                [
                    sys.executable, "-m", "tokligence", "keys", "create", "admin@local",
                    "--scopes", "model,admin", "--name", "ops",
                ],
                cwd=tmp,
                env=clean_env(tmp) | shared,
                capture_output=True,
                text=True,
                timeout=120,
            )  # fmt: skip
            assert made.returncode == 0, made.stderr
            db = dbmod.open_database(database_url)
            try:
                yield Deployment(
                    gateways=gateways,
                    fake=fake,
                    admin_key=made.stdout.strip(),
                    db=db,
                )
            finally:
                dbmod.close_database(db)
        finally:
            for gateway in gateways:
                if gateway.process.poll() is None:
                    gateway.process.send_signal(signal.SIGTERM)
            for gateway in gateways:
                try:
                    gateway.process.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    gateway.process.kill()
                    gateway.process.wait()


@pytest.fixture(scope="module")
def three(tmp_path_factory: pytest.TempPathFactory, postgres_url: str) -> Iterator[Deployment]:
    with scratch_schema(postgres_url) as url:
        yield from deploy(tmp_path_factory.mktemp("scale-out"), url)


@pytest.fixture
def three_to_kill(tmp_path: Path, postgres_url: str) -> Iterator[Deployment]:
    with scratch_schema(postgres_url) as url:
        yield from deploy(tmp_path, url)


def test_they_start_together_and_make_one_root_admin(three: Deployment) -> None:
    for gateway in three.gateways:
        users = three.admin(gateway, "GET", "users")["users"]
        assert [(u["email"], u["role"]) for u in users if u["role"] == "root_admin"] == [
            ("admin@local", "root_admin")
        ], gateway.output()


def test_every_request_has_exactly_one_row_whichever_gateway_served_it(
    three: Deployment,
) -> None:
    key_id, key = three.new_key(three.gateway("A"), "ledger@example.com")
    balancer = three.balancer()
    total, threads = 90, 6
    answers: list[Answer] = []

    def client() -> None:
        answers.extend(balancer.chat(key) for _ in range(total // threads))

    workers = [threading.Thread(target=client) for _ in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(120)
    assert [a.status for a in answers] == [200] * total
    served = Counter(a.port for a in answers)
    assert served == {g.port: total // 3 for g in three.gateways}  # round-robin
    rows = three.rows_once_settled(key_id, total)
    # One row per answer, by the gateway's request id: none lost, none twice.
    assert sorted(r.request_id for r in rows) == sorted(a.request_id for a in answers)
    assert {(r.status, r.stream) for r in rows} == {(200, False)}
    assert sum(r.input_tokens for r in rows) == PROMPT_TOKENS * total
    assert sum(r.output_tokens for r in rows) == COMPLETION_TOKENS * total


def test_a_stored_turn_is_read_and_continued_on_any_gateway(three: Deployment) -> None:
    _, key = three.new_key(three.gateway("B"), "turns@example.com")
    a, b, c = (
        openai.OpenAI(base_url=g.url + "/v1", api_key=key, max_retries=0) for g in three.gateways
    )
    first = a.responses.create(model=TURN_MODEL, input="first", store=True)
    assert first.output_text == "re: first"
    assert b.responses.retrieve(first.id).output_text == "re: first"
    assert c.responses.retrieve(first.id).output_text == "re: first"
    second = b.responses.create(model=TURN_MODEL, input="second", previous_response_id=first.id)
    # A streamed turn on C, continuing B's: readable on A once completed.
    third_id = ""
    with c.responses.stream(
        model=TURN_MODEL, input="third", previous_response_id=second.id
    ) as stream:
        for event in stream:
            if event.type == "response.completed":
                third_id = event.response.id
                assert a.responses.retrieve(third_id).output_text == "re: third"
    assert third_id
    fourth = a.responses.create(model=TURN_MODEL, input="fourth", previous_response_id=third_id)
    assert fourth.output_text == "re: fourth"
    # Each gateway sent the whole conversation, read from the shared store.
    assert sent_texts(three.fake)[-1] == [
        "user:first",
        "assistant:re: first",
        "user:second",
        "assistant:re: second",
        "user:third",
        "assistant:re: third",
        "user:fourth",
    ]
    for client in (a, b, c):
        assert client.responses.retrieve(fourth.id).previous_response_id == third_id


def test_rpm_is_exact_across_the_three(three: Deployment) -> None:
    rpm = 10
    key_id, key = three.new_key(three.gateway("C"), "limited@example.com", rpm=rpm)
    balancer = three.balancer()
    answers: list[Answer] = []
    barrier = threading.Barrier(3 * rpm)

    def one() -> None:
        barrier.wait()
        answers.append(balancer.chat(key))

    threads = [threading.Thread(target=one) for _ in range(3 * rpm)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert sorted(a.status for a in answers) == [200] * rpm + [429] * (2 * rpm)
    assert Counter(a.port for a in answers) == {g.port: rpm for g in three.gateways}
    # A refusal has its row too: every one of the burst, each counted once.
    rows = three.rows_once_settled(key_id, 3 * rpm)
    assert sorted((r.request_id, r.status) for r in rows) == sorted(
        (a.request_id, a.status) for a in answers
    )


def test_a_key_revoked_on_one_gateway_is_refused_by_all(three: Deployment) -> None:
    a, b, c = three.gateways
    key_id, key = three.new_key(a, "revoked@example.com")
    headers = {"authorization": f"Bearer {key}"}

    def status(gateway: Gateway) -> int:
        return httpx.get(gateway.url + "/v1/models", headers=headers, timeout=30).status_code

    assert [status(g) for g in three.gateways] == [200, 200, 200]  # cached as valid everywhere
    three.admin(a, "DELETE", f"api-keys/{key_id}")
    revoked = time.monotonic()
    assert status(a) == 401  # the gateway that revoked it: at once
    for gateway in (b, c):
        while status(gateway) != 401:
            assert time.monotonic() - revoked < 5.0, f"{gateway.name} still accepts the key"
            time.sleep(0.05)
    # Within auth_cache_ttl (1 s) and the time of a request or two.
    assert time.monotonic() - revoked < 3.0
    assert [status(g) for g in three.gateways * 3] == [401] * 9  # and for good


def test_a_gateway_killed_mid_stream_costs_only_its_in_flight_row(
    three_to_kill: Deployment,
) -> None:
    deployment = three_to_kill
    a, b, victim = deployment.gateways
    key_id, key = deployment.new_key(a, "kill@example.com")
    headers = {"authorization": f"Bearer {key}"}
    # Answers the victim gave well before it dies are in the ledger.
    only_victim = deployment.balancer("C")
    before = [only_victim.chat(key) for _ in range(6)]
    assert [a.status for a in before] == [200] * 6

    started, killed = threading.Event(), threading.Event()
    streamed: list[str] = []
    stream_ids: list[str] = []
    cut: list[BaseException] = []

    def stream() -> None:
        body = {"model": CHAT_MODEL, "stream": True, "messages": [{"role": "user", "content": "x"}]}
        try:
            with httpx.stream(
                "POST", victim.url + CHAT_PATH, json=body, headers=headers, timeout=60
            ) as response:
                stream_ids.append(response.headers["x-request-id"])
                for line in response.iter_lines():
                    streamed.append(line)
                    if sum("piece" in seen for seen in streamed) >= 2:
                        started.set()
        except httpx.HTTPError as error:
            cut.append(error)
        finally:
            started.set()

    survivors = deployment.balancer("A", "B")
    load: list[Answer] = []

    def keep_serving() -> None:
        # Before, during and after the kill: ten more once it happened.
        after = 0
        while after < 10:
            after += killed.is_set()
            load.append(survivors.chat(key))

    streamer = threading.Thread(target=stream)
    streamer.start()
    assert started.wait(60) and not cut, (streamed, cut)
    clients = [threading.Thread(target=keep_serving) for _ in range(2)]
    for client in clients:
        client.start()
    time.sleep(0.3)  # the load is running on A and B
    victim.process.send_signal(signal.SIGKILL)
    victim.process.wait(30)
    killed.set()
    streamer.join(60)
    for client in clients:
        client.join(120)
    assert not streamer.is_alive() and cut, streamed  # the stream was cut ...
    assert not any("[DONE]" in line for line in streamed)  # ... before its end
    assert [x.status for x in load] == [200] * len(load) and len(load) >= 20
    # The balancer passes over the dead gateway: nothing refused.
    everyone = deployment.balancer()
    after = [everyone.chat(key) for _ in range(9)]
    assert [x.status for x in after] == [200] * 9
    assert {x.port for x in after} == {a.port, b.port}
    assert healthy(a) and healthy(b) and not healthy(victim)

    answered = before + load + after
    rows = deployment.rows_once_settled(key_id, len(answered))
    # Exactly the answered calls: the survivors lost nothing, the victim kept
    # what it answered before; its in-flight stream has no row.
    assert sorted(r.request_id for r in rows) == sorted(x.request_id for x in answered)
    assert stream_ids and stream_ids[0] not in {r.request_id for r in rows}
    assert {(r.status, r.stream) for r in rows} == {(200, False)}
    assert sum(r.input_tokens for r in rows) == PROMPT_TOKENS * len(answered)
