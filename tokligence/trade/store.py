"""Offer versions, buyer accounts and credit: the seller's side of the store.

Theory of operation
-------------------
Every function here is synchronous and opens its own transaction on a
pooled connection; the gateway calls them in worker threads, as it does
the ledger's. They are written so that any number of threads and gateway
processes on one database (a SQLite file or PostgreSQL) can call them at
once.

*Offers.* :func:`publish_offers` runs at a seller's start-up under a lock
every process waits for (SQLite's write lock, a PostgreSQL advisory lock).
For each configured offer it compares the terms' hash with the latest
stored version's: equal, nothing is written; different (or none yet), the
next version is signed and stored, effective from now (never before the
previous version's time). So restarts and concurrent starts publish each
change exactly once.

*Credit.* An account's ``reserved + posted`` never exceeds its credit
limit. :func:`reserve` adds a request's worst-case cost with one
conditional UPDATE (``… WHERE reserved + posted + amount <= limit``): the
database applies it atomically, so concurrent requests can never overdraw
together what each alone would fit -- on PostgreSQL a second UPDATE of the
row waits for the first to commit and re-checks the condition on the new
row. :func:`post` turns a held reservation into the actual cost, and
:func:`void` / :func:`void_stale` release one; each changes a reservation
only while it is ``held`` (another conditional UPDATE), so a reservation
is closed once whoever tries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import peewee

from ..ledger import db as dbmod
from .models import Account, OfferVersion, Reservation
from .offers import OFFER, Offer, offer_document
from .signing import Signer, is_public_id, seal

MAX_AMOUNT = 2**62  # micro-USD: far above any credit, far below BIGINT's end
HELD, POSTED, VOIDED = "held", "posted", "voided"
ACTIVE = "active"
_OFFERS_LOCK = "trade-offers"


class StoreConflict(Exception):
    """The write would break a rule of the store; the message says which."""


class CreditLimitExceeded(StoreConflict):
    def __init__(self, *, limit: int, reserved: int, posted: int, requested: int) -> None:
        self.limit, self.reserved, self.posted, self.requested = limit, reserved, posted, requested
        super().__init__(
            f"credit_limit_exceeded: {requested} micro-USD requested, "
            f"{self.available} of {limit} available"
        )

    @property
    def available(self) -> int:
        return max(0, self.limit - self.reserved - self.posted)


# --------------------------------------------------------------------- offers


@dataclass(frozen=True, kw_only=True, slots=True)
class PublishedOffer:
    name: str
    version: int
    terms_hash: str
    effective_at: int  # Unix ms
    document: bytes  # the signed offer
    new: bool  # published by this call


def _published(row: OfferVersion, *, new: bool) -> PublishedOffer:
    return PublishedOffer(
        name=row.name,
        version=row.version,
        terms_hash=row.terms_hash,
        effective_at=row.effective_at,
        document=row.document.encode("utf-8"),
        new=new,
    )


def publish_offers(
    db: peewee.Database, offers: Sequence[Offer], signer: Signer, *, now: int
) -> list[PublishedOffer]:
    """The version in force of each of ``offers``, publishing a new one
    where the terms changed (``now`` in Unix ms)."""
    out = []
    backend = dbmod.backend_of(db)
    with dbmod.connection(db), backend.exclusive_transaction(db, _OFFERS_LOCK):
        for offer in offers:
            terms = offer.terms_hash(signer.public_id)
            latest = _latest_version(offer.name).first(db)
            if latest is not None and latest.terms_hash == terms:
                out.append(_published(latest, new=False))
                continue
            version = 1 if latest is None else latest.version + 1
            effective_at = now if latest is None else max(now, latest.effective_at + 1)
            body = offer_document(
                offer, seller=signer.public_id, version=version, effective_at=effective_at
            )
            sealed = seal(OFFER, body, signer)
            row = OfferVersion(
                name=offer.name,
                version=version,
                terms_hash=terms,
                effective_at=effective_at,
                document=sealed.data.decode("utf-8"),
            )
            OfferVersion.insert(**row.__data__).execute(db)
            out.append(_published(row, new=True))
    return out


def _latest_version(name: str) -> peewee.ModelSelect[OfferVersion]:
    return (
        OfferVersion.select()
        .where(OfferVersion.name == name)
        .order_by(OfferVersion.version.desc())
        .limit(1)
    )


def offer_versions(db: peewee.Database, name: str) -> list[PublishedOffer]:
    """Every version of the offer ``name``, oldest first."""
    with dbmod.connection(db):
        query = (
            OfferVersion.select().where(OfferVersion.name == name).order_by(OfferVersion.version)
        )
        return [_published(row, new=False) for row in query.execute(db)]


def offer_in_force(db: peewee.Database, name: str, at: int) -> PublishedOffer | None:
    """The version of ``name`` in force at ``at`` (Unix ms): the latest one
    effective by then. A request is billed at the version in force when it
    started."""
    with dbmod.connection(db):
        row = (
            OfferVersion.select()
            .where((OfferVersion.name == name) & (OfferVersion.effective_at <= at))
            .order_by(OfferVersion.version.desc())
            .first(db)
        )
        return None if row is None else _published(row, new=False)


# ------------------------------------------------------------------- accounts


@dataclass(frozen=True, kw_only=True, slots=True)
class AccountRecord:
    id: int
    buyer: str
    key_prefix: str
    status: str
    credit_limit: int  # micro-USD
    reserved: int
    posted: int
    created_at: int

    @property
    def available(self) -> int:
        return max(0, self.credit_limit - self.reserved - self.posted)


def _account(row: Account) -> AccountRecord:
    return AccountRecord(
        id=row.id,
        buyer=row.buyer,
        key_prefix=row.key_prefix,
        status=row.status,
        credit_limit=row.credit_limit_micro_usd,
        reserved=row.reserved_micro_usd,
        posted=row.posted_micro_usd,
        created_at=row.created_at,
    )


def _amount(value: int, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= MAX_AMOUNT:
        raise ValueError(f"{what} must be a whole number of micro-USD from 0 to {MAX_AMOUNT}")
    return value


def open_account(
    db: peewee.Database,
    *,
    buyer: str,
    key_hash: str,
    key_prefix: str,
    now: int,
    credit_limit: int = 0,
) -> AccountRecord:
    """A new account for ``buyer`` (a public id), whose API key hashes to
    ``key_hash``; raises StoreConflict when the buyer has one."""
    if not is_public_id(buyer):
        raise ValueError(f"a buyer is named by its public id, not {buyer!r:.80}")
    row = Account(
        buyer=buyer,
        key_hash=key_hash,
        key_prefix=key_prefix,
        status=ACTIVE,
        credit_limit_micro_usd=_amount(credit_limit, "credit_limit"),
        reserved_micro_usd=0,
        posted_micro_usd=0,
        created_at=now,
    )
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            row.id = Account.insert(**row.__data__).execute(db)
    except peewee.IntegrityError:
        raise StoreConflict(f"an account for {buyer} (or its key) exists") from None
    return _account(row)


def account_of(db: peewee.Database, buyer: str) -> AccountRecord | None:
    with dbmod.connection(db):
        row = Account.select().where(Account.buyer == buyer).first(db)
    return None if row is None else _account(row)


def account_by_key(db: peewee.Database, key_hash: str) -> AccountRecord | None:
    with dbmod.connection(db):
        row = Account.select().where(Account.key_hash == key_hash).first(db)
    return None if row is None else _account(row)


def set_credit_limit(db: peewee.Database, buyer: str, limit: int) -> AccountRecord:
    """Set ``buyer``'s credit limit. Lowering it below what is reserved and
    posted refuses new reservations until that is settled; it takes back
    nothing already granted."""
    _amount(limit, "credit_limit")
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        query = Account.update(credit_limit_micro_usd=limit).where(Account.buyer == buyer)
        if query.execute(db) != 1:
            raise StoreConflict(f"no account for {buyer}")
        row = Account.select().where(Account.buyer == buyer).first(db)
    return _account(row)


# ---------------------------------------------------------------------- credit


@dataclass(frozen=True, kw_only=True, slots=True)
class ReservationRecord:
    id: int
    account_id: int
    request_id: str
    amount: int  # micro-USD held
    state: str  # held | posted | voided
    posted: int | None  # the actual cost, once posted
    created_at: int
    closed_at: int | None


def _reservation(row: Reservation) -> ReservationRecord:
    return ReservationRecord(
        id=row.id,
        account_id=row.account_id,
        request_id=row.request_id,
        amount=row.amount_micro_usd,
        state=row.state,
        posted=row.posted_micro_usd,
        created_at=row.created_at,
        closed_at=row.closed_at,
    )


def reserve(
    db: peewee.Database, *, account_id: int, request_id: str, amount: int, now: int
) -> ReservationRecord:
    """Hold ``amount`` micro-USD of the account's credit for ``request_id``;
    raises CreditLimitExceeded when it does not fit, StoreConflict for an
    unknown or disabled account or a request id it already reserved for."""
    _amount(amount, "amount")
    fits = (
        (Account.id == account_id)
        & (Account.status == ACTIVE)
        & (
            Account.reserved_micro_usd + Account.posted_micro_usd + amount
            <= Account.credit_limit_micro_usd
        )
    )
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            grown = Account.update(reserved_micro_usd=Account.reserved_micro_usd + amount)
            if grown.where(fits).execute(db) != 1:
                row = Account.select().where(Account.id == account_id).first(db)
                if row is None or row.status != ACTIVE:
                    raise StoreConflict(f"no active account {account_id}")
                raise CreditLimitExceeded(
                    limit=row.credit_limit_micro_usd,
                    reserved=row.reserved_micro_usd,
                    posted=row.posted_micro_usd,
                    requested=amount,
                )
            held = Reservation(
                account_id=account_id,
                request_id=request_id,
                amount_micro_usd=amount,
                state=HELD,
                created_at=now,
            )
            held.id = Reservation.insert(**held.__data__).execute(db)
    except peewee.IntegrityError:
        # The whole transaction is undone: the credit was not taken either.
        raise StoreConflict(f"request {request_id} already has a reservation") from None
    return _reservation(held)


def _close(db: peewee.Database, reservation_id: int, state: str, charge: int, now: int) -> bool:
    """Close a held reservation, releasing its hold and charging ``charge``;
    False when it is not held (closed already, by this caller or another).
    Raises CreditLimitExceeded, undoing the transaction, when a charge above
    the amount held does not fit the credit left."""
    row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    if row is None:
        return False
    closed = Reservation.update(
        state=state, posted_micro_usd=charge if state == POSTED else None, closed_at=now
    ).where((Reservation.id == reservation_id) & (Reservation.state == HELD))
    if closed.execute(db) != 1:
        return False
    held = row.amount_micro_usd
    account = Account.update(
        reserved_micro_usd=Account.reserved_micro_usd - held,
        posted_micro_usd=Account.posted_micro_usd + charge,
    ).where(Account.id == row.account_id)
    if charge > held:  # the excess must fit like a reservation would
        account = account.where(
            Account.reserved_micro_usd - held + Account.posted_micro_usd + charge
            <= Account.credit_limit_micro_usd
        )
    if account.execute(db) != 1:
        current = Account.select().where(Account.id == row.account_id).first(db)
        raise CreditLimitExceeded(
            limit=current.credit_limit_micro_usd,
            reserved=current.reserved_micro_usd - held,
            posted=current.posted_micro_usd,
            requested=charge,
        )
    return True


def post(db: peewee.Database, reservation_id: int, *, actual: int, now: int) -> ReservationRecord:
    """Charge the actual cost of a held reservation and release the hold.
    An actual cost above the amount held is charged only if the excess
    still fits the credit limit; otherwise CreditLimitExceeded, and the
    reservation stays held (the seller's path reserves the worst case so
    this does not happen)."""
    _amount(actual, "actual")
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        if not _close(db, reservation_id, POSTED, actual, now):
            raise StoreConflict(f"reservation {reservation_id} is not held")
        row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    return _reservation(row)


def void(db: peewee.Database, reservation_id: int, *, now: int) -> bool:
    """Release a held reservation without charge; False when it was not held."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        return _close(db, reservation_id, VOIDED, 0, now)


def void_stale(db: peewee.Database, *, older_than: int, now: int) -> int:
    """Release every reservation held since before ``older_than`` (Unix ms):
    requests that cannot still be running (a seller restarted mid-request).
    Returns how many were released."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        stale = Reservation.select(Reservation.id).where(
            (Reservation.state == HELD) & (Reservation.created_at < older_than)
        )
        ids = [row.id for row in stale.execute(db)]
        return sum(_close(db, reservation_id, VOIDED, 0, now) for reservation_id in ids)


def reservation(db: peewee.Database, reservation_id: int) -> ReservationRecord | None:
    with dbmod.connection(db):
        row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    return None if row is None else _reservation(row)
