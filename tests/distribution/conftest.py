"""Session fixtures: the frozen builds (the single-file binary and the onedir
folder, built once together, or reused when dist/ holds them of the current
source), the npm tarballs and an offline install of them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokligence import __version__

from .tools import ROOT, clean_env, kill_all, npm, run_build


@pytest.fixture
def tmp(tmp_path: Path) -> Iterator[Path]:
    """A test's folder; every process whose command line names it is killed
    afterwards (the data dir or the folder's path marks our processes)."""
    yield tmp_path
    kill_all(str(tmp_path))


@dataclass(frozen=True, kw_only=True)
class Tarballs:
    main: Path
    platform: Path
    key: str


def _platform_key() -> str:
    name = run_build("build/freeze", "--print-name").strip()
    return name.removeprefix("tokligence-").removesuffix(".exe")


@pytest.fixture(scope="session")
def binary() -> Path:
    """dist/tokligence-<os>-<cpu>, built by build/freeze if stale."""
    if not sys.platform.startswith("linux"):
        pytest.fail("the distribution tests drive Linux processes", pytrace=False)
    run_build("build/freeze", "--if-stale")
    path = ROOT / "dist" / run_build("build/freeze", "--print-name").strip()
    stamp = json.loads(path.with_name(path.name + ".json").read_text())
    assert stamp["version"] == __version__
    return path


@pytest.fixture(scope="session")
def onedir(binary: Path) -> Path:
    """dist/tokligence-<os>-<cpu>-dir/, built by build/freeze with the binary."""
    folder = ROOT / "dist" / run_build("build/freeze", "--print-dir-name").strip()
    stamp = json.loads(folder.with_name(folder.name + ".json").read_text())
    assert stamp["version"] == __version__ and stamp["kind"] == "onedir"
    return folder


@pytest.fixture(scope="session")
def tarballs(onedir: Path, tmp_path_factory: pytest.TempPathFactory) -> Tarballs:
    out = tmp_path_factory.mktemp("npm-tarballs")
    run_build("build/pack-npm", "--out", str(out))
    key = _platform_key()
    return Tarballs(
        main=out / f"tokligence-gateway-{__version__}.tgz",
        platform=out / f"tokligence-gateway-{key}-{__version__}.tgz",
        key=key,
    )


def npm_install(folder: Path, *tarballs: Path) -> subprocess.CompletedProcess[str]:
    """``npm install`` of local tarballs into an empty folder, with no
    registry reachable (a bogus registry and --offline)."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "package.json").write_text('{"private": true}\n')
    return subprocess.run(
        [npm(), "install", "--offline", "--no-audit", "--no-fund", *map(str, tarballs)],
        cwd=folder,
        env=clean_env(folder.parent / f"{folder.name}-env"),
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.fixture(scope="session")
def npm_prefix(tarballs: Tarballs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder with @tokligence/gateway and this platform's package installed."""
    folder = tmp_path_factory.mktemp("npm-install") / "app"
    result = npm_install(folder, tarballs.main, tarballs.platform)
    assert result.returncode == 0, result.stdout + result.stderr
    return folder
