"""One seller-like process for the credit test: THREADS threads reserve
AMOUNT each for one account at once, then post it.

Usage: python -m tests.trade.reserve_process URL ACCOUNT_ID TAG THREADS AMOUNT

It opens the database, prints ``ready``, and starts only when a line
arrives on standard input, so the parent starts every process's threads
together; then it prints a JSON object of what was reserved and refused.
"""

from __future__ import annotations

import json
import sys
import threading

from tokligence.ledger import db as dbmod
from tokligence.trade.store import CreditLimitExceeded, post, reserve


def main(url: str, account_id: int, tag: str, threads: int, amount: int) -> None:
    db = dbmod.open_database(url)
    barrier = threading.Barrier(threads)
    outcome = {"reserved": 0, "refused": 0, "errors": []}
    lock = threading.Lock()

    def request(number: int) -> None:
        barrier.wait()
        try:
            held = reserve(
                db, account_id=account_id, request_id=f"{tag}-{number}", amount=amount, now=1
            )
            post(db, held.id, actual=amount, now=2)
            key = "reserved"
        except CreditLimitExceeded:
            key = "refused"
        except Exception as error:  # reported to the parent
            with lock:
                outcome["errors"].append(repr(error))  # type: ignore[attr-defined]
            return
        with lock:
            outcome[key] += 1  # type: ignore[operator]

    try:
        print("ready", flush=True)
        sys.stdin.readline()
        workers = [threading.Thread(target=request, args=(n,)) for n in range(threads)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        print(json.dumps(outcome), flush=True)
    finally:
        dbmod.close_database(db)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5]))
