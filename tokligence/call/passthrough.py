"""Passthrough: a same-dialect call relayed byte for byte.

Theory of operation
-------------------
When the client speaks the provider's own protocol, the body goes out
unchanged (a model alias aside) and the upstream's status, headers and
bytes come back untouched. The relay only watches: a usage sniffer reads
the tokens for the ledger, and an SSE event framer cuts the stream at event
boundaries so that keep-alive comments never land inside an event and the
usage chunk the gateway asked for on the client's behalf can be held back.
A relayed stream that breaks off ends with the dialect's in-stream error,
and an upstream error that is not the protocol's own envelope (an HTML page
from a proxy) becomes an error in the client's envelope.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any

from ..canonical import Usage
from ..canonical.tokens import request_tokens
from ..codecs.usage_sniff import UsageSniffer, responses_usage
from ..errors import GatewayError
from ..fronts.base import Front
from ..fronts.relay_errors import RelayState, relayed_stream_error
from ..routing import Route
from ..server.exchange import JSON_HEADERS, Responder
from ..upstreams.client import CallContext, ProviderClient, Relayed
from ..wire.json_body import dumps
from ..wire.sse_frames import EventFramer
from ..wire.sse_write import COMMENT_KEEPALIVE, SSE_HEADERS
from .pump import pump

log = logging.getLogger("tokligence.gateway")

RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
# Upstream path of a passthrough, by client dialect (relative to the
# provider's base URL: OpenAI's includes /v1, Anthropic's does not).
PASSTHROUGH_PATHS = {
    "openai_chat": "/chat/completions",
    "openai_responses": "/responses",
    "anthropic_messages": "/v1/messages",
}


class Relay:
    """Passthrough calls to one kind of provider, with ``keepalive`` seconds
    of upstream silence before a keep-alive comment."""

    def __init__(self, *, keepalive: float) -> None:
        self.keepalive = keepalive

    async def run(
        self,
        front: Front,
        upstream: ProviderClient,
        route: Route,
        obj: dict[str, Any],
        raw: bytes,
        context: CallContext,
        responder: Responder,
        last_try: bool,
    ) -> bool:
        dialect = front.dialect
        stream = obj.get("stream") is True
        body_obj = obj
        if route.upstream_model != route.requested_model:
            body_obj = {**body_obj, "model": route.upstream_model}
        # Ask OpenAI-style upstreams for usage on streams (the ledger needs
        # it), and hide the extra chunk from a client that did not ask.
        hide_usage_chunk = False
        if dialect == "openai_chat" and stream:
            options = body_obj.get("stream_options")
            if not (isinstance(options, dict) and options.get("include_usage") is True):
                extra = options if isinstance(options, dict) else {}
                body_obj = {**body_obj, "stream_options": {**extra, "include_usage": True}}
                hide_usage_chunk = True
        # Forward the client's own bytes unless something had to change.
        body = raw if body_obj is obj else dumps(body_obj)
        reader = responses_usage if dialect == "openai_responses" else upstream.codec.usage_from
        relayed = await upstream.relay(PASSTHROUGH_PATHS[dialect], body, context)
        try:
            if relayed.status in RETRYABLE_STATUS and not last_try:
                error_body = b"".join([chunk async for chunk in relayed.chunks])
                raise upstream.error_for(relayed.status, error_body, dict(relayed.headers))
            if relayed.status >= 400:
                await self._relay_error(dialect, upstream, relayed, responder)
                return True
            content_type = dict(relayed.headers).get("content-type", "")
            is_sse = "text/event-stream" in content_type
            sniffer = UsageSniffer(dialect, reader, stream=is_sse)
            headers = relayed.headers
            if is_sse:
                # Whatever the upstream said, a relayed stream must not be
                # buffered or transformed by anything between us and the client.
                ours = {name for name, _ in SSE_HEADERS if name != "content-type"}
                headers = (
                    *(h for h in headers if h[0] not in ours),
                    *(h for h in SSE_HEADERS if h[0] in ours),
                )
            if not is_sse:
                # A whole JSON body: read it, then answer with its length in
                # one write. Nothing has reached the client until it is all
                # here, so a body that breaks off is still an ordinary error.
                try:
                    body = b"".join([chunk async for chunk in relayed.chunks])
                except GatewayError:
                    responder.record.usage = _usage(sniffer, front, obj)
                    raise
                sniffer.feed(body)
                responder.record.usage = _usage(sniffer, front, obj)
                await responder.respond(relayed.status, list(headers), body)
                return True
            await responder.start(relayed.status, headers)
            failure: GatewayError | None = None
            try:
                await self._relay_events(relayed, responder, sniffer, hide_usage_chunk)
            except GatewayError as error:
                failure = error
            finally:
                responder.record.usage = _usage(sniffer, front, obj)
            if not sniffer.failed and (failure is not None or not sniffer.completed):
                # The upstream broke off: end with the protocol's in-stream
                # error, never a silent truncation that looks like success.
                failure = failure or GatewayError(
                    "api_error", f"upstream {upstream.name} ended the stream before completion"
                )
                log.warning("passthrough from %s broke off: %s", upstream.name, failure.message)
                responder.record.error = failure.kind
                state = RelayState(
                    last_sequence=sniffer.last_sequence,
                    response_id=sniffer.response_id,
                    model=sniffer.model,
                    created_at=sniffer.created_at,
                )
                await responder.send(
                    relayed_stream_error(
                        dialect, failure.kind, failure.message, failure.code, state
                    )
                )
            elif failure is not None:
                # The upstream's own in-stream error already went out; the
                # connection broke after it. End the response there.
                responder.record.error = failure.kind
            await responder.end()
        finally:
            await relayed.aclose()
        return True

    async def _relay_error(
        self, dialect: str, upstream: ProviderClient, relayed: Relayed, responder: Responder
    ) -> None:
        """An upstream error status ends the attempts. Its body is relayed as
        is when it is this protocol's own error envelope; anything else (an
        HTML page from a proxy, say) becomes our error in the client's
        envelope, with the upstream's status."""
        body = b"".join([chunk async for chunk in relayed.chunks])
        headers = dict(relayed.headers)
        if not _is_protocol_error(dialect, body):
            raise upstream.error_for(relayed.status, body, headers)
        responder.record.error = upstream.error_for(relayed.status, body, headers).kind
        kept = [(k, v) for k, v in relayed.headers if k != "content-type"]
        await responder.respond(relayed.status, [*JSON_HEADERS, *kept], body)

    async def _relay_events(
        self, relayed: Relayed, responder: Responder, sniffer: UsageSniffer, hide_usage_chunk: bool
    ) -> None:
        framer = EventFramer()

        async def on_chunks(chunks: list[bytes]) -> None:
            chunk = b"".join(chunks)
            sniffer.feed(chunk)
            frames = framer.feed(chunk)
            if hide_usage_chunk:
                frames = [f for f in frames if not _is_usage_only_chunk(f)]
            if frames:
                await responder.send(b"".join(frames))

        async def on_idle() -> None:
            # Only between events: a comment inside one would corrupt it.
            if framer.at_boundary:
                await responder.send(COMMENT_KEEPALIVE)

        try:
            await pump(relayed.chunks, self.keepalive, on_chunks, on_idle)
        finally:
            tail = framer.flush()
            if tail:
                await responder.send(tail)


def _usage(sniffer: UsageSniffer, front: Front, obj: dict[str, Any]) -> Usage:
    """What the upstream reported, flagged estimated when the stream did not
    complete; when it reported nothing, an estimate: the request's input by
    the local counter (which errs high), and about one output token per
    relayed delta event (OpenAI and Anthropic stream a token or a few per
    delta), so a cut stream is never accounted as free."""
    usage = sniffer.finish()
    if usage is not None:
        if usage.estimated or sniffer.completed:
            return usage
        return dataclasses.replace(usage, estimated=True)
    try:
        input_tokens = request_tokens(front.parse_object(obj))
    except GatewayError:
        input_tokens = 0  # the upstream took a body we cannot read: no better guess
    return Usage(input_tokens=input_tokens, output_tokens=sniffer.events, estimated=True)


def _is_protocol_error(dialect: str, body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return False
    return dialect != "anthropic_messages" or payload.get("type") == "error"


def _is_usage_only_chunk(frame: bytes) -> bool:
    if b'"choices":[]' not in frame.replace(b" ", b"") or b'"usage"' not in frame:
        return False
    try:
        data = frame.strip().split(b"data:", 1)[1]
        payload = json.loads(data)
    except (IndexError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("choices") == [] and bool(payload.get("usage"))
