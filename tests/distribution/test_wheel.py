"""The Python package: a pure wheel and an sdist that install with no index
from a local wheelhouse into a fresh venv, and with pipx and uv tool."""

from __future__ import annotations

import signal
import subprocess
import sys
import tarfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

import pytest

from tokligence import __version__

from .tools import ROOT, clean_env, free_port, wait_healthy

BIN = "Scripts" if sys.platform == "win32" else "bin"
TIMEOUT = 600


@dataclass(frozen=True, kw_only=True)
class Built:
    wheel: Path
    sdist: Path
    wheelhouse: Path
    tools: Path  # a venv with build, pipx and uv


def run(*command: str | Path, env: dict[str, str] | None = None) -> str:
    result = subprocess.run(
        [str(c) for c in command], capture_output=True, text=True, timeout=TIMEOUT, env=env
    )
    assert result.returncode == 0, f"{command}:\n{result.stdout}\n{result.stderr}"
    return result.stdout


def offline(tmp: Path) -> dict[str, str]:
    """No pip configuration of this machine's (its extra indexes and wheel
    folders): only what the command line names."""
    return clean_env(tmp, {"PIP_CONFIG_FILE": "/dev/null", "UV_NO_CONFIG": "1"})


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Built:
    tmp = tmp_path_factory.mktemp("wheel")
    tools = tmp / "tools"
    run(sys.executable, "-m", "venv", tools)
    # From the package registry: the build front-end and the two tool installers.
    run(tools / BIN / "python", "-m", "pip", "install", "-q", "build", "pipx", "uv")
    out = tmp / "out"
    # sdist first, then the wheel built from the sdist (what PyPI users get).
    run(tools / BIN / "python", "-m", "build", "--outdir", out, ROOT)
    wheel = out / f"tokligence-{__version__}-py3-none-any.whl"
    sdist = out / f"tokligence-{__version__}.tar.gz"
    wheelhouse = tmp / "wheelhouse"
    # The runtime dependencies, from the registry, as wheels.
    run(tools / BIN / "python", "-m", "pip", "wheel", "-q", "--wheel-dir", wheelhouse, wheel)
    return Built(wheel=wheel, sdist=sdist, wheelhouse=wheelhouse, tools=tools)


# The web console's static files (served from the package, no build step).
CONSOLE_FILES = sorted(
    path.relative_to(ROOT).as_posix()
    for path in (ROOT / "tokligence" / "console" / "static").iterdir()
    if path.is_file()
)


def test_wheel_is_pure_with_both_scripts_and_the_price_table(built: Built) -> None:
    with zipfile.ZipFile(built.wheel) as wheel:
        names = wheel.namelist()
        info = f"tokligence-{__version__}.dist-info"
        entry_points = wheel.read(f"{info}/entry_points.txt").decode()
        metadata = wheel.read(f"{info}/METADATA").decode()
    assert "tokligence/ledger/prices.json" in names
    assert CONSOLE_FILES and set(CONSOLE_FILES) <= set(names)  # the web console, as it is
    assert "tokligence/lifeline.py" in names
    assert {n.split("/")[0] for n in names} == {"tokligence", info}
    assert "tokligence = tokligence.cli:main" in entry_points
    assert "gatewayd = tokligence.cli:gatewayd_main" in entry_points
    assert "Requires-Python: >=3.10" in metadata


def test_sdist_carries_the_sources_and_no_build_output(built: Built) -> None:
    with tarfile.open(built.sdist) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
    assert {"pyproject.toml", "README.md", "tokligence/ledger/prices.json"} <= names
    assert "tokligence/cli.py" in names
    assert not {n for n in names if n.startswith(("tests/", "dist/", ".venv/", "build/", "npm-"))}
    # Nor the npm side's workspace root.
    assert not {n for n in names if n.startswith(("package.json", ".npmrc", "node_modules/"))}


def serve_and_stop(command: list[str], tmp: Path) -> None:
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(tmp / "data")],
        env=clean_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        health = wait_healthy(process, port)
        assert health["status"] == "ok" and health["version"] == __version__
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=30)
        assert process.returncode == 0, stderr
    finally:
        if process.poll() is None:
            process.kill()


def test_installs_from_a_local_wheelhouse_with_no_index_and_serves(
    built: Built, tmp_path: Path
) -> None:
    venv = tmp_path / "venv"
    run(sys.executable, "-m", "venv", venv)
    run(
        venv / BIN / "python",
        "-m",
        "pip",
        "install",
        "-q",
        "--no-index",
        "--find-links",
        built.wheelhouse,
        built.wheel,
        env=offline(tmp_path),
    )
    assert run(venv / BIN / "gatewayd", "--version").strip() == f"tokligence {__version__}"
    serve_and_stop([str(venv / BIN / "tokligence")], tmp_path)


def test_uv_tool_install(built: Built, tmp_path: Path) -> None:
    env = offline(tmp_path)
    env.update(UV_TOOL_DIR=str(tmp_path / "uv-tools"), UV_TOOL_BIN_DIR=str(tmp_path / "uv-bin"))
    env.update(UV_CACHE_DIR=str(tmp_path / "uv-cache"), UV_PYTHON_DOWNLOADS="never")
    uv = built.tools / BIN / "uv"
    run(
        uv,
        "tool",
        "install",
        "--offline",
        "--no-index",
        "--find-links",
        built.wheelhouse,
        "--python",
        sys.executable,
        built.wheel,
        env=env,
    )
    serve_and_stop([str(tmp_path / "uv-bin" / "tokligence")], tmp_path)


def test_pipx_install(built: Built, tmp_path: Path) -> None:
    env = offline(tmp_path)
    env.update(PIPX_HOME=str(tmp_path / "pipx"), PIPX_BIN_DIR=str(tmp_path / "pipx-bin"))
    run(
        built.tools / BIN / "pipx",
        "install",
        "--python",
        sys.executable,
        "--pip-args",
        f"--no-index --find-links {built.wheelhouse}",
        built.wheel,
        env=env,
    )
    assert (
        run(tmp_path / "pipx-bin" / "gatewayd", "--version").strip() == f"tokligence {__version__}"
    )
    serve_and_stop([str(tmp_path / "pipx-bin" / "tokligence")], tmp_path)
