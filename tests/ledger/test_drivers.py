"""Entry points keep PostgreSQL drivers out of SQLite-only processes."""

from __future__ import annotations

import subprocess
import sys

import pytest

PROBE = """
import sys
from tokligence.ledger.drivers import import_peewee_for
import_peewee_for({url!r})
import peewee
print("peewee" in sys.modules, "psycopg" in sys.modules, peewee.psycopg is not None)
import psycopg  # still importable afterwards: nothing stays blocked
print("ok")
"""


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("", "True False False"),
        ("sqlite:///ledger.db", "True False False"),
        ("postgresql://u@localhost/db", "True True True"),
    ],
)
def test_postgres_drivers_load_only_for_postgres(url: str, expected: str) -> None:
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(url=url)], capture_output=True, text=True, check=True
    )
    assert result.stdout.split("\n")[:2] == [expected, "ok"]
