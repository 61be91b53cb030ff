"""``tokligence audit billing|health``: the provider audit from the ledger.

A table for people, ``--json`` for scripts (what the admin API answers),
``--csv`` for billing (one row per provider and model). The exit status
says whether anything was flagged: 0 nothing, 1 something, so a cron job
or CI step can alert on it.
"""

from __future__ import annotations

import argparse
from datetime import datetime, timezone

from ..config import Config
from ..ledger.audit import BillingAudit, Figures, HealthAudit
from . import audit as auditmod
from .api_input import BillingQuery, HealthQuery
from .api_output import BILLING_FIELDS, billing_json, health_json, iso
from .cli_common import (
    EXIT_FAILED,
    ledger_database,
    print_csv,
    print_json,
    print_table,
    short_time,
)


def run_audit(args: argparse.Namespace, config: Config) -> int:
    if args.action == "billing":
        query = BillingQuery(
            since=args.since,
            until=args.until,
            provider=args.provider,
            model=args.model,
            tolerance=args.tolerance,
        )
        with ledger_database(config) as db:
            billing = auditmod.billing(db, query)
        _show_billing(args, billing)
        return EXIT_FAILED if billing.flagged else 0
    wanted = HealthQuery(
        until=args.until,
        window=args.window,
        baseline=args.baseline,
        ttfb_increase=args.ttfb_increase,
        tps_drop=args.tps_drop,
        error_points=args.error_points,
        min_requests=args.min_requests,
    )
    with ledger_database(config) as db:
        health = auditmod.health(db, wanted, datetime.now(timezone.utc))
    if args.json:
        print_json(health_json(health))
    else:
        _health_table(health)
    return EXIT_FAILED if health.flagged else 0


def _drift(value: float | None) -> str:
    return "-" if value is None else f"{value:+.0%}"


def _show_billing(args: argparse.Namespace, audit: BillingAudit) -> None:
    body = billing_json(audit)
    if args.json:
        print_json(body)
        return
    if args.csv:
        print_csv(body["entries"], BILLING_FIELDS)
        return
    print_table(
        (
            "PROVIDER",
            "MODEL",
            "REQUESTS",
            "INPUT REPORTED",
            "INPUT COUNTED",
            "DRIFT",
            "OUTPUT REPORTED",
            "OUTPUT COUNTED",
            "DRIFT",
            "FLAG",
        ),
        [
            (
                entry.provider,
                entry.model,
                str(entry.requests),
                str(entry.reported_input_tokens),
                str(entry.counted_input_tokens),
                _drift(entry.input_drift),
                str(entry.reported_output_tokens),
                str(entry.counted_output_tokens),
                _drift(entry.output_drift),
                "DRIFT" if entry.flagged else "",
            )
            for entry in audit.entries
        ],
        right=frozenset(range(2, 9)),
    )
    for entry in audit.entries:
        if not entry.flagged:
            continue
        print(
            f"\n{entry.provider} {entry.model}: drift beyond ±{audit.tolerance:.0%}; "
            "the requests it over-reported most:"
        )
        print_table(
            ("REQUEST", "TIME (UTC)", "INPUT REPORTED", "COUNTED", "OUTPUT REPORTED", "COUNTED"),
            [
                (
                    request.request_id,
                    short_time(iso(request.created_at)),
                    str(request.reported_input_tokens),
                    str(request.counted_input_tokens),
                    str(request.reported_output_tokens),
                    str(request.counted_output_tokens),
                )
                for request in entry.requests_behind
            ],
            right=frozenset(range(2, 6)),
        )
    if not audit.entries:
        print("No audited requests in the period (reported usage and the gateway's count).")


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _rate(figures: Figures) -> str:
    return f"{figures.error_rate:.1%}/{figures.timeout_rate:.1%}"


def _health_table(audit: HealthAudit) -> None:
    rows = []
    for entry in audit.entries:
        for label, figures in (("baseline", entry.baseline), ("window", entry.window)):
            rows.append(
                (
                    entry.provider,
                    entry.model,
                    label,
                    str(figures.requests),
                    _rate(figures),
                    _ms(figures.ttfb_ms),
                    _ms(figures.output_tokens_per_s),
                    ",".join(entry.flags) if label == "window" else "",
                )
            )
    since, until, before = (
        short_time(iso(moment))
        for moment in (audit.window_since, audit.until, audit.baseline_since)
    )
    print(f"window {since} to {until} UTC, against the baseline from {before}")
    print_table(
        ("PROVIDER", "MODEL", "SPAN", "REQUESTS", "ERR/TIMEOUT", "TTFB MS", "TOKENS/S", "FLAGS"),
        rows,
        right=frozenset(range(3, 7)),
    )
    if not audit.entries:
        print("No requests to any provider in the window or its baseline.")
