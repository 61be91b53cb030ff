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
import sys
from collections.abc import Callable
from pathlib import Path

from ..config import Config, ConfigError
from .documents import MAX_DOCUMENT_BYTES
from .node_key import NodeKeyError, key_path, load_or_create
from .opening import HTTP_TIMEOUT, OpenRefused, open_account
from .receipts import verify_receipt
from .signing import is_public_id

EXIT_INVALID = 1
EXIT_USAGE = 2
# The header form is base64url of the document: four characters per three bytes.
_MAX_INPUT_BYTES = MAX_DOCUMENT_BYTES * 4 // 3 + 8


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
        opened = open_account(url, signer, args.seller, timeout=HTTP_TIMEOUT)
    except (OpenRefused, NodeKeyError) as error:
        print(f"{prog}: error: {error}", file=sys.stderr)
        return EXIT_INVALID
    seller = opened.seller
    if args.seller is None:
        print(
            f"{prog}: the seller's id is {seller}: check it with its owner before you trust it",
            file=sys.stderr,
        )
    print(
        f"{prog}: opened an account for {signer.public_id}; its credit limit is "
        f"{opened.credit_limit} micro-USD until the seller raises it",
        file=sys.stderr,
    )
    print(f"[trade.peer.{args.name}]")
    print(f"url = {url}")
    print(f"public_id = {seller}")
    print(f"api_key = {opened.api_key}")
    return 0
