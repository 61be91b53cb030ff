"""Prices, token counts and the cost rule: exact, and the same on both sides."""

from __future__ import annotations

import math
import random
from decimal import Decimal
from fractions import Fraction

import pytest

from tokligence.trade.money import (
    MAX_PRICE,
    MAX_TOKENS,
    TOKEN_KINDS,
    MoneyError,
    Prices,
    Tokens,
    cost_micro_usd,
    parse_price,
    price_text,
    usd_text,
)


def prices(**given: str) -> Prices:
    values = {kind: parse_price(given.get(kind, "0")) for kind in TOKEN_KINDS}
    return Prices(**values)


def test_the_issues_example() -> None:
    cost = cost_micro_usd(Tokens(input=1_000, output=200), prices(input="2.50", output="10"))
    assert cost == 4_500
    assert usd_text(cost) == "0.004500"


@pytest.mark.parametrize(
    ("tokens", "given", "expected"),
    [
        (Tokens(), {"input": "1000000"}, 0),
        (Tokens(input=1), {"input": "0.000001"}, 1),  # a millionth of a micro-dollar rounds up
        (Tokens(input=999_999), {"input": "0.000001"}, 1),
        (Tokens(input=1_000_000), {"input": "0.000001"}, 1),
        (Tokens(input=1_000_001), {"input": "0.000001"}, 2),
        (Tokens(cache_read=3), {"cache_read": "0.333333"}, 1),
        (Tokens(cache_write=1_000), {"cache_write": "3.75"}, 3_750),
        (Tokens(input=1, output=1), {"input": "0.5", "output": "0.5"}, 1),  # summed, then rounded
        (
            Tokens(
                input=MAX_TOKENS, output=MAX_TOKENS, cache_read=MAX_TOKENS, cache_write=MAX_TOKENS
            ),
            {kind: str(MAX_PRICE) for kind in TOKEN_KINDS},
            4 * 10**18,
        ),
    ],
)
def test_cost_table(tokens: Tokens, given: dict[str, str], expected: int) -> None:
    assert cost_micro_usd(tokens, prices(**given)) == expected
    assert expected < 2**63


def _random_price(rng: random.Random) -> str:
    whole = rng.choice((0, 0, 1, 3, 15, 75, rng.randrange(10**6)))
    places = rng.randrange(7)
    fraction = "".join(str(rng.randrange(10)) for _ in range(places))
    return f"{whole}.{fraction}" if fraction else str(whole)


def test_cost_matches_an_independent_rational_computation() -> None:
    rng = random.Random(2026)
    for _ in range(5_000):
        counts = {
            kind: rng.choice((0, 1, rng.randrange(10**3), rng.randrange(10**7), MAX_TOKENS))
            for kind in TOKEN_KINDS
        }
        texts = {kind: _random_price(rng) for kind in TOKEN_KINDS}
        expected = math.ceil(sum(Fraction(counts[k]) * Fraction(texts[k]) for k in TOKEN_KINDS))
        assert cost_micro_usd(Tokens(**counts), prices(**texts)) == expected, (counts, texts)


@pytest.mark.parametrize(
    ("text", "value", "canonical"),
    [
        ("0", Decimal(0), "0"),
        ("2.50", Decimal("2.5"), "2.5"),
        ("02.5", Decimal("2.5"), "2.5"),
        ("10", Decimal(10), "10"),
        ("10.000", Decimal(10), "10"),
        ("0.000001", Decimal("0.000001"), "0.000001"),
        ("2.5000000", Decimal("2.5"), "2.5"),  # trailing zeros are not places that matter
        ("1000000", MAX_PRICE, "1000000"),
    ],
)
def test_prices_parse_and_have_one_text_form(text: str, value: Decimal, canonical: str) -> None:
    assert parse_price(text) == value
    assert price_text(parse_price(text)) == canonical


@pytest.mark.parametrize(
    "text",
    [
        "",
        "-1",
        "+1",
        "1e3",
        "1E-6",
        " 1",
        "1 ",
        "1.",
        ".5",
        "1,5",
        "0.0000001",
        "1000000.000001",
        "NaN",
        "Infinity",
        "\u0661",  # ARABIC-INDIC DIGIT ONE: a digit, but not an ASCII one
        "0x10",
    ],
)
def test_bad_prices_are_refused(text: str) -> None:
    with pytest.raises(MoneyError):
        parse_price(text)


def test_price_values_are_checked_too() -> None:
    good = dict.fromkeys(TOKEN_KINDS, Decimal(1))
    for bad in (Decimal(-1), Decimal("NaN"), Decimal("1e-7"), MAX_PRICE + 1):
        with pytest.raises(MoneyError):
            Prices(**{**good, "output": bad})
    with pytest.raises(MoneyError):
        Prices(**{**good, "input": 1})  # type: ignore[arg-type]


@pytest.mark.parametrize("count", [-1, MAX_TOKENS + 1, True, 1.0, "1"])
def test_bad_token_counts_are_refused(count: object) -> None:
    with pytest.raises(MoneyError):
        Tokens(input=count)  # type: ignore[arg-type]


def test_documents_of_tokens_and_prices() -> None:
    tokens = Tokens(input=1, output=2, cache_read=3, cache_write=4)
    assert tokens.as_document() == {"input": 1, "output": 2, "cache_read": 3, "cache_write": 4}
    assert Tokens.from_document(tokens.as_document()) == tokens
    assert tokens.total == 10
    listed = prices(input="2.50", output="10")
    assert listed.as_document() == {
        "input": "2.5",
        "output": "10",
        "cache_read": "0",
        "cache_write": "0",
    }
    assert Prices.from_document(listed.as_document()) == listed
    for bad in (
        {"input": 1, "output": 2, "cache_read": 3},
        {"input": 1, "output": 2, "cache_read": 3, "cache_write": 4, "reasoning": 5},
        [1, 2, 3, 4],
    ):
        with pytest.raises(MoneyError):
            Tokens.from_document(bad)
    with pytest.raises(MoneyError, match="one text form"):
        Prices.from_document({**listed.as_document(), "input": "2.50"})
    with pytest.raises(MoneyError):
        Prices.from_document({**listed.as_document(), "input": 2})


def test_usd_text() -> None:
    assert [usd_text(n) for n in (0, 1, 4_500, 1_000_000, 12_345_678, -4_500)] == [
        "0.000000",
        "0.000001",
        "0.004500",
        "1.000000",
        "12.345678",
        "-0.004500",
    ]
