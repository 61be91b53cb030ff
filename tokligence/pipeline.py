"""Where the stages meet: HTTP request -> front -> routing -> upstream -> front.

Theory of operation
-------------------
:meth:`Gateway.handle` matches the endpoint, then for a model call:

1. the client's front parses the body into a canonical request;
2. the router picks the provider(s) and the upstream model name, and the
   work mode decides passthrough or translation;
3. the upstream yields canonical events;
4. for a stream, the front's renderer turns each event into bytes that are
   written at once; otherwise the events are collected and rendered whole.

Errors raised before the response starts are rendered in the client's own
envelope with their status. Once the first byte is out there is no going
back: a failure becomes the dialect's in-stream error (the renderer does
that when fed a ``StreamError``, or when closed without a ``Finish``).
"""

from __future__ import annotations

import dataclasses
import logging
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from typing import Any

from . import __version__
from .canonical import Collector, Event, IncompleteStream, Request, StreamError
from .canonical.tokens import request_tokens, text_tokens
from .endpoints import EndpointTable, Match, dialect_for_path
from .errors import GatewayError, from_kind
from .fronts._json import dumps
from .fronts._sse import SSE_HEADERS
from .fronts.anthropic_messages import AnthropicMessagesFront
from .fronts.base import Front, IllegalStreamEvent
from .fronts.openai_embeddings import parse_embeddings, render_embeddings
from .fronts.registry import FRONTS
from .routing import LOOPBACK, Router, WorkMode, decide_mode
from .server.exchange import HttpRequest, Responder
from .upstreams import loopback
from .upstreams.base import Upstream

log = logging.getLogger("tokligence.pipeline")

JSON_HEADERS = [("content-type", "application/json")]
ESTIMATE_HEADER = "x-tokligence-token-estimate"


class Gateway:
    def __init__(
        self,
        *,
        router: Router,
        upstreams: Mapping[str, Upstream],
        work_mode: WorkMode,
        started_at: float,
        facts: Mapping[str, Any] | None = None,
    ) -> None:
        self.router = router
        self.upstreams = upstreams
        self.work_mode = work_mode
        self.started_at = started_at
        self.facts = dict(facts or {})

    # ------------------------------------------------------------ edges

    def render_error(
        self, path: str, error: GatewayError
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        front = FRONTS[dialect_for_path(path)]
        headers = [*JSON_HEADERS, *error.headers]
        if error.retry_after is not None:
            headers.append(("retry-after", str(max(1, round(error.retry_after)))))
        return error.status, headers, front.render_error(error)

    def handler_for(self, table: EndpointTable) -> Any:
        async def handle(request: HttpRequest, responder: Responder) -> None:
            try:
                match = table.match(request.method, request.path)
                await self._dispatch(match, request, responder)
            except GatewayError as error:
                if responder.started:
                    raise
                status, headers, body = self.render_error(request.path, error)
                await responder.respond(status, headers, body)

        return handle

    async def _dispatch(self, match: Match, request: HttpRequest, responder: Responder) -> None:
        action = match.endpoint.action
        if action in ("chat", "responses", "messages"):
            front = FRONTS[
                {
                    "chat": "openai_chat",
                    "responses": "openai_responses",
                    "messages": "anthropic_messages",
                }[action]
            ]
            await self._model_call(front, request, responder)
        elif action == "count_tokens":
            await self._count_tokens(request, responder)
        elif action == "embeddings":
            await self._embeddings(request, responder)
        elif action == "models":
            await responder.respond(200, JSON_HEADERS, self._models(request))
        elif action == "responses_get":
            raise GatewayError(
                "not_found",
                f"response {match.path_id!r} not found: this gateway has not stored it",
                code="response_not_found",
            )
        elif action == "health":
            await responder.respond(200, JSON_HEADERS, self._health())

    # ------------------------------------------------------------ model calls

    def _upstream_for(self, request: Request) -> tuple[Request, Upstream]:
        route = self.router.resolve(request.model)
        upstream = self.upstreams.get(route.providers[0])
        if upstream is None:
            raise GatewayError("unavailable", f"provider {route.providers[0]!r} is not available")
        decide_mode(self.work_mode, request.dialect, upstream.dialect)
        if route.upstream_model != request.model:
            request = dataclasses.replace(request, model=route.upstream_model)
        return request, upstream

    async def _model_call(self, front: Front, http: HttpRequest, responder: Responder) -> None:
        request = front.parse_request(http.body)
        responder.record.model = request.model
        responder.record.stream = request.stream
        upstream_request, upstream = self._upstream_for(request)
        events = upstream.events(
            upstream_request, response_id=secrets.token_hex(12), created=int(time.time())
        )
        # aclosing: a cancelled or failed request closes the upstream's
        # generator (and so its connection) at once, not at GC time.
        async with aclosing(events):  # type: ignore[type-var]
            if request.stream:
                await self._stream(front, request, events, responder)
            else:
                await self._whole(front, request, events, responder)

    async def _stream(
        self, front: Front, request: Request, events: AsyncIterator[Event], responder: Responder
    ) -> None:
        renderer = front.stream_renderer(request)
        first: Event | None = None
        # Point of no return: until the first event arrives nothing has been
        # sent, so a failure still gets a proper HTTP status and envelope.
        async for event in events:
            first = event
            break
        await responder.start(200, list(SSE_HEADERS))
        if first is not None:
            try:
                await responder.send(renderer.feed(first))
                async for event in events:
                    await responder.send(renderer.feed(event))
            except GatewayError as error:
                failure = StreamError(kind=error.kind, message=error.message, code=error.code)
                await responder.send(renderer.feed(failure))
            except IllegalStreamEvent:
                # A malformed event sequence: close() renders the dialect's
                # in-stream error, so the client sees a failure, not a hang.
                log.exception("upstream produced an illegal event sequence")
        await responder.send(renderer.close())
        await responder.end()

    async def _whole(
        self, front: Front, request: Request, events: AsyncIterator[Event], responder: Responder
    ) -> None:
        collector = Collector()
        async for event in events:
            collector.add(event)
        try:
            response = collector.result()
        except IncompleteStream as exc:
            raise from_kind(exc.kind, str(exc), code=exc.code) from None
        await responder.respond(200, JSON_HEADERS, front.render_response(response, request))

    # ------------------------------------------------------------ other endpoints

    async def _count_tokens(self, http: HttpRequest, responder: Responder) -> None:
        front = FRONTS["anthropic_messages"]
        assert isinstance(front, AnthropicMessagesFront)
        request = front.parse_count_tokens(http.body)
        responder.record.model = request.model
        self._upstream_for(request)  # an unroutable model is an error here too
        # No upstream counter yet: the local estimate errs high and says so.
        await responder.respond(
            200,
            [*JSON_HEADERS, (ESTIMATE_HEADER, "true")],
            front.render_count_tokens(request_tokens(request)),
        )

    async def _embeddings(self, http: HttpRequest, responder: Responder) -> None:
        request = parse_embeddings(http.body)
        responder.record.model = request.model
        route = self.router.resolve(request.model)
        if route.providers[0] != LOOPBACK:
            raise GatewayError(
                "invalid_request",
                f"model {request.model!r} routes to {route.providers[0]!r}, "
                "which serves no embeddings here",
                param="model",
            )
        dims = request.dimensions or loopback.DEFAULT_EMBEDDING_DIMENSIONS
        vectors = [loopback.embed(text, dims) for text in request.inputs]
        tokens = sum(text_tokens(text) for text in request.inputs)
        await responder.respond(
            200, JSON_HEADERS, render_embeddings(request, vectors, prompt_tokens=tokens)
        )

    def _model_ids(self) -> list[str]:
        return list(dict.fromkeys([LOOPBACK, *self.router.exact_models()]))

    def _models(self, http: HttpRequest) -> bytes:
        created = int(self.started_at)
        ids = self._model_ids()
        if http.header("anthropic-version") is not None:
            # Claude Code's gateway model discovery reads Anthropic's shape.
            stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(created))
            data = [{"type": "model", "id": i, "display_name": i, "created_at": stamp} for i in ids]
            return dumps(
                {
                    "data": data,
                    "has_more": False,
                    "first_id": ids[0] if ids else None,
                    "last_id": ids[-1] if ids else None,
                }
            )
        owners = {LOOPBACK: "tokligence"}
        return dumps(
            {
                "object": "list",
                "data": [
                    {
                        "id": i,
                        "object": "model",
                        "created": created,
                        "owned_by": owners.get(i, "tokligence"),
                    }
                    for i in ids
                ],
            }
        )

    def _health(self) -> bytes:
        routes = {rule.pattern: "|".join(rule.providers) for rule in self.router.rules}
        return dumps(
            {
                "status": "ok",
                "version": __version__,
                "uptime_s": round(time.time() - self.started_at, 3),
                "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                "work_mode": self.work_mode,
                "adapters": sorted(self.upstreams),
                "routes": routes,
                **self.facts,
            }
        )
