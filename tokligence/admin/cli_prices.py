"""``tokligence prices list|add``.

A price added here is picked up by a running gateway before its next ledger
batch: the writer reloads the price table whenever the table's version (row
count and highest id) has moved.
"""

from __future__ import annotations

import argparse
from decimal import Decimal

from ..config import Config
from ..ledger import db as dbmod
from ..ledger.prices import PriceEntry, list_prices
from . import api_input
from .api import add_price
from .api_output import iso, money, price_json
from .cli_common import (
    EXIT_USAGE,
    CommandFailed,
    ledger_database,
    print_csv,
    print_json,
    print_table,
    short_time,
)


def run_prices(args: argparse.Namespace, config: Config) -> int:
    with ledger_database(config) as db:
        if args.action == "list":
            with dbmod.connection(db):
                prices = list_prices(db, at=args.at)
            if args.json:
                print_json({"prices": [price_json(price) for price in prices]})
            elif args.csv:
                print_csv([price_json(price) for price in prices])
            else:
                _table(prices)
            return 0
        pattern = args.pattern.strip()
        if not 1 <= len(pattern) <= api_input.MAX_PATTERN_LENGTH:
            raise CommandFailed(
                f"MODEL_PATTERN must be 1 to {api_input.MAX_PATTERN_LENGTH} characters",
                EXIT_USAGE,
            )
        wanted = api_input.NewPrice(
            model_pattern=pattern,
            provider=args.provider.strip() or "*",
            input_per_mtok=args.input,
            output_per_mtok=args.output,
            cache_read_per_mtok=args.cache_read or Decimal(0),
            cache_write_per_mtok=args.cache_write or Decimal(0),
            effective_from=args.effective_from,
        )
        price = add_price(db, wanted)
    if args.json:
        print_json({"price": price_json(price)})
    else:
        print(
            f"added price {price.id}: {price.model_pattern} via {price.provider}, "
            f"USD {_per_m(price.input_per_mtok)} in / {_per_m(price.output_per_mtok)} out per "
            f"million tokens, from {short_time(iso(price.effective_from))} UTC"
        )
    return 0


def _per_m(value: Decimal) -> str:
    # 2.500000 -> 2.5: the stored six places are noise in a table.
    return money(value.normalize())


def _table(prices: list[PriceEntry]) -> None:
    print_table(
        (
            "ID",
            "MODEL PATTERN",
            "PROVIDER",
            "INPUT",
            "OUTPUT",
            "CACHE READ",
            "CACHE WRITE",
            "FROM (UTC)",
            "SOURCE",
        ),
        [
            (
                str(price.id),
                price.model_pattern,
                price.provider,
                _per_m(price.input_per_mtok),
                _per_m(price.output_per_mtok),
                _per_m(price.cache_read_per_mtok),
                _per_m(price.cache_write_per_mtok),
                short_time(iso(price.effective_from)),
                price.source or "-",
            )
            for price in prices
        ],
        right=frozenset({0, 3, 4, 5, 6}),
    )
