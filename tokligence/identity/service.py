"""The identity service: every change to users and keys, with its effects.

Theory of operation
-------------------
The admin API and the CLI change users and keys through this one facade,
so no caller can forget an effect. Each method runs the ``store`` function
in a worker thread, then — only once the change is committed —

1. invalidates this process's ``KeyCache`` entries the change affects
   (a revoked key, a deleted, disabled or re-roled user; other processes
   re-read within ``auth_cache_ttl``), and
2. emits the lifecycle hook event (``hooks``), which never fails the call.

``actor`` is the principal making an admin API request; when given, the
role table decides (``auth.can_manage``): a ``gateway_admin`` manages
``gateway_user`` accounts and their keys and may issue and revoke its own
keys. The CLI, run by whoever owns the data directory, passes no actor.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from datetime import datetime
from typing import Any, TypeVar

import peewee
import trio

from ..auth import Principal, Role, can_manage
from ..errors import GatewayError, PolicyRefusal
from ..limits import UNLIMITED, KeyLimits
from . import store
from .cache import KeyCache
from .hooks import Event, HookRunner
from .records import DeletedUser, ImportResult, KeyRecord, UserRecord

T = TypeVar("T")


def _forbidden(actor: Principal, what: str) -> GatewayError:
    return PolicyRefusal("permission", f"{actor.email} ({actor.role}) may not {what}")


class IdentityService:
    def __init__(
        self,
        db: peewee.Database,
        *,
        hooks: HookRunner | None = None,
        cache: KeyCache | None = None,
    ) -> None:
        self.db = db
        self._hooks = hooks
        self._cache = cache

    async def _call(self, function: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        return await trio.to_thread.run_sync(lambda: function(self.db, *args, **kwargs))

    async def _emit(
        self, event: Event, user: UserRecord, key: KeyRecord | None, actor: Principal | None
    ) -> None:
        if self._hooks is not None:
            actor_id = None if actor is None else actor.user_id
            await self._hooks.emit(event, user=user, key=key, actor_id=actor_id)

    def _forget_user(self, user_id: int) -> None:
        if self._cache is not None:
            self._cache.invalidate_user(user_id)

    @staticmethod
    def _check(actor: Principal | None, target: Role, what: str) -> None:
        if actor is not None and not can_manage(actor.role, target):
            raise _forbidden(actor, what)

    async def _check_key_owner(self, actor: Principal | None, user_id: int, what: str) -> None:
        if actor is None or actor.user_id == user_id:
            return
        owner = await self._call(store.get_user, user_id)
        self._check(actor, owner.role, what)

    # --------------------------------------------------------------- reads

    async def get_user(self, user_id: int) -> UserRecord:
        return await self._call(store.get_user, user_id)

    async def list_users(self) -> list[UserRecord]:
        return await self._call(store.list_users)

    async def get_key(self, key_id: int) -> KeyRecord:
        return await self._call(store.get_key, key_id)

    async def list_keys(self, user_id: int | None = None) -> list[KeyRecord]:
        return await self._call(store.list_keys, user_id)

    # --------------------------------------------------------------- users

    async def ensure_root_admin(self, email: str) -> UserRecord:
        user, outcome = await self._call(store.ensure_root_admin, email)
        if outcome == "created":
            await self._emit("user.created", user, None, None)
        elif outcome == "promoted":  # an existing account changed role
            await self._emit("user.updated", user, None, None)
        return user

    async def create_user(
        self,
        *,
        email: str,
        role: str = "gateway_user",
        display_name: str = "",
        actor: Principal | None = None,
    ) -> UserRecord:
        if actor is not None:
            self._check(actor, store.check_role(role), f"create {role} users")
        user = await self._call(
            store.create_user, email=email, role=role, display_name=display_name
        )
        await self._emit("user.created", user, None, actor)
        return user

    async def update_user(
        self,
        user_id: int,
        *,
        email: str | None = None,
        display_name: str | None = None,
        role: str | None = None,
        status: str | None = None,
        actor: Principal | None = None,
    ) -> UserRecord:
        before = await self._call(store.get_user, user_id)
        if actor is not None:
            self._check(actor, before.role, f"change {before.role} users")
            if role is not None:
                self._check(actor, store.check_role(role), f"give users the role {role}")
        user = await self._call(
            store.update_user,
            user_id,
            email=email,
            display_name=display_name,
            role=role,
            status=status,
        )
        if user == before:  # nothing changed: no event, nothing to forget
            return user
        self._forget_user(user_id)
        await self._emit("user.updated", user, None, actor)
        return user

    async def delete_user(self, user_id: int, *, actor: Principal | None = None) -> DeletedUser:
        if actor is not None:
            before = await self._call(store.get_user, user_id)
            self._check(actor, before.role, f"delete {before.role} users")
        deleted = await self._call(store.delete_user, user_id)
        self._forget_user(user_id)
        await self._emit("user.deleted", deleted.user, None, actor)
        return deleted

    async def import_users(
        self, records: Iterable[Mapping[str, Any]], *, actor: Principal | None = None
    ) -> ImportResult:
        rows = list(records)
        if actor is not None:
            for row in rows:
                role = row.get("role") if isinstance(row, Mapping) else None
                if isinstance(role, str):
                    self._check(actor, store.check_role(role), f"import {role} users")
            existing = {user.email: user.role for user in await self.list_users()}
            for row in rows:
                email = row.get("email") if isinstance(row, Mapping) else None
                if isinstance(email, str) and email.strip().lower() in existing:
                    current = existing[email.strip().lower()]
                    self._check(actor, current, f"change {current} users")
        result = await self._call(store.import_users, rows)
        for user in result.updated:
            self._forget_user(user.id)
        for user in result.created:
            await self._emit("user.created", user, None, actor)
        for user in result.updated:
            await self._emit("user.updated", user, None, actor)
        return result

    # ---------------------------------------------------------------- keys

    async def issue_key(
        self,
        user_id: int,
        *,
        name: str = "",
        scopes: Iterable[str] | str = ("model",),
        expires_at: datetime | None = None,
        limits: KeyLimits = UNLIMITED,
        actor: Principal | None = None,
    ) -> tuple[KeyRecord, str]:
        """(the new key's record, the plaintext key to show once)."""
        await self._check_key_owner(actor, user_id, "issue keys for that user")
        key, plaintext = await self._call(
            store.issue_key, user_id, name=name, scopes=scopes, expires_at=expires_at, limits=limits
        )
        await self._emit("key.issued", key.user, key, actor)
        return key, plaintext

    async def update_key(
        self,
        key_id: int,
        *,
        name: str | None = None,
        limits: KeyLimits | None = None,
        actor: Principal | None = None,
    ) -> KeyRecord:
        before = await self.get_key(key_id)
        await self._check_key_owner(actor, before.user.id, "change that user's keys")
        key = await self._call(store.update_key, key_id, name=name, limits=limits)
        if self._cache is not None:
            self._cache.invalidate_key(key_id)
        return key

    async def revoke_key(self, key_id: int, *, actor: Principal | None = None) -> KeyRecord:
        before = await self.get_key(key_id)
        await self._check_key_owner(actor, before.user.id, "revoke that user's keys")
        key = await self._call(store.revoke_key, key_id)
        if self._cache is not None:
            self._cache.invalidate_key(key_id)
        if before.revoked_at is None:
            await self._emit("key.revoked", key.user, key, actor)
        return key
