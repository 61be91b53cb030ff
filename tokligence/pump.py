"""Feeding an async source to a consumer in bursts, with keep-alives on silence."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import trio

PUMP_BUFFER = 256  # items a producer may run ahead of a slow client (then it waits)


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
            try:
                async for item in source:
                    # No yield per item while there is room: the items of one
                    # upstream read all land before the consumer runs (it is
                    # woken by the first), and the producer yields when its
                    # source waits for the socket. A full buffer still waits.
                    try:
                        send.send_nowait(item)
                    except trio.WouldBlock:
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
                if batch:
                    # Let the producer run until it blocks, so that everything
                    # one upstream read delivered joins this batch (otherwise
                    # the producer never runs between our receives, and every
                    # event would cost a write of its own).
                    await trio.lowlevel.checkpoint()
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
