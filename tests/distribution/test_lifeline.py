"""tokligence.lifeline on its own: whom a process watches, how it tells a
dead one, and which unpack folders it may remove."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import trio

from tests.gateway_thread import isolated_config
from tokligence.lifeline import (
    LAUNCHER_PID_ENV,
    OWNER_MARK,
    Lifeline,
    foreign_env,
    gone,
    lifeline_from,
    pid_alive,
    release_unpack_dir,
    tidy_unpack_dirs,
    watch,
)


def dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


@pytest.mark.parametrize(
    ("env", "frozen", "meipass", "expected"),
    [
        ({}, False, None, Lifeline()),
        ({LAUNCHER_PID_ENV: "4242"}, False, None, Lifeline(launcher_pid=4242)),
        ({LAUNCHER_PID_ENV: " 4242 "}, False, None, Lifeline(launcher_pid=4242)),
        ({LAUNCHER_PID_ENV: "0"}, False, None, Lifeline()),
        ({LAUNCHER_PID_ENV: "-1"}, False, None, Lifeline()),
        ({LAUNCHER_PID_ENV: "abc"}, False, None, Lifeline()),
        # A onefile binary: the parent it started with is its bootloader.
        (
            {},
            True,
            "/tmp/_MEI123abc",
            Lifeline(bootloader_pid=77, unpack_dir=Path("/tmp/_MEI123abc")),
        ),
        # A onedir build runs from its own folder: nothing to watch or remove.
        ({}, True, "/opt/tokligence/_internal", Lifeline()),
        # _MEIPASS without sys.frozen is not a frozen binary.
        ({}, False, "/tmp/_MEI123abc", Lifeline()),
    ],
)
def test_lifeline_from(
    env: dict[str, str], frozen: bool, meipass: str | None, expected: Lifeline
) -> None:
    assert lifeline_from(env, frozen=frozen, meipass=meipass, ppid=77) == expected


def test_pid_alive() -> None:
    assert pid_alive(os.getpid())
    assert not pid_alive(dead_pid())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_an_unreaped_zombie_counts_as_dead() -> None:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    deadline = time.monotonic() + 30
    try:
        while Path(f"/proc/{process.pid}/stat").read_text().rpartition(")")[2].split()[0] != "Z":
            assert time.monotonic() < deadline, "the child never exited"
            os.sched_yield()
        assert not pid_alive(process.pid)
    finally:
        process.wait()


def test_gone_names_the_dead_process() -> None:
    assert gone(Lifeline()) is None
    assert gone(Lifeline(launcher_pid=os.getpid(), bootloader_pid=os.getppid())) is None
    dead = dead_pid()
    assert gone(Lifeline(launcher_pid=dead)) == f"launcher (pid {dead})"
    # Re-parented: the bootloader we started with is no longer our parent.
    assert gone(Lifeline(bootloader_pid=os.getppid() + 1)) == (
        f"parent process (pid {os.getppid() + 1})"
    )


async def test_watch_shuts_down_once_when_the_launcher_dies(autojump_clock: trio.abc.Clock) -> None:
    calls: list[float] = []
    await watch(Lifeline(launcher_pid=dead_pid()), lambda: calls.append(trio.current_time()))
    assert len(calls) == 1


async def test_watch_leaves_a_live_launcher_alone(autojump_clock: trio.abc.Clock) -> None:
    calls: list[float] = []
    with trio.move_on_after(3600):
        await watch(Lifeline(launcher_pid=os.getpid()), lambda: calls.append(0))
    assert calls == []


async def test_watch_returns_at_once_when_there_is_nothing_to_watch() -> None:
    calls: list[float] = []
    with trio.fail_after(1):
        await watch(Lifeline(), lambda: calls.append(0))
    assert calls == []


def test_tidy_marks_its_folder_and_removes_only_abandoned_marked_ones(tmp_path: Path) -> None:
    own = tmp_path / "_MEIown"
    dead, live, foreign, garbled = (tmp_path / f"_MEI{n}" for n in ("dead", "live", "x", "bad"))
    for folder in (own, dead, live, foreign, garbled):
        folder.mkdir()
    (dead / OWNER_MARK).write_text(f"{dead_pid()} {dead_pid()}\n")
    (live / OWNER_MARK).write_text(f"{dead_pid()} {os.getpid()}\n")
    (garbled / OWNER_MARK).write_text("not pids\n")
    (tmp_path / "other").mkdir()
    tidy_unpack_dirs(Lifeline(bootloader_pid=os.getppid(), unpack_dir=own))
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "_MEIbad",
        "_MEIlive",
        "_MEIown",
        "_MEIx",
        "other",
    ]
    assert (own / OWNER_MARK).read_text() == f"{os.getppid()} {os.getpid()}\n"


def test_tidy_does_nothing_outside_a_onefile_binary(tmp_path: Path) -> None:
    dead = tmp_path / "_MEIdead"
    dead.mkdir()
    (dead / OWNER_MARK).write_text(f"{dead_pid()}\n")
    tidy_unpack_dirs(Lifeline(launcher_pid=os.getpid()))
    assert dead.exists()


def test_release_removes_the_folder_only_when_the_bootloader_is_gone(tmp_path: Path) -> None:
    folder = tmp_path / "_MEIown"
    folder.mkdir()
    release_unpack_dir(Lifeline(bootloader_pid=os.getppid(), unpack_dir=folder))
    assert folder.exists()  # the bootloader lives and will clean up itself
    release_unpack_dir(Lifeline(bootloader_pid=os.getppid() + 1, unpack_dir=folder))
    assert not folder.exists()


@pytest.mark.parametrize(
    ("environ", "frozen", "expected"),
    [
        ({"PATH": "/bin", "LD_LIBRARY_PATH": "/opt/lib"}, False, None),
        ({"PATH": "/bin", "LD_LIBRARY_PATH": "/tmp/_MEI1"}, True, {"PATH": "/bin"}),
        (
            {"LD_LIBRARY_PATH": "/tmp/_MEI1", "LD_LIBRARY_PATH_ORIG": "/opt/lib"},
            True,
            {"LD_LIBRARY_PATH": "/opt/lib"},
        ),
        (
            {
                "PATH": "/bin",
                "_PYI_APPLICATION_HOME_DIR": "/tmp/_MEI1",
                "_PYI_PARENT_PROCESS_LEVEL": "0",
            },
            True,
            {"PATH": "/bin"},
        ),
    ],
)
def test_foreign_env_drops_what_the_bootloader_set(
    environ: dict[str, str], frozen: bool, expected: dict[str, str] | None
) -> None:
    assert foreign_env(environ, frozen=frozen) == (environ if expected is None else expected)


def test_launcher_and_installer_variables_do_not_fail_start_up(tmp_path: Path) -> None:
    # Left exported in a shell, they must not count as unknown settings.
    env = {
        LAUNCHER_PID_ENV: "1",
        "TOKLIGENCE_DOWNLOAD_BASE_URL": "http://127.0.0.1:9",
        "TOKLIGENCE_INSTALL_DIR": str(tmp_path / "bin"),
        "TOKLIGENCE_VERSION": "0.1.0",
    }
    isolated_config(tmp_path, env)
