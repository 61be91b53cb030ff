"""Auth through the running gateway: every route x no key / wrong key /
revoked / expired / insufficient role or scope, each refusal in the
client's own error envelope; plus per-key limits tripping exactly."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry
from tokligence.limits import KeyLimits

CHAT = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "loopback", "max_tokens": 8, "messages": [{"role": "user", "content": "hi"}]}
COUNT = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
RESPONSES = {"model": "loopback", "input": "hi"}
EMBED = {"model": "loopback", "input": "hi"}


@dataclass(frozen=True)
class Route:
    method: str
    path: str
    body: dict[str, Any] | None
    envelope: str  # "openai" | "anthropic"
    admin: bool = False


ROUTES = [
    Route("POST", "/v1/chat/completions", CHAT, "openai"),
    Route("POST", "/v1/responses", RESPONSES, "openai"),
    Route("POST", "/v1/messages", MESSAGES, "anthropic"),
    Route("POST", "/anthropic/v1/messages", MESSAGES, "anthropic"),
    Route("POST", "/v1/messages/count_tokens", COUNT, "anthropic"),
    Route("POST", "/v1/embeddings", EMBED, "openai"),
    Route("GET", "/v1/models", None, "openai"),
    Route("GET", "/api/v1/admin/users", None, "openai", admin=True),
]


@dataclass
class Keys:
    admin: str
    user: str
    revoked: str
    expired: str
    admin_scope_only: str
    limited: str


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[GatewayThread, Keys]]:
    tmp: Path = tmp_path_factory.mktemp("auth")
    config = isolated_config(tmp, env={"TOKLIGENCE_AUTH_DISABLED": "false"})
    db = open_database(sqlite_url(config.identity_file()))
    try:
        migrate_identity(db)
        root = store.create_user(db, email="root@example.com", role="root_admin")
        user = store.create_user(db, email="user@example.com")
        issue = store.issue_key
        keys = Keys(
            admin=issue(db, root.id, scopes="model,admin")[1],
            user=issue(db, user.id)[1],
            revoked=issue(db, user.id)[1],
            expired=issue(db, user.id, expires_at=datetime.now(timezone.utc) - timedelta(1))[1],
            admin_scope_only=issue(db, root.id, scopes="admin")[1],
            limited=issue(db, user.id, limits=KeyLimits(rpm=3))[1],
        )
        revoked = store.lookup_key(db, keys.revoked)
        assert revoked is not None
        store.revoke_key(db, revoked.id)
    finally:
        close_database(db)
    with GatewayThread(config) as running:
        yield running, keys


def call(gateway: GatewayThread, route: Route, headers: dict[str, str]) -> tuple[int, Any]:
    data = json.dumps(route.body).encode() if route.body is not None else None
    request = urllib.request.Request(
        gateway.url() + route.path,
        data=data,
        method=route.method,
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01", **headers},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def assert_envelope(route: Route, body: Any, kind: str) -> None:
    if route.envelope == "anthropic":
        assert body["type"] == "error" and body["error"]["type"] == kind
    else:
        assert set(body["error"]) >= {"message", "type", "param", "code"}


CASES = [
    ("no key", lambda k: {}, 401, 401),
    ("wrong key", lambda k: {"authorization": "Bearer tok_" + "x" * 43}, 401, 401),
    ("revoked", lambda k: {"x-api-key": k.revoked}, 401, 401),
    ("expired", lambda k: {"authorization": f"Bearer {k.expired}"}, 401, 401),
    # A user key works on model routes; the admin API needs an admin role.
    ("user key", lambda k: {"authorization": f"Bearer {k.user}"}, 200, 403),
    # An admin key without the model scope may administer, not call models.
    ("admin-scope-only key", lambda k: {"x-api-key": k.admin_scope_only}, 403, 200),
    ("admin key", lambda k: {"x-api-key": k.admin}, 200, 200),
]


@pytest.mark.parametrize("route", ROUTES, ids=lambda r: r.path)
@pytest.mark.parametrize(
    ("case", "headers", "model_status", "admin_status"), CASES, ids=[c[0] for c in CASES]
)
def test_auth_matrix(
    gateway: tuple[GatewayThread, Keys],
    route: Route,
    case: str,
    headers: Any,
    model_status: int,
    admin_status: int,
) -> None:
    running, keys = gateway
    expected = admin_status if route.admin else model_status
    status, body = call(running, route, headers(keys))
    assert status == expected, body
    if status == 401:
        assert_envelope(route, body, "authentication_error")
        assert keys.user not in json.dumps(body)  # never echoes a key
    elif status == 403:
        assert_envelope(route, body, "permission_error")


def test_health_stays_open(gateway: tuple[GatewayThread, Keys]) -> None:
    running, _ = gateway
    with urllib.request.urlopen(running.url() + "/health", timeout=5) as response:
        assert response.status == 200


def test_requests_per_minute_limit_trips_exactly_at_its_threshold(
    gateway: tuple[GatewayThread, Keys],
) -> None:
    running, keys = gateway
    route = ROUTES[0]
    statuses = [
        call(running, route, {"authorization": f"Bearer {keys.limited}"})[0] for _ in range(4)
    ]
    assert statuses == [200, 200, 200, 429]
    request = urllib.request.Request(
        running.url() + route.path,
        data=json.dumps(CHAT).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {keys.limited}"},
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 429
    assert int(caught.value.headers["retry-after"]) in range(1, 61)
    body = json.loads(caught.value.read())
    assert "requests per minute" in body["error"]["message"]


def refusal_row(running: GatewayThread, key: str, body: dict[str, Any]) -> Any:
    """Send a chat request with ``key``; the refusal's status and ledger row."""
    request_id = f"req_audit_{abs(hash((key, json.dumps(body)))):x}"
    request = urllib.request.Request(
        running.url() + "/v1/chat/completions",
        data=json.dumps(body).encode(),
        headers={
            "content-type": "application/json",
            "authorization": f"Bearer {key}",
            "x-request-id": request_id,
        },
    )
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    db = open_database(sqlite_url(running.config.ledger_file()))
    try:
        for _ in range(200):
            with db.connection_context():
                entry = LedgerEntry.select().where(LedgerEntry.request_id == request_id).first(db)
            if entry is not None:
                return caught.value.code, entry
            time.sleep(0.02)
    finally:
        close_database(db)
    raise AssertionError(f"no ledger row for {request_id}")


def test_refusals_are_audited_with_user_key_and_model(
    gateway: tuple[GatewayThread, Keys],
) -> None:
    running, keys = gateway
    ask = {**CHAT, "model": "audited-model"}
    for _ in range(4):  # spend the limited key's three requests a minute
        call(running, ROUTES[0], {"authorization": f"Bearer {keys.limited}"})
    status, row = refusal_row(running, keys.limited, ask)
    assert status == 429
    limited = store_key(running, keys.limited)
    assert (row.user_id, row.api_key_id, row.requested_model) == (
        limited.user.id,
        limited.id,
        "audited-model",
    )
    assert row.error_kind == "rate_limit"
    status, row = refusal_row(running, keys.expired, ask)  # a known key, refused
    expired = store_key(running, keys.expired)
    assert status == 401
    assert (row.user_id, row.api_key_id, row.requested_model) == (
        expired.user.id,
        expired.id,
        "audited-model",
    )
    status, row = refusal_row(running, "tok_" + "x" * 40, ask)  # nobody's key
    assert status == 401
    assert (row.user_id, row.api_key_id, row.requested_model) == (None, None, "audited-model")


def store_key(running: GatewayThread, key: str) -> Any:
    db = open_database(sqlite_url(running.config.identity_file()))
    try:
        found = store.lookup_key(db, key)
        assert found is not None
        return found
    finally:
        close_database(db)
