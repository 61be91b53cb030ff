"""``tokligence statusline``, in process: Claude Code's recorded status
documents (``samples/claude_code_2.1.332_statusline_*.json``, captured from
the real Claude Code in interactive mode, paths and ids redacted), the
formatting, and every degraded case: a line, exit status 0, no traceback."""

from __future__ import annotations

import io
import json
import threading
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.gateway_thread import isolated_config
from tests.ledger.rows import make_row
from tokligence.agents.statusline import (
    ASCII,
    UNICODE,
    ClaudeStatus,
    Style,
    dollars,
    parse_status,
    run,
    tokens,
)
from tokligence.config import Config, ConfigError
from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import migrate
from tokligence.ledger.models import ENTRY_COLUMNS, entry_values

SAMPLES = Path(__file__).parent / "samples"
START = "claude_code_2.1.332_statusline_start.json"
AFTER_TURN = "claude_code_2.1.332_statusline_after_turn.json"
MODEL_FLAG = "claude_code_2.1.332_statusline_model_flag.json"
SESSION = "00000000-0000-4000-8000-000000000001"  # the samples' redacted session id
NOW = datetime(2026, 3, 1, 15, 0, tzinfo=timezone.utc)
ROUTES = {"TOKLIGENCE_ROUTES": "claude*=>loopback"}


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


class Utf8Out(io.StringIO):
    encoding = "utf-8"


def status_line(
    stdin: bytes | None,
    load: Any,
    *,
    ascii_only: bool = False,
    deadline: float = 10.0,
    exit_process: Any = None,
) -> str:
    out = Utf8Out()
    code = run(
        load,
        stdin=None if stdin is None else io.BytesIO(stdin),
        stdout=out,
        ascii_only=ascii_only,
        deadline=deadline,
        now=lambda: NOW,
        exit_process=exit_process or (lambda code: None),
    )
    assert code == 0
    text = out.getvalue()
    assert text.endswith("\n") and text.count("\n") == 1, text  # exactly one line
    return text[:-1]


def config_in(tmp: Path, **env: str) -> Config:
    return isolated_config(tmp, env={**ROUTES, **env})


def ledger_with(config: Config, *rows: tuple[dict[str, Any], Decimal | None]) -> None:
    db = dbmod.open_database(dbmod.sqlite_url(config.ledger_file()))
    try:
        migrate(db, "ledger")
        values = [
            entry_values(make_row(request_id=f"r{i}", **fields), cost)
            for i, (fields, cost) in enumerate(rows)
        ]
        with dbmod.connection(db), dbmod.backend_of(db).write_transaction(db):
            dbmod.insert_rows(db, "ledger_entries", ENTRY_COLUMNS, values)
    finally:
        dbmod.close_database(db)


# ------------------------------------------------------------ the samples


def test_the_recorded_documents_give_the_fields_the_line_uses() -> None:
    start, problem = parse_status(sample(START))
    assert problem is None
    assert start == ClaudeStatus(
        session_id=SESSION,
        model_id="claude-opus-5-5",
        model_name="Opus 5.5",
        folder="project",  # the name only, never the path
        cost_usd=Decimal(0),
    )
    after, _ = parse_status(sample(AFTER_TURN))
    assert after.session_id == SESSION and after.cost_usd == Decimal("0.072132")
    flagged, _ = parse_status(sample(MODEL_FLAG))
    assert (flagged.model_id, flagged.model_name) == ("loopback", "loopback")


def test_the_samples_hold_no_path_of_the_machine_they_were_recorded_on() -> None:
    for path in SAMPLES.glob("claude_code_*_statusline_*.json"):
        document = json.loads(path.read_text())
        for field in ("transcript_path", "cwd"):
            assert document[field].startswith("/home/user/"), (path.name, field)


def test_a_session_line_has_route_tokens_cost_and_today(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    ledger_with(
        config,
        (
            dict(
                session_id=SESSION,
                created_at=NOW - timedelta(hours=1),
                requested_model="claude-opus-5-5",
                input_tokens=2_000,
                cache_read_tokens=10_000,
                cache_write_tokens=345,
                output_tokens=1_234,
            ),
            Decimal("0.4162"),
        ),
        # Another session today, and this session's user's request of yesterday.
        (dict(session_id="other", created_at=NOW, output_tokens=1), Decimal("2.684")),
        (dict(created_at=NOW - timedelta(days=1), output_tokens=1), Decimal("100")),
    )
    line = status_line(sample(AFTER_TURN), lambda: config)
    assert line == (
        "project · claude-opus-5-5 → loopback · session 12.3k in / 1.2k out · $0.42 · today $3.10"
    )
    ascii_line = status_line(sample(AFTER_TURN), lambda: config, ascii_only=True)
    assert ascii_line == line.replace(" → ", " -> ").replace(" · ", " | ")
    assert ascii_line.isascii()


def test_the_route_names_the_upstream_model_an_alias_sends(tmp_path: Path) -> None:
    config = isolated_config(
        tmp_path,
        env={
            "TOKLIGENCE_OPENAI_API_KEY": "sk-test",
            "TOKLIGENCE_ROUTES": "claude*=>openai|loopback",
            "TOKLIGENCE_MODEL_ALIASES": "claude-opus*=>gpt-5",
        },
    )
    line = status_line(sample(START), lambda: config)
    assert line == "project · claude-opus-5-5 → openai|loopback:gpt-5 · no ledger yet"


def test_a_model_no_rule_routes_says_so(tmp_path: Path) -> None:
    line = status_line(sample(START), lambda: isolated_config(tmp_path))
    assert line == "project · claude-opus-5-5 → no route · no ledger yet"


def test_a_session_without_requests_yet_shows_claude_codes_estimate(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    ledger_with(config, (dict(created_at=NOW, output_tokens=1), Decimal("1")))
    assert status_line(sample(START), lambda: config) == (
        "project · claude-opus-5-5 → loopback · session: no requests yet · today $1.00"
    )
    assert status_line(sample(AFTER_TURN), lambda: config) == (
        "project · claude-opus-5-5 → loopback · est $0.07 · today $1.00"
    )


def test_unpriced_requests_make_the_cost_a_lower_bound(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    row = dict(session_id=SESSION, created_at=NOW, input_tokens=5, output_tokens=5)
    ledger_with(config, (row, None))
    assert status_line(sample(AFTER_TURN), lambda: config).endswith(
        "session 5 in / 5 out · no price · today no price"
    )
    ledger_with(config, (row, Decimal("0.019")))
    assert status_line(sample(AFTER_TURN), lambda: config).endswith(
        "session 10 in / 10 out · ≥$0.01 · today ≥$0.01"
    )
    assert status_line(sample(AFTER_TURN), lambda: config, ascii_only=True).endswith(
        "session 10 in / 10 out | >=$0.01 | today >=$0.01"
    )


def test_today_is_the_sessions_users_when_its_requests_have_one(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    ledger_with(
        config,
        (dict(session_id=SESSION, user_id=3, created_at=NOW, output_tokens=1), Decimal("1")),
        (dict(user_id=3, created_at=NOW, output_tokens=1), Decimal("0.5")),
        (dict(user_id=4, created_at=NOW, output_tokens=1), Decimal("20")),
    )
    assert status_line(sample(AFTER_TURN), lambda: config).endswith("$1.00 · today $1.50")


# ------------------------------------------------------------ formatting


@pytest.mark.parametrize(
    ("count", "text"),
    [
        (0, "0"),
        (999, "999"),
        (1_000, "1k"),
        (12_345, "12.3k"),
        (99_999, "99.9k"),
        (123_456, "123k"),
        (999_999, "999k"),
        (1_250_000, "1.2M"),
        (3_000_000_000, "3G"),
    ],
)
def test_token_counts_are_short(count: int, text: str) -> None:
    assert tokens(count) == text


@pytest.mark.parametrize(
    ("amount", "text"),
    [
        ("0", "$0.00"),
        ("0.004", "<$0.01"),
        ("0.0049999", "<$0.01"),
        ("0.005", "$0.01"),
        ("0.424999", "$0.42"),
        ("1234.5", "$1,234.50"),
    ],
)
def test_dollars_are_rounded_to_cents(amount: str, text: str) -> None:
    assert dollars(Decimal(amount)) == text


def test_ascii_is_used_when_the_output_is_not_utf8() -> None:
    class Latin1(io.StringIO):
        encoding = "latin-1"

    assert Style.for_stream(Utf8Out()) is UNICODE
    assert Style.for_stream(Latin1()) is ASCII
    assert Style.for_stream(Utf8Out(), ascii_only=True) is ASCII


# ------------------------------------------------------------ degraded


@pytest.mark.parametrize(
    ("stdin", "reason"),
    [
        (b"", "not JSON"),
        (b"not json", "not JSON"),
        (b"\xff\xfe", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (None, "no standard input"),
    ],
)
def test_bad_input_still_gives_todays_spend(
    tmp_path: Path, stdin: bytes | None, reason: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_in(tmp_path)
    ledger_with(config, (dict(created_at=NOW, output_tokens=1), Decimal("1")))
    assert status_line(stdin, lambda: config) == "tokligence · today $1.00"
    assert reason in capsys.readouterr().err


def test_odd_field_types_and_control_characters_are_ignored(tmp_path: Path) -> None:
    document = {
        "session_id": 12,
        "model": {"id": "claude-opus-5-5\x1b[31m\n", "display_name": ["x"]},
        "workspace": "nope",
        "cwd": "/home/user/my\nproject/",
        "cost": {"total_cost_usd": "lots"},
    }
    line = status_line(json.dumps(document).encode(), lambda: config_in(tmp_path))
    assert line == "myproject · claude-opus-5-5[31m → loopback · no ledger yet"


def test_no_ledger_yet_creates_none(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    assert status_line(sample(START), lambda: config).endswith("→ loopback · no ledger yet")
    assert not config.ledger_file().parent.exists()


def test_a_disabled_ledger_says_so(tmp_path: Path) -> None:
    config = config_in(tmp_path, TOKLIGENCE_LEDGER_ENABLED="false")
    assert status_line(sample(START), lambda: config).endswith("→ loopback · ledger off")


def test_a_configuration_error_is_a_short_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def load() -> Config:
        raise ConfigError("unknown environment variable TOKLIGENCE_BOGUS")

    assert status_line(sample(START), load) == "project · claude-opus-5-5 · configuration error"
    assert "TOKLIGENCE_BOGUS" in capsys.readouterr().err
    broken = config_in(tmp_path, TOKLIGENCE_ROUTES="claude*=>nowhere")
    assert status_line(sample(START), lambda: broken) == (
        "project · claude-opus-5-5 → ? (configuration error) · no ledger yet"
    )


def test_a_ledger_that_is_not_a_database_is_unavailable(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = config_in(tmp_path)
    config.ledger_file().parent.mkdir(parents=True)
    config.ledger_file().write_bytes(b"this is not a SQLite file" * 100)
    assert status_line(sample(START), lambda: config).endswith("→ loopback · ledger unavailable")
    assert "cannot" in capsys.readouterr().err


def test_a_ledger_without_its_tables_is_unavailable(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    config.ledger_file().parent.mkdir(parents=True)
    dbmod.close_database(dbmod.open_database(dbmod.sqlite_url(config.ledger_file())))
    assert status_line(sample(START), lambda: config).endswith("ledger unavailable")


def test_an_unexpected_error_is_a_line_not_a_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def load() -> Config:
        raise RuntimeError("boom")

    assert status_line(sample(START), load) == "project · tokligence error"
    assert "RuntimeError: boom" in capsys.readouterr().err


def test_the_watchdog_prints_what_is_known_when_the_ledger_hangs(tmp_path: Path) -> None:
    config = config_in(tmp_path)
    release = threading.Event()
    exits: list[int] = []

    def slow_load() -> Config:
        release.wait(10)  # stands for a database that does not answer
        return config

    def exit_process(code: int) -> None:
        exits.append(code)
        release.set()  # here the process would end; the test's goes on

    line = status_line(sample(START), slow_load, deadline=0.2, exit_process=exit_process)
    assert line == "project · ledger did not answer"
    assert exits == [0]  # the process is ended, whatever the main thread is doing
