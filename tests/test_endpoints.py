"""The endpoint table: exact paths, ids, prefixes, 404 and 405 with Allow,
and per-listener keys (a path served under another key is a 404 here)."""

from __future__ import annotations

import pytest

from tokligence.endpoints import ENDPOINT_KEYS, EndpointTable
from tokligence.errors import GatewayError

ALL = EndpointTable(ENDPOINT_KEYS)


@pytest.mark.parametrize(
    ("method", "path", "action", "path_id"),
    [
        ("POST", "/v1/chat/completions", "chat", ""),
        ("POST", "/v1/chat/completions/", "chat", ""),  # a trailing slash is tolerated
        ("POST", "/v1/embeddings", "embeddings", ""),
        ("GET", "/v1/models", "models", ""),
        ("HEAD", "/v1/models", "models", ""),  # HEAD is served where GET is
        ("POST", "/v1/responses", "responses", ""),
        ("GET", "/v1/responses/resp_123", "responses_get", "resp_123"),
        ("DELETE", "/v1/responses/resp_123", "responses_delete", "resp_123"),
        ("GET", "/v1/responses/resp_123/input_items", "responses_input_items", "resp_123"),
        ("GET", "/v1/models/loopback", "model_get", "loopback"),
        ("GET", "/v1/models/vendor/some-model", "model_get", "vendor/some-model"),
        ("POST", "/v1/messages", "messages", ""),
        ("POST", "/anthropic/v1/messages", "messages", ""),
        ("POST", "/v1/messages/count_tokens", "count_tokens", ""),
        ("POST", "/anthropic/v1/messages/count_tokens", "count_tokens", ""),
        ("GET", "/health", "health", ""),
        ("DELETE", "/api/v1/admin/users/7", "admin", "users/7"),
    ],
)
def test_each_route_is_found(method: str, path: str, action: str, path_id: str) -> None:
    match = ALL.match(method, path)
    assert match.endpoint.action == action
    assert match.path_id == path_id


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v1/chat/completions", "POST"),
        ("POST", "/v1/models", "GET"),
        ("POST", "/health", "GET"),
        ("PATCH", "/v1/responses/resp_1", "DELETE, GET"),
        ("POST", "/v1/models/loopback", "GET"),
    ],
)
def test_a_wrong_method_is_405_with_allow(method: str, path: str, allow: str) -> None:
    with pytest.raises(GatewayError) as caught:
        ALL.match(method, path)
    assert caught.value.kind == "method_not_allowed"
    assert dict(caught.value.headers)["allow"] == allow


@pytest.mark.parametrize(
    "path",
    [
        "/v1/chat",
        "/v1/responsesx",
        "/v1/responses/a/b",
        "/v1/responses//input_items",
        "/v2/messages",
        "/",
    ],
)
def test_an_unknown_path_is_404(path: str) -> None:
    with pytest.raises(GatewayError) as caught:
        ALL.match("POST", path)
    assert caught.value.kind == "not_found"


def test_a_listener_serves_only_its_keys() -> None:
    anthropic_only = EndpointTable(["anthropic"])
    assert anthropic_only.match("POST", "/v1/messages").endpoint.action == "messages"
    for method, path in (("POST", "/v1/chat/completions"), ("GET", "/health")):
        with pytest.raises(GatewayError) as caught:
            anthropic_only.match(method, path)
        assert caught.value.kind == "not_found"
