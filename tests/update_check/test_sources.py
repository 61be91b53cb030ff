"""Which registry each kind of installation asks, from its own configuration."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tokligence.update.sources import (
    DOWNLOAD_BASE_ENV,
    INSTALLED_BY_ENV,
    NPM_REGISTRY_ENV,
    RELEASE_FEED,
    CannotCheck,
    install_kind,
    pip_index,
    public_url,
    query_for,
)

ROOT = Path(__file__).resolve().parents[2]
LAUNCHER = ROOT / "npm-wrapper" / "gateway" / "lib" / "launcher.js"


@pytest.fixture
def pip_config(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """pip reads only this file (no user files, no PIP_* settings of the machine's)."""
    for name in list(os.environ):
        if name.startswith("PIP_"):
            monkeypatch.delenv(name)
    path = tmp_path / "pip.conf"
    path.write_text("")
    monkeypatch.setenv("PIP_CONFIG_FILE", str(path))
    return path


@pytest.mark.parametrize(
    ("environ", "frozen", "kind"),
    [
        ({}, False, "pip"),
        ({}, True, "binary"),
        ({INSTALLED_BY_ENV: "npm"}, True, "npm"),
        ({INSTALLED_BY_ENV: "npx"}, True, "npx"),
        ({INSTALLED_BY_ENV: "npx"}, False, "npx"),
        ({INSTALLED_BY_ENV: "something else"}, False, "pip"),
    ],
)
def test_install_kind(environ: dict[str, str], frozen: bool, kind: str) -> None:
    assert install_kind(environ, frozen=frozen) == kind


def test_pip_index_from_pip_index_url(pip_config: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    pip_config.write_text("[global]\nindex-url = http://127.0.0.1:1/from-file/\n")
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:1/from-env/")
    assert pip_index() == "http://127.0.0.1:1/from-env/"


def test_pip_index_from_pip_config_install_section_first(pip_config: Path) -> None:
    pip_config.write_text(
        "[global]\nindex-url = http://127.0.0.1:1/global/\n"
        "[install]\nindex-url = http://127.0.0.1:1/install/\n"
    )
    assert pip_index() == "http://127.0.0.1:1/install/"
    pip_config.write_text("[global]\nindex_url = http://127.0.0.1:1/global/\n")
    assert pip_index() == "http://127.0.0.1:1/global/"


def test_pip_index_default_is_pips_own(pip_config: Path) -> None:
    pip_index_module = pytest.importorskip("pip._internal.models.index")
    # pip also reads the machine's global files; this machine's set no index-url.
    assert pip_index() == pip_index_module.PyPI.simple_url


async def test_pip_query_asks_the_simple_api_in_json(pip_config: Path) -> None:
    pip_config.write_text("[global]\nindex-url = https://u:secret@127.0.0.1:1/simple?t=1#f\n")
    query = await query_for("pip", {})
    assert query.url == "https://127.0.0.1:1/simple/tokligence/"
    assert query.accept == "application/vnd.pypi.simple.v1+json"
    assert query.upgrade == "pip install --upgrade tokligence"


async def test_npm_registry_from_the_launcher() -> None:
    query = await query_for("npx", {NPM_REGISTRY_ENV: "http://127.0.0.1:1/npm/"})
    assert query.url == "http://127.0.0.1:1/npm/@tokligence%2fgateway"
    assert query.upgrade == "npx @tokligence/gateway@latest"


@pytest.mark.skipif(sys.platform == "win32", reason="a shell script stands in for npm")
@pytest.mark.parametrize(
    ("printed", "registry"),
    [
        ("registry=http://127.0.0.1:1/plain/\n@tokligence:registry=undefined\n", "plain"),
        ("registry=http://127.0.0.1:1/plain/\n@tokligence:registry=http://127.0.0.1:1/s/\n", "s"),
    ],
)
async def test_npm_registry_from_npm_config(tmp_path: Path, printed: str, registry: str) -> None:
    npm = tmp_path / "npm"
    npm.write_text(f"#!/bin/sh\necho \"$@\" > {tmp_path / 'args'}\nprintf '%s' '{printed}'\n")
    npm.chmod(0o755)
    query = await query_for("npm", {"PATH": str(tmp_path)})
    assert query.url == f"http://127.0.0.1:1/{registry}/@tokligence%2fgateway"
    assert query.upgrade == "npm install --global @tokligence/gateway@latest"
    assert (tmp_path / "args").read_text().split() == [
        "config",
        "get",
        "@tokligence:registry",
        "registry",
    ]


async def test_no_npm_no_check(tmp_path: Path) -> None:
    with pytest.raises(CannotCheck, match="npm is not on PATH"):
        await query_for("npm", {"PATH": str(tmp_path)})


async def test_binary_asks_its_release_feed() -> None:
    query = await query_for("binary", {})
    assert query.url == RELEASE_FEED + "/latest"
    assert query.redirect_is_answer
    mirror = await query_for("binary", {DOWNLOAD_BASE_ENV: "http://127.0.0.1:1/mirror/"})
    assert mirror.url == "http://127.0.0.1:1/mirror/latest"


async def test_the_override_replaces_the_registry_not_the_question() -> None:
    for kind, tail in (("pip", "/tokligence/"), ("npm", "/@tokligence%2fgateway")):
        query = await query_for(kind, {}, override="http://127.0.0.1:1/x")
        assert query.url == "http://127.0.0.1:1/x" + tail
    query = await query_for("binary", {DOWNLOAD_BASE_ENV: "http://no"}, override="http://h:1/f")
    assert query.url == "http://h:1/f/latest"


@pytest.mark.parametrize("url", ["file:///srv/simple", "ftp://127.0.0.1/", "http://h:port/"])
async def test_only_http_is_asked(url: str) -> None:
    with pytest.raises(CannotCheck):
        await query_for("pip", {}, override=url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pw@h.example:8443/simple/?token=1#x", "https://h.example:8443/simple/"),
        ("http://[::1]:8080/a", "http://[::1]:8080/a"),
        ("http://h/a", "http://h/a"),
    ],
)
def test_public_url(url: str, shown: str) -> None:
    assert public_url(url) == shown


def test_the_release_feed_is_the_one_the_installers_and_launcher_use() -> None:
    sources = {
        "download.js": (ROOT / "npm-wrapper/gateway/lib/download.js", r'DEFAULT_BASE_URL = "(.+)"'),
        "install.sh": (ROOT / "installers/install.sh", r'DEFAULT_BASE_URL="(.+)"'),
        "install.ps1": (ROOT / "installers/install.ps1", r"\$defaultBase = '(.+)'"),
    }
    for name, (path, pattern) in sources.items():
        found = re.search(pattern, path.read_text(encoding="utf-8"))
        assert found is not None and found.group(1) == RELEASE_FEED, name


@pytest.mark.skipif(
    shutil.which("node") is None or sys.platform == "win32", reason="needs node and a shebang"
)
@pytest.mark.parametrize(
    ("npm_env", "expected"),
    [
        ({"npm_command": "exec", "npm_config_registry": "http://127.0.0.1:1/r/"},
         {"TOKLIGENCE_INSTALLED_BY": "npx", "TOKLIGENCE_NPM_REGISTRY": "http://127.0.0.1:1/r/"}),
        ({}, {"TOKLIGENCE_INSTALLED_BY": "npm"}),
    ],
)  # fmt: skip
def test_the_npm_launcher_tells_the_gateway(
    tmp_path: Path, npm_env: dict[str, str], expected: dict[str, str]
) -> None:
    """The launcher runs the binary with these variables (here the binary
    is a script that prints its environment)."""
    binary = tmp_path / "gateway"
    binary.write_text(
        f"#!{sys.executable}\nimport json, os\n"
        "print(json.dumps({k: v for k, v in os.environ.items() if k.startswith('TOKLIGENCE_')}))\n"
    )
    binary.chmod(0o755)
    script = (
        f"require({json.dumps(str(LAUNCHER))}).run({json.dumps(str(binary))}, 'tokligence', [])"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("npm_", "TOKLIGENCE_"))}
    done = subprocess.run(
        ["node", "-e", script], env=env | npm_env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    seen = json.loads(done.stdout)
    seen.pop("TOKLIGENCE_LAUNCHER_PID")
    assert seen == expected
