"""Admin API: API keys — issue (the only answer with the plaintext), list,
revoke — and the role table as applied to admin callers."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, timezone
from typing import Any

import pytest

from tokligence.auth import Principal, authorize
from tokligence.errors import GatewayError
from tokligence.identity import store

from .harness import Admin


async def make_user(admin: Admin, email: str, role: str = "gateway_user") -> dict[str, Any]:
    user = await admin.identity.create_user(email=email, role=role)
    return user.to_json()


async def admin_principal(admin: Admin, role: str, email: str | None = None) -> Principal:
    """A real key of a real user of ``role`` with the admin scope."""
    if role == "root_admin":
        user = await admin.identity.ensure_root_admin(email or "root@example.com")
    else:
        user = await admin.identity.create_user(email=email or f"{role}@example.com", role=role)
    key, _ = await admin.identity.issue_key(user.id, scopes=("model", "admin"))
    return key.principal()


def authenticated(admin: Admin, plaintext: str) -> Principal | None:
    record = store.lookup_key(admin.db, plaintext)
    return authorize(
        None if record is None else record.principal(),
        presented_key=plaintext,
        endpoint_key="openai_core",
        auth_required=True,
        now=datetime.now(timezone.utc),
    )


async def test_issue_list_get_revoke(admin: Admin) -> None:
    ada = await make_user(admin, "ada@example.com")
    issued = await admin.call(
        "POST",
        f"users/{ada['id']}/api-keys",
        {
            "name": "laptop",
            "scopes": ["model"],
            "expires_in_days": 30,
            "rpm": 60,
            "tpm": 100000,
            "budget_daily_usd": "5.50",
            "budget_monthly_usd": 100,
        },
    )
    assert issued.status == 201
    assert issued.headers["cache-control"] == "no-store"
    plaintext = issued.body["api_key"]
    key = issued.body["key"]
    assert plaintext.startswith("tok_") and key["prefix"] == plaintext[:12]
    assert key["user_id"] == ada["id"] and key["name"] == "laptop"
    assert key["scopes"] == ["model"] and key["state"] == "active"
    assert key["limits"] == {
        "rpm": 60,
        "tpm": 100000,
        "budget_daily_usd": "5.500000",
        "budget_monthly_usd": "100.000000",
    }
    expires = datetime.fromisoformat(key["expires_at"].replace("Z", "+00:00"))
    expected = datetime.now(timezone.utc) + timedelta(days=30)
    assert abs((expires - expected).total_seconds()) < 60
    assert not any("hash" in name for name in key)

    principal = authenticated(admin, plaintext)
    assert principal is not None and principal.key_id == key["id"]

    listed = await admin.call("GET", f"users/{ada['id']}/api-keys")
    everyone = await admin.call("GET", "api-keys")
    only_ada = await admin.call("GET", f"api-keys?user_id={ada['id']}")
    one = await admin.call("GET", f"api-keys/{key['id']}")
    assert listed.body == {"api_keys": [key]}
    assert everyone.body == only_ada.body == {"api_keys": [key]}
    assert one.body == {"key": key}

    revoked = await admin.call("DELETE", f"api-keys/{key['id']}")
    assert revoked.status == 200
    assert revoked.body["key"]["state"] == "revoked"
    assert revoked.body["key"]["revoked_at"] is not None
    with pytest.raises(GatewayError) as refused:
        authenticated(admin, plaintext)
    assert refused.value.status == 401 and "revoked" in refused.value.message
    again = await admin.call("DELETE", f"api-keys/{key['id']}")
    assert again.body["key"]["revoked_at"] == revoked.body["key"]["revoked_at"]
    listed_after = await admin.call("GET", f"users/{ada['id']}/api-keys")
    assert [k["state"] for k in listed_after.body["api_keys"]] == ["revoked"]

    # The plaintext was in the create answer and nowhere else.
    for reply in (listed, everyone, only_ada, one, revoked, again, listed_after):
        assert plaintext not in reply.raw.decode()
        assert plaintext[12:20] not in reply.raw.decode()


async def test_issue_with_defaults_and_an_empty_body(admin: Admin) -> None:
    ada = await make_user(admin, "ada@example.com")
    for body in ({}, None):
        reply = await admin.call(
            "POST", f"users/{ada['id']}/api-keys", raw=b"" if body is None else b"{}"
        )
        assert reply.status == 201
        key = reply.body["key"]
        assert key["scopes"] == ["model"] and key["expires_at"] is None and key["name"] == ""
        assert key["limits"] == {
            "rpm": None,
            "tpm": None,
            "budget_daily_usd": None,
            "budget_monthly_usd": None,
        }
    comma = await admin.call("POST", f"users/{ada['id']}/api-keys", {"scopes": "model"})
    assert comma.body["key"]["scopes"] == ["model"]
    zero = await admin.call(
        "POST", f"users/{ada['id']}/api-keys", {"rpm": 0, "budget_daily_usd": 0}
    )
    assert zero.body["key"]["limits"]["rpm"] == 0
    assert zero.body["key"]["limits"]["budget_daily_usd"] == "0.000000"
    future = (datetime.now(timezone.utc) + timedelta(hours=2)).isoformat()
    at = await admin.call("POST", f"users/{ada['id']}/api-keys", {"expires_at": future})
    assert at.status == 201 and at.body["key"]["expires_at"].endswith("Z")


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"scopes": ["admin"]}, "scopes", "cannot hold a key with scope 'admin'"),
        ({"scopes": ["root"]}, "scopes", "unknown scope"),
        ({"scopes": []}, "scopes", "at least one scope"),
        ({"scopes": [1]}, "scopes", "array of strings"),
        ({"expires_at": "2000-01-01T00:00:00Z"}, "expires_at", "in the past"),
        ({"expires_at": "next week"}, "expires_at", "ISO 8601"),
        ({"expires_at": 1700000000}, "expires_at", "must be a string"),
        ({"expires_in_days": 0}, "expires_in_days", "at least 1"),
        ({"expires_in_days": "3"}, "expires_in_days", "must be an integer"),
        ({"expires_in_days": 1.5}, "expires_in_days", "must be an integer"),
        (
            {"expires_in_days": 3, "expires_at": "2999-01-01"},
            "expires_in_days",
            "not both",
        ),
        ({"rpm": -1}, "rpm", "between 0 and"),
        ({"rpm": True}, "rpm", "must be an integer"),
        ({"rpm": 2**31}, "rpm", "between 0 and"),
        ({"tpm": "100"}, "tpm", "must be an integer"),
        ({"budget_daily_usd": "1.0000001"}, "budget_daily_usd", "more than 6 decimals"),
        ({"budget_daily_usd": -1}, "budget_daily_usd", "non-negative"),
        ({"budget_monthly_usd": "lots"}, "budget_monthly_usd", "decimal number"),
        ({"budget_monthly_usd": "NaN"}, "budget_monthly_usd", "finite"),
        ({"budget_monthly_usd": 1e12}, "budget_monthly_usd", "less than"),
        ({"name": ["x"]}, "name", "must be a string"),
        ({"label": "x"}, "label", "unknown field 'label'"),
    ],
)
async def test_issue_validation(
    admin: Admin, body: dict[str, Any], param: str, fragment: str
) -> None:
    ada = await make_user(admin, "ada@example.com")
    reply = await admin.call("POST", f"users/{ada['id']}/api-keys", body)
    assert reply.status == 400, reply.body
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]
    assert store.list_keys(admin.db) == []


async def test_missing_users_and_keys_are_404(admin: Admin) -> None:
    for method, path in (
        ("GET", "users/99/api-keys"),
        ("POST", "users/99/api-keys"),
        ("GET", "api-keys/99"),
        ("DELETE", "api-keys/99"),
        ("GET", "api-keys?user_id=99"),
        ("PATCH", "users/99"),
        ("DELETE", "users/99"),
    ):
        reply = await admin.call(method, path, {} if method in ("POST", "PATCH") else None)
        assert reply.status == 404, (method, path)
    bad = await admin.call("GET", "api-keys?user_id=me")
    assert bad.status == 400 and bad.error["param"] == "user_id"


# ------------------------------------------------------------------ roles


async def test_gateway_admin_manages_only_gateway_users(admin: Admin) -> None:
    root = await admin_principal(admin, "root_admin")
    other_admin = await make_user(admin, "peer@example.com", "gateway_admin")
    ada = await make_user(admin, "ada@example.com")
    root_key, _ = await admin.identity.issue_key(root.user_id)
    admin.principal = await admin_principal(admin, "gateway_admin", "boss@example.com")

    refusals = [
        ("POST", "users", {"email": "new@example.com", "role": "gateway_admin"}),
        ("POST", "users", {"email": "new@example.com", "role": "root_admin"}),
        ("PATCH", f"users/{root.user_id}", {"display_name": "Root"}),
        ("PATCH", f"users/{other_admin['id']}", {"status": "disabled"}),
        ("PATCH", f"users/{ada['id']}", {"role": "gateway_admin"}),
        ("DELETE", f"users/{root.user_id}", None),
        ("DELETE", f"users/{other_admin['id']}", None),
        ("POST", f"users/{root.user_id}/api-keys", {}),
        ("DELETE", f"api-keys/{root_key.id}", None),
        ("POST", "users/import", [{"email": "x@example.com", "role": "gateway_admin"}]),
        ("POST", "users/import", [{"email": "root@example.com", "display_name": "mine"}]),
    ]
    for method, path, body in refusals:
        reply = await admin.call(method, path, body if body is not None else None)
        assert reply.status == 403, (method, path, reply.body)
        assert "boss@example.com (gateway_admin) may not" in reply.error["message"]

    assert store.find_user(admin.db, "new@example.com") is None
    assert store.get_user(admin.db, root.user_id).display_name == ""
    assert store.get_key(admin.db, root_key.id).revoked_at is None

    made = await admin.call("POST", "users", {"email": "new@example.com"})
    assert made.status == 201
    changed = await admin.call("PATCH", f"users/{ada['id']}", {"display_name": "Ada"})
    assert changed.status == 200
    own = await admin.call("POST", f"users/{admin.principal.user_id}/api-keys", {})
    assert own.status == 201
    theirs = await admin.call("POST", f"users/{ada['id']}/api-keys", {})
    assert theirs.status == 201
    gone = await admin.call("DELETE", f"users/{ada['id']}")
    assert gone.status == 200 and gone.body["revoked_keys"] == 1
    # Reading is not managing: every admin sees every account.
    listed = (await admin.call("GET", "users")).body["users"]
    assert [u["email"] for u in listed] == [
        "root@example.com",
        "peer@example.com",
        "boss@example.com",
        "new@example.com",
    ]


async def test_root_admin_manages_admins(admin: Admin) -> None:
    admin.principal = await admin_principal(admin, "root_admin")
    made = await admin.call("POST", "users", {"email": "peer@example.com", "role": "gateway_admin"})
    assert made.status == 201
    promoted = await admin.call(
        "PATCH", f"users/{made.body['user']['id']}", {"role": "gateway_admin", "status": "active"}
    )
    assert promoted.status == 200
    key = await admin.call(
        "POST", f"users/{made.body['user']['id']}/api-keys", {"scopes": ["model", "admin"]}
    )
    assert key.body["key"]["scopes"] == ["model", "admin"]
    second_root = await admin.call(
        "POST", "users", {"email": "r2@example.com", "role": "root_admin"}
    )
    assert second_root.status == 403  # root_admin is made at start-up, never over the API


async def test_auth_disabled_caller_has_no_role_limits(admin: Admin) -> None:
    admin.principal = None  # loopback with auth disabled
    made = await admin.call("POST", "users", {"email": "r@example.com", "role": "root_admin"})
    assert made.status == 201 and made.body["user"]["role"] == "root_admin"


async def test_audit_log_names_keys_by_prefix_only(
    admin: Admin, caplog: pytest.LogCaptureFixture
) -> None:
    admin.principal = await admin_principal(admin, "root_admin")
    ada = await make_user(admin, "ada@example.com")
    with caplog.at_level(logging.INFO, logger="tokligence.admin"):
        issued = await admin.call("POST", f"users/{ada['id']}/api-keys", {})
        await admin.call("DELETE", f"api-keys/{issued.body['key']['id']}")
    plaintext = issued.body["api_key"]
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert f"issued API key {issued.body['key']['id']} ({plaintext[:12]}…)" in text
    assert "root@example.com (key tok_" in text and "revoked API key" in text
    assert plaintext not in text and plaintext[12:] not in text
