"""Parser limits are explicit settings, checked before anything else runs,
and answered with a 400 in the client's own envelope: nesting depth,
integer length, NaN/Infinity and numbers past the float range."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.wire.json_body import JsonLimits, load_object

ENDPOINTS = {
    "chat": "/v1/chat/completions",
    "responses": "/v1/responses",
    "messages": "/v1/messages",
    "count_tokens": "/v1/messages/count_tokens",
    "embeddings": "/v1/embeddings",
}
ANTHROPIC = ("messages", "count_tokens")

# (id, body, the error code)
BOMBS = [
    ("deep-objects", b'{"a":' * 100_000 + b"1" + b"}" * 100_000, "json_too_deep"),
    ("deep-arrays", b'{"model":"loopback","x":' + b"[" * 600 + b"]" * 600 + b"}", "json_too_deep"),
    ("long-integer", b'{"model":"loopback","max_tokens":' + b"9" * 5000 + b"}", None),
    ("integer-past-limit", b'{"model":"loopback","seed":' + b"1" * 65 + b"}", None),
    ("nan", b'{"model":"loopback","temperature":NaN}', "json_nonfinite_number"),
    ("infinity", b'{"model":"loopback","temperature":Infinity}', "json_nonfinite_number"),
    ("minus-infinity", b'{"model":"loopback","top_p":-Infinity}', "json_nonfinite_number"),
    ("overflow", b'{"model":"loopback","temperature":1e999}', "json_number_out_of_range"),
]


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    with GatewayThread(isolated_config(tmp_path_factory.mktemp("limits"))) as running:
        yield running


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
@pytest.mark.parametrize(("name", "body", "code"), BOMBS, ids=[b[0] for b in BOMBS])
def test_a_body_past_the_limits_is_a_400_in_the_clients_envelope(
    gateway: GatewayThread, endpoint: str, name: str, body: bytes, code: str | None
) -> None:
    reply = httpx.post(
        gateway.url() + ENDPOINTS[endpoint],
        content=body,
        headers={"content-type": "application/json", "anthropic-version": "2023-06-01"},
        timeout=30,
    )
    assert reply.status_code == 400, reply.text
    payload = reply.json()
    if endpoint in ANTHROPIC:
        assert payload["type"] == "error"
        assert payload["error"]["type"] == "invalid_request_error"
    else:
        assert payload["error"]["type"] == "invalid_request_error"
        if code is not None:
            assert payload["error"]["code"] == code
    assert httpx.get(gateway.url() + "/health", timeout=10).status_code == 200


def test_the_limits_are_settings(tmp_path: Path) -> None:
    config = isolated_config(
        tmp_path,
        env={
            "TOKLIGENCE_MAX_JSON_DEPTH": "3",
            "TOKLIGENCE_MAX_JSON_INTEGER_DIGITS": "3",
            "TOKLIGENCE_JSON_ALLOW_NONFINITE": "true",
        },
    )
    chat = '{"model":"loopback","messages":[{"role":"user","content":"hi"}]'
    with GatewayThread(config) as running:
        url = running.url() + ENDPOINTS["chat"]
        deep = httpx.post(url, content=chat + ',"metadata":{"a":{"b":{"c":1}}}}', timeout=10)
        assert deep.json()["error"]["code"] == "json_too_deep"
        assert httpx.post(url, content=chat + ',"max_tokens":1000}', timeout=10).status_code == 400
        assert httpx.post(url, content=chat + ',"max_tokens":100}', timeout=10).status_code == 200


def test_limits_at_the_boundary() -> None:
    limits = JsonLimits(max_depth=3, max_integer_digits=2)
    assert load_object(b'{"a":[{"b":99}]}', limits) == {"a": [{"b": 99}]}  # depth 3
    assert load_object(b'{"a":-99}', limits) == {"a": -99}  # the sign is not a digit
    for body in (b'{"a":[{"b":[1]}]}', b'{"a":100}'):
        with pytest.raises(Exception) as refused:
            load_object(body, limits)
        assert getattr(refused.value, "status", None) == 400
    assert load_object(b'{"a":NaN}', JsonLimits(allow_nonfinite=True))["a"] != 0


TEXT = '{"model":"loopback","input":"smile \U0001f600"}'
ASCII = '{"model":"loopback"}'


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (TEXT.encode("utf-16"), "not valid UTF-8"),
        (TEXT.encode("utf-16-le"), "not valid UTF-8"),  # the emoji's surrogates are not UTF-8
        (TEXT.encode("utf-32"), "not valid UTF-8"),
        # ASCII in UTF-16 or UTF-32 without a byte order mark is valid UTF-8 with NULs
        (ASCII.encode("utf-16-le"), "NUL bytes"),
        (ASCII.encode("utf-32-be"), "NUL bytes"),
    ],
    ids=["utf16-bom", "utf16le", "utf32-bom", "ascii-utf16le", "ascii-utf32be"],
)
def test_a_body_must_be_utf8(body: bytes, fragment: str) -> None:
    with pytest.raises(Exception) as refused:
        load_object(body)
    assert getattr(refused.value, "status", None) == 400
    assert fragment in str(refused.value)


def test_utf8_with_or_without_a_byte_order_mark_is_read() -> None:
    expected = {"model": "loopback", "input": "smile \U0001f600"}
    assert load_object(TEXT.encode()) == expected
    assert load_object(b"\xef\xbb\xbf" + TEXT.encode()) == expected  # RFC 8259 allows ignoring it


def test_surrogates_encoded_as_utf8_bytes_are_not_utf8() -> None:
    with pytest.raises(Exception) as refused:
        load_object(b'{"model":"\xed\xa0\x80"}')  # CESU-style bytes of U+D800
    assert "not valid UTF-8" in str(refused.value)
