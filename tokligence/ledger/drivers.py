"""Keep PostgreSQL drivers out of a process that will never use them.

peewee imports every database driver it can find when it is imported;
psycopg 3 alone costs about 90 ms, a fifth of the gateway's start-up. A
process's database is fixed by its configuration before anything imports
peewee, so the entry points (``tokligence serve`` and the management
commands) call :func:`import_peewee_for` first: with a SQLite database the
PostgreSQL drivers are hidden from that one import, and nothing else
changes. Only entry points call this; library code imports peewee normally.
"""

from __future__ import annotations

import importlib
import sys
from urllib.parse import urlsplit

_POSTGRES_DRIVERS = ("psycopg", "psycopg2", "psycopg2cffi")
_POSTGRES_SCHEMES = ("postgresql", "postgres")


def import_peewee_for(database_url: str) -> None:
    """Import peewee now, without PostgreSQL drivers unless ``database_url``
    (empty: the default SQLite files) names a PostgreSQL database."""
    if "peewee" in sys.modules or urlsplit(database_url).scheme in _POSTGRES_SCHEMES:
        return
    hidden = [name for name in _POSTGRES_DRIVERS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None  # type: ignore[assignment]  # makes `import name` fail fast
    try:
        importlib.import_module("peewee")
    finally:
        for name in hidden:
            del sys.modules[name]
