"""Receipts: what a seller signs for each request, and how anyone checks one.

Theory of operation
-------------------
A receipt states one request's facts as the seller billed them: the request
id, the buyer and the seller (public ids), the offer version, the model the
buyer asked for and the one that served it, the tokens of each kind, the
unit prices, the cost, how it ended, when it started and ended (Unix
milliseconds), and its place in the chain of receipts between this seller
and this buyer: a sequence number from 1 and ``prev``, the SHA-256 of the
previous receipt's signed bytes (64 zeros for the first). A dropped,
inserted or reordered receipt shows as a gap or a broken link.

Its signed form is the envelope ``{"receipt": {...}, "sig": "..."}``
(``signing.seal``), stored and hashed as canonical JSON; the same bytes in
unpadded base64url are one header line (``Tokligence-Receipt``).
:func:`verify_receipt` takes either spelling and checks, in order: the
bytes are a canonical receipt of the known shape (``malformed``), the
seller, buyer and request are the expected ones when the caller pins them
(``wrong_seller``, ``wrong_buyer``, ``wrong_request``), the signature is
the seller's named inside (``bad_signature``), and the cost is what the
tokens and prices make (``bad_cost``). A receipt is the seller's word: the
signature proves who said it, the cost check that the arithmetic holds.

The buyer's acknowledgements of receipts are in ``acks``.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from .documents import (
    Document,
    DocumentError,
    b64url_decode,
    b64url_encode,
    is_sha256_hex,
    sha256_hex,
)
from .money import MoneyError, Prices, Tokens, cost_micro_usd, usd_text
from .offers import parse_offer_ref
from .signing import Sealed, Signer, is_public_id, seal, unseal

RECEIPT = "receipt"
DOCUMENT_VERSION = 1
HEADER = "Tokligence-Receipt"
GENESIS = "0" * 64  # the prev of a chain's first receipt
STATUSES = ("ok", "error", "aborted")
# The request ids the gateway accepts in x-request-id (server/exchange.py).
REQUEST_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}\Z")
MAX_MODEL_LENGTH = 256
MAX_SEQ = 2**63 - 1
REASONS = ("malformed", "wrong_seller", "wrong_buyer", "wrong_request", "bad_signature", "bad_cost")
_RECEIPT_KEYS = frozenset(
    {
        "type",
        "v",
        "request_id",
        "buyer",
        "seller",
        "offer",
        "requested_model",
        "served_model",
        "tokens",
        "prices",
        "cost_micro_usd",
        "status",
        "started_at",
        "ended_at",
        "seq",
        "prev",
    }
)


class Malformed(DocumentError):
    """Not a receipt (or acknowledgement) of the known shape."""


def require(condition: bool, message: str) -> None:
    if not condition:
        raise Malformed(message)


def integer_between(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _model(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= MAX_MODEL_LENGTH and value.isprintable()


@dataclass(frozen=True, kw_only=True, slots=True)
class Receipt:
    request_id: str
    buyer: str
    seller: str
    offer: str  # NAME@VERSION
    requested_model: str
    served_model: str
    tokens: Tokens
    prices: Prices
    cost_micro_usd: int
    status: str
    started_at: int  # Unix milliseconds
    ended_at: int
    seq: int  # 1, 2, 3… per (seller, buyer)
    prev: str  # SHA-256 hex of the previous signed receipt, GENESIS for seq 1

    def __post_init__(self) -> None:
        """Every field well-formed; the cost may be wrong (that is
        :func:`verify_receipt`'s ``bad_cost``, not a malformed receipt)."""
        require(
            isinstance(self.request_id, str) and bool(REQUEST_ID.match(self.request_id)),
            "request_id must be 1 to 128 of A-Z a-z 0-9 . _ : -",
        )
        require(is_public_id(self.buyer), "buyer is not a public id")
        require(is_public_id(self.seller), "seller is not a public id")
        try:
            parse_offer_ref(self.offer)
        except ValueError as error:
            raise Malformed(str(error)) from None
        require(_model(self.requested_model), "requested_model is not a model name")
        require(_model(self.served_model), "served_model is not a model name")
        require(isinstance(self.tokens, Tokens), "tokens are not Tokens")
        require(isinstance(self.prices, Prices), "prices are not Prices")
        require(integer_between(self.cost_micro_usd, 0, MAX_SEQ), "cost_micro_usd is not a count")
        require(self.status in STATUSES, f"status is not one of {', '.join(STATUSES)}")
        require(integer_between(self.started_at, 0, MAX_SEQ), "started_at is not a time")
        require(integer_between(self.ended_at, 0, MAX_SEQ), "ended_at is not a time")
        require(self.started_at <= self.ended_at, "ended_at is before started_at")
        require(integer_between(self.seq, 1, MAX_SEQ), "seq is not a number from 1")
        require(is_sha256_hex(self.prev), "prev is not a SHA-256 hex digest")
        require((self.seq == 1) == (self.prev == GENESIS), "only receipt 1 follows the genesis")

    @property
    def expected_cost(self) -> int:
        return cost_micro_usd(self.tokens, self.prices)

    def document(self) -> Document:
        return {
            "type": RECEIPT,
            "v": DOCUMENT_VERSION,
            "request_id": self.request_id,
            "buyer": self.buyer,
            "seller": self.seller,
            "offer": self.offer,
            "requested_model": self.requested_model,
            "served_model": self.served_model,
            "tokens": self.tokens.as_document(),
            "prices": self.prices.as_document(),
            "cost_micro_usd": self.cost_micro_usd,
            "status": self.status,
            "started_at": self.started_at,
            "ended_at": self.ended_at,
            "seq": self.seq,
            "prev": self.prev,
        }

    @classmethod
    def from_document(cls, body: Document) -> Receipt:
        require(set(body) == _RECEIPT_KEYS, "not the members of a receipt")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} receipt")
        try:
            tokens = Tokens.from_document(body["tokens"])
            prices = Prices.from_document(body["prices"])
        except MoneyError as error:
            raise Malformed(str(error)) from None
        fields: dict[str, Any] = {
            key: body[key] for key in _RECEIPT_KEYS - {"type", "v", "tokens", "prices"}
        }
        return cls(tokens=tokens, prices=prices, **fields)


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedReceipt:
    receipt: Receipt
    sealed: Sealed

    @property
    def data(self) -> bytes:
        """The canonical signed receipt: what is stored, and hashed."""
        return self.sealed.data

    @property
    def hash(self) -> str:
        """What the next receipt's ``prev`` is."""
        return sha256_hex(self.sealed.data)

    @property
    def header_value(self) -> str:
        return b64url_encode(self.sealed.data)


def sign_receipt(receipt: Receipt, signer: Signer) -> SignedReceipt:
    """The seller signs; it never signs a receipt that would not verify."""
    if receipt.seller != signer.public_id:
        raise ValueError("a receipt is signed by the seller it names")
    if receipt.cost_micro_usd != receipt.expected_cost:
        raise ValueError(
            f"cost_micro_usd {receipt.cost_micro_usd} is not the cost of its tokens "
            f"({receipt.expected_cost})"
        )
    return SignedReceipt(receipt=receipt, sealed=seal(RECEIPT, receipt.document(), signer))


T = TypeVar("T")


@dataclass(frozen=True, kw_only=True, slots=True)
class Verdict(Generic[T]):
    """A check's outcome: ``reason`` is None when it holds, else one of
    :data:`REASONS`, with ``detail`` saying what was found."""

    reason: str | None
    detail: str
    value: T | None = None  # what was read, when it could be

    @property
    def ok(self) -> bool:
        return self.reason is None


def read_signed(kind: str, data: bytes) -> Sealed:
    """A signed document of ``kind`` from its JSON or its base64url form;
    one trailing newline (a file's last line) is allowed, nothing else."""
    text = data.removesuffix(b"\n")
    if not text.startswith(b"{"):
        try:
            text = b64url_decode(text.decode("ascii"))
        except (UnicodeDecodeError, DocumentError):
            raise Malformed("neither canonical JSON nor unpadded base64url") from None
    return unseal(kind, text)


def verify_receipt(
    data: bytes,
    *,
    seller: str | None = None,
    buyer: str | None = None,
    request_id: str | None = None,
) -> Verdict[SignedReceipt]:
    """Check a signed receipt (JSON or header form) as the module docstring
    says; ``seller``, ``buyer`` and ``request_id`` pin what the caller expects."""
    try:
        sealed = read_signed(RECEIPT, data)
        receipt = Receipt.from_document(sealed.body)
    except DocumentError as error:
        return Verdict(reason="malformed", detail=str(error))
    signed = SignedReceipt(receipt=receipt, sealed=sealed)
    pins = (
        ("wrong_seller", "seller", seller, receipt.seller),
        ("wrong_buyer", "buyer", buyer, receipt.buyer),
        ("wrong_request", "request_id", request_id, receipt.request_id),
    )
    for reason, name, expected, found in pins:
        if expected is not None and expected != found:
            return Verdict(
                reason=reason, detail=f"{name} is {found}, expected {expected}", value=signed
            )
    if not sealed.verified_by(receipt.seller):
        return Verdict(
            reason="bad_signature",
            detail=f"the signature is not {receipt.seller}'s over this receipt",
            value=signed,
        )
    if receipt.cost_micro_usd != receipt.expected_cost:
        return Verdict(
            reason="bad_cost",
            detail=f"cost_micro_usd is {receipt.cost_micro_usd}; its tokens at its prices "
            f"cost {receipt.expected_cost}",
            value=signed,
        )
    return Verdict(reason=None, detail=summary(receipt), value=signed)


def summary(receipt: Receipt) -> str:
    """One line for people: who sold what to whom, for how much."""
    tokens = receipt.tokens
    return (
        f"receipt {receipt.seq} from {receipt.seller} to {receipt.buyer}: request "
        f"{receipt.request_id}, offer {receipt.offer}, {receipt.requested_model} served by "
        f"{receipt.served_model}, {receipt.status}; tokens {tokens.input} in, {tokens.output} "
        f"out, {tokens.cache_read} cache read, {tokens.cache_write} cache write; "
        f"{receipt.cost_micro_usd} micro-USD (USD {usd_text(receipt.cost_micro_usd)})"
    )


def chain_breaks(receipts: Sequence[SignedReceipt]) -> list[str]:
    """What is wrong with ``receipts`` as one pair's chain from its start,
    in sequence order: a receipt missing before another, or one whose
    ``prev`` is not the hash of the receipt before it. Empty when whole."""
    problems = []
    previous: SignedReceipt | None = None
    for signed in receipts:
        receipt = signed.receipt
        expected_seq = 1 if previous is None else previous.receipt.seq + 1
        if receipt.seq != expected_seq:
            problems.append(
                f"receipt {receipt.seq} ({receipt.request_id}): expected {expected_seq}"
            )
        elif receipt.prev != (GENESIS if previous is None else previous.hash):
            problems.append(
                f"receipt {receipt.seq} ({receipt.request_id}): prev is not the hash of "
                f"receipt {expected_seq - 1}"
            )
        previous = signed
    return problems
