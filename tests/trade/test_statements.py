"""Statements: issued, sent as a bundle, verified; any change refused."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from typing import Any

import pytest

from tokligence.trade.documents import encode
from tokligence.trade.receipts import SignedReceipt
from tokligence.trade.statements import (
    MAX_STATEMENT_RECEIPTS,
    STATEMENT,
    Amounts,
    BookLine,
    Bundle,
    Held,
    Period,
    entries_hash,
    held,
    issue,
    read_bundle,
    receipts_hash,
    verify_bundle,
)

from .keys import BUYER, SELLER, STRANGER
from .samples import STARTED, chain

PERIOD = Period(start=STARTED, end=STARTED + 3_600_000)


def line_of(signed: SignedReceipt, **changes: int) -> BookLine:
    r = signed.receipt
    amounts = {
        "input": r.tokens.input,
        "output": r.tokens.output,
        "cache_read": r.tokens.cache_read,
        "cache_write": r.tokens.cache_write,
        "cost_micro_usd": r.cost_micro_usd,
        **changes,
    }
    return BookLine(request_id=r.request_id, status=r.status, amounts=Amounts(**amounts))


def held_of(signed: SignedReceipt) -> Held:
    return held(signed.data)


def bundle_of(receipts: list[SignedReceipt], context: list[SignedReceipt] = ()) -> Bundle:  # type: ignore[assignment]
    return issue(
        signer=SELLER,
        counterparty=BUYER.public_id,
        direction="supply",
        period=PERIOD,
        issued_at=STARTED + 4_000_000,
        receipts=[held_of(s) for s in receipts],
        context=[held_of(s) for s in context],
        lines=[line_of(s) for s in reversed(receipts)],  # issue sorts them
    )


def test_a_statement_states_its_receipts_and_lines() -> None:
    receipts = chain(4)
    bundle = bundle_of(receipts)
    verdict = verify_bundle(bundle.to_json(), issuer=SELLER.public_id, counterparty=BUYER.public_id)
    assert verdict.ok, verdict.detail
    statement = verdict.value.statement  # type: ignore[union-attr]
    assert (statement.requests, statement.receipts) == (4, 4)
    assert (statement.first_seq, statement.last_seq) == (1, 4)
    assert statement.amounts.cost_micro_usd == sum(s.receipt.cost_micro_usd for s in receipts)
    assert statement.amounts.input == sum(s.receipt.tokens.input for s in receipts)
    assert (statement.seller, statement.buyer) == (SELLER.public_id, BUYER.public_id)
    assert [line.request_id for line in bundle.lines] == [s.receipt.request_id for s in receipts]
    # The bundle read back is the bundle sent.
    assert read_bundle(bundle.to_json()) == bundle
    assert verdict.detail.startswith(f"supply statement of {SELLER.public_id} with ")


def test_the_hashes_are_as_documented() -> None:
    receipts = chain(3)
    joined = "".join(hashlib.sha256(s.data).hexdigest() for s in receipts)
    assert receipts_hash(s.hash for s in receipts) == hashlib.sha256(joined.encode()).hexdigest()
    assert receipts_hash([]) == hashlib.sha256(b"").hexdigest()
    lines = [line_of(s) for s in receipts]
    document = {"entries": [line.document() for line in lines]}
    assert entries_hash(lines) == hashlib.sha256(encode(document)).hexdigest()
    assert lines[0].document() == {
        "request_id": "req_0001",
        "status": "ok",
        "tokens": {"input": 100, "output": 1, "cache_read": 0, "cache_write": 0},
        "cost_micro_usd": 260,
    }


def test_an_empty_statement() -> None:
    bundle = issue(
        signer=BUYER,
        counterparty=SELLER.public_id,
        direction="consume",
        period=PERIOD,
        issued_at=1,
        receipts=[],
        lines=[],
    )
    verdict = verify_bundle(bundle.to_json())
    assert verdict.ok, verdict.detail
    statement = bundle.statement
    assert (statement.requests, statement.receipts, statement.first_seq, statement.last_seq) == (
        0,
        0,
        0,
        0,
    )
    assert (statement.seller, statement.buyer) == (SELLER.public_id, BUYER.public_id)


def test_every_byte_of_the_signed_statement_counts() -> None:
    bundle = bundle_of(chain(2))
    sent = json.loads(bundle.to_json())
    signed = sent["statement"]
    assert signed.isascii() and json.loads(signed)["statement"]["type"] == STATEMENT
    for position, char in enumerate(signed):
        other = "A" if char != "A" else "B"
        sent["statement"] = signed[:position] + other + signed[position + 1 :]
        verdict = verify_bundle(json.dumps(sent).encode())
        assert verdict.reason in ("malformed", "bad_signature", "inconsistent"), position


Change = Callable[[dict[str, Any]], None]


def _drop_receipt(sent: dict[str, Any]) -> None:
    del sent["receipts"][1]


def _swap_receipts(sent: dict[str, Any]) -> None:
    sent["receipts"][0], sent["receipts"][1] = sent["receipts"][1], sent["receipts"][0]


def _alter_line(sent: dict[str, Any]) -> None:
    sent["entries"][0]["cost_micro_usd"] += 1


def _drop_line(sent: dict[str, Any]) -> None:
    del sent["entries"][2]


def _extra_member(sent: dict[str, Any]) -> None:
    sent["note"] = "x"


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (_drop_receipt, "inconsistent"),
        (_swap_receipts, "inconsistent"),
        (_alter_line, "inconsistent"),
        (_drop_line, "inconsistent"),
        (_extra_member, "malformed"),
    ],
)
def test_what_travels_beside_the_statement_is_bound_to_it(change: Change, reason: str) -> None:
    sent = json.loads(bundle_of(chain(3)).to_json())
    change(sent)
    assert verify_bundle(json.dumps(sent).encode()).reason == reason


def test_receipts_and_context_must_sit_where_the_period_says() -> None:
    receipts = chain(5)
    outside = issue(
        signer=SELLER,
        counterparty=BUYER.public_id,
        direction="supply",
        period=Period(start=STARTED + 3_000, end=STARTED + 10_000),
        issued_at=1,
        receipts=[held_of(s) for s in receipts],  # receipt 1 and 2 started before it
        lines=[],
    )
    verdict = verify_bundle(outside.to_json())
    assert verdict.reason == "inconsistent"
    assert "receipt 1 (req_0001) started outside the period" in verdict.detail
    # Receipt 3 started in the period: it cannot be context.
    inside = issue(
        signer=SELLER,
        counterparty=BUYER.public_id,
        direction="supply",
        period=Period(start=STARTED + 2_000, end=STARTED + 5_000),
        issued_at=1,
        receipts=[held_of(receipts[1]), held_of(receipts[3])],
        context=[held_of(receipts[2])],
        lines=[],
    )
    assert "context receipt 3 (req_0003) started in the period" in str(
        verify_bundle(inside.to_json()).detail
    )


def test_the_parties_are_pinned() -> None:
    data = bundle_of(chain(1)).to_json()
    assert verify_bundle(data, issuer=STRANGER.public_id).reason == "wrong_issuer"
    assert verify_bundle(data, counterparty=STRANGER.public_id).reason == "wrong_counterparty"
    assert verify_bundle(data, issuer=SELLER.public_id, counterparty=BUYER.public_id).ok


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"[]",
        b"{}",
        b'{"statement": 1, "receipts": [], "context": [], "entries": [], "offers": []}',
        b"\xff",
    ],
)
def test_a_bundle_that_is_not_one_is_malformed(data: bytes) -> None:
    assert verify_bundle(data).reason == "malformed"


def test_a_statement_has_a_size_limit() -> None:
    many = [held(b"{}", request_id=f"r{n}", seq=n + 1) for n in range(MAX_STATEMENT_RECEIPTS + 1)]
    with pytest.raises(ValueError, match="at most 10000"):
        issue(
            signer=SELLER,
            counterparty=BUYER.public_id,
            direction="supply",
            period=PERIOD,
            issued_at=1,
            receipts=many,
            lines=[],
        )


def test_held_names_what_it_can_read() -> None:
    signed = chain(1)[0]
    assert held(signed.data) == Held(data=signed.data, request_id="req_0001", seq=1)
    assert held(b"not json").request_id == "(unreadable)"
    assert held(b"not json", request_id="req_x", seq=7).seq == 7
