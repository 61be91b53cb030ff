"""The buyer's side: a seller gateway as a provider (``peer:NAME``).

Theory of operation
-------------------
A :class:`PeerUpstream` is an :class:`~tokligence.upstreams.base.Upstream`
that speaks every client dialect, so a model call passes its client's body
through to the seller's endpoint of the same dialect (the seller translates
when its own provider speaks another). Routing, retries, fallback before
the first byte and the breaker are the model call's, as for any provider.

For each request (:meth:`PeerUpstream.relay`) it

1. knows the seller's offers: fetched from ``GET /v1/trade/offers`` on first
   use and again when the seller says a version was superseded, each
   checked against the pinned public id -- an offer not signed by it is
   refused and never bought;
2. picks the offer (the configured one, or the first that sells the
   model), checks the spend cap, and signs an order for the exact body it
   sends (request id: the gateway's own id of the request and a random
   suffix, unique per attempt);
3. sends it with the account's key and the order header, and hands the
   answer on through a :class:`Purchase`, which reads the usage of what
   passes (as the buyer's client sees it), takes the receipt out of it (a
   stream's last event, a whole answer's header) before the client sees
   anything, and -- when the model call closes the answer, however it
   ended -- books the purchase (``book.record_purchase``): the receipt
   checked (``receipts.verify_receipt`` with the seller, buyer and request
   pinned; the offer version and prices those accepted), the consume entry
   at the seller's price, ``suspect`` when the counts differ from what the
   answer said beyond the peer's tolerance; ``unverified`` or
   ``bad_receipt`` (at the buyer's own count and the accepted prices) when
   a complete answer came without a valid receipt; ``aborted`` at zero
   when the answer broke off without one.

Valid receipts are acknowledged in batches (``acker.Acker``, every
``trade_ack_interval``): a signed ``receipt_ack`` to ``POST
/v1/trade/acks``, kept on both sides.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import re
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any

import httpx
import peewee
import trio

from ..canonical import Event, Request
from ..canonical.tokens import request_tokens
from ..codecs.registry import codec_for
from ..codecs.usage_sniff import UsageReader, UsageSniffer, responses_usage
from ..errors import (
    ClientError,
    GatewayError,
    UpstreamBroken,
    UpstreamErrorStatus,
    UpstreamUnreachable,
)
from ..fronts.anthropic_messages import AnthropicMessagesFront
from ..providers import ProviderConfig, ProviderKind
from ..routing.breaker import CircuitBreaker
from ..upstreams.base import CallContext, Embeddings, Relayed
from ..upstreams.client import ProviderClient
from ..upstreams.transport import PooledTransport
from ..wire.sse_frames import EventFramer
from ..wire.sse_read import SseDecoder, SseEvent
from . import book
from .book import Entry
from .documents import DocumentError, encode, sha256_hex
from .metering import RECEIPT_EVENT, RECEIPT_EVENT_PREFIX, beyond_tolerance, tokens_of
from .money import Tokens, cost_micro_usd
from .offers import OfferError, OfferTerms, terms_from_document
from .orders import ORDER_HEADER, Order, SignedOrder, sign_order
from .peers import Peer
from .receipts import HEADER as RECEIPT_HEADER
from .receipts import SignedReceipt, verify_receipt
from .signing import Signer, unseal

if TYPE_CHECKING:
    from .acker import Acker

log = logging.getLogger(__name__)

# The seller's path for each passthrough path (relative to a provider's
# base URL, as call/passthrough.py names them): a peer's URL is the
# seller's root.
SELLER_PATHS = {
    "/chat/completions": ("/v1/chat/completions", "openai_chat"),
    "/responses": ("/v1/responses", "openai_responses"),
    "/v1/messages": ("/v1/messages", "anthropic_messages"),
}
COUNT_TOKENS_PATH = "/v1/messages/count_tokens"
OFFERS_PATH = "/v1/trade/offers"
ACKS_PATH = "/v1/trade/acks"
REPLAY_HEADER = "tokligence-replay"
# The seller's own headers that stay with it: the receipt (taken out) and
# those the buyer's gateway writes itself for its client.
_SELLERS_OWN = frozenset({RECEIPT_HEADER.lower(), "server-timing", "x-content-type-options"})
# A spend cap does not lift by itself: the retry-after of its refusal is
# far past any retry wait, so the call goes on to its next target at once.
CAP_RETRY_AFTER = 3600.0
MAX_OFFERS_BYTES = 1 << 20
_ID_ROOM = 128 - 9  # a request id and "." and 8 hex digits fit REQUEST_ID


def now_ms() -> int:
    return int(time.time() * 1000)


@dataclass(frozen=True, kw_only=True, slots=True)
class BuyerNode:
    """What every peer of a gateway shares once it runs."""

    db: peewee.Database
    signer: Signer
    acker: Acker
    now: Callable[[], int] = now_ms


def order_request_id(request_id: str) -> str:
    """The id of one purchase: the gateway's request id (for the reader of
    both books) and a random suffix (unique per attempt)."""
    return f"{request_id[:_ID_ROOM] or 'req'}.{secrets.token_hex(4)}"


def usage_reader_of(dialect: str) -> UsageReader:
    if dialect == "openai_responses":
        return responses_usage
    return codec_for("anthropic" if dialect == "anthropic_messages" else "openai").usage_from


def peer_error(status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
    """A seller's error answer, in the envelope of the dialect it answered."""
    kind: ProviderKind = "anthropic" if b'"type":"error"' in body.replace(b" ", b"") else "openai"
    return codec_for(kind).decode_error(status, body, headers)


async def _once(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def _nothing() -> None:
    return None


class SellerFacing:
    """What every upstream that buys from seller gateways answers alike
    (:class:`PeerUpstream`, and ``auto.AutoPeerUpstream``): requests go
    through as the client sent them, a seller's refusals and usage read
    as a peer's, and the buyer's node attached once the gateway runs."""

    name: str
    node: BuyerNode | None

    def attach(self, node: BuyerNode) -> None:
        self.node = node

    async def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        # Never called: a peer speaks every dialect, so the work mode sends
        # a call through or refuses it (docs/trading.md).
        raise UpstreamUnreachable("unavailable", f"{self.name} takes requests as they are only")
        yield  # pragma: no cover

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return peer_error(status, body, headers)

    def usage_reader(self, dialect: str) -> UsageReader:
        return usage_reader_of(dialect)

    def _node_for(self, path: str) -> BuyerNode:
        """The attached node, for a path sellers sell (count_tokens is
        answered before: counting is not sold); any other path is refused."""
        if path not in SELLER_PATHS:
            raise ClientError(
                "invalid_request",
                f"{self.name} sells chat, messages and responses, not {path}",
                param="model",
            )
        if self.node is None:
            raise UpstreamUnreachable("unavailable", f"{self.name} is not attached yet")
        return self.node


class PeerUpstream(SellerFacing):
    """A seller gateway as a provider (see the module docstring)."""

    may_stall = True
    dialects: tuple[str, ...] = ("openai_chat", "openai_responses", "anthropic_messages")
    models: tuple[str, ...] = ()

    def __init__(
        self,
        peer: Peer,
        *,
        connect_timeout: float,
        response_timeout: float,
        read_timeout: float,
        breaker: CircuitBreaker | None = None,
        max_connections: int = 512,
    ) -> None:
        self.peer = peer
        self.name = peer.provider
        self.breaker = breaker or CircuitBreaker()
        config = ProviderConfig(
            name=self.name,
            kind="openai",
            base_url=peer.url,
            api_key=peer.api_key,
            connect_timeout=connect_timeout,
            response_timeout=response_timeout,
            read_timeout=read_timeout,
            responses=True,
        )
        self._http = ProviderClient(
            config, codec=codec_for("openai"), breaker=self.breaker, max_connections=max_connections
        )
        # Offers and acknowledgements: a few small requests of their own.
        self._meta = PooledTransport(max_connections=4, max_idle=2)
        self._timeouts = {
            "connect": connect_timeout,
            "read": read_timeout,
            "write": read_timeout,
            "pool": connect_timeout,
        }
        self.node: BuyerNode | None = None  # attached once the gateway runs
        self.offers: tuple[OfferTerms, ...] | None = None  # verified, newest fetch
        self._stale = True
        self._fetching: trio.Lock | None = None

    # ------------------------------------------------------------ Upstream

    def head_timeout(self, stream: bool) -> float:
        return self._http.head_timeout(stream)

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        raise ClientError("invalid_request", f"{self.name} sells no embeddings", param="model")

    async def aclose(self) -> None:
        await self._http.aclose()
        await self._meta.aclose()

    async def relay(self, path: str, body: bytes, context: CallContext) -> Relayed:
        if path == COUNT_TOKENS_PATH:
            return counted(body)
        node = self._node_for(path)
        seller_path, dialect = SELLER_PATHS[path]
        obj = json.loads(body)
        model = str(obj.get("model", ""))
        terms = await self._offer_for(model)
        await self._check_cap(node)
        order = sign_order(
            Order(
                buyer=node.signer.public_id,
                seller=self.peer.public_id,
                request_id=order_request_id(context.request_id),
                offer=terms.ref,
                body_sha256=sha256_hex(body),
                issued_at=node.now(),
            ),
            node.signer,
        )
        relayed = await self._http.relay(
            seller_path, body, context, extra_headers=((ORDER_HEADER, order.header_value),)
        )
        if relayed.status >= 400:
            return await self._refused(relayed)
        headers = dict(relayed.headers)
        if REPLAY_HEADER in headers:
            await relayed.aclose()
            raise UpstreamBroken(
                "api_error",
                f"{self.name} answered request {order.order.request_id} as a replay",
                status=502,
            )
        stream = "text/event-stream" in headers.get("content-type", "")
        purchase = Purchase(
            peer=self.peer,
            node=node,
            terms=terms,
            order=order,
            model=model,
            sniffer=UsageSniffer(dialect, usage_reader_of(dialect), stream=stream),
            stream=stream,
            receipt=headers.get(RECEIPT_HEADER.lower()),
        )
        return Relayed(
            status=relayed.status,
            headers=tuple(h for h in relayed.headers if h[0] not in _SELLERS_OWN),
            chunks=purchase.chunks(relayed.chunks),
            aclose=partial(purchase.close, relayed.aclose),
        )

    # ------------------------------------------------------------ offers

    async def _offer_for(self, model: str) -> OfferTerms:
        if self.offers is None or self._stale:
            await self.refresh_offers()
        offers = self.offers or ()
        wanted = [t for t in offers if not self.peer.offer or t.name == self.peer.offer]
        for terms in wanted:
            if terms.sells(model):
                return terms
        named = f"offer {self.peer.offer!r}" if self.peer.offer else "no offer"
        raise UpstreamErrorStatus(
            "not_found",
            f"{self.name}: {named} sells {model!r} (offers: "
            + (", ".join(f"{t.ref} {'/'.join(t.models)}" for t in offers) or "none")
            + ")",
            status=404,
            code="model_not_offered",
        )

    async def refresh_offers(self) -> tuple[OfferTerms, ...]:
        """Fetch the seller's offers, when they are stale, and keep those
        its pinned id signed; several callers at once fetch them once."""
        if self._fetching is None:
            self._fetching = trio.Lock()
        async with self._fetching:
            if self.offers is not None and not self._stale:
                return self.offers  # fetched while this one waited
            status, data = await self._call("GET", OFFERS_PATH, b"")
            if status != 200:
                raise UpstreamUnreachable(
                    "unavailable", f"{self.name} answered {status} for its offers"
                )
            self.offers = self._verified(data)
            self._stale = False
            return self.offers

    def _verified(self, data: bytes) -> tuple[OfferTerms, ...]:
        try:
            listed = json.loads(data)
        except ValueError:
            listed = None
        if not isinstance(listed, list):
            raise UpstreamBroken(
                "api_error", f"{self.name}'s offers are not a JSON list", status=502
            )
        kept, refused = [], []
        for item in listed:
            try:
                sealed = unseal("offer", encode(item))
                terms = terms_from_document(sealed.body)
            except (DocumentError, OfferError, TypeError) as error:
                refused.append(f"malformed ({error})")
                continue
            if terms.seller != self.peer.public_id or not sealed.verified_by(self.peer.public_id):
                refused.append(f"{terms.ref} is not signed by {self.peer.public_id}")
                continue
            kept.append(terms)
        for problem in refused:
            log.warning("trade: %s: offer refused: %s", self.name, problem)
        if refused and not kept:
            raise UpstreamBroken(
                "api_error",
                f"{self.name}: no offer signed by its pinned id: {refused[0]}",
                status=502,
                code="offer_not_signed",
            )
        return tuple(kept)

    async def _refused(self, relayed: Relayed) -> Relayed:
        """The seller's refusal, passed on; one that says the offers moved
        on makes the next attempt fetch them again."""
        body = b"".join([chunk async for chunk in relayed.chunks])
        await relayed.aclose()
        if b"offer_superseded" in body or b"unknown_offer" in body:
            self._stale = True
        return Relayed(
            status=relayed.status, headers=relayed.headers, chunks=_once(body), aclose=_nothing
        )

    async def _check_cap(self, node: BuyerNode) -> None:
        cap = self.peer.spend_cap
        if not cap:
            return
        spent = await trio.to_thread.run_sync(partial(book.spent, node.db, self.peer.public_id))
        if spent >= cap:
            raise UpstreamErrorStatus(
                "rate_limit",
                f"{self.name}: its spend cap of {cap} micro-USD is reached ({spent} spent)",
                status=429,
                code="spend_cap_reached",
                retry_after=CAP_RETRY_AFTER,
            )

    async def _call(self, method: str, path: str, body: bytes) -> tuple[int, bytes]:
        """A small request of the trading protocol to the seller."""
        url = httpx.URL(self.peer.url + path)
        headers = [("host", url.netloc.decode("ascii")), ("accept", "application/json")]
        if body:
            headers += [("content-type", "application/json"), ("content-length", str(len(body)))]
        request = httpx.Request(
            method,
            url,
            headers=headers,
            stream=httpx.ByteStream(body),
            extensions={"timeout": self._timeouts},
        )
        try:
            response = await self._meta.handle_async_request(request)
            try:
                data = b""
                async for chunk in response.aiter_bytes():
                    data += chunk
                    if len(data) > MAX_OFFERS_BYTES:
                        raise UpstreamBroken(
                            "api_error", f"{self.name}: an answer too large", status=502
                        )
            finally:
                await response.aclose()
        except httpx.HTTPError as error:
            raise UpstreamUnreachable(
                "unavailable", f"{self.name} did not answer {path} ({type(error).__name__})"
            ) from None
        return response.status_code, data

    async def send_ack(self, document: bytes) -> tuple[int, bytes]:
        return await self._call("POST", ACKS_PATH, document)


def counted(body: bytes) -> Relayed:
    """``count_tokens`` through a peer: the gateway's own estimate (counting
    is not sold), as the gateway answers it for any upstream without a counter."""
    try:
        request = AnthropicMessagesFront().parse_count_tokens(json.loads(body))
        counted = request_tokens(request)
    except (GatewayError, ValueError):
        counted = 0
    data = json.dumps({"input_tokens": counted}).encode()
    headers = (("content-type", "application/json"), ("x-tokligence-token-estimate", "true"))
    return Relayed(status=200, headers=headers, chunks=_once(data), aclose=_nothing)


# The events that end a stream, or begin its end, per dialect: a client may
# close its connection as soon as it has one, so they wait for the receipt.
_FINAL_EVENTS = {
    "anthropic_messages": (b"message_delta", b"message_stop", b"error"),
    "openai_responses": (
        b"response.completed",
        b"response.incomplete",
        b"response.failed",
        b"error",
    ),
}
_CHAT_FINAL = re.compile(rb'"finish_reason"\s*:\s*"|^data:\s*\[DONE\]|^data:\s*\{"error"', re.M)


def is_final(dialect: str, frame: bytes) -> bool:
    """Whether ``frame`` ends its stream or begins its end (the finish
    reason, the usage after it, the terminal or error event)."""
    if dialect == "openai_chat":
        return _CHAT_FINAL.search(frame) is not None
    if not frame.startswith(b"event:"):
        return False
    name = frame[len(b"event:") :].split(b"\n", 1)[0].split(b"\r", 1)[0].strip()
    return name in _FINAL_EVENTS.get(dialect, ())


class Purchase:
    """One answer bought: what passes, its receipt, and its booking.

    A stream's end (:func:`is_final` and what follows) is held back until
    the receipt has come: a client may close its connection once it has
    the end, and the receipt would never be read."""

    def __init__(
        self,
        *,
        peer: Peer,
        node: BuyerNode,
        terms: OfferTerms,
        order: SignedOrder,
        model: str,
        sniffer: UsageSniffer,
        stream: bool,
        receipt: str | None,
    ) -> None:
        self.peer = peer
        self.node = node
        self.terms = terms
        self.order = order
        self.model = model
        self.sniffer = sniffer
        self.stream = stream
        self.receipt: bytes | None = receipt.encode("ascii") if receipt is not None else None
        self.broke: str | None = None  # why the seller's answer broke off
        self._held: list[bytes] = []  # the stream's end, until the receipt

    async def chunks(self, source: AsyncIterator[bytes]) -> AsyncIterator[bytes]:
        framer = EventFramer() if self.stream else None
        try:
            async for chunk in source:
                if framer is None:
                    self.sniffer.feed(chunk)
                    yield chunk
                    continue
                out = self._kept(framer.feed(chunk))
                if out:
                    self.sniffer.feed(out)
                    yield out
            if framer is not None:
                tail = self._kept([framer.flush()], end=True)
                if tail:
                    self.sniffer.feed(tail)
                    yield tail
        except GatewayError as error:
            self.broke = error.message
            if self._held:  # the answer was whole: its end goes out, unreceipted
                held, self._held = b"".join(self._held), []
                self.sniffer.feed(held)
                yield held
            raise

    def _kept(self, frames: Sequence[bytes], *, end: bool = False) -> bytes:
        """The frames to pass on now: not the receipt's, which is kept
        aside, nor the stream's end before the receipt (or the end of the
        seller's stream) has come."""
        out = []
        for frame in frames:
            if frame.startswith(RECEIPT_EVENT_PREFIX):
                for item in SseDecoder().feed(frame):
                    if isinstance(item, SseEvent) and item.event == RECEIPT_EVENT:
                        self.receipt = item.data.encode("utf-8")
                continue
            if self._held or is_final(self.sniffer.dialect, frame):
                self._held.append(frame)
            else:
                out.append(frame)
        if self._held and (self.receipt is not None or end):
            out += self._held
            self._held = []
        return b"".join(out)

    async def close(self, inner: Callable[[], Awaitable[None]]) -> None:
        try:
            await inner()
        finally:
            with trio.CancelScope(shield=True):
                await self._book()

    async def _book(self) -> None:
        entry, signed = self.booking()
        node = self.node
        try:
            await trio.to_thread.run_sync(
                partial(
                    book.record_purchase, node.db, signed=signed, entry=entry, now=entry.created_at
                )
            )
        except book.BookConflict as conflict:
            if signed is None:
                log.error("trade: purchase %s not booked: %s", entry.request_id, conflict)
                return
            # The seller reused a receipt number (or request): keep the
            # entry, not the receipt, and say so.
            entry = _replace(entry, status="bad_receipt", note=f"receipt not chained: {conflict}")
            await trio.to_thread.run_sync(
                partial(
                    book.record_purchase, node.db, signed=None, entry=entry, now=entry.created_at
                )
            )
            signed = None
        except peewee.PeeweeException as error:
            log.error("trade: purchase %s not booked: %s", entry.request_id, error)
            return
        if entry.status not in ("ok", "error", "aborted") or entry.note:
            log.warning(
                "trade: %s request %s: %s (%s)",
                self.peer.provider,
                entry.request_id,
                entry.status,
                entry.note or "",
            )
        if signed is not None:
            node.acker.add(self.peer.public_id, signed)

    def booking(self) -> tuple[Entry, SignedReceipt | None]:
        """The consume entry of this purchase, and the receipt to chain."""
        order = self.order.order
        seen = tokens_of(self.sniffer.finish())
        complete = self.sniffer.completed or (not self.stream and self.sniffer.json_object)
        base = Entry(
            counterparty=self.peer.public_id,
            direction="consume",
            request_id=order.request_id,
            offer=self.terms.ref,
            requested_model=self.model,
            served_model=self.model,
            status="aborted",
            created_at=self.node.now(),
        )
        if self.receipt is None:
            if self.stream and not complete:
                why = self.broke or "the answer ended before it was complete"
                return _replace(base, note=f"no receipt: {why}"), None
            return self._own_count(base, seen, "unverified", "the seller sent no receipt"), None
        verdict = verify_receipt(
            self.receipt, seller=self.peer.public_id, buyer=order.buyer, request_id=order.request_id
        )
        signed = verdict.value
        if not verdict.ok or signed is None:
            note = f"{verdict.reason}: {verdict.detail}"
            return self._own_count(base, seen, "bad_receipt", note, self.receipt), None
        receipt = signed.receipt
        if receipt.offer != self.terms.ref or receipt.prices != self.terms.prices:
            billed = f"billed at {receipt.offer} {receipt.prices.as_document()}"
            note = f"{billed}, accepted {self.terms.ref} {self.terms.prices.as_document()}"
            return self._own_count(base, seen, "bad_receipt", note, signed.data), None
        status, suspicion = receipt.status, None
        if status == "ok":
            off = beyond_tolerance(receipt.tokens, seen, self.peer.tolerance)
            if off:
                status, suspicion = "suspect", "counts differ from the answer's: " + "; ".join(off)
        entry = _replace(
            base,
            served_model=receipt.served_model,
            status=status,
            note=suspicion,
            receipt=signed.data,
            cost_micro_usd=receipt.cost_micro_usd,
            **_token_fields(receipt.tokens),
        )
        return entry, signed

    def _own_count(
        self, base: Entry, seen: Tokens, status: str, note: str, receipt: bytes | None = None
    ) -> Entry:
        """A complete answer without a valid receipt: booked at the buyer's
        own reading of it and the accepted prices, until reconciled."""
        return _replace(
            base,
            status=status,
            note=note,
            receipt=receipt,
            cost_micro_usd=cost_micro_usd(seen, self.terms.prices),
            **_token_fields(seen),
        )


def _token_fields(tokens: Tokens) -> dict[str, int]:
    return {
        "input_tokens": tokens.input,
        "output_tokens": tokens.output,
        "cache_read_tokens": tokens.cache_read,
        "cache_write_tokens": tokens.cache_write,
    }


def _replace(entry: Entry, **changes: Any) -> Entry:
    return dataclasses.replace(entry, **changes)
