"""The update check: ask, remember for a day, and say so in one line.

Theory of operation
-------------------
:func:`background` is the gateway's check. ``app.serve`` starts it, after
the listeners are up, as a supervised task (and imports this package only
then: start-up never pays for it). It does nothing when
``update_check_enabled`` is false or ``CI`` is set to anything but false.
Otherwise it reads ``<data_dir>/update-check.json``: if a check of this
kind of installation happened in the last :data:`INTERVAL`, its remembered
answer is used and nothing is sent. If not, it first writes down that it is
checking now (so a restart, or a second gateway, within the day does not
ask again, whatever comes of this one; a data dir it cannot write means no
check at all), then asks (:func:`ask`), then writes down the answer. A
newer version is logged once, at INFO:
``tokligence X is available (you have Y): <upgrade command>``.

Offline, refused, hanging, 404, garbage: :func:`ask` gives up within
:data:`TIMEOUT` seconds, and the background check logs why at DEBUG only
and tries again tomorrow. So does any other exception: an update check
must never be why a gateway logs an error or reports itself degraded.
Shutdown cancels it wherever it is.

:func:`check_now` is ``tokligence version --check``: the same question,
asked at once (the day's memory and ``CI`` do not stop it; only
``update_check_enabled = false`` does), its answer remembered too.

What is sent: one ``GET`` to the registry (see ``sources.py``) with the
headers ``Host``, ``User-Agent: tokligence`` (no version: the comparison
happens here), ``Accept`` and ``Connection: close``; no query string, no
cookie, no credentials, no identifier of any kind.
"""

from __future__ import annotations

import json
import logging
import os
import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import trio

from .. import __version__
from ..config import Config
from ..upstreams.transport import PooledTransport
from .sources import CannotCheck, Kind, Query, install_kind, query_for, read_answer
from .versions import latest, parse_version

log = logging.getLogger(__name__)

STATE_FILE = "update-check.json"
INTERVAL = 24 * 3600.0  # seconds between two checks of one installation
TIMEOUT = 5.0  # seconds for finding the registry and asking it, together
MAX_ANSWER = 4 * 1024 * 1024  # a registry page larger than this is not one
USER_AGENT = "tokligence"
REDIRECTS = frozenset({301, 302, 303, 307, 308})
_FALSE = ("", "0", "false", "no", "off")


@dataclass(frozen=True, kw_only=True, slots=True)
class Answer:
    kind: Kind
    current: str
    latest: str  # the registry's latest release (pre-releases only for one on a pre-release)
    newer: bool  # latest is newer than current
    upgrade: str  # the command (or step) that upgrades this installation
    url: str  # what was asked, as shown to the user


def notice(answer: Answer) -> str | None:
    """The one line to log, or None when up to date."""
    if not answer.newer:
        return None
    return f"tokligence {answer.latest} is available (you have {answer.current}): {answer.upgrade}"


def in_ci(environ: Mapping[str, str]) -> bool:
    """CI services set ``CI`` (to ``true``, or ``1``)."""
    return environ.get("CI", "").strip().lower() not in _FALSE


# ------------------------------------------------------------------ asking


async def ask(config: Config, environ: Mapping[str, str]) -> Answer:
    """Ask the registry this installation came from; raises CannotCheck."""
    current = parse_version(__version__)
    if current is None:
        raise CannotCheck(f"this version ({__version__}) is not one to compare")
    kind = install_kind(environ)
    with trio.move_on_after(TIMEOUT):
        query = await query_for(kind, environ, override=config.update_check_url)
        body, location = await fetch(query)
        found = latest(read_answer(query, body, location), prereleases=current.prerelease)
        if found is None:
            raise CannotCheck(f"the registry lists no release we can read ({query.url})")
        return Answer(
            kind=kind,
            current=__version__,
            latest=found.text,
            newer=found > current,
            upgrade=query.upgrade,
            url=query.url,
        )
    raise CannotCheck(f"no answer within {TIMEOUT:g} s")


async def fetch(query: Query) -> tuple[bytes, str | None]:
    """The body (or, for the release feed, the redirect target) of one GET."""
    transport = PooledTransport(max_connections=1, max_idle=0)
    request = httpx.Request(
        "GET",
        query.url,
        headers=[("user-agent", USER_AGENT), ("accept", query.accept), ("connection", "close")],
        extensions={"timeout": dict.fromkeys(("connect", "read", "write", "pool"), TIMEOUT)},
    )
    try:
        response = await transport.handle_async_request(request)
        try:
            status = response.status_code
            if query.redirect_is_answer and status in REDIRECTS:
                return b"", response.headers.get("location")
            if status != 200:
                raise CannotCheck(f"HTTP {status} from {query.url}")
            return await _read(response, query.url), None
        finally:
            await response.aclose()
    except httpx.HTTPError as error:
        raise CannotCheck(str(error) or type(error).__name__) from None
    finally:
        await transport.aclose()


async def _read(response: httpx.Response, url: str) -> bytes:
    body = bytearray()
    async for chunk in response.aiter_raw():
        body += chunk
        if len(body) > MAX_ANSWER:
            raise CannotCheck(f"the answer from {url} is larger than {MAX_ANSWER >> 20} MiB")
    return bytes(body)


# --------------------------------------------------------------- remembering


@dataclass(frozen=True, kw_only=True, slots=True)
class Memory:
    checked_at: float  # time.time() of the last check (started)
    kind: str
    answer: Answer | None  # None while that check runs, or when it had none


def recall(path: Path, kind: Kind, now: float) -> Memory | None:
    """The last check of this kind of installation, if it was today."""
    try:
        data: Any = json.loads(path.read_text(encoding="utf-8"))
        checked_at = float(data["checked_at"])
        if data["kind"] != kind or not 0 <= now - checked_at < INTERVAL:
            return None
        answer = data.get("answer")
        return Memory(
            checked_at=checked_at,
            kind=kind,
            answer=None if answer is None else Answer(**answer),
        )
    except (OSError, ValueError, KeyError, TypeError):
        return None  # none, or not ours to read: as if never checked


def remember(path: Path, memory: Memory) -> None:
    """Write ``memory`` atomically (another gateway may read it at any time)."""
    answer = memory.answer
    data = {
        "checked_at": memory.checked_at,
        "kind": memory.kind,
        "answer": None
        if answer is None
        else {
            "kind": answer.kind,
            "current": answer.current,
            "latest": answer.latest,
            "newer": answer.newer,
            "upgrade": answer.upgrade,
            "url": answer.url,
        },
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f"{path.name}.{os.getpid()}.partial")
    partial.write_text(json.dumps(data), encoding="utf-8")
    os.replace(partial, path)


def _as_of_now(answer: Answer) -> Answer:
    """A remembered answer, for the version running now (it may have been
    upgraded since)."""
    current, found = parse_version(__version__), parse_version(answer.latest)
    newer = current is not None and found is not None and found > current
    return Answer(
        kind=answer.kind,
        current=__version__,
        latest=answer.latest,
        newer=newer,
        upgrade=answer.upgrade,
        url=answer.url,
    )


# --------------------------------------------------------------- entry points


async def background(
    config: Config,
    environ: Mapping[str, str],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """The gateway's daily check (see the module docstring); never raises."""
    task_status.started()
    if not config.update_check_enabled or in_ci(environ):
        return
    try:
        answer = await _daily(config, environ)
    except Exception as error:  # offline, garbage, anything: silent, try tomorrow
        log.debug("update check: no answer: %s", error)
        return
    line = None if answer is None else notice(answer)
    if line is not None:
        log.info("%s", line)


async def _daily(config: Config, environ: Mapping[str, str]) -> Answer | None:
    path = config.data_dir / STATE_FILE
    kind = install_kind(environ)
    now = time.time()
    memory = await trio.to_thread.run_sync(recall, path, kind, now, abandon_on_cancel=True)
    if memory is not None:
        return None if memory.answer is None else _as_of_now(memory.answer)
    # Claimed before asking: a restart or a second gateway today stays quiet.
    await trio.to_thread.run_sync(
        remember, path, Memory(checked_at=now, kind=kind, answer=None), abandon_on_cancel=True
    )
    answer = await ask(config, environ)
    memory = Memory(checked_at=now, kind=kind, answer=answer)
    await trio.to_thread.run_sync(remember, path, memory, abandon_on_cancel=True)
    return answer


async def check_now(config: Config, environ: Mapping[str, str]) -> Answer:
    """``tokligence version --check``; raises CannotCheck (also when off)."""
    if not config.update_check_enabled:
        raise CannotCheck("the update check is off (update_check_enabled = false)")
    try:
        answer = await ask(config, environ)
    except CannotCheck:
        raise
    except Exception as error:  # never a traceback for a question about versions
        raise CannotCheck(f"{type(error).__name__}: {error}") from None
    try:
        memory = Memory(checked_at=time.time(), kind=answer.kind, answer=answer)
        await trio.to_thread.run_sync(remember, config.data_dir / STATE_FILE, memory)
    except OSError as error:
        log.debug("update check: not remembered: %s", error)
    return answer
