"""Orders and account requests: what a buyer signs, and what a seller
refuses, code by code."""

from __future__ import annotations

import dataclasses

import pytest

from tokligence.trade.documents import b64url_encode, decode, encode, sha256_hex
from tokligence.trade.orders import (
    AccountRequest,
    Order,
    Refused,
    check_clock,
    read_account_request,
    read_order,
    sign_account_request,
    sign_order,
)
from tokligence.trade.receipts import Malformed

from .keys import BUYER, SELLER, STRANGER

BODY = b'{"model":"gpt-4o-mini","messages":[{"role":"user","content":"hi"}]}'
ORDER = Order(
    buyer=BUYER.public_id,
    seller=SELLER.public_id,
    request_id="req_0001.abcd1234",
    offer="fast@1",
    body_sha256=sha256_hex(BODY),
    issued_at=1_767_225_600_000,
)


def test_an_order_signs_and_reads_back_from_its_header() -> None:
    signed = sign_order(ORDER, BUYER)
    assert read_order(signed.header_value.encode(), seller=SELLER.public_id).order == ORDER
    assert read_order(signed.data, seller=SELLER.public_id).order == ORDER
    assert decode(signed.data)["order"]["type"] == "order"


def refusal(data: bytes, seller: str = SELLER.public_id) -> tuple[str, str]:
    with pytest.raises(Refused) as refused:
        read_order(data, seller=seller)
    return refused.value.code, refused.value.message


def test_an_order_is_refused_as_bad_order() -> None:
    signed = sign_order(ORDER, BUYER)
    assert refusal(signed.data, seller=STRANGER.public_id)[0] == "bad_order"
    assert "for seller" in refusal(signed.data, seller=STRANGER.public_id)[1]
    # Signed by another key than its buyer's.
    forged = dict(decode(signed.data))
    forged["sig"] = b64url_encode(STRANGER.sign(encode(ORDER.document())))
    code, message = refusal(encode(forged))
    assert code == "bad_order" and "not signed by its buyer" in message
    # Any other byte, or garbage.
    assert refusal(signed.data.replace(b'"fast@1"', b'"fast@2"'))[0] == "bad_order"
    assert refusal(b"not an order")[0] == "bad_order"
    assert refusal(b"")[0] == "bad_order"


@pytest.mark.parametrize(
    "change",
    [
        {"buyer": "alice"},
        {"request_id": "has space"},
        {"request_id": "x" * 129},
        {"offer": "fast"},
        {"body_sha256": "00"},
        {"issued_at": -1},
    ],
)
def test_a_malformed_order_cannot_be_made(change: dict[str, object]) -> None:
    with pytest.raises(Malformed):
        dataclasses.replace(ORDER, **change)  # type: ignore[arg-type]


def test_an_order_is_signed_by_its_buyer_only() -> None:
    with pytest.raises(ValueError, match="buyer it names"):
        sign_order(ORDER, STRANGER)


def test_an_account_request() -> None:
    request = AccountRequest(buyer=BUYER.public_id, seller=SELLER.public_id, issued_at=5)
    sealed = sign_account_request(request, BUYER)
    assert read_account_request(sealed.data, seller=SELLER.public_id) == request
    for data, seller in (
        (sealed.data, STRANGER.public_id),
        (sealed.data.replace(b'"issued_at":5', b'"issued_at":6'), SELLER.public_id),
        (b"{}", SELLER.public_id),
    ):
        with pytest.raises(Refused) as refused:
            read_account_request(data, seller=seller)
        assert refused.value.code == "bad_account_request"
    with pytest.raises(ValueError):
        sign_account_request(request, STRANGER)


@pytest.mark.parametrize(
    ("issued_at", "refused"),
    [(1_000_000, False), (1_300_000, False), (700_000, False), (1_300_001, True), (699_999, True)],
)
def test_the_clock_window_holds_both_ways(issued_at: int, refused: bool) -> None:
    now, window = 1_000_000, 300_000
    if not refused:
        check_clock(issued_at, now, window)
        return
    with pytest.raises(Refused) as caught:
        check_clock(issued_at, now, window)
    assert caught.value.code == "clock_skew"
