"""Which price applies to a request, and what it costs (pure, table-driven)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from fractions import Fraction

import pytest

from tokligence.ledger.prices import (
    ANY_PROVIDER,
    PriceBook,
    PriceEntry,
    cost_usd,
    load_seed,
    parse_price,
    pattern_specificity,
)
from tokligence.routing import pattern_matches

from .rows import T0, make_row

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
T1 = T0 + timedelta(days=10)


def price(
    pattern: str,
    provider: str = "*",
    input_: str = "1",
    *,
    effective_from: datetime = EPOCH,
    id_: int | None = None,
) -> PriceEntry:
    return PriceEntry(
        model_pattern=pattern,
        provider=provider,
        input_per_mtok=Decimal(input_),
        output_per_mtok=Decimal(0),
        cache_read_per_mtok=Decimal(0),
        cache_write_per_mtok=Decimal(0),
        effective_from=effective_from,
        id=id_,
    )


# Each entry's input price names it, so a test reads which one won.
TABLE = (
    price("gpt-4o", "openai", "1"),
    price("gpt-4o*", "*", "2"),
    price("*", "*", "3"),
    price("*", "local", "4"),
    price("gpt-4o-mini", "openai", "5"),
    price("*-mini", "*", "6"),
    price("*mini*", "*", "7"),
    price("abc*", "*", "8"),
    price("*xyz", "*", "9"),
    # Not in force until T1: before it, the general patterns apply.
    price("late-model", "*", "10", effective_from=T1),
)


def select_price(
    entries: tuple[PriceEntry, ...], *, model: str, provider: str, at: datetime
) -> PriceEntry | None:
    """The oracle: the module doc's rule read literally, entry by entry,
    against which the price book's cached lookup is checked."""
    best: PriceEntry | None = None
    for entry in entries:
        if entry.effective_from > at or entry.provider not in (ANY_PROVIDER, provider):
            continue
        if not pattern_matches(entry.model_pattern, model):
            continue
        rank = (entry.specificity, entry.effective_from, entry.id or 0)
        if best is None or rank > (best.specificity, best.effective_from, best.id or 0):
            best = entry
    return best


@pytest.mark.parametrize(
    ("model", "provider", "at", "winner"),
    [
        ("gpt-4o", "openai", T0, "1"),  # exact, provider-specific
        ("GPT-4O", "openai", T0, "1"),  # patterns match case-insensitively
        ("gpt-4o", "azure", T0, "2"),  # the exact row is openai's only
        ("gpt-4o-2024-08-06", "openai", T0, "2"),  # longest prefix
        ("gpt-4o-mini", "openai", T0, "5"),
        ("gpt-4o-mini", "azure", T0, "2"),  # prefix "gpt-4o" (6) > suffix "-mini" (5)
        ("o4-mini", "azure", T0, "6"),  # suffix "-mini" (5) > contains "mini" (4)
        ("minimal", "azure", T0, "7"),  # contains
        ("gpt-4o", "local", T0, "4"),  # provider-specific "*" beats a "*" provider's exact
        ("llama-3", "azure", T0, "3"),  # catch-all
        ("abcxyz", "azure", T0, "8"),  # equal literal length: prefix over suffix
        ("late-model", "azure", T0, "3"),  # specific row not yet in force
        ("late-model", "azure", T1, "10"),  # in force from its instant on
    ],
)
def test_the_most_specific_price_in_force_wins(
    model: str, provider: str, at: datetime, winner: str
) -> None:
    chosen = select_price(TABLE, model=model, provider=provider, at=at)
    assert chosen is not None and chosen.input_per_mtok == Decimal(winner)
    booked = PriceBook(TABLE).find(model=model, provider=provider, at=at)
    assert booked == chosen


def test_no_price_applies_without_a_match() -> None:
    table = (price("gpt-4o", "openai"), price("claude*", "anthropic"))
    for book_find in (
        lambda **kw: select_price(table, **kw),
        lambda **kw: PriceBook(table).find(**kw),
    ):
        assert book_find(model="gpt-4o", provider="azure", at=T0) is None
        assert book_find(model="mistral", provider="openai", at=T0) is None
        assert book_find(model="gpt-4o", provider="openai", at=EPOCH - timedelta(1)) is None


def test_history_applies_the_price_of_the_request_time() -> None:
    history = (
        price("m", "*", "1", effective_from=T0, id_=1),
        price("m", "*", "2", effective_from=T1, id_=2),
        price("m", "*", "3", effective_from=T1 + timedelta(days=30), id_=3),
    )
    book = PriceBook(history)
    expectations = [
        (T0 - timedelta(microseconds=1), None),
        (T0, "1"),
        (T1 - timedelta(microseconds=1), "1"),
        (T1, "2"),
        (T1 + timedelta(days=29), "2"),
        (T1 + timedelta(days=31), "3"),
    ]
    for at, expected in expectations:
        found = book.find(model="m", provider="openai", at=at)
        assert (found and str(found.input_per_mtok)) == expected, at


@pytest.mark.parametrize(
    ("pattern", "rank"),
    [
        ("*", (0, 0, 0)),
        ("gpt-4o", (2, 6, 0)),
        ("gpt-4o*", (1, 6, 2)),
        ("*-mini", (1, 5, 1)),
        ("*mini*", (1, 4, 0)),
    ],
)
def test_pattern_specificity(pattern: str, rank: tuple[int, int, int]) -> None:
    assert pattern_specificity(pattern) == rank


def test_cost_is_exact_and_prices_each_kind_of_token() -> None:
    rate = PriceEntry(
        model_pattern="m",
        input_per_mtok=Decimal("2.5"),
        output_per_mtok=Decimal("10"),
        cache_read_per_mtok=Decimal("0.075"),
        cache_write_per_mtok=Decimal("3.75"),
        effective_from=EPOCH,
    )
    row = make_row(
        input_tokens=1234,
        output_tokens=567,
        reasoning_tokens=500,  # part of output: not charged again
        cache_read_tokens=89_012,
        cache_write_tokens=3_456,
    )
    expected = (
        Fraction(1234) * Fraction("2.5")
        + Fraction(567) * 10
        + Fraction(89_012) * Fraction("0.075")
        + Fraction(3_456) * Fraction("3.75")
    ) / 1_000_000
    cost = cost_usd(row, rate)
    assert Fraction(cost) == expected
    assert cost == Decimal("0.028390900000")
    assert cost.as_tuple().exponent == -12


def test_cost_keeps_the_smallest_and_largest_amounts_exact() -> None:
    tiny = PriceEntry(
        model_pattern="m",
        input_per_mtok=Decimal("0.000001"),
        output_per_mtok=Decimal("999999999999.999999"),
        cache_read_per_mtok=Decimal(0),
        cache_write_per_mtok=Decimal(0),
        effective_from=EPOCH,
    )
    assert cost_usd(make_row(input_tokens=1), tiny) == Decimal("0.000000000001")
    huge = cost_usd(make_row(output_tokens=2**62), tiny)
    assert Fraction(huge) == Fraction(2**62) * Fraction("999999999999.999999") / 10**6


def test_cost_of_a_row_without_tokens_is_zero_not_unknown() -> None:
    book = PriceBook((price("gpt-4o-mini", "openai", "0.15"),))
    assert book.cost(make_row(status=500, error_kind="api_error")) == Decimal(0)
    assert book.cost(make_row(upstream_model="unknown")) is None


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("-1", "must not be negative"),
        ("0.0000001", "more than 6 decimals"),
        ("abc", "is not a decimal number"),
        ("NaN", "finite"),
        ("Infinity", "finite"),
    ],
)
def test_bad_prices_are_refused(text: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_price(text)


def test_price_entries_validate_their_fields() -> None:
    with pytest.raises(ValueError, match="model_pattern"):
        price(" ")
    with pytest.raises(ValueError, match="provider"):
        price("m", "")
    with pytest.raises(ValueError, match="timezone-aware"):
        price("m", effective_from=datetime(2026, 1, 1))


SEED_EXPECTATIONS = [
    # (model as the API names it, provider, input, output, cache read, cache write)
    ("gpt-4o", "openai", "2.50", "10.00", "1.25", "0"),
    ("gpt-4o-2024-08-06", "openai", "2.50", "10.00", "1.25", "0"),
    ("gpt-4o-mini-2024-07-18", "openai", "0.15", "0.60", "0.075", "0"),
    ("gpt-4.1", "openai", "2.00", "8.00", "0.50", "0"),
    ("gpt-4.1-mini-2025-04-14", "openai", "0.40", "1.60", "0.10", "0"),
    ("o3", "openai", "2.00", "8.00", "0.50", "0"),
    ("o4-mini-2025-04-16", "openai", "1.10", "4.40", "0.275", "0"),
    ("gpt-5-2025-08-07", "openai", "1.25", "10.00", "0.125", "0"),
    ("gpt-5-mini", "openai", "0.25", "2.00", "0.025", "0"),
    ("claude-opus-4-20250514", "anthropic", "15", "75", "1.50", "18.75"),
    ("claude-opus-4-1-20250805", "anthropic", "15", "75", "1.50", "18.75"),
    ("claude-opus-4-5-20251101", "anthropic", "5", "25", "0.50", "6.25"),
    ("claude-opus-4-6", "anthropic", "5", "25", "0.50", "6.25"),
    ("claude-sonnet-4-20250514", "anthropic", "3", "15", "0.30", "3.75"),
    ("claude-sonnet-4-5", "anthropic", "3", "15", "0.30", "3.75"),
    ("claude-haiku-4-5-20251001", "anthropic", "1", "5", "0.10", "1.25"),
    ("claude-3-5-haiku-latest", "anthropic", "0.80", "4", "0.08", "1"),
]


@pytest.mark.parametrize(("model", "provider", "inp", "out", "cread", "cwrite"), SEED_EXPECTATIONS)
def test_seed_prices_cover_common_models(
    model: str, provider: str, inp: str, out: str, cread: str, cwrite: str
) -> None:
    found = PriceBook(load_seed()).find(model=model, provider=provider, at=T0)
    assert found is not None, model
    assert (
        found.input_per_mtok,
        found.output_per_mtok,
        found.cache_read_per_mtok,
        found.cache_write_per_mtok,
    ) == (Decimal(inp), Decimal(out), Decimal(cread), Decimal(cwrite))
    assert found.source is not None and found.source.startswith("seed: https://")


def test_seed_prices_are_the_vendors_own_and_skip_unlisted_models() -> None:
    book = PriceBook(load_seed())
    # List prices belong to the vendor's API, not to another provider's.
    assert book.find(model="gpt-4o", provider="azure", at=T0) is None
    for model in ("o3-mini", "o3-pro", "gpt-4o-mini-realtime-preview", "o4-mini-deep-research"):
        assert book.find(model=model, provider="openai", at=T0) is None, model


def test_seed_file_parsing_rejects_inexact_numbers() -> None:
    text = (
        '{"effective_from": "1970-01-01T00:00:00Z", "prices": [{"model_pattern": "m",'
        ' "input_per_mtok": "1.0000001", "output_per_mtok": "1", "cache_read_per_mtok": "1",'
        ' "cache_write_per_mtok": "1", "source": "s", "as_of": "2026-01-01"}]}'
    )
    with pytest.raises(ValueError, match=r"m\.input_per_mtok has more than 6 decimals"):
        load_seed(text)
