"""Totals over a period read that period's range of the created_at index,
whatever the grouping: never a whole (key, created_at) index, which SQLite
without statistics prefers because it yields rows in GROUP BY order."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import migrate
from tokligence.ledger.queries import GROUP_BY, summary_query

DAY = datetime(2026, 3, 30, tzinfo=timezone.utc)


@pytest.mark.parametrize("group_by", GROUP_BY)
@pytest.mark.parametrize("until", [None, DAY + timedelta(days=1)])
def test_a_period_is_a_range_of_the_created_at_index(
    tmp_path: Path, group_by: str, until: datetime | None
) -> None:
    db = dbmod.open_database(dbmod.sqlite_url(tmp_path / "ledger.db"))
    try:
        migrate(db, "ledger")
        query = summary_query(dbmod.SQLITE, group_by=group_by, since=DAY, until=until)  # type: ignore[arg-type]
        sql, params = db.get_sql_context().sql(query).query()
        with dbmod.connection(db):
            plan = [str(row[-1]) for row in dbmod.execute(db, "EXPLAIN QUERY PLAN " + sql, params)]
    finally:
        dbmod.close_database(db)
    assert any("INDEX ledgerentry_created_at (created_at>" in step for step in plan), plan
