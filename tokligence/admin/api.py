"""The admin HTTP API: users, API keys, usage, prices, the provider audit and
the trading summary under ``/api/v1/admin/``.

Theory of operation
-------------------
The gateway's pipeline authenticates the request (an admin role and a key
with the ``admin`` scope, or auth disabled on loopback), then hands the path
after ``/api/v1/admin/`` to :meth:`AdminApi.handle`. The route table maps
path segments (``{id}`` matches one segment) to one handler per method; a
known path with another method is a 405 with ``Allow``, an unknown path a
404. Handlers validate the request completely (``api_input``) before they
change anything, return ``(status, payload)``, and ``handle`` writes the
JSON. Every problem is raised as a ``GatewayError`` for the pipeline to
render in the OpenAI error envelope.

User and key changes go through ``IdentityService`` with the caller as
``actor``, so the role table applies (a ``gateway_admin`` manages only
``gateway_user`` accounts) and hooks and cache invalidation follow each
change. Usage and prices are read from and written to the ledger database
in worker threads; a new price calls ``on_prices_changed`` so the ledger
writer costs the next batch with it.

A key's plaintext is in exactly one response, the one that creates it.
Audit lines on ``tokligence.admin`` name keys by their public prefix only.
Responses carry ``Cache-Control: no-store``: they hold account data.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import Any, TypeVar

import peewee
import trio

from ..auth import Principal
from ..errors import ClientError, InternalError, invalid
from ..identity.service import IdentityService
from ..ledger import db as dbmod
from ..ledger import prices as pricemod
from ..ledger.queries import recent_entries, usage_series, usage_summary
from ..server.exchange import HttpRequest, Responder
from ..wire.json_body import dumps
from . import PREFIX, api_input
from . import audit as auditmod
from .api_output import (
    billing_json,
    deleted_json,
    entry_json,
    health_json,
    key_json,
    price_json,
    series_json,
    usage_json,
    user_json,
)
from .values import parse_id

log = logging.getLogger(__name__)

T = TypeVar("T")
RESPONSE_HEADERS = (("content-type", "application/json"), ("cache-control", "no-store"))
Payload = tuple[int, dict[str, Any]]


def _utc_now() -> datetime:
    return datetime.now(timezone.utc)


@dataclass(frozen=True, kw_only=True, slots=True)
class _Call:
    request: HttpRequest
    actor: Principal | None
    path_id: int  # the {id} segment; 0 on routes without one


Handler = Callable[[_Call], Awaitable[Payload]]


@dataclass(frozen=True, kw_only=True, slots=True)
class _Route:
    segments: tuple[str, ...]
    methods: Mapping[str, Handler]
    id_of: str = ""  # what the {id} segment names ("" when there is none)

    def matches(self, parts: list[str]) -> str | None:
        """None, or the {id} segment ("" when the route has none)."""
        if len(parts) != len(self.segments):
            return None
        found = ""
        for want, part in zip(self.segments, parts, strict=True):
            if want == "{id}":
                found = part
            elif want != part:
                return None
        return found


def _who(actor: Principal | None) -> str:
    return "auth-disabled caller" if actor is None else f"{actor.email} (key {actor.key_prefix}…)"


class AdminApi:
    def __init__(
        self,
        *,
        identity: IdentityService,
        ledger_db: peewee.Database | None,
        on_prices_changed: Callable[[], None] | None = None,
        config_rows: Callable[[], list[dict[str, object]]] | None = None,
        now: Callable[[], datetime] = _utc_now,
        selling: bool = False,
    ) -> None:
        self._identity = identity
        self._selling = selling  # offers configured: the trading accounts are kept
        self._config_rows = config_rows
        self._ledger_db = ledger_db
        self._on_prices_changed = on_prices_changed
        self._now = now
        # Literal segments are listed before {id} ones: "users/import" is not a user.
        self._routes = (
            _Route(segments=("users",), methods={"GET": self._users, "POST": self._create_user}),
            _Route(segments=("users", "import"), methods={"POST": self._import_users}),
            _Route(
                segments=("users", "{id}"),
                methods={"GET": self._user, "PATCH": self._update_user, "DELETE": self._delete},
                id_of="user",
            ),
            _Route(
                segments=("users", "{id}", "api-keys"),
                methods={"GET": self._user_keys, "POST": self._issue_key},
                id_of="user",
            ),
            _Route(segments=("api-keys",), methods={"GET": self._keys}),
            _Route(
                segments=("api-keys", "{id}"),
                methods={"GET": self._key, "DELETE": self._revoke_key},
                id_of="API key",
            ),
            _Route(segments=("usage", "summary"), methods={"GET": self._usage_summary}),
            _Route(segments=("usage", "recent"), methods={"GET": self._usage_recent}),
            _Route(segments=("usage", "series"), methods={"GET": self._usage_series}),
            _Route(segments=("config",), methods={"GET": self._config}),
            _Route(segments=("prices",), methods={"GET": self._prices, "POST": self._add_price}),
            _Route(segments=("audit", "billing"), methods={"GET": self._audit_billing}),
            _Route(segments=("audit", "health"), methods={"GET": self._audit_health}),
            _Route(segments=("trade", "summary"), methods={"GET": self._trade_summary}),
            _Route(segments=("trade", "accounts"), methods={"GET": self._trade_accounts}),
            _Route(
                segments=("trade", "accounts", "{id}"),
                methods={"PATCH": self._trade_credit},
                id_of="account",
            ),
        )

    async def handle(
        self,
        request: HttpRequest,
        responder: Responder,
        *,
        principal: Principal | None,
        tail: str,
    ) -> None:
        """Answer one authenticated admin request; ``tail`` is the path after
        ``/api/v1/admin/``. Raises ``GatewayError`` for every refusal."""
        parts = tail.strip("/").split("/")
        for route in self._routes:
            raw_id = route.matches(parts)
            if raw_id is None:
                continue
            handler = route.methods.get(request.method)
            if handler is None:
                allow = ", ".join(sorted(route.methods))
                raise ClientError(
                    "method_not_allowed",
                    f"method {request.method} is not allowed on {PREFIX}{tail}; allowed: {allow}",
                    headers=(("allow", allow),),
                )
            path_id = 0
            if route.id_of:
                try:
                    path_id = parse_id(raw_id)
                except ValueError as error:
                    raise invalid(f"{route.id_of} id {error}", param="id") from None
            status, payload = await handler(
                _Call(request=request, actor=principal, path_id=path_id)
            )
            await responder.respond(status, list(RESPONSE_HEADERS), dumps(payload))
            return
        raise ClientError(
            "not_found",
            f"no such admin endpoint: {request.method} {PREFIX}{tail}",
            code="unknown_url",
        )

    # ---------------------------------------------------------------- users

    async def _users(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        users = await self._identity.list_users()
        return 200, {"users": [user_json(user) for user in users]}

    async def _create_user(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        wanted = api_input.new_user(call.request.body)
        user = await self._identity.create_user(
            email=wanted.email, role=wanted.role, display_name=wanted.display_name, actor=call.actor
        )
        log.info("%s created user %d (%s, %s)", _who(call.actor), user.id, user.email, user.role)
        return 201, {"user": user_json(user)}

    async def _import_users(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        rows = api_input.import_rows(call.request.body)
        result = await self._identity.import_users(rows, actor=call.actor)
        log.info(
            "%s imported users: %d created, %d updated, %d unchanged",
            _who(call.actor),
            len(result.created),
            len(result.updated),
            len(result.unchanged),
        )
        return 200, {
            "created": [user_json(user) for user in result.created],
            "updated": [user_json(user) for user in result.updated],
            "unchanged": [user_json(user) for user in result.unchanged],
        }

    async def _user(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        return 200, {"user": user_json(await self._identity.get_user(call.path_id))}

    async def _update_user(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        changes = api_input.user_changes(call.request.body)
        if changes == api_input.UserChanges():
            # Nothing to change: no hook event, no cache invalidation.
            return await self._user(call)
        user = await self._identity.update_user(
            call.path_id,
            email=changes.email,
            display_name=changes.display_name,
            role=changes.role,
            status=changes.status,
            actor=call.actor,
        )
        log.info("%s updated user %d (%s)", _who(call.actor), user.id, user.email)
        return 200, {"user": user_json(user)}

    async def _delete(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        deleted = await self._identity.delete_user(call.path_id, actor=call.actor)
        body = deleted_json(deleted, self._now())
        log.info(
            "%s deleted user %d (%s) with %d usable API keys",
            _who(call.actor),
            deleted.user.id,
            deleted.user.email,
            body["revoked_keys"],
        )
        return 200, body

    # ----------------------------------------------------------------- keys

    async def _user_keys(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        keys = await self._identity.list_keys(call.path_id)
        now = self._now()
        return 200, {"api_keys": [key_json(key, now) for key in keys]}

    async def _keys(self, call: _Call) -> Payload:
        user_id = api_input.keys_query(call.request.query)
        keys = await self._identity.list_keys(user_id)
        now = self._now()
        return 200, {"api_keys": [key_json(key, now) for key in keys]}

    async def _key(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        return 200, {"key": key_json(await self._identity.get_key(call.path_id), self._now())}

    async def _issue_key(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        wanted = api_input.new_key(call.request.body)
        now = self._now()
        expires_at = wanted.expires_at
        if wanted.expires_in_days is not None:
            expires_at = now + timedelta(days=wanted.expires_in_days)
        elif expires_at is not None and expires_at <= now:
            raise invalid("'expires_at' is in the past", param="expires_at")
        key, plaintext = await self._identity.issue_key(
            call.path_id,
            name=wanted.name,
            scopes=wanted.scopes,
            expires_at=expires_at,
            limits=wanted.limits,
            actor=call.actor,
        )
        log.info(
            "%s issued API key %d (%s…) for user %d",
            _who(call.actor),
            key.id,
            key.prefix,
            key.user.id,
        )
        return 201, {"key": key_json(key, now), "api_key": plaintext}

    async def _revoke_key(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        key = await self._identity.revoke_key(call.path_id, actor=call.actor)
        log.info("%s revoked API key %d (%s…)", _who(call.actor), key.id, key.prefix)
        return 200, {"key": key_json(key, self._now())}

    # ------------------------------------------------------- usage, prices

    def _ledger(self) -> peewee.Database:
        if self._ledger_db is None:
            raise InternalError(
                "unavailable",
                "the ledger is disabled (ledger_enabled = false): no usage or prices are kept",
                code="ledger_disabled",
            )
        return self._ledger_db

    async def _in_thread(self, function: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(function)

    async def _usage_summary(self, call: _Call) -> Payload:
        query = api_input.usage_query(call.request.query)
        rows = await self._in_thread(
            partial(
                usage_summary,
                self._ledger(),
                group_by=query.group_by,
                since=query.since,
                until=query.until,
                user_id=query.user_id,
                api_key_id=query.api_key_id,
            )
        )
        return 200, usage_json(query.group_by, rows, since=query.since, until=query.until)

    async def _usage_recent(self, call: _Call) -> Payload:
        query = api_input.recent_query(call.request.query)
        entries = await self._in_thread(
            partial(
                recent_entries,
                self._ledger(),
                limit=query.limit,
                user_id=query.user_id,
                api_key_id=query.api_key_id,
                before_id=query.before_id,
            )
        )
        return 200, {"entries": [entry_json(entry) for entry in entries]}

    async def _audit_billing(self, call: _Call) -> Payload:
        query = api_input.billing_query(call.request.query)
        audit = await self._in_thread(partial(auditmod.billing, self._ledger(), query))
        return 200, billing_json(audit)

    async def _audit_health(self, call: _Call) -> Payload:
        query = api_input.health_query(call.request.query)
        audit = await self._in_thread(partial(auditmod.health, self._ledger(), query, self._now()))
        return 200, health_json(audit)

    async def _usage_series(self, call: _Call) -> Payload:
        query = api_input.series_query(call.request.query)
        until = query.until or self._now()
        since = query.since or until - api_input.DEFAULT_SPANS[query.bucket]
        if since >= until:
            raise invalid(
                "'since' must be earlier than now when 'until' is not given", param="since"
            )
        try:
            result = await self._in_thread(
                partial(
                    usage_series,
                    self._ledger(),
                    bucket=query.bucket,  # type: ignore[arg-type]  # checked by series_query
                    by=query.by,
                    since=since,
                    until=until,
                )
            )
        except ValueError as error:  # too many buckets for the span
            raise invalid(
                f"'since'..'until' is too long for bucket={query.bucket}: {error}", param="since"
            ) from None
        return 200, series_json(result, since=since, until=until)

    async def _trade_summary(self, call: _Call) -> Payload:
        """What ``tokligence trade summary --json`` prints."""
        api_input.parse_query(call.request.query, ())
        # Trading's code on its first use (never PyNaCl: summary.py is sums).
        from ..trade.summary import summary, summary_json

        rows = await self._in_thread(partial(summary, self._ledger()))
        return 200, summary_json(rows)

    async def _config(self, call: _Call) -> Payload:
        """The effective configuration, as ``tokligence config show --json``
        prints it: secrets masked."""
        api_input.parse_query(call.request.query, ())
        if self._config_rows is None:
            raise InternalError("unavailable", "the configuration is not available here")
        return 200, {"settings": self._config_rows()}

    async def _prices(self, call: _Call) -> Payload:
        at = api_input.prices_query(call.request.query)
        db = self._ledger()

        def read() -> list[pricemod.PriceEntry]:
            with dbmod.connection(db):
                return pricemod.list_prices(db, at=at)

        return 200, {"prices": [price_json(price) for price in await self._in_thread(read)]}

    async def _add_price(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        wanted = api_input.new_price(call.request.body)
        price = await self._in_thread(partial(add_price, self._ledger(), wanted))
        log.info(
            "%s added price %d for %s via %s from %s",
            _who(call.actor),
            price.id,
            price.model_pattern,
            price.provider,
            price.effective_from.isoformat(),
        )
        if self._on_prices_changed is not None:
            self._on_prices_changed()
        return 201, {"price": price_json(price)}

    # ---------------------------------------------------------------- trading

    def _trade_db(self) -> peewee.Database:
        if not self._selling:
            raise ClientError(
                "not_found",
                "this gateway sells nothing: no [trade.offer.NAME] is configured",
                code="trading_off",
            )
        return self._ledger()

    async def _trade_accounts(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        db = self._trade_db()
        # Imported here: a gateway that does not sell never loads trading.
        from ..trade import store
        from ..trade.seller import account_json

        accounts = await self._in_thread(partial(store.accounts, db))
        return 200, {"accounts": [account_json(account) for account in accounts]}

    async def _trade_credit(self, call: _Call) -> Payload:
        api_input.parse_query(call.request.query, ())
        limit = api_input.credit_limit(call.request.body)
        db = self._trade_db()
        from ..trade import store
        from ..trade.seller import account_json

        account = await self._in_thread(partial(store.account_by_id, db, call.path_id))
        if account is None:
            raise ClientError(
                "not_found", f"no trading account {call.path_id}", code="account_not_found"
            )
        changed = await self._in_thread(partial(store.set_credit_limit, db, account.buyer, limit))
        log.info(
            "%s set the credit limit of %s to %d micro-USD",
            _who(call.actor),
            changed.buyer,
            limit,
        )
        return 200, {"account": account_json(changed)}


def add_price(db: peewee.Database, wanted: api_input.NewPrice) -> pricemod.PriceEntry:
    """Record a price in the back-end's write transaction (SQLite's ``BEGIN
    IMMEDIATE``: a deferred one that reads first could not wait for the
    ledger writer's lock); a clash with an existing row is a 409."""
    try:
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            return pricemod.add_price(
                db,
                model_pattern=wanted.model_pattern,
                provider=wanted.provider,
                input_per_mtok=wanted.input_per_mtok,
                output_per_mtok=wanted.output_per_mtok,
                cache_read_per_mtok=wanted.cache_read_per_mtok,
                cache_write_per_mtok=wanted.cache_write_per_mtok,
                effective_from=wanted.effective_from,
            )
    except ValueError as error:
        raise ClientError(
            "invalid_request", str(error), status=409, param="effective_from", code="price_exists"
        ) from None
