"""How a relayed body is read from the upstream's response: straight from the
transport when it is not compressed, decoded when a server compressed it
anyway, and a broken read becomes the gateway's own error."""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator

import httpx
import pytest

from tokligence.errors import GatewayError
from tokligence.timing import UpstreamClock
from tokligence.upstreams.client import _chunks

BODY = b'{"id":"chatcmpl-1","choices":[]}'


class Pieces(httpx.AsyncByteStream):
    def __init__(self, *pieces: bytes, fail: Exception | None = None) -> None:
        self.pieces = pieces
        self.fail = fail

    async def __aiter__(self) -> AsyncIterator[bytes]:
        for piece in self.pieces:
            yield piece
        if self.fail is not None:
            raise self.fail


async def read(response: httpx.Response) -> list[bytes]:
    return [chunk async for chunk in _chunks("up", response, UpstreamClock())]


async def test_an_uncompressed_body_arrives_as_the_transport_gave_it() -> None:
    response = httpx.Response(200, stream=Pieces(BODY[:5], b"", BODY[5:]))
    assert await read(response) == [BODY[:5], BODY[5:]]  # empty pieces skipped


@pytest.mark.parametrize("encoding", ["gzip", " GZIP "])
async def test_a_compressed_body_is_decoded(encoding: str) -> None:
    packed = gzip.compress(BODY)
    response = httpx.Response(
        200,
        headers={"content-encoding": encoding},
        stream=Pieces(packed[:10], packed[10:]),
    )
    assert b"".join(await read(response)) == BODY


async def test_identity_is_not_compression() -> None:
    response = httpx.Response(200, headers={"content-encoding": "identity"}, stream=Pieces(BODY))
    assert await read(response) == [BODY]


@pytest.mark.parametrize(
    ("failure", "kind"),
    [(httpx.ReadTimeout("slow"), "timeout"), (httpx.RemoteProtocolError("cut"), "api_error")],
)
async def test_a_broken_read_is_the_gateways_error(failure: Exception, kind: str) -> None:
    response = httpx.Response(200, stream=Pieces(BODY[:5], fail=failure))
    with pytest.raises(GatewayError) as caught:
        await read(response)
    assert caught.value.kind == kind
