"""The buyer's view of a directory (``OfferDirectory``, what ``peer:auto``
calls) and the seller's client: verification, the cache, a directory that
is down or lies. The remote side is a real directory on 127.0.0.1 or, for
the cache's timing, an httpx mock transport serving listings the directory
code writes, under trio's mock clock (nothing here waits in real time)."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import trio
import trio.testing

from tokligence.trade.directory.client import (
    FRESH_FOR,
    MAX_ANSWER,
    DirectoryClient,
    DirectoryRefused,
    OfferDirectory,
)
from tokligence.trade.directory.documents import Entry, listing_body
from tokligence.trade.documents import encode

from .directory_rig import running_directory
from .directory_samples import URL, announce, heartbeat, offer, rewritten
from .keys import BUYER, SELLER, STRANGER

MODEL = "gpt-4o-mini"
DIRECTORY = "http://127.0.0.1:9"  # never connected to: the mock transport answers


def entry(
    signer=SELLER,
    *,
    price_output: str = "10",
    url: str = URL,
    expires_in_ms: int = 20_000,
    signed: bytes | None = None,
) -> Entry:  # type: ignore[no-untyped-def]
    data = signed or offer(signer, price_output=price_output)
    # The announcement is signed over whatever offer it is given, forged or not.
    announcement = encode(json.loads(announce(signer, [data], url=url))["announcement"])
    return Entry(
        offer=data,
        announcement=announcement,
        seller=signer.public_id,
        url=url,
        expires_in_ms=expires_in_ms,
    )


class FakeDirectory:
    """The remote side: answers each GET with the listing of ``entries`` (or
    whatever ``answer`` says), and counts what it is asked."""

    def __init__(self, *entries: Entry) -> None:
        self.entries = list(entries)
        self.asked = 0
        self.answer: Callable[[], httpx.Response] | None = None

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.asked += 1
        if self.answer is not None:
            answer = self.answer()
        else:
            assert request.url.path == "/v1/directory/offers"
            model = request.url.params["model"]
            answer = httpx.Response(200, content=listing_body(self.entries, model=model, ttl_ms=1))
        # As a transport hands it over: the body still to be read.
        return httpx.Response(
            answer.status_code, headers=answer.headers, stream=httpx.ByteStream(answer.content)
        )

    def down(self) -> httpx.Response:
        raise httpx.ConnectError("connection refused")

    def view(self, **options: float) -> OfferDirectory:
        return OfferDirectory(DIRECTORY, transport=httpx.MockTransport(self.handle), **options)


async def test_the_cheapest_offer_that_verifies_is_chosen() -> None:
    forged = rewritten(
        offer(BUYER, price_output="1"), lambda d: d["offer"]["prices"].update(output="0.1")
    )
    fake = FakeDirectory(
        entry(SELLER, price_output="20"),  # the directory's order is not used
        entry(BUYER, price_output="1", signed=forged, url="http://127.0.0.1:3"),
        entry(STRANGER, price_output="5", url="http://127.0.0.1:2"),
    )
    view = fake.view()
    chosen = await view.cheapest_offer(MODEL)
    assert chosen is not None
    assert (chosen.seller, chosen.url, chosen.ref) == (
        STRANGER.public_id,
        "http://127.0.0.1:2",
        "fast@1",
    )
    assert chosen.offer == offer(STRANGER, price_output="5")
    assert [o.seller for o in await view.offers(MODEL)] == [STRANGER.public_id, SELLER.public_id]
    assert await view.cheapest_offer("claude-3") is None  # sold by none of them


async def test_answers_are_cached_and_concurrent_callers_share_one_request(
    autojump_clock: trio.testing.MockClock,
) -> None:
    fake = FakeDirectory(entry())
    view = fake.view()
    results: list[object] = []

    async def ask() -> None:
        results.append(await view.cheapest_offer(MODEL))

    async with trio.open_nursery() as nursery:
        for _ in range(20):
            nursery.start_soon(ask)
    assert fake.asked == 1 and len(results) == 20 and all(r is not None for r in results)
    await trio.sleep(FRESH_FOR - 0.1)
    await view.cheapest_offer(MODEL)
    assert fake.asked == 1
    await trio.sleep(0.1)
    await view.cheapest_offer(MODEL)
    assert fake.asked == 2
    await view.cheapest_offer("gpt-4.1")  # another model: its own answer
    assert fake.asked == 3


async def test_a_directory_that_is_down_leaves_the_last_answer_until_it_expires(
    autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    fake = FakeDirectory(entry(expires_in_ms=20_000))
    view = fake.view(fresh_for=5)
    assert await view.cheapest_offer(MODEL) is not None
    fake.answer = fake.down
    with caplog.at_level(logging.DEBUG, logger="tokligence.trade.directory.client"):
        await trio.sleep(5)
        assert await view.cheapest_offer(MODEL) is not None  # asked, failed, the cache
        assert fake.asked == 2
        assert await view.cheapest_offer(MODEL) is not None
        assert fake.asked == 2  # a failure is not retried before fresh_for
        await trio.sleep(14.9)  # 19.9 s after the answer was asked for
        assert await view.cheapest_offer(MODEL) is not None
        await trio.sleep(0.1)
        assert await view.cheapest_offer(MODEL) is None  # expired: no answer at all
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "connection refused" in warnings[0].getMessage()
    fake.answer = None  # back
    await trio.sleep(5)
    assert await view.cheapest_offer(MODEL) is not None


@pytest.mark.parametrize(
    "answer",
    [
        lambda: httpx.Response(500, json={"error": {"code": "x", "message": "down"}}),
        lambda: httpx.Response(200, content=b"<html>not a listing</html>"),
        lambda: httpx.Response(200, content=b'{"offers":"none"}'),
        lambda: httpx.Response(200, content=b"[" * 200_000),
        lambda: httpx.Response(200, content=b" " * (MAX_ANSWER + 1)),
    ],
    ids=["500", "html", "no list", "deep", "too large"],
)
async def test_garbage_from_the_directory_is_no_answer(
    autojump_clock: trio.testing.MockClock, answer: Callable[[], httpx.Response]
) -> None:
    fake = FakeDirectory(entry())
    view = fake.view()
    fake.answer = answer
    assert await view.cheapest_offer(MODEL) is None
    assert fake.asked == 1
    fake.answer = None
    await trio.sleep(FRESH_FOR)
    assert await view.cheapest_offer(MODEL) is not None
    fake.answer = answer
    await trio.sleep(FRESH_FOR)
    assert await view.cheapest_offer(MODEL) is not None  # the last good answer stays
    assert fake.asked == 3


async def test_the_cache_is_bounded(autojump_clock: trio.testing.MockClock) -> None:
    fake = FakeDirectory(entry())
    view = fake.view(max_models=2)
    for model in ("a", "b", "c"):
        await view.offers(model)
    await view.offers("a")  # forgotten as the oldest: asked again
    assert fake.asked == 4


async def test_against_a_real_directory(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        seller = DirectoryClient(running.url)
        view = OfferDirectory(running.url)
        try:
            assert await view.cheapest_offer(MODEL) is None
            accepted = await seller.announce(announce())
            assert (accepted.ttl_ms, accepted.heartbeat_ms) == (90_000, 30_000)
            await seller.heartbeat(heartbeat())
            with pytest.raises(DirectoryRefused) as refused:
                await seller.heartbeat(heartbeat())  # the same again: a replay
            assert (refused.value.status, refused.value.code) == (409, "stale")
            with pytest.raises(DirectoryRefused) as refused:
                await seller.announce(announce(STRANGER, [offer(SELLER)]))
            assert (refused.value.status, refused.value.code) == (400, "wrong_seller")
            fresh = OfferDirectory(running.url)  # the first view still has its empty answer
            try:
                chosen = await fresh.cheapest_offer(MODEL)
            finally:
                await fresh.aclose()
            assert chosen is not None and (chosen.seller, chosen.url) == (SELLER.public_id, URL)
            assert json.loads(chosen.offer)["offer"]["prices"]["output"] == "10"
        finally:
            await seller.aclose()
            await view.aclose()
