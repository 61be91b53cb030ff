"""Gateway API keys -> who is calling, and may they call this endpoint (pure).

Theory of operation
-------------------
A request's credential is read from ``Authorization: Bearer`` or
``x-api-key`` (:func:`key_from_headers`). An I/O layer (``identity.cache``)
resolves it to a :class:`Principal` — the key's owner, role, scopes and
limits, plus the key's state (revoked, expiry, owner disabled) — and
:func:`authorize` decides, from the endpoint key alone:

- ``health`` is always open;
- with auth off (only honoured on loopback) nobody is refused: a valid key
  still names its principal so usage is attributed, anything else is
  anonymous — a client's own provider key in ``x-api-key`` must not break a
  local sidecar;
- with auth on, a missing, unknown, revoked or expired key, or one whose
  owner is disabled, is a 401; a model endpoint needs the ``model`` scope
  and the admin API needs an admin role *and* the ``admin`` scope, else 403.

The key's state is checked here, at request time, rather than when it was
looked up: a cached principal stops working the second its key expires.
Messages name a key only by its public prefix ("tok_AbCdEfGh…"), never by
the secret part.

Roles (:data:`ROLE_TABLE`): ``root_admin`` (one per gateway, created from
``admin_email`` at start-up) manages everyone; ``gateway_admin`` manages
``gateway_user`` accounts and their keys; ``gateway_user`` calls models.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, TypeAlias, get_args

from .errors import GatewayError, PolicyRefusal
from .limits import UNLIMITED, KeyLimits

KEY_PREFIX = "tok_"
# Characters of a key stored and listed in the clear ("tok_" + 8): enough to
# tell keys apart in a table, 48 bits of a 256-bit secret.
PREFIX_LENGTH = 12
# Characters of an *unrecognised* key shown in an error ("tok_" + 4): it
# may be someone's mistyped or stolen key, so show less than a listed prefix.
HINT_LENGTH = 8

Role: TypeAlias = Literal["root_admin", "gateway_admin", "gateway_user"]
ROLES: tuple[Role, ...] = get_args(Role)
Scope: TypeAlias = Literal["model", "admin"]
SCOPES: tuple[Scope, ...] = get_args(Scope)
DEFAULT_SCOPES: tuple[Scope, ...] = ("model",)
ADMIN_ROLES: tuple[Role, ...] = ("root_admin", "gateway_admin")


@dataclass(frozen=True, kw_only=True, slots=True)
class RoleGrants:
    admin_api: bool  # may call /api/v1/admin/... (with a key of scope "admin")
    manages: tuple[Role, ...]  # roles of the users it may create, change and delete
    scopes: tuple[Scope, ...]  # scopes its keys may carry
    summary: str


ROLE_TABLE: Mapping[Role, RoleGrants] = {
    "root_admin": RoleGrants(
        admin_api=True,
        manages=("gateway_admin", "gateway_user"),
        scopes=("model", "admin"),
        summary="owns the gateway; manages admins, users and keys",
    ),
    "gateway_admin": RoleGrants(
        admin_api=True,
        manages=("gateway_user",),
        scopes=("model", "admin"),
        summary="manages users and their keys",
    ),
    "gateway_user": RoleGrants(
        admin_api=False,
        manages=(),
        scopes=("model",),
        summary="calls models",
    ),
}

# Which scope each endpoint key needs; None: open to all.
ENDPOINT_SCOPES: Mapping[str, Scope | None] = {
    "openai_core": "model",
    "openai_responses": "model",
    "anthropic": "model",
    "admin": "admin",
    "health": None,
    "metrics": "admin",  # what the gateway serves, to whom, and its costs
    # A seller's offers are public; accounts and acknowledgements prove
    # themselves with the buyer's signature (docs/trading.md).
    "trade": None,
}


def parse_role(text: str) -> Role:
    value = text.strip().lower()
    for role in ROLES:
        if role == value:
            return role
    raise ValueError(f"unknown role {text!r}: use one of {', '.join(ROLES)}")


def parse_scopes(value: str | Iterable[str]) -> tuple[Scope, ...]:
    """Scopes from a comma list or an iterable, deduplicated, in SCOPES order."""
    items = value.split(",") if isinstance(value, str) else list(value)
    wanted = {item.strip().lower() for item in items if item.strip()}
    unknown = wanted - set(SCOPES)
    if unknown:
        raise ValueError(
            f"unknown scope {sorted(unknown)[0]!r}: use one or more of {', '.join(SCOPES)}"
        )
    if not wanted:
        raise ValueError(f"a key needs at least one scope: {', '.join(SCOPES)}")
    return tuple(scope for scope in SCOPES if scope in wanted)


def can_manage(actor: Role, target: Role) -> bool:
    """May a user of role ``actor`` create, change or delete a ``target`` user?"""
    return target in ROLE_TABLE[actor].manages


def looks_like_key(text: str) -> bool:
    return text.startswith(KEY_PREFIX) and len(text) > PREFIX_LENGTH


def key_hint(text: str) -> str:
    """How an error may name a presented key: a short prefix, or what it is not."""
    if looks_like_key(text):
        return text[:HINT_LENGTH] + "…"
    return f"not a gateway key; those start with {KEY_PREFIX}"


def presented_keys(headers: Iterable[tuple[str, str]]) -> list[str]:
    """Every credential a request presents, in header order:
    ``Authorization: Bearer …`` (OpenAI SDKs) and ``x-api-key`` (Anthropic
    SDKs). The one reading of the two headers, for the gateway's own keys
    and for provider keys a client forwards."""
    found: list[str] = []
    for name, value in headers:
        lowered = name.lower()
        if lowered == "x-api-key":
            credential = value.strip()
        elif lowered == "authorization" and value[:7].lower() == "bearer ":
            credential = value[7:].strip()
        else:
            continue
        if credential:
            found.append(credential)
    return found


def key_from_headers(headers: Iterable[tuple[str, str]]) -> str | None:
    """The gateway key a request presents, if any. When both headers are
    present a ``tok_`` key wins: a client may send its provider key in the
    other header."""
    found = presented_keys(headers)
    for credential in found:
        if credential.startswith(KEY_PREFIX):
            return credential
    return found[0] if found else None


def provider_key_from_headers(headers: Iterable[tuple[str, str]]) -> str | None:
    """The provider key a client presented, for ``forward_client_key``. A
    gateway key (``tok_…``) is the gateway's own credential and is never
    sent to a provider."""
    for credential in presented_keys(headers):
        if not credential.startswith(KEY_PREFIX):
            return credential
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class Principal:
    """The owner of a presented key, with the key's state as last read."""

    user_id: int
    email: str
    role: Role
    key_id: int
    key_prefix: str  # the listed prefix, e.g. "tok_AbCdEfGh"
    scopes: frozenset[str]
    limits: KeyLimits = UNLIMITED
    expires_at: datetime | None = None  # aware
    revoked: bool = False
    user_active: bool = True

    def usable(self, now: datetime) -> bool:
        return self.refusal(now) is None

    def refusal(self, now: datetime) -> str | None:
        """Why the key cannot be used at ``now`` (a 401 message), or None."""
        name = f"API key {self.key_prefix}…"
        if self.revoked:
            return f"{name} has been revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return f"{name} expired at {self.expires_at:%Y-%m-%dT%H:%M:%SZ}"
        if not self.user_active:
            return f"{name} belongs to a disabled user"
        return None


def _unauthenticated(message: str) -> GatewayError:
    return PolicyRefusal("authentication", message, code="invalid_api_key")


def authorize(
    principal: Principal | None,
    *,
    presented_key: str | None,
    endpoint_key: str,
    auth_required: bool,
    now: datetime,
) -> Principal | None:
    """The caller of ``endpoint_key``, or None for an anonymous one; raises
    a 401/403 ``GatewayError`` when auth is required and not satisfied.

    ``principal`` is what ``presented_key`` resolved to (None: nothing or an
    unknown key); ``now`` (aware) is compared with the key's expiry.
    """
    if endpoint_key not in ENDPOINT_SCOPES:
        raise ValueError(f"unknown endpoint key {endpoint_key!r}")
    scope = ENDPOINT_SCOPES[endpoint_key]
    if scope is None:
        return None
    if not auth_required:
        return principal if principal is not None and principal.usable(now) else None
    if principal is None:
        if not presented_key:
            raise _unauthenticated(
                "missing API key: send a gateway key as 'Authorization: Bearer tok_…' "
                "or 'x-api-key: tok_…'"
            )
        raise _unauthenticated(f"invalid API key ({key_hint(presented_key)})")
    refusal = principal.refusal(now)
    if refusal is not None:
        raise _unauthenticated(refusal)
    if scope == "admin" and not ROLE_TABLE[principal.role].admin_api:
        raise PolicyRefusal(
            "permission",
            f"the admin API needs role {' or '.join(ADMIN_ROLES)}; "
            f"{principal.email} has role {principal.role}",
        )
    if scope not in principal.scopes:
        raise PolicyRefusal(
            "permission",
            f"API key {principal.key_prefix}… lacks the '{scope}' scope this endpoint needs",
        )
    return principal
