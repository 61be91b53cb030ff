"""Gateway API key material (pure).

A key is ``tok_`` followed by 43 URL-safe base64 characters of 32 random
bytes (256 bits), the original gateway's format, so keys it issued keep
working. The alphabet includes ``-`` and ``_``: keys are copied whole, and
both SDK headers carry them unchanged.

Only a SHA-256 hex digest of the whole key is stored, plus its first
:data:`~tokligence.auth.PREFIX_LENGTH` characters for lists. A fast hash is
the right tool here, unlike for passwords: bcrypt/scrypt slow down guessing
a *low-entropy* secret from a stolen hash, but nobody can enumerate 2**256
keys at any speed, while a slow hash would cost every request (or cache
miss) milliseconds of CPU. It also lets a lookup be one indexed equality.
"""

from __future__ import annotations

import hashlib
import secrets

from ..auth import KEY_PREFIX, PREFIX_LENGTH

KEY_BYTES = 32


def generate_key() -> str:
    """A new plaintext key; shown to its owner once, never stored."""
    return KEY_PREFIX + secrets.token_urlsafe(KEY_BYTES)


def hash_key(key: str) -> str:
    """The stored form of a key: SHA-256 of its UTF-8 bytes, hex."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def key_prefix(key: str) -> str:
    """The part of a key that may be stored and shown in the clear."""
    return key[:PREFIX_LENGTH]
