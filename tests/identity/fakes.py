"""Small fakes shared by the identity tests: a settable clock and records."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from tokligence.auth import Principal, Role
from tokligence.limits import UNLIMITED, KeyLimits

# A Wednesday in the middle of a month, at noon UTC.
T0 = datetime(2025, 3, 12, 12, 0, 0, tzinfo=timezone.utc)


@dataclass
class FakeClock:
    """Epoch seconds that only move when a test moves them."""

    now: float = T0.timestamp()

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds

    def set(self, moment: datetime) -> None:
        self.now = moment.timestamp()


def principal(
    *,
    role: Role = "gateway_user",
    scopes: tuple[str, ...] = ("model",),
    limits: KeyLimits = UNLIMITED,
    expires_at: datetime | None = None,
    revoked: bool = False,
    user_active: bool = True,
    key_id: int = 7,
) -> Principal:
    return Principal(
        user_id=3,
        email="ada@example.com",
        role=role,
        key_id=key_id,
        key_prefix="tok_AbCdEfGh",
        scopes=frozenset(scopes),
        limits=limits,
        expires_at=expires_at,
        revoked=revoked,
        user_active=user_active,
    )


def usd(text: str) -> Decimal:
    return Decimal(text)
