"""The directory's endpoints over HTTP on 127.0.0.1: announcing, heartbeats,
listings, every refusal with its status and code, and hostile input."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any

import pytest
import trio

from tokligence.trade.directory.documents import read_listing

from .directory_rig import SKEW, Running, running_directory
from .directory_samples import NOW, URL, announce, heartbeat, offer, rewritten
from .keys import BUYER, SELLER, STRANGER

OFFERS = "/v1/directory/offers"
HEARTBEAT = "/v1/directory/heartbeat"


async def post(running: Running, path: str, body: bytes) -> tuple[int, Any]:
    response = await running.http.post(path, content=body)
    return response.status_code, response.json()


async def listed(running: Running, model: str | None = "gpt-4o-mini") -> list[str]:
    params = {} if model is None else {"model": model}
    response = await running.http.get(OFFERS, params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/json"
    return [
        f"{entry['seller'][8:12]} {entry['offer']['offer']['name']} {entry['url']}"
        for entry in response.json()["offers"]
    ]


def code(answer: Any) -> str:
    return str(answer["error"]["code"])


async def test_announce_list_and_heartbeat(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        status, answer = await post(running, OFFERS, announce())
        assert status == 200, answer
        assert answer == {
            "seller": SELLER.public_id,
            "offers": ["fast@1"],
            "ttl_ms": 90_000,
            "heartbeat_ms": 30_000,
        }
        mine = f"{SELLER.public_id[8:12]} fast {URL}"
        assert await listed(running) == [mine]
        assert await listed(running, "gpt-4.1-nano") == [mine]  # the pattern gpt-4.1*
        assert await listed(running, "claude-3") == []
        assert await listed(running, None) == [mine]
        running.clock.now += 60_000
        status, answer = await post(running, HEARTBEAT, heartbeat())
        assert (status, answer["expires_in_ms"]) == (200, 90_000)
        running.clock.now += 89_999
        assert await listed(running) == [mine]
        health = (await running.http.get("/health")).json()
        assert health == {"status": "ok", "sellers": 1, "offers": 1, "ttl_ms": 90_000}
        running.clock.now += 1  # no heartbeat for the TTL: gone
        assert await listed(running) == []
        status, answer = await post(running, HEARTBEAT, heartbeat(issued_at=NOW + 2))
        assert (status, code(answer)) == (404, "unknown_seller")


async def test_the_listing_is_cheapest_first_and_verifies(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        for signer, price, port in ((SELLER, "9", 1), (STRANGER, "1", 2), (BUYER, "5", 3)):
            body = announce(
                signer, [offer(signer, price_output=price)], url=f"http://127.0.0.1:{port}"
            )
            assert (await post(running, OFFERS, body))[0] == 200
        order = [line.split()[-1] for line in await listed(running)]
        assert order == ["http://127.0.0.1:2", "http://127.0.0.1:3", "http://127.0.0.1:1"]
        response = await running.http.get(OFFERS, params={"model": "gpt-4o-mini"})
        accepted, dropped = read_listing(response.content, "gpt-4o-mini")
        assert dropped == [] and [a.url for a in accepted] == order


def _altered(document: dict[str, Any]) -> None:
    document["offers"][0]["offer"]["prices"]["output"] = "0.01"


FORGED = [
    (
        "an announcement signed by another key",
        lambda: rewritten(
            announce(),
            lambda d: d["announcement"].update(
                sig=json.loads(announce(STRANGER))["announcement"]["sig"]
            ),
        ),
        401,
        "bad_signature",
    ),
    ("an altered price", lambda: rewritten(announce(), _altered), 401, "bad_signature"),
    (
        "an offer signed by another key than the seller it names",
        lambda: announce(STRANGER, [offer(SELLER, seller=STRANGER.public_id)]),
        401,
        "bad_signature",
    ),
    ("another seller's offer", lambda: announce(STRANGER, [offer(SELLER)]), 400, "wrong_seller"),
    ("not canonical", lambda: announce() + b" ", 400, "malformed"),
]


@pytest.mark.parametrize(("what", "body", "status", "reason"), FORGED, ids=[f[0] for f in FORGED])
async def test_a_forged_announcement_is_refused_and_stored_nowhere(
    tmp_path: Path, what: str, body: Any, status: int, reason: str
) -> None:
    async with running_directory(tmp_path) as running:
        answer_status, answer = await post(running, OFFERS, body())
        assert (answer_status, code(answer)) == (status, reason), answer
        assert answer["error"]["message"]
        assert await listed(running, None) == []
        assert (await running.http.get("/health")).json()["sellers"] == 0
        # A heartbeat cannot bring in what was refused either.
        assert (await post(running, HEARTBEAT, heartbeat()))[0] == 404


async def test_clock_skew_replay_and_older_versions_are_refused(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        skew = int(SKEW * 1000)
        for issued_at in (NOW - skew - 1, NOW + skew + 1):
            status, answer = await post(running, OFFERS, announce(issued_at=issued_at))
            assert (status, code(answer)) == (401, "clock_skew"), answer
        assert await listed(running) == []
        body = announce(offers=[offer(version=2)])
        assert (await post(running, OFFERS, body))[0] == 200
        status, answer = await post(running, OFFERS, body)  # replayed
        assert (status, code(answer)) == (409, "stale")
        older = announce(offers=[offer(version=1)], issued_at=NOW + 1)
        status, answer = await post(running, OFFERS, older)
        assert (status, code(answer)) == (409, "older_version")
        status, answer = await post(running, HEARTBEAT, heartbeat(issued_at=NOW - skew - 1))
        assert (status, code(answer)) == (401, "clock_skew")
        versions = await running.http.get(OFFERS)
        assert [e["offer"]["offer"]["version"] for e in versions.json()["offers"]] == [2]


# ----------------------------------------------------------------- hostile


HOSTILE_POSTS = [
    ("empty", b"", 400, "malformed"),
    ("not JSON", b"{not json", 400, "malformed"),
    ("a JSON array", b"[]", 400, "malformed"),
    ("a float", b'{"announcement":1.5,"offers":[]}', 400, "malformed"),
    ("wrong types", b'{"announcement":"x","offers":{}}', 400, "malformed"),
    ("deep nesting", b'{"a":' * 5000 + b"1" + b"}" * 5000, 400, "malformed"),
    ("a huge integer", b'{"announcement":' + b"9" * 5000 + b',"offers":[]}', 400, "malformed"),
    ("not UTF-8", b'{"announcement":"\xff","offers":[]}', 400, "malformed"),
    ("a lone surrogate", b'{"announcement":"\\ud800","offers":[]}', 400, "malformed"),
    ("a duplicate key", b'{"offers":[],"offers":[]}', 400, "malformed"),
    ("a heartbeat", heartbeat(), 400, "malformed"),
]


@pytest.mark.parametrize(
    ("what", "body", "status", "reason"), HOSTILE_POSTS, ids=[h[0] for h in HOSTILE_POSTS]
)
async def test_hostile_bodies_are_refused_cleanly(
    tmp_path: Path, what: str, body: bytes, status: int, reason: str
) -> None:
    async with running_directory(tmp_path) as running:
        for path in (OFFERS, HEARTBEAT):
            if path == HEARTBEAT and body == heartbeat():
                continue  # a heartbeat is one there
            answer_status, answer = await post(running, path, body)
            assert (answer_status, code(answer)) == (status, reason), (path, answer)
        assert (await running.http.get("/health")).status_code == 200


async def test_a_body_over_the_limit_is_refused_before_it_is_read(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        huge = b'{"announcement":"' + b"x" * (2 << 20) + b'","offers":[]}'
        status, answer = await post(running, OFFERS, huge)
        assert (status, code(answer)) == (413, "request_too_large")
        # Declared, not sent: refused on the head alone.
        with socket.create_connection(("127.0.0.1", running.port)) as raw:
            raw.sendall(
                b"POST /v1/directory/offers HTTP/1.1\r\nHost: x\r\n"
                b"Content-Length: 1000000000\r\n\r\n"
            )
            head = await trio.to_thread.run_sync(raw.recv, 4096)
        assert head.startswith(b"HTTP/1.1 413 ")
        assert (await running.http.get("/health")).status_code == 200


@pytest.mark.parametrize(
    ("method", "target", "status", "reason"),
    [
        ("GET", "/v1/directory/nothing", 404, "not_found"),
        ("GET", "/", 404, "not_found"),
        ("DELETE", OFFERS, 405, "method_not_allowed"),
        ("GET", HEARTBEAT, 405, "method_not_allowed"),
        ("POST", "/health", 405, "method_not_allowed"),
        ("GET", OFFERS + "?model=a&model=b", 400, "invalid_request"),
        ("GET", OFFERS + "?model=", 400, "invalid_request"),
        ("GET", OFFERS + "?model=" + "m" * 257, 400, "invalid_request"),
        ("GET", OFFERS + "?model=%00", 400, "invalid_request"),
        ("GET", OFFERS + "?seller=x", 400, "invalid_request"),
        ("GET", OFFERS + "?model", 400, "invalid_request"),
        ("GET", OFFERS + "?a=1&b=2&c=3&d=4&e=5", 400, "invalid_request"),
    ],
)
async def test_wrong_routes_methods_and_queries(
    tmp_path: Path, method: str, target: str, status: int, reason: str
) -> None:
    async with running_directory(tmp_path) as running:
        response = await running.http.request(method, target)
        assert (response.status_code, code(response.json())) == (status, reason)
        if status == 405:
            assert response.headers["allow"]


async def test_head_of_a_listing_has_no_body(tmp_path: Path) -> None:
    async with running_directory(tmp_path) as running:
        response = await running.http.head(OFFERS)
        assert response.status_code == 200 and response.content == b""
        assert int(response.headers["content-length"]) > 0
