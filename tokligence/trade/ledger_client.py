"""The buyer's side of statements and settlements over HTTP (the commands'
client; httpx, synchronous).

A peer is reached at its gateway address (``http://HOST:PORT``; a trailing
``/v1`` is allowed) with this gateway's trade account key there. Every
failure -- a connection, a status, an answer too large -- is one
:class:`PeerError` with a line for people.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import httpx

from .statements import MAX_BUNDLE_BYTES, Period

TIMEOUT = httpx.Timeout(60.0, connect=10.0)  # a large statement is read and signed in seconds
MAX_ANSWER_BYTES = MAX_BUNDLE_BYTES


class PeerError(Exception):
    """The peer could not be asked, or refused; the message says which."""

    def __init__(self, message: str, *, code: str | None = None, body: Any = None) -> None:
        super().__init__(message)
        self.code = code
        self.body = body


@dataclass(frozen=True, kw_only=True, slots=True)
class Peer:
    url: str
    seller: str  # its public id, pinned
    key: str  # our trade account key there

    def endpoint(self, name: str) -> str:
        base = self.url.rstrip("/")
        base = base.removesuffix("/v1")
        return f"{base}/v1/trade/{name}"


def _read(response: httpx.Response) -> bytes:
    chunks, size = [], 0
    for chunk in response.iter_bytes():
        size += len(chunk)
        if size > MAX_ANSWER_BYTES:
            raise PeerError(f"the peer's answer is larger than {MAX_ANSWER_BYTES} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _exchange(peer: Peer, method: str, name: str, **kwargs: Any) -> tuple[int, bytes]:
    headers = {"authorization": f"Bearer {peer.key}", "content-type": "application/json"}
    try:
        with (
            httpx.Client(timeout=TIMEOUT, trust_env=False) as client,
            client.stream(method, peer.endpoint(name), headers=headers, **kwargs) as response,
        ):
            return response.status_code, _read(response)
    except httpx.HTTPError as error:
        raise PeerError(f"cannot reach {peer.endpoint(name)}: {error}") from None


def _refusal(status: int, body: bytes) -> PeerError:
    try:
        value = json.loads(body)
        error = value.get("error", {}) if isinstance(value, dict) else {}
        message, code = str(error.get("message", "")), error.get("code")
    except (ValueError, AttributeError):
        value, message, code = None, body[:200].decode("utf-8", "replace"), None
    return PeerError(
        f"the peer answered {status}{f' {code}' if code else ''}: {message}",
        code=code if isinstance(code, str) else None,
        body=value,
    )


def fetch_statement(peer: Peer, period: Period) -> bytes:
    """The peer's signed statement of what it supplied us in ``period``."""
    status, body = _exchange(
        peer,
        "GET",
        "statement",
        params={"period_from": str(period.start), "period_to": str(period.end)},
    )
    if status != 200:
        raise _refusal(status, body)
    return body


def post_settlement(peer: Peer, proposal: bytes) -> bytes:
    """The peer's signed settlement for our ``proposal``; PeerError (with
    the answer's ``error.code`` and body) when it refuses."""
    status, body = _exchange(peer, "POST", "settlements", content=proposal)
    if status != 200:
        raise _refusal(status, body)
    return body
