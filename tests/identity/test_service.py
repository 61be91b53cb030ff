"""The identity service on both back-ends: each change fires its hook event
(through a real script), invalidates the cache at once, and respects roles."""

from __future__ import annotations

import functools
import json
import sys
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee
import pytest

from tokligence.auth import authorize
from tokligence.errors import GatewayError
from tokligence.identity import store
from tokligence.identity.cache import KeyCache
from tokligence.identity.hooks import HookRunner
from tokligence.identity.keys import hash_key
from tokligence.identity.limit_store import DatabaseLimitStore
from tokligence.identity.service import IdentityService
from tokligence.limits import KeyLimiter, KeyLimits

from .fakes import FakeClock

RECORDER = """
import sys
with open(sys.argv[1], "a", encoding="utf-8") as f:
    f.write(sys.stdin.read())
"""


@pytest.fixture
def events_file(tmp_path: Path) -> Path:
    return tmp_path / "events.jsonl"


@pytest.fixture
def cache(identity_db: peewee.Database) -> KeyCache:
    return KeyCache(functools.partial(store.lookup_hash, identity_db), ttl=60, clock=FakeClock())


@pytest.fixture
def service(
    identity_db: peewee.Database, tmp_path: Path, events_file: Path, cache: KeyCache
) -> IdentityService:
    script = tmp_path / "record.py"
    script.write_text(RECORDER)
    hooks = HookRunner(Path(sys.executable), args=(str(script), str(events_file)))
    return IdentityService(identity_db, hooks=hooks, cache=cache)


def events(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines()]


async def test_every_change_fires_its_event_in_order(
    service: IdentityService, events_file: Path
) -> None:
    root = await service.ensure_root_admin("admin@local")
    await service.ensure_root_admin("admin@local")  # exists: no second event
    ada = await service.create_user(email="ada@example.com", display_name="Ada")
    key, plaintext = await service.issue_key(ada.id, name="laptop")
    await service.update_user(ada.id, role="gateway_admin")
    await service.update_user(ada.id, role="gateway_admin")  # nothing changes: no event
    await service.revoke_key(key.id)
    await service.revoke_key(key.id)  # already revoked: no second event
    await service.import_users(
        [{"email": "ada@example.com", "display_name": "Ada L."}, {"email": "bo@example.com"}]
    )
    await service.delete_user(ada.id)
    seen = events(events_file)
    assert [(e["event"], e["user"]["email"]) for e in seen] == [
        ("user.created", root.email),
        ("user.created", "ada@example.com"),
        ("key.issued", "ada@example.com"),
        ("user.updated", "ada@example.com"),
        ("key.revoked", "ada@example.com"),
        ("user.created", "bo@example.com"),
        ("user.updated", "ada@example.com"),
        ("user.deleted", "ada@example.com"),
    ]
    assert seen[3]["user"]["role"] == "gateway_admin"
    assert seen[4]["key"]["revoked_at"] is not None
    text = events_file.read_text()
    assert plaintext not in text and hash_key(plaintext) not in text


async def test_promoting_an_existing_account_to_root_admin_is_an_update(
    service: IdentityService, events_file: Path
) -> None:
    boss = await service.create_user(email="boss@example.com")
    root = await service.ensure_root_admin("boss@example.com")
    assert root.id == boss.id and root.role == "root_admin"
    seen = events(events_file)
    assert [(e["event"], e["user"]["email"]) for e in seen] == [
        ("user.created", "boss@example.com"),
        ("user.updated", "boss@example.com"),  # not a second user.created
    ]
    assert seen[1]["user"]["role"] == "root_admin"


async def test_revoking_through_the_service_invalidates_at_once(
    service: IdentityService, cache: KeyCache
) -> None:
    ada = await service.create_user(email="ada@example.com")
    key, plaintext = await service.issue_key(ada.id)
    now = datetime.now(timezone.utc)
    args = {"presented_key": plaintext, "endpoint_key": "openai_core", "auth_required": True}
    assert authorize(await cache.resolve(plaintext), now=now, **args)  # type: ignore[arg-type]
    await service.revoke_key(key.id)
    with pytest.raises(GatewayError, match="revoked"):
        authorize(await cache.resolve(plaintext), now=now, **args)  # type: ignore[arg-type]
    # Disabling the owner of another key, too.
    _, other = await service.issue_key(ada.id)
    assert authorize(await cache.resolve(other), now=now, **args)  # type: ignore[arg-type]
    await service.update_user(ada.id, status="disabled")
    with pytest.raises(GatewayError, match="disabled user"):
        authorize(await cache.resolve(other), now=now, **args)  # type: ignore[arg-type]
    await service.delete_user(ada.id)
    with pytest.raises(GatewayError, match="invalid API key"):
        authorize(await cache.resolve(other), now=now, **args)  # type: ignore[arg-type]


async def test_changed_limits_apply_at_the_next_request(identity_db: peewee.Database) -> None:
    async def spent(key_id: int, since: datetime) -> Decimal:
        return Decimal(0)

    limiter = KeyLimiter(store=DatabaseLimitStore(identity_db), spent=spent, clock=FakeClock())
    service = IdentityService(identity_db)
    ada = await service.create_user(email="ada@example.com")
    key, _ = await service.issue_key(ada.id, limits=KeyLimits(rpm=1))
    await limiter.admit(key.principal())
    with pytest.raises(GatewayError, match="requests per minute limit of 1"):
        await limiter.admit(key.principal())
    raised = await service.update_key(key.id, limits=KeyLimits(rpm=2))
    await limiter.admit(raised.principal())


async def test_admins_manage_users_but_not_other_admins(service: IdentityService) -> None:
    root = (await service.ensure_root_admin("admin@local")).id
    admin = await service.create_user(email="ops@example.com", role="gateway_admin")
    admin_key, _ = await service.issue_key(admin.id, scopes="model,admin")
    actor = admin_key.principal()

    user = await service.create_user(email="ada@example.com", actor=actor)
    await service.update_user(user.id, display_name="Ada", actor=actor)
    user_key, _ = await service.issue_key(user.id, actor=actor)
    await service.revoke_key(user_key.id, actor=actor)
    own, _ = await service.issue_key(admin.id, actor=actor)  # its own keys: yes
    await service.revoke_key(own.id, actor=actor)

    forbidden = [
        service.create_user(email="x@example.com", role="gateway_admin", actor=actor),
        service.create_user(email="y@example.com", role="root_admin", actor=actor),
        service.update_user(user.id, role="gateway_admin", actor=actor),
        service.delete_user(root, actor=actor),
        service.issue_key(root, actor=actor),
        service.import_users([{"email": "z@example.com", "role": "gateway_admin"}], actor=actor),
        service.import_users([{"email": "admin@local", "display_name": "me"}], actor=actor),
    ]
    for call in forbidden:
        with pytest.raises(GatewayError) as caught:
            await call
        assert caught.value.status == 403
        assert caught.value.message.startswith("ops@example.com (gateway_admin) may not ")
    assert {u.email for u in await service.list_users()} == {
        "admin@local",
        "ops@example.com",
        "ada@example.com",
    }
    await service.delete_user(user.id, actor=actor)
