"""Fixed keys for the trading tests: Ed25519 signatures are deterministic,
so a document signed with one of these always has the same bytes."""

from __future__ import annotations

import hashlib

from tokligence.trade.signing import Signer


def signer(name: str) -> Signer:
    """The test key called ``name`` (its seed is a hash of the name)."""
    return Signer(hashlib.sha256(f"tokligence test key {name}".encode()).digest())


SELLER = signer("seller")
BUYER = signer("buyer")
STRANGER = signer("stranger")
