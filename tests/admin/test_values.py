"""The admin input values (pure): what each parser accepts and refuses."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal

import pytest

from tokligence.admin.api_input import parse_query
from tokligence.admin.values import parse_count, parse_id, parse_money, parse_time, shown
from tokligence.errors import GatewayError

UTC = timezone.utc


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-03-01", datetime(2026, 3, 1, tzinfo=UTC)),
        ("2026-03-01T12:30:00Z", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        ("2026-03-01t12:30:00z", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        ("2026-03-01T12:30:00", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),  # naive is UTC
        ("2026-03-01 12:30:00.250000", datetime(2026, 3, 1, 12, 30, 0, 250000, tzinfo=UTC)),
        ("2026-03-01T14:30:00+02:00", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
        (" 2026-03-01T07:30:00-05:00 ", datetime(2026, 3, 1, 12, 30, tzinfo=UTC)),
    ],
)
def test_parse_time(text: str, expected: datetime) -> None:
    moment = parse_time(text)
    assert moment == expected
    assert moment.utcoffset() == timedelta(0)


@pytest.mark.parametrize("text", ["", "yesterday", "2026-02-30", "2026-03-01T25:00", "1700000000"])
def test_parse_time_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="ISO 8601"):
        parse_time(text)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("5", Decimal("5")),
        (" 0.000001 ", Decimal("0.000001")),
        (0.1, Decimal("0.1")),  # the float's shortest repr, not its binary expansion
        (2.675, Decimal("2.675")),
        (100, Decimal(100)),
        (0, Decimal(0)),
        ("999999999999.999999", Decimal("999999999999.999999")),
    ],
)
def test_parse_money(value: object, expected: Decimal) -> None:
    assert parse_money(value) == expected


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        ("1.0000001", "more than 6 decimals"),
        (-0.5, "non-negative"),
        ("Infinity", "finite"),
        (float("nan"), "finite"),
        ("1e12", "less than"),
        ("ten", "decimal number"),
        (True, "decimal number"),
        (None, "decimal number"),
        ([1], "decimal number"),
    ],
)
def test_parse_money_refuses(value: object, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment):
        parse_money(value)


@pytest.mark.parametrize(
    ("text", "expected"), [("1", 1), (" 42 ", 42), (str(2**63 - 1), 2**63 - 1)]
)
def test_parse_id(text: str, expected: int) -> None:
    assert parse_id(text) == expected


@pytest.mark.parametrize("text", ["0", "-1", "1.0", "abc", "", "\u0661", str(2**63)])
def test_parse_id_refuses(text: str) -> None:
    with pytest.raises(ValueError, match="positive integer id"):
        parse_id(text)


def test_parse_count() -> None:
    assert parse_count("7", minimum=1, maximum=10) == 7
    assert parse_count(0, minimum=0, maximum=10) == 0
    for value in ("x", 1.0, True, None, "\u0663"):
        with pytest.raises(ValueError, match="must be an integer"):
            parse_count(value, minimum=0, maximum=10)
    with pytest.raises(ValueError, match="between 1 and 10"):
        parse_count("11", minimum=1, maximum=10)


def test_shown_cuts_long_input() -> None:
    assert shown("abc") == "'abc'"
    assert len(shown("x" * 500)) == 40 and shown("x" * 500).endswith("…")


def test_parse_query_keeps_plus_and_decodes_percent() -> None:
    assert parse_query(
        "since=2026-03-01T12:00:00+02:00&until=a%20b&x=", ("since", "until", "x")
    ) == {
        "since": "2026-03-01T12:00:00+02:00",
        "until": "a b",
    }
    assert parse_query("", ()) == {}
    with pytest.raises(GatewayError) as error:
        parse_query("secret=" + "k" * 100, ("limit",))
    assert error.value.param == "secret" and "k" * 50 not in error.value.message
