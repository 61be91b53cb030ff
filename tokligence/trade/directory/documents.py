"""What sellers, the directory and buyers exchange, and how each is checked (no I/O).

Theory of operation
-------------------
A seller **announces** its offers with one request whose body is the
canonical document ``{"announcement": A, "offers": [O, ...]}``: each O is
one of its signed offers as published (``trade.store.publish_offers``), and
A is a signed ``announcement``::

    {"type": "announcement", "v": 1, "seller": ID, "url": URL,
     "issued_at": MS, "offers": [SHA-256 of each O, in the same order]}

So the seller's key vouches for the URL buyers are to use and for exactly
which offers are sold there; every offer is also signed on its own, and
names the same seller. A **heartbeat** is the lighter signed
``{"type": "heartbeat", "v": 1, "seller": ID, "issued_at": MS}``: the
seller is still there. ``issued_at`` (Unix milliseconds, the seller's
clock) must fall within the directory's skew window and be later than
anything the directory accepted from that seller before, so neither can be
replayed.

:func:`read_announcement` and :func:`read_heartbeat` check, in order: the
shape (``malformed``), the announcement's signature by the seller it names
(``bad_signature``), that every offer names that seller (``wrong_seller``)
and is signed by it (``bad_signature``), and that the offers are the ones
the announcement lists (``malformed``). Nothing about time is checked here;
that is the directory's, which knows its clock (:func:`skew_problem`).

The **listing** a directory answers for a model pairs each live offer with
the announcement that lists it. A buyer trusts none of it:
:func:`read_listing` re-checks every signature, that the offer is in its
announcement, that the seller named beside it is the signed one, and that
the offer sells the model asked for, drops what fails, and sorts the rest
by :func:`price_order` itself. What the buyer must take on the directory's
word is only that a seller is live.

**Price order** (cheapest first): the input price plus the output price per
million tokens, then the seller's id, then the offer's name. The sum is
what one typical request mixes; ties are broken by names so every buyer
picks the same seller from the same listing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from ...routing.rules import pattern_matches
from ...settings_table import is_http_url
from ..documents import Document, DocumentError, decode, encode, is_sha256_hex, sha256_hex
from ..money import Prices
from ..offers import (
    OFFER,
    OfferError,
    offer_ref,
    terms_from_document,
)
from ..signing import Sealed, Signer, is_public_id, seal, unseal

# A directory's routes, below its URL (server.py serves them).
OFFERS_PATH = "/v1/directory/offers"
HEARTBEAT_PATH = "/v1/directory/heartbeat"
ANNOUNCEMENT = "announcement"
HEARTBEAT = "heartbeat"
DOCUMENT_VERSION = 1
# Offers in one announcement: a gateway sells a handful; a bound keeps one
# announcement well inside the directory's body limit.
MAX_OFFERS = 64
MAX_TIME = 2**63 - 1
# A listing entry that claims to live longer than this is not believed.
MAX_EXPIRES_IN_MS = 24 * 3600 * 1000
REASONS = ("malformed", "bad_signature", "wrong_seller")
_ANNOUNCEMENT_KEYS = frozenset({"type", "v", "seller", "url", "issued_at", "offers"})
_HEARTBEAT_KEYS = frozenset({"type", "v", "seller", "issued_at"})
_ENTRY_KEYS = frozenset({"seller", "url", "offer", "announcement", "expires_in_ms"})


class Refused(ValueError):
    """A document the directory (or a buyer) does not accept: ``reason`` is
    one of :data:`REASONS`, the message says what was found."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def _require(condition: bool, detail: str) -> None:
    if not condition:
        raise Refused("malformed", detail)


def _integer(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def _sealed(kind: str, value: object) -> Sealed:
    """A signed document of ``kind`` given as the JSON value of its envelope."""
    try:
        if not isinstance(value, dict):
            raise DocumentError(f"a signed {kind} is a JSON object")
        return unseal(kind, encode(value))
    except DocumentError as error:
        raise Refused("malformed", f"not a signed {kind}: {error}") from None


# ------------------------------------------------------------------- offers


@dataclass(frozen=True, kw_only=True, slots=True)
class SignedOffer:
    """A seller's signed offer, read back and checked."""

    name: str
    version: int
    seller: str
    models: tuple[str, ...]
    prices: Prices
    effective_at: int  # Unix ms
    data: bytes  # the canonical signed offer

    @property
    def hash(self) -> str:
        return sha256_hex(self.data)

    @property
    def ref(self) -> str:
        """``NAME@VERSION``, as receipts name it."""
        return offer_ref(self.name, self.version)

    def sells(self, model: str) -> bool:
        """Whether one of its patterns matches ``model`` (the routes' rule)."""
        return any(pattern_matches(pattern, model) for pattern in self.models)


def _offer(sealed: Sealed) -> SignedOffer:
    # The one rule of what an offer document is (offers.py), then its
    # seller's signature.
    try:
        terms = terms_from_document(sealed.body)
    except OfferError as error:
        raise Refused("malformed", str(error)) from None
    _require(is_public_id(terms.seller), "seller is not a public id")
    if not sealed.verified_by(terms.seller):
        raise Refused("bad_signature", f"offer {terms.name!r} is not signed by {terms.seller}")
    return SignedOffer(
        name=terms.name,
        version=terms.version,
        seller=terms.seller,
        models=terms.models,
        prices=terms.prices,
        effective_at=terms.effective_at,
        data=sealed.data,
    )


def read_offer(value: object) -> SignedOffer:
    """A signed offer (its envelope as a JSON value, or its canonical
    bytes), checked: its shape and its seller's signature."""
    if isinstance(value, bytes):
        try:
            return _offer(unseal(OFFER, value))
        except DocumentError as error:
            raise Refused("malformed", f"not a signed offer: {error}") from None
    return _offer(_sealed(OFFER, value))


def price_order(offer: SignedOffer) -> tuple[Decimal, str, str]:
    """The sort key of the price order (see the module docstring)."""
    return (offer.prices.input + offer.prices.output, offer.seller, offer.name)


# ------------------------------------------------------------- announcements


@dataclass(frozen=True, kw_only=True, slots=True)
class Announcement:
    seller: str
    url: str  # where buyers reach the seller
    issued_at: int  # Unix ms, the seller's clock
    offers: tuple[str, ...]  # SHA-256 hex of each signed offer

    def document(self) -> Document:
        return {
            "type": ANNOUNCEMENT,
            "v": DOCUMENT_VERSION,
            "seller": self.seller,
            "url": self.url,
            "issued_at": self.issued_at,
            "offers": list(self.offers),
        }

    @classmethod
    def from_document(cls, body: Document) -> Announcement:
        _require(set(body) == _ANNOUNCEMENT_KEYS, "not the members of an announcement")
        _require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} announcement")
        _require(is_public_id(body["seller"]), "seller is not a public id")
        _require(is_http_url(body["url"]), "url is not an http:// or https:// URL")
        _require(_integer(body["issued_at"], 0, MAX_TIME), "issued_at is not a time")
        hashes = body["offers"]
        _require(
            isinstance(hashes, list)
            and 0 < len(hashes) <= MAX_OFFERS
            and all(is_sha256_hex(item) for item in hashes)
            and len(set(hashes)) == len(hashes),
            f"offers is not a list of 1 to {MAX_OFFERS} distinct SHA-256 digests",
        )
        return cls(
            seller=body["seller"],
            url=body["url"],
            issued_at=body["issued_at"],
            offers=tuple(hashes),
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Announced:
    """An announcement and its offers, every signature checked."""

    announcement: Announcement
    data: bytes  # the canonical signed announcement
    offers: tuple[SignedOffer, ...]


def _announcement(value: object) -> tuple[Announcement, bytes]:
    sealed = _sealed(ANNOUNCEMENT, value)
    announcement = Announcement.from_document(sealed.body)
    if not sealed.verified_by(announcement.seller):
        raise Refused("bad_signature", f"the announcement is not signed by {announcement.seller}")
    return announcement, sealed.data


def announcement_body(
    signer: Signer, *, url: str, offers: Sequence[bytes], issued_at: int
) -> bytes:
    """What a seller posts to announce ``offers`` (its signed offers) at ``url``."""
    announcement = Announcement(
        seller=signer.public_id,
        url=url,
        issued_at=issued_at,
        offers=tuple(sha256_hex(data) for data in offers),
    )
    sealed = seal(ANNOUNCEMENT, announcement.document(), signer)
    return encode(
        {
            ANNOUNCEMENT: json.loads(sealed.data),
            "offers": [json.loads(data) for data in offers],
        }
    )


def read_announcement(body: bytes) -> Announced:
    """A seller's announcement request, checked as the module docstring
    says; raises :class:`Refused`."""
    try:
        document = decode(body)
    except DocumentError as error:
        raise Refused("malformed", f"not a canonical JSON document: {error}") from None
    _require(set(document) == {ANNOUNCEMENT, "offers"}, "the body is {announcement, offers}")
    announcement, data = _announcement(document[ANNOUNCEMENT])
    given = document["offers"]
    _require(
        isinstance(given, list) and len(given) == len(announcement.offers),
        "offers does not hold one signed offer for each hash the announcement lists",
    )
    offers = []
    for value in given:
        offer = _offer(_sealed(OFFER, value))  # shape first, then whose it is
        if offer.seller != announcement.seller:
            raise Refused(
                "wrong_seller",
                f"offer {offer.name!r} is {offer.seller}'s, not the announcing "
                f"{announcement.seller}'s",
            )
        offers.append(offer)
    _require(
        tuple(offer.hash for offer in offers) == announcement.offers,
        "the offers are not the ones the announcement lists (their SHA-256, in order)",
    )
    names = [offer.name for offer in offers]
    _require(len(set(names)) == len(names), "two versions of one offer in an announcement")
    return Announced(announcement=announcement, data=data, offers=tuple(offers))


# ---------------------------------------------------------------- heartbeats


@dataclass(frozen=True, kw_only=True, slots=True)
class Heartbeat:
    seller: str
    issued_at: int  # Unix ms, the seller's clock

    def document(self) -> Document:
        return {
            "type": HEARTBEAT,
            "v": DOCUMENT_VERSION,
            "seller": self.seller,
            "issued_at": self.issued_at,
        }


def heartbeat_body(signer: Signer, *, issued_at: int) -> bytes:
    """What a seller posts to say it is still there."""
    heartbeat = Heartbeat(seller=signer.public_id, issued_at=issued_at)
    return seal(HEARTBEAT, heartbeat.document(), signer).data


def read_heartbeat(body: bytes) -> Heartbeat:
    """A seller's heartbeat, checked: its shape and its signature."""
    try:
        sealed = unseal(HEARTBEAT, body)
    except DocumentError as error:
        raise Refused("malformed", f"not a signed heartbeat: {error}") from None
    document = sealed.body
    _require(set(document) == _HEARTBEAT_KEYS, "not the members of a heartbeat")
    _require(document["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} heartbeat")
    _require(is_public_id(document["seller"]), "seller is not a public id")
    _require(_integer(document["issued_at"], 0, MAX_TIME), "issued_at is not a time")
    if not sealed.verified_by(document["seller"]):
        raise Refused("bad_signature", f"the heartbeat is not signed by {document['seller']}")
    return Heartbeat(seller=document["seller"], issued_at=document["issued_at"])


def skew_problem(issued_at: int, now: int, skew_ms: int) -> str | None:
    """Why ``issued_at`` is not acceptable at ``now`` (both Unix ms), or None."""
    if abs(issued_at - now) <= skew_ms:
        return None
    ahead = "ahead of" if issued_at > now else "behind"
    return (
        f"issued_at is {abs(issued_at - now) / 1000:.1f} s {ahead} the directory's clock "
        f"(at most {skew_ms / 1000:g} s either way)"
    )


# ------------------------------------------------------------------- listing


@dataclass(frozen=True, kw_only=True, slots=True)
class ListedOffer:
    """One live offer as a buyer accepts it: every field is from a document
    the seller signed, except ``expires_in_ms`` (the directory's word)."""

    seller: str
    url: str
    offer: SignedOffer
    announcement: bytes  # the signed announcement that lists the offer at url
    expires_in_ms: int


@dataclass(frozen=True, kw_only=True, slots=True)
class Entry:
    """One row of a listing as the directory writes it."""

    offer: bytes  # the signed offer
    announcement: bytes  # the seller's signed announcement
    seller: str
    url: str
    expires_in_ms: int

    def document(self) -> Document:
        return {
            "seller": self.seller,
            "url": self.url,
            "offer": json.loads(self.offer),
            "announcement": json.loads(self.announcement),
            "expires_in_ms": self.expires_in_ms,
        }


def listing_body(entries: Sequence[Entry], *, model: str | None, ttl_ms: int) -> bytes:
    """The directory's answer to ``GET /v1/directory/offers``."""
    document: dict[str, Any] = {
        "offers": [entry.document() for entry in entries],
        "ttl_ms": ttl_ms,
    }
    if model is not None:
        document["model"] = model
    return encode(document)


def read_entry(value: object, model: str) -> ListedOffer:
    """One entry of a listing, checked as a buyer must; raises Refused."""
    if not isinstance(value, dict) or set(value) != _ENTRY_KEYS:
        raise Refused("malformed", "not a listing entry")
    announcement, data = _announcement(value["announcement"])
    offer = read_offer(value["offer"])
    if offer.seller != announcement.seller:
        raise Refused("wrong_seller", f"offer {offer.name!r} is not {announcement.seller}'s")
    _require(offer.hash in announcement.offers, "the offer is not one its announcement lists")
    _require(
        value["seller"] == announcement.seller and value["url"] == announcement.url,
        "the seller or url beside the offer is not the signed one",
    )
    _require(
        _integer(value["expires_in_ms"], 1, MAX_EXPIRES_IN_MS), "expires_in_ms is not a duration"
    )
    _require(offer.sells(model), f"offer {offer.ref} does not sell {model!r}")
    return ListedOffer(
        seller=announcement.seller,
        url=announcement.url,
        offer=offer,
        announcement=data,
        expires_in_ms=value["expires_in_ms"],
    )


def read_listing(data: bytes, model: str) -> tuple[list[ListedOffer], list[str]]:
    """A directory's listing for ``model`` as a buyer accepts it: the
    entries that pass :func:`read_entry`, cheapest first by
    :func:`price_order`, and why each other one was dropped. Raises
    Refused when ``data`` is not a listing at all."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError) as error:
        raise Refused("malformed", f"the listing is not JSON: {error}") from None
    _require(
        isinstance(document, dict) and isinstance(document.get("offers"), list),
        "the listing has no list of offers",
    )
    accepted: list[ListedOffer] = []
    dropped: list[str] = []
    for value in document["offers"]:
        try:
            accepted.append(read_entry(value, model))
        except Refused as refused:
            dropped.append(f"{refused.reason}: {refused.detail}")
    accepted.sort(key=lambda listed: price_order(listed.offer))
    return accepted, dropped
