"""Ed25519 identities and signed documents (PyNaCl, no I/O).

Theory of operation
-------------------
A gateway is known to its peers by its public key, written as a *public
id*: ``ed25519:`` followed by the 32-byte key in unpadded base64url (43
characters). Peers pin each other by that id.

A signed document is an envelope of two members, ``{"<kind>": BODY,
"sig": SIG}``: BODY is a canonical document (``documents.encode``) whose
``type`` member names what it is, and SIG the base64url Ed25519 signature
over BODY's canonical bytes. The ``type`` inside what is signed keeps a
signature on one kind of document from being passed off as another's: the
same key signs offers, receipts and acknowledgements. The envelope's own
canonical bytes are what gets stored, sent and hashed (a receipt chain links
each receipt to the previous envelope's SHA-256).

:func:`verify` never raises: garbage for an id, a key or a signature is
simply not a valid signature. libsodium refuses non-canonical signatures and
small-order keys, so a valid signature cannot be re-spelt into another
valid one.

PyNaCl is imported here, and this module only by the trading modules:
nothing in a gateway that does not trade loads it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import nacl.exceptions
import nacl.signing

from .documents import Document, DocumentError, b64url_decode, b64url_encode, decode, encode

PUBLIC_ID_PREFIX = "ed25519:"
KEY_BYTES = 32
SIGNATURE_BYTES = 64
SIG = "sig"
_PUBLIC_ID = re.compile(r"ed25519:[A-Za-z0-9_-]{43}\Z")


class BadPublicId(ValueError):
    """Not a public id; the message says why."""


def format_public_id(key: bytes) -> str:
    if len(key) != KEY_BYTES:
        raise BadPublicId(f"an Ed25519 public key is {KEY_BYTES} bytes")
    return PUBLIC_ID_PREFIX + b64url_encode(key)


def parse_public_id(text: object) -> bytes:
    """The 32-byte key of a public id; raises BadPublicId."""
    if not isinstance(text, str) or not _PUBLIC_ID.match(text):
        raise BadPublicId(
            f"a public id is {PUBLIC_ID_PREFIX} and 43 base64url characters, got {text!r:.80}"
        )
    try:
        return b64url_decode(text[len(PUBLIC_ID_PREFIX) :])
    except DocumentError:
        raise BadPublicId(f"{text!r:.80} is not a canonical public id") from None


def is_public_id(text: object) -> bool:
    try:
        parse_public_id(text)
    except BadPublicId:
        return False
    return True


class Signer:
    """A private key: signs bytes and knows its public id."""

    __slots__ = ("_key", "public_id")

    def __init__(self, seed: bytes) -> None:
        if len(seed) != KEY_BYTES:
            raise ValueError(f"an Ed25519 seed is {KEY_BYTES} bytes")
        self._key = nacl.signing.SigningKey(seed)
        self.public_id = format_public_id(bytes(self._key.verify_key))

    def sign(self, message: bytes) -> bytes:
        """The 64-byte detached signature of ``message``."""
        return bytes(self._key.sign(message).signature)

    def __repr__(self) -> str:  # never the seed
        return f"Signer({self.public_id})"


def verify(public_id: str, message: bytes, signature: bytes) -> bool:
    """Whether ``signature`` is ``public_id``'s over ``message``; False for
    anything malformed, never an exception."""
    try:
        key = nacl.signing.VerifyKey(parse_public_id(public_id))
        if not isinstance(signature, bytes) or len(signature) != SIGNATURE_BYTES:
            return False
        key.verify(message, signature)
    except (BadPublicId, nacl.exceptions.CryptoError, ValueError, TypeError):
        return False
    return True


@dataclass(frozen=True, kw_only=True, slots=True)
class Sealed:
    """A signed document: its body, the signature, and the envelope's bytes."""

    kind: str
    body: Document
    signature: bytes
    data: bytes  # the canonical envelope: what is stored, sent and hashed

    def verified_by(self, public_id: str) -> bool:
        return verify(public_id, encode(self.body), self.signature)


def seal(kind: str, body: Document, signer: Signer) -> Sealed:
    """``body`` (whose ``type`` is ``kind``) signed by ``signer``."""
    if body.get("type") != kind:
        raise ValueError(f"a {kind} document has type {kind!r}")
    signature = signer.sign(encode(body))
    envelope: dict[str, Any] = {kind: body, SIG: b64url_encode(signature)}
    return Sealed(kind=kind, body=body, signature=signature, data=encode(envelope))


def unseal(kind: str, data: bytes) -> Sealed:
    """The parts of a canonical envelope of ``kind``; raises DocumentError
    when it is not one (the signature is not checked here)."""
    envelope = decode(data)
    if set(envelope) != {kind, SIG}:
        raise DocumentError(f"a signed {kind} has exactly the members {kind!r} and {SIG!r}")
    body, sig = envelope[kind], envelope[SIG]
    if not isinstance(body, dict) or body.get("type") != kind:
        raise DocumentError(f"the {kind!r} member is not a {kind} document")
    if not isinstance(sig, str):
        raise DocumentError(f"{SIG!r} is not a string")
    signature = b64url_decode(sig)
    if len(signature) != SIGNATURE_BYTES:
        raise DocumentError(f"{SIG!r} is not {SIGNATURE_BYTES} bytes")
    return Sealed(kind=kind, body=body, signature=signature, data=data)
