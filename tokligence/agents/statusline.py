"""``tokligence statusline``: Claude Code's status line, from the gateway's view.

Claude Code runs its ``statusLine`` command on every status update (at most
every few hundred milliseconds), with a JSON document about the session on
stdin, and shows the first line the command prints. This one prints::

    project · claude-sonnet-4-5 → openai:gpt-5 · session 12.3k in / 1.2k out · $0.42 · today $3.10

- the workspace folder's name;
- the model Claude Code asks for and where the gateway's configuration
  routes it (provider, and the upstream model when an alias renames it),
  resolved by the same code as the gateway's router, from the same
  configuration (``--config``, ``--data-dir``, environment);
- the session's tokens (``in`` counts every prompt token, cache reads and
  writes included) and cost, summed from the ledger by Claude Code's
  session id, which Claude Code also sends with every request
  (``X-Claude-Code-Session-Id``, kept in the ledger's ``session_id``);
- today's spend: the UTC day, as budgets and ``tokligence usage`` count
  days; the spend of the session's gateway user when its requests carry
  one (auth on), else of the whole ledger.

A cost is a lower bound, shown ``≥$0.42``, when some requests matched no
price. When the gateway has no cost for the session, Claude Code's own
estimate (``cost.total_cost_usd``, at its vendor's list prices) is shown as
``est $0.42``.

The ledger is read directly, as the management commands read it, and never
written: no migration (a status line must not take the write lock), no
SQLite file created when there is none yet. A status line must always show
something: bad input, no ledger, a database that fails or does not answer
within :data:`DEADLINE_S` all give a shorter line (the reason on stderr)
and exit status 0, never a traceback. A watchdog thread prints what is
known so far and ends the process when the deadline passes.

Start-up time matters, so this module imports only the standard library at
the top; peewee and the ledger are imported when the configuration names
an existing ledger.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from decimal import ROUND_DOWN, ROUND_HALF_UP, Decimal
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..config import Config
    from ..ledger.queries import Spend

# Seconds before the watchdog prints what is known and ends the process.
DEADLINE_S = 1.5
MAX_STATUS_BYTES = 1 << 20  # Claude Code's document is about 2 kB
CENT = Decimal("0.01")


@dataclass(frozen=True, kw_only=True, slots=True)
class ClaudeStatus:
    """The fields of Claude Code's status document this line uses."""

    session_id: str | None = None
    model_id: str | None = None
    model_name: str | None = None
    folder: str | None = None  # the workspace folder's name, not its path
    cost_usd: Decimal | None = None  # Claude Code's own estimate


@dataclass(frozen=True, slots=True)
class Style:
    arrow: str
    separator: str
    at_least: str

    @classmethod
    def for_stream(cls, stream: IO[str], *, ascii_only: bool = False) -> Style:
        encoding = (getattr(stream, "encoding", None) or "").lower().replace("-", "")
        if ascii_only or encoding not in ("utf8", "utf8sig"):
            return ASCII
        return UNICODE


UNICODE = Style(arrow=" → ", separator=" · ", at_least="≥")
ASCII = Style(arrow=" -> ", separator=" | ", at_least=">=")


@dataclass(slots=True)
class Line:
    """The pieces known so far, and the one print of the process."""

    style: Style
    out: IO[str]
    pieces: list[str] = field(default_factory=list)
    late: str = "no status from Claude Code"  # what the watchdog says is missing
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _printed: bool = False

    def text(self, *more: str) -> str:
        pieces = [piece for piece in (*self.pieces, *more) if piece]
        return self.style.separator.join(pieces) or "tokligence"

    def emit(self, text: str) -> bool:
        """Print ``text`` unless a line was printed already."""
        with self._lock:
            if self._printed:
                return False
            self._printed = True
            with contextlib.suppress(OSError, ValueError):  # Claude Code went away
                self.out.write(text + "\n")
                self.out.flush()
            return True


def note(reason: str) -> None:
    """Why the line is shorter, for a person running the command by hand."""
    with contextlib.suppress(OSError, ValueError):
        print(f"tokligence statusline: {reason}", file=sys.stderr, flush=True)


# ----------------------------------------------------------------- the input


def read_status(stdin: IO[bytes] | None) -> tuple[ClaudeStatus, str | None]:
    """Claude Code's document from ``stdin``, and what was wrong with it."""
    if stdin is None:
        return ClaudeStatus(), "no standard input"
    try:
        if stdin.isatty():
            return ClaudeStatus(), "standard input is a terminal, not Claude Code's status"
        data = stdin.read(MAX_STATUS_BYTES + 1)
    except (OSError, ValueError) as error:
        return ClaudeStatus(), f"cannot read standard input: {error}"
    if len(data) > MAX_STATUS_BYTES:
        return ClaudeStatus(), "the status document is too large"
    return parse_status(data)


def parse_status(data: bytes) -> tuple[ClaudeStatus, str | None]:
    try:
        document = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return ClaudeStatus(), "the status document is not JSON"
    if not isinstance(document, dict):
        return ClaudeStatus(), "the status document is not a JSON object"
    model = _object(document.get("model"))
    workspace = _object(document.get("workspace"))
    folder = _text(workspace.get("current_dir")) or _text(document.get("cwd"))
    return (
        ClaudeStatus(
            session_id=_text(document.get("session_id")),
            model_id=_text(model.get("id")),
            model_name=_text(model.get("display_name")),
            folder=_folder_name(folder) if folder else None,
            cost_usd=_money(_object(document.get("cost")).get("total_cost_usd")),
        ),
        None,
    )


def _object(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _text(value: Any) -> str | None:
    if not isinstance(value, str):
        return None
    # One line, no control characters (they would break the line or the terminal).
    cleaned = "".join(ch for ch in value if ch.isprintable()).strip()
    return cleaned[:200] or None


def _folder_name(path: str) -> str:
    name = path.replace("\\", "/").rstrip("/").rsplit("/", 1)[-1]
    return name or path


def _money(value: Any) -> Decimal | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    amount = Decimal(str(value))
    return amount if amount.is_finite() and amount >= 0 else None


# ---------------------------------------------------------------- formatting


def tokens(count: int) -> str:
    """12 -> ``12``, 12345 -> ``12.3k``, 123456 -> ``123k``, 1234567 -> ``1.2M``."""
    for size, unit in ((1_000_000_000, "G"), (1_000_000, "M"), (1_000, "k")):
        if count >= size:
            value = count / size
            # Truncated, not rounded: 999.96k must not read 1000.0k.
            shown = int(value * 10) / 10 if value < 100 else int(value)
            return f"{shown:g}{unit}"
    return str(count)


def dollars(amount: Decimal) -> str:
    """``$0.42`` (half a cent rounds up); an amount that would show as
    ``$0.00`` but is not zero is ``<$0.01``."""
    cents = amount.quantize(CENT, rounding=ROUND_HALF_UP)
    if amount > 0 and cents == 0:
        return "<$0.01"
    return f"${cents:,}"


def spend_cost(spend: Spend, style: Style) -> str:
    """The cost of ``spend``; a lower bound when some requests had no price."""
    if spend.unpriced_requests and spend.cost_usd == 0:
        return "no price"
    if spend.unpriced_requests:
        # Rounded down, so that it stays a lower bound.
        return f"{style.at_least}${spend.cost_usd.quantize(CENT, rounding=ROUND_DOWN):,}"
    return dollars(spend.cost_usd)


def route_text(model: str, config: Config, style: Style) -> str:
    """``model → provider[:upstream model]`` as the configuration routes it."""
    from ..errors import GatewayError
    from ..routing.table import provider_names, router_for

    try:
        route = router_for(config, provider_names(config)).resolve(model)
    except GatewayError:
        return f"{model}{style.arrow}no route"
    target = "|".join(route.providers)
    if route.upstream_model != model:
        target += f":{route.upstream_model}"
    return f"{model}{style.arrow}{target}"


def session_text(spend: Spend, style: Style) -> str:
    prompt = spend.input_tokens + spend.cache_read_tokens + spend.cache_write_tokens
    return (
        f"session {tokens(prompt)} in / {tokens(spend.output_tokens)} out"
        f"{style.separator}{spend_cost(spend, style)}"
    )


def today_text(spend: Spend, style: Style) -> str:
    return f"today {spend_cost(spend, style)}"


# ---------------------------------------------------------------- the ledger


@dataclass(frozen=True, kw_only=True, slots=True)
class LedgerFigures:
    session: Spend | None
    today: Spend


def utc_day(now: datetime) -> tuple[datetime, datetime]:
    start = now.astimezone(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0)
    return start, start + timedelta(days=1)


def ledger_figures(config: Config, session_id: str | None, now: datetime) -> LedgerFigures | str:
    """The session's and today's spend, or why there are none (a short reason)."""
    if not config.ledger_enabled:
        return "ledger off"
    if not config.database_url and not config.ledger_file().is_file():
        return "no ledger yet"
    from ..ledger.drivers import import_peewee_for

    import_peewee_for(config.database_url)
    import sqlite3

    import peewee

    from ..ledger import db as dbmod
    from ..ledger.queries import period_spend, session_spend

    # What opening or reading a database raises (as in admin.cli_common).
    errors = (peewee.PeeweeException, sqlite3.Error, OSError, ValueError)
    url, _ = dbmod.database_urls(
        database_url=config.database_url,
        ledger_file=config.ledger_file(),
        identity_file=config.identity_file(),
    )
    try:
        db = dbmod.open_database(url)
    except errors as error:
        note(f"cannot open the ledger {dbmod.describe_url(url)}: {error}")
        return "ledger unavailable"
    try:
        session = session_spend(db, session_id) if session_id else None
        user = session.user_id if session is not None else None
        since, until = utc_day(now)
        today = period_spend(db, since=since, until=until, user_id=user)
    except errors as error:
        note(f"cannot read the ledger {dbmod.describe_url(url)}: {error}")
        return "ledger unavailable"
    finally:
        dbmod.close_database(db)
    return LedgerFigures(session=session, today=today)


# --------------------------------------------------------------------- main


def compose(
    status: ClaudeStatus,
    line: Line,
    load: Callable[[], Config],
    now: Callable[[], datetime],
) -> str:
    """The line, built piece by piece into ``line`` (so that the watchdog can
    print the pieces known when the ledger does not answer)."""
    from ..config import ConfigError

    style = line.style
    if status.folder:
        line.pieces.append(status.folder)
    model = status.model_id or status.model_name
    if not status.folder and not model:
        line.pieces.append("tokligence")  # what the line is about, when nothing else says
    try:
        config = load()
    except ConfigError as error:
        note(f"configuration error: {error}")
        line.pieces.append(model or "")
        return line.text("configuration error")
    if status.model_id:
        try:
            line.pieces.append(route_text(status.model_id, config, style))
        except (ValueError, OSError) as error:
            note(f"configuration error: {error}")
            line.pieces.append(f"{status.model_id}{style.arrow}? (configuration error)")
    elif model:
        line.pieces.append(model)
    figures = ledger_figures(config, status.session_id, now())
    if isinstance(figures, str):
        estimate = _estimate(status)
        return line.text(estimate, figures)
    if figures.session is not None:
        if figures.session.requests:
            line.pieces.append(session_text(figures.session, style))
        else:
            line.pieces.append(_estimate(status) or "session: no requests yet")
    return line.text(today_text(figures.today, style))


def _estimate(status: ClaudeStatus) -> str:
    if status.cost_usd is None or status.cost_usd == 0:
        return ""
    return f"est {dollars(status.cost_usd)}"


def run(
    load: Callable[[], Config],
    *,
    stdin: IO[bytes] | None,
    stdout: IO[str],
    ascii_only: bool = False,
    deadline: float = DEADLINE_S,
    now: Callable[[], datetime] = lambda: datetime.now(timezone.utc),
    exit_process: Callable[[int], Any] = os._exit,
) -> int:
    """Print the status line; always returns 0 (Claude Code hides the line
    of a command that fails)."""
    line = Line(style=Style.for_stream(stdout, ascii_only=ascii_only), out=stdout)

    def too_late() -> None:
        if line.emit(line.text(*([] if line.pieces else ["tokligence"]), line.late)):
            note(f"no answer within {deadline:g} s")
            exit_process(0)

    watchdog = threading.Timer(deadline, too_late)
    watchdog.daemon = True
    watchdog.start()
    try:
        status, problem = read_status(stdin)
        if problem:
            note(problem)
        line.late = "ledger did not answer"
        text = compose(status, line, load, now)
    except Exception as error:  # the line must never be a traceback
        note(f"internal error: {type(error).__name__}: {error}")
        text = line.text("tokligence error")
    finally:
        watchdog.cancel()
    line.emit(text)
    return 0


def main(load: Callable[[], Config], *, ascii_only: bool = False) -> int:
    """The CLI's entry: the real standard streams."""
    stdin = getattr(sys.stdin, "buffer", None)
    return run(load, stdin=stdin, stdout=sys.stdout, ascii_only=ascii_only)
