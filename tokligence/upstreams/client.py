"""The HTTP adapter between a model call and one network provider.

Theory of operation
-------------------
One :class:`ProviderClient` per configured provider implements the
:class:`~tokligence.upstreams.base.Upstream` contract. It owns a
:class:`~tokligence.upstreams.transport.PooledTransport` (keep-alive pools,
driven directly with httpx's request and response types), the provider's
codec and its circuit breaker. It offers two ways to call the provider:

* :meth:`events` for translation: the codec encodes the canonical request,
  the response (stream or whole) is decoded back into canonical events;
* :meth:`relay` for passthrough (and ``count_tokens`` and embeddings): the
  client's body goes out unchanged and the response comes back as a
  status, headers and an iterator of raw bytes.

Foreign errors are mapped here, at the boundary, into the error tree
(``errors.py``): connect failures are :class:`UpstreamUnreachable`,
timeouts :class:`UpstreamTimeout`, a body that breaks off
:class:`UpstreamBroken` (raised from the event iterator too, never turned
into an event), and an upstream HTTP error becomes the codec's decoding of
its envelope. The read timeout applies between chunks, so it is also the
stream idle timeout: a silent upstream surfaces as an error, never as a
hang.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from contextlib import asynccontextmanager
from dataclasses import replace
from typing import Any, cast

import httpx
import trio

from .. import __version__
from ..canonical import Event, MessageStart, Request, replay
from ..codecs.base import Codec, EncodeOptions
from ..codecs.model_limits import limits_for
from ..codecs.usage_sniff import UsageReader, responses_usage
from ..errors import (
    ClientError,
    GatewayError,
    UpstreamBroken,
    UpstreamTimeout,
    UpstreamUnreachable,
)
from ..providers import ProviderConfig
from ..routing.breaker import CircuitBreaker
from ..timing import CLOCK, UpstreamClock
from ..wire.sse_read import SseDecoder, SseEvent
from .base import CallContext, Embeddings, Relayed
from .transport import PooledTransport, ResponseStream

log = logging.getLogger(__name__)

# Request headers a passthrough forwards from the client, verbatim. Anything
# else (cookies, the client's own auth unless forward_client_key, hop-by-hop
# headers) stays behind.
FORWARDED_REQUEST_HEADERS = frozenset(
    {
        "content-type",
        "accept",
        "anthropic-version",
        "anthropic-beta",
        "openai-beta",
        "openai-organization",
        "openai-project",
        "idempotency-key",
    }
)
# Response headers a relay drops: hop-by-hop ones, and those that describe a
# body encoding we undo (httpx decompresses; we re-chunk).
DROPPED_RESPONSE_HEADERS = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
        "content-length",
        "content-encoding",
        "x-request-id",  # the gateway sends its own
        "date",
        "server",
    }
)
MAX_ERROR_BODY = 1024 * 1024  # an error body larger than this is cut when read
USER_AGENT = f"tokligence-gateway/{__version__}"
# Sent unless the client's forwarded headers or the provider's configured
# extra headers name their own.
DEFAULT_REQUEST_HEADERS = (("user-agent", USER_AGENT), ("content-type", "application/json"))
MAX_CACHED_URLS = 256  # query strings vary per client; the cache must not grow with them


class ProviderClient:
    may_stall = True  # network upstreams can go silent: the call sends keep-alives

    def __init__(
        self,
        config: ProviderConfig,
        *,
        codec: Codec,
        forward_client_key: bool = False,
        breaker: CircuitBreaker | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        max_connections: int = 512,
    ) -> None:
        self.config = config
        self.name = config.name
        self.codec = codec
        self.dialects = config.dialects
        self.models = config.models
        self.forward_client_key = forward_client_key
        self.breaker = breaker or CircuitBreaker()
        # httpx's request and response types over our own pooled transport,
        # called directly: a relay needs none of AsyncClient's per-request
        # work (URL merging, cookie jars, auth flows, redirects), and
        # httpcore's pool polls every pooled connection on each request
        # (see transport.py). The gateway sizes the pool to its own
        # client-connection limit: each client connection has at most one
        # request upstream at a time, so streams never queue for a pooled
        # connection (a smaller pool made the 513th concurrent stream wait,
        # then fail with a 504).
        self._transport: httpx.AsyncBaseTransport = transport or PooledTransport(
            max_connections=max_connections, max_idle=64
        )
        self._base_url = config.base_url.rstrip("/")
        self._urls: dict[tuple[str, str], tuple[httpx.URL, str]] = {}
        self._timeouts = {
            "connect": config.connect_timeout,
            "read": config.read_timeout,
            "write": config.read_timeout,
            "pool": config.connect_timeout,
        }

    async def aclose(self) -> None:
        await self._transport.aclose()

    # ------------------------------------------------------------ headers

    def _auth_headers(self, context: CallContext) -> list[tuple[str, str]]:
        key = self.config.api_key
        if self.forward_client_key and context.client_key:
            key = context.client_key
        if self.config.kind == "anthropic":
            headers = [("anthropic-version", self.config.anthropic_version)]
            if key:
                headers.append(("x-api-key", key))
        else:
            headers = [("authorization", f"Bearer {key}")] if key else []
            if self.config.organization:
                headers.append(("openai-organization", self.config.organization))
        headers.extend(self.config.headers)
        return headers

    def _passthrough_headers(self, context: CallContext) -> list[tuple[str, Any]]:
        own = self._auth_headers(context)
        own_names = {name for name, _ in own} | _nominated(context.client_headers)
        forwarded = [
            (name, _as_received(value))
            for name, value in context.client_headers
            if name in FORWARDED_REQUEST_HEADERS and name not in own_names
        ]
        if self.config.drop_betas:
            forwarded = _without_betas(forwarded, self.config.drop_betas)
        # The client's anthropic-version wins over our default: Claude Code's
        # gateway contract says it reaches the upstream unchanged.
        client_version = [v for n, v in context.client_headers if n == "anthropic-version"]
        if client_version:
            own = [(n, v) for n, v in own if n != "anthropic-version"]
            forwarded.append(("anthropic-version", _as_received(client_version[0])))
        return [*own, *forwarded]

    # ------------------------------------------------------------ transport

    @asynccontextmanager
    async def _open(
        self, path: str, body: bytes, headers: list[tuple[str, Any]], context: CallContext
    ) -> AsyncIterator[httpx.Response]:
        response = await self._send(path, body, headers, context)
        try:
            yield response
        finally:
            await response.aclose()

    async def _send(
        self,
        path: str,
        body: bytes,
        headers: list[tuple[str, Any]],
        context: CallContext,
        query: str = "",
    ) -> httpx.Response:
        """The upstream's response, begun by the request's deadline (trio
        clock), its body still to read; the caller closes it. The transport
        marks the call's clock as the request goes out and the answer comes
        in (``CLOCK``)."""
        deadline = context.head_deadline
        url, host = self._url(path, query)
        # The whole head is listed here, so httpx is handed a finished
        # request (``stream=``) and adds nothing of its own: one header list
        # built once, where ``content=`` would rebuild it twice more.
        given = {name for name, _ in headers}
        own = [("host", host)]
        own += [default for default in DEFAULT_REQUEST_HEADERS if default[0] not in given]
        request = httpx.Request(
            "POST",
            url,
            headers=[*own, *headers, ("content-length", str(len(body)))],
            stream=httpx.ByteStream(body),
            extensions={"timeout": self._timeouts, CLOCK: context.clock},
        )
        try:
            with trio.move_on_at(deadline) as head_wait:
                response = await self._transport.handle_async_request(request)
        except httpx.TimeoutException as exc:
            raise UpstreamTimeout(
                "timeout", f"upstream {self.name} did not answer in time ({type(exc).__name__})"
            ) from None
        except (httpx.ConnectError, httpx.UnsupportedProtocol) as exc:
            raise UpstreamUnreachable(
                "unavailable", f"upstream {self.name} is unreachable ({type(exc).__name__})"
            ) from None
        except httpx.HTTPError as exc:
            # Connected, then reset, closed or answered with garbage: a broken
            # response (502), as nginx and Envoy answer it.
            raise UpstreamBroken(
                "api_error",
                f"upstream {self.name} broke off before answering ({type(exc).__name__})",
                status=502,
            ) from None
        if head_wait.cancelled_caught:
            raise UpstreamTimeout(
                "timeout",
                f"upstream {self.name} did not begin its response by the request's deadline "
                "(upstream_response_timeout for a stream, upstream_read_timeout otherwise)",
            )
        response.request = request
        return response

    def _url(self, path: str, query: str) -> tuple[httpx.URL, str]:
        """Parsed URLs and their Host header, cached: a provider is called on a
        handful of paths, and parsing one costs more than the rest of building
        the request."""
        key = (path, query)
        cached = self._urls.get(key)
        if cached is None:
            url = httpx.URL(self._base_url + path + (f"?{query}" if query else ""))
            cached = (url, url.netloc.decode("ascii"))
            if len(self._urls) < MAX_CACHED_URLS:
                self._urls[key] = cached
        return cached

    async def _error(self, response: httpx.Response) -> GatewayError:
        try:
            body = await _read_limited(response, MAX_ERROR_BODY)
        except httpx.HTTPError:
            body = b""
        headers = {k.lower(): v for k, v in response.headers.items()}
        return self.codec.decode_error(response.status_code, body, headers)

    # ------------------------------------------------------------ translation

    async def events(
        self, request: Request, *, response_id: str, created: int, context: CallContext
    ) -> AsyncIterator[Event]:
        limits = limits_for(request.model)
        options = EncodeOptions(
            model=request.model,
            stream=request.stream,
            default_max_tokens=context.default_max_tokens,
            max_output_tokens=limits.max_output_tokens,
            reasoning_model=limits.reasoning_model,
            thinking=limits.thinking,
        )
        encoded = self.codec.encode(request, options)
        for note in encoded.notes:
            log.info("translation to %s: %s", self.name, note)
        async with self._open(
            encoded.path,
            encoded.body,
            self._auth_headers(context),
            context,
        ) as response:
            if response.status_code >= 400:
                raise await self._error(response)
            content_type = response.headers.get("content-type", "")
            if not request.stream or "json" in content_type:
                # A whole answer, asked for or not (an upstream that ignored
                # stream=true still answered): decoded, then replayed.
                try:
                    body = await response.aread()
                except httpx.HTTPError as exc:
                    raise _mid_body_error(self.name, exc) from None
                context.clock.heard()
                for event in replay(self.codec.decode_response(body, encoded)):
                    yield _stamp(event, response_id, created)
                return
            if content_type and "event-stream" not in content_type:
                # (No content type at all is read as SSE: minimal servers
                # omit it; an HTML page from a proxy says what it is.)
                raise UpstreamBroken(
                    "api_error",
                    f"upstream {self.name} answered a stream request with "
                    f"{content_type or 'no content type'}, not an event stream",
                    status=502,
                )
            decoder = self.codec.stream_decoder(encoded)
            sse = SseDecoder()
            clock, heard = context.clock, False
            try:
                async for chunk in response.aiter_bytes():
                    if not heard:  # its first bytes: the upstream's time to first byte
                        clock.heard()
                        heard = True
                    for item in sse.feed(chunk):
                        if isinstance(item, SseEvent):
                            for event in decoder.feed(item):
                                yield _stamp(event, response_id, created)
            except httpx.HTTPError as exc:
                raise _mid_body_error(self.name, exc) from None
            clock.heard()
            for event in decoder.close():
                yield _stamp(event, response_id, created)

    # ------------------------------------------------------------ passthrough

    async def relay(
        self,
        path: str,
        body: bytes,
        context: CallContext,
        *,
        extra_headers: tuple[tuple[str, str], ...] = (),
    ) -> Relayed:
        """Forward a same-dialect request: the upstream's status, headers and
        body chunks. Error statuses are not raised: the caller decides whether
        to retry or relay them (they are already in the client's own
        protocol). The caller must ``aclose()`` what it gets, whatever happens.
        (A plain object, not a context manager: this is every passthrough
        request's path, and the context-manager layers cost more than the
        rest of it.) ``extra_headers`` go with this request only (a traded
        request's order)."""
        headers = self._passthrough_headers(context)
        if extra_headers:
            headers.extend(extra_headers)
        response = await self._send(path, body, headers, context, context.query)
        # Every header line kept as it came (names lower-cased), repeated
        # ones too: items() would fold them into one comma-joined line.
        kept = tuple(
            (k, v) for k, v in response.headers.multi_items() if k not in DROPPED_RESPONSE_HEADERS
        )
        stream = response.stream
        return Relayed(
            status=response.status_code,
            headers=kept,
            chunks=_chunks(self.name, response, context.clock),
            # Our own transport's stream is closed directly; httpx's
            # Response.aclose adds only a context manager around that.
            aclose=stream.aclose if isinstance(stream, ResponseStream) else response.aclose,
        )

    def head_timeout(self, stream: bool) -> float:
        # A stream's head comes before the answer is generated; a whole
        # answer's comes with it, after as long a silence as it needs.
        return self.config.response_timeout if stream else self.config.read_timeout

    def error_for(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return self.codec.decode_error(status, body, headers)

    def usage_reader(self, dialect: str) -> UsageReader:
        return responses_usage if dialect == "openai_responses" else self.codec.usage_from

    async def embed(self, inputs: tuple[str, ...], dimensions: int | None) -> Embeddings:
        # A provider with an embeddings endpoint is relayed to (the call's
        # passthrough); one without has no embeddings to give.
        raise ClientError(
            "invalid_request", f"provider {self.name!r} serves no embeddings", param="model"
        )


def _as_received(value: str) -> str | bytes:
    """A client's header value as it came: bytes past ASCII go on as those
    bytes (h11 read them as latin-1), never an encoding error."""
    return value if value.isascii() else value.encode("latin-1")


def _nominated(headers: tuple[tuple[str, str], ...]) -> set[str]:
    """Headers the client named in ``Connection``: hop-by-hop, so they stop
    at the gateway (RFC 9110 section 7.6.1)."""
    named: set[str] = set()
    for name, value in headers:
        if name == "connection":
            named.update(token.strip().lower() for token in value.split(","))
    return named


def _without_betas(headers: list[tuple[str, Any]], drop: tuple[str, ...]) -> list[tuple[str, Any]]:
    out = []
    for name, value in headers:
        if name == "anthropic-beta" and isinstance(value, str):
            kept = [b.strip() for b in value.split(",") if b.strip() and b.strip() not in drop]
            if not kept:
                continue
            value = ",".join(kept)
        out.append((name, value))
    return out


async def _chunks(
    name: str, response: httpx.Response, clock: UpstreamClock
) -> AsyncIterator[bytes]:
    # An uncompressed body is read straight from the transport's stream:
    # httpx's decoder and chunker layers would only copy it along. (Nothing
    # asks for compression, but a server may send it anyway: then decode.)
    encoding = response.headers.get("content-encoding", "").strip().lower()
    source = (
        cast("AsyncIterable[bytes]", response.stream)
        if encoding in ("", "identity")
        else response.aiter_bytes()
    )
    heard = False
    try:
        async for chunk in source:
            if chunk:
                if not heard:  # its first bytes: the upstream's time to first byte
                    clock.heard()
                    heard = True
                yield chunk
    except httpx.HTTPError as exc:
        raise _mid_body_error(name, exc) from None
    clock.heard()


async def _read_limited(response: httpx.Response, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    async for chunk in response.aiter_bytes():
        parts.append(chunk)
        size += len(chunk)
        if size >= limit:
            break
    return b"".join(parts)[:limit]


def _mid_body_error(name: str, exc: httpx.HTTPError) -> GatewayError:
    if isinstance(exc, httpx.TimeoutException):
        return UpstreamTimeout("timeout", f"upstream {name} went silent past its read timeout")
    return UpstreamBroken(
        "api_error", f"upstream {name} broke off the response ({type(exc).__name__})", status=502
    )


def _stamp(event: Event, response_id: str, created: int) -> Event:
    """Codecs are pure and have no clock: fill in what they could not know."""
    if isinstance(event, MessageStart) and (not event.created or not event.id):
        return replace(event, created=event.created or created, id=event.id or response_id)
    return event
