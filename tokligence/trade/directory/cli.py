"""``tokligence trade directory``: run an offer directory in the foreground.

It reads the configuration like any command (``--config``, ``--data-dir``,
``TOKLIGENCE_*``) for its own settings (``trade_directory_host``,
``_port``, ``_ttl``, ``_clock_skew``) and the server's limits, keeps its
state in ``<data_dir>/directory.db``, and logs to standard error only (it
is not a gateway: the gateway's log file stays the gateway's).

Exit statuses as everywhere in the CLI: 0 stopped by SIGINT or SIGTERM;
1 it could not run (its database); 2 a configuration error or a port it
cannot listen on.
"""

from __future__ import annotations

import logging
import sqlite3
import sys
import time
from collections.abc import Callable

import peewee

from ...config import Config, ConfigError
from ...logs import LINE_FORMAT, LOGGER_NAME, TIME_FORMAT, RedactFilter
from ...server.listen import CannotListen
from .server import DirectorySettings, run

EXIT_FAILED = 1
EXIT_USAGE = 2
_CANNOT_RUN = (CannotListen, peewee.PeeweeException, sqlite3.Error, OSError)


def run_directory(prog: str, load: Callable[[], Config]) -> int:
    try:
        config = load()
    except ConfigError as error:
        print(f"{prog}: configuration error: {error}", file=sys.stderr)
        return EXIT_USAGE
    _log_to_stderr(config.log_level)
    try:
        run(DirectorySettings.from_config(config))
    except BaseException as raised:
        cause = _cause(raised)
        if cause is None:
            raise
        print(f"{prog}: cannot run the directory: {cause}", file=sys.stderr)
        return EXIT_USAGE if isinstance(cause, CannotListen) else EXIT_FAILED
    return 0


def _cause(raised: BaseException) -> BaseException | None:
    """The one error that stopped the directory from running, when that is
    all ``raised`` holds (perhaps inside exception groups)."""
    if isinstance(raised, _CANNOT_RUN):
        return raised
    grouped = getattr(raised, "exceptions", None)
    if isinstance(grouped, tuple) and len(grouped) == 1:
        return _cause(grouped[0])
    return None


def _log_to_stderr(level: str) -> None:
    handler = logging.StreamHandler(sys.stderr)
    formatter = logging.Formatter(LINE_FORMAT, TIME_FORMAT)
    formatter.converter = time.gmtime  # the Z in TIME_FORMAT means UTC
    handler.setFormatter(formatter)
    handler.addFilter(RedactFilter())
    logger = logging.getLogger(LOGGER_NAME)
    logger.addHandler(handler)
    logger.setLevel("WARNING" if level == "warn" else level.upper())
    logger.propagate = False
