"""What serving imports at start-up: the admin API and the web console wait
for their first request, the update check until the gateway is listening."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path


def test_serving_does_not_import_the_admin_api_until_it_is_used() -> None:
    probe = (
        "import json, sys\n"
        "import tokligence.cli, tokligence.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('tokligence.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(out.stdout))
    assert "tokligence.app" in loaded  # the probe did import the server
    lazy = {
        "tokligence.admin.api",
        "tokligence.admin.api_input",
        "tokligence.ledger.queries",
        "tokligence.console.files",
    }
    assert not loaded & lazy
    assert not [m for m in loaded if m.startswith("tokligence.console")]
    assert not [m for m in loaded if m.startswith("tokligence.update")]


def _run_probe(probe: str, tmp_path: Path, extra_env: dict[str, str] | None = None) -> str:
    """What ``probe`` prints, run in a fresh interpreter (``sys.argv[1]`` is
    ``tmp_path``) with no TOKLIGENCE_* settings but ``extra_env``."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    return subprocess.run(
        [sys.executable, "-c", probe, str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
        env={
            **env,
            **(extra_env or {}),
            "HOME": str(tmp_path),
            "XDG_CONFIG_HOME": str(tmp_path / "cfg"),
        },
    ).stdout


def _modules_after(probe: str, tmp_path: Path, extra_env: dict[str, str] | None = None) -> set[str]:
    """The modules loaded once ``probe`` (which prints nothing) has run, in a
    fresh interpreter with no TOKLIGENCE_* settings but ``extra_env``."""
    probe += "\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))\n"
    return set(json.loads(_run_probe(probe, tmp_path, extra_env).splitlines()[-1]))


def test_the_command_line_does_not_import_the_canonical_types(tmp_path: Path) -> None:
    """``--version`` builds the parser, which reads the settings table; that
    needs one number of the codecs (model_limits), not the canonical types."""
    probe = (
        "import contextlib, io, sys\n"
        "from tokligence.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        "    main(['--version'])\n"
    )
    loaded = _modules_after(probe, tmp_path)
    assert "tokligence.settings_table" in loaded  # the probe did read the settings
    assert not [
        m for m in loaded if m.startswith(("tokligence.canonical", "tokligence.codecs.base"))
    ]


def test_serving_the_loopback_model_imports_no_http_client(tmp_path: Path) -> None:
    """httpx (a fifth of a start's imports) waits for a configured provider;
    the worker supervisor's helpers (urllib.request) for ``--workers``."""
    probe = (
        "import json, sys\n"
        "from tokligence.cli import _no_gc_while_importing\n"
        "from tokligence.config import load_config\n"
        "import gc\n"
        "with _no_gc_while_importing():\n"
        "    import tokligence.app, tokligence.workers\n"
        "    off = not gc.isenabled()\n"
        "tokligence.app.build(load_config(flags={'data_dir': sys.argv[1]}))\n"
        "print(json.dumps([off and gc.isenabled(), sorted(sys.modules)]))\n"
    )
    gc_off_then_on, modules = json.loads(_run_probe(probe, tmp_path))
    assert gc_off_then_on  # the collector is back on after the imports
    loaded = set(modules)
    assert "tokligence.app" in loaded
    heavy = ("httpx", "httpcore", "anyio", "urllib.request", "multiprocessing")
    assert not [m for m in loaded if m in heavy or m.startswith(tuple(h + "." for h in heavy))]
    assert "tokligence.upstreams.client" not in loaded
    assert "tokligence.agents.background" not in loaded


def test_the_status_line_imports_neither_the_server_nor_trio(tmp_path: Path) -> None:
    """Claude Code runs it on every status update: a ledger read, no more."""
    from tokligence.ledger import db as dbmod
    from tokligence.ledger.migrations import migrate

    db = dbmod.open_database(dbmod.sqlite_url(tmp_path / "data" / "ledger.db"))
    try:
        migrate(db, "ledger")
    finally:
        dbmod.close_database(db)
    probe = (
        "import contextlib, io, json, sys\n"
        "from tokligence.cli import main\n"
        "sys.stdin = io.TextIOWrapper(io.BytesIO(sys.argv[1].encode()))\n"
        "with contextlib.redirect_stdout(io.StringIO()) as out:\n"
        "    main(['statusline', '--data-dir', sys.argv[2]])\n"
        "print(json.dumps([out.getvalue(), sorted(sys.modules)]))\n"
    )
    status = json.dumps({"session_id": "s", "model": {"id": "loopback"}})
    done = subprocess.run(
        [sys.executable, "-c", probe, status, str(tmp_path / "data")],
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    line, loaded = json.loads(done.stdout)
    # (StringIO has no encoding: the ASCII separators)
    assert line == "loopback -> loopback | session: no requests yet | today $0.00\n", line
    assert "peewee" in loaded  # the probe did read the ledger
    heavy = ("trio", "httpx", "h11", "tokligence.app", "tokligence.server", "tokligence.admin.api")
    assert not [m for m in loaded if m.split(".")[0] in heavy or m.startswith(heavy)]


def _modules_after_building(tmp_path: Path, extra_env: dict[str, str]) -> set[str]:
    """The modules a gateway has loaded once its configuration is read and
    its parts are built, with the command line's parser and config show."""
    probe = (
        "import json, sys\n"
        "import tokligence.cli, tokligence.app\n"
        "from tokligence.config import load_config\n"
        "from tokligence.config_view import show_rows\n"
        "config = load_config(flags={'data_dir': sys.argv[1]})\n"
        "tokligence.app.build(config)\n"
        "tokligence.cli._build_parser()\n"
        "show_rows(config)\n"
    )
    return _modules_after(probe, tmp_path, extra_env)


def _trading(loaded: set[str]) -> list[str]:
    return sorted(
        m for m in loaded if m.split(".")[0] == "nacl" or m.startswith("tokligence.trade")
    )


def test_a_gateway_that_does_not_trade_loads_no_trading_code(tmp_path: Path) -> None:
    """PyNaCl and the trading package wait for trading to be configured."""
    loaded = _modules_after_building(tmp_path, {})
    assert "tokligence.app" in loaded
    assert _trading(loaded) == []


def test_reading_an_offer_loads_the_offers_but_not_pynacl(tmp_path: Path) -> None:
    offer = {
        "TOKLIGENCE_TRADE_OFFER_FAST_MODELS": "gpt-4o-mini",
        "TOKLIGENCE_TRADE_OFFER_FAST_PROVIDER": "loopback",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": "2.50",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT": "10",
    }
    loaded = _modules_after_building(tmp_path, offer)
    assert "tokligence.trade.offers" in loaded  # the check above can see it
    assert not [m for m in _trading(loaded) if m.split(".")[0] == "nacl"]


def test_a_gateway_with_the_update_check_off_never_loads_it(tmp_path: Path) -> None:
    """Off means off: the check (and httpx and urllib with it) is not even
    imported once the gateway is listening."""
    loaded = _modules_while_serving(tmp_path, {})
    assert "tokligence.server.listen" in loaded  # the probe did serve
    assert not [m for m in loaded if m.startswith("tokligence.update")]


def _modules_while_serving(tmp_path: Path, extra_env: dict[str, str]) -> set[str]:
    """The modules loaded by a gateway that served for a moment (the update
    check off, as in every test)."""
    probe = (
        "import sys, trio\n"
        "import tokligence.app\n"
        "from tokligence.config import load_config\n"
        "config = load_config(flags={'data_dir': sys.argv[1], 'port': 0})\n"
        "async def main():\n"
        "    async with trio.open_nursery() as nursery:\n"
        "        await nursery.start(tokligence.app.serve, config)\n"
        "        await trio.sleep(0.2)  # an announcer would be started by now\n"
        "        nursery.cancel_scope.cancel()\n"
        "trio.run(main)\n"
    )
    return _modules_after(
        probe, tmp_path, {**extra_env, "TOKLIGENCE_UPDATE_CHECK_ENABLED": "false"}
    )


def test_a_configured_provider_waits_for_httpx_until_the_gateway_listens(tmp_path: Path) -> None:
    """Building a gateway with a provider imports no HTTP client; once it
    listens, a worker thread imports it (upstreams/deferred.py)."""
    provider = {"TOKLIGENCE_OPENAI_API_KEY": "k"}
    probe = (
        "import sys\n"
        "import tokligence.app\n"
        "from tokligence.config import load_config\n"
        "built = tokligence.app.build(load_config(flags={'data_dir': sys.argv[1]}))\n"
        "assert 'openai' in built.upstreams\n"
    )
    built = _modules_after(probe, tmp_path / "built", provider)
    assert "tokligence.upstreams.deferred" in built
    assert not [m for m in built if m.split(".")[0] in ("httpx", "httpcore")]
    assert "tokligence.upstreams.client" not in built
    serving = _modules_while_serving(tmp_path / "serving", provider)
    assert "tokligence.upstreams.client" in serving
    assert "httpx" in serving


def test_only_an_anthropic_provider_loads_the_anthropic_codec(tmp_path: Path) -> None:
    """The codecs are imported by provider kind (codecs/registry.py); the
    Anthropic front, which clients may speak to any provider, is not one."""
    probe = (
        "import sys\n"
        "import tokligence.app\n"
        "from tokligence.config import load_config\n"
        "tokligence.app.build(load_config(flags={'data_dir': sys.argv[1]}))\n"
    )
    openai_only = _modules_after(probe, tmp_path / "openai", {"TOKLIGENCE_OPENAI_API_KEY": "k"})
    assert "tokligence.codecs.openai_chat" in openai_only
    assert "tokligence.fronts.anthropic_messages" in openai_only
    assert not [m for m in openai_only if m.startswith("tokligence.codecs.anthropic")]
    anthropic = _modules_after(probe, tmp_path / "anthropic", {"TOKLIGENCE_ANTHROPIC_API_KEY": "k"})
    assert "tokligence.codecs.anthropic" in anthropic


def test_only_a_seller_with_a_directory_loads_the_directory_code(tmp_path: Path) -> None:
    """Offers alone, or a directory alone (a buyer's), load none of it; both
    start the announcer."""
    offer = {
        "TOKLIGENCE_TRADE_OFFER_FAST_MODELS": "gpt-4o-mini",
        "TOKLIGENCE_TRADE_OFFER_FAST_PROVIDER": "loopback",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": "2.50",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT": "10",
    }
    # Nothing listens there: the announcer retries quietly, which is all it needs.
    directory = {
        "TOKLIGENCE_TRADE_DIRECTORY_URL": "http://127.0.0.1:9",
        "TOKLIGENCE_TRADE_PUBLIC_URL": "http://127.0.0.1:8081",
    }

    def directory_code(loaded: set[str]) -> list[str]:
        return sorted(m for m in loaded if m.startswith("tokligence.trade.directory"))

    assert directory_code(_modules_while_serving(tmp_path / "offer", offer)) == []
    assert directory_code(_modules_while_serving(tmp_path / "buyer", directory)) == []
    both = directory_code(_modules_while_serving(tmp_path / "seller", offer | directory))
    assert "tokligence.trade.directory.announcer" in both
