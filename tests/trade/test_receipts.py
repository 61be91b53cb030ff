"""Receipts: signed by the seller, checked by anyone, refused after any change."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace
from typing import Any

import pytest

from tokligence.trade.acks import MAX_ACK_BATCH, acknowledge, verify_ack
from tokligence.trade.documents import b64url_decode, b64url_encode, encode, sha256_hex
from tokligence.trade.money import Tokens
from tokligence.trade.receipts import (
    GENESIS,
    REASONS,
    Malformed,
    chain_breaks,
    sign_receipt,
    verify_receipt,
)
from tokligence.trade.signing import seal

from .keys import BUYER, SELLER, STRANGER
from .samples import STARTED, chain, receipt

B64URL = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def test_the_signed_form_is_fixed() -> None:
    """The bytes two gateways exchange: a change here breaks every peer."""
    signed = sign_receipt(receipt(), SELLER)
    body = json.loads(signed.data)["receipt"]
    assert (
        encode(body)
        == (
            '{"buyer":"BUYER","cost_micro_usd":4500,"ended_at":1767225600812,'
            '"offer":"fast@1","prev":"GENESIS",'
            '"prices":{"cache_read":"0.25","cache_write":"0","input":"2.5","output":"10"},'
            '"request_id":"req_0001","requested_model":"gpt-4o-mini","seller":"SELLER","seq":1,'
            '"served_model":"gpt-4o-mini-2024-07-18","started_at":1767225600000,"status":"ok",'
            '"tokens":{"cache_read":0,"cache_write":0,"input":1000,"output":200},'
            '"type":"receipt","v":1}'
        )
        .replace("BUYER", BUYER.public_id)
        .replace("GENESIS", GENESIS)
        .replace("SELLER", SELLER.public_id)
        .encode()
    )
    assert signed.data == encode({"receipt": body, "sig": b64url_encode(SELLER.sign(encode(body)))})
    assert signed.hash == sha256_hex(signed.data)
    assert b64url_decode(signed.header_value) == signed.data


def test_a_receipt_verifies_in_both_forms() -> None:
    signed = sign_receipt(receipt(), SELLER)
    for data in (
        signed.data,
        signed.data + b"\n",
        signed.header_value.encode(),
        signed.header_value.encode() + b"\n",
    ):
        verdict = verify_receipt(data)
        assert verdict.ok and verdict.reason is None
        assert verdict.value == signed
        assert verdict.detail == (
            f"receipt 1 from {SELLER.public_id} to {BUYER.public_id}: request req_0001, "
            "offer fast@1, gpt-4o-mini served by gpt-4o-mini-2024-07-18, ok; tokens 1000 in, "
            "200 out, 0 cache read, 0 cache write; 4500 micro-USD (USD 0.004500)"
        )
    pinned = verify_receipt(
        signed.data, seller=SELLER.public_id, buyer=BUYER.public_id, request_id="req_0001"
    )
    assert pinned.ok


def _every_single_byte_change(data: bytes, substitutes: bytes) -> list[bytes]:
    changed = []
    for position, byte in enumerate(data):
        for substitute in substitutes:
            if substitute != byte:
                changed.append(data[:position] + bytes([substitute]) + data[position + 1 :])
                break
        changed.append(data[:position] + bytes([byte ^ 0x01]) + data[position + 1 :])
    return changed


@pytest.mark.parametrize("form", ["header", "json"])
def test_any_single_byte_changed_is_refused(form: str) -> None:
    signed = sign_receipt(receipt(), SELLER)
    if form == "header":
        data = signed.header_value.encode()
        # Another letter of the alphabet (still decodes), or the one after.
        substitutes = B64URL.encode()
    else:
        data = signed.data
        substitutes = b" 0a"
    variants = _every_single_byte_change(data, substitutes)
    assert len(variants) == 2 * len(data)
    reasons = set()
    for variant in variants:
        verdict = verify_receipt(variant)
        assert not verdict.ok, variant
        assert verdict.reason in REASONS
        reasons.add(verdict.reason)
    # Both the parser and the signature do their share.
    assert {"malformed", "bad_signature"} <= reasons


def test_pinned_parties() -> None:
    data = sign_receipt(receipt(), SELLER).data
    assert verify_receipt(data, seller=STRANGER.public_id).reason == "wrong_seller"
    assert verify_receipt(data, buyer=STRANGER.public_id).reason == "wrong_buyer"
    verdict = verify_receipt(data, request_id="req_0002")
    assert verdict.reason == "wrong_request"
    assert verdict.detail == "request_id is req_0001, expected req_0002"


def test_a_signature_by_anyone_but_the_named_seller_is_bad() -> None:
    forged = seal("receipt", receipt().document(), STRANGER)
    verdict = verify_receipt(forged.data)
    assert verdict.reason == "bad_signature"
    assert SELLER.public_id in verdict.detail
    # Naming the forger as the seller is honest, and is another seller.
    honest = sign_receipt(receipt(seller=STRANGER.public_id), STRANGER)
    assert verify_receipt(honest.data).ok
    assert verify_receipt(honest.data, seller=SELLER.public_id).reason == "wrong_seller"


def test_a_cost_its_tokens_do_not_make_is_bad_even_when_signed() -> None:
    wrong = receipt(cost_micro_usd=4_499)
    with pytest.raises(ValueError, match="not the cost of its tokens"):
        sign_receipt(wrong, SELLER)
    # A seller that signs it anyway is caught by the recomputation.
    verdict = verify_receipt(seal("receipt", wrong.document(), SELLER).data)
    assert verdict.reason == "bad_cost"
    assert verdict.detail == "cost_micro_usd is 4499; its tokens at its prices cost 4500"


def test_the_seller_signs_only_its_own_receipts() -> None:
    with pytest.raises(ValueError, match="signed by the seller it names"):
        sign_receipt(receipt(), BUYER)


def _resealed(**changes: Any) -> bytes:
    """The receipt with raw document changes, validly signed by the seller:
    a malformed receipt is refused whoever signed it."""
    body = receipt().document()
    for key, value in changes.items():
        if value is None:
            del body[key]
        else:
            body[key] = value
    sig = b64url_encode(SELLER.sign(encode(body)))
    return encode({"receipt": body, "sig": sig})


@pytest.mark.parametrize(
    ("changes", "detail"),
    [
        ({"status": None}, "not the members of a receipt"),
        ({"note": "x"}, "not the members of a receipt"),
        ({"v": 2}, "not a version 1 receipt"),
        (
            {"prices": {"input": "2.50", "output": "10", "cache_read": "0.25", "cache_write": "0"}},
            "one text form",
        ),
        (
            {"tokens": {"input": -1, "output": 200, "cache_read": 0, "cache_write": 0}},
            "input tokens",
        ),
        ({"tokens": {"input": 1000, "output": 200}}, "tokens must name exactly"),
        ({"request_id": "req 1"}, "request_id must be"),
        ({"request_id": "r" * 129}, "request_id must be"),
        ({"buyer": "alice"}, "buyer is not a public id"),
        ({"seller": "ed25519:" + "A" * 42}, "seller is not a public id"),
        ({"offer": "fast"}, "NAME@VERSION"),
        ({"requested_model": ""}, "requested_model"),
        ({"served_model": "a\nb"}, "served_model"),
        ({"status": "fine"}, "status is not one of ok, error, aborted"),
        ({"cost_micro_usd": -1}, "cost_micro_usd"),
        ({"cost_micro_usd": "4500"}, "cost_micro_usd"),
        ({"ended_at": STARTED - 1}, "ended_at is before started_at"),
        ({"seq": 0}, "seq is not a number from 1"),
        ({"prev": "0" * 63}, "prev is not a SHA-256"),
        ({"seq": 2}, "only receipt 1 follows the genesis"),
        ({"prev": "a" * 64}, "only receipt 1 follows the genesis"),
    ],
)
def test_malformed_receipts(changes: dict[str, Any], detail: str) -> None:
    verdict = verify_receipt(_resealed(**changes))
    assert verdict.reason == "malformed"
    assert detail in verdict.detail
    assert verdict.value is None


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"\n",
        b"{}",
        b"not a receipt",
        b"e30",  # base64url of {}
        b'{"receipt": {}, "sig": ""}',
        b'{"offer":{"type":"offer"},"sig":"AA"}',
    ],
)
def test_what_is_not_a_receipt_is_malformed(data: bytes) -> None:
    assert verify_receipt(data).reason == "malformed"


def test_a_receipt_object_is_checked_when_made() -> None:
    with pytest.raises(Malformed):
        receipt(seq=0)
    with pytest.raises(Malformed):
        replace(receipt(), tokens={"input": 1})  # type: ignore[arg-type]


def test_chains_link_each_receipt_to_the_one_before() -> None:
    receipts = chain(4)
    assert receipts[0].receipt.prev == GENESIS
    for before, after in itertools.pairwise(receipts):
        assert after.receipt.prev == before.hash == sha256_hex(before.data)
    assert chain_breaks(receipts) == []
    assert chain_breaks(receipts[:1] + receipts[2:]) == ["receipt 3 (req_0003): expected 2"]
    assert chain_breaks(receipts[1:]) == ["receipt 2 (req_0002): expected 1"]
    # A receipt replaced by another with the same number breaks the next link.
    other = sign_receipt(
        replace(receipts[1].receipt, tokens=Tokens(input=1), cost_micro_usd=3), SELLER
    )
    assert chain_breaks([receipts[0], other, *receipts[2:]]) == [
        "receipt 3 (req_0003): prev is not the hash of receipt 2"
    ]


def test_acknowledgements() -> None:
    receipts = chain(3)
    sealed = acknowledge(receipts, BUYER, at=STARTED + 10_000)
    verdict = verify_ack(sealed.data, buyer=BUYER.public_id, seller=SELLER.public_id)
    assert verdict.ok, verdict.detail
    assert verdict.value is not None
    assert [(a.request_id, a.seq, a.receipt) for a in verdict.value.receipts] == [
        (s.receipt.request_id, s.receipt.seq, s.hash) for s in receipts
    ]
    assert verify_ack(b64url_encode(sealed.data).encode()).ok
    assert verify_ack(sealed.data, buyer=SELLER.public_id).reason == "wrong_buyer"
    assert verify_ack(sealed.data, seller=BUYER.public_id).reason == "wrong_seller"
    forged = seal("receipt_ack", sealed.body, STRANGER)
    assert verify_ack(forged.data).reason == "bad_signature"
    for position in range(len(sealed.data)):
        changed = bytearray(sealed.data)
        changed[position] ^= 0x01
        assert not verify_ack(bytes(changed)).ok, position
    # A receipt is not an acknowledgement, nor the other way round.
    assert verify_ack(receipts[0].data).reason == "malformed"
    assert verify_receipt(sealed.data).reason == "malformed"


def test_an_acknowledgement_is_one_buyers_of_one_sellers_receipts() -> None:
    receipts = chain(2)
    with pytest.raises(ValueError):
        acknowledge([], BUYER, at=0)
    with pytest.raises(ValueError):
        acknowledge(receipts, STRANGER, at=0)
    theirs = sign_receipt(receipt(seller=STRANGER.public_id), STRANGER)
    with pytest.raises(ValueError):
        acknowledge([receipts[0], theirs], BUYER, at=0)
    with pytest.raises(ValueError):
        acknowledge(receipts * (MAX_ACK_BATCH // 2 + 1), BUYER, at=0)
