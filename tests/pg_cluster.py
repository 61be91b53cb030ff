"""A throwaway PostgreSQL server for the ledger tests and benchmark.

``TEST_POSTGRES_URL`` (an admin URL of an existing server) wins: a fresh
database is created there and dropped afterwards. Otherwise a private
cluster is initialised in a temporary directory, listening on 127.0.0.1 on
a free port with trust authentication, and removed afterwards. PostgreSQL
refuses to run as root, so as root the server programs run as the
``postgres`` user (``runuser``) in a directory that user owns.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import psycopg

SERVER_USER = "postgres"
INSTALL_HINT = (
    "PostgreSQL server programs (initdb, pg_ctl) were not found on PATH or in "
    "/usr/lib/postgresql/*/bin: install postgresql (e.g. `apt-get install postgresql`) "
    "or set TEST_POSTGRES_URL to an existing server's admin URL"
)
INITDB = ("-E", "UTF8", "--no-locale", "--no-sync")
# Durability is irrelevant for a throwaway test server and costs seconds.
FAST_SETTINGS = ("fsync=off", "synchronous_commit=off", "full_page_writes=off")


def find_bin_dir() -> Path | None:
    on_path = shutil.which("pg_ctl")
    candidates = [Path(on_path).resolve().parent] if on_path else []
    versioned = Path("/usr/lib/postgresql").glob("*/bin")
    candidates += sorted(versioned, key=lambda p: int(re.sub(r"\D", "", p.parent.name) or 0))[::-1]
    for directory in candidates:
        if (directory / "initdb").exists() and (directory / "pg_ctl").exists():
            return directory
    return None


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


def _run(command: list[str], *, as_server_user: bool) -> None:
    prefix = ["runuser", "-u", SERVER_USER, "--"] if as_server_user else []
    result = subprocess.run(prefix + command, capture_output=True, text=True, timeout=120)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {result.stdout}{result.stderr}")


@contextlib.contextmanager
def cluster(*, fast: bool = True) -> Iterator[str]:
    """Start a private server; yields the admin URL of its ``postgres`` database."""
    bin_dir = find_bin_dir()
    if bin_dir is None:
        raise FileNotFoundError(INSTALL_HINT)
    as_root = hasattr(os, "geteuid") and os.geteuid() == 0
    root = Path(tempfile.mkdtemp(prefix="tokligence-pg-"))
    if as_root:
        shutil.chown(root, SERVER_USER, SERVER_USER)
    data = root / "data"
    port = free_port()
    options = [f"-c listen_addresses=127.0.0.1 -p {port} -k {root}"]
    if fast:
        options += [f"-c {setting}" for setting in FAST_SETTINGS]
    try:
        _run(
            [str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", SERVER_USER, *INITDB],
            as_server_user=as_root,
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
            as_server_user=as_root,
        )
        try:
            yield f"postgresql://{SERVER_USER}@127.0.0.1:{port}/postgres"
        finally:
            _run(
                [str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "-w", "stop"],
                as_server_user=as_root,
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
