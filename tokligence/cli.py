"""Command line: ``tokligence [serve|version|config show|users|keys|usage|prices|audit|trade|
stop|statusline]``, the agent launchers ``tokligence claude|codex`` and ``gatewayd``.

Theory of operation. argparse turns argv into a namespace; the serve flags
(--host, --port, --config, --data-dir, --log-level, --insecure) are declared
once on a parent parser whose defaults are *suppressed*, so they may appear
before or after the subcommand and only flags actually given reach
``load_config`` (where they outrank files and environment). Each command is
one function in :data:`_COMMANDS`. The server is imported only when serving:
``--version`` and ``config show`` must stay fast and never import trio/httpx.
The management commands (``admin.cli_commands``) import theirs when they run.
The launchers bypass argparse (``agents.launch``): what follows the agent's
name may be the agent's own options.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import json
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from . import __version__
from .admin import cli_commands
from .config import Config, ConfigError, load_config
from .config_view import format_value, show_rows

Runner = Callable[[Config], int]

# Flag dest -> setting name handed to load_config (port is sugar for facade_port).
_SETTING_FLAGS = ("host", "port", "data_dir", "log_level", "insecure", "workers")
# Settings a command's own flags set ('trade directory --host/--port').
_COMMAND_SETTING_FLAGS = ("trade_directory_host", "trade_directory_port")
_SERVE_OPTION_NAMES = (*_SETTING_FLAGS, "config")
EXIT_CONFIG_ERROR = 2
EXIT_CANNOT_START = 2  # a start-up failure the user can fix, like a configuration error
EXIT_NO_ANSWER = 1  # version --check could not ask (off, offline, a registry's garbage)


def main(argv: Sequence[str] | None = None, *, runner: Runner | None = None) -> int:
    """Entry point of the ``tokligence`` console script."""
    words = list(sys.argv[1:] if argv is None else argv)
    if _agent_launch(words):
        # Not argparse: everything after the agent's name may be the agent's.
        from .agents.launch import launch_main

        return launch_main(words, os.environ)
    parser = _build_parser()
    args = _parse(parser, words)
    if isinstance(args, int):
        return args
    command = args.command or "serve"
    if command == "config" and args.config_command == "show":
        command = "config show"
    try:
        return _COMMANDS[command](args, parser.prog, runner)
    except BrokenPipeError:
        # Output piped into `head` and the like: the reader left; that is fine.
        # Point stdout at devnull so the interpreter's final flush is quiet too.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0


def gatewayd_main(argv: Sequence[str] | None = None, *, runner: Runner | None = None) -> int:
    """Entry point of ``gatewayd``: the gateway in the foreground (= serve)."""
    parser = argparse.ArgumentParser(
        prog="gatewayd",
        description="Run the Tokligence gateway in the foreground.",
        parents=[_serve_options()],
    )
    _add_version(parser)
    args = _parse(parser, argv)
    if isinstance(args, int):
        return args
    return _serve(args, parser.prog, runner)


def _parse(parser: argparse.ArgumentParser, argv: Sequence[str] | None) -> argparse.Namespace | int:
    # argparse exits for --help, --version and usage errors; return the code
    # instead so callers (and tests) always get an int.
    try:
        return parser.parse_args(argv)
    except SystemExit as exit_:
        return exit_.code if isinstance(exit_.code, int) else EXIT_CONFIG_ERROR


def _serve_options() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False, argument_default=argparse.SUPPRESS)
    group = common.add_argument_group("gateway options")
    group.add_argument("--host", metavar="HOST", help="address to bind (default 127.0.0.1)")
    group.add_argument("--port", metavar="PORT", help="port to listen on (default 8081)")
    group.add_argument("--config", metavar="FILE", help="INI file read after all others")
    group.add_argument("--data-dir", metavar="DIR", help="where databases live")
    group.add_argument(
        "--log-level", metavar="LEVEL", help="debug, info, warn or error (default info)"
    )
    group.add_argument(
        "--insecure",
        action="store_true",
        help="allow binding a non-loopback address without authentication",
    )
    group.add_argument(
        "--workers",
        metavar="N",
        help="run N gateway processes on the same ports (default 1: this process)",
    )
    return common


def _add_version(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--version", action="version", version=f"tokligence {__version__}")


def _build_parser() -> argparse.ArgumentParser:
    common = _serve_options()
    parser = argparse.ArgumentParser(
        prog="tokligence",
        description="Tokligence gateway: one local endpoint speaking the OpenAI and Anthropic "
        "APIs. Without a command, runs the gateway (same as 'serve').",
        parents=[common],
    )
    _add_version(parser)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND")
    commands.add_parser(
        "serve",
        parents=[common],
        help="run the gateway in the foreground (default)",
        description="Run the gateway in the foreground until SIGINT/SIGTERM.",
    )
    version = commands.add_parser(
        "version",
        parents=[common],
        help="print the version",
        description="Print the version; with --check, also whether a newer one exists.",
    )
    version.add_argument(
        "--check",
        action="store_true",
        help="ask the registry this copy came from for the latest version now "
        "(exit status 1 when it cannot be asked)",
    )
    config = commands.add_parser(
        "config", help="inspect the configuration", description="Inspect the configuration."
    )
    config_commands = config.add_subparsers(dest="config_command", metavar="ACTION", required=True)
    show = config_commands.add_parser(
        "show",
        parents=[common],
        help="print every setting with its effective value and source",
        description="Print every setting, its effective value (secrets masked) and where it "
        "came from. Legacy settings are listed only when set.",
    )
    show.add_argument("--json", action="store_true", help="print a JSON list for scripts")
    cli_commands.add_commands(commands, common)
    for agent, title in (("claude", "Claude Code"), ("codex", "Codex")):
        commands.add_parser(
            agent,
            help=f"run {title} through the gateway, starting it if needed "
            f"('tokligence {agent} --help')",
        )
    statusline = commands.add_parser(
        "statusline",
        parents=[common],
        help="print one status line for Claude Code's statusLine setting",
        description="Read Claude Code's status JSON on standard input and print one line: "
        "the model's route, the session's tokens and cost from the ledger, and today's (UTC) "
        "spend. Always exits 0; see docs/claude-code.md.",
    )
    statusline.add_argument(
        "--ascii", action="store_true", help="only ASCII characters (-> and | as separators)"
    )
    commands.add_parser(
        "stop",
        parents=[common],
        help="stop the background gateway a launcher started",
        description="Stop the gateway that 'tokligence claude' or 'tokligence codex' started "
        "in the background (recorded in <data_dir>/gateway.pid).",
    )
    return parser


def _agent_launch(words: Sequence[str]) -> bool:
    if "claude" not in words and "codex" not in words:
        return False  # the common case stays import-free
    from .agents.launch import find_agent_command

    return find_agent_command(words) is not None


def _load(args: argparse.Namespace) -> Config:
    names = (*_SETTING_FLAGS, *_COMMAND_SETTING_FLAGS)
    flags = {name: getattr(args, name) for name in names if hasattr(args, name)}
    config_file = Path(args.config) if hasattr(args, "config") else None
    return load_config(flags=flags, config_file=config_file)


def serve_flags(args: argparse.Namespace) -> list[str]:
    """The gateway options this command was given, as ``serve`` arguments."""
    flags: list[str] = []
    for name, value in sorted(vars(args).items()):
        if name in _SERVE_OPTION_NAMES:
            flag = "--" + name.replace("_", "-")
            flags += [flag] if value is True else [flag, str(value)]
    return flags


def _config_error(prog: str, exc: ConfigError) -> int:
    print(f"{prog}: configuration error: {exc}", file=sys.stderr)
    return EXIT_CONFIG_ERROR


def _serve(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    from .logs import log_ignored_legacy, setup_logging

    try:
        config = _load(args)
    except ConfigError as exc:
        return _config_error(prog, exc)
    from .workers import worker_index

    worker = worker_index(os.environ)
    try:
        setup_logging(config, worker=worker)
    except OSError as exc:
        print(
            f"{prog}: cannot open the log file: {exc}; set log_file (TOKLIGENCE_LOG_FILE) to a "
            "writable path, or to '-' to log to stderr only",
            file=sys.stderr,
        )
        return EXIT_CANNOT_START
    log_ignored_legacy(config)
    if runner is not None:
        return runner(config)
    with _no_gc_while_importing():
        from .ledger.drivers import import_peewee_for

        import_peewee_for(config.database_url)
        from .app import build, run_gateway

    if worker is not None:
        return run_gateway(config, worker=worker)
    if config.workers > 1:
        from .workers import check, run_workers

        try:
            check(config)
            build(config)  # refused here, once, rather than by every worker
        except ConfigError as exc:
            return _config_error(prog, exc)
        return run_workers(config, serve_flags(args))
    return run_gateway(config)


@contextlib.contextmanager
def _no_gc_while_importing() -> Iterator[None]:
    """Importing the server makes some 40,000 objects the collector tracks
    (modules, classes, functions), none of them garbage, and the cyclic
    collector runs about a hundred times over them meanwhile for nothing:
    10-20 ms of a start. Off while importing; then what was imported is
    frozen out of the collector's way (gc.freeze: later collections do not
    walk it either) and the collector is on again as before."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.freeze()
            gc.enable()


def _version(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    print(f"tokligence {__version__}")
    if not args.check:
        return 0
    try:
        config = _load(args)
    except ConfigError as exc:
        return _config_error(prog, exc)
    import trio

    from .update.check import check_now
    from .update.sources import CannotCheck

    try:
        answer = trio.run(check_now, config, os.environ)
    except CannotCheck as exc:
        print(f"{prog}: could not check for updates: {exc}", file=sys.stderr)
        return EXIT_NO_ANSWER
    print(f"latest: {answer.latest} (asked {answer.url})")
    print(f"upgrade: {answer.upgrade}" if answer.newer else "up to date")
    return 0


def _config_show(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    from .app import build

    try:
        config = _load(args)
        build(config)  # what serve would refuse (routes, providers), refused here too
    except ConfigError as exc:
        return _config_error(prog, exc)
    rows = show_rows(config)
    if args.json:
        print(json.dumps(rows, indent=2, ensure_ascii=False))
        return 0
    table = [("NAME", "VALUE", "SOURCE", "ENV", "HELP")]
    table += [
        (str(r["name"]), format_value(r["value"]), str(r["source"]), str(r["env"]), str(r["help"]))
        for r in rows
    ]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    widths[1] = min(widths[1], 60)
    widths[2] = min(widths[2], 40)
    for row in table:
        cells = [f"{cell:<{width}}" for cell, width in zip(row[:4], widths, strict=True)]
        print("  ".join([*cells, row[4]]).rstrip())
    return 0


def _manage(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    try:
        config = _load(args)
    except ConfigError as exc:
        return _config_error(prog, exc)
    from .ledger.drivers import import_peewee_for

    import_peewee_for(config.database_url)
    return cli_commands.run(args, config, prog)


def _trade(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    # Only here is the trading package (and PyNaCl) imported.
    from .trade.cli import run_trade

    return run_trade(args, prog, lambda: _load(args))


def _stop(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    from .agents.background import stop_gateway

    try:
        config = _load(args)
    except ConfigError as exc:
        return _config_error(prog, exc)
    print(f"{prog}: {stop_gateway(config)}")
    return 0


def _statusline(args: argparse.Namespace, prog: str, runner: Runner | None) -> int:
    # Claude Code runs this on every status update: only what the line needs
    # is imported, and configuration errors become part of the line.
    from .agents.statusline import main

    return main(lambda: _load(args), ascii_only=args.ascii)


_COMMANDS: dict[str, Callable[[argparse.Namespace, str, Runner | None], int]] = {
    "serve": _serve,
    "stop": _stop,
    "statusline": _statusline,
    "version": _version,
    "config show": _config_show,
    "trade": _trade,
    **dict.fromkeys(cli_commands.COMMANDS, _manage),
}
