"""The commands and snippets of docs/*.md work as written (issue 17).

Each page's ``sh`` blocks run in order, as one shell session, the way a
reader follows the page: its variables carry from block to block. The only
changes are the harness's and are the same for every page:

- the address ``127.0.0.1:8081`` becomes a free port (also given to the
  gateway as ``TOKLIGENCE_FACADE_PORT``), ``8082``, a second gateway's
  port on pages that run two, another, and so does the offer directory's
  ``127.0.0.1:8090`` (``TOKLIGENCE_TRADE_DIRECTORY_PORT``);
- ``tokligence serve`` and ``tokligence trade directory`` run as they
  would in a second terminal: in the background, until the next one of
  the same on the same port (a restart) or the end of the page, and the
  next command waits for it to be healthy;
- the provider base URLs point at fake upstreams on 127.0.0.1, which answer
  any key, and the data, config and home folders are the test's own;
- ``claude`` and ``codex`` are fakes that call the gateway as the agents
  would -- except in the quickstart, which runs the real, pinned agents.

The other blocks are samples, each checked for what it claims: INI files
load, JSON samples parse, the Codex TOML and ``-c`` list match what the launcher passes, the
hook script handles the documented event. A block that is neither run nor
checked fails :func:`test_every_block_is_run_or_checked`.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timezone
from decimal import Decimal
from pathlib import Path

import pytest

from tests.agents.fake_agents import VENV_BIN, free_port, install_fake_agents
from tests.agents.npm_tools import CLAUDE_CODE, CODEX, install, offline_env
from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_json, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream
from tests.fakes.openai_responses import (
    MessageItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)
from tests.fakes.wire import FakeServer, by_stream
from tests.ledger.rows import make_row
from tests.update_check_off import OFF
from tokligence.agents import statusline
from tokligence.agents.background import Endpoint
from tokligence.agents.launch import USAGE, codex_arguments
from tokligence.cli import _build_parser
from tokligence.config import load_config
from tokligence.ledger.db import (
    backend_of,
    close_database,
    connection,
    insert_rows,
    open_database,
    sqlite_url,
)
from tokligence.ledger.migrations import migrate
from tokligence.ledger.models import ENTRY_COLUMNS, entry_values
from tokligence.routing.rules import parse_aliases
from tokligence.timing import server_timing

from .snippets import ROOT, Block, blocks

DOCS = sorted(path.relative_to(ROOT).as_posix() for path in (ROOT / "docs").glob("*.md"))
DEFAULT_ADDRESS = "127.0.0.1:8081"
DIRECTORY_ADDRESS = "127.0.0.1:8090"
# A second gateway's port, on a page that runs two (docs/trading.md).
SECOND_PORT = "8082"
REAL_AGENTS = {"docs/quickstart.md"}
PAGE_TIMEOUT = 300

# sh blocks that are not run, each with why and what runs it instead.
NOT_RUN = {
    "docs/quickstart.md: python3 -m venv .venv && . .venv/bin/activate && pip install .": (
        "installs from the package index; tests/distribution/test_wheel.py installs the built "
        "wheel with no index and serves"
    ),
}

# What a page says its commands print, beyond succeeding.
EXPECTED_OUTPUT = {
    "docs/quickstart.md": (
        '"content":"hello"',  # loopback's echo
        '"model":"gpt-4o-mini',  # the provider's answer, in both dialects
        '"type":"message"',
        "\n401\n",  # no key, no entry
        "Hello.\nHello.\n",  # Claude Code's and Codex's answers
    ),
    # The status line of a session without requests yet, gpt-5 routed by default.
    "docs/claude-code.md": ("project · gpt-5 → openai · session: no requests yet · today ",),
    "docs/trading.md": (
        "valid: receipt 1 from ed25519:tNtl",
        "4500 micro-USD (USD 0.004500)\n",
        "refused: exit status 1\n",
        # Bob's client got Alice's answer; Alice posted its 12 input tokens
        # at 2.50 and 9 output at 10 (the fake's counts): 120 micro-USD.
        '"content":"Hello."',
        "active  5000000         0     120    4999880",
        '"name":"fast"',  # the seller's offer, listed by the directory
        "their statement has 1 requests, 1 receipts, USD 0.000120; clean\n",
    ),
}

# The harness's part of each page's shell session (see the module docstring).
PRELUDE = r"""
set -euo pipefail
declare -A _docs_serve_pids=()
_docs_stop_serve() {  # the gateway on port $1
  local pid="${_docs_serve_pids[$1]-}"
  if [ -n "$pid" ]; then
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    unset "_docs_serve_pids[$1]"
  fi
}
_docs_directory_pid=""
_docs_stop_directory() {
  if [ -n "$_docs_directory_pid" ]; then
    kill -TERM "$_docs_directory_pid" 2>/dev/null || true
    wait "$_docs_directory_pid" 2>/dev/null || true
    _docs_directory_pid=""
  fi
}
_docs_finish() {
  local port
  for port in "${!_docs_serve_pids[@]}"; do _docs_stop_serve "$port"; done
  _docs_stop_directory
  command tokligence stop >/dev/null 2>&1 || true
}
trap _docs_finish EXIT
_docs_directory() {
  _docs_stop_directory
  command tokligence "$@" >>"$DOCS_SERVE_LOG" 2>&1 &
  _docs_directory_pid=$!
  for _ in $(seq 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$TOKLIGENCE_TRADE_DIRECTORY_PORT/health"; then
      return 0
    fi
    if ! kill -0 "$_docs_directory_pid" 2>/dev/null; then
      echo "tokligence trade directory exited:" >&2; cat "$DOCS_SERVE_LOG" >&2; return 1
    fi
    sleep 0.1
  done
  echo "tokligence trade directory did not become healthy" >&2; return 1
}
tokligence() {
  if [ "${1-}" = trade ] && [ "${2-}" = directory ]; then _docs_directory "$@"; return; fi
  if [ "${1-}" != serve ]; then command tokligence "$@"; return; fi
  local port="$TOKLIGENCE_FACADE_PORT" previous="" arg pid
  for arg in "$@"; do
    if [ "$previous" = --port ]; then port="$arg"; fi
    previous="$arg"
  done
  _docs_stop_serve "$port"
  command tokligence "$@" >>"$DOCS_SERVE_LOG" 2>&1 &
  pid=$!
  _docs_serve_pids[$port]=$pid
  for _ in $(seq 300); do
    if curl -s -o /dev/null "http://127.0.0.1:$port/health"; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then
      echo "tokligence serve exited:" >&2; cat "$DOCS_SERVE_LOG" >&2; return 1
    fi
    sleep 0.1
  done
  echo "tokligence serve did not become healthy" >&2; return 1
}
"""


def _upstream() -> FakeServer:
    """One fake for every provider: each dialect answers on its own path."""
    chat = ChatScenario(text=["Hello."])
    responses = ResponsesScenario(items=[MessageItem(pieces=["Hello."])])
    messages = MessagesScenario(blocks=[TextBlock(pieces=["Hello."])])
    return FakeServer(
        defaults={
            "/v1/chat/completions": by_stream(chat_stream(chat), chat_json(chat)),
            "/v1/responses": by_stream(responses_stream(responses), responses_json(responses)),
            "/v1/messages": by_stream(messages_stream(messages), messages_json(messages)),
        }
    )


@pytest.fixture(scope="module")
def upstream_url() -> Iterator[str]:
    with ExitStack() as stack:
        yield stack.enter_context(_upstream().running_in_thread())


def _agent_bin(page: str, tmp: Path) -> Path:
    if page not in REAL_AGENTS:
        return install_fake_agents(tmp / "bin")
    real = tmp / "agents"
    real.mkdir()
    for agent in (CLAUDE_CODE, CODEX):
        (real / agent.bin).symlink_to(install(agent))
    return real


def _page_env(
    page: str, tmp: Path, port: int, upstream: str, directory_port: int
) -> dict[str, str]:
    env = offline_env(tmp / "home")
    env.update(OFF)  # the suite's gateways never ask a registry
    env.update(
        PATH=os.pathsep.join([str(_agent_bin(page, tmp)), VENV_BIN, env.get("PATH", "")]),
        XDG_DATA_HOME=str(tmp / "xdg-data"),
        XDG_STATE_HOME=str(tmp / "state"),
        TOKLIGENCE_FACADE_PORT=str(port),
        TOKLIGENCE_TRADE_DIRECTORY_PORT=str(directory_port),
        TOKLIGENCE_OPENAI_BASE_URL=upstream + "/v1",
        TOKLIGENCE_ANTHROPIC_BASE_URL=upstream,
        DOCS_SERVE_LOG=str(tmp / "serve.log"),
        FAKE_RECORD=str(tmp / "fake-agent.json"),
        FAKE_CALL="1",
    )
    return env


def _free_ports(count: int) -> list[int]:
    """``count`` different free ports."""
    ports: list[int] = []
    while len(ports) < count:
        port = free_port()
        if port not in ports:
            ports.append(port)
    return ports


def _script(page: str, port: int, directory_port: int, second_port: int) -> str:
    parts = [PRELUDE]
    for block in blocks(page):
        if block.lang != "sh" or block.key in NOT_RUN:
            continue
        parts.append(f"echo '### {page} line {block.line}' >&2")
        text = block.text.replace(DEFAULT_ADDRESS, f"127.0.0.1:{port}")
        text = text.replace(DIRECTORY_ADDRESS, f"127.0.0.1:{directory_port}")
        text = text.replace(f"127.0.0.1:{SECOND_PORT}", f"127.0.0.1:{second_port}")
        parts.append(text.replace(f"--port {SECOND_PORT}", f"--port {second_port}"))
    return "\n".join(parts)


def _pages_with_commands() -> list[str]:
    return [
        page for page in DOCS if any(b.lang == "sh" and b.key not in NOT_RUN for b in blocks(page))
    ]


@pytest.mark.parametrize("page", _pages_with_commands())
def test_each_pages_commands_run_as_written(page: str, tmp_path: Path, upstream_url: str) -> None:
    port, directory_port, second_port = _free_ports(3)
    env = _page_env(page, tmp_path, port, upstream_url, directory_port)
    work = tmp_path / "work"
    work.mkdir()
    result = subprocess.run(
        ["bash", "-c", _script(page, port, directory_port, second_port)],
        cwd=work,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=PAGE_TIMEOUT,
        check=False,
    )
    report = f"{page}:\n--- stdout\n{result.stdout}\n--- stderr\n{result.stderr}"
    assert result.returncode == 0, report
    # A command that printed an error answer failed, whatever curl's status.
    assert '"error"' not in result.stdout, report
    for expected in EXPECTED_OUTPUT.get(page, ()):
        assert expected in result.stdout, f"{expected!r} not printed by {report}"


# -- samples ------------------------------------------------------------------

PROVIDER_KEYS = {
    "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
    "TOKLIGENCE_ANTHROPIC_API_KEY": "sk-ant-test",
    "DEEPSEEK_API_KEY": "sk-test",
}


def _load_ini(block: Block, tmp: Path) -> None:
    path = tmp / "gateway.ini"
    path.write_text(block.text, encoding="utf-8")
    load_config(
        env=PROVIDER_KEYS, flags={}, config_file=path, cwd=tmp, user_config_dir=tmp / "user"
    )


def _parse_json(block: Block, tmp: Path) -> None:
    json.loads(block.text)


def _codex_overrides() -> list[str]:
    arguments = codex_arguments(
        Endpoint(host="127.0.0.1", port=8081), model="gpt-5.5", agent_args=()
    )
    return arguments[1::2]


def _codex_toml(block: Block, tmp: Path) -> None:
    """The manual config.toml sets what the launcher's ``-c`` overrides set."""
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+
    documented = tomllib.loads(block.text)
    for override in _codex_overrides():
        dotted, value = override.split("=", 1)
        node: object = documented
        for part in dotted.split("."):
            assert isinstance(node, dict) and part in node, f"config.toml lacks {dotted}"
            node = node[part]
        assert node == tomllib.loads(f"v = {value}")["v"], dotted


def _codex_c_list(block: Block, tmp: Path) -> None:
    """The documented ``-c`` list is the launcher's, in its order."""
    documented = [
        line.split(maxsplit=1)[1].split("  ")[0].strip()
        for line in block.text.splitlines()
        if line.startswith("-c ")
    ]
    expected = [
        override.replace("127.0.0.1:8081", "127.0.0.1:PORT").replace("gpt-5.5", "MODEL")
        for override in _codex_overrides()
    ]
    assert documented == expected


def _launcher_synopsis(block: Block, tmp: Path) -> None:
    """The synopsis is the first line of the launcher's own help."""
    usage = USAGE.format(agent="claude|codex", title="", upper="", small="")
    assert "usage: " + block.text.strip() == usage.splitlines()[0]


def _alias_file(block: Block, tmp: Path) -> None:
    aliases = parse_aliases(block.text, source="docs")
    assert len(aliases) == 4, aliases


def _hook_script(block: Block, tmp: Path) -> None:
    """The example hook, given the documented event on stdin, logs it."""
    event = next(b for b in blocks(block.file) if b.lang == "json" and '"event"' in b.text)
    script = tmp / "hook.py"
    script.write_text(block.text, encoding="utf-8")
    log = tmp / "events.log"
    subprocess.run(
        [sys.executable, str(script)],
        input=event.text,
        text=True,
        env={**os.environ, "HOOK_LOG": str(log)},
        check=True,
        timeout=30,
    )
    assert re.fullmatch(r"\S+ key\.issued user=carol@example\.com actor=1\n", log.read_text())


def _server_timing_sample(block: Block, tmp: Path) -> None:
    """The sample header is what the gateway writes for those figures."""
    assert block.text.strip() == "Server-Timing: " + server_timing(0.412, 812.304, stream=False)


def _scrape_config(block: Block, tmp: Path) -> None:
    """The scrape target is the gateway's default address, its path the default."""
    default = load_config(env={}, flags={}, cwd=tmp, user_config_dir=tmp / "user")
    assert f'targets: ["127.0.0.1:{default.facade_port}"]' in block.text
    assert "metrics_path" not in block.text  # /metrics, Prometheus's default


def _load_balancer_config(block: Block, tmp: Path) -> None:
    """The balancer's timeouts and sizes fit the gateway's defaults, as the
    page says, and streams are not buffered."""
    default = load_config(env={}, flags={}, cwd=tmp, user_config_dir=tmp / "user")

    def number(pattern: str) -> int:
        found = re.search(pattern, block.text)
        assert found, pattern
        return int(found.group(1))

    servers = re.findall(r"server \S+:(\d+);", block.text)
    assert servers and set(servers) == {str(default.facade_port)}
    # Idle connections closed by the balancer first; its read timeout longer
    # than the gateway's own upstream silence; the same body limit.
    assert number(r"keepalive_timeout (\d+)s;") < default.idle_timeout
    assert number(r"gateway's idle_timeout \((\d+) s\)") == default.idle_timeout
    assert number(r"proxy_read_timeout (\d+)s;") > default.upstream_read_timeout
    assert number(r"upstream_read_timeout \((\d+) s\)") == default.upstream_read_timeout
    assert number(r"client_max_body_size (\d+)m;") * 1024 * 1024 == default.max_body_bytes
    for line in (
        "proxy_buffering off;",
        "proxy_http_version 1.1;",
        'proxy_set_header Connection "";',
        "proxy_next_upstream error timeout;",  # never non_idempotent: no call sent twice
    ):
        assert line in block.text, line


def _statusline_settings(block: Block, tmp: Path) -> None:
    """The settings snippet runs this command, which the CLI has."""
    command = json.loads(block.text)["statusLine"]
    assert command["type"] == "command"
    assert command["command"] == "tokligence statusline"
    assert _build_parser().parse_args(command["command"].split()[1:]).command == "statusline"


STATUSLINE_SAMPLE = (
    "project · claude-sonnet-4-5 → openai:gpt-5 · session 12.3k in / 1.2k out · $0.42 · today $3.10"
)


def _statusline_sample(block: Block, tmp: Path) -> None:
    """The sample line is what the command prints for such a session."""
    session = "0b7e1c2a-1d2e-4f00-8000-0000000000d0"
    config = load_config(
        env={
            "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
            "TOKLIGENCE_MODEL_ALIASES": "claude-sonnet*=>gpt-5",
            "TOKLIGENCE_ROUTES": "claude*=>openai",
        },
        flags={"data_dir": str(tmp / "data")},
        cwd=tmp,
        user_config_dir=tmp / "user",
    )
    db = open_database(sqlite_url(config.ledger_file()))
    try:
        migrate(db, "ledger")
        now = datetime.now(timezone.utc)
        rows = [
            (dict(session_id=session, input_tokens=12_345, output_tokens=1_234), "0.4212"),
            (dict(session_id="another", output_tokens=1), "2.68"),
        ]
        values = [
            entry_values(make_row(request_id=f"r{i}", created_at=now, **fields), Decimal(cost))
            for i, (fields, cost) in enumerate(rows)
        ]
        with connection(db), backend_of(db).write_transaction(db):
            insert_rows(db, "ledger_entries", ENTRY_COLUMNS, values)
    finally:
        close_database(db)

    class Out(io.StringIO):
        encoding = "utf-8"

    out = Out()
    status = {
        "session_id": session,
        "model": {"id": "claude-sonnet-4-5", "display_name": "Sonnet 4.5"},
        "workspace": {"current_dir": "/home/me/project"},
    }
    statusline.run(
        lambda: config, stdin=io.BytesIO(json.dumps(status).encode()), stdout=out, deadline=30
    )
    assert out.getvalue() == STATUSLINE_SAMPLE + "\n"
    assert block.text.strip() == STATUSLINE_SAMPLE


def _billing_table(block: Block, tmp: Path) -> None:
    """The sample table is what ``audit billing`` prints for those figures."""
    import argparse
    import contextlib
    import io
    from datetime import datetime, timezone

    from tokligence.admin.cli_audit import _show_billing
    from tokligence.ledger.audit import BilledRequest, BillingAudit, BillingEntry

    request = BilledRequest(
        request_id="req_4f1c2a9e0b7d6c5a3e",
        created_at=datetime(2026, 3, 2, 12, 1, 7, tzinfo=timezone.utc),
        reported_input_tokens=12,
        counted_input_tokens=8,
        reported_output_tokens=9,
        counted_output_tokens=2,
    )
    entry = BillingEntry(
        provider="openai",
        model="gpt-4o-mini",
        requests=1,
        reported_input_tokens=12,
        counted_input_tokens=8,
        reported_output_tokens=9,
        counted_output_tokens=2,
        input_drift=12 / 8 - 1,
        output_drift=9 / 2 - 1,
        flagged=True,
        requests_behind=(request,),
    )
    audit = BillingAudit(since=None, until=None, tolerance=0.35, entries=(entry,))
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        _show_billing(argparse.Namespace(json=False, csv=False), audit)
    assert printed.getvalue() == block.text


def _trading_document(block: Block, tmp: Path) -> None:
    """A sample signed document is a real one: the receipt verifies and is
    the one the page's commands check; the order is signed by its buyer;
    the offer is signed by its seller and holds the terms of the page's
    offer section; the announcement has the directory's shape and its
    seller's signature."""
    from tokligence.trade.documents import encode
    from tokligence.trade.offers import offer_document
    from tokligence.trade.orders import read_order
    from tokligence.trade.receipts import verify_receipt
    from tokligence.trade.signing import unseal

    data = encode(json.loads(block.text))
    if data.startswith(b'{"announcement"'):
        _announcement_document(data)
        return
    if b'"statement"' in data:
        _trading_statement(data)
        return
    if b'"receipt"' in data:
        verdict = verify_receipt(data)
        assert verdict.ok, verdict.detail
        run = [b.text for b in blocks(block.file) if b.lang == "sh" and "receipt.json" in b.text]
        assert data.decode() in run[0]
        return
    if data.startswith(b'{"order"'):
        seller = json.loads(data)["order"]["seller"]
        assert read_order(data, seller=seller).order.offer == "fast@1"
        return
    sealed = unseal("offer", data)
    assert sealed.verified_by(sealed.body["seller"])
    (ini,) = [b for b in blocks(block.file) if b.lang == "ini" and "[trade.offer." in b.text]
    path = tmp / "gateway.ini"
    path.write_text(ini.text, encoding="utf-8")
    (offer,) = load_config(
        env=PROVIDER_KEYS, flags={}, config_file=path, cwd=tmp, user_config_dir=tmp / "user"
    ).offers
    body = sealed.body
    assert body == offer_document(
        offer, seller=body["seller"], version=body["version"], effective_at=body["effective_at"]
    )


def _announcement_document(data: bytes) -> None:
    """The sample announcement is one a directory would accept the shape
    and signature of."""
    from tokligence.trade.directory.documents import ANNOUNCEMENT, Announcement
    from tokligence.trade.signing import unseal

    sealed = unseal(ANNOUNCEMENT, data)
    announcement = Announcement.from_document(sealed.body)
    assert sealed.verified_by(announcement.seller)


def _trading_statement(data: bytes) -> None:
    """The sample statement is the one the test seller signs of the page's
    receipt (re-signed by the test key, as the text says) for that day."""
    from tests.trade.keys import BUYER, SELLER
    from tests.trade.samples import STARTED, receipt
    from tests.trade.test_statements import line_of
    from tokligence.trade.receipts import sign_receipt
    from tokligence.trade.statements import Period, held, issue, verify_bundle

    signed = sign_receipt(receipt(), SELLER)
    made = issue(
        signer=SELLER,
        counterparty=BUYER.public_id,
        direction="supply",
        period=Period(start=STARTED, end=STARTED + 86_400_000),
        issued_at=STARTED + 86_460_000,
        receipts=[held(signed.data)],
        lines=[line_of(signed)],
    )
    assert made.sealed.data == data
    assert verify_bundle(made.to_json(), issuer=SELLER.public_id).ok


BY_LANGUAGE: dict[str, Callable[[Block, Path], None]] = {
    "ini": _load_ini,
    "json": _parse_json,
}
BY_BLOCK: dict[str, Callable[[Block, Path], None]] = {
    'docs/codex.md: model = "gpt-5.5"': _codex_toml,
    'docs/launchers.md: -c model_providers.tokligence.name="Tokligence gateway"': _codex_c_list,
    "docs/launchers.md: tokligence [gateway options] claude|codex [launcher options] [--] "
    "[claude|codex arguments]": _launcher_synopsis,
    "docs/configuration.md: # comment lines start with # or ;": _alias_file,
    "docs/hooks.md: #!/usr/bin/env python3": _hook_script,
    'docs/observability.md: Server-Timing: gateway;dur=0.412;desc="added by the gateway", '
    'upstream;dur=812.304;desc="upstream"': _server_timing_sample,
    "docs/observability.md: scrape_configs:": _scrape_config,
    "docs/scale-out.md: upstream tokligence {": _load_balancer_config,
    "docs/claude-code.md: {": _statusline_settings,
    f"docs/claude-code.md: {STATUSLINE_SAMPLE}": _statusline_sample,
    f"docs/cli.md: {STATUSLINE_SAMPLE}": _statusline_sample,
    "docs/audit.md: PROVIDER  MODEL        REQUESTS  INPUT REPORTED  INPUT COUNTED  DRIFT  "
    "OUTPUT REPORTED  OUTPUT COUNTED  DRIFT  FLAG": _billing_table,
    "docs/trading.md: {": _trading_document,
}


def _samples() -> list[object]:
    return [
        pytest.param(block, id=f"{block.file}:{block.line}")
        for page in DOCS
        for block in blocks(page)
        if block.lang != "sh"
    ]


@pytest.mark.parametrize("block", _samples())
def test_each_sample_is_what_it_claims(block: Block, tmp_path: Path) -> None:
    check = BY_BLOCK.get(block.key) or BY_LANGUAGE.get(block.lang)
    assert check is not None, f"{block.key} (line {block.line}): no check for this block"
    check(block, tmp_path)


def test_every_block_is_run_or_checked() -> None:
    keys = {block.key for page in DOCS for block in blocks(page)}
    assert set(NOT_RUN) <= keys, set(NOT_RUN) - keys  # a stale entry hides nothing
    assert set(BY_BLOCK) <= keys, set(BY_BLOCK) - keys
    unchecked = [
        f"{block.file}:{block.line} ({block.lang or 'no language'})"
        for page in DOCS
        for block in blocks(page)
        if block.lang != "sh" and block.key not in BY_BLOCK and block.lang not in BY_LANGUAGE
    ]
    assert not unchecked, unchecked
