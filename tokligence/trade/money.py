"""Token counts, prices and the one cost rule of trading.

Theory of operation
-------------------
Money is an integer number of micro-USD (millionths of a dollar), never a
float: both sides of a trade must compute the same number from the same
receipt. Prices are decimal strings in USD per million tokens with at most
six decimals, one price per kind of token (input, output, cache read, cache
write -- input excludes the cache tokens, as in the ledger).

The rule: ``cost = ceil(sum(tokens[kind] * price[kind]))``. A price in USD
per million tokens is exactly micro-USD per token, so each product is
already in micro-USD; with six decimals at most, the sum is exact in
``Decimal`` and only the final rounding happens, upwards (a seller never
sells a fraction of a micro-dollar below its price). Example: 1,000 input
tokens at ``2.50`` and 200 output tokens at ``10`` cost 2,500 + 2,000 =
4,500 micro-USD.

The bounds keep every cost inside a signed 64-bit integer (what the
documents and the database columns hold): at most 10**12 tokens of a kind
and 10**6 USD per million tokens, so a cost is at most 4 * 10**18 < 2**63.

A price has one text form in documents (:func:`price_text`: no trailing
zeros, no exponent), so the same offer signs to the same bytes however the
configuration spelt it; :func:`parse_price` accepts any plain decimal
spelling with six significant decimals at most.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, fields
from decimal import ROUND_CEILING, Decimal, Inexact, localcontext

TOKEN_KINDS = ("input", "output", "cache_read", "cache_write")
MAX_TOKENS = 10**12
MAX_PRICE = Decimal(10**6)
PRICE_PLACES = 6
_QUANTUM = Decimal(1).scaleb(-PRICE_PLACES)
# Digits enough for MAX_TOKENS * MAX_PRICE with six decimals, four times over.
_PRECISION = 40
_DECIMAL_TEXT = re.compile(r"[0-9]+(\.[0-9]+)?\Z")
MICRO = 1_000_000


class MoneyError(ValueError):
    """A token count or a price out of bounds; the message says which."""


def _count(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise MoneyError(f"{name} tokens must be an integer")
    if not 0 <= value <= MAX_TOKENS:
        raise MoneyError(f"{name} tokens must be between 0 and {MAX_TOKENS}")
    return value


@dataclass(frozen=True, kw_only=True, slots=True)
class Tokens:
    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0

    def __post_init__(self) -> None:
        for kind in TOKEN_KINDS:
            _count(kind, getattr(self, kind))

    def as_document(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in TOKEN_KINDS}

    @classmethod
    def from_document(cls, value: object) -> Tokens:
        """From ``{"input": N, …}`` with every kind and nothing else."""
        if not isinstance(value, Mapping) or set(value) != set(TOKEN_KINDS):
            raise MoneyError(f"tokens must name exactly {', '.join(TOKEN_KINDS)}")
        return cls(**{kind: _count(kind, value[kind]) for kind in TOKEN_KINDS})

    @property
    def total(self) -> int:
        return sum(getattr(self, kind) for kind in TOKEN_KINDS)


def parse_price(text: str, name: str = "price") -> Decimal:
    """A price in USD per million tokens from a plain decimal string
    (``2.5``, ``2.50``, ``10``): no sign, exponent or spaces; at most six
    decimal places that matter; at most :data:`MAX_PRICE`."""
    if not isinstance(text, str) or not _DECIMAL_TEXT.match(text):
        raise MoneyError(f"{name} must be a decimal number like 2.50, got {text!r}")
    return check_price(Decimal(text), name)


def check_price(value: Decimal, name: str = "price") -> Decimal:
    """``value`` when it is a price: finite, not negative, at most six
    decimal places, at most :data:`MAX_PRICE`."""
    if not isinstance(value, Decimal) or not value.is_finite():
        raise MoneyError(f"{name} must be a finite Decimal")
    if value < 0:
        raise MoneyError(f"{name} must not be negative")
    if value != value.quantize(_QUANTUM):
        raise MoneyError(f"{name} has more than {PRICE_PLACES} decimal places: {value}")
    if value > MAX_PRICE:
        raise MoneyError(f"{name} is above {MAX_PRICE} USD per million tokens: {value}")
    return value


def price_text(value: Decimal) -> str:
    """The one text form of a price in documents: ``2.5``, ``10``, ``0``."""
    text = f"{value.quantize(_QUANTUM):f}".rstrip("0").rstrip(".")
    return text or "0"


@dataclass(frozen=True, kw_only=True, slots=True)
class Prices:
    """USD per million tokens of each kind."""

    input: Decimal
    output: Decimal
    cache_read: Decimal
    cache_write: Decimal

    def __post_init__(self) -> None:
        for field in fields(self):
            check_price(getattr(self, field.name), f"{field.name} price")

    def as_document(self) -> dict[str, str]:
        return {kind: price_text(getattr(self, kind)) for kind in TOKEN_KINDS}

    @classmethod
    def from_document(cls, value: object) -> Prices:
        """From ``{"input": "2.5", …}``: every kind, each in its one text form."""
        if not isinstance(value, Mapping) or set(value) != set(TOKEN_KINDS):
            raise MoneyError(f"prices must name exactly {', '.join(TOKEN_KINDS)}")
        out = {kind: parse_price(value[kind], kind) for kind in TOKEN_KINDS}
        for kind in TOKEN_KINDS:
            if price_text(out[kind]) != value[kind]:
                raise MoneyError(
                    f"{kind} price {value[kind]!r} is not in its one text form"
                    f" {price_text(out[kind])!r}"
                )
        return cls(**out)


def cost_micro_usd(tokens: Tokens, prices: Prices) -> int:
    """``ceil(sum(tokens[kind] * price[kind]))`` in micro-USD, exactly."""
    with localcontext() as context:
        context.prec = _PRECISION
        context.traps[Inexact] = True  # the bounds make every step exact
        total = sum(
            (Decimal(getattr(tokens, kind)) * getattr(prices, kind) for kind in TOKEN_KINDS),
            Decimal(0),
        )
        return int(total.to_integral_value(rounding=ROUND_CEILING))


def usd_text(micro_usd: int) -> str:
    """Micro-USD as dollars with all six decimals: 4500 -> ``0.004500``."""
    sign = "-" if micro_usd < 0 else ""
    whole, part = divmod(abs(micro_usd), MICRO)
    return f"{sign}{whole}.{part:06d}"
