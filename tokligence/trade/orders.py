"""Orders and account requests: what a buyer signs to buy (no I/O).

Theory of operation
-------------------
A buyer proves who it is with its node key, so the seller never has to
trust a password alone:

* an **account request** (``account_request``: buyer, seller, when) opens
  an account: only the holder of the buyer's key can sign it, so the
  account's API key goes to the gateway whose id it names;
* an **order** (``order``: buyer, seller, the buyer's request id, the offer
  version accepted, the SHA-256 of the exact request body, when) rides on
  every traded request as the header ``Tokligence-Order`` (the signed
  envelope in unpadded base64url). It binds the account's API key to the
  one body the buyer sent, at the one version of the offer it accepted,
  at one time: a stolen key alone cannot buy, a replayed order cannot buy
  another body, and an order older than the seller's clock-skew window
  buys nothing.

:func:`read_order` and :func:`read_account_request` check a document's
shape, the seller it is meant for and the buyer's signature; what they
mean for an account (the key's buyer, the clock, the body, the offer) is
the seller's (``seller.py``). Each refusal has a code, which is what the
seller answers with.
"""

from __future__ import annotations

from dataclasses import dataclass

from .documents import Document, DocumentError, b64url_encode, is_sha256_hex
from .offers import parse_offer_ref
from .receipts import (
    DOCUMENT_VERSION,
    MAX_SEQ,
    REQUEST_ID,
    Malformed,
    integer_between,
    read_signed,
    require,
)
from .signing import Sealed, Signer, is_public_id, seal

ORDER = "order"
ACCOUNT_REQUEST = "account_request"
ORDER_HEADER = "Tokligence-Order"
_ORDER_KEYS = frozenset(
    {"type", "v", "buyer", "seller", "request_id", "offer", "body_sha256", "issued_at"}
)
_ACCOUNT_KEYS = frozenset({"type", "v", "buyer", "seller", "issued_at"})


class Refused(Exception):
    """A document the seller will not act on; ``code`` is its answer's code."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass(frozen=True, kw_only=True, slots=True)
class Order:
    buyer: str
    seller: str
    request_id: str
    offer: str  # NAME@VERSION
    body_sha256: str
    issued_at: int  # Unix milliseconds, the buyer's clock

    def __post_init__(self) -> None:
        require(is_public_id(self.buyer), "buyer is not a public id")
        require(is_public_id(self.seller), "seller is not a public id")
        require(
            isinstance(self.request_id, str) and REQUEST_ID.match(self.request_id) is not None,
            "request_id must be 1 to 128 of A-Z a-z 0-9 . _ : -",
        )
        try:
            parse_offer_ref(self.offer)
        except ValueError as error:
            raise Malformed(str(error)) from None
        require(is_sha256_hex(self.body_sha256), "body_sha256 is not a SHA-256 hex digest")
        require(integer_between(self.issued_at, 0, MAX_SEQ), "issued_at is not a time")

    def document(self) -> Document:
        return {
            "type": ORDER,
            "v": DOCUMENT_VERSION,
            "buyer": self.buyer,
            "seller": self.seller,
            "request_id": self.request_id,
            "offer": self.offer,
            "body_sha256": self.body_sha256,
            "issued_at": self.issued_at,
        }

    @classmethod
    def from_document(cls, body: Document) -> Order:
        require(set(body) == _ORDER_KEYS, "not the members of an order")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} order")
        return cls(**{key: body[key] for key in _ORDER_KEYS - {"type", "v"}})


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedOrder:
    order: Order
    sealed: Sealed

    @property
    def data(self) -> bytes:
        return self.sealed.data

    @property
    def header_value(self) -> str:
        return b64url_encode(self.sealed.data)


def sign_order(order: Order, signer: Signer) -> SignedOrder:
    if order.buyer != signer.public_id:
        raise ValueError("an order is signed by the buyer it names")
    return SignedOrder(order=order, sealed=seal(ORDER, order.document(), signer))


def read_order(data: bytes, *, seller: str) -> SignedOrder:
    """The order in ``data`` (its header value or its JSON), meant for
    ``seller`` and signed by the buyer it names; raises Refused with
    ``bad_order`` otherwise."""
    try:
        sealed = read_signed(ORDER, data)
        order = Order.from_document(sealed.body)
    except DocumentError as error:
        raise Refused("bad_order", f"the order is not a canonical signed order: {error}") from None
    if order.seller != seller:
        raise Refused("bad_order", f"the order is for seller {order.seller}, not this one")
    if not sealed.verified_by(order.buyer):
        raise Refused("bad_order", f"the order is not signed by its buyer {order.buyer}")
    return SignedOrder(order=order, sealed=sealed)


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountRequest:
    buyer: str
    seller: str
    issued_at: int  # Unix milliseconds

    def document(self) -> Document:
        return {
            "type": ACCOUNT_REQUEST,
            "v": DOCUMENT_VERSION,
            "buyer": self.buyer,
            "seller": self.seller,
            "issued_at": self.issued_at,
        }


def sign_account_request(request: AccountRequest, signer: Signer) -> Sealed:
    if request.buyer != signer.public_id:
        raise ValueError("an account request is signed by the buyer it names")
    return seal(ACCOUNT_REQUEST, request.document(), signer)


def read_account_request(data: bytes, *, seller: str) -> AccountRequest:
    """The account request in ``data`` (a request body), meant for
    ``seller`` and signed by its buyer; raises Refused with
    ``bad_account_request`` otherwise."""
    try:
        sealed = read_signed(ACCOUNT_REQUEST, data)
        body = sealed.body
        require(set(body) == _ACCOUNT_KEYS, "not the members of an account request")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} request")
        require(is_public_id(body["buyer"]), "buyer is not a public id")
        require(is_public_id(body["seller"]), "seller is not a public id")
        require(integer_between(body["issued_at"], 0, MAX_SEQ), "issued_at is not a time")
    except DocumentError as error:
        raise Refused(
            "bad_account_request", f"not a canonical signed account request: {error}"
        ) from None
    request = AccountRequest(
        buyer=body["buyer"], seller=body["seller"], issued_at=body["issued_at"]
    )
    if request.seller != seller:
        raise Refused("bad_account_request", f"the request is for seller {request.seller}")
    if not sealed.verified_by(request.buyer):
        raise Refused("bad_account_request", f"not signed by its buyer {request.buyer}")
    return request


def check_clock(issued_at: int, now: int, skew_ms: int) -> None:
    """Refuse (``clock_skew``) a document issued further than ``skew_ms``
    from ``now``, in either direction."""
    if abs(now - issued_at) > skew_ms:
        raise Refused(
            "clock_skew",
            f"issued at {issued_at}, {abs(now - issued_at) / 1000:.0f} s from this seller's "
            f"clock ({now}); the window is {skew_ms / 1000:.0f} s: check the buyer's clock",
        )
