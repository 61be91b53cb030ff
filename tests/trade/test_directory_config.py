"""The directory's settings and its command's flags and exit statuses."""

from __future__ import annotations

import socket
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

from tests.e2e.test_process import clean_env
from tokligence.cli import _build_parser, _load
from tokligence.config import Config, ConfigError, load_config

OFFER = {
    "TOKLIGENCE_TRADE_OFFER_FAST_MODELS": "gpt-4o-mini",
    "TOKLIGENCE_TRADE_OFFER_FAST_PROVIDER": "loopback",
    "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": "2.50",
    "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT": "10",
}


def load(tmp_path: Path, env: Mapping[str, str]) -> Config:
    return load_config(env=env, flags={}, cwd=tmp_path, user_config_dir=tmp_path / "user")


def test_the_defaults(tmp_path: Path) -> None:
    config = load(tmp_path, {})
    assert config.trade_directory_url == config.trade_public_url == ""
    assert (config.trade_directory_host, config.trade_directory_port) == ("127.0.0.1", 8090)
    assert (config.trade_directory_ttl, config.trade_directory_clock_skew) == (90.0, 300.0)


def test_a_seller_with_a_directory_needs_its_public_url(tmp_path: Path) -> None:
    directory = {"TOKLIGENCE_TRADE_DIRECTORY_URL": "http://127.0.0.1:8090"}
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, OFFER | directory)
    assert "set trade_public_url (TOKLIGENCE_TRADE_PUBLIC_URL)" in str(refused.value)
    public = {"TOKLIGENCE_TRADE_PUBLIC_URL": "https://seller.example:8443/gateway"}
    assert load(tmp_path, OFFER | directory | public).trade_public_url.endswith("/gateway")
    assert load(tmp_path, directory).trade_directory_url  # a buyer's: no public URL needed


@pytest.mark.parametrize(
    "url",
    [
        "127.0.0.1:8090",
        "ftp://127.0.0.1/",
        "http://",
        "http://me@127.0.0.1:8090",
        "http://127.0.0.1:8090/?x=1",
        "http://127.0.0.1:8090/#top",
        "http://127.0.0.1:99999",
        "http://127.0.0.1:8090/a b",
    ],
)
def test_a_url_setting_must_be_a_plain_http_url(tmp_path: Path, url: str) -> None:
    for name in ("TOKLIGENCE_TRADE_DIRECTORY_URL", "TOKLIGENCE_TRADE_PUBLIC_URL"):
        with pytest.raises(ConfigError) as refused:
            load(tmp_path, {name: url})
        assert f"env {name}): not an http:// or https:// URL" in str(refused.value)


def test_the_ttl_has_a_floor(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        load(tmp_path, {"TOKLIGENCE_TRADE_DIRECTORY_TTL": "0.5"})


def test_the_directorys_host_and_port_flags_are_its_own(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "cfg"))
    args = _build_parser().parse_args(
        ["trade", "directory", "--host", "127.0.0.2", "--port", "9999", "--data-dir", "d"]
    )
    config = _load(args)
    assert (config.trade_directory_host, config.trade_directory_port) == ("127.0.0.2", 9999)
    assert (config.host, config.facade_port) == ("127.0.0.1", 8081)  # the gateway's: untouched
    assert config.data_dir == tmp_path / "d"


def run_directory(
    tmp_path: Path, *args: str, env: Mapping[str, str] = {}
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "tokligence",
            "trade",
            "directory",
            "--data-dir",
            str(tmp_path),
            *args,
        ],
        cwd=tmp_path,
        env=clean_env(tmp_path) | dict(env),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_port_in_use_is_exit_status_2_naming_the_fix(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_directory(tmp_path, "--port", str(port))
    assert done.returncode == 2, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port or TOKLIGENCE_TRADE_DIRECTORY_PORT" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_configuration_error_is_exit_status_2(tmp_path: Path) -> None:
    done = run_directory(tmp_path, env={"TOKLIGENCE_TRADE_DIRECTORY_TTL": "soon"})
    assert done.returncode == 2
    assert "configuration error: trade_directory_ttl" in done.stderr


def test_peer_auto_needs_a_directory_and_exists_only_when_routed(tmp_path: Path) -> None:
    from tokligence.app import build_upstreams
    from tokligence.routing.table import provider_names

    routes = {"TOKLIGENCE_ROUTES": "gpt-4o*=>peer:auto|loopback"}
    with pytest.raises(ConfigError) as refused:
        load(tmp_path, routes)
    (line,) = str(refused.value).splitlines()
    assert "route 'gpt-4o*' names peer:auto" in line
    assert "set trade_directory_url (TOKLIGENCE_TRADE_DIRECTORY_URL)" in line
    with pytest.raises(ConfigError, match="fallback_adapter names peer:auto"):
        load(tmp_path, {"TOKLIGENCE_FALLBACK_ADAPTER": "peer:auto"})

    directory = {"TOKLIGENCE_TRADE_DIRECTORY_URL": "http://127.0.0.1:9"}
    buyer = load(tmp_path, routes | directory)
    assert buyer.buys_auto and buyer.trading
    assert "peer:auto" in provider_names(buyer)
    assert "peer:auto" in build_upstreams(buyer)
    # A directory alone buys nothing: no trading, no peer:auto.
    plain = load(tmp_path, directory)
    assert not plain.buys_auto and not plain.trading
    assert "peer:auto" not in provider_names(plain)


def test_no_peer_may_be_named_auto(tmp_path: Path) -> None:
    peer = {
        "TOKLIGENCE_TRADE_PEER_AUTO_URL": "http://127.0.0.1:8082",
        "TOKLIGENCE_TRADE_PEER_AUTO_PUBLIC_ID": "ed25519:" + "A" * 43,
    }
    with pytest.raises(ConfigError, match="peer name 'auto' is reserved"):
        load(tmp_path, peer)
