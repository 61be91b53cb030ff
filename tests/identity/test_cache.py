"""KeyCache: hits cost no lookup, answers expire after the TTL, invalidation
is immediate in-process; and the batched last-used writer."""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Mapping
from datetime import datetime, timedelta, timezone

import peewee
import pytest
import trio
import trio.testing

from tokligence.auth import authorize
from tokligence.errors import GatewayError
from tokligence.identity import store
from tokligence.identity.cache import KeyCache, LastUsedTracker, hash_key
from tokligence.identity.records import KeyRecord, UserRecord

from .fakes import T0, FakeClock

KEY_A = "tok_" + "A" * 43
KEY_B = "tok_" + "B" * 43


def record(key_id: int, user_id: int = 1) -> KeyRecord:
    owner = UserRecord(
        id=user_id,
        email=f"u{user_id}@example.com",
        display_name="",
        role="gateway_user",
        status="active",
        created_at=T0,
        updated_at=T0,
    )
    return KeyRecord(
        id=key_id, user=owner, name="", prefix=f"tok_{key_id:08d}", scopes=("model",), created_at=T0
    )


class FakeLookup:
    """A key table by hash; counts the lookups that reach it."""

    def __init__(self, **keys: KeyRecord) -> None:
        self.by_hash = {hash_key(key): rec for key, rec in keys.items()}
        self.calls: list[str] = []

    def add(self, key: str, rec: KeyRecord) -> None:
        self.by_hash[hash_key(key)] = rec

    def __call__(self, digest: str) -> KeyRecord | None:
        self.calls.append(digest)
        return self.by_hash.get(digest)


async def test_hits_cost_no_lookup_until_the_ttl_passes() -> None:
    clock = FakeClock()
    lookup = FakeLookup(**{KEY_A: record(1)})
    cache = KeyCache(lookup, ttl=5, clock=clock)
    first = await cache.resolve(KEY_A)
    assert first == record(1).principal()
    clock.advance(4.999)
    assert await cache.resolve(KEY_A) == first
    assert lookup.calls == [hash_key(KEY_A)]  # keyed on the hash, never the key
    clock.advance(0.001)
    await cache.resolve(KEY_A)
    assert len(lookup.calls) == 2
    assert (cache.stats.hits, cache.stats.misses, cache.stats.known) == (1, 2, 1)


async def test_unknown_keys_are_cached_too_and_foreign_keys_never_looked_up() -> None:
    clock = FakeClock()
    lookup = FakeLookup()
    cache = KeyCache(lookup, ttl=5, clock=clock)
    for _ in range(3):
        assert await cache.resolve(KEY_B) is None
    assert len(lookup.calls) == 1 and cache.stats.unknown == 1
    for foreign in ("sk-ant-api03-x", "", "tok_short"):
        assert await cache.resolve(foreign) is None
    assert len(lookup.calls) == 1


async def test_invalidation_is_immediate_and_targeted() -> None:
    clock = FakeClock()
    keys = {KEY_A: record(1, user_id=1), KEY_B: record(2, user_id=2)}
    lookup = FakeLookup(**keys)
    cache = KeyCache(lookup, ttl=60, clock=clock)
    await cache.resolve(KEY_A)
    await cache.resolve(KEY_B)
    cache.invalidate_key(1)
    await cache.resolve(KEY_A)
    await cache.resolve(KEY_B)
    assert lookup.calls.count(hash_key(KEY_A)) == 2
    assert lookup.calls.count(hash_key(KEY_B)) == 1
    cache.invalidate_user(2)
    await cache.resolve(KEY_B)
    assert lookup.calls.count(hash_key(KEY_B)) == 2
    cache.clear()
    assert cache.stats.known == 0


async def test_the_cache_is_bounded_and_unknown_keys_cannot_evict_known_ones() -> None:
    clock = FakeClock()
    lookup = FakeLookup()
    keys = [f"tok_{i:043d}" for i in range(5)]
    for i, key in enumerate(keys):
        lookup.add(key, record(i))
    cache = KeyCache(lookup, ttl=60, max_entries=3, max_unknown=2, clock=clock)
    for key in keys:
        await cache.resolve(key)
    assert cache.stats.known == 3
    await cache.resolve(keys[2])  # keys 2..4 are cached: a hit
    assert len(lookup.calls) == 5
    for i in range(100):  # a flood of random keys
        await cache.resolve(f"tok_{'x' * 40}{i:03d}")
    assert (cache.stats.known, cache.stats.unknown) == (3, 2)
    calls = len(lookup.calls)
    for key in keys[2:]:
        await cache.resolve(key)
    assert len(lookup.calls) == calls


async def test_concurrent_misses_share_one_lookup() -> None:
    gate = threading.Event()
    lookup = FakeLookup(**{KEY_A: record(1)})

    def slow(digest: str) -> KeyRecord | None:
        gate.wait(10)
        return lookup(digest)

    cache = KeyCache(slow, clock=FakeClock())
    results: list[object] = []

    async def resolve() -> None:
        results.append(await cache.resolve(KEY_A))

    async with trio.open_nursery() as nursery:
        for _ in range(10):
            nursery.start_soon(resolve)
        await trio.testing.wait_all_tasks_blocked()
        gate.set()
    assert results == [record(1).principal()] * 10
    assert len(lookup.calls) == 1


async def test_a_lookup_in_flight_across_an_invalidation_is_not_cached() -> None:
    gate = threading.Event()
    lookup = FakeLookup(**{KEY_A: record(1)})

    def slow(digest: str) -> KeyRecord | None:
        gate.wait(10)
        return lookup(digest)

    cache = KeyCache(slow, ttl=60, clock=FakeClock())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(cache.resolve, KEY_A)
        await trio.testing.wait_all_tasks_blocked()
        cache.invalidate_key(1)  # e.g. revoked while the lookup ran
        gate.set()
    assert cache.stats.known == 0


# ------------------------------------------------------ with the real store


async def test_revocation_reaches_other_processes_within_the_ttl(
    identity_db: peewee.Database,
) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    rec, key = store.issue_key(identity_db, ada.id)
    clock = FakeClock()
    # Two caches on one database stand for two gateway processes.
    here = KeyCache(functools.partial(store.lookup_hash, identity_db), ttl=5, clock=clock)
    there = KeyCache(functools.partial(store.lookup_hash, identity_db), ttl=5, clock=clock)
    now = datetime.now(timezone.utc)

    async def check(cache: KeyCache) -> None:
        principal = await cache.resolve(key)
        authorize(
            principal, presented_key=key, endpoint_key="anthropic", auth_required=True, now=now
        )

    await check(here)
    await check(there)
    store.revoke_key(identity_db, rec.id)
    here.invalidate_key(rec.id)  # what the service does in the revoking process
    with pytest.raises(GatewayError, match="revoked"):
        await check(here)
    await check(there)  # still cached over there...
    clock.advance(5)
    with pytest.raises(GatewayError, match="revoked"):
        await check(there)  # ...until its entry expires


async def test_last_used_is_written_in_batches(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    one, _ = store.issue_key(identity_db, ada.id)
    two, _ = store.issue_key(identity_db, ada.id)
    moments = iter([T0, T0 + timedelta(seconds=1), T0 + timedelta(seconds=2)])
    tracker = LastUsedTracker(
        functools.partial(store.touch_last_used, identity_db),
        interval=30,
        now=lambda: next(moments),
    )
    tracker.note(one.id)
    tracker.note(two.id)
    tracker.note(one.id)  # the latest use wins
    assert tracker.pending == 2
    await tracker.flush()
    assert tracker.pending == 0
    assert [k.last_used_at for k in store.list_keys(identity_db)] == [
        T0 + timedelta(seconds=2),
        T0 + timedelta(seconds=1),
    ]


async def test_the_tracker_flushes_on_its_interval_and_at_shutdown(
    autojump_clock: trio.testing.MockClock,
) -> None:
    send, written = trio.open_memory_channel[dict[int, datetime]](10)

    def write(batch: Mapping[int, datetime]) -> None:  # in a worker thread
        trio.from_thread.run_sync(send.send_nowait, dict(batch))

    tracker = LastUsedTracker(write, interval=30)
    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.run)
        tracker.note(1)
        started = trio.current_time()
        assert list(await written.receive()) == [1]
        assert trio.current_time() - started == pytest.approx(30)
        tracker.note(2)
        nursery.cancel_scope.cancel()
    assert list(written.receive_nowait()) == [2]  # the final flush


async def test_a_failed_write_is_logged_and_retried_with_the_next_batch(
    caplog: pytest.LogCaptureFixture,
) -> None:
    attempts: list[dict[int, datetime]] = []

    def write(batch: Mapping[int, datetime]) -> None:
        attempts.append(dict(batch))
        if len(attempts) == 1:
            raise peewee.OperationalError("database is locked")

    tracker = LastUsedTracker(write, interval=30)
    tracker.note(1)
    with caplog.at_level(logging.WARNING, logger="tokligence.identity"):
        await tracker.flush()
    assert "could not record API key use (1 keys): database is locked" in caplog.text
    tracker.note(2)
    await tracker.flush()
    assert [sorted(a) for a in attempts] == [[1], [1, 2]]


async def test_a_database_failure_is_a_503_and_is_not_cached() -> None:
    failures = [peewee.OperationalError("connection refused")]
    lookup = FakeLookup(**{KEY_A: record(1)})

    def flaky(digest: str) -> KeyRecord | None:
        if failures:
            raise failures.pop()
        return lookup(digest)

    cache = KeyCache(flaky, clock=FakeClock())
    with pytest.raises(GatewayError) as caught:
        await cache.resolve(KEY_A)
    assert (caught.value.status, caught.value.kind) == (503, "unavailable")
    assert KEY_A not in caught.value.message
    assert await cache.resolve(KEY_A) == record(1).principal()
