"""Peewee models of the identity role's tables, never bound to a database.

As in ``ledger.models``, every query names its database explicitly
(``query.execute(db)``) and the tables are created by ``migrations``, not
from these classes; a test checks the two agree.

Table names carry an ``identity_`` prefix: the original gateway's
``users`` and ``api_keys`` may live in the same file or database, and
migration 2 adopts their rows rather than colliding with them.

Ids are never reused. Ledger rows keep a user's and a key's id forever, so
an id naming a second user would hand it the first one's usage and spend.
PostgreSQL sequences never go back; SQLite reuses the highest rowid after a
delete unless the key is declared AUTOINCREMENT, which
:class:`NeverReusedIdField` adds there.
"""

from __future__ import annotations

from typing import Any

import peewee

# USD budgets: cents are what people set, six places leave room for
# per-request micro-budgets (as prices per million tokens have).
BUDGET_PLACES = 6
USERS_TABLE = "identity_users"
KEYS_TABLE = "identity_api_keys"


class NeverReusedIdField(peewee.BigAutoField):
    def ddl(self, ctx: Any) -> peewee.NodeList:
        node: peewee.NodeList = super().ddl(ctx)
        # SQLite maps the big auto type to INTEGER, its rowid alias; the
        # server databases map it to a sequence-backed type.
        if (ctx.state.field_types or {}).get(self.field_type) == "INTEGER":
            return peewee.NodeList((node, peewee.SQL("AUTOINCREMENT")))
        return node


class User(peewee.Model):
    id = NeverReusedIdField()
    email = peewee.TextField(unique=True)  # trimmed, lower case
    display_name = peewee.TextField(default="")
    role = peewee.TextField()  # auth.Role
    status = peewee.TextField(default="active")  # records.Status
    created_at = peewee.DateTimeField()  # naive UTC
    updated_at = peewee.DateTimeField()  # naive UTC

    class Meta:
        table_name = USERS_TABLE


class ApiKey(peewee.Model):
    id = NeverReusedIdField()
    # Indexed (peewee indexes foreign keys): list_keys(user_id) and deletes.
    user = peewee.ForeignKeyField(User, column_name="user_id", on_delete="CASCADE")
    name = peewee.TextField(default="")
    prefix = peewee.TextField()  # the key's first auth.PREFIX_LENGTH characters
    key_hash = peewee.TextField(unique=True)  # keys.hash_key of the whole key
    scopes = peewee.TextField(default="model")  # comma list of auth.Scope
    expires_at = peewee.DateTimeField(null=True)  # naive UTC
    revoked_at = peewee.DateTimeField(null=True)  # naive UTC
    last_used_at = peewee.DateTimeField(null=True)  # naive UTC, updated in batches
    created_at = peewee.DateTimeField()  # naive UTC
    # Per-key limits; NULL is unlimited.
    rpm = peewee.IntegerField(null=True)
    tpm = peewee.BigIntegerField(null=True)
    budget_daily_usd = peewee.DecimalField(max_digits=18, decimal_places=BUDGET_PLACES, null=True)
    budget_monthly_usd = peewee.DecimalField(max_digits=18, decimal_places=BUDGET_PLACES, null=True)

    class Meta:
        table_name = KEYS_TABLE


IDENTITY_MODELS: tuple[type[peewee.Model], ...] = (User, ApiKey)
