"""FastSocketStream: same results as trio's stream, fewer scheduler trips,
still fair and still cancellable."""

from __future__ import annotations

import socket

import pytest
import trio

from tokligence.net.sockstream import YIELD_EVERY, FastSocketStream


def pair() -> tuple[FastSocketStream, FastSocketStream]:
    a, b = socket.socketpair()
    return FastSocketStream(a), FastSocketStream(b)


async def test_large_transfer_arrives_intact() -> None:
    left, right = pair()
    payload = bytes(range(256)) * 40_000  # ~10 MB: the send must wait for the reader
    received = bytearray()

    async def reader() -> None:
        while len(received) < len(payload):
            received.extend(await right.receive_some(65536))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await left.send_all(payload)
    assert bytes(received) == payload
    await left.aclose()
    assert await right.receive_some() == b""  # EOF after the peer closed
    await right.aclose()


async def test_immediate_operations_still_let_other_tasks_run() -> None:
    left, right = pair()
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await trio.sleep(0)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(ticker)
        await trio.sleep(0)
        start = ticks
        # Each send and receive completes at once: without the periodic yield
        # the ticker would not run at all during this loop.
        for _ in range(YIELD_EVERY * 10):
            await left.send_all(b"x")
            await right.receive_some(1)
        assert ticks - start >= 10
        nursery.cancel_scope.cancel()
    await left.aclose()
    await right.aclose()


async def test_an_operation_that_completes_at_once_skips_the_scheduler() -> None:
    left, right = pair()
    other_ran = False

    async def other() -> None:
        nonlocal other_ran
        other_ran = True

    async with trio.open_nursery() as nursery:
        nursery.start_soon(other)
        # Fewer immediate operations than YIELD_EVERY: no yield happens, so
        # the task started above has not run yet.
        await left.send_all(b"ping")
        assert await right.receive_some(10) == b"ping"
        assert not other_ran
    assert other_ran
    await left.aclose()
    await right.aclose()


async def test_cancellation_is_honoured_even_when_data_is_ready() -> None:
    left, right = pair()
    await left.send_all(b"ready")
    with trio.CancelScope() as scope:
        scope.cancel()
        await right.receive_some(10)
        pytest.fail("receive_some completed inside a cancelled scope")
    assert scope.cancelled_caught
    assert await right.receive_some(10) == b"ready"  # nothing was consumed
    await left.aclose()
    await right.aclose()


async def test_closing_wakes_a_waiting_reader_with_closed_resource_error() -> None:
    left, right = pair()
    outcome: list[str] = []

    async def reader() -> None:
        try:
            await right.receive_some(10)
        except trio.ClosedResourceError:
            outcome.append("closed")

    async with trio.open_nursery() as nursery:
        nursery.start_soon(reader)
        await trio.testing.wait_all_tasks_blocked()
        right.close()
    assert outcome == ["closed"]
    with pytest.raises(trio.ClosedResourceError):
        await right.send_all(b"late")
    await left.aclose()


async def test_sending_to_a_vanished_peer_is_a_broken_resource() -> None:
    left, right = pair()
    await right.aclose()
    with pytest.raises(trio.BrokenResourceError):
        for _ in range(100):  # the first send may still be accepted by the kernel
            await left.send_all(b"x" * 65536)
    await left.aclose()


async def test_take_over_moves_a_trio_connection() -> None:
    listeners = await trio.open_tcp_listeners(0, host="127.0.0.1")
    port = listeners[0].socket.getsockname()[1]
    client = FastSocketStream.take_over(await trio.open_tcp_stream("127.0.0.1", port))
    server = FastSocketStream.take_over(await listeners[0].accept())
    assert client.socket.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    await client.send_all(b"hello")
    assert await server.receive_some(5) == b"hello"
    await client.send_eof()
    assert await server.receive_some(5) == b""
    await client.aclose()
    await server.aclose()
    await listeners[0].aclose()


async def test_read_timeout_bounds_each_wait_for_data() -> None:
    left, right = pair()
    right.read_timeout = 0.05
    before = trio.current_time()
    with pytest.raises(trio.TooSlowError):
        await right.receive_some(10)
    assert 0.05 <= trio.current_time() - before < 1
    # The stream still works: data that is there is returned with no wait.
    await left.send_all(b"late")
    assert await right.receive_some(10) == b"late"
    await left.aclose()
    await right.aclose()


async def test_read_timeout_is_the_silence_between_chunks_not_the_total() -> None:
    left, right = pair()
    right.read_timeout = 0.2

    async def trickle() -> None:
        for piece in (b"a", b"b", b"c", b"d"):
            await trio.sleep(0.1)  # each gap is under the timeout; the total is not
            await left.send_all(piece)

    got = b""
    async with trio.open_nursery() as nursery:
        nursery.start_soon(trickle)
        while len(got) < 4:
            got += await right.receive_some(10)
    assert got == b"abcd"
    await left.aclose()
    await right.aclose()


async def test_write_timeout_fires_when_the_peer_stops_reading() -> None:
    left, right = pair()
    left.write_timeout = 0.05
    with pytest.raises(trio.TooSlowError):
        await left.send_all(b"x" * 50_000_000)  # far more than the socket buffers hold
    await left.aclose()
    await right.aclose()


async def test_no_timeout_means_waiting_for_cancellation() -> None:
    left, right = pair()
    with trio.move_on_after(0.1) as scope:
        await right.receive_some(10)
    assert scope.cancelled_caught
    await left.aclose()
    await right.aclose()
