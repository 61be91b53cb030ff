"""The request path's key -> principal cache, and batched ``last_used_at``.

Theory of operation
-------------------
:meth:`KeyCache.resolve` hashes the presented key at once and keys
everything on the hash, so a plaintext key lives no longer than the
request that carried it. A hit costs a dict lookup. A miss runs the
injected lookup (``store.lookup_hash`` on the identity database) in a worker
thread; concurrent misses on one hash share that single lookup.

Both answers are cached for ``ttl`` seconds (default 5): found keys —
whatever their state: ``auth.authorize`` checks revocation, expiry and the
owner's status against the cached principal — and unknown ones, so a
client retrying with a wrong key costs one query per TTL, not one per
request. Unknown keys have their own, smaller LRU: a flood of random keys
cannot evict the principals of real ones.

A change made in this process (revoke, delete, disable, role change)
invalidates at once through :meth:`invalidate_key` /
:meth:`invalidate_user` (``service`` calls them); a lookup that was in
flight across the invalidation answers its request but is not cached.
Another gateway process sharing the database sees the change when its
entry expires, within ``ttl``. A database error during a lookup is logged
and becomes a 503 (``unavailable``) for the request; nothing is cached.

:class:`LastUsedTracker` notes key use in a dict and writes the batch every
``interval`` seconds from its own task, so the request path never waits on
a write for it.
"""

from __future__ import annotations

import logging
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

import trio

from ..auth import Principal, looks_like_key
from ..errors import InternalError
from ..ledger.writer import DATABASE_ERRORS
from .keys import hash_key
from .records import KeyRecord

__all__ = ["KeyCache", "LastUsedTracker", "hash_key"]

log = logging.getLogger(__name__)

DEFAULT_TTL = 5.0
DEFAULT_MAX_ENTRIES = 10_000
DEFAULT_MAX_UNKNOWN = 1_000
DEFAULT_TOUCH_INTERVAL = 30.0
# A final flush at shutdown gets this long before the rows are given up.
TOUCH_SHUTDOWN_SECONDS = 5.0

LookupFn = Callable[[str], KeyRecord | None]  # by hash; blocking: run in a thread


@dataclass(frozen=True, kw_only=True, slots=True)
class CacheStats:
    hits: int
    misses: int  # lookups run
    known: int  # cached principals
    unknown: int  # cached unknown hashes


class _Lru:
    """Hash -> (value, expiry), least recently used evicted first."""

    __slots__ = ("entries", "limit")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.entries: OrderedDict[str, tuple[Principal | None, float]] = OrderedDict()

    def get(self, digest: str, now: float) -> tuple[bool, Principal | None]:
        entry = self.entries.get(digest)
        if entry is None:
            return False, None
        if entry[1] <= now:
            del self.entries[digest]
            return False, None
        self.entries.move_to_end(digest)
        return True, entry[0]

    def put(self, digest: str, value: Principal | None, expiry: float) -> None:
        self.entries[digest] = (value, expiry)
        self.entries.move_to_end(digest)
        while len(self.entries) > self.limit:
            self.entries.popitem(last=False)


class KeyCache:
    def __init__(
        self,
        lookup: LookupFn,
        *,
        ttl: float = DEFAULT_TTL,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        max_unknown: int = DEFAULT_MAX_UNKNOWN,
        clock: Callable[[], float] = trio.current_time,
    ) -> None:
        if ttl < 0 or max_entries < 1 or max_unknown < 1:
            raise ValueError("cache ttl must be >= 0 and its sizes >= 1")
        self._lookup = lookup
        self._ttl = ttl
        self._clock = clock
        self._known = _Lru(max_entries)
        self._unknown = _Lru(max_unknown)
        self._pending: dict[str, trio.Event] = {}
        self._generation = 0  # bumped by every invalidation
        self._hits = 0
        self._misses = 0

    async def resolve(self, key: str) -> Principal | None:
        """The principal of a presented key (any state), or None when it is
        not a gateway key or no such key exists."""
        if not looks_like_key(key):
            return None
        digest = hash_key(key)
        while True:
            found, principal = self._cached(digest)
            if found:
                self._hits += 1
                return principal
            pending = self._pending.get(digest)
            if pending is None:
                break
            await pending.wait()  # another task is looking this hash up
        return await self._fetch(digest)

    def _cached(self, digest: str) -> tuple[bool, Principal | None]:
        now = self._clock()
        found, principal = self._known.get(digest, now)
        if found:
            return True, principal
        return self._unknown.get(digest, now)

    async def _fetch(self, digest: str) -> Principal | None:
        done = self._pending[digest] = trio.Event()
        generation = self._generation
        self._misses += 1
        try:
            record = await trio.to_thread.run_sync(self._lookup, digest)
        except DATABASE_ERRORS as error:
            log.error("API key lookup failed: %s: %s", type(error).__name__, error)
            raise InternalError(
                "unavailable", "the gateway cannot check API keys right now; retry shortly"
            ) from None
        finally:
            del self._pending[digest]
            done.set()
        principal = None if record is None else record.principal()
        if generation == self._generation:
            expiry = self._clock() + self._ttl
            target = self._unknown if principal is None else self._known
            target.put(digest, principal, expiry)
        return principal

    def invalidate_key(self, key_id: int) -> None:
        self._drop(lambda principal: principal.key_id == key_id)

    def invalidate_user(self, user_id: int) -> None:
        self._drop(lambda principal: principal.user_id == user_id)

    def clear(self) -> None:
        self._generation += 1
        self._known.entries.clear()
        self._unknown.entries.clear()

    def _drop(self, matches: Callable[[Principal], bool]) -> None:
        self._generation += 1
        entries = self._known.entries
        for digest in [d for d, (p, _) in entries.items() if p is not None and matches(p)]:
            del entries[digest]

    @property
    def stats(self) -> CacheStats:
        return CacheStats(
            hits=self._hits,
            misses=self._misses,
            known=len(self._known.entries),
            unknown=len(self._unknown.entries),
        )


WriteFn = Callable[[Mapping[int, datetime]], Any]  # store.touch_last_used bound to a db


class LastUsedTracker:
    """Batches "key K was used at T" into one write every ``interval``.

    ``last_used_at`` is advisory: a failed write is logged and its batch
    merged into the next one rather than failing anything.
    """

    def __init__(
        self,
        write: WriteFn,
        *,
        interval: float = DEFAULT_TOUCH_INTERVAL,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    ) -> None:
        if interval <= 0:
            raise ValueError("the last-used interval must be positive")
        self._write = write
        self._interval = interval
        self._now = now
        self._pending: dict[int, datetime] = {}

    def note(self, key_id: int) -> None:
        self._pending[key_id] = self._now()

    @property
    def pending(self) -> int:
        return len(self._pending)

    async def flush(self) -> None:
        if not self._pending:
            return
        batch, self._pending = self._pending, {}
        try:
            await trio.to_thread.run_sync(self._write, batch)
        except DATABASE_ERRORS as error:
            log.warning("could not record API key use (%d keys): %s", len(batch), error)
            for key_id, moment in batch.items():
                self._pending[key_id] = max(moment, self._pending.get(key_id, moment))

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Flush every ``interval`` until cancelled, then once more."""
        task_status.started()
        try:
            while True:
                await trio.sleep(self._interval)
                await self.flush()
        finally:
            with trio.move_on_after(TOUCH_SHUTDOWN_SECONDS) as scope:
                scope.shield = True
                await self.flush()
