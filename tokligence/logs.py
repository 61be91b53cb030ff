"""Logging for the gateway: one readable line per event, keys never written.

Theory of operation. :func:`setup_logging` attaches two handlers to the
``tokligence`` logger (not the root logger, so libraries keep their own
defaults): stderr for people watching the foreground process, and a file that
rotates at UTC midnight *and* when it would exceed ``log_max_bytes``, keeping
``log_backups`` old files. Both handlers carry :class:`RedactFilter`, which
rewrites anything shaped like a credential before it is formatted, so a key
pasted into a model name, a URL or an exception message does not reach disk.
Requests are logged by the server as one :func:`request_line` each on the
``tokligence.access`` logger. Nothing happens at import time; calling
:func:`setup_logging` again replaces the handlers it installed before.
"""

from __future__ import annotations

import json
import logging
import logging.handlers
import os
import re
import sys
import time
from pathlib import Path

from .config import Config, settings_by_name
from .wire.text import utf8

LOGGER_NAME = "tokligence"
ACCESS_LOGGER_NAME = "tokligence.access"
REDACTED = "[redacted]"
LINE_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
TIME_FORMAT = "%Y-%m-%dT%H:%M:%SZ"
_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}
_OURS = "_tokligence_handler"  # attribute marking handlers setup_logging owns

# Key shapes: OpenAI (sk-, sk-proj-), Anthropic (sk-ant-), our gateway keys
# (tok_), Gemini (AIza), and whatever follows "Bearer" or an x-api-key field.
# Sixteen characters minimum keeps ordinary words like "sk-learn" readable.
SECRET_PATTERNS = (
    (re.compile(r"(?<![A-Za-z0-9])sk-[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])tok_[A-Za-z0-9_\-]{16,}"), REDACTED),
    (re.compile(r"(?<![A-Za-z0-9])AIza[A-Za-z0-9_\-]{30,}"), REDACTED),
    (re.compile(r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/\-]+=*"), r"\g<1>" + REDACTED),
    (re.compile(r"(?i)(x-api-key[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]+"), r"\g<1>" + REDACTED),
)


# Every match of a pattern above contains "sk-", "tok_" or "AIza", or one of
# these in any case. Testing for them first spares a clean line (every
# access line) the five scans, which cost more than the rest of writing it.
_CASELESS_MARKERS = re.compile(r"(?i)bearer|x-api-key")


def _may_hold_secret(text: str) -> bool:
    if "sk-" in text or "tok_" in text or "AIza" in text:
        return True
    if text.isascii():  # then lower() is exactly the patterns' case rule
        lowered = text.lower()
        return "bearer" in lowered or "x-api-key" in lowered
    return _CASELESS_MARKERS.search(text) is not None


def redact(text: str) -> str:
    if not _may_hold_secret(text):
        return text
    for pattern, replacement in SECRET_PATTERNS:
        text = pattern.sub(replacement, text)
    return text


# Set on a record once the filter has cleaned it: the stderr and the file
# handler each run the filter, and the second finds nothing left to do.
_REDACTED = "_tokligence_redacted"


class RedactFilter(logging.Filter):
    """Replaces credential-shaped substrings in the message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, _REDACTED, False):
            return True
        setattr(record, _REDACTED, True)
        message = record.getMessage()
        cleaned = redact(message)
        if cleaned != message:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


class DailyAndSizeRotatingHandler(logging.handlers.TimedRotatingFileHandler):
    """Rolls over at UTC midnight or before a write would pass ``max_bytes``.

    The stock timed handler names backups by date only and would overwrite
    the first backup of a day on the second size rollover, so backups here are
    named ``<file>.<YYYYmmdd-HHMMSS>[.N]`` and pruned oldest first.
    """

    def __init__(self, filename: Path, *, max_bytes: int, backup_count: int) -> None:
        super().__init__(
            filename,
            when="midnight",
            backupCount=backup_count,
            encoding="utf-8",
            # A lone surrogate a client sent (legal in JSON) is written
            # escaped, never an encoding error that loses the line.
            errors="backslashreplace",
            utc=True,
        )
        self.max_bytes = max_bytes

    def emit(self, record: logging.LogRecord) -> None:
        # The stock emit formats a record twice: once to ask whether it
        # fits (shouldRollover), once to write it. Here it is formatted once.
        try:
            line = self.format(record) + self.terminator
            if self._should_roll(len(utf8(line))):
                self.doRollover()
            if self.stream is None:
                self.stream = self._open()
            self.stream.write(line)
            self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)

    def shouldRollover(self, record: logging.LogRecord) -> bool:
        return self._should_roll(len(utf8(self.format(record) + self.terminator)))

    def _should_roll(self, line_bytes: int) -> bool:
        if time.time() >= self.rolloverAt:
            return True
        if self.max_bytes <= 0:
            return False
        if self.stream is None:
            self.stream = self._open()
        size = self.stream.seek(0, os.SEEK_END)
        # An empty file is never rotated, or one huge record would loop forever.
        return size > 0 and size + line_bytes > self.max_bytes

    def doRollover(self) -> None:
        if self.stream is not None:
            self.stream.close()
            self.stream = None
        base = Path(self.baseFilename)
        if base.exists() and base.stat().st_size > 0:
            stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime())
            target = base.with_name(f"{base.name}.{stamp}")
            n = 0
            while target.exists():
                n += 1
                target = base.with_name(f"{base.name}.{stamp}.{n}")
            os.replace(base, target)
        for old in self.backups()[: -self.backupCount or None]:
            old.unlink(missing_ok=True)
        if not self.delay:
            self.stream = self._open()
        now = int(time.time())
        self.rolloverAt = self.computeRollover(now)

    def backups(self) -> list[Path]:
        """Rotated files, oldest first."""
        base = Path(self.baseFilename)
        found = [p for p in base.parent.glob(base.name + ".*") if p.is_file()]
        return sorted(found, key=lambda p: (p.stat().st_mtime, _backup_order(p)))


def _backup_order(path: Path) -> tuple[str, int]:
    stem, _, counter = path.name.rpartition(".")
    return (stem, int(counter)) if counter.isdigit() else (path.name, 0)


def setup_logging(config: Config, *, worker: int | None = None) -> None:
    """Install the stderr and rotating-file handlers; raises OSError if the
    log directory cannot be created or the file opened. Worker ``i`` of
    ``serve --workers`` writes ``<name>.worker-<i>`` beside the log file:
    one rotating file per process."""
    logger = logging.getLogger(LOGGER_NAME)
    shutdown_logging()
    formatter = logging.Formatter(LINE_FORMAT, TIME_FORMAT)
    formatter.converter = time.gmtime  # the Z in TIME_FORMAT means UTC
    handlers: list[logging.Handler] = [logging.StreamHandler(sys.stderr)]
    path = config.log_file_path()
    if path is not None and worker is not None:
        path = path.with_name(f"{path.stem}.worker-{worker}{path.suffix}")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        handlers.append(
            DailyAndSizeRotatingHandler(
                path, max_bytes=config.log_max_bytes, backup_count=config.log_backups
            )
        )
    for handler in handlers:
        handler.setFormatter(formatter)
        handler.addFilter(RedactFilter())
        setattr(handler, _OURS, True)
        logger.addHandler(handler)
    logger.setLevel(_LEVELS[config.log_level])
    # Our handlers are the whole story; don't echo again through the root.
    logger.propagate = False
    # LINE_FORMAT shows none of the thread, the process or the calling
    # line, which every record would otherwise look up: the settings the
    # logging documentation gives for leaving them out (its "Optimization"
    # section). A third of an access line's cost (~10 of ~30 us).
    logging.logThreads = False
    logging.logProcesses = False
    logging.logMultiprocessing = False
    logging._srcfile = None  # documented there


def shutdown_logging() -> None:
    """Remove and close the handlers setup_logging installed."""
    logger = logging.getLogger(LOGGER_NAME)
    for handler in list(logger.handlers):
        if getattr(handler, _OURS, False):
            logger.removeHandler(handler)
            handler.close()


def log_ignored_legacy(config: Config) -> None:
    """One warning per legacy setting a user set; they have no effect here."""
    logger = logging.getLogger(LOGGER_NAME + ".config")
    for name in config.ignored_legacy:
        source = config.sources.get(name, "env")
        setting = settings_by_name().get(name)
        why = setting.help if setting is not None else "accepted for compatibility; no effect"
        logger.warning("setting %s (%s): %s", name, source, why)


def request_line(
    *,
    request_id: str,
    method: str,
    path: str,
    model: str | None,
    status: int,
    duration_ms: float,
    client: str | None,
    stream: bool,
) -> str:
    """The access-log line for one request, e.g.
    ``req=7f3a POST /v1/chat/completions model=loopback status=200 dur=1.2ms
    stream=true client=127.0.0.1:51234``. Client-supplied fields are quoted
    when they contain spaces or control characters, so one request is one line.
    """
    return (
        f"req={_field(request_id)} {_field(method)} {_field(path)}"
        f" model={_field(model)} status={status} dur={duration_ms:.1f}ms"
        f" stream={'true' if stream else 'false'} client={_field(client)}"
    )


_PLAIN = re.compile(r"[\x21-\x7e]+\Z")


def _field(value: str | None) -> str:
    if not value:
        return "-"
    if _PLAIN.match(value) and '"' not in value:
        return value
    return json.dumps(value)  # escapes newlines and non-ASCII: one request, one line
