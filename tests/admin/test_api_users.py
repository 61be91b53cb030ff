"""Admin API: users — every route's answers and refusals, and the routing."""

from __future__ import annotations

from typing import Any

import pytest

from tokligence.identity import store

from .harness import Admin


async def test_create_get_list_update_delete(admin: Admin) -> None:
    created = await admin.call(
        "POST",
        "users",
        {"email": " Ada@Example.com ", "display_name": "Ada", "role": "gateway_user"},
    )
    assert created.status == 201
    assert created.headers["content-type"] == "application/json"
    assert created.headers["cache-control"] == "no-store"
    user = created.body["user"]
    assert {k: user[k] for k in ("email", "display_name", "role", "status")} == {
        "email": "ada@example.com",
        "display_name": "Ada",
        "role": "gateway_user",
        "status": "active",
    }
    assert user["created_at"].endswith("Z")

    got = await admin.call("GET", f"users/{user['id']}")
    assert (got.status, got.body) == (200, {"user": user})

    await admin.call("POST", "users", {"email": "bo@example.com"})
    listed = await admin.call("GET", "users")
    assert listed.status == 200
    assert [u["email"] for u in listed.body["users"]] == ["ada@example.com", "bo@example.com"]
    assert listed.body["users"][1]["role"] == "gateway_user"  # the default

    patched = await admin.call(
        "PATCH",
        f"users/{user['id']}",
        {"email": "ada@new.example", "display_name": "A. L.", "role": "gateway_admin"},
    )
    assert patched.status == 200
    assert {k: patched.body["user"][k] for k in ("email", "display_name", "role")} == {
        "email": "ada@new.example",
        "display_name": "A. L.",
        "role": "gateway_admin",
    }
    disabled = await admin.call("PATCH", f"users/{user['id']}", {"status": "inactive"})
    assert disabled.body["user"]["status"] == "disabled"  # the original's word is accepted
    same = await admin.call("PATCH", f"users/{user['id']}", {})
    assert same.status == 200 and same.body["user"] == disabled.body["user"]

    await admin.identity.issue_key(user["id"], name="one")
    revoked = (await admin.identity.issue_key(user["id"], name="two"))[0]
    await admin.identity.revoke_key(revoked.id)
    deleted = await admin.call("DELETE", f"users/{user['id']}")
    assert deleted.status == 200
    assert deleted.body["deleted"]["email"] == "ada@new.example"
    assert deleted.body["revoked_keys"] == 1  # the key that still worked
    missing = await admin.call("GET", f"users/{user['id']}")
    assert missing.status == 404
    assert missing.error["code"] == "user_not_found"
    assert "no user with id" in missing.error["message"]


async def test_duplicate_email_is_409(admin: Admin) -> None:
    await admin.call("POST", "users", {"email": "ada@example.com"})
    again = await admin.call("POST", "users", {"email": "ADA@example.com"})
    assert again.status == 409
    assert again.error["code"] == "user_exists"
    bo = (await admin.call("POST", "users", {"email": "bo@example.com"})).body["user"]
    clash = await admin.call("PATCH", f"users/{bo['id']}", {"email": "ada@example.com"})
    assert clash.status == 409


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({}, "email", "'email' is required"),
        ({"email": None}, "email", "'email' is required"),
        ({"email": 7}, "email", "'email' must be a string, not an integer"),
        ({"email": "not-an-address"}, "email", "invalid e-mail address"),
        ({"email": "a@b.c", "role": "superuser"}, "role", "unknown role"),
        ({"email": "a@b.c", "role": ["gateway_user"]}, "role", "must be a string"),
        ({"email": "a@b.c", "display_name": "x" * 201}, "display_name", "longer than 200"),
        ({"email": "a@b.c", "displayName": "Ada"}, "displayName", "unknown field 'displayName'"),
        ({"email": "a@b.c", "status": "active"}, "status", "unknown field 'status'"),
    ],
)
async def test_create_user_validation(
    admin: Admin, body: dict[str, Any], param: str, fragment: str
) -> None:
    reply = await admin.call("POST", "users", body)
    assert reply.status == 400, reply.body
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]
    assert reply.error["type"] == "invalid_request_error"
    assert (await admin.call("GET", "users")).body["users"] == []


@pytest.mark.parametrize(
    ("raw", "fragment"),
    [
        (b"", "request body is empty"),
        (b"{", "not valid JSON"),
        (b"[1]", "must be a JSON object, not an array"),
        (b'{"email": "\xc3\x28"}', "not valid UTF-8"),
    ],
)
async def test_bodies_that_are_not_objects(admin: Admin, raw: bytes, fragment: str) -> None:
    reply = await admin.call("POST", "users", raw=raw)
    assert reply.status == 400
    assert fragment in reply.error["message"]


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({"status": "sleeping"}, "status", "unknown status"),
        ({"role": "root"}, "role", "unknown role"),
        ({"email": ""}, "email", "invalid e-mail address"),
        ({"display_name": 3}, "display_name", "must be a string"),
        ({"name": "Ada"}, "name", "unknown field 'name'"),
    ],
)
async def test_update_user_validation(
    admin: Admin, body: dict[str, Any], param: str, fragment: str
) -> None:
    user = (await admin.call("POST", "users", {"email": "ada@example.com"})).body["user"]
    reply = await admin.call("PATCH", f"users/{user['id']}", body)
    assert reply.status == 400
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]
    assert (await admin.call("GET", f"users/{user['id']}")).body["user"] == user


async def test_the_last_root_admin_stays(admin: Admin) -> None:
    root = await admin.identity.ensure_root_admin("root@example.com")
    demote = await admin.call("PATCH", f"users/{root.id}", {"role": "gateway_user"})
    assert demote.status == 400 and "only active root_admin" in demote.error["message"]
    delete = await admin.call("DELETE", f"users/{root.id}")
    assert delete.status == 400
    assert (await admin.call("GET", f"users/{root.id}")).body["user"]["role"] == "root_admin"


async def test_import_object_and_array_forms(admin: Admin) -> None:
    await admin.call("POST", "users", {"email": "ada@example.com", "display_name": "Ada"})
    await admin.call("POST", "users", {"email": "cy@example.com"})
    reply = await admin.call(
        "POST",
        "users/import",
        {
            "users": [
                {"email": "ada@example.com", "display_name": "Ada L."},
                {"email": "bo@example.com", "role": "gateway_admin"},
                {"email": "cy@example.com"},
            ]
        },
    )
    assert reply.status == 200
    emails = {name: [u["email"] for u in reply.body[name]] for name in reply.body}
    assert emails == {
        "created": ["bo@example.com"],
        "updated": ["ada@example.com"],
        "unchanged": ["cy@example.com"],
    }
    assert reply.body["created"][0]["role"] == "gateway_admin"
    array = await admin.call("POST", "users/import", [{"email": "di@example.com"}])
    assert [u["email"] for u in array.body["created"]] == ["di@example.com"]
    empty = await admin.call("POST", "users/import", [])
    assert empty.body == {"created": [], "updated": [], "unchanged": []}


@pytest.mark.parametrize(
    ("body", "param", "fragment"),
    [
        ({}, "users", "'users' is required"),
        ({"users": {"email": "a@b.c"}}, "users", "must be an array, not an object"),
        ({"users": ["a@b.c"]}, "users[0]", "must be an object, not a string"),
        ({"users": [{"email": "a@b.c", "age": 3}]}, "users[0].age", "unknown field"),
        ({"users": [], "skip_existing": True}, "skip_existing", "unknown field"),
        ({"users": [{"email": "a@b.c"}, {"email": "nope"}]}, "users[1].email", "invalid e-mail"),
        ({"users": [{"email": "a@b.c", "role": "king"}]}, "users[0].role", "unknown role"),
        ([{"display_name": "x"}], "users[0].email", "email is required"),
    ],
)
async def test_import_validation_is_all_or_nothing(
    admin: Admin, body: Any, param: str, fragment: str
) -> None:
    reply = await admin.call("POST", "users/import", body)
    assert reply.status == 400, reply.body
    assert reply.error["param"] == param
    assert fragment in reply.error["message"]
    assert store.list_users(admin.db) == []


@pytest.mark.parametrize(
    ("method", "path", "status", "allow"),
    [
        ("PUT", "users", 405, "GET, POST"),
        ("GET", "users/import", 405, "POST"),
        ("POST", "users/3", 405, "DELETE, GET, PATCH"),
        ("PATCH", "api-keys/3", 405, "DELETE, GET"),
        ("DELETE", "prices", 405, "GET, POST"),
        ("POST", "usage/summary", 405, "GET"),
        ("GET", "nothing", 404, None),
        ("GET", "", 404, None),
        ("GET", "users/3/api-keys/4", 404, None),
        ("GET", "usage", 404, None),
    ],
)
async def test_routing(
    admin: Admin, method: str, path: str, status: int, allow: str | None
) -> None:
    reply = await admin.call(method, path)
    assert reply.status == status
    assert reply.headers.get("allow") == allow
    if status == 404:
        assert reply.error["code"] == "unknown_url"


@pytest.mark.parametrize("path", ["users/abc", "users/0", "users/-1", "users/1.5", "api-keys/x"])
async def test_ids_must_be_positive_integers(admin: Admin, path: str) -> None:
    reply = await admin.call("GET", path)
    assert reply.status == 400
    assert reply.error["param"] == "id"
    assert "must be a positive integer id" in reply.error["message"]


async def test_trailing_slash_and_unknown_query(admin: Admin) -> None:
    assert (await admin.call("GET", "users/")).status == 200
    reply = await admin.call("GET", "users?page=2")
    assert reply.status == 400
    assert reply.error["param"] == "page"
