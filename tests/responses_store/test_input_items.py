"""``GET /v1/responses/{id}/input_items``: the listing rules (pure), then
through two gateways with the official SDK, whose paginator walks the
pages and whose types parse every item."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import openai
import pytest

from tokligence.errors import GatewayError
from tokligence.responses_store.input_items import full_item, input_item_page

from .test_gateways import MODEL, Pair, start_pair, two_users

ITEMS: list[Any] = [
    {"role": "user", "content": "first"},
    {"type": "message", "role": "assistant", "content": "an answer"},
    {"type": "function_call", "call_id": "c1", "name": "ls", "arguments": "{}", "id": "fc_own"},
    {"type": "function_call_output", "call_id": "c1", "output": "a.txt"},
    {"role": "user", "content": [{"type": "input_text", "text": "second"}]},
]


def test_short_forms_are_listed_in_full_with_stable_ids() -> None:
    first = full_item(ITEMS[0], "resp_x", 0)
    assert first["type"] == "message" and first["status"] == "completed"
    assert first["content"] == [{"type": "input_text", "text": "first"}]
    assert first["id"].startswith("msg_") and first == full_item(ITEMS[0], "resp_x", 0)
    assert first["id"] != full_item(ITEMS[0], "resp_y", 0)["id"]  # ids differ per turn
    answer = full_item(ITEMS[1], "resp_x", 1)
    assert answer["content"] == [{"type": "output_text", "text": "an answer", "annotations": []}]
    assert full_item(ITEMS[2], "resp_x", 2)["id"] == "fc_own"  # an item's own id stays
    assert full_item(ITEMS[3], "resp_x", 3)["id"].startswith("fco_")


def test_pages_follow_order_limit_and_after() -> None:
    newest_first = input_item_page("resp_x", ITEMS, "")
    assert [i["id"] for i in newest_first["data"]][2] == "fc_own"
    assert newest_first["data"][0]["content"][0]["text"] == "second"
    assert newest_first["has_more"] is False
    assert newest_first["first_id"] == newest_first["data"][0]["id"]
    assert newest_first["last_id"] == newest_first["data"][-1]["id"]
    page = input_item_page("resp_x", ITEMS, "order=asc&limit=2")
    assert page["data"][0]["content"][0]["text"] == "first" and page["has_more"] is True
    rest = input_item_page("resp_x", ITEMS, f"order=asc&limit=2&after={page['last_id']}")
    assert rest["first_id"] == "fc_own" and rest["has_more"] is True
    last = input_item_page("resp_x", ITEMS, f"order=asc&after={rest['last_id']}")
    assert len(last["data"]) == 1 and last["has_more"] is False
    assert input_item_page("resp_x", [], "") == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }


@pytest.mark.parametrize(
    ("query", "param"),
    [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("order=newest", "order"),
        ("after=msg_nope", "after"),
    ],
)
def test_bad_parameters_are_400s_naming_them(query: str, param: str) -> None:
    with pytest.raises(GatewayError) as caught:
        input_item_page("resp_x", ITEMS, query)
    assert caught.value.status == 400 and caught.value.param == param


def _items(pair: Pair, gateway: Any, key: str, response_id: str, **params: Any) -> list[Any]:
    return list(pair.client(gateway, key).responses.input_items.list(response_id, **params))


def test_the_sdk_lists_a_turns_input_from_either_gateway(tmp_path: Path, database_url: str) -> None:
    alice_key, bob_key = two_users(database_url)
    for pair in start_pair(tmp_path, database_url, TOKLIGENCE_AUTH_DISABLED="false"):
        alice = pair.client(pair.a, alice_key)
        first = alice.responses.create(model=MODEL, input="one")
        second = alice.responses.create(model=MODEL, input="two", previous_response_id=first.id)
        # The model's whole input: the first turn (input and answer), then "two".
        listed = _items(pair, pair.b, alice_key, second.id, order="asc")
        assert [item.type for item in listed] == ["message", "message", "message"]
        assert [item.role for item in listed] == ["user", "assistant", "user"]
        assert listed[-1].content[0].text == "two"
        # Paged one by one, newest first, the SDK's paginator sees the same items.
        paged = _items(pair, pair.a, alice_key, second.id, limit=1)
        assert [item.id for item in paged] == [item.id for item in reversed(listed)]
        # Another user's turn is unknown, as for every stored-turn endpoint.
        with pytest.raises(openai.NotFoundError):
            _items(pair, pair.a, bob_key, second.id)
        with pytest.raises(openai.BadRequestError):
            _items(pair, pair.a, alice_key, second.id, limit=500)
