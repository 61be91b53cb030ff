"""The buyer's acknowledgements: every receipt it holds is acknowledged to
its seller in signed batches (``acks.py``), every ``trade_ack_interval``
and once more at shutdown. A batch the seller did not take, or that could
not be stored here, stays pending for the next round (a seller answers a
batch it has seen ``"new": "no"``); pending batches live in memory, so a
buyer that dies leaves its last ones to reconciliation."""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from functools import partial
from typing import TYPE_CHECKING

import peewee
import trio

from ..errors import GatewayError
from . import book
from .acks import MAX_ACK_BATCH, Ack, acknowledge
from .peer import now_ms
from .receipts import SignedReceipt
from .signing import Signer

if TYPE_CHECKING:
    from .peer import PeerUpstream

log = logging.getLogger(__name__)


class Acker:
    """Acknowledges the receipts a gateway holds, in batches per seller."""

    def __init__(
        self,
        *,
        db: peewee.Database,
        signer: Signer,
        peers: Sequence[PeerUpstream],
        interval: float,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self.db = db
        self.signer = signer
        self.peers = {peer.peer.public_id: peer for peer in peers}
        self.interval = interval
        self.now = now
        self.pending: dict[str, list[SignedReceipt]] = {}
        self.sent = 0  # receipts acknowledged and kept by their seller

    def add_peer(self, peer: PeerUpstream) -> None:
        """A seller ``peer:auto`` buys from; one configured by name keeps its place."""
        self.peers.setdefault(peer.peer.public_id, peer)

    def add(self, seller: str, signed: SignedReceipt) -> None:
        self.pending.setdefault(seller, []).append(signed)

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        task_status.started()
        while True:
            await trio.sleep(self.interval)
            await self.flush()

    async def flush(self) -> None:
        """Send what is pending, one batch per seller at a time; what a
        seller does not take stays pending for the next round."""
        for seller in list(self.pending):
            while self.pending.get(seller):
                batch = self.pending[seller][:MAX_ACK_BATCH]
                if not await self._send(seller, batch):
                    break
                del self.pending[seller][: len(batch)]
                self.sent += len(batch)

    async def _send(self, seller: str, batch: list[SignedReceipt]) -> bool:
        peer = self.peers[seller]
        sealed = acknowledge(batch, self.signer, at=self.now())
        try:
            status, body = await peer.send_ack(sealed.data)
        except GatewayError as error:
            log.warning("trade: acknowledging %d receipts to %s: %s", len(batch), peer.name, error)
            return False
        if status != 200:
            log.error(
                "trade: %s refused the acknowledgement of %d receipts: %d %s",
                peer.name,
                len(batch),
                status,
                body[:300].decode("utf-8", "replace"),
            )
            return False
        ack = Ack.from_document(sealed.body)
        try:
            await trio.to_thread.run_sync(
                partial(
                    book.store_ack,
                    self.db,
                    counterparty=seller,
                    direction="consume",
                    ack=ack,
                    sealed=sealed,
                    now=self.now(),
                )
            )
        except (peewee.PeeweeException, ValueError) as error:
            # The seller has it; our copy waits for the next round (sending
            # it again is answered "new: no"). Never raised: the last flush
            # runs at shutdown, before the ledger's.
            log.error("trade: acknowledgement to %s not stored here: %s", peer.name, error)
            return False
        return True
