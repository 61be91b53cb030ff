"""``serve --workers N``: N gateway processes sharing the same ports.

Theory of operation
-------------------
One Python process serves from one core. With ``workers`` above 1 the
process the user started becomes a supervisor that serves nothing itself:
it starts N worker processes, each a whole gateway (``tokligence serve``
with the same options), which bind the same ports with ``SO_REUSEPORT`` so
the kernel spreads new connections over them. What must be shared between
workers is in the databases they share already (ledger, keys, stored
Responses turns); each worker reloads the alias files itself.

* **Start.** Worker 0 starts first and the others once it answers
  ``/health``, so the database migrations and the root admin are made by
  one process, not raced by N.
* **Restart.** A worker that exits while the supervisor is not stopping
  is started again, after a pause that doubles while it keeps dying young
  (0.5 s up to 30 s), so a worker that cannot start does not spin.
* **Stop.** SIGINT or SIGTERM to the supervisor is passed to every worker,
  which finishes its requests, streams included, within ``shutdown_grace``
  as a single gateway does; a second signal is passed on too (workers then
  skip the grace period). Workers still running after the grace period and
  a margin are killed. SIGHUP is passed on as it is.
* **Orphans.** Each worker watches the supervisor (``TOKLIGENCE_LAUNCHER_PID``,
  lifeline.py) and stops if it dies, even by SIGKILL.
* **Logs.** A worker with a log file writes its own, ``<name>.worker-<i>``
  beside it: one rotating file per process, never two rotating one file.

Where the OS has no ``SO_REUSEPORT`` (Windows) ``workers`` above 1 is
refused at start: run one gateway per port behind a load balancer instead
(docs/scale-out.md).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import sys
from collections.abc import Mapping

import trio

from .config import Config, ConfigError
from .lifeline import LAUNCHER_PID_ENV

log = logging.getLogger(__name__)

WORKER_ENV = "TOKLIGENCE_WORKER_INDEX"
FIRST_HEALTHY_WAIT = 60.0  # worker 0's migrations on a slow database
RESTART_PAUSE = (0.5, 30.0)  # first pause, longest pause
YOUNG = 10.0  # a worker that dies sooner than this after starting is crash-looping
STOP_MARGIN = 10.0  # past shutdown_grace, before the stragglers are killed
FORWARDED = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)


def worker_index(environ: Mapping[str, str]) -> int | None:
    """This process's worker number, when it is one of a supervisor's workers."""
    raw = environ.get(WORKER_ENV, "").strip()
    return int(raw) if raw.isdigit() else None


def can_share_ports() -> bool:
    return hasattr(socket, "SO_REUSEPORT") and sys.platform != "win32"


def check(config: Config) -> None:
    """Raise ConfigError when ``workers`` cannot work with this configuration."""
    if not can_share_ports():
        raise ConfigError(
            f"workers = {config.workers} needs SO_REUSEPORT, which this OS lacks: run one "
            "worker (workers = 1) per port behind a load balancer (docs/scale-out.md)"
        )
    from .app import listener_specs

    if any(spec.port == 0 for spec in listener_specs(config)):
        raise ConfigError(
            "workers above 1 need fixed ports: a port of 0 would give each worker another one"
        )


class Supervisor:
    """Starts, restarts and stops the workers."""

    def __init__(self, config: Config, serve_flags: list[str]) -> None:
        # Imported here: every serve imports this module for worker_index,
        # and agents.background brings urllib.request (http.client, email),
        # ~5 ms of a start that only a supervisor needs.
        from .agents.background import gateway_command, gateway_env

        self.config = config
        self.command = gateway_command(serve_flags)
        self.env = gateway_env(os.environ)
        self.env[LAUNCHER_PID_ENV] = str(os.getpid())
        self.processes: dict[int, trio.Process] = {}
        self.stopping = False

    async def run(self) -> None:
        with trio.open_signal_receiver(*FORWARDED) as signals:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._keep, 0)
                if await self._first_is_healthy():
                    for index in range(1, self.config.workers):
                        nursery.start_soon(self._keep, index)
                    log.info("%d workers serving", self.config.workers)
                async for signum in signals:
                    self._forward(signum)
                    if signum != signal.SIGHUP and not self.stopping:
                        self.stopping = True
                        nursery.start_soon(self._stop, nursery.cancel_scope)

    async def _keep(self, index: int) -> None:
        """Run worker ``index`` until the supervisor stops, restarting it."""
        failures = 0
        while not self.stopping:
            started = trio.current_time()
            try:
                process = await trio.lowlevel.open_process(
                    self.command, env={**self.env, WORKER_ENV: str(index)}
                )
            except OSError as error:
                # Out of processes or file descriptors for a moment: the
                # supervisor must outlive it (its death would take every
                # worker along), so it is a failed start like any other.
                what = f"could not be started ({error})"
            else:
                self.processes[index] = process
                log.info("worker %d started (pid %d)", index, process.pid)
                code = await process.wait()
                if self.stopping:
                    return
                what = f"(pid {process.pid}) exited with {_exit_text(code)}"
            failures = failures + 1 if trio.current_time() - started < YOUNG else 0
            pause = min(RESTART_PAUSE[0] * 2 ** max(failures - 1, 0), RESTART_PAUSE[1])
            log.error("worker %d %s; starting it again in %.1fs", index, what, pause)
            await trio.sleep(pause)

    async def _first_is_healthy(self) -> bool:
        from .agents.background import LaunchError, endpoint_of, probe

        endpoint = endpoint_of(self.config)
        deadline = trio.current_time() + FIRST_HEALTHY_WAIT
        while trio.current_time() < deadline and not self.stopping:
            try:
                if await trio.to_thread.run_sync(probe, endpoint) is not None:
                    return True
            except LaunchError as error:  # a stranger answers on the port
                log.error("worker 0's port: %s", error)
                return False
            await trio.sleep(0.1)
        if not self.stopping:
            log.error("worker 0 did not answer /health in %.0fs", FIRST_HEALTHY_WAIT)
        return False

    def _forward(self, signum: int) -> None:
        for process in self.processes.values():
            if process.returncode is None:
                process.send_signal(signum)

    async def _stop(self, scope: trio.CancelScope) -> None:
        """Wait for the workers to finish, kill the ones that do not in time."""
        with trio.move_on_after(self.config.shutdown_grace + STOP_MARGIN):
            for process in list(self.processes.values()):
                await process.wait()
        for index, process in self.processes.items():
            if process.returncode is None:
                log.error("worker %d (pid %d) did not stop in time: killed", index, process.pid)
                process.kill()
                await process.wait()
        scope.cancel()


def _exit_text(code: int) -> str:
    if code < 0:
        try:
            return signal.Signals(-code).name
        except ValueError:
            return f"signal {-code}"
    return f"status {code}"


def run_workers(config: Config, serve_flags: list[str]) -> int:
    """Blocking entry point of the supervisor; the process exit code."""
    from .app import listener_specs

    ports = ", ".join(f"{spec.host}:{spec.port}" for spec in listener_specs(config))
    log.info("starting %d workers on %s", config.workers, ports)
    trio.run(Supervisor(config, serve_flags).run)
    return 0
