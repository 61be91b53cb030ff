"""The hostile-input corpus: every case, and the ones this gateway fails.

``CASES`` gathers the tables of the ``*_cases`` modules (raw HTTP/1.1 and
its framing, JSON, types and sizes); ``test_corpus.py`` sends each to a
live gateway.

``XFAIL`` is the to-do list: reason -> ids of the cases that show it. Each
reason names what is wrong now; the cases run under a strict xfail, so a
fix turns them into XPASS failures until their ids are taken out of here.
Expectations are never weakened to make a case pass.
"""

from __future__ import annotations

from collections import Counter

from . import framing_cases, http_cases, json_cases, size_cases, type_cases
from .case import Case, ids_unique

CASES: tuple[Case, ...] = tuple(
    ids_unique(
        [
            *http_cases.cases(),
            *framing_cases.cases(),
            *json_cases.cases(),
            *type_cases.cases(),
            *size_cases.cases(),
        ]
    )
)

ISSUE = "issue 12"

XFAIL: dict[str, tuple[str, ...]] = {}


def xfail_reason(case_id: str) -> str | None:
    for reason, ids in XFAIL.items():
        if case_id in ids:
            return f"{ISSUE}: {reason}"
    return None


def counts() -> Counter[str]:
    return Counter(case.category for case in CASES)
