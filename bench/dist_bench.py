"""Distribution benchmark: sizes, and the start-up time to a healthy
``/health`` of each way of installing the gateway.

Paths measured, each median of 5 starts after one warm-up start (which
creates the data directory, as a user's first run does):

* pip:     the ``tokligence`` console script of a non-editable install in a
           fresh venv (build/_work/bench-venv), the pip / pipx / uv tool path;
* onefile: dist/tokligence-<os>-<cpu> run directly (build/freeze --if-stale),
           the release asset (install.sh, install.ps1, the npm fallback);
* onedir:  dist/tokligence-<os>-<cpu>-dir/tokligence run directly;
* npm:     ``node_modules/.bin/tokligence`` of an offline install of the
           packed tarballs (build/pack-npm), i.e. Node launcher + onedir.

Also ``--version`` of both builds, and Node's own start-up: ``node -e ""``
against loading the launcher module (lib/launcher.js, without running it).
Sizes: the single-file binary and the npm platform tarball. Targets from the
distribution issue: size <= 12 MB, start-up <= 0.3 s (pip) and <= 0.4 s (npm).

    python bench/dist_bench.py [--runs 5] [--skip-pip]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT, free_port, wait_http

TARGETS = {"pip": 0.3, "onefile": 0.4, "onedir": 0.4, "npm": 0.4}
SIZE_TARGET_MB = 12.0


def env_for(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKLIGENCE_", "npm_"))}
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(tmp), TMPDIR=str(tmp / "tmp"), XDG_CONFIG_HOME=str(tmp / "cfg"))
    env.update(npm_config_registry="http://127.0.0.1:9/", npm_config_cache=str(tmp / "npm"))
    return env


def start_time(command: list[str], tmp: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        [*command, "--port", str(port), "--data-dir", str(tmp / "data"), "--log-level", "warn"],
        env=env_for(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_http(f"http://127.0.0.1:{port}/health", timeout=60)
        return time.perf_counter() - started
    finally:
        process.terminate()
        process.wait(30)


def measure(command: list[str], tmp: Path, runs: int) -> list[float]:
    start_time(command, tmp)  # warm-up: creates and migrates the databases
    return [start_time(command, tmp) for _ in range(runs)]


def pip_install(work: Path) -> Path:
    """A non-editable install of the current source in a fresh venv."""
    venv = ROOT / "build" / "_work" / "bench-venv"
    shutil.rmtree(venv, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    # Copy the sources out so that setuptools' build folders stay out of the tree.
    source = work / "source"
    shutil.copytree(ROOT / "tokligence", source / "tokligence")
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run(
        [str(venv / "bin" / "python"), "-m", "pip", "install", "-q", str(source)], check=True
    )
    return venv / "bin" / "tokligence"


def npm_install(work: Path, out: Path) -> Path:
    subprocess.run(
        [sys.executable, str(ROOT / "build" / "pack-npm"), "--out", str(out)], check=True
    )
    app = work / "app"
    app.mkdir()
    (app / "package.json").write_text('{"private": true}\n')
    npm = shutil.which("npm")
    if npm is None:
        raise SystemExit("npm is needed")
    tarballs = sorted(str(p) for p in out.glob("*.tgz"))
    subprocess.run(
        [npm, "install", "--offline", "--no-audit", "--no-fund", "--loglevel=error", *tarballs],
        cwd=app,
        env=env_for(work / "npm-env"),
        check=True,
    )
    return app / "node_modules" / ".bin" / "tokligence"


def run_time(command: list[str], tmp: Path, runs: int) -> list[float]:
    """Wall time of a short command, after one warm-up run."""
    times = []
    for _ in range(runs + 1):
        started = time.perf_counter()
        subprocess.run(command, env=env_for(tmp), capture_output=True, check=True)
        times.append(time.perf_counter() - started)
    return times[1:]


def freeze_name(option: str) -> str:
    return subprocess.run(
        [sys.executable, str(ROOT / "build" / "freeze"), option],
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()


def ms(times: list[float]) -> str:
    return f"{statistics.median(times) * 1000:.0f} ms"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--skip-pip", action="store_true", help="skip the venv install")
    args = parser.parse_args()
    subprocess.run([sys.executable, str(ROOT / "build" / "freeze"), "--if-stale"], check=True)
    name = freeze_name("--print-name")
    onefile = ROOT / "dist" / name
    key = name.removeprefix("tokligence-").removesuffix(".exe")
    onedir = ROOT / "dist" / freeze_name("--print-dir-name") / name.replace(f"-{key}", "")
    size = onefile.stat().st_size
    node = shutil.which("node") or "node"
    with tempfile.TemporaryDirectory(prefix="dist-bench-") as folder:
        work = Path(folder)
        tarballs = work / "tarballs"
        launcher = npm_install(work, tarballs)
        [platform_tarball] = tarballs.glob(f"tokligence-gateway-{key}-*.tgz")
        commands = {"onefile": [str(onefile)], "onedir": [str(onedir)], "npm": [str(launcher)]}
        if not args.skip_pip:
            commands = {"pip": [str(pip_install(work))], **commands}
        results = {path: measure(cmd, work / path, args.runs) for path, cmd in commands.items()}
        version = work / "version"
        versions = {
            "onefile": run_time([str(onefile), "--version"], version, args.runs),
            "onedir": run_time([str(onedir), "--version"], version, args.runs),
        }
        module = launcher.resolve().parent.parent / "lib" / "launcher.js"
        node_empty = run_time([node, "-e", ""], version, args.runs)
        node_launcher = run_time([node, "-e", f"require({str(module)!r})"], version, args.runs)
        tarball_size = platform_tarball.stat().st_size
    verdict = "ok" if size / 1e6 <= SIZE_TARGET_MB else "OVER"
    print(
        f"onefile {name}: {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB), "
        f"target <= {SIZE_TARGET_MB:.0f} MB: {verdict}"
    )
    print(f"npm platform tarball {platform_tarball.name}: {tarball_size / 1e6:.2f} MB")
    print(f"--version: onefile {ms(versions['onefile'])}, onedir {ms(versions['onedir'])}")
    print(f"node -e '': {ms(node_empty)}; node loading lib/launcher.js: {ms(node_launcher)}")
    print(f"{'path':<8} {'median':>8} {'min':>8} {'max':>8} {'target':>8}")
    for path, times in results.items():
        median = statistics.median(times)
        verdict = "ok" if median <= TARGETS[path] else "OVER"
        print(
            f"{path:<8} {median:>7.3f}s {min(times):>7.3f}s {max(times):>7.3f}s "
            f"{TARGETS[path]:>7.1f}s  {verdict}"
        )


if __name__ == "__main__":
    main()
