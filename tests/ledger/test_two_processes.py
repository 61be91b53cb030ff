"""Two gateway processes writing one database (a SQLite file or PostgreSQL)
both migrate it at start and lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import peewee

from tokligence.ledger.queries import usage_summary

from .rows import request_ids

ROOT = Path(__file__).resolve().parents[2]
ROWS_EACH = 500


def test_two_writer_processes_on_one_database(database_url: str, database: peewee.Database) -> None:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.ledger.writer_process",
                database_url,
                tag,
                str(ROWS_EACH),
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for tag in ("one", "two")
    ]
    outputs = [process.communicate(timeout=120)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0], outputs

    expected = {f"{tag}-{i}" for tag in ("one", "two") for i in range(ROWS_EACH)}
    ids = request_ids(database)
    assert len(ids) == 2 * ROWS_EACH and set(ids) == expected
    (totals,) = usage_summary(database, group_by="provider")
    assert totals.requests == 2 * ROWS_EACH
    assert totals.input_tokens == 2 * sum(range(ROWS_EACH))
    assert totals.output_tokens == 2 * ROWS_EACH
