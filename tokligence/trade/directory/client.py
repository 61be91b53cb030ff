"""Talking to a directory: a seller's announcements, and a buyer's cached view.

Theory of operation
-------------------
Both sides speak plain HTTP/1.1 through the gateway's own transport
(``upstreams/transport.py``), one exchange at a time, each bounded by
:data:`TIMEOUT` from the first byte sent to the last byte of the answer,
and answers by :data:`MAX_ANSWER`. A directory that does not answer, answers
garbage or cannot be reached raises :class:`DirectoryUnreachable`; one that
refuses (any status but 200) raises :class:`DirectoryRefused` with its
code.

:class:`DirectoryClient` is the seller's: it posts what
``documents.announcement_body`` and ``documents.heartbeat_body`` make (the
announcer in ``announcer.py`` decides when).

:class:`OfferDirectory` is the buyer's, for routing ``model =>
peer:auto``. Its contract (docs/trading.md, "Directory"):

- :meth:`OfferDirectory.cheapest_offer` returns the cheapest live offer
  for a model as a :class:`DirectoryOffer` (the seller's public id, the
  URL to reach it at, the signed offer), or None when there is none.
- Every entry is re-verified here (``documents.read_listing``): the
  seller's signatures on the offer and on the announcement that gives its
  URL, and that the offer sells the model. The directory is trusted for
  nothing but which sellers are live; its order is not used either.
- Answers are cached per model for ``fresh_for`` seconds (default
  :data:`FRESH_FOR`): routing asks this object on every request, the
  directory is asked at most once per model in that time, and concurrent
  callers share one request.
- When the directory cannot be asked (down, slow, garbage), the last good
  answer is used while its entries live -- each for the time the directory
  gave it, counted from when it was asked -- and then the answer is None. A
  failed attempt is not repeated for ``fresh_for`` seconds either, so a
  directory that is down costs a request nothing but a dictionary look-up.
  Nothing here raises for a directory's fault.

Trading with peers configured by name never calls any of this.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from urllib.parse import urlencode

import httpx
import trio

from ...upstreams.transport import PooledTransport
from ..money import Prices
from .documents import HEARTBEAT_PATH, OFFERS_PATH, ListedOffer, Refused, read_listing

log = logging.getLogger(__name__)

# One exchange, connection included: a directory on the same network answers
# in milliseconds, and a seller or buyer must never wait long on one.
TIMEOUT = 3.0
# A listing of MAX_LISTED large offers fits; nothing larger is read.
MAX_ANSWER = 8 * 1024 * 1024
FRESH_FOR = 5.0  # seconds a buyer's answer is used before the directory is asked again
MAX_MODELS = 256  # models whose answers a buyer keeps at once
USER_AGENT = "tokligence"


class DirectoryUnreachable(Exception):
    """No usable answer: nothing listens, no answer in time, or garbage."""


class DirectoryRefused(Exception):
    """The directory answered with a refusal."""

    def __init__(self, url: str, status: int, code: str, message: str) -> None:
        super().__init__(f"{url}: HTTP {status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def _refused(url: str, status: int, data: bytes) -> DirectoryRefused:
    try:
        error = json.loads(data)["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", data[:200].decode("utf-8", "replace")
    return DirectoryRefused(url, status, code[:64], message[:500])


class _Http:
    """One directory's base URL and a small pool of connections to it."""

    def __init__(self, url: str, transport: httpx.AsyncBaseTransport | None) -> None:
        self.base = url.rstrip("/")
        self.transport = transport or PooledTransport(max_connections=4, max_idle=2)

    async def exchange(self, method: str, target: str, body: bytes | None = None) -> bytes:
        """The body of a 200 answer to ``method target``."""
        url = self.base + target
        headers = [("user-agent", USER_AGENT), ("accept", "application/json")]
        if body is not None:
            headers.append(("content-type", "application/json"))
        request = httpx.Request(
            method,
            url,
            headers=headers,
            content=body,
            extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), TIMEOUT)},
        )
        status, data = 0, b""
        with trio.move_on_after(TIMEOUT) as scope:
            try:
                response = await self.transport.handle_async_request(request)
                try:
                    status, data = response.status_code, await _read(response)
                finally:
                    await response.aclose()
            except httpx.HTTPError as error:
                raise DirectoryUnreachable(f"{url}: {error or type(error).__name__}") from None
        if scope.cancelled_caught:
            raise DirectoryUnreachable(f"{url}: no answer within {TIMEOUT:g} s")
        if status != 200:
            raise _refused(url, status, data)
        return data

    async def aclose(self) -> None:
        await self.transport.aclose()


async def _read(response: httpx.Response) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_ANSWER:
            raise DirectoryUnreachable(f"an answer larger than {MAX_ANSWER >> 20} MiB")
    return bytes(body)


def _json_object(data: bytes) -> dict[str, object]:
    try:
        value = json.loads(data)
    except (ValueError, RecursionError):
        value = None
    if not isinstance(value, dict):
        raise DirectoryUnreachable("the answer is not a JSON object")
    return value


# ------------------------------------------------------------------- sellers


@dataclass(frozen=True, kw_only=True, slots=True)
class Accepted:
    """A directory's answer to an announcement or a heartbeat."""

    heartbeat_ms: int  # how often it wants a heartbeat
    ttl_ms: int  # how long an entry lives without one


def _accepted(data: bytes) -> Accepted:
    answer = _json_object(data)
    heartbeat_ms, ttl_ms = answer.get("heartbeat_ms"), answer.get("ttl_ms")
    if not isinstance(heartbeat_ms, int) or not isinstance(ttl_ms, int):
        raise DirectoryUnreachable("the answer names no heartbeat_ms and ttl_ms")
    return Accepted(heartbeat_ms=heartbeat_ms, ttl_ms=ttl_ms)


class DirectoryClient:
    """A seller's connection to one directory."""

    def __init__(self, url: str, *, transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.url = url
        self._http = _Http(url, transport)

    async def announce(self, body: bytes) -> Accepted:
        """Post an announcement (``documents.announcement_body``)."""
        return _accepted(await self._http.exchange("POST", OFFERS_PATH, body))

    async def heartbeat(self, body: bytes) -> Accepted:
        """Post a heartbeat (``documents.heartbeat_body``); a directory that
        no longer holds the seller refuses it with ``unknown_seller``."""
        return _accepted(await self._http.exchange("POST", HEARTBEAT_PATH, body))

    async def aclose(self) -> None:
        await self._http.aclose()


# -------------------------------------------------------------------- buyers


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectoryOffer:
    """A live offer a buyer may route to: who sells it, where, and the
    signed offer itself (all verified here)."""

    seller: str  # the seller's public id: pin it
    url: str  # the seller's base URL, from its signed announcement
    offer: bytes  # the signed offer, canonical JSON
    name: str
    version: int
    prices: Prices
    models: tuple[str, ...]
    announcement: bytes  # the seller's signed announcement naming url
    expires_at: float  # trio clock: the directory's word that it is live until then

    @property
    def ref(self) -> str:
        """``NAME@VERSION``, as the seller's receipts will name it."""
        return f"{self.name}@{self.version}"


def _offer(listed: ListedOffer, asked_at: float) -> DirectoryOffer:
    return DirectoryOffer(
        seller=listed.seller,
        url=listed.url,
        offer=listed.offer.data,
        name=listed.offer.name,
        version=listed.offer.version,
        prices=listed.offer.prices,
        models=listed.offer.models,
        announcement=listed.announcement,
        expires_at=asked_at + listed.expires_in_ms / 1000,
    )


@dataclass(kw_only=True, slots=True)
class _Known:
    offers: tuple[DirectoryOffer, ...]  # cheapest first
    ask_after: float  # trio clock


@dataclass(kw_only=True, slots=True)
class _State:
    known: dict[str, _Known] = field(default_factory=dict)
    asking: dict[str, trio.Event] = field(default_factory=dict)
    failing: bool = False  # the last attempt failed: say so once, not per model


class OfferDirectory:
    """A buyer's cached view of one directory (see the module docstring
    for the contract ``peer:auto`` relies on). One per configured
    directory, for the gateway's lifetime; :meth:`aclose` at shutdown."""

    def __init__(
        self,
        url: str,
        *,
        fresh_for: float = FRESH_FOR,
        transport: httpx.AsyncBaseTransport | None = None,
        max_models: int = MAX_MODELS,
    ) -> None:
        self.url = url
        self.fresh_for = fresh_for
        self.max_models = max_models
        self._http = _Http(url, transport)
        self._state = _State()

    async def cheapest_offer(self, model: str) -> DirectoryOffer | None:
        """The cheapest live offer of ``model`` (by the price order of
        ``documents.py``), or None; never raises for the directory's fault."""
        offers = await self.offers(model)
        return offers[0] if offers else None

    async def offers(self, model: str) -> tuple[DirectoryOffer, ...]:
        """Every live, verified offer of ``model``, cheapest first."""
        known = self._state.known.get(model)
        if known is None or trio.current_time() >= known.ask_after:
            await self._ask(model)
            known = self._state.known.get(model)
        if known is None:
            return ()
        now = trio.current_time()
        return tuple(offer for offer in known.offers if offer.expires_at > now)

    async def _ask(self, model: str) -> None:
        """Refresh ``model``'s answer, or wait for the refresh under way."""
        state = self._state
        underway = state.asking.get(model)
        if underway is not None:
            await underway.wait()
            return
        done = state.asking[model] = trio.Event()
        try:
            asked_at = trio.current_time()
            previous = state.known.get(model)
            try:
                offers = await self._fetch(model, asked_at)
            except (DirectoryUnreachable, DirectoryRefused, Refused) as error:
                level = logging.DEBUG if state.failing else logging.WARNING
                log.log(
                    level, "directory %s: no answer, using what it said before: %s", self.url, error
                )
                state.failing = True
                offers = previous.offers if previous is not None else ()
            else:
                if state.failing:
                    log.info("directory %s answers again", self.url)
                state.failing = False
            self._remember(model, _Known(offers=offers, ask_after=asked_at + self.fresh_for))
        finally:
            del state.asking[model]
            done.set()

    async def _fetch(self, model: str, asked_at: float) -> tuple[DirectoryOffer, ...]:
        data = await self._http.exchange("GET", f"{OFFERS_PATH}?{urlencode({'model': model})}")
        # Signatures cost tens of microseconds each: off the event loop.
        listed, dropped = await trio.to_thread.run_sync(read_listing, data, model)
        if dropped:
            log.warning(
                "directory %s: %d offer(s) for %s failed their checks and are ignored; first: %s",
                self.url,
                len(dropped),
                model,
                dropped[0],
            )
        return tuple(_offer(item, asked_at) for item in listed)

    def _remember(self, model: str, known: _Known) -> None:
        entries = self._state.known
        entries[model] = known
        if len(entries) > self.max_models:
            oldest = min(entries, key=lambda name: entries[name].ask_after)
            del entries[oldest]

    async def aclose(self) -> None:
        await self._http.aclose()
