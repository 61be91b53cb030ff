"""The worst case a seller holds, usage as billed tokens, the buyer's
tolerance and the stream's receipt event (tables)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from tokligence.canonical import Usage
from tokligence.trade.metering import (
    UNBOUNDED_OUTPUT,
    beyond_tolerance,
    output_bound,
    receipt_event,
    stream_failed,
    tokens_of,
    worst_case,
)
from tokligence.trade.money import Prices, Tokens
from tokligence.wire.sse_read import SseDecoder, SseEvent

PRICES = Prices(
    input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal("0.25"), cache_write=Decimal(3)
)


@pytest.mark.parametrize(
    ("body", "model", "bound"),
    [
        ({"max_tokens": 200}, "gpt-4o-mini", 200),
        ({"max_completion_tokens": 300, "max_tokens": 100}, "gpt-4o-mini", 300),
        ({"max_output_tokens": 50}, "unknown-model", 50),
        ({"max_tokens": 10**9}, "gpt-4o-mini", 16_384),  # no more than the model can
        ({}, "gpt-4o-mini", 16_384),
        ({}, "claude-3-5-haiku", 8_192),
        ({}, "unknown-model", UNBOUNDED_OUTPUT),
        ({"max_tokens": 0, "stream": True}, "unknown-model", UNBOUNDED_OUTPUT),
        ({"max_tokens": True}, "unknown-model", UNBOUNDED_OUTPUT),
        ({"max_tokens": "200"}, "unknown-model", UNBOUNDED_OUTPUT),
    ],
)
def test_the_output_bound(body: dict[str, object], model: str, bound: int) -> None:
    assert output_bound(body, model) == bound


def test_the_worst_case_prices_every_byte_at_the_dearest_input_price() -> None:
    # 1,000 bytes at 3 (cache write, the dearest) + 200 output at 10.
    assert worst_case(1_000, {"max_tokens": 200}, "gpt-4o-mini", PRICES) == 5_000
    cheap = Prices(
        input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal(0), cache_write=Decimal(0)
    )
    # It covers the example exactly when the body is 1,000 bytes.
    assert worst_case(1_000, {"max_tokens": 200}, "gpt-4o-mini", cheap) == 4_500


def test_usage_as_billed_tokens() -> None:
    usage = Usage(input_tokens=10, output_tokens=20, cache_read_tokens=3, cache_write_tokens=4)
    assert tokens_of(usage) == Tokens(input=10, output=20, cache_read=3, cache_write=4)
    # Reasoning an upstream reports beyond its output count is output too.
    assert tokens_of(Usage(output_tokens=5, reasoning_tokens=9)).output == 9
    assert tokens_of(Usage(input_tokens=-3)) == Tokens()
    assert tokens_of(None) == Tokens()


@pytest.mark.parametrize(
    ("billed", "seen", "off"),
    [
        (Tokens(input=1000, output=200), Tokens(input=1000, output=200), []),
        (Tokens(input=1050, output=200), Tokens(input=1000, output=200), []),
        (Tokens(input=1051, output=200), Tokens(input=1000, output=200), ["input"]),
        (Tokens(input=1, output=1), Tokens(), []),  # one token is always allowed
        (Tokens(input=2), Tokens(), ["input"]),
        (Tokens(output=150), Tokens(output=200), ["output"]),
    ],
)
def test_tolerance(billed: Tokens, seen: Tokens, off: list[str]) -> None:
    found = beyond_tolerance(billed, seen, Decimal("0.05"))
    assert [item.split()[0] for item in found] == off


def test_the_receipt_event_is_one_sse_event() -> None:
    data = b'{"receipt":{"x":1},"sig":"AA"}'
    (event,) = [e for e in SseDecoder().feed(receipt_event(data)) if isinstance(e, SseEvent)]
    assert (event.event, event.data) == ("tokligence_receipt", data.decode())


@pytest.mark.parametrize(
    ("dialect", "data", "failed"),
    [
        ("openai_chat", b'data: {"error": {"message": "x"}}\n\n', True),
        ("openai_chat", b'data: {"choices": [{"delta": {"content": "{\\"error\\""}}]}\n\n', False),
        ("anthropic_messages", b'event: error\ndata: {"type": "error"}\n\n', True),
        ("anthropic_messages", b"event: message_stop\ndata: {}\n\n", False),
        ("openai_responses", b"event: response.failed\ndata: {}\n\n", True),
        ("openai_responses", b"event: response.completed\ndata: {}\n\n", False),
        ("openai_embeddings", b'data: {"error": {}}\n\n', False),
    ],
)
def test_an_in_stream_error_is_seen(dialect: str, data: bytes, failed: bool) -> None:
    assert stream_failed(dialect, data) is failed
