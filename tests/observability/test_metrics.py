"""``GET /metrics`` scraped with Prometheus's own text parser after a known
workload: every number checked, label cardinality bounded, admin auth."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream, openai_error
from tests.fakes.wire import FakeServer, by_stream
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.limits import KeyLimits
from tokligence.metrics import MAX_MODELS

CHAT_PATH = "/v1/chat/completions"
Samples = dict[str, list[tuple[dict[str, str], float]]]


@dataclass
class Setup:
    gateway: GatewayThread
    fake: FakeServer
    admin: str  # a key of scope admin
    user: str  # a key of scope model
    limited: str  # a key with rpm=2

    def post(self, body: dict[str, object], key: str | None = None) -> httpx.Response:
        return httpx.post(
            self.gateway.url() + CHAT_PATH,
            json=body,
            headers={"authorization": f"Bearer {key or self.user}"},
            timeout=30,
        )

    def scrape(self) -> Samples:
        response = httpx.get(
            self.gateway.url() + "/metrics", headers={"authorization": f"Bearer {self.admin}"}
        )
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
        samples: Samples = {}
        for family in text_string_to_metric_families(response.text):
            for sample in family.samples:
                samples.setdefault(sample.name, []).append((sample.labels, sample.value))
        return samples


def value(
    samples: dict[str, list[tuple[dict[str, str], float]]], name: str, **labels: str
) -> float:
    return sum(v for found, v in samples.get(name, []) if labels.items() <= found.items())


@pytest.fixture
def setup(tmp_path: Path) -> Iterator[Setup]:
    fake = FakeServer()
    scenario = ChatScenario(text=["hello"], prompt_tokens=12, completion_tokens=9)
    fake.set_default(CHAT_PATH, by_stream(chat_stream(scenario), chat_json(scenario)))
    with fake.running_in_thread() as url:
        config = isolated_config(
            tmp_path,
            env={
                "TOKLIGENCE_AUTH_DISABLED": "false",
                "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                "TOKLIGENCE_UPSTREAM_RETRY_BACKOFF": "0.01",
            },
        )
        db = open_database(sqlite_url(config.identity_file()))
        try:
            migrate_identity(db)
            root = store.create_user(db, email="root@example.com", role="root_admin")
            user = store.create_user(db, email="user@example.com")
            admin = store.issue_key(db, root.id, scopes="model,admin")[1]
            plain = store.issue_key(db, user.id)[1]
            limited = store.issue_key(db, user.id, limits=KeyLimits(rpm=2))[1]
        finally:
            close_database(db)
        with GatewayThread(config) as running:
            yield Setup(gateway=running, fake=fake, admin=admin, user=plain, limited=limited)


def test_metrics_count_a_known_workload(setup: Setup) -> None:
    loopback = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
    gpt = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]}
    for _ in range(3):
        assert setup.post(loopback).status_code == 200
    for _ in range(2):
        assert setup.post(gpt).status_code == 200
    assert setup.post(gpt | {"stream": True}).status_code == 200
    # One failed attempt, then a retry that succeeds.
    setup.fake.enqueue(CHAT_PATH, openai_error(500, "server_error", "boom"))
    assert setup.post(gpt).status_code == 200
    assert setup.post({"model": "nope", "messages": []}).status_code == 404
    assert [setup.post(loopback, setup.limited).status_code for _ in range(3)] == [200, 200, 429]
    assert httpx.post(setup.gateway.url() + CHAT_PATH, json=loopback).status_code == 401

    samples = setup.scrape()
    requests = "tokligence_requests_total"
    assert value(samples, requests, model="loopback", status_class="2xx") == 5
    assert value(samples, requests, model="loopback", status_class="4xx") == 2  # 429 and 401
    assert value(samples, requests, provider="openai", mode="passthrough", status_class="2xx") == 4
    assert value(samples, requests, model="nope", status_class="4xx") == 1
    assert value(samples, requests) == 12
    assert value(samples, requests, dialect="openai_chat") == 12
    # Tokens and cost as the upstream reported them (4 answers of 12 in, 9 out).
    tokens = "tokligence_tokens_total"
    assert value(samples, tokens, provider="openai", kind="input") == 4 * 12
    assert value(samples, tokens, provider="openai", kind="output") == 4 * 9
    assert value(samples, "tokligence_cost_usd_total", provider="openai") > 0
    # Attempts: 4 answered, 1 failed and retried once.
    attempts = "tokligence_upstream_attempts_total"
    assert value(samples, attempts, provider="openai", outcome="ok") == 4
    assert value(samples, attempts, provider="openai", outcome="failed") == 1
    assert value(samples, "tokligence_upstream_retries_total", provider="openai") == 1
    # Refusals by what refused them.
    refusals = "tokligence_refusals_total"
    assert value(samples, refusals, reason="rate_limit_exceeded") == 1
    assert value(samples, refusals, reason="authentication") == 1
    # Histograms: one observation per request, the gateway's own time small.
    assert value(samples, "tokligence_request_duration_seconds_count") == 12
    assert value(samples, "tokligence_upstream_first_byte_seconds_count", provider="openai") == 4
    assert value(samples, "tokligence_gateway_added_seconds_count") == 12
    assert value(samples, "tokligence_gateway_added_seconds_bucket", le="+Inf") == 12
    # Read at scrape time.
    assert value(samples, "tokligence_streams_in_flight") == 0
    breaker = "tokligence_upstream_breaker_state"
    assert value(samples, breaker, provider="openai", state="closed") == 1
    assert value(samples, breaker, provider="openai", state="open") == 0
    assert value(samples, "tokligence_ledger_write_errors_total") == 0
    assert "tokligence_ledger_queue_depth" in samples
    # Nothing identifies a key or a request.
    text = httpx.get(
        setup.gateway.url() + "/metrics", headers={"authorization": f"Bearer {setup.admin}"}
    ).text
    for secret in (setup.admin, setup.user, setup.limited, setup.admin[:12]):
        assert secret not in text
    assert "req_" not in text


def test_model_labels_are_bounded(setup: Setup) -> None:
    for i in range(MAX_MODELS + 50):
        setup.post({"model": f"made-up-{i}", "messages": []})
    samples = setup.scrape()
    models = {labels["model"] for labels, _ in samples["tokligence_requests_total"]}
    assert len(models) == MAX_MODELS + 1 and "other" in models
    assert value(samples, "tokligence_requests_total", model="other") == 50


def test_metrics_need_an_admin_key_when_auth_is_on(setup: Setup) -> None:
    url = setup.gateway.url() + "/metrics"
    assert httpx.get(url).status_code == 401
    assert httpx.get(url, headers={"authorization": f"Bearer {setup.user}"}).status_code == 403
    assert httpx.get(url, headers={"authorization": f"Bearer {setup.admin}"}).status_code == 200


def test_metrics_can_be_turned_off(tmp_path: Path) -> None:
    config = isolated_config(tmp_path, env={"TOKLIGENCE_METRICS_ENABLED": "false"})
    with GatewayThread(config) as running:
        assert httpx.get(running.url() + "/metrics").status_code == 404
