"""installers/install.sh against a release served from 127.0.0.1: it installs
the verified binary with a gatewayd link, and installs nothing when the
checksum does not match."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from tokligence import __version__

from .conftest import Tarballs
from .tools import ROOT, clean_env, free_port, release_folder, static_server, sums_line

INSTALL_SH = ROOT / "installers" / "install.sh"


def install(tmp: Path, base_url: str, version: str | None) -> subprocess.CompletedProcess[str]:
    extra = {"TOKLIGENCE_DOWNLOAD_BASE_URL": base_url, "TOKLIGENCE_INSTALL_DIR": str(tmp / "bin")}
    if version is not None:
        extra["TOKLIGENCE_VERSION"] = version
    return subprocess.run(
        ["sh", str(INSTALL_SH)],
        env=clean_env(tmp, extra),
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("version", [__version__, f"v{__version__}", None])
def test_installs_the_verified_binary_and_says_what_next(
    binary: Path, tarballs: Tarballs, tmp_path: Path, version: str | None
) -> None:
    asset = f"tokligence-{tarballs.key}"
    data = binary.read_bytes()
    sums = sums_line("tokligence-darwin-arm64", b"another") + sums_line(asset, data)
    release_folder(tmp_path / "www", __version__, {asset: data}, sums)
    release_folder(tmp_path / "www", None, {asset: data}, sums)  # the latest release
    with static_server(tmp_path / "www") as base:
        result = install(tmp_path, base, version)
    assert result.returncode == 0, result.stdout + result.stderr
    installed = tmp_path / "bin" / "tokligence"
    assert installed.read_bytes() == data and os.access(installed, os.X_OK)
    assert os.readlink(tmp_path / "bin" / "gatewayd") == "tokligence"
    assert f"Installed tokligence {__version__}" in result.stdout
    assert (
        "Next steps:" in result.stdout and f"add {tmp_path / 'bin'} to your PATH" in result.stdout
    )
    gatewayd = subprocess.run(
        [str(tmp_path / "bin" / "gatewayd"), "--help"],
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert gatewayd.stdout.startswith("usage: gatewayd"), gatewayd.stderr


@pytest.mark.parametrize("case", ["wrong", "missing"])
def test_a_corrupted_checksum_installs_nothing(
    tarballs: Tarballs, tmp_path: Path, case: str
) -> None:
    asset = f"tokligence-{tarballs.key}"
    good = b"#!/bin/sh\necho tokligence 0\n"
    served = good + b"# flipped\n"
    sums = sums_line(asset, good) if case == "wrong" else sums_line("other", good)
    release_folder(tmp_path / "www", __version__, {asset: served}, sums)
    with static_server(tmp_path / "www") as base:
        result = install(tmp_path, base, __version__)
    assert result.returncode == 1
    expected = "checksum mismatch" if case == "wrong" else f"lists no checksum for {asset}"
    assert expected in result.stderr and "nothing installed" in result.stderr
    assert not (tmp_path / "bin").exists()


def test_offline_says_which_url_failed(tmp_path: Path) -> None:
    base = f"http://127.0.0.1:{free_port()}"
    result = install(tmp_path, base, __version__)
    assert result.returncode == 1
    assert f"could not download {base}/download/v{__version__}/SHA256SUMS" in result.stderr
    assert not (tmp_path / "bin").exists()
