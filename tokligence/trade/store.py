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
limit (but for a request already served whose actual cost passed its hold,
which ``book.close_sale`` posts in full: see ``metering``).
:func:`reserve` adds a request's worst-case cost with one conditional
UPDATE (``… WHERE reserved + posted + amount <= limit``): the
database applies it atomically, so concurrent requests can never overdraw
together what each alone would fit -- on PostgreSQL a second UPDATE of the
row waits for the first to commit and re-checks the condition on the new
row. :func:`post` turns a held reservation into the actual cost, and
:func:`void` / :func:`void_stale` release one; each changes a reservation
only while it is ``held`` (another conditional UPDATE), so a reservation
is closed once whoever tries.

*Admission* (:func:`admit`): a traded request's offer limits and its
credit are decided in one transaction, under a lock on the offer (SQLite's
write lock, a PostgreSQL advisory lock) when the offer has limits, so the
counts the limits read and the reservation that joins them cannot
interleave with another admission's. The counts come from the
reservations themselves (requests in the last minute, requests still held,
tokens posted in the last minute) and from the offer's tokens of the UTC
day (:class:`~tokligence.trade.models.OfferDay`), and use the gateway's
per-key semantics (``limits.py``): requests per minute are counted on
admission, tokens when posted, and a request is refused while its window
already holds the limit.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

import peewee

from ..ledger import db as dbmod
from .models import Account, OfferDay, OfferVersion, Reservation
from .offers import OFFER, Limits, Offer, offer_document
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


class OfferLimitExceeded(StoreConflict):
    """An offer's limit is reached: ``limit`` is its name (``rpm``, ``tpm``,
    ``concurrency``, ``daily_tokens``); ``retry_after`` seconds until the
    window makes room (None for concurrency: when a request ends)."""

    def __init__(self, limit: str, value: int, retry_after: float | None) -> None:
        self.limit, self.value, self.retry_after = limit, value, retry_after
        super().__init__(f"offer_{limit}_exceeded: the offer's {limit} limit of {value} is reached")


WINDOW_MS = 60_000  # "per minute", sliding, as limits.py
DAY_MS = 86_400_000


def utc_day(now: int) -> str:
    """The UTC day of a Unix-ms time, as OfferDay rows name it."""
    return datetime.fromtimestamp(now / 1000, timezone.utc).strftime("%Y-%m-%d")


def _next_midnight(now: int) -> float:
    day = datetime.fromtimestamp(now / 1000, timezone.utc).date() + timedelta(days=1)
    midnight = datetime(day.year, day.month, day.day, tzinfo=timezone.utc).timestamp() * 1000
    return (midnight - now) / 1000


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


def accounts(db: peewee.Database) -> list[AccountRecord]:
    """Every account, oldest first."""
    with dbmod.connection(db):
        return [_account(row) for row in Account.select().order_by(Account.id).execute(db)]


def account_by_id(db: peewee.Database, account_id: int) -> AccountRecord | None:
    with dbmod.connection(db):
        row = Account.select().where(Account.id == account_id).first(db)
    return None if row is None else _account(row)


def rotate_key(db: peewee.Database, buyer: str, *, key_hash: str, key_prefix: str) -> AccountRecord:
    """Give ``buyer``'s account a new API key; the old one stops working."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        query = Account.update(key_hash=key_hash, key_prefix=key_prefix)
        if query.where(Account.buyer == buyer).execute(db) != 1:
            raise StoreConflict(f"no account for {buyer}")
        row = Account.select().where(Account.buyer == buyer).first(db)
    return _account(row)


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
    offer: str = ""  # the offer's name
    body_sha256: str | None = None
    tokens: int | None = None  # all kinds, once posted


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
        offer=row.offer,
        body_sha256=row.body_sha256,
        tokens=row.tokens,
    )


def reserve(
    db: peewee.Database, *, account_id: int, request_id: str, amount: int, now: int
) -> ReservationRecord:
    """Hold ``amount`` micro-USD of the account's credit for ``request_id``;
    raises CreditLimitExceeded when it does not fit, StoreConflict for an
    unknown or disabled account or a request id it already reserved for."""
    _amount(amount, "amount")
    held = Reservation(
        account_id=account_id,
        request_id=request_id,
        amount_micro_usd=amount,
        state=HELD,
        created_at=now,
        offer="",
    )
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            _hold(db, held)
    except peewee.IntegrityError:
        # The whole transaction is undone: the credit was not taken either.
        raise StoreConflict(f"request {request_id} already has a reservation") from None
    return _reservation(held)


def _hold(db: peewee.Database, held: Reservation) -> None:
    """Take ``held``'s amount from its account's credit and insert it, in
    the caller's transaction."""
    account_id, amount = held.account_id, held.amount_micro_usd
    fits = (
        (Account.id == account_id)
        & (Account.status == ACTIVE)
        & (
            Account.reserved_micro_usd + Account.posted_micro_usd + amount
            <= Account.credit_limit_micro_usd
        )
    )
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
    held.id = Reservation.insert(**held.__data__).execute(db)


def admit(
    db: peewee.Database,
    *,
    account_id: int,
    request_id: str,
    offer: str,
    limits: Limits,
    amount: int,
    body_sha256: str,
    order: bytes,
    now: int,
) -> ReservationRecord:
    """Admit a traded request to ``offer`` (its name) under ``limits`` and
    hold ``amount`` of the account's credit for it, atomically (see the
    module docstring). Raises OfferLimitExceeded, CreditLimitExceeded, or
    StoreConflict (the request id has a reservation; a disabled account)."""
    _amount(amount, "amount")
    held = Reservation(
        account_id=account_id,
        request_id=request_id,
        amount_micro_usd=amount,
        state=HELD,
        created_at=now,
        offer=offer,
        body_sha256=body_sha256,
        order_document=order.decode("utf-8"),
    )
    backend = dbmod.backend_of(db)
    limited = any(limits.as_document().values())
    try:
        with (
            dbmod.connection(db),
            backend.exclusive_transaction(db, f"trade-offer:{offer}")
            if limited
            else backend.write_transaction(db),
        ):
            if limited:
                _check_limits(db, offer, limits, now)
            _hold(db, held)
    except peewee.IntegrityError:
        raise StoreConflict(f"request {request_id} already has a reservation") from None
    return _reservation(held)


def _check_limits(db: peewee.Database, offer: str, limits: Limits, now: int) -> None:
    mine = Reservation.offer == offer
    since = now - WINDOW_MS
    if limits.concurrency:
        running = Reservation.select().where(mine & (Reservation.state == HELD)).count(db)
        if running >= limits.concurrency:
            raise OfferLimitExceeded("concurrency", limits.concurrency, None)
    if limits.rpm:
        window = Reservation.select(Reservation.created_at).where(
            mine & (Reservation.created_at > since)
        )
        if window.count(db) >= limits.rpm:
            oldest = window.order_by(Reservation.created_at).first(db)
            wait = (oldest.created_at + WINDOW_MS - now) / 1000 if oldest else 1.0
            raise OfferLimitExceeded("rpm", limits.rpm, max(wait, 0.001))
    if limits.tpm:
        recent = mine & (Reservation.closed_at > since) & Reservation.tokens.is_null(False)
        used = (
            Reservation.select(peewee.fn.COALESCE(peewee.fn.SUM(Reservation.tokens), 0))
            .where(recent)
            .scalar(db)
        )
        if int(used) >= limits.tpm:
            oldest = (
                Reservation.select(Reservation.closed_at)
                .where(recent)
                .order_by(Reservation.closed_at)
                .first(db)
            )
            wait = (oldest.closed_at + WINDOW_MS - now) / 1000 if oldest else 1.0
            raise OfferLimitExceeded("tpm", limits.tpm, max(wait, 0.001))
    if limits.daily_tokens:
        today = (
            OfferDay.select(OfferDay.tokens)
            .where((OfferDay.offer == offer) & (OfferDay.day == utc_day(now)))
            .scalar(db)
        )
        if today is not None and int(today) >= limits.daily_tokens:
            raise OfferLimitExceeded("daily_tokens", limits.daily_tokens, _next_midnight(now))


def reservation_for(
    db: peewee.Database, account_id: int, request_id: str
) -> ReservationRecord | None:
    """The reservation ``request_id`` made under the account, if any."""
    with dbmod.connection(db):
        row = (
            Reservation.select()
            .where((Reservation.account_id == account_id) & (Reservation.request_id == request_id))
            .first(db)
        )
    return None if row is None else _reservation(row)


def close_held(
    db: peewee.Database,
    reservation_id: int,
    state: str,
    charge: int,
    now: int,
    *,
    tokens: int | None = None,
    beyond_limit: bool = False,
) -> bool:
    """Close a held reservation, releasing its hold and charging ``charge``
    (for ``tokens`` tokens); False when it is not held (closed already, by
    this caller or another). Raises CreditLimitExceeded, undoing the
    transaction, when a charge above the amount held does not fit the
    credit left -- unless ``beyond_limit``: a request already served is
    charged what it cost."""
    row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    if row is None:
        return False
    closed = Reservation.update(
        state=state,
        posted_micro_usd=charge if state == POSTED else None,
        closed_at=now,
        tokens=tokens if state == POSTED else None,
    ).where((Reservation.id == reservation_id) & (Reservation.state == HELD))
    if closed.execute(db) != 1:
        return False
    held = row.amount_micro_usd
    account = Account.update(
        reserved_micro_usd=Account.reserved_micro_usd - held,
        posted_micro_usd=Account.posted_micro_usd + charge,
    ).where(Account.id == row.account_id)
    if charge > held and not beyond_limit:  # the excess must fit like a reservation would
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
        if not close_held(db, reservation_id, POSTED, actual, now):
            raise StoreConflict(f"reservation {reservation_id} is not held")
        row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    return _reservation(row)


def void(db: peewee.Database, reservation_id: int, *, now: int) -> bool:
    """Release a held reservation without charge; False when it was not held."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        return close_held(db, reservation_id, VOIDED, 0, now)


def void_stale(db: peewee.Database, *, older_than: int, now: int) -> int:
    """Release every reservation held since before ``older_than`` (Unix ms):
    requests that cannot still be running (a seller restarted mid-request).
    Returns how many were released."""
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        stale = Reservation.select(Reservation.id).where(
            (Reservation.state == HELD) & (Reservation.created_at < older_than)
        )
        ids = [row.id for row in stale.execute(db)]
        return sum(close_held(db, reservation_id, VOIDED, 0, now) for reservation_id in ids)


def reservation(db: peewee.Database, reservation_id: int) -> ReservationRecord | None:
    with dbmod.connection(db):
        row = Reservation.select().where(Reservation.id == reservation_id).first(db)
    return None if row is None else _reservation(row)
