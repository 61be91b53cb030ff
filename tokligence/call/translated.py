"""Answering from canonical events: translation, and loopback's native answers.

The events come from an upstream (its codec decoded the provider's answer)
or from the loopback model; the client's front renders them. A stream is
written event by event (several at a time when several are ready, see
:mod:`.pump`), with the renderer's keep-alive frame while a network
upstream is silent; a whole answer is collected first and rendered once.

A failure after the stream began becomes the dialect's in-stream error and
a clean close, never a silent truncation. A Responses turn to be stored is
saved before its terminal event goes out, so a client told "completed" can
always continue from it.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import AsyncIterator
from contextlib import aclosing

from ..canonical import (
    Collector,
    Event,
    Finish,
    IncompleteStream,
    MessageStart,
    Request,
    StreamError,
)
from ..errors import GatewayError, UpstreamBroken, upstream_failure
from ..fronts.base import Front, IllegalStreamEvent, StreamRenderer
from ..responses_store.turns import TurnSink
from ..server.exchange import JSON_HEADERS, Responder
from ..wire.sse_write import SSE_HEADERS
from .pump import pump
from .usage import EventMeter

log = logging.getLogger(__name__)


async def first_event(events: AsyncIterator[Event]) -> Event | None:
    """The first event, or None if there is none. A StreamError before any
    content is raised instead: nothing has reached the client, so the call
    may still be retried or fall back."""
    async for event in events:
        if isinstance(event, StreamError):
            raise upstream_failure(event.kind, event.message, code=event.code)
        return event
    return None


async def answer_stream(
    front: Front,
    request: Request,
    events: AsyncIterator[Event],
    first: Event | None,
    responder: Responder,
    *,
    meter: EventMeter,
    keepalive: float | None,
    sink: TurnSink | None,
) -> GatewayError | None:
    """Stream the answer; ``keepalive`` seconds of silence (None: never)
    bring a keep-alive frame. The failure that ended it badly, if any (the
    client heard of it in-stream; the call counts it against the upstream)."""
    failure: GatewayError | None = None
    renderer = front.stream_renderer(request)
    await responder.start(200, list(SSE_HEADERS))

    async def on_batch(batch: list[Event]) -> None:
        nonlocal failure
        out: list[bytes] = []
        try:
            for event in batch:
                meter.observe(event)
                chunk = renderer.feed(event)
                if isinstance(event, Finish) and sink is not None:
                    chunk, not_stored = await _stored(sink, renderer, chunk)
                    if not_stored is not None:  # ours, not the upstream's
                        meter.error, failure = not_stored.kind, not_stored
                out.append(chunk)
        finally:  # what rendered before a failure still goes out
            await responder.send(b"".join(out))

    async def on_idle() -> None:
        await responder.send(renderer.keepalive())

    try:
        if first is not None:
            await on_batch([first])
            await pump(events, keepalive, on_batch, on_idle)
    except GatewayError as error:
        meter.error = error.kind
        failure = error
        event = StreamError(kind=error.kind, message=error.message, code=error.code)
        await responder.send(renderer.feed(event))
    except IllegalStreamEvent:
        # close() renders the dialect's in-stream error: a failure, not a hang.
        log.exception("upstream produced an illegal event sequence")
        failure = UpstreamBroken("api_error", "the upstream's stream broke its protocol")
    finally:
        if not meter.complete and meter.error is None:
            meter.error = "api_error"  # cut short: close() says so in-stream
    await responder.send(renderer.close())
    await responder.end()
    if failure is None and meter.error is not None:
        # The upstream's own error event, or a stream that just stopped.
        failure = upstream_failure(meter.error, "the upstream's stream ended badly")
    return failure


async def answer_whole(
    front: Front,
    request: Request,
    events: AsyncIterator[Event],
    first: Event | None,
    responder: Responder,
    *,
    meter: EventMeter,
    sink: TurnSink | None,
) -> None:
    """Collect the answer, then send it as one JSON body."""
    collector = Collector()
    if first is not None:
        collector.add(first)
        meter.observe(first)
    async for event in events:
        collector.add(event)
        meter.observe(event)
    try:
        response = collector.result()
    except IncompleteStream as exc:
        raise upstream_failure(exc.kind, str(exc), code=exc.code) from None
    body = front.render_response(response, request)
    if sink is not None:
        await sink.save(json.loads(body))  # stored before the client hears of it
    await responder.respond(200, JSON_HEADERS, body)


async def _stored(
    sink: TurnSink, renderer: StreamRenderer, chunk: bytes
) -> tuple[bytes, GatewayError | None]:
    """``chunk`` (the terminal event) once its turn is stored; nothing if it
    could not be: a client told "completed" must be able to continue from
    it, so it sees a cut stream instead and retries."""
    final = getattr(renderer, "final_response", None)
    if final is None:
        return chunk, None
    try:
        await sink.save(final)
    except GatewayError as error:
        return b"", error
    return chunk, None


async def restamped(
    events: AsyncIterator[Event], *, model: str | None, response_id: str | None
) -> AsyncIterator[Event]:
    """The events with the model the client asked for (Claude Code derives
    the context window and features from it, failure mode 20) and, where
    given, the gateway's own response id instead of the upstream's."""
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            if isinstance(event, MessageStart):
                event = dataclasses.replace(
                    event, model=model or event.model, id=response_id or event.id
                )
            yield event
