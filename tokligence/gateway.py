"""Where the stages meet: HTTP request -> endpoint -> the stage that answers it.

Theory of operation
-------------------
:meth:`Gateway.handler_for` builds the handler of one listener: it matches
the endpoint (404/405 otherwise), admits the caller (authentication and
per-key limits, :mod:`~tokligence.gatekeeper`) and dispatches. Every model
call (chat, Responses, Messages, ``count_tokens``, embeddings) goes to
:class:`~tokligence.call.model_call.ModelCalls`, which owns routing, work
modes, retries, fallback, passthrough and translation; the admin API and
the small endpoints (models, stored responses, health) are answered here.

Errors raised before a response starts are rendered once
(:func:`render_error`), in the envelope of the dialect the path belongs
to, with their status and ``retry-after``. Every model call gets its
ledger row when it is over, whatever its fate.
"""

from __future__ import annotations

import logging
import math
import os
import time
import urllib.parse
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

import trio

from . import __version__
from .admin import PREFIX as ADMIN_PREFIX
from .auth import Principal
from .call.accounting import ledger_row
from .call.facts import CALL_KINDS
from .call.model_call import ModelCalls
from .endpoints import EndpointTable, Match, dialect_for_path
from .errors import ClientError, GatewayError, InternalError
from .fronts.registry import FRONTS
from .gatekeeper import Gatekeeper
from .ledger.writer import LedgerWriter
from .metrics import CONTENT_TYPE as METRICS_TYPE
from .metrics import GatewayMetrics
from .responses_store.input_items import input_item_page
from .routing import LOOPBACK, Router
from .server.exchange import JSON_HEADERS, HttpRequest, Responder
from .server.http import Handler
from .supervise import Supervisor
from .timing import UpstreamClock
from .upstreams.base import Upstream
from .wire.json_body import dumps, requested_model

if TYPE_CHECKING:
    from .admin.api import AdminApi
    from .console.files import ConsoleFiles
    from .responses_store.store import StoredTurn
    from .trade.ledger_api import TradeLedgerApi
    from .trade.seller import Seller

log = logging.getLogger(__name__)

SHOULD_RETRY = "x-should-retry"
# Endpoints whose every request is a model call, with a ledger row whatever its fate.
MODEL_ACTIONS = frozenset({"chat", "responses", "messages", "count_tokens", "embeddings"})
# A traded request's signed order (docs/trading.md), as h11 names headers.
ORDER_HEADER = "tokligence-order"


def render_error(path: str, error: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    """``error`` as the answer to a request for ``path``, in the envelope of
    the dialect the path belongs to."""
    front = FRONTS[dialect_for_path(path)]
    headers = [*JSON_HEADERS, *error.headers]
    if error.retry_after is not None:
        # Rounded up: a client told to come back early is refused again.
        headers.append(("retry-after", str(max(1, math.ceil(error.retry_after)))))
    if error.status == 401 and not any(k == SHOULD_RETRY for k, _ in headers):
        # Claude Code retries a 401 with backoff for minutes (it expects a
        # refreshed token); a wrong key stays wrong. Stainless SDKs, Claude
        # Code's included, stop at once on this header.
        headers.append((SHOULD_RETRY, "false"))
    return error.status, headers, front.render_error(error)


class Gateway:
    def __init__(
        self,
        *,
        router: Router,
        upstreams: Mapping[str, Upstream],
        calls: ModelCalls,
        started_at: float,
        facts: Mapping[str, Any] | None = None,
        ledger: LedgerWriter | None = None,
        gate: Gatekeeper | None = None,
        admin_factory: Callable[[], AdminApi] | None = None,
        supervisor: Supervisor | None = None,
        metrics: GatewayMetrics | None = None,
        console_enabled: bool = False,
        seller: Seller | None = None,
        trade_factory: Callable[[], TradeLedgerApi] | None = None,
    ) -> None:
        self.router = router
        self.seller = seller  # offers configured: this gateway sells
        self.upstreams = upstreams
        self.calls = calls
        self.ledger = ledger
        self.gate = gate
        self.admin: AdminApi | None = None
        # Builds the admin API on the first admin request: most gateways never
        # get one, and its modules are a good share of start-up imports.
        self.admin_factory = admin_factory
        self.started_at = started_at
        self.facts = dict(facts or {})
        self.supervisor = supervisor or Supervisor()
        self.metrics = metrics
        self.console_enabled = console_enabled
        self.console: ConsoleFiles | None = None  # read on the first /console request
        # The statement and settlement endpoints, made on their first
        # request; None on a gateway that does not sell.
        self.trade_factory = trade_factory
        self.trade: TradeLedgerApi | None = None

    def handler_for(self, table: EndpointTable) -> Handler:
        async def handle(request: HttpRequest, responder: Responder) -> None:
            ledgered = False
            caller: Principal | None = None
            try:
                match = table.match(request.method, request.path)
                ledgered = match.endpoint.action in MODEL_ACTIONS
                if ledgered:  # known before any refusal, for its row and its timing
                    responder.record.dialect = CALL_KINDS[match.endpoint.action].dialect
                    responder.record.clock = UpstreamClock()
                # A traded request's credentials are its account key and
                # the buyer's signed order: the seller checks them instead.
                if (
                    self.seller is not None
                    and ledgered
                    and request.header(ORDER_HEADER) is not None
                ):
                    await self.seller.sell(match.endpoint.action, request, responder)
                    return
                # The console's files hold no data (the page asks the admin
                # API, with the key its user gives it): served to anyone
                # who reaches the admin endpoints.
                if self.gate is not None and match.endpoint.action != "console":
                    caller = await self.gate.admit(
                        request,
                        responder.record,
                        endpoint_key=match.endpoint.key,
                        action=match.endpoint.action,
                    )
                if match.endpoint.action == "admin":
                    await self._admin(request, responder, caller)
                else:
                    await self._dispatch(match, request, responder)
            except GatewayError as error:
                if responder.started:
                    raise
                if ledgered and not responder.record.model:
                    # Refused before the call read its body: the row still
                    # names the model asked for, for whoever audits it.
                    responder.record.model = requested_model(request.body)
                responder.record.error = responder.record.error or error.kind
                if error.kind == "rate_limit":  # a rate limit's code, or a budget's
                    responder.record.refusal = error.code
                status, headers, body = render_error(request.path, error)
                await responder.respond(status, headers, body)
            finally:
                if ledgered:
                    await self._account(request, responder, caller)

        return handle

    async def _admin(
        self, request: HttpRequest, responder: Responder, caller: Principal | None
    ) -> None:
        if self.admin is None and self.admin_factory is not None:
            self.admin = self.admin_factory()
        if self.admin is None:
            raise InternalError("unavailable", "the admin API is not available on this gateway")
        tail = request.path[len(ADMIN_PREFIX) :]
        await self.admin.handle(request, responder, principal=caller, tail=tail)

    async def _account(
        self, request: HttpRequest, responder: Responder, caller: Principal | None
    ) -> None:
        record = responder.record
        if self.ledger is None and self.metrics is None:
            if caller is not None and self.gate is not None:
                await self.gate.settle(caller, record, None)
            return
        row = ledger_row(
            request_id=request.request_id,
            path=request.path,
            record=record,
            finished_at=time.perf_counter(),
            # A client that closed after the whole answer (the normal end of
            # a keep-alive-less client) did not go away from this request.
            disconnected=responder.disconnected and not responder.ended,
        )
        cost = self.ledger.cost(row) if self.ledger is not None else None
        if caller is not None and self.gate is not None:
            await self.gate.settle(caller, record, cost)
        if self.metrics is not None:
            self.metrics.observe(
                row,
                cost,
                upstream_ttfb_ms=record.upstream_first_byte_ms(),
                refusal=record.refusal,
            )
        if self.ledger is None:
            return
        # Shielded: a client that went away (our task is being cancelled)
        # still gets its row. The writer's bounded queue may make this wait;
        # that wait is the backpressure that keeps rows from being lost.
        if not self.ledger.try_submit(row):
            with trio.CancelScope(shield=True):
                await self.ledger.submit(row)

    async def _dispatch(self, match: Match, request: HttpRequest, responder: Responder) -> None:
        action = match.endpoint.action
        if action in MODEL_ACTIONS:
            await self.calls.run(action, request, responder)
        elif action == "models":
            await responder.respond(200, JSON_HEADERS, self._models(request))
        elif action == "model_get":
            # SDKs percent-encode an id's '/' (provider/model names).
            model = urllib.parse.unquote(match.path_id)
            await responder.respond(200, JSON_HEADERS, self._model(request, model))
        elif action == "responses_get":
            await self._stored_response(match.path_id, responder)
        elif action == "responses_delete":
            await self._delete_stored_response(match.path_id, responder)
        elif action == "responses_input_items":
            await self._stored_input_items(match.path_id, request.query, responder)
        elif action == "console":
            await self._console(match.path_id, request, responder)
        elif action == "metrics":
            if self.metrics is None:
                raise ClientError(
                    "not_found", "metrics are off here (metrics_enabled)", code="unknown_url"
                )
            exposition = self.metrics.exposition()
            await responder.respond(200, [("content-type", METRICS_TYPE)], exposition)
        elif action.startswith("trade_"):
            await self._trade(action, request, responder)
        elif action == "health":
            healthy, body = self._health()
            # Red health is loud: a load balancer takes a gateway whose
            # ledger cannot write out of rotation.
            await responder.respond(200 if healthy else 503, JSON_HEADERS, body)

    async def _trade(self, action: str, request: HttpRequest, responder: Responder) -> None:
        seller = self.seller
        if seller is None:
            raise ClientError(
                "not_found",
                "this gateway sells nothing (no [trade.offer.NAME] is configured)",
                code="unknown_url",
            )
        if action == "trade_offers":
            await seller.answer_offers(responder)
        elif action == "trade_accounts":
            await seller.open_account(request, responder)
        elif action == "trade_acks":
            await seller.take_acks(request, responder)
        else:  # the book: trade_statement, trade_settlements
            if self.trade is None and self.trade_factory is not None:
                self.trade = self.trade_factory()
            if self.trade is None:
                raise InternalError("unavailable", "the trading book is not available here")
            await self.trade.handle(request, responder, tail=action.removeprefix("trade_"))

    # ------------------------------------------------------------ small endpoints

    async def _console(self, name: str, request: HttpRequest, responder: Responder) -> None:
        if not self.console_enabled:
            raise ClientError(
                "not_found", "the console is off here (console_enabled)", code="unknown_url"
            )
        if self.console is None:
            from .console.files import ConsoleFiles  # its first use: start-up never pays

            auth = self.gate is not None and self.gate.auth_required
            self.console = ConsoleFiles(auth_required=auth)
        status, headers, body = self.console.answer(name, request.header("if-none-match"))
        await responder.respond(status, headers, body)

    async def _stored_turn(self, response_id: str, responder: Responder) -> StoredTurn:
        store = self.calls.responses
        turn = None
        if store is not None:
            turn = await store.load(response_id, user_id=responder.record.user_id)
        if turn is None:  # unknown, or another user's: the same answer
            raise _response_not_found(response_id)
        return turn

    async def _stored_response(self, response_id: str, responder: Responder) -> None:
        turn = await self._stored_turn(response_id, responder)
        await responder.respond(200, JSON_HEADERS, dumps(turn.response))

    async def _stored_input_items(self, response_id: str, query: str, responder: Responder) -> None:
        turn = await self._stored_turn(response_id, responder)
        page = input_item_page(response_id, turn.input_items, query)
        await responder.respond(200, JSON_HEADERS, dumps(page))

    async def _delete_stored_response(self, response_id: str, responder: Responder) -> None:
        store = self.calls.responses
        deleted = False
        if store is not None:
            deleted = await store.delete(response_id, user_id=responder.record.user_id)
        if not deleted:  # unknown, or another user's: the same answer
            raise _response_not_found(response_id)
        body = {"id": response_id, "object": "response", "deleted": True}
        await responder.respond(200, JSON_HEADERS, dumps(body))

    def _model_ids(self) -> list[str]:
        ids = [LOOPBACK, *self.router.exact_models()]
        for upstream in self.upstreams.values():
            ids.extend(upstream.models)
        return list(dict.fromkeys(ids))

    def _model(self, http: HttpRequest, model: str) -> bytes:
        """One model, as listed or routable; 404 in the caller's shape otherwise."""
        if model not in self._model_ids():
            try:
                self.router.resolve(model)
            except GatewayError:
                raise ClientError(
                    "not_found",
                    f"The model {model!r} does not exist or is not routed by this gateway.",
                    code="model_not_found",
                    param="model",
                ) from None
        if http.header("anthropic-version") is not None:
            return dumps(self._anthropic_model(model))
        return dumps(self._openai_model(model))

    def _anthropic_model(self, model: str) -> dict[str, Any]:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(int(self.started_at)))
        return {"type": "model", "id": model, "display_name": model, "created_at": stamp}

    def _openai_model(self, model: str) -> dict[str, Any]:
        owner = self._owner(model)
        return {"id": model, "object": "model", "created": int(self.started_at), "owned_by": owner}

    def _models(self, http: HttpRequest) -> bytes:
        ids = self._model_ids()
        if http.header("anthropic-version") is not None:
            # Claude Code's gateway model discovery reads Anthropic's shape.
            data = [self._anthropic_model(i) for i in ids]
            return dumps(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": ids[0] if ids else None,
                    "last_id": ids[-1] if ids else None,
                }
            )
        return dumps({"object": "list", "data": [self._openai_model(i) for i in ids]})

    def _owner(self, model: str) -> str:
        try:
            return self.router.resolve(model).providers[0]
        except GatewayError:
            return "tokligence"

    def _ledger_health(self) -> dict[str, Any]:
        if self.ledger is None:
            return {"ledger": {"enabled": False}}
        stats = self.ledger.stats
        return {
            "ledger": {
                "enabled": True,
                "healthy": self.ledger.healthy,
                "rows_written": stats.rows_written,
                "rows_quarantined": stats.quarantined,
                "queued": stats.queued,
                "last_error": stats.last_error,
            }
        }

    def _health(self) -> tuple[bool, bytes]:
        routes = {rule.pattern: "|".join(rule.providers) for rule in self.router.rules}
        breakers = {
            name: upstream.breaker.state
            for name, upstream in self.upstreams.items()
            if name != LOOPBACK  # it cannot fail
        }
        # 503 only while the ledger cannot write (a load balancer should take
        # the gateway out of rotation); a background task that failed and was
        # restarted makes it "degraded" for a while, still serving.
        healthy = self.ledger is None or self.ledger.healthy
        failing = self.supervisor.failing(trio.current_time())
        background = self.supervisor.report()
        return healthy, dumps(
            {
                "status": "ok" if healthy and not failing else "degraded",
                "version": __version__,
                "uptime_s": round(time.time() - self.started_at, 3),
                "pid": os.getpid(),  # which process answered (serve --workers)
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "work_mode": self.calls.work_mode,
                "adapters": sorted(self.upstreams),
                "routes": routes,
                "upstreams": breakers,
                **self._ledger_health(),
                **({"background": background} if background else {}),
                **self.facts,
            }
        )


def _response_not_found(response_id: str) -> ClientError:
    return ClientError(
        "not_found", f"Response with id {response_id!r} not found.", code="response_not_found"
    )
