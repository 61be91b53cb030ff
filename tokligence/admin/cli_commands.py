"""The management commands' arguments and their dispatch (light to import).

``tokligence users|keys|usage|prices|audit|trade …`` work directly on the databases the
gateway uses (same configuration, same files or server), whether or not it
is running. ``tokligence.cli`` registers these parsers with its gateway
options as parents (``--config``, ``--data-dir``, …) and calls :func:`run`
with the loaded configuration.

This module imports only argparse and pure modules: ``tokligence
--version`` and ``config show`` build the whole parser and must not import
peewee or trio. :func:`run` imports the command's module when it runs.
Arguments are checked here, so a bad value is a usage error (exit 2)
before any database is opened.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from ..auth import ROLES, SCOPES
from ..identity.records import STATUSES
from .values import (
    AUDIT_LIMITS,
    GROUP_BY,
    MAX_EXPIRY_DAYS,
    MAX_MIN_REQUESTS,
    MAX_RECENT,
    MAX_RPM,
    MAX_TPM,
    parse_count,
    parse_duration,
    parse_fraction,
    parse_id,
    parse_money,
    parse_time,
)

if TYPE_CHECKING:
    from ..config import Config

    Subparsers = argparse._SubParsersAction[argparse.ArgumentParser]

COMMANDS = ("users", "keys", "usage", "prices", "audit")


def _typed(parse: Callable[[str], Any], what: str) -> Callable[[str], Any]:
    def convert(text: str) -> Any:
        try:
            return parse(text)
        except ValueError as error:
            raise argparse.ArgumentTypeError(f"{what} {error}") from None

    return convert


def _count(maximum: int, minimum: int = 0) -> Callable[[str], int]:
    return _typed(lambda text: parse_count(text, minimum=minimum, maximum=maximum), "value")


def _fraction(maximum: float) -> Callable[[str], float]:
    return _typed(lambda text: parse_fraction(text, maximum=maximum), "value")


MONEY = _typed(parse_money, "amount")
DURATION = _typed(parse_duration, "duration")
TIME = _typed(parse_time, "time")
KEY_ID = _typed(parse_id, "key")
USER_HELP = "user id or e-mail address"


def _json_flag(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print JSON for scripts")


def _listing_flags(parser: argparse.ArgumentParser) -> None:
    """A listing prints a table, JSON (--json) or CSV (--csv)."""
    output = parser.add_mutually_exclusive_group()
    output.add_argument("--json", action="store_true", help="print JSON for scripts")
    output.add_argument("--csv", action="store_true", help="print CSV for spreadsheets")


def add_commands(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    """Add the management commands to ``tokligence``'s subcommands."""
    _users(commands, common)
    _keys(commands, common)
    _usage(commands, common)
    _prices(commands, common)
    _audit(commands, common)
    _trade(commands, common)


def _users(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    users = commands.add_parser(
        "users", help="list and manage users", description="List and manage gateway users."
    )
    actions = users.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="list users")
    _listing_flags(listing)

    create = actions.add_parser("create", parents=[common], help="create a user")
    create.add_argument("email", metavar="EMAIL")
    create.add_argument("--name", default="", help="display name")
    create.add_argument("--role", choices=ROLES, default="gateway_user")
    _json_flag(create)

    update = actions.add_parser(
        "update",
        parents=[common],
        help="change a user's e-mail, name, role or status",
        description="Change the given fields of a user; the others keep their value.",
    )
    update.add_argument("user", metavar="USER", help=USER_HELP)
    update.add_argument("--email")
    update.add_argument("--name", help="display name")
    update.add_argument("--role", choices=ROLES)
    update.add_argument("--status", choices=STATUSES)
    _json_flag(update)

    delete = actions.add_parser("delete", parents=[common], help="delete a user and its API keys")
    delete.add_argument("user", metavar="USER", help=USER_HELP)
    _json_flag(delete)

    load = actions.add_parser(
        "import",
        parents=[common],
        help="create or update users from a JSON or CSV file",
        description="Create or update users by e-mail, all or nothing. A .json file holds an "
        'array of objects (or {"users": [...]}) with email and optionally display_name, '
        "role, status; a .csv file has a header row naming those columns (name is "
        "accepted for display_name). Fields left out keep their stored value.",
    )
    load.add_argument("file", metavar="FILE", help="a .json or .csv file ('-' for JSON on stdin)")
    _json_flag(load)


def _keys(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    keys = commands.add_parser(
        "keys", help="list, create and revoke API keys", description="Manage gateway API keys."
    )
    actions = keys.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="list API keys")
    listing.add_argument("--user", metavar="USER", help=f"only this user's keys ({USER_HELP})")
    _listing_flags(listing)

    create = actions.add_parser(
        "create",
        parents=[common],
        help="issue a key (its secret is printed once)",
        description="Issue an API key for a user. The key is printed once, on standard "
        "output; only its hash is stored, so it cannot be shown again.",
    )
    create.add_argument("user", metavar="USER", help=USER_HELP)
    create.add_argument("--name", default="", help="a label, e.g. the machine it is for")
    create.add_argument(
        "--scopes",
        default="model",
        help=f"comma-separated scopes: {', '.join(SCOPES)} (default model)",
    )
    create.add_argument(
        "--expires-in-days", type=_count(MAX_EXPIRY_DAYS, minimum=1), metavar="DAYS"
    )
    create.add_argument("--rpm", type=_count(MAX_RPM), help="requests per minute (0 blocks)")
    create.add_argument("--tpm", type=_count(MAX_TPM), help="tokens per minute (0 blocks)")
    create.add_argument("--budget-daily", type=MONEY, metavar="USD", help="USD per UTC day")
    create.add_argument("--budget-monthly", type=MONEY, metavar="USD", help="USD per UTC month")
    _json_flag(create)

    revoke = actions.add_parser(
        "revoke",
        parents=[common],
        help="revoke a key (a running gateway refuses it within auth_cache_ttl; the API at once)",
    )
    revoke.add_argument("key", metavar="KEY_ID", type=KEY_ID)
    _json_flag(revoke)


def _usage(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    usage = commands.add_parser(
        "usage",
        parents=[common],
        help="token usage and cost from the ledger",
        description="Totals of requests, tokens and cost per day, model, user, key or "
        "provider (days are UTC), or the latest requests with --recent.",
    )
    usage.add_argument("--by", choices=GROUP_BY, help="grouping (default day)")
    usage.add_argument("--since", type=TIME, metavar="DATE", help="from this date or time")
    usage.add_argument(
        "--until", type=TIME, metavar="DATE", help="up to, not including, this date or time"
    )
    usage.add_argument("--user", metavar="USER", help=f"only this user ({USER_HELP})")
    usage.add_argument("--key", type=KEY_ID, metavar="KEY_ID", help="only this API key")
    usage.add_argument(
        "--recent",
        type=_count(MAX_RECENT, minimum=1),
        metavar="N",
        help="list the N latest requests instead of totals",
    )
    _listing_flags(usage)


def _prices(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    prices = commands.add_parser(
        "prices",
        help="list and add model prices",
        description="Prices in USD per million tokens. The table is a history: adding a "
        "price never changes an old one, and each request is costed with the price in force "
        "when it was made.",
    )
    actions = prices.add_subparsers(dest="action", metavar="ACTION", required=True)
    listing = actions.add_parser("list", parents=[common], help="list prices with their history")
    listing.add_argument(
        "--at", type=TIME, metavar="TIME", help="only the prices in force at this time"
    )
    _listing_flags(listing)

    add = actions.add_parser(
        "add",
        parents=[common],
        help="add a price (in force from now or --effective-from)",
        description="Add a price for models matching a pattern (exact, prefix*, *suffix, "
        "*contains* or *), for one provider or any.",
    )
    add.add_argument("pattern", metavar="MODEL_PATTERN")
    add.add_argument("--input", type=MONEY, required=True, metavar="USD", help="per M input")
    add.add_argument("--output", type=MONEY, required=True, metavar="USD", help="per M output")
    add.add_argument("--cache-read", type=MONEY, metavar="USD", help="per M cache-read tokens")
    add.add_argument("--cache-write", type=MONEY, metavar="USD", help="per M cache-write tokens")
    add.add_argument("--provider", default="*", help="provider name (default *: any)")
    add.add_argument("--effective-from", type=TIME, metavar="TIME", help="default: now")
    _json_flag(add)


AUDIT_EXIT = (
    "Exit status: 0 when nothing is flagged, 1 when something is (or the command "
    "failed: the message on stderr says so), 2 on usage errors."
)


def _audit(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    audit = commands.add_parser(
        "audit",
        help="check providers' billing and health from the ledger",
        description="Audit the providers from the ledger: the tokens they bill against the "
        "gateway's own count, and their speed and errors against their own past.",
    )
    actions = audit.add_subparsers(dest="action", metavar="ACTION", required=True)
    billing = actions.add_parser(
        "billing",
        parents=[common],
        help="providers whose reported tokens drift from the gateway's count",
        description="Per provider and model: the tokens the upstream reported against the "
        "gateway's own count of what it relayed, and the drift (reported / counted - 1). "
        "A drift beyond the tolerance either way is flagged, with the requests behind it. "
        + AUDIT_EXIT,
    )
    billing.add_argument("--since", type=TIME, metavar="DATE", help="from this date or time")
    billing.add_argument(
        "--until", type=TIME, metavar="DATE", help="up to, not including, this date or time"
    )
    billing.add_argument("--provider", help="only this provider")
    billing.add_argument("--model", help="only this model (the upstream's name)")
    billing.add_argument(
        "--tolerance",
        type=_fraction(AUDIT_LIMITS["tolerance"]),
        metavar="FRACTION",
        help="drift allowed either way (default 0.35: 35%%)",
    )
    _listing_flags(billing)

    health = actions.add_parser(
        "health",
        parents=[common],
        help="providers whose speed or errors worsened against their own past",
        description="Per provider and model, hourly (UTC): requests, errors, timeouts, time to "
        "first byte and output tokens per second of streams. The latest window is compared "
        "with the baseline before it; a figure worse beyond its threshold is flagged. "
        + AUDIT_EXIT,
    )
    health.add_argument("--until", type=TIME, metavar="TIME", help="end of the window (now)")
    health.add_argument("--window", type=DURATION, metavar="SPAN", help="default 1h")
    health.add_argument(
        "--baseline", type=DURATION, metavar="SPAN", help="before the window (default 24h)"
    )
    health.add_argument(
        "--ttfb-increase",
        type=_fraction(AUDIT_LIMITS["ttfb_increase"]),
        metavar="FRACTION",
        help="flag a time to first byte up by more (default 0.5: +50%%)",
    )
    health.add_argument(
        "--tps-drop",
        type=_fraction(AUDIT_LIMITS["tps_drop"]),
        metavar="FRACTION",
        help="flag output tokens per second down by more (default 0.33: -33%%)",
    )
    health.add_argument(
        "--error-points",
        type=_fraction(AUDIT_LIMITS["error_points"]),
        metavar="POINTS",
        help="flag an error or timeout rate up by more percentage points (default 5)",
    )
    health.add_argument(
        "--min-requests",
        type=_count(MAX_MIN_REQUESTS),
        metavar="N",
        help="flag nothing with fewer requests in the window or baseline (default 20)",
    )
    _json_flag(health)


def _trade(commands: Subparsers, common: argparse.ArgumentParser) -> None:
    """``trade``: run by ``tokligence.trade.cli``, not :func:`run` (``verify``
    reads no configuration and opens no database)."""
    trade = commands.add_parser(
        "trade",
        help="trading with other gateways: id, receipts, accounts, directory, statements, "
        "reconcile, settle",
        description="Token trading between gateways (docs/trading.md).",
    )
    actions = trade.add_subparsers(dest="action", metavar="ACTION", required=True)
    actions.add_parser(
        "id",
        parents=[common],
        help="print this gateway's public id (its key is created on first use)",
        description="Print this gateway's public id, ed25519:<43 characters>, the name its "
        "peers pin it by. The key is <data_dir>/trade/node.key, created on first use.",
    )
    verify = actions.add_parser(
        "verify",
        help="check a receipt: its form, the seller's signature and its cost",
        description="Check a receipt: that it is a canonical receipt, signed by the seller it "
        "names (and by --seller, when given), and that its cost is what its tokens at its "
        "prices make. Exit status: 0 valid (one line on standard output), 1 invalid or "
        "unreadable (the reason on standard error), 2 on usage errors.",
    )
    verify.add_argument(
        "file",
        metavar="FILE",
        nargs="?",
        default="-",
        help="the receipt as stored (JSON) or as its Tokligence-Receipt header value; "
        "'-' or none: standard input",
    )
    verify.add_argument("--seller", metavar="ID", help="the public id the seller must be")
    opening = actions.add_parser(
        "open",
        parents=[common],
        help="open an account at a seller gateway and print its [trade.peer.NAME] section",
        description="Open an account at the seller gateway at URL: fetch its offers, check "
        "that its id signed them, sign an account request with this gateway's node key and "
        "print the [trade.peer.NAME] section (its url, public_id and the account's api_key, "
        "shown once) for this gateway's configuration. The seller grants credit "
        "(tokligence trade accounts --set-credit).",
    )
    opening.add_argument("url", metavar="URL", help="the seller's base URL, http://HOST:PORT")
    opening.add_argument(
        "--seller",
        metavar="ID",
        help="the seller's public id, as it told you (else the one "
        "its offers name, printed for you to check)",
    )
    opening.add_argument(
        "--name", default="seller", help="the peer's name in the section (default seller)"
    )
    accounts = actions.add_parser(
        "accounts",
        parents=[common],
        help="list the buyers' accounts here; set a credit limit; rotate a key",
        description="List the accounts of the buyers this gateway sells to: credit limit, "
        "reserved, posted and available micro-USD. --set-credit sets a buyer's limit; "
        "--rotate gives its account a new API key, printed once.",
    )
    accounts.add_argument(
        "--set-credit",
        nargs=2,
        metavar=("BUYER", "MICRO_USD"),
        help="set BUYER's (its public id) credit limit to MICRO_USD",
    )
    accounts.add_argument("--rotate", metavar="BUYER", help="a new API key for BUYER's account")
    _json_flag(accounts)
    _trade_directory(actions)
    _trade_ledger(actions, common)


def _trade_directory(actions: Subparsers) -> None:
    """``trade directory``: its --host and --port are the directory's own
    settings (trade_directory_host/_port), not the gateway's."""
    directory = actions.add_parser(
        "directory",
        argument_default=argparse.SUPPRESS,
        help="run an offer directory: sellers announce offers, buyers find the cheapest",
        description="Run an offer directory in the foreground until SIGINT/SIGTERM: it keeps "
        "sellers' signed offers while they heartbeat and lists the live ones by model, "
        "cheapest first (docs/trading.md, Directory). State: <data_dir>/directory.db.",
    )
    group = directory.add_argument_group("directory options")
    group.add_argument(
        "--host",
        dest="trade_directory_host",
        metavar="HOST",
        help="address to bind (default 127.0.0.1)",
    )
    group.add_argument(
        "--port", dest="trade_directory_port", metavar="PORT", help="port (default 8090)"
    )
    group.add_argument("--config", metavar="FILE", help="INI file read after all others")
    group.add_argument("--data-dir", metavar="DIR", help="where directory.db lives")
    group.add_argument(
        "--log-level", metavar="LEVEL", help="debug, info, warn or error (default info)"
    )


def _unix_ms(text: str) -> int:
    """A time as Unix milliseconds: digits are taken as such, anything else
    as an ISO 8601 date or time."""
    value = text.strip()
    if value.isascii() and value.isdigit():
        return int(value)
    return int(parse_time(value).timestamp() * 1000)


UNIX_MS = _typed(_unix_ms, "time")


def _peer_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--peer", metavar="NAME", help="the configured peer [trade.peer.NAME]")
    parser.add_argument("--url", help="the peer gateway's address, http://HOST:PORT")
    parser.add_argument("--seller", metavar="ID", help="the peer's public id, pinned")
    parser.add_argument("--key", help="this gateway's trade account key at the peer")


def _trade_ledger(actions: Subparsers, common: argparse.ArgumentParser) -> None:
    """``trade statement|reconcile|summary|settle``: the book between peers."""
    statement = actions.add_parser(
        "statement",
        parents=[common],
        help="print this gateway's signed statement of its trades with a counterparty",
        description="Print this gateway's signed statement (JSON) of what it supplied to or "
        "consumed from a counterparty in a period, for the counterparty to reconcile with "
        "'tokligence trade reconcile --statement FILE'.",
    )
    statement.add_argument("--counterparty", metavar="ID", required=True, help="its public id")
    statement.add_argument("--direction", choices=("supply", "consume"), required=True)
    _period_options(statement)

    reconcile = actions.add_parser(
        "reconcile",
        parents=[common],
        help="match this gateway's book with a peer's statement, request by request",
        description="Fetch the peer's signed statement of a period (or read one from --statement) "
        "and match it with this gateway's book by request id: matched, amount_mismatch, "
        "missing_here, missing_there, bad_signature, sequence_gap, suspect. A seller's "
        "--acks --buyer ID matches every receipt it gave the buyer with the acknowledgements "
        "the buyer sent instead. Exit status: 0 when everything matched, 1 when anything else "
        "was found or the statement does not verify, 2 on usage errors.",
    )
    _peer_options(reconcile)
    reconcile.add_argument(
        "--statement", metavar="FILE", help="reconcile with a statement the peer gave ('-': stdin)"
    )
    reconcile.add_argument(
        "--acks",
        action="store_true",
        help="a seller's: its receipts to --buyer against the acknowledgements the buyer sent",
    )
    reconcile.add_argument("--buyer", metavar="ID", help="with --acks: the buyer's public id")
    _period_options(reconcile)
    _json_flag(reconcile)

    summary = actions.add_parser(
        "summary",
        parents=[common],
        help="consumed, supplied, settled and net per counterparty",
        description="Tokens and money consumed from and supplied to each counterparty, what "
        "settlements cover, and the net still owed (supplied minus consumed, unsettled).",
    )
    _json_flag(summary)

    settle = actions.add_parser(
        "settle",
        parents=[common],
        help="sign a settlement with a peer that nets what is owed to zero",
        description="Propose to the peer a settlement of every unsettled entry between the two "
        "gateways whose request started before the cut-off, signed by both once the peer's "
        "book makes the same; both store it. Running it again settles nothing new. Money "
        "moves outside the gateway.",
    )
    _peer_options(settle)
    settle.add_argument(
        "--cut-off",
        type=UNIX_MS,
        metavar="TIME",
        help="settle requests that started before it (default: 15 minutes ago)",
    )
    _json_flag(settle)


def _period_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from",
        dest="period_from",
        type=UNIX_MS,
        metavar="TIME",
        help="the period's start: ISO 8601 or Unix ms (default: the beginning)",
    )
    parser.add_argument(
        "--to",
        dest="period_to",
        type=UNIX_MS,
        metavar="TIME",
        help="the period's end, excluded (default: now)",
    )


def run(args: argparse.Namespace, config: Config, prog: str) -> int:
    """Run the management command ``args`` names; returns the exit status."""
    from . import cli_common

    if args.command == "users":
        from .cli_users import run_users as command
    elif args.command == "keys":
        from .cli_keys import run_keys as command
    elif args.command == "usage":
        from .cli_usage import run_usage as command
    elif args.command == "audit":
        from .cli_audit import run_audit as command
    else:
        from .cli_prices import run_prices as command
    return cli_common.guarded(prog, lambda: command(args, config))
