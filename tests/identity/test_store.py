"""The identity store on SQLite and PostgreSQL: users, imports, the key
lifecycle, and what the tables hold (hashes, never keys)."""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from typing import TypeVar

import peewee
import pytest

from tokligence.auth import authorize
from tokligence.errors import GatewayError
from tokligence.identity import _storebase, store
from tokligence.identity.migrations import migrate_identity
from tokligence.identity.models import KEYS_TABLE, USERS_TABLE, User
from tokligence.ledger import db as dbmod
from tokligence.limits import KeyLimits

T = TypeVar("T")


def raw(db: peewee.Database, sql: str) -> list[tuple[object, ...]]:
    with dbmod.connection(db):
        return dbmod.execute(db, sql)


def status_of(call: object) -> tuple[int, str]:
    assert isinstance(call, GatewayError)
    return call.status, call.message


# ------------------------------------------------------------------- users


def test_users_round_trip(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="  Ada@Example.COM ", display_name="Ada")
    assert (ada.email, ada.role, ada.status, ada.display_name) == (
        "ada@example.com",
        "gateway_user",
        "active",
        "Ada",
    )
    assert ada.created_at.tzinfo == timezone.utc
    bob = store.create_user(identity_db, email="bob@example.com", role="gateway_admin")
    assert store.get_user(identity_db, ada.id) == ada
    assert store.find_user(identity_db, "ADA@example.com") == ada
    assert store.find_user(identity_db, "nobody@example.com") is None
    assert store.list_users(identity_db) == [ada, bob]
    changed = store.update_user(identity_db, ada.id, status="inactive", display_name="A. L.")
    assert (changed.status, changed.display_name, changed.role) == ("disabled", "A. L.", ada.role)
    assert changed.updated_at >= ada.updated_at
    # Nothing to change: the record comes back untouched.
    assert store.update_user(identity_db, ada.id, status="disabled") == changed


@pytest.mark.parametrize(
    ("kwargs", "status", "fragment"),
    [
        ({"email": "not-an-address"}, 400, "invalid e-mail address 'not-an-address'"),
        ({"email": "a b@example.com"}, 400, "invalid e-mail"),
        ({"email": "x@example.com", "role": "owner"}, 400, "unknown role 'owner'"),
        ({"email": "x@example.com", "status": "gone"}, 400, "unknown status 'gone'"),
        ({"email": "x@example.com", "display_name": "x" * 201}, 400, "longer than 200"),
        ({"email": "TAKEN@example.com"}, 409, "already exists"),
    ],
)
def test_bad_users_are_refused(
    identity_db: peewee.Database, kwargs: dict[str, str], status: int, fragment: str
) -> None:
    store.create_user(identity_db, email="taken@example.com")
    with pytest.raises(GatewayError) as caught:
        store.create_user(identity_db, **kwargs)
    assert caught.value.status == status
    assert fragment in caught.value.message
    assert len(store.list_users(identity_db)) == 1


def test_missing_users_and_keys_are_404(identity_db: peewee.Database) -> None:
    for call in (
        lambda: store.get_user(identity_db, 99),
        lambda: store.update_user(identity_db, 99, display_name="x"),
        lambda: store.delete_user(identity_db, 99),
        lambda: store.issue_key(identity_db, 99),
        lambda: store.list_keys(identity_db, 99),
        lambda: store.revoke_key(identity_db, 99),
        lambda: store.get_key(identity_db, 99),
    ):
        with pytest.raises(GatewayError) as caught:
            call()
        assert caught.value.status == 404


def test_the_root_admin_is_created_once_and_never_lost(identity_db: peewee.Database) -> None:
    root, outcome = store.ensure_root_admin(identity_db, "Admin@Local")
    assert outcome == "created" and (root.email, root.role) == ("admin@local", "root_admin")
    again, outcome = store.ensure_root_admin(identity_db, "someone-else@local")
    assert (again, outcome) == (root, "existing")
    for change in ({"role": "gateway_user"}, {"status": "disabled"}):
        with pytest.raises(GatewayError, match="only active root_admin"):
            store.update_user(identity_db, root.id, **change)
    with pytest.raises(GatewayError, match="only active root_admin"):
        store.delete_user(identity_db, root.id)
    # With a second root admin, the first may step down.
    other = store.create_user(identity_db, email="ops@local", role="root_admin")
    assert store.update_user(identity_db, root.id, role="gateway_admin").role == "gateway_admin"
    assert store.ensure_root_admin(identity_db, "admin@local") == (other, "existing")


def test_the_root_admin_email_may_name_an_existing_user(identity_db: peewee.Database) -> None:
    user = store.create_user(identity_db, email="boss@example.com")
    root, outcome = store.ensure_root_admin(identity_db, "boss@example.com")
    assert outcome == "promoted" and root.id == user.id and root.role == "root_admin"


def test_import_upserts_by_email(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com", display_name="Ada")
    bob = store.create_user(identity_db, email="bob@example.com", role="gateway_admin")
    result = store.import_users(
        identity_db,
        [
            {"email": "ADA@example.com", "display_name": "Ada Lovelace"},
            {"email": "bob@example.com", "role": "gateway_admin"},  # as stored
            {"email": "cy@example.com", "display_name": "Cy", "role": "gateway_admin"},
            {"email": "dee@example.com"},
        ],
    )
    assert [u.email for u in result.created] == ["cy@example.com", "dee@example.com"]
    assert [(u.id, u.display_name, u.role) for u in result.updated] == [
        (ada.id, "Ada Lovelace", "gateway_user")  # a field left out keeps its value
    ]
    assert result.unchanged == (bob,)
    assert result.created[1].role == "gateway_user"
    assert len(store.list_users(identity_db)) == 4


@pytest.mark.parametrize("change", [{"role": "gateway_admin"}, {"status": "disabled"}])
def test_an_import_never_leaves_no_active_root_admin(
    identity_db: peewee.Database, change: dict[str, str]
) -> None:
    root, _ = store.ensure_root_admin(identity_db, "admin@local")
    with pytest.raises(GatewayError, match="no active root_admin"):
        store.import_users(
            identity_db, [{"email": "new@example.com"}, {"email": "admin@local", **change}]
        )
    assert [u.email for u in store.list_users(identity_db)] == ["admin@local"]  # rolled back
    assert store.get_user(identity_db, root.id) == root
    # With another root admin in the same import, the first may step down.
    result = store.import_users(
        identity_db,
        [{"email": "ops@example.com", "role": "root_admin"}, {"email": "admin@local", **change}],
    )
    assert len(result.created) == 1 and len(result.updated) == 1


@pytest.mark.parametrize(
    ("records", "fragment"),
    [
        ([{"email": "ok@example.com"}, {"display_name": "x"}], "users[1].email: email is required"),
        ([{"email": "ok@example.com"}, {"email": "bad"}], "users[1].email: invalid e-mail"),
        ([{"email": "ok@example.com", "role": "king"}], "users[0].role: unknown role 'king'"),
        ([{"email": "ok@example.com", "status": 1}], "users[0].status: status must be a string"),
        (["ok@example.com"], "users[0]: must be an object"),
    ],
)
def test_a_bad_import_changes_nothing(
    identity_db: peewee.Database, records: list[object], fragment: str
) -> None:
    with pytest.raises(GatewayError) as caught:
        store.import_users(identity_db, records)  # type: ignore[arg-type]
    assert caught.value.status == 400
    assert caught.value.message.startswith(fragment)
    assert store.list_users(identity_db) == []


# -------------------------------------------------------------------- keys


def test_key_lifecycle(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    record, key = store.issue_key(identity_db, ada.id, name="laptop")
    assert key.startswith("tok_") and len(key) == 4 + 43
    assert record.prefix == key[:12] and record.name == "laptop"
    assert record.scopes == ("model",) and record.user == ada
    assert record.revoked_at is None and record.expires_at is None

    found = store.lookup_key(identity_db, key)
    assert found == record
    principal = found.principal()
    assert (principal.user_id, principal.key_id, principal.email) == (ada.id, record.id, ada.email)
    now = datetime.now(timezone.utc)
    assert (
        authorize(
            principal, presented_key=key, endpoint_key="openai_core", auth_required=True, now=now
        )
        == principal
    )

    assert store.lookup_key(identity_db, key[:-1] + ("A" if key[-1] != "A" else "B")) is None
    assert store.lookup_key(identity_db, "") is None

    revoked = store.revoke_key(identity_db, record.id)
    assert revoked.revoked_at is not None and revoked.state(now) == "revoked"
    # Still found, so the client hears "revoked" rather than "invalid"...
    after = store.lookup_key(identity_db, key)
    assert after is not None and after.principal().revoked
    # ...and refused.
    with pytest.raises(GatewayError, match="has been revoked"):
        authorize(
            after.principal(),
            presented_key=key,
            endpoint_key="anthropic",
            auth_required=True,
            now=now,
        )
    # Revoking twice keeps the first time.
    assert store.revoke_key(identity_db, record.id).revoked_at == revoked.revoked_at


def test_expired_keys_are_found_and_refused(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    soon = datetime(2031, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=2)))
    record, key = store.issue_key(identity_db, ada.id, expires_at=soon)
    assert record.expires_at == soon and record.expires_at.tzinfo == timezone.utc
    found = store.lookup_key(identity_db, key)
    assert found is not None
    args = {"presented_key": key, "endpoint_key": "anthropic", "auth_required": True}
    assert authorize(found.principal(), now=soon - timedelta(seconds=1), **args)  # type: ignore[arg-type]
    with pytest.raises(GatewayError, match="expired at 2031-01-02T01:04:05Z"):
        authorize(found.principal(), now=soon, **args)  # type: ignore[arg-type]
    assert found.state(soon) == "expired"
    with pytest.raises(GatewayError, match="time zone"):
        store.issue_key(identity_db, ada.id, expires_at=datetime(2031, 1, 1))


def test_only_hashes_and_prefixes_are_stored(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    keys = [store.issue_key(identity_db, ada.id)[1] for _ in range(3)]
    assert len(set(keys)) == 3
    rows = raw(identity_db, f'SELECT * FROM "{KEYS_TABLE}" ORDER BY id')
    stored = " ".join(str(value) for row in rows for value in row)
    for key in keys:
        assert key not in stored
        assert key[12:20] not in stored  # no part of the secret beyond the prefix
    hashes = raw(identity_db, f'SELECT prefix, key_hash FROM "{KEYS_TABLE}" ORDER BY id')
    assert hashes == [(k[:12], hashlib.sha256(k.encode()).hexdigest()) for k in keys]


def test_scopes_follow_the_role(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    admin = store.create_user(identity_db, email="root@example.com", role="gateway_admin")
    with pytest.raises(GatewayError, match="a gateway_user cannot hold a key with scope 'admin'"):
        store.issue_key(identity_db, ada.id, scopes="model,admin")
    with pytest.raises(GatewayError, match="unknown scope 'billing'"):
        store.issue_key(identity_db, admin.id, scopes=["billing"])
    record, _ = store.issue_key(identity_db, admin.id, scopes="admin, model")
    assert record.scopes == ("model", "admin")
    assert store.list_keys(identity_db) == [record]


def test_limits_round_trip_exactly(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    limits = KeyLimits(
        rpm=60,
        tpm=3_000_000_000,  # beyond 32 bits
        budget_daily_usd=Decimal("12.345678"),
        budget_monthly_usd=Decimal("250"),
    )
    record, key = store.issue_key(identity_db, ada.id, limits=limits)
    assert record.limits == limits
    found = store.lookup_key(identity_db, key)
    assert found is not None and found.principal().limits == limits
    with pytest.raises(GatewayError, match="at most 6 decimals"):
        store.issue_key(
            identity_db, ada.id, limits=KeyLimits(budget_daily_usd=Decimal("0.0000001"))
        )
    updated = store.update_key(identity_db, record.id, name="ci", limits=KeyLimits(rpm=5))
    assert (updated.name, updated.limits) == ("ci", KeyLimits(rpm=5))


def test_deleting_a_user_deletes_its_keys(identity_db: peewee.Database) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    bob = store.create_user(identity_db, email="bob@example.com")
    ada_keys = [store.issue_key(identity_db, ada.id) for _ in range(2)]
    bob_key = store.issue_key(identity_db, bob.id)
    deleted = store.delete_user(identity_db, ada.id)
    assert deleted.user == ada
    assert [k.id for k in deleted.keys] == [record.id for record, _ in ada_keys]
    for _, key in ada_keys:
        assert store.lookup_key(identity_db, key) is None
    assert store.list_keys(identity_db) == [bob_key[0]]
    assert raw(identity_db, f'SELECT COUNT(*) FROM "{KEYS_TABLE}"') == [(1,)]
    assert [u.id for u in store.list_users(identity_db)] == [bob.id]


def test_ids_are_never_reused(identity_db: peewee.Database) -> None:
    # The ledger keeps user and key ids: a new user must not inherit an old id.
    first = store.create_user(identity_db, email="first@example.com")
    key, _ = store.issue_key(identity_db, first.id)
    store.delete_user(identity_db, first.id)
    second = store.create_user(identity_db, email="second@example.com")
    second_key, _ = store.issue_key(identity_db, second.id)
    assert second.id > first.id and second_key.id > key.id


def test_last_used_is_recorded_in_batches_and_never_goes_back(
    identity_db: peewee.Database,
) -> None:
    ada = store.create_user(identity_db, email="ada@example.com")
    one, _ = store.issue_key(identity_db, ada.id)
    two, _ = store.issue_key(identity_db, ada.id)
    t1 = datetime(2025, 5, 1, 10, tzinfo=timezone.utc)
    assert store.touch_last_used(identity_db, {one.id: t1, two.id: t1, 999: t1}) == 2
    assert store.touch_last_used(identity_db, {one.id: t1 - timedelta(hours=1)}) == 0
    assert store.touch_last_used(identity_db, {two.id: t1 + timedelta(hours=1)}) == 1
    assert [k.last_used_at for k in store.list_keys(identity_db, ada.id)] == [
        t1,
        t1 + timedelta(hours=1),
    ]


def test_tables_are_prefixed(identity_db: peewee.Database) -> None:
    with dbmod.connection(identity_db):
        assert {USERS_TABLE, KEYS_TABLE} <= set(identity_db.get_tables())


def test_a_duplicate_that_slips_past_the_checks_is_a_409(identity_db: peewee.Database) -> None:
    # Another process may commit the same e-mail between a check and an
    # insert; the unique index stops it and the caller hears 409.
    store.create_user(identity_db, email="ada@example.com")
    now = datetime.now(timezone.utc).replace(tzinfo=None)
    with pytest.raises(GatewayError) as caught, _storebase.writing(identity_db):
        User.insert(
            email="ada@example.com", role="gateway_user", created_at=now, updated_at=now
        ).execute(identity_db)
    assert (caught.value.status, caught.value.code) == (409, "conflict")
    assert len(store.list_users(identity_db)) == 1


# ------------------------------------------------- several processes at once


def _at_once(database_url: str, count: int, work: Callable[[peewee.Database, int], T]) -> list[T]:
    """``work(db, index)`` in ``count`` threads released together, each on its
    own connection pool as separate gateway processes would be."""
    databases = [dbmod.open_database(database_url) for _ in range(count)]
    barrier = threading.Barrier(count)
    try:

        def run(index: int) -> T:
            barrier.wait()
            return work(databases[index], index)

        with ThreadPoolExecutor(count) as pool:
            return list(pool.map(run, range(count)))
    finally:
        for db in databases:
            dbmod.close_database(db)


def test_gateways_starting_together_make_one_root_admin(database_url: str) -> None:
    # Several gateways started at once on an empty database each ensure the
    # root admin; each must start (no conflict) and one account be made.
    db = dbmod.open_database(database_url)
    try:
        migrate_identity(db)
        for round_ in range(10):  # the race is narrow: a few chances to lose it
            with dbmod.connection(db):
                User.delete().execute(db)
            outcomes = _at_once(
                database_url, 6, lambda each, _: store.ensure_root_admin(each, "admin@local")
            )
            assert sorted(o for _, o in outcomes) == ["created"] + ["existing"] * 5, round_
            assert len({user.id for user, _ in outcomes}) == 1
            assert [u.role for u in store.list_users(db)] == ["root_admin"]
    finally:
        dbmod.close_database(db)


def test_two_root_admins_demoting_each_other_at_once_leave_one(database_url: str) -> None:
    # The "only active root_admin" check reads, then writes: two processes
    # doing it at once must not both pass it.
    db = dbmod.open_database(database_url)
    try:
        migrate_identity(db)
        for round_ in range(10):  # as narrow
            with dbmod.connection(db):
                User.delete().execute(db)
            ids = [
                store.create_user(db, email=f"root{i}@local", role="root_admin").id
                for i in range(2)
            ]

            def demote(other: peewee.Database, index: int, ids: list[int] = ids) -> str:
                try:
                    return store.update_user(other, ids[index], role="gateway_user").role
                except GatewayError as error:
                    return str(error.status)

            results = _at_once(database_url, 2, demote)
            assert sorted(results) == ["400", "gateway_user"], round_
            roots = [u for u in store.list_users(db) if u.role == "root_admin"]
            assert len(roots) == 1, round_
    finally:
        dbmod.close_database(db)
