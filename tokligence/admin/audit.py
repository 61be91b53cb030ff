"""The provider audit as the admin API and ``tokligence audit`` run it: one
query object in, the ledger's audit out, the ledger's defaults for every
value left out (see ``ledger/audit.py`` for what is measured)."""

from __future__ import annotations

import dataclasses
from datetime import datetime

import peewee

from ..ledger.audit import (
    DEFAULT_BASELINE,
    DEFAULT_TOLERANCE,
    DEFAULT_WINDOW,
    BillingAudit,
    HealthAudit,
    Thresholds,
    billing_audit,
    provider_health,
)
from .api_input import BillingQuery, HealthQuery


def billing(db: peewee.Database, query: BillingQuery) -> BillingAudit:
    return billing_audit(
        db,
        since=query.since,
        until=query.until,
        provider=query.provider,
        model=query.model,
        tolerance=DEFAULT_TOLERANCE if query.tolerance is None else query.tolerance,
    )


def health(db: peewee.Database, query: HealthQuery, now: datetime) -> HealthAudit:
    given = {
        field.name: getattr(query, field.name)
        for field in dataclasses.fields(Thresholds)
        if getattr(query, field.name) is not None
    }
    return provider_health(
        db,
        until=query.until or now,
        window=query.window or DEFAULT_WINDOW,
        baseline=query.baseline or DEFAULT_BASELINE,
        thresholds=Thresholds(**given),
    )
