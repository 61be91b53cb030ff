"""The directory's state: sellers and their offers, in its own SQLite file.

Theory of operation
-------------------
Two tables, in ``<data_dir>/directory.db`` (migrated as the role
``directory`` by the ledger's engine): ``directory_sellers``, one row per
seller (its URL, its latest signed announcement, the latest ``issued_at``
accepted from it, and ``seen_at``, when the directory last heard from it by
its own clock), and ``directory_offers``, the offers of that announcement
(the signed offer, and the models and prices the listing filters and sorts
by).

A seller is **live** while ``now - seen_at < ttl``; only live sellers'
offers are listed. An announcement replaces everything the directory holds
of its seller (an offer it no longer lists is withdrawn), but only if it is
newer than anything accepted from that seller (``issued_at``, so a replayed
announcement or heartbeat is refused) and carries no offer at an older
version than the one held (a newer version is never replaced by an older).
A heartbeat moves ``seen_at`` on; to a seller that is not live it is
refused, and the seller announces again.

A seller that is no longer live is still *remembered* for the skew window
(``forget_after`` = ttl + skew): within it, its last ``issued_at`` and
versions still refuse a replay. Then :func:`sweep` deletes it.

Every function is synchronous, one transaction each (SQLite's write lock
for writes); the server calls them in worker threads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path

import peewee

from ...ledger import db as dbmod
from ...ledger.migrations import Migration, MigrationResult, migrate
from .documents import Announced, Heartbeat, SignedOffer

ROLE = "directory"
FILE = "directory.db"
SELLERS_TABLE = "directory_sellers"
OFFERS_TABLE = "directory_offers"
# Sellers held at once (live or remembered): announcing needs only a key,
# which costs nothing to make, so a directory bounds what it keeps.
MAX_SELLERS = 10_000


class DirectoryConflict(Exception):
    """A write the directory refuses; ``code`` says which rule, the message why."""

    code = "conflict"


class Stale(DirectoryConflict):
    code = "stale"


class OlderVersion(DirectoryConflict):
    code = "older_version"


class UnknownSeller(DirectoryConflict):
    code = "unknown_seller"


class DirectoryFull(DirectoryConflict):
    code = "directory_full"


class SellerRow(peewee.Model):
    seller = peewee.TextField(primary_key=True)  # public id
    url = peewee.TextField()
    announcement = peewee.TextField()  # the signed announcement, canonical JSON
    issued_at = peewee.BigIntegerField()  # the latest accepted, the seller's clock (ms)
    seen_at = peewee.BigIntegerField()  # the directory's clock (Unix ms)

    class Meta:
        table_name = SELLERS_TABLE


class OfferRow(peewee.Model):
    id = peewee.BigAutoField()
    seller = peewee.TextField()
    name = peewee.TextField()
    version = peewee.BigIntegerField()
    models = peewee.TextField()  # JSON list of patterns
    price_input = peewee.TextField()  # USD per million tokens, as signed
    price_output = peewee.TextField()
    document = peewee.TextField()  # the signed offer, canonical JSON

    class Meta:
        table_name = OFFERS_TABLE
        indexes = ((("seller", "name"), True),)


def _directory_1_tables(db: peewee.Database) -> None:
    """Sellers and their offers."""

    class Seller(peewee.Model):
        seller = peewee.TextField(primary_key=True)
        url = peewee.TextField()
        announcement = peewee.TextField()
        issued_at = peewee.BigIntegerField()
        seen_at = peewee.BigIntegerField(index=True)

        class Meta:
            database = db
            table_name = SELLERS_TABLE

    class Offer(peewee.Model):
        id = peewee.BigAutoField()
        seller = peewee.TextField()
        name = peewee.TextField()
        version = peewee.BigIntegerField()
        models = peewee.TextField()
        price_input = peewee.TextField()
        price_output = peewee.TextField()
        document = peewee.TextField()

        class Meta:
            database = db
            table_name = OFFERS_TABLE
            indexes = ((("seller", "name"), True),)

    db.create_tables([Seller, Offer])


DIRECTORY_MIGRATIONS: tuple[Migration, ...] = (
    Migration(version=1, name="directory tables", apply=_directory_1_tables),
)


def open_directory(data_dir: Path) -> peewee.Database:
    """The directory's database in ``data_dir``, migrated."""
    db = dbmod.open_database(dbmod.sqlite_url(data_dir / FILE))
    try:
        migrate_directory(db)
    except BaseException:
        dbmod.close_database(db)
        raise
    return db


def migrate_directory(db: peewee.Database) -> MigrationResult:
    return migrate(db, ROLE, DIRECTORY_MIGRATIONS)


def record_announcement(
    db: peewee.Database, announced: Announced, *, now: int, max_sellers: int = MAX_SELLERS
) -> None:
    """Hold ``announced`` as everything its seller sells, heard of at
    ``now``; raises a :class:`DirectoryConflict` (and changes nothing) when
    the module docstring's rules refuse it."""
    announcement = announced.announcement
    seller = announcement.seller
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        row = SellerRow.select().where(SellerRow.seller == seller).first(db)
        if row is None:
            if SellerRow.select().count(db) >= max_sellers:
                raise DirectoryFull(f"the directory holds {max_sellers} sellers already")
        elif announcement.issued_at <= row.issued_at:
            raise Stale(
                f"issued_at {announcement.issued_at} is not after {row.issued_at}, "
                "the latest accepted from this seller"
            )
        held = dict(
            OfferRow.select(OfferRow.name, OfferRow.version)
            .where(OfferRow.seller == seller)
            .tuples()
            .execute(db)
        )
        for offer in announced.offers:
            if held.get(offer.name, 0) > offer.version:
                raise OlderVersion(
                    f"offer {offer.ref} is older than {offer.name}@{held[offer.name]}, "
                    "which the directory holds"
                )
        values = {
            "url": announcement.url,
            "announcement": announced.data.decode("utf-8"),
            "issued_at": announcement.issued_at,
            "seen_at": now,
        }
        if row is None:
            SellerRow.insert(seller=seller, **values).execute(db)
        else:
            SellerRow.update(**values).where(SellerRow.seller == seller).execute(db)
        OfferRow.delete().where(OfferRow.seller == seller).execute(db)
        OfferRow.insert_many([_offer_row(seller, offer) for offer in announced.offers]).execute(db)


def _offer_row(seller: str, offer: SignedOffer) -> dict[str, object]:
    prices = offer.prices.as_document()
    return {
        "seller": seller,
        "name": offer.name,
        "version": offer.version,
        "models": json.dumps(list(offer.models)),
        "price_input": prices["input"],
        "price_output": prices["output"],
        "document": offer.data.decode("utf-8"),
    }


def record_heartbeat(db: peewee.Database, heartbeat: Heartbeat, *, now: int, ttl_ms: int) -> int:
    """Keep a live seller live; returns when it now expires (Unix ms).
    Raises UnknownSeller for a seller that is not live, Stale for an
    ``issued_at`` not after the latest accepted."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        row = SellerRow.select().where(SellerRow.seller == heartbeat.seller).first(db)
        if row is None or not _live(row.seen_at, now, ttl_ms):
            raise UnknownSeller(f"{heartbeat.seller} has no live announcement here: announce")
        if heartbeat.issued_at <= row.issued_at:
            raise Stale(
                f"issued_at {heartbeat.issued_at} is not after {row.issued_at}, "
                "the latest accepted from this seller"
            )
        SellerRow.update(issued_at=heartbeat.issued_at, seen_at=now).where(
            SellerRow.seller == heartbeat.seller
        ).execute(db)
    return now + ttl_ms


def _live(seen_at: int, now: int, ttl_ms: int) -> bool:
    return now - seen_at < ttl_ms


@dataclass(frozen=True, kw_only=True, slots=True)
class HeldOffer:
    """A live offer as stored: what the listing filters, sorts and shows."""

    seller: str
    url: str
    name: str
    models: tuple[str, ...]
    price: Decimal  # input + output, the price order's first key
    document: bytes  # the signed offer
    announcement: bytes  # its seller's signed announcement
    expires_in_ms: int


def live_offers(db: peewee.Database, *, now: int, ttl_ms: int) -> list[HeldOffer]:
    """Every offer of every live seller, in no particular order."""
    query = (
        OfferRow.select(
            OfferRow.seller,
            OfferRow.name,
            OfferRow.models,
            OfferRow.price_input,
            OfferRow.price_output,
            OfferRow.document,
            SellerRow.url,
            SellerRow.announcement,
            SellerRow.seen_at,
        )
        .join(SellerRow, on=OfferRow.seller == SellerRow.seller)
        .where(SellerRow.seen_at > now - ttl_ms)
        .tuples()
    )
    with dbmod.connection(db):
        rows = list(query.execute(db))
    return [
        HeldOffer(
            seller=seller,
            url=url,
            name=name,
            models=tuple(json.loads(models)),
            price=Decimal(price_input) + Decimal(price_output),
            document=document.encode("utf-8"),
            announcement=announcement.encode("utf-8"),
            expires_in_ms=seen_at + ttl_ms - now,
        )
        for (
            seller,
            name,
            models,
            price_input,
            price_output,
            document,
            url,
            announcement,
            seen_at,
        ) in rows
    ]


def live_counts(db: peewee.Database, *, now: int, ttl_ms: int) -> tuple[int, int]:
    """(live sellers, their offers)."""
    live = SellerRow.seen_at > now - ttl_ms
    with dbmod.connection(db):
        sellers = SellerRow.select().where(live).count(db)
        offers = (
            OfferRow.select()
            .join(SellerRow, on=OfferRow.seller == SellerRow.seller)
            .where(live)
            .count(db)
        )
    return sellers, offers


def sweep(db: peewee.Database, *, now: int, forget_after_ms: int) -> int:
    """Forget the sellers not heard from for ``forget_after_ms``, and their
    offers; returns how many sellers."""
    cutoff = now - forget_after_ms
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        gone = SellerRow.select(SellerRow.seller).where(SellerRow.seen_at <= cutoff)
        OfferRow.delete().where(OfferRow.seller.in_(gone)).execute(db)
        return int(SellerRow.delete().where(SellerRow.seen_at <= cutoff).execute(db))
