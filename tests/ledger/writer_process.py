"""One gateway-like process for the two-writer test: migrate the database,
then write ROWS rows through a LedgerWriter, many submitters at once.

Usage: python -m tests.ledger.writer_process URL TAG ROWS
"""

from __future__ import annotations

import sys
from datetime import timedelta

import trio

from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import migrate
from tokligence.ledger.writer import LedgerWriter

from .rows import T0, make_row

# Small batches so that the two processes' commits interleave many times.
BATCH_SIZE = 16


async def write(url: str, tag: str, count: int) -> None:
    db = dbmod.open_database(url)
    try:
        await trio.to_thread.run_sync(migrate, db, "ledger")
        writer = LedgerWriter(db, batch_size=BATCH_SIZE, flush_interval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            async with trio.open_nursery() as requests:
                for i in range(count):
                    row = make_row(
                        request_id=f"{tag}-{i}",
                        created_at=T0 + timedelta(microseconds=i),
                        input_tokens=i,
                        output_tokens=1,
                    )
                    requests.start_soon(writer.submit, row)
            await writer.close()
        if not writer.stats.rows_written == count:
            raise SystemExit(f"{tag}: wrote {writer.stats.rows_written} of {count}")
    finally:
        dbmod.close_database(db)


if __name__ == "__main__":
    trio.run(write, sys.argv[1], sys.argv[2], int(sys.argv[3]))
