"""Multi-port mode: each listener serves only its endpoint keys."""

from __future__ import annotations

import json
import socket
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.gateway_thread import GatewayThread, isolated_config


def free_ports(count: int) -> list[int]:
    """Distinct free ports: all sockets stay bound until every port is
    chosen, so the kernel cannot hand out the same one twice."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for s in sockets:
            s.close()


def free_port() -> int:
    return free_ports(1)[0]


def status(url: str, body: dict[str, object] | None = None) -> int:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers={"content-type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return error.code


CHAT = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
MESSAGES = {"model": "loopback", "max_tokens": 5, "messages": [{"role": "user", "content": "hi"}]}


def test_each_listener_serves_only_its_endpoints(tmp_path: Path) -> None:
    facade, openai_port, anthropic_port, admin = free_ports(4)
    env = {
        "TOKLIGENCE_MULTIPORT_MODE": "true",
        "TOKLIGENCE_FACADE_PORT": str(facade),
        "TOKLIGENCE_OPENAI_PORT": str(openai_port),
        "TOKLIGENCE_ANTHROPIC_PORT": str(anthropic_port),
        "TOKLIGENCE_ADMIN_PORT": str(admin),
    }
    config = isolated_config(tmp_path, env=env, port=None)
    with GatewayThread(config) as gateway:
        names = {b.name for b in gateway.bound}
        assert names == {"gateway", "openai", "anthropic", "admin"}
        openai_url, anthropic_url = gateway.url("openai"), gateway.url("anthropic")
        facade = gateway.url("gateway")
        assert status(openai_url + "/v1/chat/completions", CHAT) == 200
        assert status(openai_url + "/v1/messages", MESSAGES) == 404
        assert status(openai_url + "/v1/responses", {"model": "loopback", "input": "x"}) == 404
        assert status(anthropic_url + "/v1/messages", MESSAGES) == 200
        assert status(anthropic_url + "/v1/chat/completions", CHAT) == 404
        for url in (openai_url, anthropic_url, facade, gateway.url("admin")):
            assert status(url + "/health") == 200
        assert status(facade + "/v1/messages", MESSAGES) == 200
        assert status(facade + "/v1/chat/completions", CHAT) == 200


def test_endpoint_lists_are_configurable(tmp_path: Path) -> None:
    env = {
        "TOKLIGENCE_MULTIPORT_MODE": "true",
        "TOKLIGENCE_ENABLE_FACADE": "false",
        "TOKLIGENCE_OPENAI_PORT": str(free_port()),
        "TOKLIGENCE_OPENAI_ENDPOINTS": "openai_core,responses",
        "TOKLIGENCE_ANTHROPIC_PORT": "0",
        "TOKLIGENCE_ADMIN_PORT": "0",
    }
    with GatewayThread(isolated_config(tmp_path, env=env, port=None)) as gateway:
        assert {b.name for b in gateway.bound} == {"openai"}
        url = gateway.url("openai")
        assert status(url + "/v1/responses", {"model": "loopback", "input": "x"}) == 200
        assert status(url + "/health") == 404


@pytest.mark.parametrize("flag", [{}, {"anthropic_native_enabled": "false"}])
def test_anthropic_native_switch(tmp_path: Path, flag: dict[str, str]) -> None:
    env = {"TOKLIGENCE_ANTHROPIC_NATIVE_ENABLED": flag["anthropic_native_enabled"]} if flag else {}
    with GatewayThread(isolated_config(tmp_path, env=env)) as gateway:
        expected = 404 if flag else 200
        assert status(gateway.url() + "/v1/messages", MESSAGES) == expected
