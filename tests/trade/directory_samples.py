"""Signed offers, announcements and heartbeats for the directory's tests,
made with the fixed test keys (tests/trade/keys.py)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from tokligence.trade.directory.documents import announcement_body, heartbeat_body
from tokligence.trade.documents import encode
from tokligence.trade.money import Prices
from tokligence.trade.offers import OFFER, Offer, offer_document
from tokligence.trade.signing import Signer, seal

from .keys import SELLER

URL = "http://127.0.0.1:8081"
EFFECTIVE = 1_767_225_600_000  # 2026-01-01T00:00:00Z
NOW = EFFECTIVE + 60_000  # the directory's clock in these tests


def offer(
    signer: Signer = SELLER,
    *,
    name: str = "fast",
    version: int = 1,
    price_input: str = "2.5",
    price_output: str = "10",
    models: Sequence[str] = ("gpt-4o-mini", "gpt-4.1*"),
    seller: str | None = None,
) -> bytes:
    """A signed offer; ``seller`` names someone else than the signer (a forgery)."""
    terms = Offer(
        name=name,
        models=tuple(models),
        provider="loopback",
        prices=Prices(
            input=Decimal(price_input),
            output=Decimal(price_output),
            cache_read=Decimal(price_input),
            cache_write=Decimal(price_input),
        ),
    )
    body = offer_document(
        terms,
        seller=seller or signer.public_id,
        version=version,
        effective_at=EFFECTIVE,
    )
    return seal(OFFER, body, signer).data


def signed_body(kind: str, body: dict[str, Any], signer: Signer) -> bytes:
    """Any body, signed as ``kind`` (for documents of a wrong shape)."""
    return seal(kind, body, signer).data


def announce(
    signer: Signer = SELLER,
    offers: Sequence[bytes] | None = None,
    *,
    url: str = URL,
    issued_at: int = NOW,
) -> bytes:
    return announcement_body(
        signer,
        url=url,
        offers=list(offers) if offers is not None else [offer(signer)],
        issued_at=issued_at,
    )


def heartbeat(signer: Signer = SELLER, *, issued_at: int = NOW + 1) -> bytes:
    return heartbeat_body(signer, issued_at=issued_at)


def as_json(data: bytes) -> Any:
    return json.loads(data)


def rewritten(data: bytes, change: Any) -> bytes:
    """``data`` (a canonical document) with ``change(document)`` applied,
    re-encoded: signatures inside are left as they were."""
    document = json.loads(data)
    change(document)
    return encode(document)
