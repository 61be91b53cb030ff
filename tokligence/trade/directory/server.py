"""The directory's HTTP endpoints, served by the gateway's own server layer.

Theory of operation
-------------------
``tokligence trade directory`` serves four routes on one listener (by
default 127.0.0.1:8090), through ``tokligence/server/`` like the gateway
itself, so it gets the same handling of hostile input: head and body
timeouts, a body limit (here one document's, :data:`MAX_BODY_BYTES`: a
larger body is a 413 before it is read), refused ambiguous framing::

    POST /v1/directory/offers      a seller's announcement (documents.py)
    POST /v1/directory/heartbeat   a seller's heartbeat
    GET  /v1/directory/offers      the live offers, ?model=NAME: those selling it
    GET  /health                   live sellers and offers

Everything that reads a document, checks a signature or touches the
database runs in a worker thread, so a burst of announcements never stalls
the event loop. Time here is the directory's wall clock in Unix
milliseconds (stored ``seen_at`` times must mean the same after a restart).

Answers are JSON; a refusal is ``{"error": {"type", "code", "message"}}``
with its status: 400 ``malformed``/``wrong_seller``/``invalid_request``,
401 ``bad_signature``/``clock_skew``, 404 ``unknown_seller`` (a heartbeat
from a seller that is not live: announce again) or ``not_found``, 405, 409
``stale`` (an ``issued_at`` not after the last accepted: a replay) or
``older_version``, 413, 503 ``directory_full`` or ``unavailable`` (the
database failed). A refused announcement changes nothing.

A sweep task forgets sellers not heard from for the TTL plus the skew
window (``store.sweep``); a failure there is logged and retried
(``supervise.py``), never the end of the directory.
"""

from __future__ import annotations

import functools
import json
import logging
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs

import peewee
import trio

from ... import lifeline
from ...config import Config
from ...errors import ClientError, GatewayError, PolicyRefusal
from ...ledger.db import close_database
from ...routing.rules import pattern_matches
from ...server.exchange import JSON_HEADERS, HttpRequest, Responder
from ...server.http import HttpLimits
from ...server.listen import Bound, ListenerSpec, Server
from ...supervise import Supervisor, supervised
from ..documents import MAX_DOCUMENT_BYTES, encode
from .documents import (
    HEARTBEAT_PATH,
    OFFERS_PATH,
    Entry,
    Refused,
    listing_body,
    read_announcement,
    read_heartbeat,
    skew_problem,
)
from .store import (
    MAX_SELLERS,
    DirectoryConflict,
    DirectoryFull,
    UnknownSeller,
    live_counts,
    live_offers,
    open_directory,
    record_announcement,
    record_heartbeat,
    sweep,
)

log = logging.getLogger(__name__)

HEALTH_PATH = "/health"
# One announcement is one document: nothing larger is read.
MAX_BODY_BYTES = MAX_DOCUMENT_BYTES
MAX_MODEL_LENGTH = 256
# Entries in one listing, cheapest first: more than a buyer would try.
MAX_LISTED = 1000
# How often the sweep runs, as a share of the TTL, and its bounds (seconds).
SWEEP_SHARE = 1 / 3
SWEEP_MIN, SWEEP_MAX = 0.1, 60.0
_STATUS_BY_REASON = {"malformed": 400, "wrong_seller": 400, "bad_signature": 401}
_NO_STORE = ("cache-control", "no-store")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def render_error(path: str, error: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    """Every refusal, the server layer's own (413, 408…) included, in one envelope."""
    body = {
        "error": {"type": error.kind, "code": error.code or error.kind, "message": error.message}
    }
    return error.status, [*JSON_HEADERS, *error.headers], json.dumps(body).encode()


def _refusal(refused: Refused) -> GatewayError:
    if _STATUS_BY_REASON.get(refused.reason) == 401:
        return PolicyRefusal("authentication", refused.detail, status=401, code=refused.reason)
    return ClientError("invalid_request", refused.detail, status=400, code=refused.reason)


def _conflict(conflict: DirectoryConflict) -> GatewayError:
    if isinstance(conflict, DirectoryFull):
        return PolicyRefusal("unavailable", str(conflict), status=503, code=conflict.code)
    if isinstance(conflict, UnknownSeller):
        return ClientError("not_found", str(conflict), status=404, code=conflict.code)
    return ClientError("invalid_request", str(conflict), status=409, code=conflict.code)


def _clock_skew(detail: str) -> GatewayError:
    return PolicyRefusal("authentication", detail, status=401, code="clock_skew")


class DirectoryApp:
    """The routes of the module docstring over one directory database."""

    def __init__(
        self,
        db: peewee.Database,
        *,
        ttl_ms: int,
        skew_ms: int,
        clock: Callable[[], int] = now_ms,
        max_sellers: int = MAX_SELLERS,
    ) -> None:
        self.db = db
        self.ttl_ms = ttl_ms
        self.skew_ms = skew_ms
        self.clock = clock
        self.max_sellers = max_sellers

    @property
    def heartbeat_ms(self) -> int:
        """How often sellers are asked to heartbeat: a third of the TTL, so
        two heartbeats can be lost before an entry expires."""
        return max(self.ttl_ms // 3, 1)

    async def handle(self, request: HttpRequest, responder: Responder) -> None:
        try:
            status, body = await self._route(request)
        except GatewayError as error:
            status, headers, data = render_error(request.path, error)
            await responder.respond(status, [*headers, _NO_STORE], data)
            return
        await responder.respond(status, [*JSON_HEADERS, _NO_STORE], body)

    async def _route(self, request: HttpRequest) -> tuple[int, bytes]:
        method, path = request.method, request.path
        if path == OFFERS_PATH:
            if method in ("GET", "HEAD"):
                return 200, await self._run(self._listing, _model_asked(request.query))
            if method == "POST":
                return 200, await self._run(self._announce, request.body)
            raise _not_allowed("GET, HEAD, POST")
        if path == HEARTBEAT_PATH:
            if method == "POST":
                return 200, await self._run(self._heartbeat, request.body)
            raise _not_allowed("POST")
        if path == HEALTH_PATH:
            if method in ("GET", "HEAD"):
                return 200, await self._run(self._health)
            raise _not_allowed("GET, HEAD")
        raise ClientError("not_found", f"no route {path!r} here", code="not_found")

    async def _run(self, work: Callable[..., bytes], *args: Any) -> bytes:
        try:
            return await trio.to_thread.run_sync(work, *args)
        except peewee.PeeweeException as error:
            log.error("directory: the database failed: %s", error)
            raise PolicyRefusal(
                "unavailable", "the directory's database failed", status=503, code="unavailable"
            ) from None

    # Each of these runs in a worker thread.

    def _announce(self, body: bytes) -> bytes:
        try:
            announced = read_announcement(body)
        except Refused as refused:
            raise _refusal(refused) from None
        now = self.clock()
        problem = skew_problem(announced.announcement.issued_at, now, self.skew_ms)
        if problem is not None:
            raise _clock_skew(problem)
        try:
            record_announcement(self.db, announced, now=now, max_sellers=self.max_sellers)
        except DirectoryConflict as conflict:
            raise _conflict(conflict) from None
        log.info(
            "directory: %s announced %s at %s",
            announced.announcement.seller,
            ", ".join(offer.ref for offer in announced.offers),
            announced.announcement.url,
        )
        return encode(
            {
                "seller": announced.announcement.seller,
                "offers": [offer.ref for offer in announced.offers],
                "ttl_ms": self.ttl_ms,
                "heartbeat_ms": self.heartbeat_ms,
            }
        )

    def _heartbeat(self, body: bytes) -> bytes:
        try:
            heartbeat = read_heartbeat(body)
        except Refused as refused:
            raise _refusal(refused) from None
        now = self.clock()
        problem = skew_problem(heartbeat.issued_at, now, self.skew_ms)
        if problem is not None:
            raise _clock_skew(problem)
        try:
            expires_at = record_heartbeat(self.db, heartbeat, now=now, ttl_ms=self.ttl_ms)
        except DirectoryConflict as conflict:
            raise _conflict(conflict) from None
        return encode(
            {
                "seller": heartbeat.seller,
                "expires_in_ms": expires_at - now,
                "ttl_ms": self.ttl_ms,
                "heartbeat_ms": self.heartbeat_ms,
            }
        )

    def _listing(self, model: str | None) -> bytes:
        held = live_offers(self.db, now=self.clock(), ttl_ms=self.ttl_ms)
        if model is not None:
            held = [h for h in held if any(pattern_matches(p, model) for p in h.models)]
        held.sort(key=lambda h: (h.price, h.seller, h.name))
        entries = [
            Entry(
                offer=h.document,
                announcement=h.announcement,
                seller=h.seller,
                url=h.url,
                expires_in_ms=h.expires_in_ms,
            )
            for h in held[:MAX_LISTED]
        ]
        return listing_body(entries, model=model, ttl_ms=self.ttl_ms)

    def _health(self) -> bytes:
        sellers, offers = live_counts(self.db, now=self.clock(), ttl_ms=self.ttl_ms)
        return encode({"status": "ok", "sellers": sellers, "offers": offers, "ttl_ms": self.ttl_ms})

    def sweep_once(self) -> int:
        return sweep(self.db, now=self.clock(), forget_after_ms=self.ttl_ms + self.skew_ms)

    async def sweep_forever(
        self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Forget long-gone sellers now and then (see the module docstring)."""
        task_status.started()
        interval = min(max(self.ttl_ms / 1000 * SWEEP_SHARE, SWEEP_MIN), SWEEP_MAX)
        while True:
            await trio.sleep(interval)
            forgotten = await trio.to_thread.run_sync(self.sweep_once)
            if forgotten:
                log.info("directory: forgot %d seller(s) not heard from", forgotten)


def _not_allowed(allow: str) -> GatewayError:
    return ClientError(
        "method_not_allowed",
        f"this path answers {allow}",
        code="method_not_allowed",
        headers=(("allow", allow),),
    )


def _model_asked(query: str) -> str | None:
    """The ``model`` of ``?model=NAME``, the only parameter; None without it."""
    try:
        fields = parse_qs(
            query, keep_blank_values=True, strict_parsing=bool(query), max_num_fields=4
        )
    except ValueError:
        raise ClientError("invalid_request", "a malformed query string") from None
    unknown = set(fields) - {"model"}
    if unknown:
        raise ClientError(
            "invalid_request", f"unknown parameter {sorted(unknown)[0]!r}: only model"
        )
    values = fields.get("model")
    if values is None:
        return None
    if len(values) != 1 or not 0 < len(values[0]) <= MAX_MODEL_LENGTH:
        raise ClientError(
            "invalid_request", f"model must be given once, 1 to {MAX_MODEL_LENGTH} characters"
        )
    if not values[0].isprintable():
        raise ClientError("invalid_request", "model holds control characters")
    return values[0]


# --------------------------------------------------------------------- running


@dataclass(frozen=True, kw_only=True, slots=True)
class DirectorySettings:
    host: str
    port: int
    data_dir: Path
    ttl: float  # seconds
    clock_skew: float  # seconds
    limits: HttpLimits
    max_connections: int
    grace: float

    @classmethod
    def from_config(cls, config: Config) -> DirectorySettings:
        return cls(
            host=config.trade_directory_host,
            port=config.trade_directory_port,
            data_dir=config.data_dir,
            ttl=config.trade_directory_ttl,
            clock_skew=config.trade_directory_clock_skew,
            limits=HttpLimits(
                max_body_bytes=MAX_BODY_BYTES,
                header_timeout=config.header_timeout,
                idle_timeout=config.idle_timeout,
                body_timeout=config.body_timeout,
                body_min_rate=config.body_min_rate,
            ),
            max_connections=config.max_connections,
            grace=config.shutdown_grace,
        )


class Directory:
    """A directory: its database, its server and its sweep."""

    def __init__(self, settings: DirectorySettings, *, clock: Callable[[], int] = now_ms) -> None:
        self.settings = settings
        self.clock = clock
        self.supervisor = Supervisor()
        self.server = Server(
            specs=[
                ListenerSpec(
                    name="directory", host=settings.host, port=settings.port, keys=frozenset()
                )
            ],
            supervisor=self.supervisor,
            render_error=render_error,
            limits=settings.limits,
            max_connections=settings.max_connections,
            grace=settings.grace,
        )

    def shutdown(self) -> None:
        self.server.shutdown()

    async def run(
        self, *, task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED
    ) -> None:
        """Open the database and serve until :meth:`shutdown`."""
        settings = self.settings
        db = await trio.to_thread.run_sync(open_directory, settings.data_dir)
        try:
            app = DirectoryApp(
                db,
                ttl_ms=round(settings.ttl * 1000),
                skew_ms=round(settings.clock_skew * 1000),
                clock=self.clock,
            )
            async with trio.open_nursery() as nursery:
                await nursery.start(
                    supervised, "directory sweep", app.sweep_forever, self.supervisor
                )
                await self.server.serve(lambda keys: app.handle, task_status=task_status)
                nursery.cancel_scope.cancel()
        finally:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(close_database, db)


async def serve_directory(
    settings: DirectorySettings,
    *,
    task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run a directory until SIGINT or SIGTERM (a second one skips the grace)."""
    directory = Directory(settings)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run_all(task_status: trio.TaskStatus[list[Bound]]) -> None:
                await directory.run(task_status=task_status)
                nursery.cancel_scope.cancel()

            nursery.start_soon(lifeline.stop_on_signals, signals, directory.shutdown)
            nursery.start_soon(lifeline.watch, lifeline.current(), directory.shutdown)
            bound = await nursery.start(run_all)
            for b in bound:
                log.info(
                    "directory listening on http://%s:%d (entries live %g s without a heartbeat)",
                    b.host,
                    b.port,
                    settings.ttl,
                )
            task_status.started(bound)


def run(settings: DirectorySettings) -> None:
    """Blocking: the CLI's entry point (as ``app.run_gateway``, it tidies
    what a frozen build unpacked)."""
    line = lifeline.current()
    lifeline.tidy_unpack_dirs(line)
    try:
        trio.run(functools.partial(serve_directory, settings))
    finally:
        lifeline.release_unpack_dir(line)
