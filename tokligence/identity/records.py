"""What the identity store returns: frozen records of plain values (pure).

A :class:`KeyRecord` never carries the key's hash, let alone the key: what
leaves the store can be listed, logged and sent to a hook script as is.
Timestamps are timezone-aware UTC.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal, TypeAlias, get_args

from ..auth import Principal, Role, Scope
from ..limits import UNLIMITED, KeyLimits

Status: TypeAlias = Literal["active", "disabled"]
STATUSES: tuple[Status, ...] = get_args(Status)
# The original gateway's word for "disabled", accepted on input.
STATUS_ALIASES = {"inactive": "disabled", "enabled": "active"}
KeyState: TypeAlias = Literal["active", "revoked", "expired"]


def parse_status(text: str) -> Status:
    value = text.strip().lower()
    value = STATUS_ALIASES.get(value, value)
    for status in STATUSES:
        if status == value:
            return status
    raise ValueError(f"unknown status {text!r}: use one of {', '.join(STATUSES)}")


def _iso(moment: datetime | None) -> str | None:
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


@dataclass(frozen=True, kw_only=True, slots=True)
class UserRecord:
    id: int
    email: str  # normalised: trimmed, lower case
    display_name: str
    role: Role
    status: Status
    created_at: datetime
    updated_at: datetime

    @property
    def active(self) -> bool:
        return self.status == "active"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "email": self.email,
            "display_name": self.display_name,
            "role": self.role,
            "status": self.status,
            "created_at": _iso(self.created_at),
            "updated_at": _iso(self.updated_at),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class KeyRecord:
    id: int
    user: UserRecord  # the owner as of the read
    name: str
    prefix: str  # e.g. "tok_AbCdEfGh": the key's first characters, shown in lists
    scopes: tuple[Scope, ...]
    created_at: datetime
    expires_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None
    limits: KeyLimits = UNLIMITED

    def state(self, now: datetime) -> KeyState:
        if self.revoked_at is not None:
            return "revoked"
        if self.expires_at is not None and now >= self.expires_at:
            return "expired"
        return "active"

    def principal(self) -> Principal:
        return Principal(
            user_id=self.user.id,
            email=self.user.email,
            role=self.user.role,
            key_id=self.id,
            key_prefix=self.prefix,
            scopes=frozenset(self.scopes),
            limits=self.limits,
            expires_at=self.expires_at,
            revoked=self.revoked_at is not None,
            user_active=self.user.active,
        )

    def to_json(self) -> dict[str, Any]:
        """The key as JSON for lists and hooks: its owner by id only."""

        def usd(value: Any) -> str | None:
            return None if value is None else str(value)

        return {
            "id": self.id,
            "user_id": self.user.id,
            "name": self.name,
            "prefix": self.prefix,
            "scopes": list(self.scopes),
            "created_at": _iso(self.created_at),
            "expires_at": _iso(self.expires_at),
            "revoked_at": _iso(self.revoked_at),
            "last_used_at": _iso(self.last_used_at),
            "limits": {
                "rpm": self.limits.rpm,
                "tpm": self.limits.tpm,
                "budget_daily_usd": usd(self.limits.budget_daily_usd),
                "budget_monthly_usd": usd(self.limits.budget_monthly_usd),
            },
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportResult:
    created: tuple[UserRecord, ...]
    updated: tuple[UserRecord, ...]  # records whose name, role or status changed
    unchanged: tuple[UserRecord, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class DeletedUser:
    user: UserRecord
    keys: tuple[KeyRecord, ...]  # the keys deleted with it, as they were
