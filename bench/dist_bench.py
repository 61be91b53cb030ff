"""Distribution benchmark: sizes, and the start-up time to a healthy
``/health`` of each way of installing the gateway, against Portkey's
gateway started the same ways in the same run.

Paths measured (start of the process to the first 200 answer of the health
URL, polled every 5 ms):

* pip:          the ``tokligence`` console script of a non-editable install in
                a fresh venv (build/_work/bench-venv), the pip / pipx / uv path;
* onefile:      dist/tokligence-<os>-<cpu> run directly (build/freeze
                --if-stale), the release asset (install.sh, install.ps1, the
                npm fallback);
* onedir:       dist/tokligence-<os>-<cpu>-dir/tokligence run directly;
* npm:          ``node_modules/.bin/tokligence`` of an offline install of the
                packed tarballs (build/pack-npm): Node launcher + onedir;
* npx:          ``npx --offline tokligence`` in that install's folder (the
                bin's name: npx matches a package name only against a
                registry install, not a tarball's);
* portkey-node: ``node <install>/node_modules/@portkey-ai/gateway/build/
                start-server.js``, Portkey's documented node server;
* portkey-npx:  ``npx --offline @portkey-ai/gateway`` in its install's folder.

Portkey (``@portkey-ai/gateway`` 1.15.2, with ``@hono/node-server`` pinned to
1.13.5 through npm ``overrides``: newer versions break its streaming) is
installed with npm into the run's temporary folder, or taken from
``--portkey-dir`` (a folder with that install in its node_modules). It has no
``/health``: its readiness URL is ``GET /`` ("AI Gateway says hey!"), which it
serves as soon as it listens. Ours answers ``/health`` 200 only once it can
serve every request (databases open and migrated).

Each path is started once to warm up (our first start creates and migrates
the databases, as a user's first run does); then ``--runs`` rounds start every
path once, interleaved, in an order that rotates each round, so that the
machine's noise falls on all of them alike. Reported: median and best.

Also ``--version`` of both builds, and Node's own start-up: ``node -e ""``
against loading the launcher module (lib/launcher.js, without running it).
Sizes: the single-file binary and the npm platform tarball.

    python bench/dist_bench.py [--runs 7] [--skip-pip] [--no-portkey]
                               [--portkey-dir DIR] [--only PATH,PATH]
                               [--provider] [--baseline DIST]

``--provider``: ours start with one OpenAI-compatible provider configured
(TOKLIGENCE_OPENAI_API_KEY, its base URL a closed local port), as a typical
gateway does; without it, with the loopback model only.

``--baseline DIST``: a dist/ folder saved from an earlier build (of main,
say); its single file and onedir are measured in the same rounds as
onefile-base and onedir-base, so that a change is compared within one run.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from common import ROOT, free_port, host_speed_ms, wait_http

PORTKEY = "@portkey-ai/gateway@1.15.2"
PORTKEY_PINS = {"@hono/node-server": "1.13.5"}
# Which of ours each Portkey path is compared with.
VERSUS = {"onefile": "portkey-node", "npx": "portkey-npx"}
# Settings every start of ours gets (--provider adds one provider).
SETTINGS: dict[str, str] = {}
PROVIDER = {
    "TOKLIGENCE_OPENAI_API_KEY": "sk-bench",
    "TOKLIGENCE_OPENAI_BASE_URL": "http://127.0.0.1:9/v1",
}


@dataclass(frozen=True)
class Way:
    """A way to start a gateway: its argv for a port and data folder, where
    to run it, and its health URL for a port."""

    argv: Callable[[int, Path], list[str]]
    cwd: Path | None
    health: str  # formatted with the port


def env_for(tmp: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("TOKLIGENCE_", "npm_"))}
    (tmp / "tmp").mkdir(parents=True, exist_ok=True)
    env.update(HOME=str(tmp), TMPDIR=str(tmp / "tmp"), XDG_CONFIG_HOME=str(tmp / "cfg"))
    env.update(npm_config_registry="http://127.0.0.1:9/", npm_config_cache=str(tmp / "npm"))
    env.update(SETTINGS)
    return env


def ours(command: list[str], cwd: Path | None = None) -> Way:
    return Way(
        argv=lambda port, data: [
            *command,
            *("--port", str(port), "--data-dir", str(data), "--log-level", "warn"),
        ],
        cwd=cwd,
        health="http://127.0.0.1:{}/health",
    )


def portkey(command: list[str], cwd: Path) -> Way:
    return Way(
        argv=lambda port, data: [*command, f"--port={port}"],
        cwd=cwd,
        health="http://127.0.0.1:{}/",
    )


def stop(process: subprocess.Popen[bytes]) -> None:
    """SIGTERM to the whole process group (npx, sh, the launcher, the server)."""
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        process.wait()
    with contextlib.suppress(ProcessLookupError):  # a child that outlived its parent
        os.killpg(process.pid, signal.SIGKILL)


def start_time(path: Way, tmp: Path) -> float:
    port = free_port()
    started = time.perf_counter()
    process = subprocess.Popen(
        path.argv(port, tmp / "data"),
        cwd=path.cwd,
        env=env_for(tmp),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        wait_http(path.health.format(port), timeout=60)
        return time.perf_counter() - started
    finally:
        stop(process)


def measure_interleaved(paths: dict[str, Way], work: Path, runs: int) -> dict[str, list[float]]:
    for name, path in paths.items():
        start_time(path, work / name)  # warm-up: creates and migrates the databases
    results: dict[str, list[float]] = {name: [] for name in paths}
    names = list(paths)
    for round_ in range(runs):
        shift = round_ % len(names)
        for name in names[shift:] + names[:shift]:
            results[name].append(start_time(paths[name], work / name))
    return results


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


def npm_exe(name: str = "npm") -> str:
    found = shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} is needed")
    return found


def npm_install(work: Path, out: Path) -> Path:
    """Our packed tarballs, installed offline; returns the install's folder."""
    subprocess.run(
        [sys.executable, str(ROOT / "build" / "pack-npm"), "--out", str(out)], check=True
    )
    app = work / "app"
    app.mkdir()
    (app / "package.json").write_text('{"private": true}\n')
    tarballs = sorted(str(p) for p in out.glob("*.tgz"))
    subprocess.run(
        [
            npm_exe(),
            "install",
            "--offline",
            "--no-audit",
            "--no-fund",
            "--loglevel=error",
            *tarballs,
        ],
        cwd=app,
        env=env_for(work / "npm-env"),
        check=True,
    )
    return app


def portkey_install(folder: Path) -> Path:
    """Portkey's gateway from the npm registry into ``folder`` (npm's own
    configuration and cache: this is the one step that needs the registry)."""
    folder.mkdir(parents=True)
    overrides = ", ".join(f'"{k}": "{v}"' for k, v in PORTKEY_PINS.items())
    (folder / "package.json").write_text(f'{{"private": true, "overrides": {{{overrides}}}}}\n')
    pins = [f"{k}@{v}" for k, v in PORTKEY_PINS.items()]
    quiet = ("--no-audit", "--no-fund", "--loglevel=error")
    subprocess.run(
        [npm_exe(), "install", "--save-exact", *quiet, PORTKEY, *pins],
        cwd=folder,
        check=True,
    )
    return folder


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
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--skip-pip", action="store_true", help="skip the venv install")
    parser.add_argument("--no-portkey", action="store_true", help="measure ours only")
    parser.add_argument("--portkey-dir", type=Path, help="an existing Portkey install")
    parser.add_argument("--only", help="comma-separated paths to measure (default: all)")
    parser.add_argument("--baseline", type=Path, help="a saved dist/ folder to compare with")
    parser.add_argument("--provider", action="store_true", help="ours with a provider configured")
    args = parser.parse_args()
    if args.provider:
        SETTINGS.update(PROVIDER)
    subprocess.run([sys.executable, str(ROOT / "build" / "freeze"), "--if-stale"], check=True)
    name = freeze_name("--print-name")
    onefile = ROOT / "dist" / name
    key = name.removeprefix("tokligence-").removesuffix(".exe")
    onedir = ROOT / "dist" / freeze_name("--print-dir-name") / name.replace(f"-{key}", "")
    size = onefile.stat().st_size
    node = npm_exe("node")
    npx = npm_exe("npx")
    with tempfile.TemporaryDirectory(prefix="dist-bench-") as folder:
        work = Path(folder)
        tarballs = work / "tarballs"
        app = npm_install(work, tarballs)
        launcher = app / "node_modules" / ".bin" / "tokligence"
        [platform_tarball] = tarballs.glob(f"tokligence-gateway-{key}-*.tgz")
        paths: dict[str, Way] = {}
        if not args.skip_pip:
            paths["pip"] = ours([str(pip_install(work))])
        paths["onefile"] = ours([str(onefile)])
        paths["onedir"] = ours([str(onedir)])
        paths["npm"] = ours([str(launcher)])
        paths["npx"] = ours([npx, "--offline", "tokligence"], cwd=app)
        if not args.no_portkey:
            pk = args.portkey_dir.resolve() if args.portkey_dir else portkey_install(work / "pk")
            server = pk / "node_modules" / "@portkey-ai" / "gateway" / "build" / "start-server.js"
            paths["portkey-node"] = portkey([node, str(server)], cwd=pk)
            paths["portkey-npx"] = portkey([npx, "--offline", "@portkey-ai/gateway"], cwd=pk)
        if args.only:
            wanted = args.only.split(",")
            paths = {k: v for k, v in paths.items() if k in wanted}
        if args.baseline:
            base = args.baseline.resolve()
            paths["onefile-base"] = ours([str(base / onefile.name)])
            paths["onedir-base"] = ours([str(base / onedir.relative_to(onefile.parent))])
        speed = host_speed_ms()
        results = measure_interleaved(paths, work / "runs", args.runs)
        version = work / "version"
        versions = {
            "onefile": run_time([str(onefile), "--version"], version, args.runs),
            "onedir": run_time([str(onedir), "--version"], version, args.runs),
        }
        if args.baseline:
            for kind in ("onefile", "onedir"):
                command = paths[f"{kind}-base"].argv(0, version)[:1]
                versions[f"{kind}-base"] = run_time([*command, "--version"], version, args.runs)
        module = launcher.resolve().parent.parent / "lib" / "launcher.js"
        node_empty = run_time([node, "-e", ""], version, args.runs)
        node_launcher = run_time([node, "-e", f"require({str(module)!r})"], version, args.runs)
        tarball_size = platform_tarball.stat().st_size
    print(f"onefile {name}: {size / 1e6:.2f} MB ({size / 2**20:.2f} MiB)")
    print(f"npm platform tarball {platform_tarball.name}: {tarball_size / 1e6:.2f} MB")
    print("--version: " + ", ".join(f"{kind} {ms(times)}" for kind, times in versions.items()))
    print(f"node -e '': {ms(node_empty)}; node loading lib/launcher.js: {ms(node_launcher)}")
    print(f"host speed {speed:.0f} ms; {args.runs} interleaved runs; start to a healthy answer")
    print(f"{'path':<13} {'median':>8} {'best':>8} {'worst':>8}")
    for path, times in results.items():
        print(
            f"{path:<13} {statistics.median(times) * 1000:>5.0f} ms "
            f"{min(times) * 1000:>5.0f} ms {max(times) * 1000:>5.0f} ms"
        )
    for ours_, theirs in VERSUS.items():
        if ours_ in results and theirs in results:
            a, b = results[ours_], results[theirs]
            print(
                f"{ours_} vs {theirs}: median {statistics.median(a) * 1000:.0f} vs "
                f"{statistics.median(b) * 1000:.0f} ms, best {min(a) * 1000:.0f} vs "
                f"{min(b) * 1000:.0f} ms: {'faster' if statistics.median(a) < statistics.median(b) else 'SLOWER'}"
            )


if __name__ == "__main__":
    main()
