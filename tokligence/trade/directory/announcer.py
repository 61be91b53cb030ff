"""A seller gateway's announcements to its directory, in the background.

Theory of operation
-------------------
``app.serve`` starts :func:`run_announcer` once the gateway is listening,
when it has offers and ``trade_directory_url`` is set (only then is this
package imported). It reads the node key, publishes the offers' versions
(``trade.store.publish_offers``: a new version only where the terms
changed, so this is the same signed offer the gateway sells by), then
loops:

- **announce** (the URL in ``trade_public_url`` and every signed offer);
  the directory's answer says how often it wants a heartbeat;
- **heartbeat** at that interval, for as long as the directory answers;
  a directory that no longer holds this seller (``unknown_seller``: it
  expired us, or lost its state) is answered by announcing again.

Each ``issued_at`` is later than the one before (the directory refuses a
replay), even within one millisecond.

A directory that is down, slow or refusing changes nothing else: the
failure is logged (a warning the first time, then quietly until it
answers again, which is logged too) and the same step is retried after a
backoff that doubles from :data:`RETRY_INITIAL` up to the heartbeat
interval, so a directory that comes back hears from the seller within one
interval. Nothing here raises for the directory's fault; what does raise
(the database, a bug) is the supervisor's (``supervise.py``): logged,
``/health`` degraded, restarted with backoff. Shutdown cancels it
wherever it is.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

import peewee
import trio

from ...config import Config
from ...databases import open_migrated, urls
from ...ledger.db import close_database
from ..migrations import migrate_trade
from ..node_key import NodeKeyError, load_or_create
from ..signing import Signer
from ..store import publish_offers
from .client import Accepted, DirectoryClient, DirectoryRefused, DirectoryUnreachable
from .documents import announcement_body, heartbeat_body

log = logging.getLogger(__name__)

RETRY_INITIAL = 0.5  # seconds before the first retry
# Until a directory has said how often it wants a heartbeat.
DEFAULT_INTERVAL = 30.0
# Bounds on what a directory may ask (seconds): a hostile or broken one can
# neither make a seller spin nor fall silent for hours.
MIN_INTERVAL, MAX_INTERVAL = 0.1, 3600.0


async def run_announcer(
    config: Config, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """The background task (see the module docstring)."""
    task_status.started()
    try:
        signer, _ = await trio.to_thread.run_sync(load_or_create, config.data_dir)
    except NodeKeyError as error:
        log.error("offers not announced to %s: %s", config.trade_directory_url, error)
        return
    offers = await published_offers(config, signer)
    client = DirectoryClient(config.trade_directory_url)
    try:
        await Announcer(client, signer, url=config.trade_public_url, offers=offers).run()
    finally:
        with trio.CancelScope(shield=True):
            await client.aclose()


async def published_offers(config: Config, signer: Signer) -> list[bytes]:
    """The signed offer in force of each configured offer, publishing new
    versions where the terms changed (in the ledger's database)."""
    url, _ = urls(config)
    db = await open_migrated(url, "trade", migrate_trade)
    try:

        def publish(db: peewee.Database) -> list[bytes]:
            now = time.time_ns() // 1_000_000
            return [p.document for p in publish_offers(db, config.offers, signer, now=now)]

        return await trio.to_thread.run_sync(publish, db)
    finally:
        with trio.CancelScope(shield=True):
            await trio.to_thread.run_sync(close_database, db)


class Announcer:
    """Announce, then heartbeat; retry whatever fails (module docstring)."""

    def __init__(
        self,
        client: DirectoryClient,
        signer: Signer,
        *,
        url: str,
        offers: Sequence[bytes],
        retry_initial: float = RETRY_INITIAL,
    ) -> None:
        self.client = client
        self.signer = signer
        self.url = url
        self.offers = list(offers)
        self.retry_initial = retry_initial
        self.interval = DEFAULT_INTERVAL
        self.announced = False
        self._last_issued = 0
        self._failing = False

    def _issued_at(self) -> int:
        """Now in Unix ms, and always after the last one sent."""
        self._last_issued = max(time.time_ns() // 1_000_000, self._last_issued + 1)
        return self._last_issued

    async def step(self) -> None:
        """Heartbeat, or announce when the directory does not hold us (yet,
        or any more); raises what the directory's client raises."""
        if self.announced:
            body = heartbeat_body(self.signer, issued_at=self._issued_at())
            try:
                accepted = await self.client.heartbeat(body)
            except DirectoryRefused as refused:
                if refused.code != "unknown_seller":
                    raise
                log.info("the directory %s no longer holds our offers", self.client.url)
                self.announced = False
            else:
                self._accept(accepted)
                return
        body = announcement_body(
            self.signer, url=self.url, offers=self.offers, issued_at=self._issued_at()
        )
        self._accept(await self.client.announce(body))
        self.announced = True
        log.info(
            "offers announced to %s: %d at %s, a heartbeat every %g s",
            self.client.url,
            len(self.offers),
            self.url,
            self.interval,
        )

    def _accept(self, accepted: Accepted) -> None:
        self.interval = min(max(accepted.heartbeat_ms / 1000, MIN_INTERVAL), MAX_INTERVAL)
        if self._failing:
            log.info("the directory %s answers again", self.client.url)
        self._failing = False

    async def run(self) -> None:
        delay = self.retry_initial
        while True:
            try:
                await self.step()
            except (DirectoryRefused, DirectoryUnreachable) as error:
                self._failed(error)
                await trio.sleep(delay)
                delay = min(delay * 2, max(self.interval, self.retry_initial))
                continue
            delay = self.retry_initial
            await trio.sleep(self.interval)

    def _failed(self, error: Exception) -> None:
        level = logging.DEBUG if self._failing else logging.WARNING
        log.log(level, "announcing to the directory failed, will retry: %s", error)
        self._failing = True
