"""Acknowledgements: the buyer's signature over the receipts it holds.

A buyer acknowledges a seller's receipts in batches (``receipt_ack``): it
signs, for each, the request id, the sequence number and the SHA-256 of the
signed receipt. The seller keeps the acknowledgement beside its receipts,
so both sides hold the same facts signed by both.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .documents import Document, DocumentError, is_sha256_hex
from .receipts import (
    DOCUMENT_VERSION,
    MAX_SEQ,
    REQUEST_ID,
    SignedReceipt,
    Verdict,
    integer_between,
    read_signed,
    require,
)
from .signing import Sealed, Signer, is_public_id, seal

ACK = "receipt_ack"
MAX_ACK_BATCH = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class Acknowledged:
    """One receipt a buyer acknowledges: its place and its hash."""

    request_id: str
    seq: int
    receipt: str  # SHA-256 hex of the signed receipt

    def document(self) -> Document:
        return {"request_id": self.request_id, "seq": self.seq, "receipt": self.receipt}


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack:
    buyer: str
    seller: str
    acked_at: int  # Unix milliseconds
    receipts: tuple[Acknowledged, ...]

    def document(self) -> Document:
        return {
            "type": ACK,
            "v": DOCUMENT_VERSION,
            "buyer": self.buyer,
            "seller": self.seller,
            "acked_at": self.acked_at,
            "receipts": [item.document() for item in self.receipts],
        }

    @classmethod
    def from_document(cls, body: Document) -> Ack:
        keys = {"type", "v", "buyer", "seller", "acked_at", "receipts"}
        require(set(body) == keys, "not the members of a receipt acknowledgement")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} ack")
        require(is_public_id(body["buyer"]), "buyer is not a public id")
        require(is_public_id(body["seller"]), "seller is not a public id")
        require(integer_between(body["acked_at"], 0, MAX_SEQ), "acked_at is not a time")
        items = body["receipts"]
        require(
            isinstance(items, list) and 0 < len(items) <= MAX_ACK_BATCH,
            f"receipts is not a list of 1 to {MAX_ACK_BATCH}",
        )
        acknowledged = []
        for item in items:
            require(
                isinstance(item, dict)
                and set(item) == {"request_id", "seq", "receipt"}
                and isinstance(item["request_id"], str)
                and REQUEST_ID.match(item["request_id"]) is not None
                and integer_between(item["seq"], 1, MAX_SEQ)
                and is_sha256_hex(item["receipt"]),
                "an acknowledged receipt is {request_id, seq, receipt}",
            )
            acknowledged.append(Acknowledged(**item))
        return cls(
            buyer=body["buyer"],
            seller=body["seller"],
            acked_at=body["acked_at"],
            receipts=tuple(acknowledged),
        )


def acknowledge(receipts: Sequence[SignedReceipt], signer: Signer, *, at: int) -> Sealed:
    """The buyer's signed acknowledgement of ``receipts`` (one seller's)."""
    if not 0 < len(receipts) <= MAX_ACK_BATCH:
        raise ValueError(f"an acknowledgement holds 1 to {MAX_ACK_BATCH} receipts")
    sellers = {signed.receipt.seller for signed in receipts}
    if len(sellers) != 1 or any(s.receipt.buyer != signer.public_id for s in receipts):
        raise ValueError("an acknowledgement is one buyer's, of one seller's receipts")
    ack = Ack(
        buyer=signer.public_id,
        seller=sellers.pop(),
        acked_at=at,
        receipts=tuple(
            Acknowledged(request_id=s.receipt.request_id, seq=s.receipt.seq, receipt=s.hash)
            for s in receipts
        ),
    )
    return seal(ACK, ack.document(), signer)


def verify_ack(data: bytes, *, buyer: str | None = None, seller: str | None = None) -> Verdict[Ack]:
    """Check a signed acknowledgement: its shape, the pinned parties, and
    the buyer's signature. Which receipts it matches is the caller's."""
    try:
        sealed = read_signed(ACK, data)
        ack = Ack.from_document(sealed.body)
    except DocumentError as error:
        return Verdict(reason="malformed", detail=str(error))
    for reason, expected, found in (
        ("wrong_buyer", buyer, ack.buyer),
        ("wrong_seller", seller, ack.seller),
    ):
        if expected is not None and expected != found:
            return Verdict(reason=reason, detail=f"{found}, expected {expected}", value=ack)
    if not sealed.verified_by(ack.buyer):
        return Verdict(
            reason="bad_signature", detail=f"the signature is not {ack.buyer}'s", value=ack
        )
    return Verdict(reason=None, detail=f"{len(ack.receipts)} receipts acknowledged", value=ack)
