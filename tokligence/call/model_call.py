"""One model call, owned from the client's body to its ledger facts.

Theory of operation
-------------------
Every request to a model endpoint (chat, Responses, Messages,
``count_tokens``, embeddings) is one :class:`ModelCall`, created by
:class:`ModelCalls` (what all calls share) and read top to bottom in
:meth:`ModelCall.run`:

1. **Read.** The body is decoded once; its ``model`` (and ``stream``) are
   the first facts of the call.
2. **Route and plan.** The model picks a route (``routing/rules.py``): an
   ordered list of providers, primary first. :func:`.targets.plan_targets`
   asks the work mode how each may serve the call (native, passthrough or
   translation) and drops the ones it forbids.
3. **Prepare** (model endpoints): stored Responses history, foreign proofs,
   the repeated-tool-call guard (:mod:`.prepare`). The body is parsed (and
   so validated by the front) only when a target re-encodes or answers it:
   a passthrough forwards the client's bytes and its API answers for them.
4. **Attempt.** Targets are tried in order; each gets up to
   ``max_retries`` retries with jittered exponential backoff (an upstream's
   ``retry-after`` is honoured up to ``max_wait``). Whether a failure is
   retried, and whether it counts against the upstream's circuit breaker,
   is the fault table's answer (``errors.py``); an open breaker skips a
   target at once.
5. **Answer**, by mode: :mod:`.passthrough` relays the provider's bytes;
   :mod:`.translated` renders canonical events in the client's dialect;
   ``count_tokens`` without an Anthropic counter, and embeddings of the
   loopback model, are answered by the gateway itself.
6. **Point of no return.** Until the first byte reaches the client any
   failure may go to the next attempt; after it, a failure becomes the
   dialect's in-stream error and a clean close.

The facts of the call (model, provider, mode, usage, error) are kept in
one :class:`CallFacts` as the stages return, and written into the
request's access record once, when the call is over however it ended:
the access log and the ledger read them there.
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import secrets
import time
from collections.abc import Mapping
from contextlib import aclosing
from typing import Any

import trio

from ..agents.guard import REFUSAL_CODE
from ..agents.safety import AgentSafety
from ..agents.shell import fixed_shell_calls, wants_argv
from ..auth import provider_key_from_headers
from ..canonical import Request
from ..canonical.tokens import request_tokens
from ..codecs.model_limits import DEFAULT_MAX_TOKENS
from ..errors import GatewayError, UpstreamUnreachable, fault_rule, invalid
from ..fronts.anthropic_messages import AnthropicMessagesFront
from ..fronts.base import Front
from ..fronts.openai_embeddings import (
    EmbeddingsRequest,
    parse_embeddings_object,
    render_embeddings,
)
from ..fronts.registry import FRONTS
from ..metrics import GatewayMetrics
from ..responses_store.store import ResponseStore
from ..responses_store.turns import sink_for
from ..routing import Route, Router, WorkMode
from ..server.exchange import JSON_HEADERS, HttpRequest, Responder
from ..timing import UpstreamClock
from ..upstreams.base import CallContext, Upstream
from ..wire.json_body import DEFAULT_LIMITS, JsonLimits, dumps, load_object
from ..wire.text import has_lone_surrogate, lone_surrogate_at, lone_surrogate_error
from .facts import CALL_KINDS, CallFacts, CallKind, agent_session
from .passthrough import relay_call, relay_whole
from .prepare import prepare
from .retry import RetryPolicy
from .targets import Target, plan_targets
from .translated import answer_stream, answer_whole, first_event, restamped
from .usage import EventMeter, RelayMeter, input_tokens

log = logging.getLogger(__name__)

ESTIMATE_HEADER = "x-tokligence-token-estimate"


class ModelCalls:
    """What every model call shares: routing, upstreams, policies, stores."""

    def __init__(
        self,
        *,
        router: Router,
        upstreams: Mapping[str, Upstream],
        work_mode: WorkMode,
        retry: RetryPolicy,
        keepalive: float = 15.0,
        default_max_tokens: int = DEFAULT_MAX_TOKENS,
        safety: AgentSafety | None = None,
        responses: ResponseStore | None = None,
        json_limits: JsonLimits = DEFAULT_LIMITS,
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self.router = router
        self.upstreams = upstreams
        self.work_mode = work_mode
        self.retry = retry
        self.keepalive = keepalive  # seconds of upstream silence before a keep-alive
        self.default_max_tokens = default_max_tokens
        self.safety = safety or AgentSafety()
        self.responses = responses  # stored Responses turns
        self.json_limits = json_limits
        self.metrics = metrics

    async def run(
        self, action: str, http: HttpRequest, responder: Responder, *, provider: str | None = None
    ) -> None:
        """Answer one model call; ``provider`` serves it instead of the
        route its model names (a traded request: the offer's provider)."""
        await ModelCall(self, CALL_KINDS[action], http, responder, provider).run()


class ModelCall:
    """One call: see the module docstring for its stages."""

    def __init__(
        self,
        shared: ModelCalls,
        kind: CallKind,
        http: HttpRequest,
        responder: Responder,
        provider: str | None = None,
    ) -> None:
        self.shared = shared
        self.kind = kind
        self.provider = provider
        self.http = http
        self.responder = responder
        self.facts = CallFacts(dialect=kind.dialect)
        self.obj: dict[str, Any] = {}  # the decoded body (model endpoints)
        self.request: Request | None = None  # canonical, when a target needs it
        self.embeddings: EmbeddingsRequest | None = None
        self.meter: EventMeter | RelayMeter | None = None  # the current attempt's
        record = responder.record
        self.clock = record.clock = record.clock or UpstreamClock()
        record.session_id = agent_session(http.headers)

    async def run(self) -> None:
        metrics = self.shared.metrics
        streaming = False
        try:
            model = self._read()
            if metrics is not None and self.facts.stream:
                streaming = True
                metrics.streams_in_flight += 1
            await self._run(model)
        finally:
            if streaming and metrics is not None:
                metrics.streams_in_flight -= 1
            if self.meter is not None:
                self.facts.usage = self.meter.usage()
                self.facts.counted = self.meter.counted(self.facts.usage)
                self.facts.error = self.facts.error or self.meter.error
            self.facts.write_to(self.responder.record)

    async def _run(self, model: str) -> None:
        if self.provider is None:
            route = self.shared.router.resolve(model)
        else:  # the seller's own provider, under the seller's aliases
            route = Route(
                requested_model=model,
                upstream_model=self.shared.router.alias(model),
                providers=(self.provider,),
                rule=f"(sold by {self.provider})",
            )
        targets = plan_targets(
            route,
            self.shared.upstreams,
            work_mode=self.shared.work_mode,
            dialect=self.kind.passes_to,
        )
        if self.kind.action in ("chat", "responses", "messages"):
            await self._prepare(targets)
        elif self.kind.action == "count_tokens" and not all(
            t.mode == "passthrough" for t in targets
        ):
            self.request = self._parse()  # a passthrough relays the client's bytes unread
        self.context = CallContext(
            client_key=provider_key_from_headers(self.http.headers),
            client_headers=self.http.headers,
            query=self.http.query,
            default_max_tokens=self.shared.default_max_tokens,
            # One deadline for the response to begin, set by the first
            # target and shared by every retry and fallback.
            head_deadline=trio.current_time()
            + (targets[0].upstream.head_timeout(self.facts.stream) if targets else 0.0),
            clock=self.clock,
            request_id=self.http.request_id,
        )
        await self._attempts(route, targets)

    # ------------------------------------------------------------ read, prepare

    @property
    def front(self) -> Front:
        return FRONTS[self.kind.dialect]

    def _read(self) -> str:
        """Decode the body (within the JSON limits, before anything else);
        the model it names."""
        self.obj = load_object(self.http.body, self.shared.json_limits)
        model: object
        if self.kind.action == "embeddings":
            self.embeddings = parse_embeddings_object(self.obj)
            model = self.embeddings.model
        else:
            model = self.obj.get("model")
            if self.kind.action != "count_tokens":
                self.facts.stream = self.obj.get("stream") is True
                # Known before the head goes out, which says what it timed.
                self.responder.record.stream = self.facts.stream
            if not isinstance(model, str) or not model:
                self._parse()  # raises the dialect's precise error
        if not isinstance(model, str) or not model:
            raise invalid("'model' is required", param="model")
        self.facts.model = model
        if has_lone_surrogate(model):  # the routing key must be text
            raise lone_surrogate_error("model")
        return model

    def _parse(self) -> Request:
        """The canonical request, by the rules of the call's endpoint."""
        front = self.front
        if self.kind.action == "count_tokens":
            assert isinstance(front, AnthropicMessagesFront)
            return front.parse_count_tokens(self.obj)
        return front.parse_object(self.obj)

    async def _prepare(self, targets: list[Target]) -> None:
        prepared = await prepare(
            self.front,
            self.http,
            self.obj,
            passthrough=[t.mode == "passthrough" for t in targets],
            user_id=self.responder.record.user_id,
            responses=self.shared.responses,
            safety=self.shared.safety,
        )
        if prepared.refusal is not None:
            self.facts.error = REFUSAL_CODE
            raise prepared.refusal
        self.obj, self.http, self.request = prepared.obj, prepared.http, prepared.request

    # ------------------------------------------------------------ attempts

    async def _attempts(self, route: Route, targets: list[Target]) -> None:
        retry, metrics = self.shared.retry, self.shared.metrics
        last: GatewayError | None = None
        final_index = len(targets) - 1
        counted: set[str] = set()  # upstreams this request already counted against
        for index, target in enumerate(targets):
            breaker = target.upstream.breaker
            for attempt in range(retry.max_retries + 1):
                now = trio.current_time()
                # An open breaker steers this request to a later target of
                # the route; with none left that would take it, the upstream
                # is tried anyway (panic mode) rather than answer with an outage.
                if not breaker.allow(now) and any(
                    not later.upstream.breaker.refusing(now) for later in targets[index + 1 :]
                ):
                    last = UpstreamUnreachable(
                        "unavailable", f"upstream {target.upstream.name} is failing; circuit open"
                    )
                    break
                last_try = index == final_index and attempt == retry.max_retries
                if index and not attempt and metrics is not None:
                    metrics.fallback(targets[index - 1].upstream.name, target.upstream.name)
                try:
                    relayed_error = await self._answer(route, target, last_try)
                except GatewayError as error:
                    if metrics is not None:
                        metrics.attempt(target.upstream.name, ok=False, retry=attempt > 0)
                    self._tell_breaker(target, error, counted)
                    if not fault_rule(error).retry or self.responder.started:
                        raise
                    last = error
                    log.warning(
                        "upstream %s attempt %d failed: %s",
                        target.upstream.name,
                        attempt + 1,
                        error.message,
                    )
                    remaining = self.context.head_deadline - trio.current_time()
                    if remaining <= 0:
                        raise  # the request's deadline is spent: no retry, no fallback
                    delay = retry.delay(error, attempt, remaining=remaining)
                    if delay is None:
                        break  # to the next target
                    await trio.sleep(delay)
                    continue
                if metrics is not None:
                    metrics.attempt(
                        target.upstream.name, ok=relayed_error is None, retry=attempt > 0
                    )
                if relayed_error is None:
                    breaker.success()
                else:  # the upstream's own error answer went to the client
                    self._tell_breaker(target, relayed_error, counted)
                return
        raise last or UpstreamUnreachable("unavailable", "no upstream answered")

    @staticmethod
    def _tell_breaker(target: Target, error: GatewayError, counted: set[str]) -> None:
        """Count ``error`` against the upstream if the fault table says it
        tells of its health, once per client request."""
        breaker = target.upstream.breaker
        if fault_rule(error).breaker and target.upstream.name not in counted:
            counted.add(target.upstream.name)
            breaker.failure(trio.current_time())
        else:
            breaker.release()

    async def _answer(self, route: Route, target: Target, last_try: bool) -> GatewayError | None:
        """Answer by ``target``; the upstream's error, when a relayed answer was one."""
        self.facts.provider = target.upstream.name
        self.facts.mode = target.mode
        self.facts.upstream_model = route.upstream_model
        if target.mode != "passthrough":
            self._refuse_lone_surrogates()
        if self.kind.action == "count_tokens":
            return await self._count_tokens(route, target, last_try)
        if self.kind.action == "embeddings":
            return await self._embeddings(route, target, last_try)
        if target.mode == "passthrough":
            return await self._relay(route, target, last_try)
        return await self._translate(route, target)

    # ------------------------------------------------------------ answers

    async def _relay(self, route: Route, target: Target, last_try: bool) -> GatewayError | None:
        # The estimate gets the front and body, not the call: a bound method
        # would make a reference cycle (call -> meter -> call) that keeps
        # every relayed body alive until the cycle collector runs.
        meter = self.meter = RelayMeter(
            self.kind.dialect,
            target.upstream.usage_reader(self.kind.dialect),
            functools.partial(input_tokens, self.front, self.obj),
            self.obj,
        )
        return await relay_call(
            self.kind.dialect,
            target.upstream,
            self.obj,
            self.http.body,
            route.upstream_model,
            self.context,
            self.responder,
            meter=meter,
            keepalive=self.shared.keepalive,
            last_try=last_try,
        )

    async def _translate(self, route: Route, target: Target) -> GatewayError | None:
        request = self.request
        assert request is not None  # prepare parsed it: a target is not passthrough
        upstream_request = request
        if route.upstream_model != request.model:
            upstream_request = dataclasses.replace(request, model=route.upstream_model)
        own_id = secrets.token_hex(12)
        events = target.upstream.events(
            upstream_request, response_id=own_id, created=int(time.time()), context=self.context
        )
        renaming = upstream_request.model != request.model
        # A Responses id names a turn the gateway may store and serve back:
        # it is the gateway's own, unique per turn, never the upstream's
        # (some servers repeat theirs, which would overwrite another turn).
        own = own_id if self.kind.dialect == "openai_responses" else None
        if renaming or own is not None:
            events = restamped(events, model=request.model if renaming else None, response_id=own)
        if self.shared.safety.shell_normalization and wants_argv(request):
            events = fixed_shell_calls(events)
        async with aclosing(events):  # type: ignore[type-var]
            first = await first_event(events)
            meter = self.meter = EventMeter(request)
            record = self.responder.record
            sink = sink_for(
                self.shared.responses,
                request,
                self.obj,
                user_id=record.user_id,
                api_key_id=record.api_key_id,
            )
            if request.stream:
                keepalive = self.shared.keepalive if target.upstream.may_stall else None
                return await answer_stream(
                    self.front,
                    request,
                    events,
                    first,
                    self.responder,
                    meter=meter,
                    keepalive=keepalive,
                    sink=sink,
                )
            await answer_whole(
                self.front, request, events, first, self.responder, meter=meter, sink=sink
            )
        return None

    async def _count_tokens(
        self, route: Route, target: Target, last_try: bool
    ) -> GatewayError | None:
        if target.mode == "passthrough":
            # The upstream's own counter is exact; prefer it. Claude Code's
            # ?beta=true goes along, as on /v1/messages.
            return await relay_whole(
                self.kind.dialect,
                "count_tokens",
                target.upstream,
                self._renamed_body(route),
                self.context,
                self.responder,
                last_try=last_try,
            )
        # No counter upstream: the gateway answers with its local estimate,
        # which errs high and says so.
        request = self.request
        assert request is not None  # parsed: a target is not passthrough
        self.facts.mode = "native"
        front = self.front
        assert isinstance(front, AnthropicMessagesFront)
        await self.responder.respond(
            200,
            [*JSON_HEADERS, (ESTIMATE_HEADER, "true")],
            front.render_count_tokens(request_tokens(request)),
        )
        return None

    async def _embeddings(
        self, route: Route, target: Target, last_try: bool
    ) -> GatewayError | None:
        request = self.embeddings
        assert request is not None
        if target.mode == "passthrough":
            return await relay_whole(
                "openai_chat",
                "embeddings",
                target.upstream,
                self._renamed_body(route),
                self.context,
                self.responder,
                last_try=last_try,
            )
        computed = await target.upstream.embed(request.inputs, request.dimensions)
        self.facts.usage = computed.usage
        await self.responder.respond(
            200,
            JSON_HEADERS,
            render_embeddings(request, computed.vectors, prompt_tokens=computed.usage.input_tokens),
        )
        return None

    def _refuse_lone_surrogates(self) -> None:
        """What the gateway answers or re-encodes itself must be text the
        target API takes: a lone surrogate (legal JSON, refused by OpenAI and
        Anthropic alike) is a 400 naming its field. A passthrough forwards
        the client's bytes as they came, and its API answers for itself."""
        where = lone_surrogate_at(self.http.body, self.obj)
        if where is not None:
            raise lone_surrogate_error(where)

    def _renamed_body(self, route: Route) -> bytes:
        """The client's bytes, with the upstream's model name if it differs."""
        if route.upstream_model == route.requested_model:
            return self.http.body
        return dumps({**self.obj, "model": route.upstream_model})
