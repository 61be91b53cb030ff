"""The ledger: one database row per request, whatever its fate.

Modules, from the pure edge inwards:

- ``row``: :class:`~tokligence.ledger.row.LedgerRow`, what the pipeline
  submits (pure: no peewee, no trio).
- ``prices``: the price table, pattern matching and exact cost arithmetic
  (pure), plus the CRUD the CLI and admin API use.
- ``db``: the database adapter — back-ends chosen by URL through an explicit
  registry, the few places where SQLite and PostgreSQL differ.
- ``migrations``: ordered schema migrations per database role.
- ``models``: the peewee models, never bound to a database at import time.
- ``writer``: the single group-committing writer task (trio).
- ``queries``: usage summaries and recent entries for reports.

Nothing is re-exported here, so importing the pure ``row`` module does not
drag in peewee or trio.
"""
