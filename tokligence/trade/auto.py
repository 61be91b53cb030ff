"""``peer:auto``: buying from the cheapest live offer the directory lists.

Theory of operation
-------------------
:class:`AutoPeerUpstream` is the provider a route names as ``peer:auto``
(it exists when a route does, and needs ``trade_directory_url``). For each
request it asks the gateway's one
:class:`~tokligence.trade.directory.client.OfferDirectory` for the cheapest
live offer of the body's model -- cached for a few seconds, every entry's
signatures re-verified there -- and buys from that seller exactly as from a
named peer: through a :class:`~tokligence.trade.peer.PeerUpstream` made for
the seller (one per seller and URL, kept), pinned to the public id the
seller's signed offer and announcement name and to that offer's name. The
order, the receipt checks, the consume entry and the acknowledgements are
that peer's.

A purchase needs an account at the seller. The key of a peer configured
by name for the same seller is used when there is one; otherwise the
account ``peer:auto`` opened before (the table ``trade_auto_accounts``);
otherwise one is opened now, with the same signed ``account_request`` as
``tokligence trade open`` (``opening.py``), and its key kept in that table.

Whatever keeps this target from answering falls back to the route's next
target before the first byte, as any provider does. No live offer (429
``no_live_offer``) and a seller that grants no credit (its 402 becomes a
429 ``credit_limit_exceeded``) are want of capacity, not ill health: the
breaker does not count them. An account that cannot be opened and an offer
the seller no longer sells are 503s, counted like any unreachable provider.
All carry a ``retry-after`` beyond any retry wait, so the call moves on at
once instead of retrying what will not change within the request.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from functools import partial
from typing import TYPE_CHECKING

import peewee
import trio

from ..errors import ClientError, UpstreamErrorStatus, UpstreamUnreachable
from ..ledger import db as dbmod
from ..routing.breaker import CircuitBreaker
from ..upstreams.base import CallContext, Embeddings, Relayed
from .models import AutoAccount
from .peer import (
    COUNT_TOKENS_PATH,
    BuyerNode,
    PeerUpstream,
    SellerFacing,
    counted,
)
from .peers import AUTO_NAME, PROVIDER_PREFIX, Peer

if TYPE_CHECKING:  # a seller's start-up loads this module, never the directory client
    from .directory.client import DirectoryOffer, OfferDirectory

log = logging.getLogger(__name__)

AUTO_PROVIDER = PROVIDER_PREFIX + AUTO_NAME
# Seconds a seller has to answer each request of an account's opening: it
# happens inside a client's request, once per seller.
OPEN_TIMEOUT = 10.0
# Seconds a seller that refused an account is not asked again.
OPEN_RETRY = 30.0


class AutoPeerUpstream(SellerFacing):
    """``peer:auto`` (see the module docstring)."""

    name = AUTO_PROVIDER
    may_stall = True
    dialects: tuple[str, ...] = PeerUpstream.dialects
    models: tuple[str, ...] = ()

    def __init__(
        self,
        *,
        directory: OfferDirectory,
        named: Sequence[Peer] = (),
        connect_timeout: float,
        response_timeout: float,
        read_timeout: float,
        skip_after: float,
        breaker: CircuitBreaker | None = None,
        max_connections: int = 512,
    ) -> None:
        self.directory = directory
        self.named = {peer.public_id: peer for peer in named}
        self.breaker = breaker or CircuitBreaker()
        self.skip_after = skip_after  # a retry-after past any retry wait
        self.connect_timeout = connect_timeout
        self.response_timeout = response_timeout
        self.read_timeout = read_timeout
        self.max_connections = max_connections
        self.node: BuyerNode | None = None
        self.sellers: dict[tuple[str, str, str], PeerUpstream] = {}  # (seller, url, offer)
        self._opening: dict[str, trio.Lock] = {}
        self._refused: dict[str, tuple[float, str]] = {}  # seller -> (until, why)
        # Every peer made, to close at the end (one whose URL moved may
        # still be answering).
        self._made: list[PeerUpstream] = []

    # ------------------------------------------------------------ Upstream

    def head_timeout(self, stream: bool) -> float:
        # As a peer's (its provider client's): a stream's head comes first.
        return self.response_timeout if stream else self.read_timeout

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        raise ClientError("invalid_request", f"{self.name} sells no embeddings", param="model")

    async def aclose(self) -> None:
        for peer in self._made:
            await peer.aclose()
        await self.directory.aclose()

    async def relay(self, path: str, body: bytes, context: CallContext) -> Relayed:
        if path == COUNT_TOKENS_PATH:
            return counted(body)  # counting is not sold: no seller needed
        node = self._node_for(path)
        model = str(json.loads(body).get("model", ""))
        found = await self.directory.cheapest_offer(model)
        if found is None:
            # No capacity on the market now, as a busy provider's 429: the
            # route's next target answers, and peer:auto's breaker does not
            # count it (nothing is broken; an offer listed a moment later is
            # bought at once).
            raise UpstreamErrorStatus(
                "rate_limit",
                f"{self.name}: the directory lists no live offer of {model!r}",
                status=429,
                code="no_live_offer",
                retry_after=self.skip_after,
            )
        peer = await self._peer_for(found, node)
        try:
            relayed = await peer.relay(path, body, context)
        except UpstreamErrorStatus as error:
            if error.code != "model_not_offered":
                raise
            raise self._skip(error.message, code="model_not_offered") from None
        if relayed.status == 402:  # the seller grants no (more) credit
            answer = b"".join([chunk async for chunk in relayed.chunks])
            await relayed.aclose()
            raise UpstreamErrorStatus(
                "rate_limit",
                f"{peer.name}: the seller refused the purchase for want of credit: "
                + answer[:300].decode("utf-8", "replace"),
                status=429,
                code="credit_limit_exceeded",
                retry_after=self.skip_after,
            )
        return relayed

    def _skip(self, message: str, *, code: str) -> UpstreamUnreachable:
        return UpstreamUnreachable(
            "unavailable", f"{self.name}: {message}", code=code, retry_after=self.skip_after
        )

    # ------------------------------------------------------------ sellers

    async def _peer_for(self, found: DirectoryOffer, node: BuyerNode) -> PeerUpstream:
        """The peer that buys ``found``: made once per seller, URL and
        offer, with the account's key."""
        key = (found.seller, found.url, found.name)
        peer = self.sellers.get(key)
        if peer is not None:
            return peer
        api_key = await self._account(found, node)
        peer = self.sellers.get(key)  # made while this one waited
        if peer is None:
            peer = PeerUpstream(
                Peer(
                    name=f"{AUTO_NAME}({found.seller[len('ed25519:') :][:8]})",
                    url=found.url.rstrip("/"),
                    public_id=found.seller,
                    api_key=api_key,
                    offer=found.name,
                ),
                connect_timeout=self.connect_timeout,
                response_timeout=self.response_timeout,
                read_timeout=self.read_timeout,
                breaker=self.breaker,
                max_connections=self.max_connections,
            )
            peer.attach(node)
            node.acker.add_peer(peer)
            self.sellers[key] = peer
            self._made.append(peer)
        return peer

    async def _account(self, found: DirectoryOffer, node: BuyerNode) -> str:
        """The key of this gateway's account at ``found``'s seller: a
        named peer's, the one kept, or one opened now."""
        seller = found.seller
        named = self.named.get(seller)
        if named is not None and named.api_key:
            return named.api_key
        from .opening import OpenRefused, open_account  # once per seller

        lock = self._opening.setdefault(seller, trio.Lock())
        async with lock:
            kept = await trio.to_thread.run_sync(partial(kept_account, node.db, seller))
            if kept is not None:
                return kept
            refused = self._refused.get(seller)
            if refused is not None and trio.current_time() < refused[0]:
                raise self._skip(refused[1], code="account_not_opened")
            try:
                opened = await trio.to_thread.run_sync(
                    partial(open_account, found.url, node.signer, seller, timeout=OPEN_TIMEOUT),
                    abandon_on_cancel=True,
                )
            except OpenRefused as error:
                why = f"no account at {seller} ({found.url}): {error}"
                if error.code == "account_exists":
                    why += (
                        "; this gateway has an account there that peer:auto did not open: "
                        "configure it as a [trade.peer.NAME] with its key"
                    )
                log.warning("trade: %s: %s", self.name, why)
                self._refused[seller] = (trio.current_time() + OPEN_RETRY, why)
                raise self._skip(why, code="account_not_opened") from None
            api_key = await trio.to_thread.run_sync(
                partial(keep_account, node.db, seller, found.url, opened.api_key, now=node.now())
            )
            log.info(
                "trade: %s opened an account at %s (%s); its credit limit is %d micro-USD",
                self.name,
                seller,
                found.url,
                opened.credit_limit,
            )
            return api_key


def kept_account(db: peewee.Database, seller: str) -> str | None:
    """The key of the account ``peer:auto`` opened at ``seller``, if any."""
    with dbmod.connection(db):
        row = AutoAccount.select().where(AutoAccount.seller == seller).first(db)
    return None if row is None else str(row.api_key)


def keep_account(db: peewee.Database, seller: str, url: str, api_key: str, *, now: int) -> str:
    """Keep the key of a new account at ``seller``; the key kept, which is
    another process's when it kept one first."""
    with dbmod.connection(db):
        try:
            with dbmod.backend_of(db).write_transaction(db):
                AutoAccount.insert(seller=seller, url=url, api_key=api_key, created_at=now).execute(
                    db
                )
        except peewee.IntegrityError:
            pass
        row = AutoAccount.select().where(AutoAccount.seller == seller).first(db)
    return str(row.api_key)
