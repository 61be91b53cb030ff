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

import json
import logging
from collections.abc import Callable
from typing import Any

from ..codecs.usage_sniff import UsageSniffer
from ..errors import GatewayError, UpstreamBroken, fault_rule
from ..fronts.relay_errors import RelayState, relayed_stream_error
from ..server.exchange import JSON_HEADERS, Responder
from ..upstreams.base import CallContext, Relayed, Upstream
from ..wire.json_body import dumps
from ..wire.sse_frames import EventFramer
from ..wire.sse_write import COMMENT_KEEPALIVE, SSE_HEADERS
from .pump import pump
from .usage import RelayMeter

log = logging.getLogger(__name__)

# Upstream path of a passthrough, by what the client called (relative to
# the provider's base URL: OpenAI's includes /v1, Anthropic's does not).
PASSTHROUGH_PATHS = {
    "openai_chat": "/chat/completions",
    "openai_responses": "/responses",
    "anthropic_messages": "/v1/messages",
    "count_tokens": "/v1/messages/count_tokens",
    "embeddings": "/embeddings",
}


async def relay_call(
    dialect: str,
    upstream: Upstream,
    obj: dict[str, Any],
    raw: bytes,
    upstream_model: str,
    context: CallContext,
    responder: Responder,
    *,
    meter: RelayMeter,
    keepalive: float,
    last_try: bool,
) -> GatewayError | None:
    """Relay one model call (chat, Responses, Messages), stream or whole;
    the upstream's error, when the answer relayed was one."""
    stream = obj.get("stream") is True
    body_obj = obj if upstream_model == obj.get("model") else {**obj, "model": upstream_model}
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
    relayed = await upstream.relay(PASSTHROUGH_PATHS[dialect], body, context)
    try:
        answered = await _answered_error(dialect, upstream, relayed, responder, meter, last_try)
        if answered is not None:
            return answered
        content_type = dict(relayed.headers).get("content-type", "")
        is_sse = "text/event-stream" in content_type
        sniffer = meter.start(stream=is_sse)
        if not is_sse:
            # A whole JSON body: read it, then answer with its length in
            # one write. Nothing has reached the client until it is all
            # here, so a body that breaks off is still an ordinary error.
            whole = b"".join([chunk async for chunk in relayed.chunks])
            sniffer.feed(whole)
            sniffer.finish()
            _no_false_success(upstream, relayed.status, sniffer.json_object)
            await responder.respond(relayed.status, list(relayed.headers), whole)
            return None
        # Whatever the upstream said, a relayed stream must not be buffered
        # or transformed by anything between us and the client.
        ours = {name for name, _ in SSE_HEADERS if name != "content-type"}
        headers = (
            *(h for h in relayed.headers if h[0] not in ours),
            *(h for h in SSE_HEADERS if h[0] in ours),
        )
        await responder.start(relayed.status, headers)
        failure: GatewayError | None = None
        try:
            await _relay_events(
                relayed, responder, sniffer.feed, hide_usage_chunk, keepalive=keepalive
            )
        except GatewayError as error:
            failure = error
        if not sniffer.failed and (failure is not None or not sniffer.completed):
            # The upstream broke off: end with the protocol's in-stream
            # error, never a silent truncation that looks like success.
            failure = failure or UpstreamBroken(
                "api_error", f"upstream {upstream.name} ended the stream before completion"
            )
            log.warning("passthrough from %s broke off: %s", upstream.name, failure.message)
            meter.error = failure.kind
            state = RelayState(
                last_sequence=sniffer.last_sequence,
                response_id=sniffer.response_id,
                model=sniffer.model,
                created_at=sniffer.created_at,
            )
            await responder.send(
                relayed_stream_error(dialect, failure.kind, failure.message, failure.code, state)
            )
        elif failure is not None:
            # The upstream's own in-stream error already went out; the
            # connection broke after it. End the response there.
            meter.error = failure.kind
        await responder.end()
    finally:
        await relayed.aclose()
    return failure  # a stream that broke off counts against the upstream


async def relay_whole(
    dialect: str,
    action: str,
    upstream: Upstream,
    body: bytes,
    context: CallContext,
    responder: Responder,
    *,
    last_try: bool,
    meter: RelayMeter | None = None,
) -> GatewayError | None:
    """Relay a call whose answer is one JSON body (``count_tokens``,
    embeddings); ``meter`` None: the answer uses no tokens worth a row."""
    relayed = await upstream.relay(PASSTHROUGH_PATHS[action], body, context)
    try:
        answered = await _answered_error(dialect, upstream, relayed, responder, meter, last_try)
        if answered is not None:
            return answered
        whole = b"".join([chunk async for chunk in relayed.chunks])
        sniffer = meter.start(stream=False) if meter is not None else None
        if sniffer is None:
            sniffer = UsageSniffer(dialect, lambda payload: None, stream=False)
        sniffer.feed(whole)
        sniffer.finish()
        _no_false_success(upstream, relayed.status, sniffer.json_object)
        await responder.respond(relayed.status, list(relayed.headers), whole)
    finally:
        await relayed.aclose()
    return None


async def _answered_error(
    dialect: str,
    upstream: Upstream,
    relayed: Relayed,
    responder: Responder,
    meter: RelayMeter | None,
    last_try: bool,
) -> GatewayError | None:
    """Deal with an error status: raise it while another attempt may
    succeed; relay its body as is when it is this protocol's own error
    envelope; raise anything else (an HTML page from a proxy, say) as our
    error in the client's envelope, with the upstream's status. The error,
    when it was answered (the call counts it against the upstream)."""
    if relayed.status < 400:
        return None
    body = b"".join([chunk async for chunk in relayed.chunks])
    headers = dict(relayed.headers)
    error = upstream.error_for(relayed.status, body, headers)
    if (fault_rule(error).retry and not last_try) or not _is_protocol_error(dialect, body):
        raise error
    if meter is not None:
        meter.error = error.kind
    kept = [(k, v) for k, v in relayed.headers if k != "content-type"]
    await responder.respond(relayed.status, [*JSON_HEADERS, *kept], body)
    return error


async def _relay_events(
    relayed: Relayed,
    responder: Responder,
    sniff: Callable[[bytes], None],
    hide_usage_chunk: bool,
    *,
    keepalive: float,
) -> None:
    framer = EventFramer()

    async def on_chunks(chunks: list[bytes]) -> None:
        chunk = b"".join(chunks)
        sniff(chunk)
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
        await pump(relayed.chunks, keepalive, on_chunks, on_idle)
    finally:
        tail = framer.flush()
        if tail:
            await responder.send(tail)


def _no_false_success(upstream: Upstream, status: int, json_object: bool) -> None:
    """A 2xx whose body is not the JSON object every dialect answers with
    (an HTML sign-in page, nothing, JSON cut off) is a broken response,
    never relayed as a success the client's SDK then cannot read."""
    if status < 300 and not json_object:
        raise UpstreamBroken(
            "api_error",
            f"upstream {upstream.name} answered {status} with a body that is not a JSON object",
            status=502,
        )


def _is_protocol_error(dialect: str, body: bytes) -> bool:
    try:
        payload = json.loads(body)
    except ValueError:
        return False
    if not isinstance(payload, dict) or not isinstance(payload.get("error"), dict):
        return False
    return dialect != "anthropic_messages" or payload.get("type") == "error"


def _is_usage_only_chunk(frame: bytes) -> bool:
    # Most frames carry no usage: that test first, before the copy below.
    if b'"usage"' not in frame or b'"choices":[]' not in frame.replace(b" ", b""):
        return False
    try:
        data = frame.strip().split(b"data:", 1)[1]
        payload = json.loads(data)
    except (IndexError, ValueError):
        return False
    return isinstance(payload, dict) and payload.get("choices") == [] and bool(payload.get("usage"))
