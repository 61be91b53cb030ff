"""Logging: line format, key redaction, rotation by size and by day."""

from __future__ import annotations

import io
import logging
import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokligence.config import Config, load_config
from tokligence.logs import (
    ACCESS_LOGGER_NAME,
    LOGGER_NAME,
    SECRET_PATTERNS,
    DailyAndSizeRotatingHandler,
    RedactFilter,
    log_ignored_legacy,
    redact,
    request_line,
    setup_logging,
    shutdown_logging,
)

OPENAI_KEY = "sk-proj-" + "A1b2C3d4" * 6
ANTHROPIC_KEY = "sk-ant-api03-" + "Zz9_-x" * 10
GATEWAY_KEY = "tok_" + "q" * 32
LINE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ (DEBUG|INFO|WARNING|ERROR) [\w.]+: .*")


@pytest.fixture(autouse=True)
def clean_logging() -> Iterator[None]:
    yield
    shutdown_logging()
    logger = logging.getLogger(LOGGER_NAME)
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


def make_config(tmp_path: Path, **env: str) -> Config:
    base = {"TOKLIGENCE_LOG_DIR": str(tmp_path / "logs")}
    return load_config(env={**base, **env}, cwd=tmp_path, user_config_dir=tmp_path / "none")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (f"key={OPENAI_KEY} end", "key=[redacted] end"),
        (f"anthropic {ANTHROPIC_KEY}", "anthropic [redacted]"),
        (f"gateway key {GATEWAY_KEY}.", "gateway key [redacted]."),
        ("Authorization: Bearer abc.def-ghi_123==", "Authorization: Bearer [redacted]"),
        ("authorization: bearer xyz", "authorization: bearer [redacted]"),
        ('{"x-api-key": "secret-value", "a": 1}', '{"x-api-key": "[redacted]", "a": 1}'),
        ("X-Api-Key: plainsecret next", "X-Api-Key: [redacted] next"),
        ("AIza" + "B" * 35, "[redacted]"),
        # Ordinary words that merely start like keys survive.
        ("uses sk-learn and tok_count", "uses sk-learn and tok_count"),
        ("task-1234567890abcdefghij", "task-1234567890abcdefghij"),
    ],
)
def test_redact(text: str, expected: str) -> None:
    assert redact(text) == expected


def every_pattern(text: str) -> str:
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


def test_redact_skips_no_secret_that_the_patterns_would_find() -> None:
    # redact() first looks for what every match must contain; over texts
    # that mix those markers in any case with characters that case rules
    # treat specially (Kelvin sign, dotted and dotless i, long s), it must
    # give exactly what applying every pattern gives.
    rng = random.Random("redact")
    pieces = ["sk-", "tok_", "AIza", "bearer ", "x-api-key: ", "Authorization: ", "=", '"']
    filler = ["a", "Z", "9", "_", "-", " ", ".", "\u00e9"]
    # Characters a case-insensitive pattern matches to ASCII letters, which
    # str.lower() does not turn into them.
    special = {"i": ["\u0130", "\u0131"], "k": ["\u212a"], "s": ["\u017f"]}

    def any_case(c: str) -> str:
        return rng.choice([c.lower(), c.upper(), *special.get(c.lower(), [])])

    for _ in range(1000):
        parts = []
        for _ in range(rng.randint(1, 6)):
            piece = "".join(any_case(c) for c in rng.choice(pieces))
            parts.append(piece + "".join(rng.choice(filler) for _ in range(rng.randint(0, 40))))
        text = "".join(parts)
        assert redact(text) == every_pattern(text), text


def capture_logger() -> tuple[logging.Logger, io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(RedactFilter())
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("tokligence.test.redact")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    return logger, stream


def test_filter_redacts_arguments_and_tracebacks() -> None:
    logger, stream = capture_logger()
    logger.info("upstream said %s with %d", f"bad key {OPENAI_KEY}", 401)
    try:
        raise RuntimeError(f"header was Bearer {GATEWAY_KEY}")
    except RuntimeError:
        logger.exception("failed for model %s", "gpt-4o")
    out = stream.getvalue()
    assert "upstream said bad key [redacted] with 401" in out
    assert "failed for model gpt-4o" in out
    assert "RuntimeError: header was Bearer [redacted]" in out
    assert OPENAI_KEY not in out and GATEWAY_KEY not in out


def test_setup_logging_writes_stderr_and_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, TOKLIGENCE_LOG_LEVEL="warn")
    setup_logging(config)
    logging.getLogger("tokligence.server").info("hidden below threshold")
    logging.getLogger("tokligence.server").warning("listening with %s", OPENAI_KEY)
    logging.getLogger(ACCESS_LOGGER_NAME).error("access line")
    shutdown_logging()
    err_lines = capsys.readouterr().err.splitlines()
    assert [line.split(" ", 1)[1] for line in err_lines] == [
        "WARNING tokligence.server: listening with [redacted]",
        "ERROR tokligence.access: access line",
    ]
    assert all(LINE.fullmatch(line) for line in err_lines)
    file_text = (tmp_path / "logs" / "gatewayd.log").read_text(encoding="utf-8")
    assert file_text.splitlines() == err_lines


def test_setup_logging_twice_does_not_duplicate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path)
    setup_logging(config)
    setup_logging(config)
    logging.getLogger("tokligence").info("once")
    assert capsys.readouterr().err.count("once") == 1


def test_stderr_only_when_log_file_is_dash(tmp_path: Path) -> None:
    setup_logging(make_config(tmp_path, TOKLIGENCE_LOG_FILE="-"))
    logging.getLogger("tokligence").error("x")
    assert not (tmp_path / "logs").exists()
    assert not (tmp_path / "-").exists()


def test_ignored_legacy_settings_are_warned(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = make_config(tmp_path, TOKLIGENCE_SCHEDULER_ENABLED="true")
    setup_logging(config)
    log_ignored_legacy(config)
    err = capsys.readouterr().err
    assert "setting scheduler_enabled (env TOKLIGENCE_SCHEDULER_ENABLED)" in err
    assert "WARNING" in err and "no effect" in err


def test_rotation_by_size_keeps_backups(tmp_path: Path) -> None:
    path = tmp_path / "gw.log"
    handler = DailyAndSizeRotatingHandler(path, max_bytes=200, backup_count=3)
    handler.setFormatter(logging.Formatter("%(message)s"))
    records = [f"record {i:03d} " + "x" * 30 for i in range(40)]
    for message in records:
        handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None))
    handler.close()
    backups = handler.backups()
    assert len(backups) == 3
    assert path.stat().st_size <= 200
    assert all(b.stat().st_size <= 200 for b in backups)
    kept = [line for f in [*backups, path] for line in f.read_text(encoding="utf-8").splitlines()]
    # Oldest records were pruned with their files; the rest are intact and in order.
    assert kept == records[-len(kept) :]
    assert len(kept) >= 3 * 4


def test_rotation_at_midnight(tmp_path: Path) -> None:
    path = tmp_path / "gw.log"
    handler = DailyAndSizeRotatingHandler(path, max_bytes=0, backup_count=2)
    handler.setFormatter(logging.Formatter("%(message)s"))

    def emit(message: str) -> None:
        handler.emit(logging.LogRecord("t", logging.INFO, __file__, 1, message, None, None))

    emit("yesterday")
    handler.rolloverAt = int(time.time()) - 1  # as if midnight just passed
    emit("today")
    handler.close()
    assert [b.read_text(encoding="utf-8") for b in handler.backups()] == ["yesterday\n"]
    assert path.read_text(encoding="utf-8") == "today\n"
    assert handler.rolloverAt > time.time()


def test_request_line() -> None:
    line = request_line(
        request_id="7f3a",
        method="POST",
        path="/v1/chat/completions",
        model="loopback",
        status=200,
        duration_ms=1.234,
        client="127.0.0.1:51234",
        stream=True,
    )
    assert line == (
        "req=7f3a POST /v1/chat/completions model=loopback status=200 dur=1.2ms"
        " stream=true client=127.0.0.1:51234"
    )


def test_request_line_keeps_one_request_on_one_line() -> None:
    line = request_line(
        request_id="r1",
        method="GET",
        path="/v1/models?x=a b",
        model="evil\nmodel=fake",
        status=404,
        duration_ms=0,
        client=None,
        stream=False,
    )
    assert "\n" not in line
    assert line == (
        'req=r1 GET "/v1/models?x=a b" model="evil\\nmodel=fake" status=404 dur=0.0ms'
        " stream=false client=-"
    )
