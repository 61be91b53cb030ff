"""The buyer's acknowledgements: what it cannot record is kept for the next
round, and never raised (the last flush runs at shutdown, before the
ledger's own)."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from typing import Any, cast

from tokligence.ledger import db as dbmod
from tokligence.trade.acker import Acker
from tokligence.trade.peer import PeerUpstream

from .keys import BUYER, SELLER
from .samples import chain


class AcceptingSeller:
    """A seller that takes every acknowledgement."""

    def __init__(self) -> None:
        self.peer = SimpleNamespace(public_id=SELLER.public_id)
        self.name = "alice"
        self.sent: list[bytes] = []

    async def send_ack(self, document: bytes) -> tuple[int, bytes]:
        self.sent.append(document)
        return 200, b'{"acknowledged": 2, "new": "yes"}'


async def test_an_acknowledgement_it_cannot_store_stays_pending(tmp_path: Path) -> None:
    # No trading tables in this database: storing the sent acknowledgement fails.
    db = dbmod.open_database(dbmod.sqlite_url(tmp_path / "ledger.db"))
    seller = AcceptingSeller()
    acker = Acker(db=db, signer=BUYER, peers=[cast(PeerUpstream, cast(Any, seller))], interval=60)
    for signed in chain(2):
        acker.add(SELLER.public_id, signed)
    try:
        await acker.flush()  # does not raise
    finally:
        dbmod.close_database(db)
    assert len(seller.sent) == 1  # the seller got it
    assert len(acker.pending[SELLER.public_id]) == 2  # kept for the next round
    assert acker.sent == 0
