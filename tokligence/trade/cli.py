"""``tokligence trade id|verify|open|accounts|directory``; ``statement|reconcile|summary|settle``:
cli_ledger.

``id`` reads the configuration for the data directory and prints the node's
public id, creating its key on first use. ``verify`` reads no configuration
and opens no database: a receipt carries everything needed to check it, so
anyone can check one anywhere. ``open`` is the buyer's: it opens an account
at a seller (over HTTP, with the node key) and prints the peer section to
configure. ``accounts`` is the seller's: the buyers' accounts in the
ledger's database, their credit limits and keys.

Exit statuses as everywhere in the CLI: 0 done (a valid receipt); 1
refused or failed (an invalid receipt, a key file that cannot be used);
2 usage and configuration errors.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import Config, ConfigError
from .documents import MAX_DOCUMENT_BYTES, DocumentError, encode
from .node_key import NodeKeyError, key_path, load_or_create
from .offers import OfferError, terms_from_document
from .orders import AccountRequest, sign_account_request
from .receipts import verify_receipt
from .signing import is_public_id, unseal

EXIT_INVALID = 1
EXIT_USAGE = 2
# The header form is base64url of the document: four characters per three bytes.
_MAX_INPUT_BYTES = MAX_DOCUMENT_BYTES * 4 // 3 + 8


# Seconds the seller has to answer ``trade open``.
HTTP_TIMEOUT = 30.0


def run_trade(args: argparse.Namespace, prog: str, load: Callable[[], Config]) -> int:
    if args.action == "id":
        return _id(prog, load)
    if args.action == "directory":
        from .directory.cli import run_directory

        return run_directory(prog, load)
    if args.action == "verify":
        return _verify(args, prog)
    if args.action == "open":
        return _open(args, prog, load)
    if args.action == "accounts":
        from .cli_accounts import run_accounts

        return run_accounts(args, prog, load)
    # statement, reconcile, summary, settle: the book between peers.
    from .cli_ledger import run_ledger

    return run_ledger(args, prog, load)


def _id(prog: str, load: Callable[[], Config]) -> int:
    try:
        config = load()
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    try:
        signer, created = load_or_create(config.data_dir)
    except NodeKeyError as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    if created:
        print(f"{prog}: created the node key {key_path(config.data_dir)}", file=sys.stderr)
    print(signer.public_id)
    return 0


def _verify(args: argparse.Namespace, prog: str) -> int:
    if args.seller is not None and not is_public_id(args.seller):
        print(
            f"{prog}: error: --seller must be a public id, ed25519:<43 characters>",
            file=sys.stderr,
        )
        return EXIT_USAGE
    name = "standard input" if args.file == "-" else args.file
    try:
        if args.file == "-":
            data = sys.stdin.buffer.read(_MAX_INPUT_BYTES + 1)
        else:
            with Path(args.file).open("rb") as handle:
                data = handle.read(_MAX_INPUT_BYTES + 1)
    except OSError as error:
        print(f"{prog}: error: cannot read {name}: {error.strerror or error}", file=sys.stderr)
        return EXIT_INVALID
    verdict = verify_receipt(data, seller=args.seller)
    if not verdict.ok:
        print(f"{prog}: invalid receipt: {verdict.reason}: {verdict.detail}", file=sys.stderr)
        return EXIT_INVALID
    print(f"valid: {verdict.detail}")
    return 0


class _Refused(Exception):
    pass


def _http(method: str, url: str, body: bytes | None = None) -> tuple[int, Any]:
    """A small JSON exchange with a seller: (status, decoded body)."""
    request = urllib.request.Request(url, data=body, method=method)
    request.add_header("accept", "application/json")
    if body is not None:
        request.add_header("content-type", "application/json")
    try:
        with urllib.request.urlopen(request, timeout=HTTP_TIMEOUT) as response:
            status, data = response.status, response.read(MAX_DOCUMENT_BYTES + 1)
    except urllib.error.HTTPError as error:
        status, data = error.code, error.read(MAX_DOCUMENT_BYTES + 1)
    except (urllib.error.URLError, OSError) as error:
        raise _Refused(f"cannot reach {url}: {getattr(error, 'reason', error)}") from None
    try:
        return status, json.loads(data)
    except ValueError:
        return status, None


def _message(payload: Any) -> str:
    error = payload.get("error") if isinstance(payload, dict) else None
    if isinstance(error, dict):
        return f"{error.get('code') or error.get('type')}: {error.get('message')}"
    return "no JSON error"


def _seller_of(offers: Any, pinned: str | None) -> str:
    """The seller's id: ``pinned``, checked against every offer's signature,
    or the one its offers name (each signed by it)."""
    if not isinstance(offers, list) or not offers:
        raise _Refused("the seller lists no offers (GET /v1/trade/offers)")
    seller = pinned
    for item in offers:
        try:
            sealed = unseal("offer", encode(item))
            terms = terms_from_document(sealed.body)
        except (DocumentError, OfferError, TypeError) as error:
            raise _Refused(f"the seller's offers are not signed offers: {error}") from None
        seller = seller or terms.seller
        if terms.seller != seller or not sealed.verified_by(seller):
            raise _Refused(f"offer {terms.ref} is not signed by {seller}: refused")
    assert seller is not None
    return seller


def _open(args: argparse.Namespace, prog: str, load: Callable[[], Config]) -> int:
    if args.seller is not None and not is_public_id(args.seller):
        print(
            f"{prog}: error: --seller must be a public id, ed25519:<43 characters>", file=sys.stderr
        )
        return EXIT_USAGE
    try:
        config = load()
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    url = args.url.rstrip("/")
    try:
        signer, _ = load_or_create(config.data_dir)
        status, offers = _http("GET", url + "/v1/trade/offers")
        if status != 200:
            raise _Refused(f"{url} sells nothing here ({status} {_message(offers)})")
        seller = _seller_of(offers, args.seller)
        request = AccountRequest(
            buyer=signer.public_id, seller=seller, issued_at=int(time.time() * 1000)
        )
        sealed = sign_account_request(request, signer)
        status, opened = _http("POST", url + "/v1/trade/accounts", sealed.data)
        if status != 201 or not isinstance(opened, dict) or opened.get("seller") != seller:
            raise _Refused(f"the seller refused the account: {status} {_message(opened)}")
    except (_Refused, NodeKeyError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    if args.seller is None:
        print(
            f"{prog}: the seller's id is {seller}: check it with its owner before you trust it",
            file=sys.stderr,
        )
    print(
        f"{prog}: opened an account for {signer.public_id}; its credit limit is "
        f"{opened['account']['credit_limit_micro_usd']} micro-USD until the seller raises it",
        file=sys.stderr,
    )
    print(f"[trade.peer.{args.name}]")
    print(f"url = {url}")
    print(f"public_id = {seller}")
    print(f"api_key = {opened['api_key']}")
    return 0
