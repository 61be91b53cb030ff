"""Trading at start-up: the node key, the tables, the offers, the peers.

``app.run`` calls :func:`open_trading` once the ledger is open, only when
the configuration sells (``[trade.offer.NAME]``) or buys
(``[trade.peer.NAME]``): it loads (or creates) the node key, migrates the
trading tables in the ledger's database, publishes the offers (a new
version only where the terms changed, ``store.publish_offers``) and voids
the reservations a dead process left held, then gives each peer (and
``peer:auto``) what it needs to buy. What it returns holds the background work: the seller's
sweep of stale reservations and the buyer's acknowledgements.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass
from functools import partial

import peewee
import trio

from ..call.model_call import ModelCalls
from ..config import Config, ConfigError
from ..upstreams.base import Upstream
from . import store
from .acker import Acker
from .auto import AutoPeerUpstream
from .migrations import migrate_trade
from .node_key import NodeKeyError, load_or_create
from .peer import BuyerNode, PeerUpstream
from .seller import Seller, now_ms, offer_books

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Trading:
    public_id: str
    seller: Seller | None
    acker: Acker | None


async def open_trading(
    config: Config,
    db: peewee.Database | None,
    calls: ModelCalls,
    upstreams: Iterable[Upstream],
) -> Trading:
    if db is None:
        raise ConfigError(
            "trading keeps its books in the ledger's database: set ledger_enabled = true"
        )
    try:
        signer, created = await trio.to_thread.run_sync(load_or_create, config.data_dir)
    except NodeKeyError as error:
        raise ConfigError(str(error)) from None
    if created:
        log.info("trade: created the node key of %s", signer.public_id)
    await trio.to_thread.run_sync(migrate_trade, db)
    seller = None
    if config.offers:
        published = await trio.to_thread.run_sync(
            partial(store.publish_offers, db, config.offers, signer, now=now_ms())
        )
        versions = {}
        for offer in config.offers:
            found = await trio.to_thread.run_sync(store.offer_versions, db, offer.name)
            versions[offer.name] = [version.document for version in found]
        seller = Seller(
            db=db,
            signer=signer,
            offers=offer_books(config.offers, versions),
            published=[offer.document for offer in published],
            calls=calls,
            clock_skew=config.trade_clock_skew,
            execution_timeout=config.trade_execution_timeout,
        )
        await seller.sweep()
        log.info(
            "trade: selling %s as %s",
            ", ".join(f"{offer.name}@{offer.version}" for offer in published),
            signer.public_id,
        )
    upstreams = list(upstreams)
    peers: list[PeerUpstream] = [u for u in upstreams if isinstance(u, PeerUpstream)]
    auto = [u for u in upstreams if isinstance(u, AutoPeerUpstream)]
    acker = None
    if peers or auto:
        acker = Acker(db=db, signer=signer, peers=peers, interval=config.trade_ack_interval)
        node = BuyerNode(db=db, signer=signer, acker=acker)
        buyers: list[PeerUpstream | AutoPeerUpstream] = [*peers, *auto]
        for buyer in buyers:
            buyer.attach(node)
        names = [p.name for p in peers]
        if auto:
            names.append(f"{auto[0].name} (the directory {config.trade_directory_url})")
        log.info("trade: buying from %s as %s", ", ".join(names), signer.public_id)
    return Trading(public_id=signer.public_id, seller=seller, acker=acker)
