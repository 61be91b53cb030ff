"""The console's static files through a running gateway: where they are
served (the admin endpoint key, without a key even when auth is on, since
they hold no data), with which headers, and nothing else under /console."""

from __future__ import annotations

import http.client
import json
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.test_multiport import free_ports
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.console.files import CONTENT_SECURITY_POLICY, ConsoleFiles, load_assets

STATIC = Path(__file__).resolve().parents[2] / "tokligence" / "console" / "static"


def get(port: int, path: str, headers: dict[str, str] | None = None) -> http.client.HTTPResponse:
    """GET ``path`` exactly as written (no client-side normalisation of ``..``)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path, headers=headers or {})
    response = connection.getresponse()
    response.read()
    connection.close()
    return response


def body(port: int, path: str) -> bytes:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    connection.request("GET", path)
    data = connection.getresponse().read()
    connection.close()
    return data


@pytest.fixture(scope="module")
def auth_on(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    tmp = tmp_path_factory.mktemp("console-files")
    with GatewayThread(isolated_config(tmp, env={"TOKLIGENCE_AUTH_DISABLED": "false"})) as gw:
        yield gw


def test_the_table_holds_exactly_the_static_files() -> None:
    assert set(load_assets()) == {p.name for p in STATIC.iterdir() if p.is_file()}
    assert {"index.html", "app.js", "api.js", "chart.js", "dom.js", "console.css"} <= set(
        load_assets()
    )


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/console", "text/html; charset=utf-8"),
        ("/console/", "text/html; charset=utf-8"),
        ("/console/index.html", "text/html; charset=utf-8"),
        ("/console/app.js", "text/javascript; charset=utf-8"),
        ("/console/console.css", "text/css; charset=utf-8"),
        ("/console/favicon.svg", "image/svg+xml"),
    ],
)
def test_files_are_served_without_a_key_with_strict_headers(
    auth_on: GatewayThread, path: str, content_type: str
) -> None:
    response = get(auth_on.port(), path)
    assert response.status == 200
    assert response.headers["content-type"] == content_type
    assert response.headers["content-security-policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["x-content-type-options"] == "nosniff"
    assert response.headers["referrer-policy"] == "no-referrer"
    assert response.headers["cache-control"] == "no-cache"
    name = path.removeprefix("/console").strip("/") or "index.html"
    assert body(auth_on.port(), path) == (STATIC / name).read_bytes()


def test_the_policy_allows_nothing_inline_and_nothing_from_elsewhere() -> None:
    directives = dict(d.strip().split(" ", 1) for d in CONTENT_SECURITY_POLICY.split(";"))
    assert directives["default-src"] == "'none'"
    assert directives["script-src"] == "'self'"
    assert directives["style-src"] == "'self'"
    assert directives["frame-ancestors"] == "'none'"
    assert "unsafe" not in CONTENT_SECURITY_POLICY and "*" not in CONTENT_SECURITY_POLICY


def test_the_page_itself_has_no_inline_script_or_style() -> None:
    page = (STATIC / "index.html").read_text(encoding="utf-8")
    assert "style=" not in page and "<style" not in page
    assert re.findall(r"<script[^>]*>", page) == ['<script type="module" src="/console/app.js">']
    assert not re.search(r"\son\w+\s*=", page, re.IGNORECASE)  # no onload=…
    scripts = "".join(p.read_text(encoding="utf-8") for p in STATIC.glob("*.js"))
    assert "innerHTML" not in scripts and "insertAdjacentHTML" not in scripts
    assert "eval(" not in scripts and "document.write" not in scripts


def test_the_data_stays_behind_the_admin_key(auth_on: GatewayThread) -> None:
    assert get(auth_on.port(), "/api/v1/admin/usage/series").status == 401
    assert get(auth_on.port(), "/api/v1/admin/config").status == 401


def test_an_unchanged_file_is_revalidated_with_its_etag(auth_on: GatewayThread) -> None:
    first = get(auth_on.port(), "/console/app.js")
    again = get(auth_on.port(), "/console/app.js", {"if-none-match": first.headers["etag"]})
    assert again.status == 304
    assert get(auth_on.port(), "/console/app.js", {"if-none-match": '"other"'}).status == 200


@pytest.mark.parametrize(
    "path",
    [
        "/console/../pyproject.toml",
        "/console/..%2f..%2fpyproject.toml",
        "/console/%2e%2e/%2e%2e/pyproject.toml",
        "/console/../files.py",
        "/console/..%2ffiles.py",
        "/console/static/app.js",
        "/console//etc/passwd",
        "/console/%2fetc%2fpasswd",
        "/console/app.js%00.html",
        "/console/APP.JS",
        "/console/nothing.js",
        "/console/__init__.py",
    ],
)
def test_no_other_file_is_reachable(auth_on: GatewayThread, path: str) -> None:
    response = get(auth_on.port(), path)
    assert response.status == 404, path


def test_other_methods_are_refused(auth_on: GatewayThread) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", auth_on.port(), timeout=10)
    connection.request("POST", "/console/app.js", body=b"x")
    response = connection.getresponse()
    assert response.status == 405
    connection.close()


def test_console_enabled_false_turns_it_off(tmp_path: Path) -> None:
    config = isolated_config(tmp_path, env={"TOKLIGENCE_CONSOLE_ENABLED": "false"})
    with GatewayThread(config) as gateway:
        assert get(gateway.port(), "/console/").status == 404
        assert get(gateway.port(), "/console/app.js").status == 404
        assert get(gateway.port(), "/health").status == 200


def test_multiport_mode_serves_it_on_the_admin_port_only(tmp_path: Path) -> None:
    facade, openai_port, anthropic_port, admin = free_ports(4)
    env = {
        "TOKLIGENCE_MULTIPORT_MODE": "true",
        "TOKLIGENCE_ENABLE_FACADE": "false",
        "TOKLIGENCE_FACADE_PORT": str(facade),
        "TOKLIGENCE_OPENAI_PORT": str(openai_port),
        "TOKLIGENCE_ANTHROPIC_PORT": str(anthropic_port),
        "TOKLIGENCE_ADMIN_PORT": str(admin),
    }
    with GatewayThread(isolated_config(tmp_path, env=env, port=None)) as gateway:
        assert get(gateway.port("admin"), "/console/").status == 200
        assert get(gateway.port("openai"), "/console/").status == 404
        assert get(gateway.port("anthropic"), "/console/app.js").status == 404


def test_files_are_read_once_and_answered_from_memory() -> None:
    files = ConsoleFiles({})
    with pytest.raises(Exception, match="no such console file"):
        files.answer("index.html", None)


def test_the_page_learns_whether_to_ask_for_a_key(auth_on: GatewayThread, tmp_path: Path) -> None:
    assert json.loads(body(auth_on.port(), "/console/session.json")) == {"auth_required": True}
    with GatewayThread(isolated_config(tmp_path)) as open_gateway:
        answer = json.loads(body(open_gateway.port(), "/console/session.json"))
        assert answer == {"auth_required": False}
