"""Exit when whoever launched the gateway is gone; leave no unpacked folder.

Theory of operation. The single-file binary (PyInstaller onefile) is two
processes: a small bootloader that unpacks the Python runtime into a temp
folder ``_MEI*`` and a Python child that runs the gateway from there. The npm
package puts a Node launcher in front of the onedir build, which is one
process run from its own folder (``sys._MEIPASS`` is its ``_internal``; no
bootloader parent, nothing unpacked). Signals flow down these chains, but
SIGKILL (or a crash) of a process in front cannot be forwarded: the gateway
would keep serving as an orphan and a onefile folder would stay in the temp
directory forever. So the gateway watches what is in front of it:

* the launcher, whose pid the launcher passes in ``TOKLIGENCE_LAUNCHER_PID``;
* in the onefile binary only, the bootloader, which is the parent the
  gateway started with: a different ``getppid()`` means it died and we were
  re-parented. A gateway started from a shell by ``pip``'s script, or a
  onedir build, does not watch its parent: ``nohup tokligence &`` must
  outlive the shell.

A small trio task polls them (a signal-free check costs microseconds; a
quarter second is quick enough for a process that is being torn down) and,
when one is gone, asks the server for the same graceful shutdown as SIGTERM.
A launcher's death then lets the bootloader clean its folder as usual; a
bootloader's death leaves the folder to us, so :func:`release_unpack_dir`
removes it after the gateway has stopped. Folders left by processes killed
together (``kill -9`` of the whole group) are swept at the next start: each
gateway marks its folder with the pids that own it, and
:func:`tidy_unpack_dirs` removes marked folders whose owners are all dead;
folders of other PyInstaller programs carry no mark and are never touched.
"""

from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
from collections.abc import AsyncIterator, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import trio

LAUNCHER_PID_ENV = "TOKLIGENCE_LAUNCHER_PID"
# How often the watched processes are checked: a dead launcher is noticed
# within this time, and a live gateway spends a few microseconds per check.
POLL_INTERVAL = 0.25
# A terminal's Ctrl-C reaches the whole process group, and the onefile
# bootloader (or a launcher) forwards the same signal again a moment later:
# repeats this close together are one signal, while a person's deliberate
# second Ctrl-C (which skips the shutdown grace period) comes later.
ECHO_WINDOW = 0.3
# The mark a gateway leaves in its own unpack folder: "<bootloader pid> <own pid>".
OWNER_MARK = ".tokligence-owners"
UNPACK_PREFIX = "_MEI"

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Lifeline:
    """What this process must not outlive."""

    launcher_pid: int | None = None
    """The Node launcher (or any wrapper that sets ``TOKLIGENCE_LAUNCHER_PID``)."""
    bootloader_pid: int | None = None
    """The onefile bootloader: the parent this process started with, if frozen."""
    unpack_dir: Path | None = None
    """The onefile bootloader's temp folder this process runs from, if frozen."""

    @property
    def watching(self) -> bool:
        return self.launcher_pid is not None or self.bootloader_pid is not None


def lifeline_from(
    environ: Mapping[str, str], *, frozen: bool, meipass: str | None, ppid: int
) -> Lifeline:
    """The lifeline of a process, from its environment and how it was started."""
    launcher: int | None = None
    raw = environ.get(LAUNCHER_PID_ENV, "").strip()
    if raw.isdigit() and int(raw) > 0:
        launcher = int(raw)
    unpack = Path(meipass) if frozen and meipass else None
    if unpack is None or not unpack.name.startswith(UNPACK_PREFIX):
        # Not a onefile binary (pip install, or a onedir build): no bootloader
        # in front, and the folder is not ours to remove.
        return Lifeline(launcher_pid=launcher)
    return Lifeline(launcher_pid=launcher, bootloader_pid=ppid, unpack_dir=unpack)


def current() -> Lifeline:
    """This process's lifeline."""
    meipass = getattr(sys, "_MEIPASS", None)
    return lifeline_from(
        os.environ,
        frozen=bool(getattr(sys, "frozen", False)),
        meipass=meipass if isinstance(meipass, str) else None,
        ppid=os.getppid(),
    )


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists and has not exited (a zombie has)."""
    if sys.platform == "win32":
        return _windows_pid_alive(pid)
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # exists, owned by someone else
    try:
        # Linux: a killed launcher that nobody has reaped yet is a zombie.
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return True
    return stat.rpartition(")")[2].split()[:1] != ["Z"]


def _windows_pid_alive(pid: int) -> bool:
    if sys.platform != "win32":
        raise AssertionError("Windows only")
    import ctypes

    synchronize, query_limited, wait_timeout, access_denied = 0x00100000, 0x1000, 0x102, 5
    kernel32 = ctypes.windll.kernel32
    kernel32.OpenProcess.restype = ctypes.c_void_p  # a HANDLE, not a C int
    handle = kernel32.OpenProcess(synchronize | query_limited, False, pid)
    if not handle:
        return bool(kernel32.GetLastError() == access_denied)
    try:
        return bool(kernel32.WaitForSingleObject(ctypes.c_void_p(handle), 0) == wait_timeout)
    finally:
        kernel32.CloseHandle(ctypes.c_void_p(handle))


def gone(line: Lifeline) -> str | None:
    """Which watched process is gone, in words, or None while all live."""
    if line.launcher_pid is not None and not pid_alive(line.launcher_pid):
        return f"launcher (pid {line.launcher_pid})"
    if line.bootloader_pid is not None and not _bootloader_alive(line.bootloader_pid):
        return f"parent process (pid {line.bootloader_pid})"
    return None


def _bootloader_alive(pid: int) -> bool:
    if sys.platform == "win32":
        return pid_alive(pid)
    # Re-parenting is the sure sign on POSIX: it cannot be fooled by pid reuse.
    return os.getppid() == pid


async def stop_on_signals(signals: AsyncIterator[int], shutdown: Callable[[], None]) -> None:
    """Call ``shutdown`` for each SIGINT or SIGTERM of ``signals`` (a
    ``trio.open_signal_receiver``), an echo within :data:`ECHO_WINDOW`
    counting once; the server's own shutdown makes a second one skip the
    grace period."""
    last = -ECHO_WINDOW
    async for signum in signals:
        if trio.current_time() - last < ECHO_WINDOW:
            continue  # one Ctrl-C, also forwarded by a launcher or bootloader
        last = trio.current_time()
        log.info("received %s: shutting down", signal.Signals(signum).name)
        shutdown()


async def watch(
    line: Lifeline, on_gone: Callable[[], None], *, interval: float = POLL_INTERVAL
) -> None:
    """Call ``on_gone`` once when a watched process dies; return at once if
    nothing is watched."""
    if not line.watching:
        return
    while True:
        await trio.sleep(interval)
        who = gone(line)
        if who is not None:
            log.info("%s is gone: shutting down", who)
            on_gone()
            return


def tidy_unpack_dirs(line: Lifeline) -> None:
    """Mark this process's unpack folder and remove marked folders whose
    owners are all dead. Never fails start-up: a folder that cannot be
    removed or marked is left as it is."""
    if line.unpack_dir is None or line.bootloader_pid is None:
        return
    try:
        (line.unpack_dir / OWNER_MARK).write_text(f"{line.bootloader_pid} {os.getpid()}\n")
        siblings = list(line.unpack_dir.parent.glob(f"{UNPACK_PREFIX}*"))
    except OSError:
        return
    for folder in siblings:
        if folder != line.unpack_dir and _abandoned(folder):
            log.info("removing %s left by a gateway that was killed", folder)
            shutil.rmtree(folder, ignore_errors=True)


def _abandoned(folder: Path) -> bool:
    try:
        owners = [int(word) for word in (folder / OWNER_MARK).read_text().split()]
    except (OSError, ValueError):
        return False  # not ours, or being written: leave it
    return bool(owners) and not any(pid_alive(pid) for pid in owners)


def release_unpack_dir(line: Lifeline) -> None:
    """After the gateway has stopped: remove its unpack folder if the
    bootloader, whose job that is, is gone."""
    if line.unpack_dir is None or line.bootloader_pid is None:
        return
    if not _bootloader_alive(line.bootloader_pid):
        shutil.rmtree(line.unpack_dir, ignore_errors=True)


def foreign_env(environ: Mapping[str, str], *, frozen: bool) -> dict[str, str]:
    """The environment for another program started by the gateway (a coding
    agent, a hook script): in a frozen build (onefile or onedir), without
    what the bootloader set for the Python it runs. Its ``LD_LIBRARY_PATH``
    points into the unpack folder (onedir: ``_internal``), where an agent's
    Node would load our OpenSSL; its
    ``_PYI_*`` markers would make a copy of this binary started by that
    program think it is a part of this one."""
    env = {k: v for k, v in environ.items() if not k.startswith("_PYI_")}
    if not frozen:
        return env
    original = env.pop("LD_LIBRARY_PATH_ORIG", None)
    if original is None:
        env.pop("LD_LIBRARY_PATH", None)
    else:
        env["LD_LIBRARY_PATH"] = original
    return env
