"""The seller's side: offers, accounts, acknowledgements and traded requests.

Theory of operation
-------------------
A gateway with offers has one :class:`Seller`. It answers the trading
endpoints (``GET /v1/trade/offers``, ``POST /v1/trade/accounts``,
``POST /v1/trade/acks``) and every model request that carries a
``Tokligence-Order`` header (:meth:`Seller.sell`), which the gateway hands
it instead of its own key check: the account's API key and the buyer's
signed order are the credentials of a traded request.

A traded request is checked in this order, and a refusal writes nothing
(docs/trading.md has the codes): the account's key; the order's signature
and its buyer, the account's (401); the order's time within
``trade_clock_skew`` of ours (401 ``clock_skew``); the body's SHA-256 (400);
the offer version, which must exist and not have been superseded when the
order was issued (400 ``unknown_offer``, 409 ``offer_superseded``); the
model, one the version sells (400); a replay of the request id (the
request's state and receipt again, or 409 for another body or a request
still running); then, in one transaction, the offer's limits (429
``offer_<limit>_exceeded``) and the worst-case cost held against the
account's credit (402 ``credit_limit_exceeded``).

It is then served by the ordinary model call with the offer's provider
(``ModelCalls.run(..., provider=…)``), the account key and the order taken
off the request, through a :class:`~tokligence.trade.sale.SaleResponder`.
When the call is over -- however it ended, even when the buyer went away
(shielded) -- the sale is closed: with an answer that went out, the
settled usage at the version's prices is posted and the receipt signed into
the chain with the supply entry (``book.close_sale``); without one (the
upstream failed before any output, the buyer left before a whole answer)
the reservation is voided and nothing else is written. The receipt then
goes to the buyer (``sale.py``). The model call's ledger row is written as
for any request.
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import Any, TypeVar

import peewee
import trio

from ..auth import presented_keys
from ..call.model_call import ModelCalls
from ..errors import ClientError, GatewayError, InternalError, PolicyRefusal, UpstreamTimeout
from ..identity.keys import hash_key, key_prefix
from ..server.exchange import JSON_HEADERS, HttpRequest, Responder
from ..wire.json_body import dumps, load_object
from . import book, store
from .acks import ACK, verify_ack
from .book import Entry, Link
from .documents import sha256_hex
from .metering import tokens_of, worst_case
from .offers import Offer, OfferTerms, parse_offer_ref, terms_from_document
from .orders import (
    ORDER_HEADER,
    Order,
    Refused,
    SignedOrder,
    check_clock,
    read_account_request,
    read_order,
)
from .receipts import HEADER as RECEIPT_HEADER
from .receipts import Receipt, SignedReceipt, read_signed, sign_receipt
from .sale import SaleResponder, outcome
from .signing import Signer, unseal

log = logging.getLogger(__name__)

T = TypeVar("T")
ACCOUNT_KEY_PREFIX = "tra_"
ACCOUNT_KEY_BYTES = 32
REPLAY_HEADER = "tokligence-replay"
SOLD_ACTIONS = frozenset({"chat", "responses", "messages"})
# Headers of a traded request that stay at the seller: its credentials.
_OWN_HEADERS = frozenset({"authorization", "x-api-key", ORDER_HEADER.lower()})
# Seconds between sweeps for reservations a dead process left held.
SWEEP_INTERVAL = 60.0


def now_ms() -> int:
    return int(time.time() * 1000)


def new_account_key() -> str:
    """An account's API key: shown to the buyer once, never stored."""
    return ACCOUNT_KEY_PREFIX + secrets.token_urlsafe(ACCOUNT_KEY_BYTES)


def _refusal(code: str, message: str, *, status: int = 401) -> GatewayError:
    if status == 401:
        return PolicyRefusal("authentication", message, code=code)
    return ClientError("invalid_request", message, status=status, code=code)


def _conflict(code: str, message: str) -> GatewayError:
    return ClientError("invalid_request", message, status=409, code=code)


def account_json(account: store.AccountRecord) -> dict[str, Any]:
    return {
        "id": account.id,
        "buyer": account.buyer,
        "key_prefix": account.key_prefix,
        "status": account.status,
        "credit_limit_micro_usd": account.credit_limit,
        "reserved_micro_usd": account.reserved,
        "posted_micro_usd": account.posted,
        "available_micro_usd": account.available,
        "created_at": account.created_at,
    }


@dataclasses.dataclass(frozen=True, kw_only=True, slots=True)
class OfferBook:
    """An offer on sale: its configuration and every published version."""

    offer: Offer
    versions: tuple[OfferTerms, ...]  # oldest first; the last is in force

    def version(self, version: int, issued_at: int) -> OfferTerms:
        """The version an order named, if it was in force or still is at
        ``issued_at``; raises the refusal otherwise."""
        found = [terms for terms in self.versions if terms.version == version]
        if not found:
            raise _refusal(
                "unknown_offer",
                f"offer {self.offer.name} has no version {version}",
                status=400,
            )
        later = [terms for terms in self.versions if terms.version > version]
        if later and later[0].effective_at <= issued_at:
            current = self.versions[-1]
            raise _conflict(
                "offer_superseded",
                f"offer {current.ref} replaced version {version} before the order was issued: "
                "fetch the offers again (GET /v1/trade/offers)",
            )
        return found[0]


class Seller:
    def __init__(
        self,
        *,
        db: peewee.Database,
        signer: Signer,
        offers: Mapping[str, OfferBook],
        published: Sequence[bytes],
        calls: ModelCalls,
        clock_skew: float,
        execution_timeout: float,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self.db = db
        self.signer = signer
        self.offers = offers
        self.calls = calls
        self.skew_ms = int(clock_skew * 1000)
        self.execution_timeout = execution_timeout
        self.now = now
        # The signed versions in force, as GET /v1/trade/offers answers.
        self._offers_body = b"[" + b",".join(published) + b"]"

    @property
    def public_id(self) -> str:
        return self.signer.public_id

    async def _in_thread(self, function: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(function)

    # ------------------------------------------------------------- endpoints

    async def answer_offers(self, responder: Responder) -> None:
        await responder.respond(200, list(JSON_HEADERS), self._offers_body)

    async def open_account(self, http: HttpRequest, responder: Responder) -> None:
        """``POST /v1/trade/accounts``: an account for the buyer that signed
        the request, its API key shown once."""
        try:
            request = read_account_request(http.body, seller=self.public_id)
            check_clock(request.issued_at, self.now(), self.skew_ms)
        except Refused as refused:
            raise _refusal(refused.code, refused.message) from None
        key = new_account_key()
        try:
            account = await self._in_thread(
                partial(
                    store.open_account,
                    self.db,
                    buyer=request.buyer,
                    key_hash=hash_key(key),
                    key_prefix=key_prefix(key),
                    now=self.now(),
                )
            )
        except store.StoreConflict:
            raise _conflict(
                "account_exists",
                f"{request.buyer} has an account here already; its key is rotated by this "
                "seller's admin (tokligence trade accounts --rotate)",
            ) from None
        log.info("trade: opened an account for %s (key %s…)", account.buyer, account.key_prefix)
        body = {"seller": self.public_id, "account": account_json(account), "api_key": key}
        await responder.respond(201, list(JSON_HEADERS), dumps(body))

    async def take_acks(self, http: HttpRequest, responder: Responder) -> None:
        """``POST /v1/trade/acks``: a buyer's signed acknowledgement of the
        receipts it holds, kept when every receipt it names is ours."""
        verdict = verify_ack(http.body, seller=self.public_id)
        ack = verdict.value
        if not verdict.ok or ack is None:
            status = 400 if verdict.reason == "malformed" else 401
            raise _refusal("bad_ack", f"{verdict.reason}: {verdict.detail}", status=status)
        account = await self._in_thread(partial(store.account_of, self.db, ack.buyer))
        if account is None:
            raise _refusal("unknown_account", f"no account for {ack.buyer} here")
        problems = await self._in_thread(partial(book.unknown_acknowledged, self.db, ack))
        if problems:
            raise _refusal(
                "unknown_receipt",
                "not receipts of this seller: " + "; ".join(problems[:5]),
                status=400,
            )
        sealed = read_signed(ACK, http.body)
        new = await self._in_thread(
            partial(
                book.store_ack,
                self.db,
                counterparty=ack.buyer,
                direction="supply",
                ack=ack,
                sealed=sealed,
                now=self.now(),
            )
        )
        body = {"acknowledged": len(ack.receipts), "new": "yes" if new else "no"}
        await responder.respond(200, list(JSON_HEADERS), dumps(body))

    async def sweep(self) -> int:
        """Void reservations held longer than a traded request may run: their
        process died (a seller killed mid-request)."""
        now = self.now()
        older_than = now - int(self.execution_timeout * 1000)
        voided = await self._in_thread(
            partial(store.void_stale, self.db, older_than=older_than, now=now)
        )
        if voided:
            log.warning("trade: voided %d reservations left held by a request that died", voided)
        return voided

    async def run_sweeps(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        task_status.started()
        while True:
            await trio.sleep(min(SWEEP_INTERVAL, self.execution_timeout))
            await self.sweep()

    # --------------------------------------------------------- traded requests

    async def sell(self, action: str, http: HttpRequest, responder: Responder) -> None:
        """Answer a model request that carries an order (see the module docstring)."""
        started = self.now()
        if action not in SOLD_ACTIONS:
            raise _refusal("not_for_sale", f"{http.path} is not sold here", status=400)
        account = await self._account(http)
        signed = self._order(http, account, started)
        order = signed.order
        name, version = parse_offer_ref(order.offer)
        offered = self.offers.get(name)
        if offered is None:
            raise _refusal("unknown_offer", f"no offer {name!r} is sold here", status=400)
        terms = offered.version(version, order.issued_at)
        obj = load_object(http.body, self.calls.json_limits)
        model = obj.get("model")
        if not isinstance(model, str) or not terms.sells(model):
            raise _refusal(
                "model_not_offered",
                f"offer {terms.ref} sells {', '.join(terms.models)}, not {model!r}",
                status=400,
            )
        previous = await self._in_thread(
            partial(store.reservation_for, self.db, account.id, order.request_id)
        )
        if previous is not None:
            await self._replay(previous, order.body_sha256, account, responder)
            return
        reservation = await self._admit(account, signed, terms, offered, model, len(http.body), obj)
        responder.record.notes["sold_to"] = account.buyer
        sale = SaleResponder(responder)
        traded = dataclasses.replace(
            http, headers=tuple(h for h in http.headers if h[0] not in _OWN_HEADERS)
        )
        cut = trio.CancelScope(deadline=trio.current_time() + self.execution_timeout)
        try:
            with cut:
                await self.calls.run(action, traded, sale, provider=offered.offer.provider)
        finally:
            with trio.CancelScope(shield=True):
                receipt = await self._close(
                    reservation, sale, cut.cancelled_caught, account, order, terms, model, started
                )
        if cut.cancelled_caught and not sale.streaming:
            raise UpstreamTimeout(
                "timeout", "the traded request ran past this seller's trade_execution_timeout"
            )
        await sale.finish(receipt)

    async def _account(self, http: HttpRequest) -> store.AccountRecord:
        keys = [k for k in presented_keys(http.headers) if k.startswith(ACCOUNT_KEY_PREFIX)]
        account = None
        if keys:
            account = await self._in_thread(
                partial(store.account_by_key, self.db, hash_key(keys[0]))
            )
        if account is None:
            raise _refusal(
                "unknown_account",
                f"a traded request needs its account's API key ({ACCOUNT_KEY_PREFIX}…) as "
                "'Authorization: Bearer'; open an account with tokligence trade open",
            )
        if account.status != store.ACTIVE:
            raise PolicyRefusal(
                "permission",
                f"the account of {account.buyer} is {account.status}",
                code="account_disabled",
            )
        return account

    def _order(self, http: HttpRequest, account: store.AccountRecord, now: int) -> SignedOrder:
        value = http.header(ORDER_HEADER.lower()) or ""
        try:
            signed = read_order(value.encode("ascii", "replace"), seller=self.public_id)
        except Refused as refused:
            raise _refusal(refused.code, refused.message) from None
        order = signed.order
        if order.buyer != account.buyer:
            raise _refusal(
                "wrong_buyer",
                f"the order is {order.buyer}'s, the key is {account.buyer}'s account's",
            )
        try:
            check_clock(order.issued_at, now, self.skew_ms)
        except Refused as refused:
            raise _refusal(refused.code, refused.message) from None
        if sha256_hex(http.body) != order.body_sha256:
            raise _refusal(
                "body_mismatch", "the body is not the one the order names (its SHA-256)", status=400
            )
        return signed

    async def _replay(
        self,
        previous: store.ReservationRecord,
        body_sha256: str,
        account: store.AccountRecord,
        responder: Responder,
    ) -> None:
        """A request id seen before: the same body gets its state and receipt
        again, nothing called and nothing billed; another body is refused."""
        request_id = previous.request_id
        if previous.body_sha256 != body_sha256:
            raise _conflict(
                "request_conflict", f"request {request_id} was ordered before with another body"
            )
        if previous.state == store.HELD:
            raise _conflict("request_in_progress", f"request {request_id} is still being served")
        receipt = await self._in_thread(
            partial(
                book.receipt_for,
                self.db,
                counterparty=account.buyer,
                direction="supply",
                request_id=request_id,
            )
        )
        headers = [*JSON_HEADERS, (REPLAY_HEADER, previous.state)]
        body: dict[str, Any] = {"request_id": request_id, "state": previous.state}
        if receipt is not None:
            headers.append((RECEIPT_HEADER.lower(), receipt.header_value))
            body["receipt"] = receipt.sealed.data.decode("utf-8")
        await responder.respond(200, headers, dumps(body))

    async def _admit(
        self,
        account: store.AccountRecord,
        signed: SignedOrder,
        terms: OfferTerms,
        offered: OfferBook,
        model: str,
        body_bytes: int,
        obj: dict[str, Any],
    ) -> store.ReservationRecord:
        order = signed.order
        amount = worst_case(body_bytes, obj, model, terms.prices)
        try:
            return await self._in_thread(
                partial(
                    store.admit,
                    self.db,
                    account_id=account.id,
                    request_id=order.request_id,
                    offer=offered.offer.name,
                    limits=offered.offer.limits,
                    amount=amount,
                    body_sha256=order.body_sha256,
                    order=signed.data,
                    now=self.now(),
                )
            )
        except store.OfferLimitExceeded as limit:
            raise PolicyRefusal(
                "rate_limit",
                f"offer {terms.ref}: its {limit.limit} limit of {limit.value} is reached",
                code=f"offer_{limit.limit}_exceeded",
                retry_after=limit.retry_after,
            ) from None
        except store.CreditLimitExceeded as credit:
            raise PolicyRefusal(
                "permission",
                f"credit_limit_exceeded: this request may cost up to {credit.requested} micro-USD; "
                f"{credit.available} of the account's {credit.limit} are available "
                f"({credit.reserved} reserved, {credit.posted} posted)",
                status=402,
                code="credit_limit_exceeded",
            ) from None
        except store.StoreConflict:  # the same request id, admitted meanwhile
            raise _conflict(
                "request_in_progress", f"request {order.request_id} is already being served"
            ) from None

    async def _close(
        self,
        reservation: store.ReservationRecord,
        sale: SaleResponder,
        cut: bool,
        account: store.AccountRecord,
        order: Order,
        terms: OfferTerms,
        model: str,
        started: int,
    ) -> SignedReceipt | None:
        """Post the sale, or void it when nothing went out (see the module
        docstring); the receipt, when there is one."""
        status = outcome(sale, cut=cut)
        now = self.now()
        try:
            if status is None:
                await self._in_thread(partial(store.void, self.db, reservation.id, now=now))
                return None
            record = sale.record
            tokens = tokens_of(record.usage)
            served = record.upstream_model or model

            def make(link: Link) -> SignedReceipt:
                receipt = Receipt(
                    request_id=order.request_id,
                    buyer=account.buyer,
                    seller=self.public_id,
                    offer=terms.ref,
                    requested_model=model,
                    served_model=served,
                    tokens=tokens,
                    prices=terms.prices,
                    cost_micro_usd=0,
                    status=status,
                    started_at=started,
                    ended_at=max(now, started),
                    seq=link.seq,
                    prev=link.prev,
                )
                receipt = dataclasses.replace(receipt, cost_micro_usd=receipt.expected_cost)
                return sign_receipt(receipt, self.signer)

            def entry(signed: SignedReceipt) -> Entry:
                receipt = signed.receipt
                return Entry(
                    counterparty=account.buyer,
                    direction="supply",
                    request_id=receipt.request_id,
                    offer=receipt.offer,
                    requested_model=receipt.requested_model,
                    served_model=receipt.served_model,
                    status=receipt.status,
                    input_tokens=tokens.input,
                    output_tokens=tokens.output,
                    cache_read_tokens=tokens.cache_read,
                    cache_write_tokens=tokens.cache_write,
                    cost_micro_usd=receipt.cost_micro_usd,
                    receipt=signed.data,
                    created_at=now,
                )

            signed = await self._in_thread(
                partial(
                    book.close_sale,
                    self.db,
                    reservation_id=reservation.id,
                    buyer=account.buyer,
                    offer=terms.name,
                    make=make,
                    entry=entry,
                    now=now,
                )
            )
        except (store.StoreConflict, book.BookConflict, peewee.PeeweeException) as error:
            # Served but not booked: the buyer gets no receipt and books it
            # unverified; the reservation is voided by the sweep if held.
            log.error(
                "trade: request %s of %s not booked: %s", order.request_id, account.buyer, error
            )
            return None
        if signed.receipt.cost_micro_usd > reservation.amount:
            log.warning(
                "trade: request %s cost %d micro-USD, more than the %d held for it",
                order.request_id,
                signed.receipt.cost_micro_usd,
                reservation.amount,
            )
        return signed


def offer_books(
    offers: Sequence[Offer], versions: Mapping[str, Sequence[bytes]]
) -> dict[str, OfferBook]:
    """The offers on sale with their published versions' terms (each
    version's signed document, oldest first)."""
    out = {}
    for offer in offers:
        terms = tuple(
            terms_from_document(unseal("offer", document).body)
            for document in versions.get(offer.name, ())
        )
        if not terms:
            raise InternalError("api_error", f"offer {offer.name} has no published version")
        out[offer.name] = OfferBook(offer=offer, versions=terms)
    return out
