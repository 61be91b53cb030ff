"""The seller's trading endpoints for statements and settlements.

- ``GET /v1/trade/statement?period_from=MS&period_to=MS`` answers the
  buyer whose account key the request presents with this gateway's signed
  statement of what it supplied to it in ``[period_from, period_to)``
  (Unix ms; by default from 0 to now): the bundle of statements.py, JSON.
- ``POST /v1/trade/settlements`` takes the buyer's signed proposal of a
  settlement (its envelope's bytes) and answers with ours over the same
  body once our book makes the identical settlement (settle.py); a 409
  otherwise, whose ``error.code`` says why, with the settlement the buyer
  is missing (``settlement``, both envelopes) when it is behind.

The buyer authenticates with the API key of its trade account
(``Authorization: Bearer KEY`` or ``x-api-key``), looked up by its SHA-256
as gateway keys are (identity/keys.py); the gateway's own keys are not
involved, so the gatekeeper does not see these paths. A disabled account
may still read its statement and settle: both are about what was owed
before.

The API is made on the first request to ``/v1/trade/`` (the gateway's
``trade_factory``), so a gateway never loads PyNaCl before it trades; the
trading and settlement tables are migrated then, once.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import peewee
import trio

from ..auth import key_from_headers
from ..errors import ClientError, InternalError, PolicyRefusal
from ..identity.keys import hash_key
from ..server.exchange import HttpRequest, Responder
from .migrations import migrate_trade
from .node_key import load_or_create
from .period import statement_of
from .settle import Behind, Refused, Stored, accept
from .settle_models import migrate_settlements
from .signing import Signer
from .statements import Period
from .store import AccountRecord, account_by_key

PREFIX = "/v1/trade/"
JSON = (("content-type", "application/json"), ("cache-control", "no-store"))
MAX_TIME = 2**63 - 1
T = TypeVar("T")


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def _query(query: str, allowed: tuple[str, ...]) -> dict[str, int]:
    out: dict[str, int] = {}
    for name, value in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if name not in allowed:
            raise ClientError(
                "invalid_request",
                f"unknown query parameter {name[:40]!r}; accepted: {', '.join(allowed)}",
                param=name[:40],
            )
        if name in out:
            raise ClientError("invalid_request", f"{name} is given twice", param=name)
        if not value.isascii() or not value.isdigit() or int(value) > MAX_TIME:
            raise ClientError(
                "invalid_request", f"{name} must be a time in Unix milliseconds", param=name
            )
        out[name] = int(value)
    return out


class TradeLedgerApi:
    def __init__(
        self,
        *,
        db: peewee.Database | None,
        data_dir: Path,
        now: Callable[[], int] = now_ms,
    ) -> None:
        self._db = db
        self._data_dir = data_dir
        self._now = now
        self._signer: Signer | None = None
        self._ready = trio.Lock()

    async def _in_thread(self, function: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(function)

    async def _prepared(self) -> tuple[peewee.Database, Signer]:
        if self._db is None:
            raise InternalError(
                "unavailable",
                "the ledger is disabled (ledger_enabled = false): trading keeps its book there",
                code="ledger_disabled",
            )
        db = self._db
        async with self._ready:
            if self._signer is None:

                def prepare() -> Signer:
                    migrate_trade(db)
                    migrate_settlements(db)
                    return load_or_create(self._data_dir)[0]

                self._signer = await self._in_thread(prepare)
        return db, self._signer

    async def _account(self, request: HttpRequest, db: peewee.Database) -> AccountRecord:
        key = key_from_headers(request.headers)
        if not key:
            raise PolicyRefusal(
                "authentication",
                "missing trade account key: send it as 'Authorization: Bearer KEY'",
                code="invalid_api_key",
            )
        account = await self._in_thread(partial(account_by_key, db, hash_key(key)))
        if account is None:
            raise PolicyRefusal(
                "authentication", "no trade account has this key", code="invalid_api_key"
            )
        return account

    async def handle(self, request: HttpRequest, responder: Responder, *, tail: str) -> None:
        """Answer one request under ``/v1/trade/``; ``tail`` is the rest of
        its path. Raises GatewayError for the gateway to render."""
        routes: dict[str, tuple[str, Callable[[HttpRequest, Responder], Any]]] = {
            "statement": ("GET", self._statement),
            "settlements": ("POST", self._settlement),
        }
        route = routes.get(tail.strip("/"))
        if route is None:
            raise ClientError(
                "not_found", f"no such trading endpoint: {request.path}", code="unknown_url"
            )
        method, handler = route
        if request.method != method and not (request.method == "HEAD" and method == "GET"):
            raise ClientError(
                "method_not_allowed",
                f"method {request.method} is not allowed on {request.path}; allowed: {method}",
                headers=(("allow", method),),
            )
        await handler(request, responder)

    async def _statement(self, request: HttpRequest, responder: Responder) -> None:
        params = _query(request.query, ("period_from", "period_to"))
        db, signer = await self._prepared()
        account = await self._account(request, db)
        now = self._now()
        start, end = params.get("period_from", 0), params.get("period_to", now)
        if start >= end:
            raise ClientError(
                "invalid_request", "period_from must be before period_to", param="period_from"
            )
        period = Period(start=start, end=end)
        try:
            bundle = await self._in_thread(
                partial(
                    statement_of,
                    db,
                    signer,
                    counterparty=account.buyer,
                    direction="supply",
                    period=period,
                    now=now,
                )
            )
        except ValueError as error:  # too many receipts for one statement
            raise ClientError(
                "invalid_request", str(error), param="period_to", code="statement_too_large"
            ) from None
        await responder.respond(200, list(JSON), bundle.to_json())

    async def _settlement(self, request: HttpRequest, responder: Responder) -> None:
        _query(request.query, ())
        db, signer = await self._prepared()
        account = await self._account(request, db)
        try:
            stored = await self._in_thread(
                partial(
                    accept, db, signer, proposer=account.buyer, data=request.body, now=self._now()
                )
            )
        except Behind as behind:
            await self._refuse(responder, behind, settlement=behind.stored.envelopes())
            return
        except Refused as refused:
            await self._refuse(responder, refused)
            return
        await responder.respond(200, list(JSON), _ours(stored, signer))

    async def _refuse(self, responder: Responder, refused: Refused, **extra: Any) -> None:
        error = {"message": refused.message, "type": "invalid_request_error", "code": refused.code}
        body = json.dumps({"error": error, **extra}, ensure_ascii=False).encode("utf-8")
        await responder.respond(refused.status, list(JSON), body)


def _ours(stored: Stored, signer: Signer) -> bytes:
    return stored.envelope(signer.public_id)
