"""``tokligence trade statement|reconcile|summary|settle``: the book between
two gateways, from the command line.

They open the ledger's database the gateway uses (migrating the trading
and settlement tables, safe beside a running gateway) and this node's key.
``reconcile`` and ``settle`` talk to the peer named by ``--peer NAME`` (a
configured ``[trade.peer.NAME]``) or by ``--url``, ``--seller`` and
``--key``; ``reconcile --statement FILE`` reads a statement the peer gave
instead; ``reconcile --acks --buyer ID`` (a seller's) compares its receipts
to a buyer with the acknowledgements that buyer sent, with no I/O but the
database. Every result is computed from the stored rows each time.

Exit statuses: 0 done (reconcile: everything matched); 1 refused or
failed (reconcile: anything else found, or a statement that does not
verify; settle: the peer refused); 2 usage and configuration errors.
"""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import peewee

from ..admin import cli_common
from ..admin.cli_common import CommandFailed
from ..config import Config
from .documents import sha256_hex
from .ledger_client import Peer, PeerError, fetch_statement, post_settlement
from .migrations import migrate_trade
from .money import usd_text
from .node_key import NodeKeyError, load_or_create
from .period import reconcile_acknowledgements, reconcile_statement, statement_of
from .receipts import read_signed
from .reconcile import CLASSES, MATCHED, Report
from .settle import Refused, Stored, adopt, propose, record, stored_from_envelopes
from .settle_models import migrate_settlements
from .settlements import SETTLEMENT, Settlement, sign_settlement, verify_settlement
from .signing import Signer, is_public_id
from .statements import MAX_BUNDLE_BYTES, Bundle, Period, opposite, verify_bundle
from .summary import Counterparty, summary, summary_json

ACTIONS = ("statement", "reconcile", "summary", "settle")
EXIT_FOUND = 1
# Requests that started this recently may still be running on either side:
# the default cut-off leaves them to the next settlement.
SETTLE_MARGIN_MS = 15 * 60_000
# A proposer that is behind adopts the settlement it missed and proposes
# again; more rounds than this mean the books keep moving under it.
SETTLE_ROUNDS = 5


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def run_ledger(args: argparse.Namespace, prog: str, load: Callable[[], Config]) -> int:
    commands: dict[str, Callable[[argparse.Namespace, Config], int]] = {
        "statement": _statement,
        "reconcile": _reconcile,
        "summary": _summary,
        "settle": _settle,
    }
    return cli_common.guarded(prog, lambda: commands[args.action](args, load()))


@contextlib.contextmanager
def _book(config: Config) -> Iterator[peewee.Database]:
    with cli_common.ledger_database(config) as db:
        try:
            migrate_trade(db)
            migrate_settlements(db)
        except cli_common.OPEN_ERRORS as error:
            raise CommandFailed(f"cannot migrate the trading tables: {error}") from None
        yield db


def _signer(config: Config) -> Signer:
    try:
        return load_or_create(config.data_dir)[0]
    except NodeKeyError as error:
        raise CommandFailed(str(error)) from None


def _period(args: argparse.Namespace) -> Period:
    start = args.period_from if args.period_from is not None else 0
    end = args.period_to if args.period_to is not None else now_ms()
    if start >= end:
        raise CommandFailed("--from must be before --to", cli_common.EXIT_USAGE)
    return Period(start=start, end=end)


def _when(ms: int) -> str:
    moment = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


# ------------------------------------------------------------------ peers


def configured_peer(config: Config, name: str) -> Peer | None:
    """The peer ``[trade.peer.NAME]`` of the configuration: its URL, pinned
    public id and our account key there. Read by name from whatever the
    configuration holds as ``peers`` (the buyer's path declares them);
    None when there is no such peer."""
    for peer in getattr(config, "peers", ()):
        if getattr(peer, "name", None) == name:
            return Peer(url=peer.url, seller=peer.public_id, key=peer.api_key)
    return None


def _peer(args: argparse.Namespace, config: Config) -> Peer:
    direct = (args.url, args.seller, args.key)
    if args.peer is not None:
        if any(item is not None for item in direct):
            raise CommandFailed(
                "give --peer NAME or --url, --seller and --key, not both", cli_common.EXIT_USAGE
            )
        peer = configured_peer(config, args.peer)
        if peer is None:
            raise CommandFailed(
                f"no peer {args.peer!r} is configured ([trade.peer.{args.peer}]); "
                "give --url, --seller and --key instead",
                cli_common.EXIT_USAGE,
            )
        return peer
    if any(item is None for item in direct):
        raise CommandFailed(
            "name the peer: --peer NAME, or --url, --seller and --key", cli_common.EXIT_USAGE
        )
    if not is_public_id(args.seller):
        raise CommandFailed(
            "--seller must be a public id, ed25519:<43 characters>", cli_common.EXIT_USAGE
        )
    if not args.url.startswith(("http://", "https://")):
        raise CommandFailed("--url must be http://HOST:PORT", cli_common.EXIT_USAGE)
    return Peer(url=args.url, seller=args.seller, key=args.key)


# -------------------------------------------------------------- statement


def _statement(args: argparse.Namespace, config: Config) -> int:
    if not is_public_id(args.counterparty):
        raise CommandFailed(
            "--counterparty must be a public id, ed25519:<43 characters>", cli_common.EXIT_USAGE
        )
    period = _period(args)
    signer = _signer(config)
    with _book(config) as db:
        try:
            bundle = statement_of(
                db,
                signer,
                counterparty=args.counterparty,
                direction=args.direction,
                period=period,
                now=now_ms(),
            )
        except ValueError as error:
            raise CommandFailed(str(error)) from None
    print(bundle.to_json().decode("utf-8"))
    return 0


# -------------------------------------------------------------- reconcile


def _read_statement(name: str) -> bytes:
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_BUNDLE_BYTES + 1)
        with Path(name).open("rb") as handle:
            return handle.read(MAX_BUNDLE_BYTES + 1)
    except OSError as error:
        raise CommandFailed(f"cannot read {name}: {error.strerror or error}") from None


def _reconcile(args: argparse.Namespace, config: Config) -> int:
    if args.acks:
        return _reconcile_acks(args, config)
    if args.buyer is not None:
        raise CommandFailed("--buyer goes with --acks", cli_common.EXIT_USAGE)
    if args.statement is not None and args.peer is not None:
        raise CommandFailed("give --peer or --statement, not both", cli_common.EXIT_USAGE)
    us = _signer(config).public_id
    if args.statement is not None:
        if any(
            value is not None for value in (args.url, args.key, args.period_from, args.period_to)
        ):
            raise CommandFailed(
                "--statement reads the statement, its period included: no --url, --key, "
                "--from or --to",
                cli_common.EXIT_USAGE,
            )
        if args.seller is not None and not is_public_id(args.seller):
            raise CommandFailed("--seller must be a public id", cli_common.EXIT_USAGE)
        data = _read_statement(args.statement)
        issuer = args.seller
    else:
        peer = _peer(args, config)
        asked = _period(args)
        try:
            data = fetch_statement(peer, asked)
        except PeerError as error:
            raise CommandFailed(str(error)) from None
        issuer = peer.seller
    verdict = verify_bundle(data, issuer=issuer, counterparty=us)
    bundle = verdict.value
    if not verdict.ok or bundle is None:
        raise CommandFailed(f"the statement does not verify: {verdict.reason}: {verdict.detail}")
    statement = bundle.statement
    if args.statement is None and (statement.direction, statement.period) != ("supply", asked):
        raise CommandFailed("the peer's statement is not of the period we asked for")
    with _book(config) as db:
        report = reconcile_statement(db, bundle)
    if args.json:
        cli_common.print_json(reconcile_json(report, bundle, us))
    else:
        _print_report(report, bundle)
    return 0 if report.clean else EXIT_FOUND


def _reconcile_acks(args: argparse.Namespace, config: Config) -> int:
    """The seller's receipts to ``--buyer`` against its acknowledgements."""
    others = {
        "--peer": args.peer,
        "--url": args.url,
        "--seller": args.seller,
        "--key": args.key,
        "--statement": args.statement,
        "--from": args.period_from,
        "--to": args.period_to,
    }
    given = [name for name, value in others.items() if value is not None]
    if given:
        raise CommandFailed(
            f"--acks reads this gateway's own rows for the whole chain: no {', '.join(given)}",
            cli_common.EXIT_USAGE,
        )
    if args.buyer is None or not is_public_id(args.buyer):
        raise CommandFailed(
            "--acks needs --buyer ID, the buyer's public id (ed25519:<43 characters>)",
            cli_common.EXIT_USAGE,
        )
    us = _signer(config).public_id
    with _book(config) as db:
        report = reconcile_acknowledgements(db, seller=us, buyer=args.buyer)
    if args.json:
        cli_common.print_json(
            {
                "clean": report.clean,
                "us": us,
                "counterparty": args.buyer,
                "direction": "supply",
                "against": "acknowledgements",
                "counts": report.counts(),
                "findings": findings_json(report),
            }
        )
    else:
        verdict = "clean" if report.clean else "NOT clean"
        print(f"supply to {args.buyer}, every receipt against its acknowledgements: {verdict}")
        _print_findings(report)
    return 0 if report.clean else EXIT_FOUND


def findings_json(report: Report) -> dict[str, Any]:
    findings: dict[str, Any] = {}
    for kind in CLASSES:
        items = report.of(kind)
        if kind == MATCHED:
            findings[kind] = [item.request_id for item in items]
        else:
            findings[kind] = [{"request_id": i.request_id, "detail": i.detail} for i in items]
    return findings


def reconcile_json(report: Report, bundle: Bundle, us: str) -> dict[str, Any]:
    statement = bundle.statement
    findings = findings_json(report)
    return {
        "clean": report.clean,
        "us": us,
        "counterparty": statement.issuer,
        "direction": opposite(statement.direction),
        "period_from": statement.period.start,
        "period_to": statement.period.end,
        "statement": {
            "requests": statement.requests,
            "receipts": statement.receipts,
            "cost_micro_usd": statement.amounts.cost_micro_usd,
            "hash": sha256_hex(bundle.sealed.data),
        },
        "counts": report.counts(),
        "findings": findings,
    }


def _print_report(report: Report, bundle: Bundle) -> None:
    statement = bundle.statement
    verdict = "clean" if report.clean else "NOT clean"
    print(
        f"{opposite(statement.direction)} with {statement.issuer}, "
        f"{_when(statement.period.start)} to {_when(statement.period.end)}: "
        f"their statement has {statement.requests} requests, {statement.receipts} receipts, "
        f"USD {usd_text(statement.amounts.cost_micro_usd)}; {verdict}"
    )
    _print_findings(report)


def _print_findings(report: Report) -> None:
    counts = report.counts()
    cli_common.print_table(
        ("CLASS", "REQUESTS"),
        [(kind, str(counts[kind])) for kind in CLASSES],
        right=frozenset({1}),
    )
    for kind in CLASSES:
        if kind == MATCHED or not counts[kind]:
            continue
        print(f"\n{kind}:")
        for item in report.of(kind):
            print(f"  {item.request_id}  {item.detail}".rstrip())


# ---------------------------------------------------------------- summary


def _summary(args: argparse.Namespace, config: Config) -> int:
    with _book(config) as db:
        rows = summary(db)
    if args.json:
        cli_common.print_json(summary_json(rows))
        return 0
    if not rows:
        print("no trades yet")
        return 0
    cli_common.print_table(
        (
            "COUNTERPARTY",
            "CONSUMED",
            "TOKENS",
            "USD",
            "SUPPLIED",
            "TOKENS",
            "USD",
            "SETTLED IN USD",
            "SETTLED OUT USD",
            "NET TOKENS",
            "NET USD",
        ),
        [_summary_row(row) for row in rows],
        right=frozenset(range(1, 11)),
    )
    print(
        "CONSUMED and SUPPLIED are requests; SETTLED IN is consumed and settled, SETTLED OUT "
        "supplied and settled; NET is unsettled supplied minus unsettled consumed "
        "(positive: the counterparty owes us)."
    )
    return 0


def _summary_row(row: Counterparty) -> tuple[str, ...]:
    consumed, supplied = row.consumed.total, row.supplied.total
    return (
        row.counterparty,
        str(consumed.requests),
        str(consumed.tokens),
        usd_text(consumed.cost_micro_usd),
        str(supplied.requests),
        str(supplied.tokens),
        usd_text(supplied.cost_micro_usd),
        usd_text(row.consumed.settled.cost_micro_usd),
        usd_text(row.supplied.settled.cost_micro_usd),
        str(row.net_tokens),
        usd_text(row.net_micro_usd),
    )


# ----------------------------------------------------------------- settle


def _settle(args: argparse.Namespace, config: Config) -> int:
    peer = _peer(args, config)
    signer = _signer(config)
    us = signer.public_id
    cut_off = args.cut_off if args.cut_off is not None else now_ms() - SETTLE_MARGIN_MS
    with _book(config) as db:
        for _ in range(SETTLE_ROUNDS):
            proposal = propose(db, signer, them=peer.seller, cut_off=cut_off)
            if proposal is None:
                return _nothing(args, peer, cut_off)
            settlement, data = proposal
            try:
                answer = post_settlement(peer, data)
            except PeerError as error:
                if error.code != "settlement_behind":
                    raise CommandFailed(str(error)) from None
                _catch_up(db, error, us=us)
                continue
            stored = _countersigned(settlement, answer, peer=peer, signer=signer)
            try:
                record(db, stored, us=us, now=now_ms())
            except Refused as refused:
                raise CommandFailed(f"{refused.code}: {refused.message}") from None
            return _settled(args, stored, us)
    raise CommandFailed(f"the peer's settlements kept moving ({SETTLE_ROUNDS} rounds): try again")


def _catch_up(db: peewee.Database, error: PeerError, *, us: str) -> None:
    """Store the settlement the peer holds and we lost the answer of."""
    body = error.body if isinstance(error.body, dict) else {}
    stored = stored_from_envelopes(body.get("settlement"))
    if stored is None:
        raise CommandFailed(f"{error}; its settlement does not verify")
    try:
        adopt(db, stored, us=us, now=now_ms())
    except Refused as refused:
        raise CommandFailed(
            f"the peer holds settlement {stored.settlement.number}, which our book does not "
            f"make ({refused.code}): {refused.message}"
        ) from None


def _countersigned(settlement: Settlement, answer: bytes, *, peer: Peer, signer: Signer) -> Stored:
    verdict = verify_settlement(answer, signer=peer.seller, party=signer.public_id)
    if not verdict.ok or verdict.value != settlement:
        raise CommandFailed(
            f"the peer's answer is not its signature over our settlement: "
            f"{verdict.reason or 'another settlement'}: {verdict.detail}"
        )
    theirs = read_signed(SETTLEMENT, answer).signature
    return Stored(
        settlement=settlement,
        signatures={
            signer.public_id: sign_settlement(settlement, signer).signature,
            peer.seller: theirs,
        },
        proposer=signer.public_id,
    )


def _nothing(args: argparse.Namespace, peer: Peer, cut_off: int) -> int:
    if args.json:
        cli_common.print_json({"settled": False, "counterparty": peer.seller, "cut_off": cut_off})
    else:
        print(f"nothing to settle with {peer.seller} before {_when(cut_off)}")
    return 0


def _settled(args: argparse.Namespace, stored: Stored, us: str) -> int:
    settlement = stored.settlement
    payer, payee, amount = settlement.net
    if args.json:
        cli_common.print_json(
            {
                "settled": True,
                "number": settlement.number,
                "cut_off": settlement.cut_off,
                "hash": settlement.hash,
                "settlement": settlement.document(),
                "signed": stored.envelopes(),
            }
        )
        return 0
    covered = sum(flow.entries for flow in settlement.flows)
    if amount == 0:
        owed = "nothing is owed either way"
    elif payer == us:
        owed = f"we owe {payee} USD {usd_text(amount)}"
    else:
        owed = f"{payer} owes us USD {usd_text(amount)}"
    print(
        f"settlement {settlement.number} with {settlement.other(us)} before "
        f"{_when(settlement.cut_off)}: {covered} entries, signed by both; {owed}. "
        f"Money moves outside the gateway. Hash {settlement.hash}"
    )
    return 0
