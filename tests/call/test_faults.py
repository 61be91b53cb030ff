"""The error tree and its one table: what each category of fault means for
the client, for retries and for the circuit breaker."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import tokligence
from tokligence.errors import (
    FAULT_TABLE,
    RETRYABLE_STATUS,
    ClientError,
    GatewayError,
    InternalError,
    PolicyRefusal,
    UpstreamBroken,
    UpstreamErrorStatus,
    UpstreamTimeout,
    UpstreamUnreachable,
    fault_rule,
    invalid,
    kind_for_status,
    upstream_failure,
)

PACKAGE = Path(tokligence.__file__).parent


def status_error(status: int) -> UpstreamErrorStatus:
    return UpstreamErrorStatus(kind_for_status(status), "upstream said no", status=status)


# (error, retried, counts against the breaker)
CASES = [
    (invalid("bad body"), False, False),
    (ClientError("not_found", "no such model"), False, False),
    (PolicyRefusal("rate_limit", "slow down", retry_after=3), False, False),
    (PolicyRefusal("invalid_request", "work mode", code="work_mode_forbids"), False, False),
    (UpstreamUnreachable("unavailable", "connect refused"), True, True),
    (UpstreamTimeout("timeout", "silent"), True, True),
    (UpstreamBroken("api_error", "cut off", status=502), True, True),
    (status_error(429), True, False),
    (status_error(408), True, False),
    (status_error(409), True, False),
    (status_error(500), True, True),
    (status_error(502), True, True),
    (status_error(503), True, True),
    (status_error(504), True, True),
    (status_error(529), True, True),
    (status_error(501), False, True),
    (status_error(400), False, False),
    (status_error(401), False, False),
    (status_error(404), False, False),
    (status_error(413), False, False),
    (InternalError("api_error", "store down"), False, False),
    (InternalError("unavailable", "key store down"), False, False),
]


@pytest.mark.parametrize(
    ("error", "retried", "breaker"),
    CASES,
    ids=[f"{type(c[0]).__name__}-{c[0].status}" for c in CASES],
)
def test_the_table_decides_retry_and_breaker(
    error: GatewayError, retried: bool, breaker: bool
) -> None:
    rule = fault_rule(error)
    assert isinstance(error, rule.category)
    assert (rule.retry, rule.breaker) == (retried, breaker)


def test_retryable_upstream_statuses_are_exactly_the_retried_ones() -> None:
    retried = {s for s in range(400, 600) if fault_rule(status_error(s)).retry}
    assert retried == RETRYABLE_STATUS


def test_every_category_has_a_row_and_every_row_says_what_the_client_gets() -> None:
    categories = {
        ClientError,
        PolicyRefusal,
        UpstreamUnreachable,
        UpstreamTimeout,
        UpstreamBroken,
        UpstreamErrorStatus,
        InternalError,
    }
    assert {rule.category for rule in FAULT_TABLE} == categories
    assert all(rule.answer for rule in FAULT_TABLE)
    # The last row of each category catches every status.
    for category in categories:
        rows = [rule for rule in FAULT_TABLE if rule.category is category]
        assert rows[-1].statuses is None


@pytest.mark.parametrize(
    ("kind", "category", "status"),
    [
        ("timeout", UpstreamTimeout, 504),
        ("unavailable", UpstreamUnreachable, 503),
        ("overloaded", UpstreamErrorStatus, 529),
        ("rate_limit", UpstreamErrorStatus, 429),
        ("invalid_request", UpstreamErrorStatus, 400),
        ("no_such_kind", UpstreamErrorStatus, 500),
    ],
)
def test_a_failure_an_upstream_reported_in_its_stream_is_an_upstream_error(
    kind: str, category: type[GatewayError], status: int
) -> None:
    error = upstream_failure(kind, "from the stream", code="c")
    assert type(error) is category
    assert (error.status, error.code) == (status, "c")


def test_no_code_raises_the_bare_base_class() -> None:
    """Every fault is raised as its category: the table cannot decide on
    the base class, so a bare ``GatewayError(...)`` is a bug."""
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        if path.name == "errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Name)
                and node.func.id == "GatewayError"
            ):
                offenders.append(f"{path.relative_to(PACKAGE)}:{node.lineno}")
    assert offenders == []


def test_the_architecture_doc_shows_the_table_in_force() -> None:
    doc = (PACKAGE.parent / "docs" / "architecture.md").read_text()
    shown = doc.split("<!-- fault-table:", 1)[1].split("<!-- /fault-table -->", 1)[0]
    rows = [line for line in shown.splitlines() if line.startswith("| `")]

    def statuses(rule_statuses: frozenset[int] | range | None) -> str:
        if rule_statuses is None:
            return "any"
        if isinstance(rule_statuses, range):
            return f"{rule_statuses.start}-{rule_statuses.stop - 1}"
        return ", ".join(str(s) for s in sorted(rule_statuses))

    expected = [
        f"| `{rule.category.__name__}` | {statuses(rule.statuses)} | {rule.answer} "
        f"| {'yes' if rule.retry else 'no'} | {'failure' if rule.breaker else 'not counted'} |"
        for rule in FAULT_TABLE
    ]
    assert rows == expected
