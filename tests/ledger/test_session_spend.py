"""The status line's two sums (``session_spend``, ``period_spend``) on both
back-ends, and the session's sum by its index."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import peewee

from tokligence.ledger import db as dbmod
from tokligence.ledger.models import ENTRY_COLUMNS, entry_values
from tokligence.ledger.queries import (
    Spend,
    period_spend,
    session_conditions,
    session_spend,
    spend_query,
)

from .rows import make_row

DAY = datetime(2026, 3, 1, tzinfo=timezone.utc)
SESSION = "0b7e1c2a-1d2e-4f00-8000-00000000000a"
OTHER = "0b7e1c2a-1d2e-4f00-8000-00000000000b"


def insert(db: peewee.Database, *rows: tuple[dict[str, Any], Decimal | None]) -> None:
    values = [
        entry_values(make_row(request_id=f"r{i}", **fields), cost)
        for i, (fields, cost) in enumerate(rows)
    ]
    with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
        dbmod.insert_rows(db, "ledger_entries", ENTRY_COLUMNS, values)


def fill(db: peewee.Database) -> None:
    insert(
        db,
        # The session: two priced answers, a refused request, an unpriced answer.
        (
            dict(
                session_id=SESSION,
                user_id=7,
                created_at=DAY + timedelta(hours=1),
                input_tokens=100,
                output_tokens=20,
                cache_read_tokens=1000,
                cache_write_tokens=50,
            ),
            Decimal("0.25"),
        ),
        (
            dict(
                session_id=SESSION,
                user_id=7,
                created_at=DAY + timedelta(hours=2),
                input_tokens=10,
                output_tokens=5,
            ),
            Decimal("0.5"),
        ),
        (dict(session_id=SESSION, user_id=7, created_at=DAY, status=400), None),
        (
            dict(
                session_id=SESSION,
                user_id=7,
                created_at=DAY - timedelta(minutes=1),  # yesterday
                input_tokens=3,
                output_tokens=4,
            ),
            None,
        ),
        # Another session of another user, and a request without a session.
        (
            dict(
                session_id=OTHER,
                user_id=8,
                created_at=DAY + timedelta(hours=3),
                input_tokens=1,
                output_tokens=1,
            ),
            Decimal("2"),
        ),
        (dict(created_at=DAY + timedelta(hours=23, minutes=59), output_tokens=9), Decimal("4")),
        (dict(created_at=DAY + timedelta(days=1), output_tokens=9), Decimal("8")),  # tomorrow
    )


def test_a_session_sums_its_own_requests_whatever_the_day(ledger_db: peewee.Database) -> None:
    fill(ledger_db)
    assert session_spend(ledger_db, SESSION) == Spend(
        requests=4,
        input_tokens=113,
        output_tokens=29,
        cache_read_tokens=1000,
        cache_write_tokens=50,
        unpriced_requests=1,  # the refused request has no tokens: nothing to price
        cost_usd=Decimal("0.75").quantize(Decimal("1E-12")),
        user_id=7,
    )
    unknown = session_spend(ledger_db, "no-such-session")
    assert (unknown.requests, unknown.cost_usd, unknown.user_id) == (0, 0, None)


def test_a_day_sums_everyone_or_one_user(ledger_db: peewee.Database) -> None:
    fill(ledger_db)
    since, until = DAY, DAY + timedelta(days=1)
    everyone = period_spend(ledger_db, since=since, until=until)
    assert (everyone.requests, everyone.cost_usd, everyone.unpriced_requests) == (5, 6.75, 0)
    user = period_spend(ledger_db, since=since, until=until, user_id=7)
    assert (user.requests, user.cost_usd, user.output_tokens) == (3, Decimal("0.75"), 25)


def test_the_session_sum_reads_the_session_index(tmp_path: Path) -> None:
    from tokligence.ledger.migrations import migrate

    db = dbmod.open_database(dbmod.sqlite_url(tmp_path / "ledger.db"))
    try:
        migrate(db, "ledger")
        sql, params = spend_query(session_conditions(SESSION)).sql()
        with dbmod.connection(db):
            plan = dbmod.execute(db, "EXPLAIN QUERY PLAN " + sql, params)
    finally:
        dbmod.close_database(db)
    details = " ".join(str(row[-1]) for row in plan)
    assert "USING INDEX ledger_entries_session_id_created_at" in details, details
