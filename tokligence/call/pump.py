"""Feeding an async source to a consumer in bursts, with keep-alives on silence."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

PUMP_BUFFER = 256  # items a producer may run ahead of a slow client (then it waits)
PUMP_BURST = 8  # items handed over between two yields of the producer


async def pump(
    source: AsyncIterator[Any],
    interval: float | None,
    on_batch: Callable[[list[Any]], Awaitable[None]],
    on_idle: Callable[[], Awaitable[None]],
) -> None:
    """Hand the items of ``source`` to ``on_batch``, in order, several at a
    time when several are ready (one socket write per burst instead of one
    per event); call ``on_idle`` after every ``interval`` seconds of silence.

    A producer task feeds a bounded channel: cancelling a wait inside an
    async generator would break the generator, and the buffer is what lets
    a burst collect while the previous one is being written. Errors are
    carried out of the nursery by hand so callers see the exception itself,
    not an ExceptionGroup."""
    send, receive = trio.open_memory_channel[Any](PUMP_BUFFER)
    failure: list[BaseException] = []

    async def produce() -> None:
        async with send:
            handed = 0
            try:
                async for item in source:
                    # No scheduler trip per item: the items of one upstream
                    # read land together and the consumer, woken by the
                    # first, writes them as one burst. Every PUMP_BURST items
                    # the producer yields anyway, so a read that brought a
                    # whole answer does not hold back its first bytes until
                    # all of it is rendered. A full buffer waits.
                    handed += 1
                    if handed % PUMP_BURST:
                        try:
                            send.send_nowait(item)
                            continue
                        except trio.WouldBlock:
                            pass
                    await send.send(item)
            except Exception as exc:
                failure.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(produce)
        async with receive:
            while True:
                batch: list[Any] = []
                with trio.move_on_after(math.inf if interval is None else interval) as waited:
                    try:
                        batch.append(await receive.receive())
                    except trio.EndOfChannel:
                        break
                ended = False
                # The producer has run until it blocked or yielded (see
                # produce): what it handed over since is all in the channel.
                while batch:
                    try:
                        batch.append(receive.receive_nowait())
                    except trio.WouldBlock:
                        break
                    except trio.EndOfChannel:
                        ended = True
                        break
                try:
                    if waited.cancelled_caught:
                        await on_idle()
                    else:
                        await on_batch(batch)
                except Exception as exc:
                    failure.append(exc)
                    nursery.cancel_scope.cancel()
                    break
                if ended:
                    break
    if failure:
        raise failure[0]
