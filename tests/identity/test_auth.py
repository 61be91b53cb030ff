"""auth.py: which credential a request presents, and the authorisation matrix
of every route x every kind of caller, rendered in each route's own envelope."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from tokligence import auth
from tokligence.auth import (
    ENDPOINT_SCOPES,
    ROLE_TABLE,
    ROLES,
    Principal,
    authorize,
    can_manage,
    key_from_headers,
    parse_role,
    parse_scopes,
    provider_key_from_headers,
)
from tokligence.endpoints import ENDPOINTS, dialect_for_path
from tokligence.errors import GatewayError
from tokligence.fronts.registry import FRONTS

from ..test_purity import FORBIDDEN, transitive_imports
from .fakes import T0, principal

VALID = "tok_" + "A" * 43
WRONG = "tok_Wr0ngKeyThatNobodyIssued0000000000000000000"


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), None),
        ((("authorization", f"Bearer {VALID}"),), VALID),
        ((("Authorization", f"bearer   {VALID}  "),), VALID),
        ((("x-api-key", VALID),), VALID),
        ((("X-Api-Key", f" {VALID} "),), VALID),
        # A tok_ key wins over a provider key in the other header.
        ((("authorization", "Bearer sk-ant-provider"), ("x-api-key", VALID)), VALID),
        ((("x-api-key", "sk-provider"), ("authorization", f"Bearer {VALID}")), VALID),
        # No gateway key at all: the first credential, so auth can say what it is not.
        ((("x-api-key", "sk-provider"),), "sk-provider"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), None),
        ((("authorization", "Bearer "),), None),
        ((("x-api-key", ""),), None),
        ((("cookie", f"k={VALID}"),), None),
    ],
)
def test_key_from_headers(headers: tuple[tuple[str, str], ...], expected: str | None) -> None:
    assert key_from_headers(headers) == expected


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ((), None),
        ((("authorization", "Bearer sk-provider"),), "sk-provider"),
        ((("X-Api-Key", " sk-ant-provider "),), "sk-ant-provider"),
        # A gateway key is never forwarded to a provider, whichever header holds it.
        ((("authorization", f"Bearer {VALID}"),), None),
        ((("x-api-key", VALID), ("authorization", "Bearer sk-provider")), "sk-provider"),
        ((("authorization", f"Bearer {VALID}"), ("x-api-key", "sk-ant")), "sk-ant"),
        ((("authorization", "Basic dXNlcjpwYXNz"),), None),
        ((("x-api-key", ""),), None),
    ],
)
def test_provider_key_from_headers(
    headers: tuple[tuple[str, str], ...], expected: str | None
) -> None:
    assert provider_key_from_headers(headers) == expected


# Every route the gateway serves, plus the admin API (its routes are the admin module's).
ROUTES = [(e.key, e.method, e.path) for e in ENDPOINTS] + [
    ("admin", "GET", "/api/v1/admin/users"),
    ("admin", "POST", "/api/v1/admin/users/3/api-keys"),
]
LATER = T0 + timedelta(days=1)
CALLERS: dict[str, tuple[Principal | None, str | None]] = {
    "no key": (None, None),
    "wrong key": (None, WRONG),
    "provider key": (None, "sk-ant-api03-secretsecret"),
    "revoked": (principal(revoked=True), VALID),
    "expired": (principal(expires_at=T0), VALID),
    "disabled user": (principal(user_active=False), VALID),
    "user": (principal(), VALID),
    "admin without admin scope": (principal(role="gateway_admin"), VALID),
    "admin-only key": (principal(role="gateway_admin", scopes=("admin",)), VALID),
    "gateway admin": (principal(role="gateway_admin", scopes=("model", "admin")), VALID),
    "root admin": (principal(role="root_admin", scopes=("model", "admin")), VALID),
    # A user whose key somehow carries "admin" (e.g. demoted after issue).
    "demoted user": (principal(role="gateway_user", scopes=("model", "admin")), VALID),
}
# (status, message fragment) per caller, for model and admin endpoints; 200 = allowed.
MODEL_EXPECTED = {
    "no key": (401, "missing API key"),
    "wrong key": (401, "invalid API key (tok_Wr0n…)"),
    "provider key": (401, "not a gateway key"),
    "revoked": (401, "API key tok_AbCdEfGh… has been revoked"),
    "expired": (401, "API key tok_AbCdEfGh… expired at 2025-03-12T12:00:00Z"),
    "disabled user": (401, "belongs to a disabled user"),
    "user": (200, ""),
    "admin without admin scope": (200, ""),
    "admin-only key": (403, "lacks the 'model' scope"),
    "gateway admin": (200, ""),
    "root admin": (200, ""),
    "demoted user": (200, ""),
}
ADMIN_EXPECTED = {
    **MODEL_EXPECTED,
    "user": (403, "the admin API needs role root_admin or gateway_admin"),
    "admin without admin scope": (403, "lacks the 'admin' scope"),
    "admin-only key": (200, ""),
    "demoted user": (403, "ada@example.com has role gateway_user"),
}


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize(("endpoint_key", "method", "path"), ROUTES)
def test_every_route_for_every_caller(
    endpoint_key: str, method: str, path: str, caller: str
) -> None:
    who, presented = CALLERS[caller]
    public = ENDPOINT_SCOPES[endpoint_key] is None  # health, and trading's own documents
    if public:
        expected = (200, "")
    else:
        admin_scope = endpoint_key in ("admin", "metrics")
        expected = (ADMIN_EXPECTED if admin_scope else MODEL_EXPECTED)[caller]
    status, fragment = expected
    call = {"presented_key": presented, "endpoint_key": endpoint_key, "now": T0}
    if status == 200:
        result = authorize(who, auth_required=True, **call)  # type: ignore[arg-type]
        assert result == (None if public else who)
        return
    with pytest.raises(GatewayError) as caught:
        authorize(who, auth_required=True, **call)  # type: ignore[arg-type]
    error = caught.value
    assert (error.status, error.kind) == (
        status,
        "authentication" if status == 401 else "permission",
    )
    assert fragment in error.message
    assert VALID not in error.message and WRONG not in error.message
    assert "secretsecret" not in error.message
    # The client gets it in its own protocol's envelope.
    body = json.loads(FRONTS[dialect_for_path(path)].render_error(error))
    if dialect_for_path(path) == "anthropic_messages":
        kind = "authentication_error" if status == 401 else "permission_error"
        assert body == {"type": "error", "error": {"type": kind, "message": error.message}}
    else:
        assert body["error"]["message"] == error.message
        assert body["error"]["code"] == ("invalid_api_key" if status == 401 else None)


@pytest.mark.parametrize("caller", list(CALLERS))
@pytest.mark.parametrize("endpoint_key", list(ENDPOINT_SCOPES))
def test_with_auth_off_nobody_is_refused_and_only_usable_keys_name_a_caller(
    endpoint_key: str, caller: str
) -> None:
    who, presented = CALLERS[caller]
    result = authorize(
        who, presented_key=presented, endpoint_key=endpoint_key, auth_required=False, now=T0
    )
    usable = who is not None and who.usable(T0)
    assert result == (who if usable and ENDPOINT_SCOPES[endpoint_key] is not None else None)


def test_a_key_expires_at_its_expiry_instant() -> None:
    who = principal(expires_at=T0)
    just_before = T0 - timedelta(microseconds=1)
    args = {"presented_key": VALID, "endpoint_key": "anthropic", "auth_required": True}
    assert authorize(who, now=just_before, **args) is who  # type: ignore[arg-type]
    with pytest.raises(GatewayError, match="expired"):
        authorize(who, now=T0, **args)  # type: ignore[arg-type]
    assert authorize(principal(expires_at=LATER), now=T0, **args) is not None  # type: ignore[arg-type]


def test_an_unknown_endpoint_key_is_a_bug_not_a_pass() -> None:
    with pytest.raises(ValueError, match="unknown endpoint key"):
        authorize(None, presented_key=None, endpoint_key="gemini", auth_required=True, now=T0)


@pytest.mark.parametrize(
    ("text", "scopes"),
    [
        ("model", ("model",)),
        ("admin, model", ("model", "admin")),
        (["ADMIN", "admin"], ("admin",)),
        ("model,,", ("model",)),
    ],
)
def test_parse_scopes(text: str | list[str], scopes: tuple[str, ...]) -> None:
    assert parse_scopes(text) == scopes


@pytest.mark.parametrize(("text", "fragment"), [("", "at least one"), ("model,root", "'root'")])
def test_bad_scopes(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_scopes(text)


def test_roles() -> None:
    assert parse_role(" Gateway_Admin ") == "gateway_admin"
    with pytest.raises(ValueError, match="unknown role 'owner'"):
        parse_role("owner")
    assert set(ROLE_TABLE) == set(ROLES)
    # Who may manage whom: nobody creates root admins; admins do not manage admins.
    assert [(a, t) for a in ROLES for t in ROLES if can_manage(a, t)] == [
        ("root_admin", "gateway_admin"),
        ("root_admin", "gateway_user"),
        ("gateway_admin", "gateway_user"),
    ]
    # Only admin roles reach the admin API, and only their keys may carry its scope.
    for role, grants in ROLE_TABLE.items():
        assert grants.admin_api == ("admin" in grants.scopes) == (role in auth.ADMIN_ROLES)


def test_auth_and_limits_are_pure() -> None:
    package = Path(auth.__file__).parent
    for path in (
        package / "auth.py",
        package / "limits.py",
        package / "identity" / "keys.py",
        package / "identity" / "records.py",
    ):
        reached = {name for name in transitive_imports(path) if name.split(".")[0] in FORBIDDEN}
        assert reached == set(), path.name
