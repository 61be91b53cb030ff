"""``tokligence claude [args…]`` and ``tokligence codex [args…]``: run a coding
agent against the gateway, starting the gateway first if none answers.

Theory of operation
-------------------
The command line is ``tokligence [gateway options] claude|codex [launcher
options] [--] [agent arguments]``. Launcher options are read from the front
only (:func:`split_arguments`): the first word that is not one of ours, or a
``--``, starts the agent's own arguments, which are passed on untouched.

1. The configuration is loaded exactly as ``tokligence serve`` would load it
   with the same gateway options, so the launcher looks where that gateway
   listens (:mod:`.background` starts or reuses it).
2. The agent is pointed at the gateway through its own configuration means:
   Claude Code by environment (:func:`claude_env`), Codex by ``-c`` overrides
   that declare a ``tokligence`` model provider (:func:`codex_arguments`),
   because Codex's built-in OpenAI provider ignores base-URL variables.
   With gateway auth on, the agent gets ``agent_api_key``; otherwise a
   placeholder (the agents refuse to start without some key).
3. Telemetry and error reporting are switched off unless the user's
   environment (or later ``-c``) says otherwise.
4. The agent runs in the foreground. On POSIX the launcher *becomes* the
   agent (``exec``): terminal signals, job control and the exit status are
   the agent's own, with nothing in between. Elsewhere it runs as a child;
   Ctrl-C reaches both from the console, other signals are forwarded, and
   the child's exit code is returned.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, TypeAlias

from .. import lifeline
from ..config import Config, ConfigError, load_config
from .background import PROBE_TIMEOUT, Endpoint, LaunchError, direct_opener, ensure_gateway

AGENTS = ("claude", "codex")
_Handler: TypeAlias = Any  # what signal.signal returns and accepts
PLACEHOLDER_KEY = "tokligence-local"  # auth off: any non-empty key is accepted
AGENT_KEY_ENV = "TOKLIGENCE_AGENT_API_KEY"  # Codex's provider reads its key from here
PROVIDER_ID = "tokligence"
EXIT_USAGE = 2
EXIT_LAUNCH_FAILED = 1

# Gateway options, accepted before the agent name and among launcher options.
SERVE_VALUE_OPTIONS = ("--host", "--port", "--config", "--data-dir", "--log-level")
SERVE_FLAG_OPTIONS = ("--insecure",)
LAUNCHER_VALUE_OPTIONS = ("--model", "--small-model", "--bin")

CLAUDE_QUIET = {
    # Without this Claude Code still calls its vendor's API (quota and
    # feature checks) although ANTHROPIC_BASE_URL points at the gateway.
    "CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC": "1",
    "DISABLE_AUTOUPDATER": "1",
    "DISABLE_TELEMETRY": "1",
    "DISABLE_ERROR_REPORTING": "1",
    "DISABLE_BUG_COMMAND": "1",
    "CLAUDE_CODE_DISABLE_FEEDBACK_SURVEY": "1",
}
# features.plugins: else Codex syncs its plugin marketplace from its vendors'
# servers at every start, whatever the provider.
CODEX_QUIET = ("analytics.enabled=false", "features.plugins=false")

USAGE = """\
usage: tokligence [gateway options] {agent} [launcher options] [--] [{agent} arguments]

Run {title} through the Tokligence gateway, starting the gateway in the
background if none answers on the configured port (see docs/launchers.md).

launcher options:
  --model MODEL        model the agent asks for (routed by the gateway)
{small}  --bin PATH           the {agent} executable (default: TOKLIGENCE_{upper}_BIN or PATH)
  --host, --port, --config, --data-dir, --log-level, --insecure
                       gateway options, as for 'tokligence serve'
  -h, --help           show this help ('{agent} -- --help' shows {title}'s)

'tokligence stop' stops a gateway a launcher started.
"""
_SMALL = "  --small-model MODEL  model for background tasks (default: --model)\n"


@dataclass(frozen=True, kw_only=True, slots=True)
class LaunchArgs:
    agent: str
    serve: dict[str, str | bool] = field(default_factory=dict)  # dest -> value
    model: str | None = None
    small_model: str | None = None
    bin: str | None = None
    agent_args: tuple[str, ...] = ()
    help: bool = False


def find_agent_command(argv: Sequence[str]) -> int | None:
    """Index of ``claude``/``codex`` if argv is a launcher command line (only
    gateway options before it), else None."""
    i = 0
    while i < len(argv):
        word = argv[i]
        if word in AGENTS:
            return i
        if word in SERVE_VALUE_OPTIONS:
            i += 2
        elif word in SERVE_FLAG_OPTIONS or word.split("=", 1)[0] in SERVE_VALUE_OPTIONS:
            i += 1
        else:
            return None
    return None


def split_arguments(argv: Sequence[str], index: int) -> LaunchArgs:
    """Gateway and launcher options, and the agent's own arguments. Raises
    ValueError with a usage message on a missing option value."""
    after = argv[index + 1 :]
    lead = _leading_options(after)
    rest = list(after[len(lead) :])
    if rest[:1] == ["--"]:
        rest = rest[1:]
    words = [*argv[:index], *lead]
    values: dict[str, str | bool] = {}
    show_help = False
    i = 0
    while i < len(words):
        word = words[i]
        if word in ("-h", "--help"):
            show_help = True
            i += 1
            continue
        if word in SERVE_FLAG_OPTIONS:
            values[word] = True
            i += 1
            continue
        name, eq, value = word.partition("=")
        if not eq:
            if i + 1 >= len(words):
                raise ValueError(f"{name} needs a value")
            value = words[i + 1]
            i += 1
        values[name] = value
        i += 1
    serve = {k[2:].replace("-", "_"): v for k, v in values.items() if k.startswith("--")}
    launcher = {k: serve.pop(k, None) for k in ("model", "small_model", "bin")}
    return LaunchArgs(
        agent=argv[index],
        serve=serve,
        model=_text(launcher["model"]),
        small_model=_text(launcher["small_model"]),
        bin=_text(launcher["bin"]),
        agent_args=tuple(rest),
        help=show_help,
    )


def _text(value: str | bool | None) -> str | None:
    return value if isinstance(value, str) and value else None


def _leading_options(words: Sequence[str]) -> list[str]:
    out: list[str] = []
    i = 0
    ours = (*SERVE_VALUE_OPTIONS, *LAUNCHER_VALUE_OPTIONS)
    while i < len(words):
        word = words[i]
        if word in ("-h", "--help", *SERVE_FLAG_OPTIONS) or word.split("=", 1)[0] in ours:
            out.append(word)
            i += 1
            if word in ours:  # "--model X": the value too
                out.extend(words[i : i + 1])
                i += 1
            continue
        break
    return out


def serve_flags(serve: Mapping[str, str | bool]) -> list[str]:
    """The gateway options again, as ``tokligence serve`` arguments."""
    flags: list[str] = []
    for name, value in serve.items():
        flag = "--" + name.replace("_", "-")
        if value is True:
            flags.append(flag)
        elif isinstance(value, str):
            flags += [flag, value]
    return flags


def load_for_launch(serve: Mapping[str, str | bool]) -> Config:
    flags = {
        name: value for name, value in serve.items() if name not in ("config",) and value != ""
    }
    config_file = serve.get("config")
    return load_config(
        flags=flags, config_file=Path(config_file) if isinstance(config_file, str) else None
    )


def agent_key(config: Config) -> str:
    if config.auth_disabled:
        return config.agent_api_key or PLACEHOLDER_KEY
    if not config.agent_api_key:
        raise LaunchError(
            "gateway auth is on, so the agent needs a gateway key: create one with "
            "'tokligence keys create USER' and set TOKLIGENCE_AGENT_API_KEY (agent_api_key)"
        )
    return config.agent_api_key


def claude_env(
    environ: Mapping[str, str],
    endpoint: Endpoint,
    key: str,
    *,
    model: str | None = None,
    small_model: str | None = None,
) -> dict[str, str]:
    env = _agent_environ(environ)
    env["ANTHROPIC_BASE_URL"] = endpoint.base_url
    # A bearer token needs no interactive approval, unlike ANTHROPIC_API_KEY;
    # a user's own Anthropic key must not be sent to the gateway besides it.
    env["ANTHROPIC_AUTH_TOKEN"] = key
    env.pop("ANTHROPIC_API_KEY", None)
    if model:
        env["ANTHROPIC_MODEL"] = model
        env["ANTHROPIC_DEFAULT_OPUS_MODEL"] = model
        env["ANTHROPIC_DEFAULT_SONNET_MODEL"] = model
    small = small_model or model
    if small:
        env["ANTHROPIC_DEFAULT_HAIKU_MODEL"] = small
        env["ANTHROPIC_SMALL_FAST_MODEL"] = small
    for name, value in CLAUDE_QUIET.items():
        env.setdefault(name, value)
    return env


def _toml(value: str) -> str:
    return json.dumps(value)  # a JSON string is a valid TOML basic string


def codex_arguments(
    endpoint: Endpoint, *, model: str | None, agent_args: Sequence[str]
) -> list[str]:
    """``-c`` overrides first, so the user's own ``-c`` (later) win."""
    provider = f"model_providers.{PROVIDER_ID}"
    overrides = [
        f"{provider}.name={_toml('Tokligence gateway')}",
        f"{provider}.base_url={_toml(endpoint.base_url + '/v1')}",
        f'{provider}.wire_api="responses"',
        f"{provider}.env_key={_toml(AGENT_KEY_ENV)}",
        f"model_provider={_toml(PROVIDER_ID)}",
        *CODEX_QUIET,
    ]
    if model:
        overrides.append(f"model={_toml(model)}")
    args: list[str] = []
    for override in overrides:
        args += ["-c", override]
    return [*args, *agent_args]


def _agent_environ(environ: Mapping[str, str]) -> dict[str, str]:
    # From a frozen build, without the library path and markers its
    # bootloader set for our own runtime: the agent is another program.
    return lifeline.foreign_env(environ, frozen=bool(getattr(sys, "frozen", False)))


def codex_env(environ: Mapping[str, str], key: str) -> dict[str, str]:
    env = _agent_environ(environ)
    env[AGENT_KEY_ENV] = key
    return env


def find_agent(name: str, chosen: str | None, environ: Mapping[str, str]) -> str:
    if chosen:
        path = shutil.which(chosen, path=environ.get("PATH")) or chosen
        if not Path(path).exists():
            raise LaunchError(f"{name} executable {chosen!r} not found")
        return path
    found = shutil.which(name, path=environ.get("PATH"))
    if found is None:
        package = "@anthropic-ai/claude-code" if name == "claude" else "@openai/codex"
        raise LaunchError(
            f"{name} not found on PATH: install it (npm install -g {package}) or set "
            f"TOKLIGENCE_{name.upper()}_BIN"
        )
    return found


def run_agent(argv: Sequence[str], env: Mapping[str, str], *, replace: bool | None = None) -> int:
    """Run the agent in the foreground and return its exit code (on POSIX,
    by default, this process becomes the agent and never returns)."""
    if replace is None:
        replace = os.name != "nt"
    if replace:
        sys.stdout.flush()
        sys.stderr.flush()
        os.execve(argv[0], list(argv), dict(env))
    with subprocess.Popen(list(argv), env=dict(env)) as child:
        previous = _forward_signals(child)
        try:
            return child.wait()
        finally:
            for signum, handler in previous.items():
                signal.signal(signum, handler)


def _forward_signals(child: subprocess.Popen[bytes]) -> dict[int, _Handler]:
    def forward(signum: int, frame: FrameType | None) -> None:
        if child.poll() is None:
            child.send_signal(signum)

    previous: dict[int, _Handler] = {}
    # Ctrl-C goes to the whole console group: the agent has it already, and
    # a second copy would make Claude Code or Codex quit instead of interrupt.
    previous[signal.SIGINT] = signal.signal(signal.SIGINT, signal.SIG_IGN)
    for name in ("SIGTERM", "SIGHUP", "SIGBREAK"):
        signum = getattr(signal, name, None)
        if signum is not None:
            previous[signum] = signal.signal(signum, forward)
    return previous


# A Claude model Claude Code may pick by default; if the gateway routes none,
# the agent would fail with its own message about "the selected model".
_CLAUDE_PROBE_MODEL = "claude-sonnet-4-5"


def _warn_if_claude_is_unrouted(prog: str, endpoint: Endpoint, key: str) -> None:
    """Say so before Claude Code starts when no provider serves Claude models."""
    request = urllib.request.Request(
        f"{endpoint.base_url}/v1/models/{_CLAUDE_PROBE_MODEL}",
        headers={"authorization": f"Bearer {key}"},
    )
    try:
        with direct_opener().open(request, timeout=PROBE_TIMEOUT):
            return
    except urllib.error.HTTPError as exc:
        if exc.code != 404:
            return  # not a routing answer (auth, say): Claude Code will say what it is
    except (urllib.error.URLError, OSError):
        return
    print(
        f"{prog}: note: no provider on this gateway serves Claude models, so Claude Code's "
        "own model will fail. Set TOKLIGENCE_ANTHROPIC_API_KEY, route them "
        "(TOKLIGENCE_ROUTES='claude*=>PROVIDER'), or pass --model loopback (or any "
        "routed model)",
        file=sys.stderr,
    )


def launch_main(argv: Sequence[str], environ: Mapping[str, str], prog: str = "tokligence") -> int:
    index = find_agent_command(argv)
    assert index is not None
    name = argv[index]
    try:
        args = split_arguments(argv, index)
    except ValueError as exc:
        print(f"{prog} {name}: {exc}", file=sys.stderr)
        return EXIT_USAGE
    if args.help:
        title = "Claude Code" if name == "claude" else "Codex"
        small = _SMALL if name == "claude" else ""
        print(USAGE.format(agent=name, title=title, upper=name.upper(), small=small), end="")
        return 0
    try:
        config = load_for_launch(args.serve)
        configured = config.claude_bin if name == "claude" else config.codex_bin
        executable = find_agent(name, args.bin or configured, environ)
        key = agent_key(config)
        running = ensure_gateway(config, serve_flags(args.serve), environ)
    except ConfigError as exc:
        print(f"{prog}: configuration error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except LaunchError as exc:
        print(f"{prog} {name}: {exc}", file=sys.stderr)
        return EXIT_LAUNCH_FAILED
    endpoint = running.endpoint
    if running.restarted:
        print(
            f"{prog}: restarted the gateway on {endpoint.base_url}: its configuration had "
            f"changed ('{prog} stop' stops it)",
            file=sys.stderr,
        )
    elif running.started:
        print(
            f"{prog}: started the gateway on {endpoint.base_url} ('{prog} stop' stops it)",
            file=sys.stderr,
        )
    elif running.differs:
        print(
            f"{prog}: note: the gateway on {endpoint.base_url} runs another configuration "
            "than this launch would start, and was not started by a launcher; using it as "
            "it is (stop it, or choose another --port, to use this configuration)",
            file=sys.stderr,
        )
    if name == "claude" and not args.model:
        _warn_if_claude_is_unrouted(prog, endpoint, key)
    if name == "claude":
        env = claude_env(environ, endpoint, key, model=args.model, small_model=args.small_model)
        return run_agent([executable, *args.agent_args], env)
    arguments = codex_arguments(endpoint, model=args.model, agent_args=args.agent_args)
    return run_agent([executable, *arguments], codex_env(environ, key))
