"""The launcher's fallback when no platform package is installed: download
the release binary from a (local) server, verify its SHA-256, cache it; or
refuse a corrupted one; or explain what to do offline."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tokligence import __version__

from .conftest import Tarballs, npm_install
from .tools import Terminal, clean_env, free_port, release_folder, static_server, sums_line

FAKE_BINARY = b'#!/bin/sh\necho "fake gateway $*"\nexit 3\n'


@pytest.fixture(scope="module")
def main_only(tarballs: Tarballs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """@tokligence/gateway installed offline without any platform package."""
    folder = tmp_path_factory.mktemp("npm-main-only") / "app"
    result = npm_install(folder, tarballs.main)
    assert result.returncode == 0, result.stdout + result.stderr
    assert not (folder / "node_modules" / "@tokligence" / f"gateway-{tarballs.key}").exists()
    return folder / "node_modules" / ".bin" / "tokligence"


def run(launcher: Path, tmp: Path, base_url: str) -> subprocess.CompletedProcess[str]:
    env = clean_env(tmp, {"TOKLIGENCE_DOWNLOAD_BASE_URL": base_url})
    return subprocess.run(
        [str(launcher), "--port", "1"], env=env, capture_output=True, text=True, timeout=60
    )


def cached(tmp: Path, key: str) -> Path:
    return tmp / "cache" / "tokligence" / __version__ / f"tokligence-{key}"


def test_good_checksum_installs_caches_and_runs_offline_afterwards(
    main_only: Path, tarballs: Tarballs, tmp_path: Path
) -> None:
    asset = f"tokligence-{tarballs.key}"
    sums = sums_line("tokligence-win32-x64.exe", b"other") + sums_line(asset, FAKE_BINARY)
    release_folder(tmp_path / "www", __version__, {asset: FAKE_BINARY}, sums)
    with static_server(tmp_path / "www") as base:
        result = run(main_only, tmp_path, base + "/")
    assert result.returncode == 3, result.stderr  # the binary's own exit code
    assert result.stdout == "fake gateway --port 1\n"
    assert f"downloading {asset} {__version__}" in result.stderr
    binary = cached(tmp_path, tarballs.key)
    assert binary.read_bytes() == FAKE_BINARY and os.access(binary, os.X_OK)
    # The server is gone: the cached binary runs without it.
    again = run(main_only, tmp_path, f"http://127.0.0.1:{free_port()}")
    assert (again.returncode, again.stdout) == (3, "fake gateway --port 1\n")
    assert "downloading" not in again.stderr


@pytest.mark.parametrize("sums", ["wrong", "missing"])
def test_a_corrupted_binary_is_refused_and_not_cached(
    main_only: Path, tarballs: Tarballs, tmp_path: Path, sums: str
) -> None:
    asset = f"tokligence-{tarballs.key}"
    corrupted = FAKE_BINARY.replace(b"exit 3", b"exit 0")
    text = sums_line(asset, FAKE_BINARY) if sums == "wrong" else sums_line("other", FAKE_BINARY)
    release_folder(tmp_path / "www", __version__, {asset: corrupted}, text)
    with static_server(tmp_path / "www") as base:
        result = run(main_only, tmp_path, base)
    assert result.returncode == 1
    assert result.stdout == ""
    expected = "checksum mismatch" if sums == "wrong" else f"lists no checksum for {asset}"
    assert expected in result.stderr and "refusing to run it" in result.stderr
    folder = cached(tmp_path, tarballs.key).parent
    assert not folder.exists() or list(folder.iterdir()) == []


def test_offline_without_platform_package_says_what_to_do(
    main_only: Path, tarballs: Tarballs, tmp_path: Path
) -> None:
    result = run(main_only, tmp_path, f"http://127.0.0.1:{free_port()}")
    assert result.returncode == 1
    assert "could not download the gateway binary" in result.stderr
    for advice in (
        f"npm install @tokligence/gateway-{tarballs.key}",
        "TOKLIGENCE_DOWNLOAD_BASE_URL",
        str(cached(tmp_path, tarballs.key)),
        "pip install tokligence",
    ):
        assert advice in result.stderr


def test_progress_bar_on_a_terminal(main_only: Path, tarballs: Tarballs, tmp_path: Path) -> None:
    asset = f"tokligence-{tarballs.key}"
    big = FAKE_BINARY + b"#" * 3_000_000  # several chunks, so the bar moves
    release_folder(tmp_path / "www", __version__, {asset: big}, sums_line(asset, big))
    with static_server(tmp_path / "www") as base:
        env = clean_env(tmp_path, {"TOKLIGENCE_DOWNLOAD_BASE_URL": base})
        terminal = Terminal([str(main_only), "--port", "1"], env)
        status = terminal.wait()
    output = terminal.output
    text = output.decode()
    assert status == 3, text
    assert f"\rdownloading {asset} {__version__} [" in text
    assert "100% 3.0/3.0 MB" in text
    assert "fake gateway --port 1" in text


def test_the_fallback_installs_the_release_single_file_binary(
    main_only: Path, tarballs: Tarballs, binary: Path, tmp_path: Path
) -> None:
    # The platform packages carry the onedir folder; the release assets (and
    # so this fallback) stay the single-file binary.
    data = binary.read_bytes()
    release_folder(tmp_path / "www", __version__, {binary.name: data}, sums_line(binary.name, data))
    with static_server(tmp_path / "www") as base:
        env = clean_env(tmp_path, {"TOKLIGENCE_DOWNLOAD_BASE_URL": base})
        result = subprocess.run(
            [str(main_only), "--version"], env=env, capture_output=True, text=True, timeout=60
        )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tokligence {__version__}"
    assert cached(tmp_path, tarballs.key).read_bytes() == data
