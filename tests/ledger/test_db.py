"""Choosing a database by URL, describing it safely, and SQLite's settings."""

from __future__ import annotations

from pathlib import Path

import peewee
import pytest

from tokligence.ledger import db as dbmod


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("mysql://u:p@host/db", "unsupported database URL scheme 'mysql'"),
        ("sqlite3:///x.db", "use sqlite://, postgresql://, postgres://"),
        ("", "unsupported database URL scheme ''"),
        ("sqlite://", "needs a file path"),
        ("sqlite://host/x.db", "has no host"),
        ("sqlite:///:memory:", "in-memory SQLite is not supported"),
        ("postgresql://u@host:5432", "needs a database name"),
        ("postgresql://u@host:5432/", "needs a database name"),
    ],
)
def test_bad_urls_are_refused_with_the_reason(url: str, fragment: str) -> None:
    with pytest.raises(ValueError, match=fragment.replace("?", r"\?").replace(".", r"\.")):
        dbmod.open_database(url)


@pytest.mark.parametrize(
    ("url", "described"),
    [
        (
            "postgresql://gw:s3cret@db.example:5432/ledger",
            "postgresql://gw:***@db.example:5432/ledger",
        ),
        (
            "postgres://gw:p%40ss@10.0.0.1/ledger?sslmode=require",
            "postgres://gw:***@10.0.0.1/ledger?sslmode=require",
        ),
        ("postgresql://gw:pw@[::1]:5433/l", "postgresql://gw:***@[::1]:5433/l"),
        ("postgresql://gw@db/ledger", "postgresql://gw@db/ledger"),
        ("sqlite:////var/lib/t/ledger.db", "sqlite:////var/lib/t/ledger.db"),
    ],
)
def test_describe_url_masks_only_the_password(url: str, described: str) -> None:
    assert dbmod.describe_url(url) == described
    assert "s3cret" not in dbmod.describe_url(url)


@pytest.mark.parametrize(
    ("path", "url"),
    [
        (Path("/srv/data/ledger.db"), "sqlite:////srv/data/ledger.db"),
        (Path("data/ledger.db"), "sqlite:///data/ledger.db"),
        (Path("/srv/my data/l%1.db"), "sqlite:////srv/my%20data/l%251.db"),
    ],
)
def test_sqlite_urls_round_trip_paths(path: Path, url: str) -> None:
    assert dbmod.sqlite_url(path) == url
    assert dbmod._sqlite_path(dbmod.urlsplit(url)) == path


def test_database_urls_prefer_the_shared_url() -> None:
    shared = "postgresql://gw:pw@db/tokligence"
    assert dbmod.database_urls(
        database_url=shared, ledger_file=Path("/a/l.db"), identity_file=Path("/a/i.db")
    ) == (shared, shared)


def test_database_urls_default_to_the_original_two_files() -> None:
    assert dbmod.database_urls(
        database_url="", ledger_file=Path("/a/ledger.db"), identity_file=Path("/b/identity.db")
    ) == ("sqlite:////a/ledger.db", "sqlite:////b/identity.db")


def test_database_urls_refuse_a_bad_scheme() -> None:
    with pytest.raises(ValueError, match="unsupported database URL scheme 'mongodb'"):
        dbmod.database_urls(
            database_url="mongodb://x/y", ledger_file=Path("l"), identity_file=Path("i")
        )


def test_both_postgres_spellings_open_postgresql() -> None:
    for url in ("postgresql://u@h/d", "postgres://u@h/d"):
        db = dbmod.open_database(url)
        assert isinstance(db, peewee.PostgresqlDatabase)
        assert dbmod.backend_of(db) is dbmod.POSTGRESQL
        assert db.database == "postgresql://u@h/d"


def test_sqlite_creates_parent_directories_and_sets_its_pragmas(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "er" / "ledger.db"
    db = dbmod.open_database(dbmod.sqlite_url(path))
    try:
        assert dbmod.backend_of(db) is dbmod.SQLITE
        with dbmod.connection(db):
            pragmas = {
                name: dbmod.execute(db, f"PRAGMA {name}")[0][0]
                for name in ("journal_mode", "busy_timeout", "synchronous", "foreign_keys")
            }
        assert path.exists()
        # synchronous: 1 is NORMAL.
        assert pragmas == {
            "journal_mode": "wal",
            "busy_timeout": 5000,
            "synchronous": 1,
            "foreign_keys": 1,
        }
    finally:
        dbmod.close_database(db)


def test_check_reports_a_healthy_database(database: peewee.Database) -> None:
    assert dbmod.check(database) is None


def test_check_reports_an_unreachable_server() -> None:
    db = dbmod.open_database("postgresql://nobody@127.0.0.1:1/none?connect_timeout=2")
    try:
        problem = dbmod.check(db)
    finally:
        dbmod.close_database(db)
    assert problem is not None and problem.startswith("OperationalError")


def test_advisory_keys_are_stable_signed_64_bit() -> None:
    key = dbmod.advisory_key("migrate:ledger")
    assert key == dbmod.advisory_key("migrate:ledger") != dbmod.advisory_key("migrate:identity")
    assert -(2**63) <= key < 2**63
