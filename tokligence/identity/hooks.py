"""Lifecycle hooks: a configured script hears about user and key changes.

Theory of operation
-------------------
After a change is committed, :meth:`HookRunner.emit` runs the script once
with the event as one JSON object on stdin, waits for it up to ``timeout``
seconds and kills it after that. A script that fails, hangs or cannot be
started is logged on ``tokligence.identity.hooks`` and the change stands: a hook
observes, it cannot veto. Runs are serialised, so a script sees a user's
creation before its first key.

The envelope keeps the original gateway's fields — ``id``, ``type``
("gateway.user.provisioned", …), ``occurred_at``, ``tenant_id``,
``user_id``, ``actor_id``, ``metadata`` — so its scripts keep working, and
adds ``event`` ("user.created", …), ``time`` and the full ``user`` / ``key``
records. A key appears by id and prefix only: records carry neither the
plaintext key nor its hash.

The settings keep the original's formats (:func:`parse_args`,
:func:`parse_env`, :func:`parse_timeout`).
"""

from __future__ import annotations

import json
import logging
import os
import re
import sys
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal, TypeAlias, get_args

import trio

from .. import lifeline
from .records import KeyRecord, UserRecord

log = logging.getLogger(__name__)

Event: TypeAlias = Literal[
    "user.created", "user.updated", "user.deleted", "key.issued", "key.revoked"
]
EVENTS: tuple[Event, ...] = get_args(Event)
# The original gateway's name of each event, sent as "type".
ORIGINAL_TYPES: Mapping[Event, str] = {
    "user.created": "gateway.user.provisioned",
    "user.updated": "gateway.user.updated",
    "user.deleted": "gateway.user.deleted",
    "key.issued": "gateway.api_key.issued",
    "key.revoked": "gateway.api_key.revoked",
}
# Long enough for a script that calls a web API; an admin request waits
# for it, so not much longer.
DEFAULT_TIMEOUT = 10.0
# Characters of a failing script's stderr kept in the log line.
STDERR_LOG_CHARS = 500


# ------------------------------------------------------------------ settings


def parse_args(text: str) -> tuple[str, ...]:
    """Script arguments as the original took them: comma separated."""
    return tuple(part.strip() for part in text.split(",") if part.strip())


def parse_env(text: str) -> dict[str, str]:
    """Extra environment as the original took it: ``K=V,K2=V2``."""
    env: dict[str, str] = {}
    for part in (part.strip() for part in text.split(",")):
        if not part:
            continue
        name, eq, value = part.partition("=")
        if not eq or not name.strip():
            raise ValueError(f"hook environment entry {part.split('=')[0]!r} is not NAME=VALUE")
        env[name.strip()] = value.strip()
    return env


_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|ms|s|m|h)")
_UNIT_SECONDS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}


def parse_timeout(text: str) -> float:
    """Seconds from a Go duration ("30s", "1m30s", "500ms") or a plain number."""
    value = text.strip()
    try:
        seconds = float(value)
    except ValueError:
        parts = _DURATION_PART.findall(value)
        if not parts or "".join(n + u for n, u in parts) != value:
            raise ValueError(
                f"hook timeout {text!r} is not a duration (e.g. 30s, 1m30s, 500ms)"
            ) from None
        seconds = sum(float(number) * _UNIT_SECONDS[unit] for number, unit in parts)
    if not seconds > 0 or seconds == float("inf"):
        raise ValueError(f"hook timeout {text!r} must be a positive duration")
    return seconds


# ------------------------------------------------------------------ envelope


def _iso(moment: datetime) -> str:
    return moment.astimezone(timezone.utc).isoformat().replace("+00:00", "Z")


def envelope(
    event: Event,
    *,
    user: UserRecord,
    key: KeyRecord | None = None,
    actor_id: int | None = None,
    event_id: str,
    time: datetime,
) -> dict[str, Any]:
    """The JSON object a script receives (pure: id and time given)."""
    metadata: dict[str, Any] = {
        "email": user.email,
        "role": user.role,
        "display_name": user.display_name,
        "status": user.status,
    }
    body: dict[str, Any] = {
        "event": event,
        "type": ORIGINAL_TYPES[event],
        "id": event_id,
        "time": _iso(time),
        "occurred_at": _iso(time),
        "tenant_id": "",
        "user_id": str(user.id),
        "actor_id": "" if actor_id is None else str(actor_id),
        "user": user.to_json(),
        "metadata": metadata,
    }
    if key is not None:
        body["key"] = key.to_json()
        metadata.update(key_id=key.id, key_prefix=key.prefix, scopes=list(key.scopes))
    return body


# -------------------------------------------------------------------- runner


async def _kill(process: trio.Process) -> None:
    # No SIGTERM grace: the script already had its whole timeout.
    process.kill()


class HookRunner:
    def __init__(
        self,
        script: Path | None,
        *,
        args: Sequence[str] = (),
        env: Mapping[str, str] | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ) -> None:
        if timeout <= 0:
            raise ValueError("the hook timeout must be positive")
        self.script = script
        self._args = tuple(args)
        self._env = dict(env or {})
        self._timeout = timeout
        self._now = now
        self._new_id = new_id
        self._lock = trio.Lock()

    @property
    def enabled(self) -> bool:
        return self.script is not None

    async def emit(
        self,
        event: Event,
        *,
        user: UserRecord,
        key: KeyRecord | None = None,
        actor_id: int | None = None,
    ) -> bool:
        """Run the script on one event; True when it exited 0. Never raises
        for the script's sake (a missing, failing or hanging script is logged)."""
        if self.script is None:
            return False
        try:
            body = envelope(
                event,
                user=user,
                key=key,
                actor_id=actor_id,
                event_id=self._new_id(),
                time=self._now(),
            )
            # Escaped (ensure_ascii): any stored text, a lone surrogate too,
            # reaches the script as JSON it can read.
            data = json.dumps(body).encode("ascii") + b"\n"
            async with self._lock:
                return await self._run(self.script, event, data)
        except Exception:
            # A hook is a notification: its failure is the operator's to see
            # in the log, never the admin request's or the gateway's.
            log.exception("hook script %s failed on %s", self.script, event)
            return False

    async def _run(self, script: Path, event: str, data: bytes) -> bool:
        command = [os.fspath(script), *self._args]
        # The script inherits the gateway's environment (less what the single-
        # file binary's bootloader set for our own runtime) plus the extras.
        frozen = bool(getattr(sys, "frozen", False))
        env = {**lifeline.foreign_env(os.environ, frozen=frozen), **self._env}
        result = None
        with trio.move_on_after(self._timeout) as scope:
            try:
                result = await trio.run_process(
                    command,
                    stdin=data,
                    capture_stdout=True,
                    capture_stderr=True,
                    check=False,
                    env=env,
                    deliver_cancel=_kill,
                )
            except OSError as error:
                log.error("hook script %s could not run for %s: %s", command[0], event, error)
                return False
        if scope.cancelled_caught or result is None:
            log.error(
                "hook script %s timed out after %gs on %s and was killed",
                command[0],
                self._timeout,
                event,
            )
            return False
        if result.returncode != 0:
            stderr = result.stderr.decode("utf-8", "replace").strip()[-STDERR_LOG_CHARS:]
            log.error(
                "hook script %s failed on %s with exit status %d: %s",
                command[0],
                event,
                result.returncode,
                stderr or "(no output)",
            )
            return False
        log.debug("hook script %s handled %s", command[0], event)
        return True
