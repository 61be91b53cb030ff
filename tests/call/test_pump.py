"""pump(): items in order, bursts as one batch, keep-alives on silence,
errors out as themselves, and a bounded lead over a slow consumer."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest
import trio
import trio.testing

from tokligence.call.pump import PUMP_BUFFER, PUMP_BURST, pump


async def _bursts(*bursts: list[int], gap: float = 1.0) -> AsyncIterator[int]:
    """Each burst's items at once, then a silence of ``gap`` seconds."""
    for index, burst in enumerate(bursts):
        if index:
            await trio.sleep(gap)
        for item in burst:
            yield item


async def test_a_burst_arrives_as_one_batch_in_order(
    autojump_clock: trio.testing.MockClock,
) -> None:
    batches: list[list[int]] = []

    async def on_batch(batch: list[int]) -> None:
        batches.append(batch)

    async def on_idle() -> None:
        raise AssertionError("no silence is longer than the interval")

    await pump(_bursts([1, 2, 3], [4, 5], [6]), 5.0, on_batch, on_idle)
    assert batches == [[1, 2, 3], [4, 5], [6]]


async def test_silence_longer_than_the_interval_calls_on_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    seen: list[object] = []

    async def on_batch(batch: list[int]) -> None:
        seen.append(batch)

    async def on_idle() -> None:
        seen.append("idle")

    await pump(_bursts([1], [2], gap=2.5), 1.0, on_batch, on_idle)
    assert seen == [[1], "idle", "idle", [2]]


async def test_a_source_error_comes_out_as_itself_after_what_came_before() -> None:
    batches: list[list[int]] = []

    async def failing() -> AsyncIterator[int]:
        yield 1
        await trio.sleep(0.01)
        raise ValueError("upstream broke")

    async def on_batch(batch: list[int]) -> None:
        batches.append(batch)

    async def on_idle() -> None:
        pass

    with pytest.raises(ValueError, match="upstream broke"):
        await pump(failing(), None, on_batch, on_idle)
    assert batches == [[1]]


async def test_a_consumer_error_stops_the_producer() -> None:
    produced = 0

    async def endless() -> AsyncIterator[int]:
        nonlocal produced
        while True:
            produced += 1
            yield produced
            await trio.sleep(0)

    async def on_batch(batch: list[int]) -> None:
        raise ConnectionError("client went away")

    async def on_idle() -> None:
        pass

    with pytest.raises(ConnectionError):
        await pump(endless(), None, on_batch, on_idle)
    stopped_at = produced
    await trio.sleep(0.05)
    assert produced == stopped_at


async def test_the_producer_runs_at_most_a_buffer_ahead_of_a_slow_consumer(
    autojump_clock: trio.testing.MockClock,
) -> None:
    produced = 0
    consumed = 0
    lead = 0

    async def instant() -> AsyncIterator[int]:
        nonlocal produced
        for item in range(PUMP_BUFFER * 4):
            produced += 1
            yield item
        # never waits: only the bounded buffer holds it back

    async def on_batch(batch: list[int]) -> None:
        nonlocal consumed, lead
        lead = max(lead, produced - consumed)
        consumed += len(batch)
        await trio.sleep(1)  # a slow client

    async def on_idle() -> None:
        pass

    await pump(instant(), None, on_batch, on_idle)
    assert consumed == PUMP_BUFFER * 4
    assert lead <= PUMP_BUFFER + 2  # the buffer, the item in hand, the one being sent


async def test_a_whole_answer_in_one_read_goes_out_in_slices() -> None:
    """Items that are all there at once are handed over PUMP_BURST at a time
    (two bursts when trio's scheduler happens to run the producer again
    first): the first bytes go out before the whole answer is rendered."""
    batches: list[list[int]] = []

    async def at_once() -> AsyncIterator[int]:
        for item in range(PUMP_BURST * 3 + 2):
            yield item

    async def on_batch(batch: list[int]) -> None:
        batches.append(batch)

    async def on_idle() -> None:
        pass

    await pump(at_once(), None, on_batch, on_idle)
    assert [item for batch in batches for item in batch] == list(range(PUMP_BURST * 3 + 2))
    assert max(len(batch) for batch in batches) <= 2 * PUMP_BURST
