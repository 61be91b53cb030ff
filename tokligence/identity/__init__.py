"""Users, gateway API keys and their lifecycle hooks.

Modules, from the pure edge inwards:

- ``keys``: key material — generate a ``tok_…`` key, its hash and prefix (pure).
- ``records``: the frozen records the store returns (pure).
- ``models``: the peewee models, never bound to a database at import time.
- ``migrations``: the ``identity`` role's ordered schema migrations.
- ``store``: synchronous CRUD, run by callers in worker threads.
- ``cache``: the request path's key -> principal cache and the batched
  ``last_used_at`` writer (trio).
- ``hooks``: the lifecycle script runner (trio).
- ``service``: the async facade the admin API and CLI use — store, cache
  invalidation and hooks in one call.

The pure decision of who may call what lives in ``tokligence.auth`` and the
per-key limits in ``tokligence.limits``. Nothing is re-exported here, so
importing a pure module does not drag in peewee or trio.
"""
