"""Background tasks that cannot take the gateway down.

Theory of operation
-------------------
A gateway has a few long-lived tasks beside its connections: the ledger
writer, the API-key last-used tracker, the alias reloader, the disconnect
watch. In a trio nursery an exception in any of them cancels everything,
so one bad input reaching one of them would stop the whole process.

:func:`supervised` runs such a task in a loop: an exception is logged with
its traceback, counted in the :class:`Supervisor` (which ``/health``
reads: *degraded* while a task failed in the last :data:`DEGRADED_FOR`
seconds), and the task is started again after a backoff that grows while
it keeps failing (so a task that fails at once cannot spin a core). A task
that returns normally is done. Cancellation is never caught.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import trio

log = logging.getLogger(__name__)

RESTART_INITIAL = 0.1  # seconds before the first restart
RESTART_MAX = 10.0  # the backoff stops growing here
DEGRADED_FOR = 60.0  # seconds /health stays degraded after a failure

TaskFunction = Callable[..., Awaitable[None]]


@dataclass(kw_only=True, slots=True)
class TaskHealth:
    restarts: int = 0
    last_error: str | None = None
    failed_at: float | None = None  # trio clock


@dataclass(kw_only=True, slots=True)
class Supervisor:
    """What the supervised tasks of one gateway went through."""

    tasks: dict[str, TaskHealth] = field(default_factory=dict)

    def failed(self, name: str, error: BaseException) -> TaskHealth:
        health = self.tasks.setdefault(name, TaskHealth())
        health.restarts += 1
        health.last_error = f"{type(error).__name__}: {error}"
        health.failed_at = trio.current_time()
        return health

    def failing(self, now: float) -> dict[str, TaskHealth]:
        """The tasks that failed within the last :data:`DEGRADED_FOR` seconds."""
        return {
            name: health
            for name, health in self.tasks.items()
            if health.failed_at is not None and now - health.failed_at < DEGRADED_FOR
        }

    def report(self) -> dict[str, Any]:
        """For ``/health``: every task that ever failed, and whether it is failing."""
        now = trio.current_time()
        failing = self.failing(now)
        return {
            name: {
                "restarts": health.restarts,
                "last_error": health.last_error,
                "failing": name in failing,
            }
            for name, health in self.tasks.items()
        }


class _Started:
    """A task status that remembers whether the task said it had started,
    so a task that fails before starting can be tried again under it."""

    def __init__(self, status: trio.TaskStatus[Any]) -> None:
        self._status = status
        self.done = False

    def started(self, value: Any = None) -> None:
        if not self.done:
            self.done = True
            self._status.started(value)


async def supervised(
    name: str,
    task: TaskFunction,
    supervisor: Supervisor,
    *,
    task_status: trio.TaskStatus[Any] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run ``task(task_status=...)`` until it returns, restarting it after
    every exception (see the module docstring)."""
    status = _Started(task_status)
    delay = RESTART_INITIAL
    while True:
        started_at = trio.current_time()
        try:
            await task(task_status=status)
        except Exception as error:
            if trio.current_time() - started_at > RESTART_MAX:
                delay = RESTART_INITIAL  # it had been running well: no penalty
            health = supervisor.failed(name, error)
            log.exception(
                "background task %s failed (restart %d in %.1fs)", name, health.restarts, delay
            )
            await trio.sleep(delay)
            delay = min(delay * 2, RESTART_MAX)
            continue
        status.started()  # a task that returned without saying so is done too
        return
