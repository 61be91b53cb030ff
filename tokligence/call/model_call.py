"""One model call, from the client's body to the last byte of the answer.

Theory of operation
-------------------
1. **Route.** The body is decoded once; its ``model`` picks a route: an
   ordered list of providers (primary first, then fallbacks). For each, the
   work mode decides *native* (loopback), *passthrough* (the provider speaks
   the client's dialect) or *translation*; targets a mode forbids are
   skipped, and if none is left the mode's error is the answer. Then
   :func:`~tokligence.call.prepare.prepare` readies the request for those targets
   (stored Responses history, the repeated-tool-call guard).
2. **Attempt.** Targets are tried in order; each gets up to
   ``max_retries`` retries with exponential backoff (an upstream's
   ``retry-after`` is honoured up to ``retry_max_wait``) on connect errors,
   timeouts, 429 and 5xx. An open circuit breaker skips a target at once.
3. **Point of no return.** An attempt counts as started when its first
   canonical event arrives (translation) or its response head arrives with
   a non-retryable status (passthrough). Until then nothing has reached the
   client, so any failure may still go to the next attempt. After it, a
   failure becomes the dialect's in-stream error event and a clean close.
4. **Answer.** Streams are written event by event, with keep-alives while a
   network upstream is silent (the renderer's own keep-alive frame, or an
   SSE comment between relayed events). Passthrough relays the upstream's
   status, headers and bytes untouched and only sniffs usage.

Usage is tracked on every path for the access record (and the ledger):
reported usage when the upstream gives it, otherwise an estimate flagged as
such.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import random
import secrets
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from typing import Any, Literal

import trio

from ..agents.safety import AgentSafety
from ..agents.shell import fixed_shell_calls, wants_argv
from ..canonical import (
    Collector,
    Event,
    Finish,
    IncompleteStream,
    MessageStart,
    Request,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ..canonical.tokens import request_tokens, text_tokens
from ..errors import GatewayError, from_kind, invalid
from ..fronts.base import Front, IllegalStreamEvent
from ..responses_store.store import ResponseStore
from ..responses_store.turns import TurnSink, sink_for
from ..routing import Route, Router, WorkMode
from ..server.exchange import JSON_HEADERS, HttpRequest, Responder
from ..upstreams.base import Upstream
from ..upstreams.client import CallContext, ProviderClient, client_key_of
from ..wire.json_body import load_object
from ..wire.sse_write import SSE_HEADERS
from .passthrough import RETRYABLE_STATUS, Relay
from .prepare import prepare
from .pump import pump

log = logging.getLogger("tokligence.gateway")

Mode = Literal["native", "passthrough", "translation"]


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    backoff: float = 0.5
    max_wait: float = 30.0
    keepalive: float = 15.0
    default_max_tokens: int = 8192


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    upstream: Upstream
    mode: Mode


def _retryable(error: GatewayError) -> bool:
    return error.kind in ("unavailable", "timeout") or error.status in RETRYABLE_STATUS


def _is_health_failure(error: GatewayError) -> bool:
    """Failures that say the upstream is unwell (429 says it is alive)."""
    return error.kind in ("unavailable", "timeout") or error.status >= 500


class UsageTracker:
    """Reported usage from the events, or an estimate when none came."""

    def __init__(self, request: Request | None, fallback_input: int) -> None:
        self.reported: Usage | None = None
        self.output_chars: list[str] = []
        self.input_estimate = request_tokens(request) if request is not None else fallback_input

    def observe(self, event: Event) -> None:
        usage = event.usage if isinstance(event, UsageUpdate | MessageStart) else None
        if usage is not None:
            self.reported = merge_usage(self.reported, usage)
        if isinstance(event, TextDelta):
            self.output_chars.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self.output_chars.append(event.arguments)

    def result(self, *, complete: bool) -> Usage:
        if self.reported is not None and self.reported.output_tokens and complete:
            return self.reported
        estimate = Usage(
            input_tokens=self.input_estimate,
            output_tokens=text_tokens("".join(self.output_chars)),
            estimated=True,
        )
        return merge_usage(estimate, self.reported) if self.reported else estimate


class ModelCall:
    """The model-call stage of the pipeline, shared by the three dialects."""

    def __init__(
        self,
        *,
        router: Router,
        upstreams: Mapping[str, Upstream],
        work_mode: WorkMode,
        policy: RetryPolicy,
        safety: AgentSafety | None = None,
    ) -> None:
        self.router = router
        self.upstreams = upstreams
        self.work_mode = work_mode
        self.policy = policy
        self.safety = safety or AgentSafety()
        self.relay = Relay(keepalive=policy.keepalive)
        # Stored Responses turns; set by app.run once the database is open.
        self.responses: ResponseStore | None = None

    # ------------------------------------------------------------ targets

    def targets(self, route: Route, dialect: str) -> list[Target]:
        out: list[Target] = []
        refusal: GatewayError | None = None
        for name in route.providers:
            upstream = self.upstreams.get(name)
            if upstream is None:
                refusal = GatewayError("unavailable", f"provider {name!r} is not configured")
                continue
            if not upstream.dialects:
                out.append(Target(upstream=upstream, mode="native"))
                continue
            native = dialect in upstream.dialects
            if self.work_mode == "passthrough" and not native:
                refusal = GatewayError(
                    "invalid_request",
                    f"work_mode=passthrough does not support translation ({dialect} client, "
                    f"provider {name} speaks {', '.join(upstream.dialects)})",
                    code="work_mode_forbids",
                )
                continue
            if self.work_mode == "translation" and native:
                refusal = GatewayError(
                    "invalid_request",
                    f"work_mode=translation does not support passthrough ({dialect} client "
                    f"and provider {name})",
                    code="work_mode_forbids",
                )
                continue
            out.append(Target(upstream=upstream, mode="passthrough" if native else "translation"))
        if not out:
            raise refusal or GatewayError(
                "unavailable", f"no provider for model {route.requested_model!r}"
            )
        return out

    # ------------------------------------------------------------ entry

    async def run(self, front: Front, http: HttpRequest, responder: Responder) -> None:
        responder.record.dialect = front.dialect
        obj = load_object(http.body)
        model = obj.get("model")
        stream = obj.get("stream") is True
        responder.record.stream = stream
        if not isinstance(model, str) or not model:
            front.parse_object(obj)  # raises the dialect's precise error
            raise invalid("'model' is required", param="model")
        responder.record.model = model
        route = self.router.resolve(model)
        targets = self.targets(route, front.dialect)
        prepared = await prepare(
            front,
            http,
            obj,
            passthrough=[t.mode == "passthrough" for t in targets],
            responder=responder,
            responses=self.responses,
            safety=self.safety,
        )
        obj, http, request = prepared.obj, prepared.http, prepared.request
        context = CallContext(
            client_key=client_key_of(http.headers),
            client_headers=http.headers,
            query=http.query,
            default_max_tokens=self.policy.default_max_tokens,
        )
        last: GatewayError | None = None
        final_index = len(targets) - 1
        for index, target in enumerate(targets):
            breaker = getattr(target.upstream, "breaker", None)
            for attempt in range(self.policy.max_retries + 1):
                if breaker is not None and not breaker.allow(trio.current_time()):
                    last = GatewayError(
                        "unavailable", f"upstream {target.upstream.name} is failing; circuit open"
                    )
                    break
                last_try = index == final_index and attempt == self.policy.max_retries
                try:
                    done = await self._attempt(
                        front, target, route, obj, http, request, context, responder, last_try
                    )
                except GatewayError as error:
                    if breaker is not None:
                        if _is_health_failure(error):
                            breaker.failure(trio.current_time())
                        else:
                            breaker.release()
                    if not _retryable(error) or responder.started:
                        raise
                    last = error
                    log.warning(
                        "upstream %s attempt %d failed: %s",
                        target.upstream.name,
                        attempt + 1,
                        error.message,
                    )
                    delay = self._delay(error, attempt)
                    if delay is None or attempt == self.policy.max_retries:
                        break  # to the next target
                    await trio.sleep(delay)
                    continue
                if breaker is not None:
                    breaker.success()
                if done:
                    return
        raise last or GatewayError("unavailable", "no upstream answered")

    def _delay(self, error: GatewayError, attempt: int) -> float | None:
        if error.retry_after is not None:
            return error.retry_after if error.retry_after <= self.policy.max_wait else None
        # Full jitter keeps many clients from retrying in lock step.
        return random.uniform(0, self.policy.backoff * (2**attempt))

    async def _attempt(
        self,
        front: Front,
        target: Target,
        route: Route,
        obj: dict[str, Any],
        http: HttpRequest,
        request: Request | None,
        context: CallContext,
        responder: Responder,
        last_try: bool,
    ) -> bool:
        responder.record.provider = target.upstream.name
        responder.record.mode = target.mode
        responder.record.upstream_model = route.upstream_model
        if target.mode == "passthrough":
            assert isinstance(target.upstream, ProviderClient)
            return await self.relay.run(
                front, target.upstream, route, obj, http.body, context, responder, last_try
            )
        assert request is not None
        upstream_request = request
        if route.upstream_model != request.model:
            upstream_request = dataclasses.replace(request, model=route.upstream_model)
        events = target.upstream.events(
            upstream_request,
            response_id=secrets.token_hex(12),
            created=int(time.time()),
            context=context,
        )
        if upstream_request.model != request.model:
            # Clients see the name they asked for: Claude Code derives the
            # context window and features from it (failure mode 20).
            events = _renamed(events, request.model)
        if self.safety.shell_normalization and wants_argv(request):
            events = fixed_shell_calls(events)
        async with aclosing(events):  # type: ignore[type-var]
            first = await _first_event(events)
            record = responder.record
            sink = sink_for(
                self.responses, request, obj, user_id=record.user_id, api_key_id=record.api_key_id
            )
            if request.stream:
                await self._stream(
                    front, request, first, events, responder, target.upstream.may_stall, sink
                )
            else:
                await self._whole(front, request, first, events, responder, sink)
        return True

    # ------------------------------------------------------------ translation / native

    async def _stream(
        self,
        front: Front,
        request: Request,
        first: Event | None,
        events: AsyncIterator[Event],
        responder: Responder,
        may_stall: bool,
        sink: TurnSink | None = None,
    ) -> None:
        renderer = front.stream_renderer(request)
        tracker = UsageTracker(request, 0)
        state = {"finished": False}
        await responder.start(200, list(SSE_HEADERS))

        async def on_batch(batch: list[Event]) -> None:
            out: list[bytes] = []
            try:
                for event in batch:
                    tracker.observe(event)
                    if isinstance(event, Finish):
                        state["finished"] = True
                    elif isinstance(event, StreamError):
                        responder.record.error = event.kind
                    chunk = renderer.feed(event)
                    if isinstance(event, Finish) and sink is not None:
                        chunk = await _stored(sink, renderer, chunk, responder)
                    out.append(chunk)
            finally:  # what rendered before a failure still goes out
                await responder.send(b"".join(out))

        async def on_idle() -> None:
            await responder.send(renderer.keepalive())

        try:
            if first is not None:
                await on_batch([first])
                interval = self.policy.keepalive if may_stall else None
                await pump(events, interval, on_batch, on_idle)
        except GatewayError as error:
            responder.record.error = error.kind
            failure = StreamError(kind=error.kind, message=error.message, code=error.code)
            await responder.send(renderer.feed(failure))
        except IllegalStreamEvent:
            # close() renders the dialect's in-stream error: a failure, not a hang.
            log.exception("upstream produced an illegal event sequence")
        finally:
            responder.record.usage = tracker.result(complete=state["finished"])
            if not state["finished"] and responder.record.error is None:
                responder.record.error = "api_error"  # cut short: close() says so in-stream
        await responder.send(renderer.close())
        await responder.end()

    async def _whole(
        self,
        front: Front,
        request: Request,
        first: Event | None,
        events: AsyncIterator[Event],
        responder: Responder,
        sink: TurnSink | None = None,
    ) -> None:
        collector = Collector()
        tracker = UsageTracker(request, 0)
        if first is not None:
            collector.add(first)
            tracker.observe(first)
        async for event in events:
            collector.add(event)
            tracker.observe(event)
        try:
            response = collector.result()
        except IncompleteStream as exc:
            responder.record.usage = tracker.result(complete=False)
            raise from_kind(exc.kind, str(exc), code=exc.code) from None
        responder.record.usage = tracker.result(complete=True)
        body = front.render_response(response, request)
        if sink is not None:
            await sink.save(json.loads(body))  # stored before the client hears of it
        await responder.respond(200, JSON_HEADERS, body)

    # ------------------------------------------------------------ passthrough


async def _stored(sink: TurnSink, renderer: Any, chunk: bytes, responder: Responder) -> bytes:
    """``chunk`` (the terminal event) once its turn is stored; nothing if it
    could not be: a client told "completed" must be able to continue from
    it, so it sees a cut stream instead and retries."""
    final = getattr(renderer, "final_response", None)
    if final is None:
        return chunk
    try:
        await sink.save(final)
    except GatewayError as error:
        responder.record.error = error.kind
        return b""
    return chunk


async def _renamed(events: AsyncIterator[Event], model: str) -> AsyncIterator[Event]:
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, MessageStart):
                event = dataclasses.replace(event, model=model)
            yield event


async def _first_event(events: AsyncIterator[Event]) -> Event | None:
    """The first event, or None if there is none. A StreamError before any
    content is raised instead: nothing has reached the client, so the call
    may still be retried or fall back."""
    async for event in events:
        if isinstance(event, StreamError):
            raise from_kind(event.kind, event.message, code=event.code)
        return event
    return None
