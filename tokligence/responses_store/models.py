"""The peewee model of stored Responses turns, never bound to a database.

As in ``ledger.models``, queries name their database explicitly and the
table is created by ``migrations``, not from this class; a test checks the
two agree. It lives in the ledger's database (one file, or one PostgreSQL
database for a team).
"""

from __future__ import annotations

import peewee

RESPONSES_TABLE = "responses_stored"


class StoredResponse(peewee.Model):
    id = peewee.TextField(primary_key=True)  # "resp_…", as the client saw it
    # The owner: the gateway user whose key made the call (NULL: auth off).
    user_id = peewee.BigIntegerField(null=True, index=True)
    api_key_id = peewee.BigIntegerField(null=True)
    model = peewee.TextField()
    previous_response_id = peewee.TextField(null=True)
    # JSON: the whole effective input (earlier turns included) and the
    # Response object as sent, so a follow-up needs one row, not a chain.
    input_items = peewee.TextField()
    response = peewee.TextField()
    created_at = peewee.DateTimeField()  # naive UTC

    class Meta:
        table_name = RESPONSES_TABLE
