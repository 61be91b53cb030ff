"""The provider audit end to end: requests through a gateway to fake
upstreams, then ``tokligence audit`` and the admin API read the ledger.

An upstream that reports three times the tokens it relayed is flagged by
the billing audit, naming its requests, while an honest one (reporting
what a real tokenizer gives: fewer tokens than the gateway's deliberately
high estimate) is not. An upstream whose first byte slows down is flagged
by the health audit against a baseline of earlier rows put in the ledger,
while one that kept its pace is not."""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Iterator, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_json, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream
from tests.fakes.wire import FakeServer, by_stream
from tests.gateway_thread import GatewayThread, isolated_config
from tests.ledger.rows import make_row
from tokligence.canonical.tokens import text_tokens
from tokligence.cli import main
from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import migrate
from tokligence.ledger.models import ENTRY_COLUMNS, LedgerEntry, entry_values
from tokligence.ledger.row import LedgerRow

CHAT_PATH = "/v1/chat/completions"
MESSAGES_PATH = "/v1/messages"
ADMIN = "/api/v1/admin/audit/"
PROMPT = (
    "Please review the function below and explain why the retry loop never stops when the "
    "upstream keeps answering with a 529 status; suggest a fix that keeps the backoff."
)
ANSWER = [
    "The loop only checks the attempt counter after a successful read, so an error ",
    "status skips the check. Move the increment before the request and compare it ",
    "against max_retries at the top of each iteration; keep the jittered backoff as it is.",
]
# What an honest upstream reports: a real tokenizer gives about 0.85 of the
# gateway's estimate on English prose (docs/audit.md).
HONEST_INPUT = round(text_tokens(PROMPT) * 0.85)
HONEST_OUTPUT = round(text_tokens("".join(ANSWER)) * 0.85)


def chat_replies(scenario: ChatScenario, head_delay: float = 0.0) -> Any:
    stream = dataclasses.replace(chat_stream(scenario), head_delay=head_delay)
    return by_stream(stream, chat_json(scenario))


def messages_replies(scenario: MessagesScenario) -> Any:
    return by_stream(messages_stream(scenario), messages_json(scenario))


@dataclasses.dataclass
class Gateway:
    thread: GatewayThread
    data_dir: Path

    def post(self, model: str, *, stream: bool, path: str = CHAT_PATH) -> httpx.Response:
        body: dict[str, Any] = {
            "model": model,
            "stream": stream,
            "messages": [{"role": "user", "content": PROMPT}],
        }
        headers = {}
        if path == MESSAGES_PATH:
            body["max_tokens"] = 256
            headers = {"anthropic-version": "2023-06-01"}
        response = httpx.post(self.thread.url() + path, json=body, headers=headers, timeout=30)
        assert response.status_code == 200, response.text
        return response

    def admin(self, what: str, query: str) -> Any:
        response = httpx.get(f"{self.thread.url()}{ADMIN}{what}?{query}", timeout=30)
        assert response.status_code == 200, response.text
        return response.json()

    def wait_for_rows(self, count: int) -> list[dict[str, Any]]:
        deadline = time.monotonic() + 20
        while True:
            response = httpx.get(
                self.thread.url() + "/api/v1/admin/usage/recent?limit=1000", timeout=30
            )
            entries: list[dict[str, Any]] = response.json()["entries"]
            if len(entries) >= count or time.monotonic() > deadline:
                return entries
            time.sleep(0.05)


def cli(
    capsys: pytest.CaptureFixture[str], data_dir: Path, *argv: str, code: int
) -> dict[str, Any]:
    capsys.readouterr()
    status = main([*argv, "--json", "--data-dir", str(data_dir)])
    out, err = capsys.readouterr()
    assert status == code, (argv, status, out, err)
    result: dict[str, Any] = json.loads(out)
    return result


@pytest.fixture
def gateway_with(tmp_path: Path) -> Iterator[Any]:
    """Start a gateway beside an OpenAI and an Anthropic fake, with
    ``rows`` in its ledger first."""
    started: list[Any] = []

    def start(openai: FakeServer, anthropic: FakeServer, rows: Sequence[LedgerRow] = ()) -> Gateway:
        openai_url = started_fake(openai)
        anthropic_url = started_fake(anthropic)
        config = isolated_config(
            tmp_path,
            env={
                "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
                "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
                "TOKLIGENCE_ANTHROPIC_API_KEY": "sk-ant-test",
                "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
            },
        )
        store(config.ledger_file(), rows)
        thread = GatewayThread(config)
        thread.__enter__()
        started.append(thread)
        return Gateway(thread=thread, data_dir=tmp_path / "data")

    def started_fake(fake: FakeServer) -> str:
        context = fake.running_in_thread()
        url = context.__enter__()
        started.append(context)
        return url

    yield start
    for item in reversed(started):
        item.__exit__(None, None, None)


def store(ledger_file: Path, rows: Sequence[LedgerRow]) -> None:
    db = dbmod.open_database(dbmod.sqlite_url(ledger_file))
    try:
        migrate(db, "ledger")
        if rows:
            values = [entry_values(row, None) for row in rows]
            with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
                dbmod.insert_rows(db, LedgerEntry._meta.table_name, ENTRY_COLUMNS, values)
    finally:
        dbmod.close_database(db)


def test_an_upstream_that_over_reports_is_flagged(
    gateway_with: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    greedy, honest = FakeServer(), FakeServer()
    greedy.set_default(
        CHAT_PATH,
        chat_replies(
            ChatScenario(
                text=ANSWER,
                prompt_tokens=3 * HONEST_INPUT,
                completion_tokens=3 * HONEST_OUTPUT,
            )
        ),
    )
    honest.set_default(
        MESSAGES_PATH,
        messages_replies(
            MessagesScenario(
                blocks=[TextBlock(pieces=ANSWER)],
                input_tokens=HONEST_INPUT,
                output_tokens=HONEST_OUTPUT,
            )
        ),
    )
    gateway = gateway_with(greedy, honest)
    for stream in (False, True, True):
        gateway.post("gpt-4o-mini", stream=stream)  # passthrough
        gateway.post("claude-sonnet-4-5", stream=stream, path=MESSAGES_PATH)  # passthrough
    gateway.post("claude-sonnet-4-5", stream=True)  # chat -> messages: translation
    entries = gateway.wait_for_rows(7)
    assert all(entry["counted_output_tokens"] for entry in entries), entries

    audit = cli(capsys, gateway.data_dir, "audit", "billing", code=1)
    by_provider = {entry["provider"]: entry for entry in audit["entries"]}
    flagged = by_provider["openai"]
    assert flagged["model"] == "gpt-4o-mini" and flagged["flagged"]
    assert flagged["output_drift"] > 1.0 and flagged["input_drift"] > 1.0
    greedy_ids = {e["request_id"] for e in entries if e["provider"] == "openai"}
    assert {r["request_id"] for r in flagged["requests_behind"]} == greedy_ids
    fair = by_provider["anthropic"]
    assert fair["requests"] == 4 and not fair["flagged"] and fair["requests_behind"] == []
    assert -0.35 < fair["input_drift"] < 0 and -0.35 < fair["output_drift"] < 0

    # /metrics is fed the same rows: its totals are the audit's.
    scraped = httpx.get(gateway.thread.url() + "/metrics", timeout=30).text
    audited = {
        (sample.labels["provider"], sample.labels["kind"], sample.labels["source"]): sample.value
        for family in text_string_to_metric_families(scraped)
        for sample in family.samples
        if sample.name == "tokligence_audited_tokens_total"
    }
    for entry in audit["entries"]:
        for kind in ("input", "output"):
            for source in ("reported", "counted"):
                key = (entry["provider"], kind, source)
                assert audited[key] == entry[f"{source}_{kind}_tokens"], key

    # The admin API answers the same; an audit of the honest one alone is clean.
    assert gateway.admin("billing", "") == audit
    clean = cli(capsys, gateway.data_dir, "audit", "billing", "--provider", "anthropic", code=0)
    assert [entry["provider"] for entry in clean["entries"]] == ["anthropic"]


def test_an_upstream_that_slows_down_is_flagged(
    gateway_with: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    now = datetime.now(timezone.utc)

    def earlier(provider: str, model: str, index: int) -> LedgerRow:
        # Its own past: a day of quick streams, 40 ms to the first byte.
        return make_row(
            request_id=f"{provider}-{index}",
            created_at=now - timedelta(hours=2, minutes=index * 30),
            provider=provider,
            requested_model=model,
            upstream_model=model,
            stream=True,
            ttfb_ms=40.0,
            latency_ms=90.0,
            output_tokens=20,
        )

    baseline = [earlier("openai", "gpt-4o-mini", i) for i in range(40)]
    baseline += [earlier("anthropic", "claude-sonnet-4-5", i) for i in range(40)]
    slow, steady = FakeServer(), FakeServer()
    slow.set_default(CHAT_PATH, chat_replies(ChatScenario(text=ANSWER), head_delay=0.3))
    steady.set_default(
        MESSAGES_PATH, messages_replies(MessagesScenario(blocks=[TextBlock(pieces=ANSWER)]))
    )
    gateway = gateway_with(slow, steady, baseline)
    for _ in range(5):
        gateway.post("gpt-4o-mini", stream=True)
        gateway.post("claude-sonnet-4-5", stream=True, path=MESSAGES_PATH)
    gateway.wait_for_rows(90)

    until = (now + timedelta(minutes=5)).replace(microsecond=0)
    options = ["--until", until.isoformat(), "--min-requests", "5"]
    audit = cli(capsys, gateway.data_dir, "audit", "health", *options, code=1)
    by_provider = {entry["provider"]: entry for entry in audit["entries"]}
    slowed = by_provider["openai"]
    assert "ttfb_ms" in slowed["flags"]
    assert slowed["window"]["requests"] == 5 and slowed["window"]["ttfb_ms"] >= 300
    assert slowed["baseline"]["requests"] == 40 and slowed["baseline"]["ttfb_ms"] == 40
    assert sum(bucket["requests"] for bucket in slowed["buckets"]) == 45
    assert by_provider["anthropic"]["flags"] == []
    assert by_provider["anthropic"]["window"]["requests"] == 5

    query = f"until={until.isoformat().replace('+00:00', 'Z')}&min_requests=5"
    assert gateway.admin("health", query) == audit
    # Below the minimum count, nothing is flagged.
    cli(capsys, gateway.data_dir, "audit", "health", "--until", until.isoformat(), code=0)
