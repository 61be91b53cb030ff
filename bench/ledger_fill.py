"""Fill a SQLite ledger fast with plausible requests, for the query benchmarks.

Rows are spread evenly over ``days`` days up to ``now``, in time order (as
the writer appends them): 40 models, 6 providers, 200 users, 400 keys, 3%
errors, random token counts and costs. Values come from small precomputed
pools (so making a row costs a few tuple lookups, not a random draw per
column) and go in with the driver's ``executemany``, ``batch`` rows per
transaction, with ``synchronous=OFF`` for the fill only: ten million rows
take a few minutes, mostly the database maintaining its indexes.
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from typing import Any

from tokligence.ledger.models import ENTRY_COLUMNS

MODELS = tuple(f"model-{i:02}" for i in range(40))
PROVIDERS = ("openai", "anthropic", "deepseek", "groq", "mistral", "loopback")
USERS = 200
KEYS = 400
ERROR_SHARE = 0.03
_POOL = 1 << 16  # values drawn once, picked per row by a multiplicative hash
_STEP = 40_503  # odd: i * _STEP walks the whole pool


def _pools(seed: int) -> dict[str, list[Any]]:
    rng = random.Random(seed)
    return {
        "cost_usd": [round(rng.random() / 100, 12) for _ in range(_POOL)],
        "user_id": [rng.randrange(USERS) for _ in range(_POOL)],
        "api_key_id": [rng.randrange(KEYS) for _ in range(_POOL)],
        "status": [500 if rng.random() < ERROR_SHARE else 200 for _ in range(_POOL)],
        "input_tokens": [rng.randrange(5000) for _ in range(_POOL)],
        "output_tokens": [rng.randrange(1000) for _ in range(_POOL)],
        "latency_ms": [rng.random() * 2000 for _ in range(_POOL)],
        "ttfb_ms": [rng.random() * 500 for _ in range(_POOL)],
        "gateway_ms": [rng.random() for _ in range(_POOL)],
        "upstream_ms": [rng.random() * 2000 for _ in range(_POOL)],
    }


def fill(
    db: Any,
    rows: int,
    *,
    days: float,
    now: datetime,
    batch: int = 100_000,
    progress: Callable[[int, float], None] | None = None,
    seed: int = 14,
) -> float:
    """Appends ``rows`` rows to the ``ledger_entries`` table of ``db`` (a
    migrated SQLite ledger, inside ``dbmod.connection(db)``); returns the
    seconds it took. ``progress(rows_done, seconds)`` is called per batch."""
    pools = _pools(seed)
    index = {name: position for position, name in enumerate(ENTRY_COLUMNS)}
    # Every column not set below keeps its template value.
    template: list[Any] = [0] * len(ENTRY_COLUMNS)
    for name, value in {
        "endpoint": "/v1/chat/completions",
        "client_dialect": "openai_chat",
        "mode": "passthrough",
        "error_kind": None,
        "counted_input_tokens": None,
        "counted_output_tokens": None,
        "session_id": None,
    }.items():
        template[index[name]] = value
    pooled = [(index[name], pools[name]) for name in pools]
    at_position = index["created_at"]
    request_position = index["request_id"]
    stream_position = index["stream"]
    provider_position = index["provider"]
    model_positions = (index["requested_model"], index["upstream_model"])
    first_second = (now - timedelta(days=days)).astimezone(timezone.utc).timestamp()
    span = days * 86400 / rows
    columns = ", ".join(ENTRY_COLUMNS)
    marks = ", ".join("?" for _ in ENTRY_COLUMNS)
    sql = f"INSERT INTO ledger_entries ({columns}) VALUES ({marks})"
    connection = db.connection()
    connection.execute("PRAGMA synchronous=OFF")
    began = time.perf_counter()
    try:
        for first in range(0, rows, batch):
            values = []
            for i in range(first, min(rows, first + batch)):
                row = template.copy()
                pick = (i * _STEP) % _POOL
                for position, pool in pooled:
                    row[position] = pool[pick]
                row[at_position] = time.strftime(
                    "%Y-%m-%d %H:%M:%S", time.gmtime(first_second + span * i)
                )
                row[request_position] = f"req_{i}"
                row[stream_position] = i & 1
                row[provider_position] = PROVIDERS[i % len(PROVIDERS)]
                model = MODELS[i % len(MODELS)]
                row[model_positions[0]] = row[model_positions[1]] = model
                values.append(row)
            with db.atomic():
                connection.executemany(sql, values)
            if progress is not None:
                progress(min(rows, first + batch), time.perf_counter() - began)
    finally:
        connection.execute("PRAGMA synchronous=NORMAL")
    return time.perf_counter() - began
