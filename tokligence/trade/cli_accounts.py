"""``tokligence trade accounts``: the seller's view of its buyers.

Works on the ledger's database whether or not the gateway runs, like the
other management commands (``admin/cli_common.py``): a credit limit set
here holds for the next reservation, and a rotated key for the next
request.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable

from ..admin.cli_common import (
    EXIT_USAGE,
    CommandFailed,
    guarded,
    ledger_database,
    print_json,
    print_table,
)
from ..config import Config
from ..identity.keys import hash_key, key_prefix
from . import store
from .migrations import migrate_trade
from .seller import account_json, new_account_key
from .signing import is_public_id


def run_accounts(args: argparse.Namespace, prog: str, load: Callable[[], Config]) -> int:
    return guarded(prog, lambda: _accounts(args, load()))


def _buyer(text: str) -> str:
    if not is_public_id(text):
        raise CommandFailed("BUYER must be a public id, ed25519:<43 characters>", EXIT_USAGE)
    return text


def _accounts(args: argparse.Namespace, config: Config) -> int:
    credit: tuple[str, int] | None = None
    if args.set_credit is not None:
        buyer, amount = args.set_credit
        if not amount.isascii() or not amount.isdigit() or int(amount) > store.MAX_AMOUNT:
            raise CommandFailed("MICRO_USD must be a whole number of micro-USD", EXIT_USAGE)
        credit = (_buyer(buyer), int(amount))
    rotate = _buyer(args.rotate) if args.rotate is not None else None
    with ledger_database(config) as db:
        migrate_trade(db)
        try:
            if credit is not None:
                changed = store.set_credit_limit(db, *credit)
                return _show(args, [changed], listing=False)
            if rotate is not None:
                key = new_account_key()
                changed = store.rotate_key(
                    db, rotate, key_hash=hash_key(key), key_prefix=key_prefix(key)
                )
                if args.json:
                    print_json({"account": account_json(changed), "api_key": key})
                else:
                    print(
                        f"the account of {rotate} has a new key, shown once; its old key no "
                        "longer works:",
                        file=sys.stderr,
                    )
                    print(key)
                return 0
        except store.StoreConflict as conflict:
            raise CommandFailed(str(conflict)) from None
        return _show(args, store.accounts(db), listing=True)


def _show(args: argparse.Namespace, accounts: list[store.AccountRecord], *, listing: bool) -> int:
    if args.json:
        print_json({"accounts": [account_json(account) for account in accounts]})
        return 0
    header = ("ID", "BUYER", "KEY", "STATUS", "CREDIT", "RESERVED", "POSTED", "AVAILABLE")
    rows = [
        (
            str(a.id),
            a.buyer,
            a.key_prefix + "…",
            a.status,
            str(a.credit_limit),
            str(a.reserved),
            str(a.posted),
            str(a.available),
        )
        for a in accounts
    ]
    print_table(header, rows, right=frozenset({0, 4, 5, 6, 7}))
    if not accounts and listing:
        print("(no accounts: buyers open them with tokligence trade open)", file=sys.stderr)
    return 0
