"""The npm packages, installed from their tarballs with no registry: the
platform package carries the onedir build; the launcher serves, forwards
signals and exit codes, and leaves no gateway behind whichever way it dies;
nothing is ever unpacked into a temp folder."""

from __future__ import annotations

import hashlib
import json
import signal
import subprocess
import tarfile
from pathlib import Path

from tokligence import __version__

from .conftest import Tarballs
from .tools import (
    Terminal,
    clean_env,
    free_port,
    npm,
    sha256,
    temp_entries,
    wait_gone,
    wait_healthy,
)


def manifest(tarball: Path) -> dict[str, object]:
    with tarfile.open(tarball) as tar:
        member = tar.extractfile("package/package.json")
        assert member is not None
        return dict(json.loads(member.read()))


def test_main_package_has_both_bins_no_install_script_and_exact_platform_packages(
    tarballs: Tarballs,
) -> None:
    main = manifest(tarballs.main)
    assert main["name"] == "@tokligence/gateway" and main["version"] == __version__
    assert main["bin"] == {"tokligence": "bin/tokligence.js", "gatewayd": "bin/gatewayd.js"}
    assert "scripts" not in main  # no postinstall: nothing runs at install time
    with tarfile.open(tarballs.main) as tar:
        files = sorted(m.name.removeprefix("package/") for m in tar.getmembers() if m.isfile())
    # The launcher and nothing else: not its tests (npm-wrapper/gateway/test/).
    assert files == [
        "README.md",
        "bin/gatewayd.js",
        "bin/tokligence.js",
        "lib/download.js",
        "lib/launcher.js",
        "lib/platform.js",
        "package.json",
    ]
    optional = main["optionalDependencies"]
    assert isinstance(optional, dict)
    assert optional == {
        f"@tokligence/gateway-{key}": __version__
        for key in (
            "linux-x64",
            "linux-arm64",
            "linux-x64-musl",
            "darwin-x64",
            "darwin-arm64",
            "win32-x64",
        )
    }


def test_platform_package_carries_the_onedir_folder_for_its_os_cpu_and_libc(
    tarballs: Tarballs, onedir: Path, binary: Path
) -> None:
    platform = manifest(tarballs.platform)
    os_name, cpu = tarballs.key.split("-")[:2]
    assert platform["name"] == f"@tokligence/gateway-{tarballs.key}"
    assert platform["version"] == __version__
    assert (platform["os"], platform["cpu"]) == ([os_name], [cpu])
    assert platform["libc"] == (["musl"] if tarballs.key.endswith("musl") else ["glibc"])
    assert "scripts" not in platform
    expected = {
        f"package/bin/tokligence/{p.relative_to(onedir).as_posix()}": sha256(p)
        for p in onedir.rglob("*")
        if p.is_file()
    }
    with tarfile.open(tarballs.platform) as tar:
        files = {m.name: m for m in tar.getmembers() if m.isfile()}
        packed = {
            name: hashlib.sha256(tar.extractfile(m).read()).hexdigest()  # type: ignore[union-attr]
            for name, m in files.items()
            if name.startswith("package/bin/")
        }
    assert packed == expected  # the whole folder, byte for byte, and nothing else
    assert files["package/bin/tokligence/tokligence"].mode & 0o111
    assert any(name.startswith("package/bin/tokligence/_internal/") for name in packed)
    # Not the single-file binary: that one is for releases and the download fallback.
    assert sha256(binary) not in packed.values()


def launcher(npm_prefix: Path, name: str = "tokligence") -> Path:
    return npm_prefix / "node_modules" / ".bin" / name


def serve(command: list[str], cwd: Path, tmp: Path) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(tmp / "data")],
        cwd=cwd,
        env=clean_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def test_npx_serves_offline_and_sigterm_leaves_nothing_behind(npm_prefix: Path, tmp: Path) -> None:
    npx = Path(npm()).with_name("npx")
    process, port = serve([str(npx), "--offline", "tokligence"], npm_prefix, tmp)
    health = wait_healthy(process, port)
    assert health["status"] == "ok" and health["version"] == __version__
    assert temp_entries(tmp) == []  # the onedir build runs from its folder
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert wait_gone(str(tmp)) == []
    assert temp_entries(tmp) == []


def test_launcher_forwards_sigterm_and_mirrors_the_clean_exit(npm_prefix: Path, tmp: Path) -> None:
    process, port = serve([str(launcher(npm_prefix))], npm_prefix, tmp)
    wait_healthy(process, port)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "received SIGTERM: shutting down" in stderr
    assert wait_gone(str(tmp)) == []
    assert temp_entries(tmp) == []


def test_sigkill_to_the_launcher_leaves_no_gateway_and_no_folder(
    npm_prefix: Path, tmp: Path
) -> None:
    process, port = serve([str(launcher(npm_prefix))], npm_prefix, tmp)
    wait_healthy(process, port)
    assert temp_entries(tmp) == []
    process.kill()
    process.wait(timeout=10)
    assert wait_gone(str(tmp)) == []  # the gateway watched the launcher's pid
    assert temp_entries(tmp) == []
    _, stderr = process.communicate(timeout=10)
    assert "launcher (pid" in stderr and "is gone: shutting down" in stderr


def test_gatewayd_bin_runs_the_gateway_as_gatewayd(npm_prefix: Path, tmp: Path) -> None:
    result = subprocess.run(
        [str(launcher(npm_prefix, "gatewayd")), "--help"],
        env=clean_env(tmp),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: gatewayd")


def test_launcher_mirrors_a_failing_exit_code(npm_prefix: Path, tmp: Path) -> None:
    result = subprocess.run(
        [str(launcher(npm_prefix)), "--log-level", "nonsense", "config", "show"],
        env=clean_env(tmp),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "configuration error" in result.stderr


def test_one_ctrl_c_at_a_terminal_is_one_graceful_shutdown(npm_prefix: Path, tmp: Path) -> None:
    # The terminal signals the launcher and the gateway at once (the launcher
    # does not forward it again): one shutdown, with its grace period (a
    # second SIGINT would skip it).
    port = free_port()
    terminal = Terminal(
        [str(launcher(npm_prefix)), "--port", str(port), "--data-dir", str(tmp / "data")],
        clean_env(tmp),
    )
    terminal.read_until(f"listening on http://127.0.0.1:{port}".encode())
    terminal.type(b"\x03")
    status = terminal.wait()
    text = terminal.output.decode()
    assert status == 0, text
    assert text.count("received SIGINT: shutting down") == 1, text
    assert wait_gone(str(tmp)) == []
    assert temp_entries(tmp) == []
