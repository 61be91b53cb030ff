"""Opening an account at a seller: the buyer's signed ``account_request``.

One exchange, used by ``tokligence trade open`` and by ``peer:auto`` when it
first buys from a seller the directory found (``trade/auto.py``): fetch the
seller's offers (``GET /v1/trade/offers``) and check that the seller's key
signed every one, then post the signed ``account_request`` (``POST
/v1/trade/accounts``) and read back the account and its key, shown once.
Blocking (``urllib``): the CLI calls it directly, the gateway in a thread.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any

from .documents import MAX_DOCUMENT_BYTES, DocumentError, encode
from .offers import OfferError, terms_from_document
from .orders import AccountRequest, sign_account_request
from .signing import Signer, unseal

# Seconds the seller has to answer each of the two requests.
HTTP_TIMEOUT = 30.0


class OpenRefused(Exception):
    """No account: the seller cannot be reached, its offers are not signed
    by it, or it refused (``status`` and ``code`` then say how)."""

    def __init__(self, message: str, *, status: int = 0, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


@dataclass(frozen=True, kw_only=True, slots=True)
class Opened:
    seller: str  # the seller's public id, checked against its offers
    api_key: str  # the account's key, shown this once
    credit_limit: int  # micro-USD


def _http(method: str, url: str, body: bytes | None, timeout: float) -> tuple[int, Any]:
    """A small JSON exchange with a seller: (status, decoded body)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("accept", "application/json")
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            status, data = response.status, response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError) as error:
        raise OpenRefused(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


def _error(payload: Any) -> tuple[str, str]:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return str(error.get("code") or error.get("type") or ""), str(error.get("message"))
    return "", "no JSON error"


def _message(payload: Any) -> str:
    code, message = _error(payload)
    return f"{code}: {message}" if code else message


def seller_of(offers: Any, pinned: str | None) -> str:
    """The seller's id: ``pinned``, checked against every offer's signature,
    or the one its offers name (each signed by it)."""
    if not isinstance(offers, list) or not offers:
        raise OpenRefused("the seller lists no offers (GET /v1/trade/offers)")
    seller = pinned
    for item in offers:
        try:
            sealed = unseal("offer", encode(item))
            terms = terms_from_document(sealed.body)
        except (DocumentError, OfferError, TypeError) as error:
            raise OpenRefused(f"the seller's offers are not signed offers: {error}") from None
        seller = seller or terms.seller
        if terms.seller != seller or not sealed.verified_by(seller):
            raise OpenRefused(f"offer {terms.ref} is not signed by {seller}: refused")
    assert seller is not None
    return seller


def open_account(
    url: str, signer: Signer, seller: str | None, *, timeout: float = HTTP_TIMEOUT
) -> Opened:
    """Open ``signer``'s account at the seller gateway at ``url`` (pinned
    to ``seller`` when given); raises :class:`OpenRefused`."""
    url = url.rstrip("/")
    status, offers = _http("GET", url + "/v1/trade/offers", None, timeout)
    if status != 200:
        raise OpenRefused(f"{url} sells nothing here ({status} {_message(offers)})", status=status)
    seller = seller_of(offers, seller)
    request = AccountRequest(
        buyer=signer.public_id, seller=seller, issued_at=int(time.time() * 1000)
    )
    sealed = sign_account_request(request, signer)
    status, opened = _http("POST", url + "/v1/trade/accounts", sealed.data, timeout)
    if status != 201 or not isinstance(opened, dict) or opened.get("seller") != seller:
        code, _ = _error(opened)
        raise OpenRefused(
            f"the seller refused the account: {status} {_message(opened)}", status=status, code=code
        )
    try:
        api_key = str(opened["api_key"])
        credit = int(opened["account"]["credit_limit_micro_usd"])
    except (KeyError, TypeError, ValueError):
        raise OpenRefused("the seller's answer names no account and key", status=status) from None
    return Opened(seller=seller, api_key=api_key, credit_limit=credit)
