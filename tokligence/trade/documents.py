"""Canonical JSON: the one byte form of a document that a signature covers.

Theory of operation
-------------------
Two gateways sign and verify the same facts, so a document must have
exactly one encoding. Ours is JSON with the keys of every object sorted by
code point, no whitespace (separators ``,`` and ``:``), UTF-8 with no
escapes beyond JSON's required ones (``"``, ``\\`` and the control
characters, which ``json.dumps`` writes as ``\\n``, ``\\t``… or
``\\u00XX``), and only four kinds of value: objects with string keys,
arrays, strings and integers. No floats (their text is not unique and money
is integer micro-USD), no booleans and no null (a field is there or not),
integers within a signed 64-bit range (what every database and JSON
library keeps exactly), and no lone surrogates (they have no UTF-8 form).

:func:`decode` is strict: it parses, re-encodes and refuses the input
unless the two are byte for byte the same. So a document has one accepted
spelling, and any change to its bytes -- an escape, a space, a reordered
key, a duplicate key -- is refused as non-canonical before a signature is
even looked at.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
from typing import Any, TypeAlias

# A document's values; ``Any`` inside because mypy has no recursive
# JSON type that dict and list literals fit without casts.
Document: TypeAlias = dict[str, Any]

INT_MIN = -(2**63)
INT_MAX = 2**63 - 1
# Nesting deeper than any document we define, and far below the recursion
# limit: a hostile input fails here, not with RecursionError.
MAX_DEPTH = 16
# A receipt is under a kilobyte and a statement of many receipts is a later
# phase's concern; nothing larger is parsed.
MAX_DOCUMENT_BYTES = 1 << 20
_B64URL = re.compile(r"[A-Za-z0-9_-]*\Z")
_HEX64 = re.compile(r"[0-9a-f]{64}\Z")


class DocumentError(ValueError):
    """Not a canonical document; the message says what is wrong."""


def _check(value: object, depth: int) -> None:
    if depth > MAX_DEPTH:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, bool) or value is None or isinstance(value, float):
        raise DocumentError(f"{type(value).__name__} values are not allowed (strings and integers)")
    if isinstance(value, int):
        if not INT_MIN <= value <= INT_MAX:
            raise DocumentError("an integer outside the signed 64-bit range")
    elif isinstance(value, str):
        _check_text(value)
    elif isinstance(value, list):
        for item in value:
            _check(item, depth + 1)
    elif isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                raise DocumentError("an object key that is not a string")
            _check_text(key)
            _check(item, depth + 1)
    else:
        raise DocumentError(f"{type(value).__name__} values are not allowed")


def _check_text(text: str) -> None:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise DocumentError("a string with a lone surrogate (no UTF-8 form)") from None


def encode(document: Document) -> bytes:
    """The canonical bytes of ``document``; raises DocumentError."""
    if not isinstance(document, dict):
        raise DocumentError("a document is a JSON object")
    _check(document, 1)
    text = json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return text.encode("utf-8")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise DocumentError(f"duplicate key {key!r}")
        out[key] = value
    return out


def _no_float(text: str) -> object:
    raise DocumentError("a number with a fraction or exponent (integers only)")


def _no_constant(text: str) -> object:
    raise DocumentError(f"{text} is not JSON")


def decode(data: bytes) -> Document:
    """The document whose canonical bytes are exactly ``data``; anything
    else (not UTF-8, not JSON, a value kind we do not allow, or another
    spelling of a valid document) raises DocumentError."""
    if len(data) > MAX_DOCUMENT_BYTES:
        raise DocumentError(f"larger than {MAX_DOCUMENT_BYTES} bytes")
    try:
        text = data.decode("utf-8")
        value = json.loads(
            text,
            object_pairs_hook=_no_duplicates,
            parse_float=_no_float,
            parse_constant=_no_constant,
        )
    except DocumentError:
        raise
    except UnicodeDecodeError:
        raise DocumentError("not UTF-8") from None
    except RecursionError:
        raise DocumentError(f"nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as error:  # JSONDecodeError, and integers too long to convert
        raise DocumentError(f"not JSON: {error}") from None
    if not isinstance(value, dict):
        raise DocumentError("a document is a JSON object")
    if encode(value) != data:
        raise DocumentError("not in canonical form (sorted keys, no spaces, no extra escapes)")
    return value


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def is_sha256_hex(text: object) -> bool:
    """Whether ``text`` is a SHA-256 digest as :func:`sha256_hex` writes it."""
    return isinstance(text, str) and _HEX64.match(text) is not None


def b64url_encode(data: bytes) -> str:
    """Unpadded base64url (RFC 4648 section 5), as JWS writes it."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url, strictly: only the alphabet, no
    padding, and unused trailing bits zero, so each value has one spelling
    (the standard decoder skips stray characters and ignores those bits)."""
    if not isinstance(text, str) or not _B64URL.match(text) or len(text) % 4 == 1:
        raise DocumentError("not unpadded base64url")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise DocumentError("not unpadded base64url") from None
    if b64url_encode(data) != text:
        raise DocumentError("not canonical base64url (non-zero trailing bits)")
    return data
