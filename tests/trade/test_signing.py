"""Public ids, signatures and the signed-document envelope."""

from __future__ import annotations

import pytest

from tokligence.trade.documents import DocumentError, b64url_encode, encode
from tokligence.trade.signing import (
    BadPublicId,
    Signer,
    format_public_id,
    is_public_id,
    parse_public_id,
    seal,
    unseal,
    verify,
)

from .keys import BUYER, SELLER


def test_public_ids_round_trip() -> None:
    raw = parse_public_id(SELLER.public_id)
    assert len(raw) == 32
    assert format_public_id(raw) == SELLER.public_id
    assert SELLER.public_id.startswith("ed25519:") and len(SELLER.public_id) == 8 + 43
    assert is_public_id(SELLER.public_id)
    assert SELLER.public_id != BUYER.public_id
    assert "Signer(ed25519:" in repr(SELLER)


@pytest.mark.parametrize(
    "text",
    [
        "",
        "ed25519:",
        "ED25519:" + "A" * 43,
        "ed448:" + "A" * 43,
        "ed25519:" + "A" * 42,
        "ed25519:" + "A" * 44,
        "ed25519:" + "A" * 42 + "B",  # non-zero unused bits: another spelling
        "ed25519:" + "A" * 42 + "=",
        "ed25519:" + "+" * 43,
        " ed25519:" + "A" * 43,
        None,
        42,
    ],
)
def test_bad_public_ids_are_refused(text: object) -> None:
    assert not is_public_id(text)
    with pytest.raises(BadPublicId):
        parse_public_id(text)


def test_sign_and_verify() -> None:
    signature = SELLER.sign(b"message")
    assert len(signature) == 64
    assert signature == SELLER.sign(b"message")  # Ed25519 is deterministic
    assert verify(SELLER.public_id, b"message", signature)
    assert not verify(SELLER.public_id, b"messagE", signature)
    assert not verify(BUYER.public_id, b"message", signature)
    for position in range(64):
        changed = bytearray(signature)
        changed[position] ^= 0x01
        assert not verify(SELLER.public_id, b"message", bytes(changed)), position


@pytest.mark.parametrize(
    ("public_id", "signature"),
    [
        ("nonsense", bytes(64)),
        (SELLER.public_id, b""),
        (SELLER.public_id, bytes(63)),
        (SELLER.public_id, bytes(65)),
        (SELLER.public_id, bytes(64)),
        (SELLER.public_id, b"\xff" * 64),  # S out of range: libsodium refuses it
        (SELLER.public_id, "text"),
        (SELLER.public_id, None),
        # The identity point, a small-order key: refused whatever the signature.
        (format_public_id(b"\x01" + bytes(31)), bytes(64)),
        (format_public_id(bytes(32)), bytes(64)),
        (format_public_id(b"\xff" * 32), bytes(64)),
    ],
)
def test_verify_never_raises_on_garbage(public_id: str, signature: object) -> None:
    assert verify(public_id, b"message", signature) is False  # type: ignore[arg-type]


def test_a_seed_is_32_bytes() -> None:
    with pytest.raises(ValueError):
        Signer(bytes(31))


def test_seal_and_unseal() -> None:
    body = {"type": "note", "text": "hi", "n": 1}
    sealed = seal("note", body, SELLER)
    assert sealed.data == encode({"note": body, "sig": b64url_encode(sealed.signature)})
    opened = unseal("note", sealed.data)
    assert opened == sealed
    assert opened.verified_by(SELLER.public_id)
    assert not opened.verified_by(BUYER.public_id)


def test_a_body_names_its_kind() -> None:
    with pytest.raises(ValueError):
        seal("note", {"type": "receipt"}, SELLER)
    # A signature over one kind of document is not one over another: the
    # signed bytes differ by their type member.
    sealed = seal("note", {"type": "note"}, SELLER)
    relabelled = encode({"other": {"type": "note"}, "sig": b64url_encode(sealed.signature)})
    with pytest.raises(DocumentError):
        unseal("other", relabelled)


@pytest.mark.parametrize(
    "envelope",
    [
        {"note": {"type": "note"}},
        {"note": {"type": "note"}, "sig": "AA", "extra": "x"},
        {"note": {"type": "other"}, "sig": b64url_encode(bytes(64))},
        {"note": "text", "sig": b64url_encode(bytes(64))},
        {"note": {"type": "note"}, "sig": 5},
        {"note": {"type": "note"}, "sig": b64url_encode(bytes(63))},
        {"note": {"type": "note"}, "sig": b64url_encode(bytes(64)) + "="},
    ],
)
def test_unseal_refuses_malformed_envelopes(envelope: dict[str, object]) -> None:
    with pytest.raises(DocumentError):
        unseal("note", encode(envelope))
