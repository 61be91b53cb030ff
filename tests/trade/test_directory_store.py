"""The directory's SQLite state: newest wins, replays and older versions are
refused, entries expire without a heartbeat and survive a restart."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import peewee
import pytest

from tokligence.ledger.db import close_database
from tokligence.trade.directory.documents import read_announcement, read_heartbeat
from tokligence.trade.directory.store import (
    DirectoryFull,
    OlderVersion,
    Stale,
    UnknownSeller,
    live_counts,
    live_offers,
    open_directory,
    record_announcement,
    record_heartbeat,
    sweep,
)

from .directory_samples import NOW, URL, announce, heartbeat, offer
from .keys import BUYER, SELLER, STRANGER

TTL = 90_000
SKEW = 300_000


@pytest.fixture
def db(tmp_path: Path) -> Iterator[peewee.Database]:
    database = open_directory(tmp_path)
    try:
        yield database
    finally:
        close_database(database)


def held(db: peewee.Database, now: int = NOW) -> list[str]:
    return sorted(
        f"{h.seller[8:12]} {h.name} {h.url} {h.price}" for h in live_offers(db, now=now, ttl_ms=TTL)
    )


def announced(db: peewee.Database, body: bytes, now: int = NOW) -> None:
    record_announcement(db, read_announcement(body), now=now)


S = SELLER.public_id[8:12]


def test_an_announcement_is_held_and_listed_while_live(db: peewee.Database) -> None:
    announced(db, announce(offers=[offer(), offer(name="bulk", price_input="1", price_output="2")]))
    assert held(db) == [f"{S} bulk {URL} 3", f"{S} fast {URL} 12.5"]
    (first, _) = live_offers(db, now=NOW + TTL - 1, ttl_ms=TTL)
    assert first.expires_in_ms == 1
    assert held(db, NOW + TTL) == []  # expired: listed no more
    assert live_counts(db, now=NOW, ttl_ms=TTL) == (1, 2)
    assert live_counts(db, now=NOW + TTL, ttl_ms=TTL) == (0, 0)


def test_a_heartbeat_keeps_a_seller_live(db: peewee.Database) -> None:
    announced(db, announce())
    later = NOW + TTL - 1
    assert (
        record_heartbeat(db, read_heartbeat(heartbeat(issued_at=NOW + 1)), now=later, ttl_ms=TTL)
        == later + TTL
    )
    assert held(db, later + TTL - 1) == [f"{S} fast {URL} 12.5"]
    assert held(db, later + TTL) == []


def test_a_heartbeat_of_a_seller_that_is_not_live_is_refused(db: peewee.Database) -> None:
    with pytest.raises(UnknownSeller):
        record_heartbeat(db, read_heartbeat(heartbeat()), now=NOW, ttl_ms=TTL)
    announced(db, announce())
    with pytest.raises(UnknownSeller):
        record_heartbeat(db, read_heartbeat(heartbeat()), now=NOW + TTL, ttl_ms=TTL)
    announced(db, announce(issued_at=NOW + TTL), now=NOW + TTL)  # it announces again
    assert held(db, NOW + TTL) == [f"{S} fast {URL} 12.5"]


def test_a_replay_is_refused_and_changes_nothing(db: peewee.Database) -> None:
    first = announce(issued_at=NOW)
    announced(db, first)
    announced(db, announce(offers=[offer(version=2, price_input="3")], issued_at=NOW + 10))
    with pytest.raises(Stale):
        announced(db, first, now=NOW + 20)  # the old announcement, sent again
    with pytest.raises(Stale):
        announced(db, announce(offers=[offer(version=3)], issued_at=NOW + 10), now=NOW + 20)
    with pytest.raises(Stale):
        record_heartbeat(
            db, read_heartbeat(heartbeat(issued_at=NOW + 10)), now=NOW + 20, ttl_ms=TTL
        )
    assert held(db, NOW + 20) == [f"{S} fast {URL} 13"]


def test_an_older_version_never_replaces_a_newer_one(db: peewee.Database) -> None:
    announced(db, announce(offers=[offer(version=2, price_input="3")], issued_at=NOW))
    with pytest.raises(OlderVersion) as refused:
        announced(db, announce(offers=[offer(version=1, price_input="0.5")], issued_at=NOW + 1))
    assert "fast@1 is older than fast@2" in str(refused.value)
    assert held(db) == [f"{S} fast {URL} 13"]
    # The same version again, or a newer one, is fine.
    announced(db, announce(offers=[offer(version=2, price_input="3")], issued_at=NOW + 2))
    announced(db, announce(offers=[offer(version=3, price_input="1")], issued_at=NOW + 3))
    assert held(db) == [f"{S} fast {URL} 11"]


def test_a_new_announcement_replaces_the_sellers_offers_and_url(db: peewee.Database) -> None:
    announced(db, announce(offers=[offer(), offer(name="bulk")], issued_at=NOW))
    announced(
        db, announce(offers=[offer(name="bulk")], url="http://127.0.0.1:9", issued_at=NOW + 1)
    )
    assert held(db) == [f"{S} bulk http://127.0.0.1:9 12.5"]


def test_sellers_are_independent(db: peewee.Database) -> None:
    announced(db, announce(SELLER, issued_at=NOW))
    announced(db, announce(STRANGER, [offer(STRANGER)], url="http://127.0.0.1:2", issued_at=NOW))
    # The same issued_at from another seller is not a replay.
    assert len(held(db)) == 2


def test_a_gone_seller_is_remembered_through_the_skew_window_then_forgotten(
    db: peewee.Database,
) -> None:
    body = announce(issued_at=NOW)
    announced(db, body)
    gone = NOW + TTL
    assert sweep(db, now=gone, forget_after_ms=TTL + SKEW) == 0
    with pytest.raises(Stale):  # not live, still remembered: a replay is refused
        announced(db, body, now=gone)
    assert sweep(db, now=NOW + TTL + SKEW, forget_after_ms=TTL + SKEW) == 1
    announced(db, body, now=NOW + TTL + SKEW)  # forgotten (and outside any skew window)
    assert held(db, NOW + TTL + SKEW) == [f"{S} fast {URL} 12.5"]


def test_a_full_directory_refuses_new_sellers_only(db: peewee.Database) -> None:
    record_announcement(db, read_announcement(announce(SELLER)), now=NOW, max_sellers=1)
    with pytest.raises(DirectoryFull):
        record_announcement(
            db, read_announcement(announce(BUYER, [offer(BUYER)])), now=NOW, max_sellers=1
        )
    record_announcement(
        db, read_announcement(announce(SELLER, issued_at=NOW + 1)), now=NOW, max_sellers=1
    )
    assert len(held(db)) == 1


def test_entries_survive_a_restart(tmp_path: Path) -> None:
    db = open_directory(tmp_path)
    try:
        announced(db, announce())
    finally:
        close_database(db)
    db = open_directory(tmp_path)
    try:
        (entry,) = live_offers(db, now=NOW + 1, ttl_ms=TTL)
        assert (entry.seller, entry.url) == (SELLER.public_id, URL)
        assert entry.document == offer()
        assert entry.announcement == read_announcement(announce()).data
        assert live_offers(db, now=NOW + TTL, ttl_ms=TTL) == []  # still subject to expiry
    finally:
        close_database(db)
