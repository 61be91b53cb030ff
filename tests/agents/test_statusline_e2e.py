"""``tokligence statusline`` as Claude Code runs it: a separate process, a
recorded status document on stdin, the ledger a running gateway writes."""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import httpx
import pytest

from tests.agents.fake_agents import VENV_BIN
from tests.gateway_thread import GatewayThread, isolated_config
from tests.update_check_off import OFF
from tokligence.ledger import db as dbmod
from tokligence.ledger.prices import add_price
from tokligence.ledger.queries import LedgerRecord, recent_entries

SAMPLE = Path(__file__).parent / "samples" / "claude_code_2.1.332_statusline_after_turn.json"
SESSION = "00000000-0000-4000-8000-000000000001"  # the sample's
MODEL = "claude-opus-5-5"  # the sample's model.id
ROUTES = {"TOKLIGENCE_ROUTES": "claude*=>loopback"}
# Dear enough that a few loopback requests cost dollars: USD per million tokens.
INPUT_PRICE, OUTPUT_PRICE = Decimal(10_000), Decimal(20_000)
DEADLINE_SLACK_S = 8.0  # interpreter start-up on a loaded machine, beyond the 1.5 s deadline


def statusline_env(tmp: Path, **extra: str) -> dict[str, str]:
    """Only what the test chooses: no TOKLIGENCE_* of the developer's."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    env.update(OFF)
    env.update(ROUTES, HOME=str(tmp / "home"), XDG_CONFIG_HOME=str(tmp / "config"))
    env.update(extra)
    return env


def statusline(tmp: Path, stdin: bytes, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [os.path.join(VENV_BIN, "tokligence"), "statusline", "--data-dir", str(tmp / "data")],
        input=stdin.decode("utf-8", "replace"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=statusline_env(tmp, **env),
        cwd=tmp,
        timeout=60,
        check=False,
    )


def ask(gateway: GatewayThread, text: str, session: str | None) -> None:
    headers = {"anthropic-version": "2023-06-01"}
    if session is not None:
        headers["x-claude-code-session-id"] = session
    answer = httpx.post(
        gateway.url() + "/v1/messages",
        json={"model": MODEL, "max_tokens": 100, "messages": [{"role": "user", "content": text}]},
        headers=headers,
        timeout=30,
    )
    assert answer.status_code == 200, answer.text


def cents(amount: Decimal) -> str:
    return f"${amount.quantize(Decimal('0.01'), rounding=ROUND_HALF_UP):,}"


def test_the_line_shows_the_sessions_tokens_and_cost_from_the_gateways_ledger(
    tmp_path: Path,
) -> None:
    config = isolated_config(tmp_path, env=ROUTES)
    with GatewayThread(config) as gateway:
        # The gateway has made the ledger; its writer sees a new price at its next batch.
        db = dbmod.open_database(dbmod.sqlite_url(config.ledger_file()))
        try:
            add_price(
                db,
                model_pattern=MODEL,
                provider="loopback",
                input_per_mtok=INPUT_PRICE,
                output_per_mtok=OUTPUT_PRICE,
                cache_read_per_mtok=Decimal(0),
                cache_write_per_mtok=Decimal(0),
            )
        finally:
            dbmod.close_database(db)
        ask(gateway, "hello from the session", SESSION)
        ask(gateway, "a second, somewhat longer question from the same session", SESSION)
        ask(gateway, "another session", "11111111-2222-4333-8444-555555555555")
        ask(gateway, "no session at all", None)
        entries = wait_for_entries(config.ledger_file(), 4)
    mine = [e for e in entries if e.row.session_id == SESSION]
    assert len(mine) == 2 and all(e.cost_usd for e in mine)
    tokens_in = sum(e.row.input_tokens for e in mine)
    tokens_out = sum(e.row.output_tokens for e in mine)
    assert 0 < tokens_in < 1000 and 0 < tokens_out < 1000  # shown exactly
    cost = sum(
        (e.row.input_tokens * INPUT_PRICE + e.row.output_tokens * OUTPUT_PRICE) / 10**6
        for e in mine
    )
    today = sum(
        ((e.row.input_tokens * INPUT_PRICE + e.row.output_tokens * OUTPUT_PRICE) / 10**6)
        for e in entries
    )
    done = statusline(tmp_path, SAMPLE.read_bytes())
    assert done.returncode == 0, done.stderr
    assert done.stdout == (
        f"project · {MODEL} → loopback · session {tokens_in} in / {tokens_out} out · "
        f"{cents(Decimal(cost))} · today {cents(Decimal(today))}\n"
    ), done.stderr
    assert done.stderr == ""


def wait_for_entries(ledger: Path, count: int) -> list[LedgerRecord]:
    db = dbmod.open_database(dbmod.sqlite_url(ledger))
    try:
        deadline = time.monotonic() + 10
        while True:
            entries = recent_entries(db, limit=100)
            if len(entries) >= count or time.monotonic() > deadline:
                return list(entries)
            time.sleep(0.05)
    finally:
        dbmod.close_database(db)


def test_garbage_on_stdin_and_no_ledger_still_print_a_line(tmp_path: Path) -> None:
    done = statusline(tmp_path, b"\x00 not json {")
    assert (done.returncode, done.stdout) == (0, "tokligence · no ledger yet\n")
    assert "Traceback" not in done.stderr and "not JSON" in done.stderr
    assert not (tmp_path / "data").exists()  # nothing created


@pytest.fixture
def silent_server() -> Iterator[int]:
    """A port on 127.0.0.1 that accepts connections and never says a word."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen(8)
        yield server.getsockname()[1]


def test_a_database_that_never_answers_ends_at_the_watchdog(
    tmp_path: Path, silent_server: int
) -> None:
    # The watchdog's own line proves the process ended by the deadline (it
    # exits right after writing it), not by a connect timeout; the suite
    # times nothing itself.
    done = statusline(
        tmp_path,
        SAMPLE.read_bytes(),
        TOKLIGENCE_DATABASE_URL=f"postgresql://nobody@127.0.0.1:{silent_server}/ledger",
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == f"project · {MODEL} → loopback · ledger did not answer\n"
    assert "no answer within 1.5 s" in done.stderr


def test_stdin_left_open_does_not_hang_the_line(tmp_path: Path) -> None:
    with subprocess.Popen(
        [os.path.join(VENV_BIN, "tokligence"), "statusline", "--data-dir", str(tmp_path / "d")],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        env=statusline_env(tmp_path),
        cwd=tmp_path,
    ) as child:
        assert child.stdin is not None
        child.stdin.write(b'{"session_id": "x"')  # and never closed
        child.stdin.flush()
        code = child.wait(timeout=1.5 + DEADLINE_SLACK_S)
        assert child.stdout is not None and child.stderr is not None
        out, err = child.stdout.read(), child.stderr.read()
    assert code == 0, err
    assert out.decode() == "tokligence · no status from Claude Code\n"
