"""The admin API driven in-process over real HTTP: ``serve_connection`` on a
trio memory stream, a real h11 client, and the handler the pipeline runs
for ``/api/v1/admin/*`` (errors rendered by the OpenAI front, as the
pipeline renders them). Each test runs on SQLite and on PostgreSQL; the
ledger and identity tables share the one database, as with a
``database_url``."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import h11
import peewee
import trio
import trio.testing

from tokligence.admin.api import PREFIX, AdminApi
from tokligence.auth import Principal
from tokligence.endpoints import dialect_for_path
from tokligence.errors import GatewayError
from tokligence.fronts.registry import FRONTS
from tokligence.identity.service import IdentityService
from tokligence.server.exchange import HttpRequest, Responder
from tokligence.server.http import ConnectionTracker, HttpLimits, serve_connection

NO_BODY = object()


def render_error(path: str, error: GatewayError) -> tuple[int, list[tuple[str, str]], bytes]:
    headers = [("content-type", "application/json"), *error.headers]
    return error.status, headers, FRONTS[dialect_for_path(path)].render_error(error)


@dataclass
class Reply:
    status: int
    headers: dict[str, str]
    raw: bytes

    @property
    def body(self) -> Any:
        return json.loads(self.raw)

    @property
    def error(self) -> dict[str, Any]:
        envelope = self.body
        assert set(envelope) == {"error"}, envelope
        assert set(envelope["error"]) == {"message", "type", "param", "code"}
        return envelope["error"]  # type: ignore[no-any-return]


@dataclass
class Admin:
    """The API under test, its databases, and a client speaking HTTP to it."""

    api: AdminApi
    identity: IdentityService
    db: peewee.Database
    stream: trio.abc.Stream
    principal: Principal | None = None  # None: auth disabled on loopback
    prices_changed: int = 0
    conn: h11.Connection = field(default_factory=lambda: h11.Connection(h11.CLIENT))

    async def call(
        self, method: str, path: str, body: Any = NO_BODY, *, raw: bytes | None = None
    ) -> Reply:
        if raw is None:
            raw = b"" if body is NO_BODY else json.dumps(body).encode()
        headers = [("host", "test"), ("content-length", str(len(raw)))]
        if raw:
            headers.append(("content-type", "application/json"))
        data = self.conn.send(h11.Request(method=method, target=PREFIX + path, headers=headers))
        data += self.conn.send(h11.Data(data=raw)) if raw else b""
        data += self.conn.send(h11.EndOfMessage())
        await self.stream.send_all(data)
        head: Any = None
        received = b""
        with trio.fail_after(10):
            while True:
                event = self.conn.next_event()
                if event is h11.NEED_DATA:
                    self.conn.receive_data(await self.stream.receive_some(65536))
                elif isinstance(event, h11.Response):
                    head = event
                elif isinstance(event, h11.Data):
                    received += event.data
                elif isinstance(event, h11.EndOfMessage):
                    break
        self.conn.start_next_cycle()
        headers_out = {k.decode(): v.decode() for k, v in head.headers}
        return Reply(status=head.status_code, headers=headers_out, raw=received)


@asynccontextmanager
async def serve_admin(
    api: AdminApi, identity: IdentityService, db: peewee.Database
) -> AsyncIterator[Admin]:
    client_stream, server_stream = trio.testing.memory_stream_pair()
    admin = Admin(api=api, identity=identity, db=db, stream=client_stream)

    async def handler(request: HttpRequest, responder: Responder) -> None:
        # What the pipeline does for the admin endpoint, after authentication.
        assert request.path.startswith(PREFIX)
        try:
            await api.handle(
                request, responder, principal=admin.principal, tail=request.path[len(PREFIX) :]
            )
        except GatewayError as error:
            status, headers, body = render_error(request.path, error)
            await responder.respond(status, headers, body)

    tracker = ConnectionTracker()
    async with trio.open_nursery() as nursery:
        await nursery.start(tracker.watch.run)
        nursery.start_soon(
            lambda: serve_connection(
                server_stream,
                handler=handler,
                render_error=render_error,
                limits=HttpLimits(max_body_bytes=1 << 20),
                tracker=tracker,
            )
        )
        yield admin
        nursery.cancel_scope.cancel()
