"""Reconciliation: our book of a period against the other side's (no I/O).

Theory of operation
-------------------
Each side holds, for the trades of a pair, *receipts* (signed by the
seller, chained by number and hash) and *lines* (what it booked: one per
request, the sums of its entries). :func:`reconcile` takes both sides'
receipts and lines for one period and puts every request id either of
them names into exactly one class, the first that applies:

``bad_signature``
    a receipt of either side does not verify: not a canonical receipt,
    not between these two parties, not the seller's signature, or a cost
    its tokens at its prices do not make (an altered receipt row).
``missing_here``
    the other side has it and we have nothing, or not all of it: no entry
    (a deleted row), or no receipt while they hold one (a dropped receipt).
``missing_there``
    the mirror image: we have it, they do not, or not all of it.
``amount_mismatch``
    both sides have it but the figures differ: the two books (the detail
    says which left its receipt: an altered entry row, or a correction the
    other side did not book), two different receipts for one request, or a
    receipt priced above the offer version it names.
``suspect``
    all agrees, but our side flagged the entry as suspect when it was
    written (the tokens the buyer saw were not the receipt's).
``matched``
    both books and both receipts agree (books that both corrected a
    receipt alike agree too: a correction is an entry, not an alteration).
    A request we booked at zero cost
    without a receipt (an attempt that was never billed) that the other
    side does not know is matched too: nothing is owed either way.

Apart from the requests, each side's chain is checked over the span of
the period's receipts (with the context receipts between them):
``sequence_gap`` findings name the receipt after a missing number, one
whose ``prev`` is not the hash of the one before it, or -- for a period
from the beginning of time -- a chain that does not start at 1. A request
may then appear twice: in its class, and as where a chain breaks.

The report is clean when nothing but ``matched`` was found. The seller's
side against a buyer's acknowledgements is :func:`reconcile_acks`.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from .acks import Ack, verify_ack
from .money import TOKEN_KINDS, Prices
from .receipts import Receipt, SignedReceipt, verify_receipt
from .statements import Amounts, BookLine, Held

MATCHED = "matched"
AMOUNT_MISMATCH = "amount_mismatch"
MISSING_HERE = "missing_here"
MISSING_THERE = "missing_there"
BAD_SIGNATURE = "bad_signature"
SEQUENCE_GAP = "sequence_gap"
SUSPECT = "suspect"
# In the order a report prints them; the first six classify requests.
CLASSES = (
    MATCHED,
    AMOUNT_MISMATCH,
    MISSING_HERE,
    MISSING_THERE,
    BAD_SIGNATURE,
    SEQUENCE_GAP,
    SUSPECT,
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Finding:
    kind: str  # one of CLASSES
    request_id: str
    detail: str = ""


@dataclass(frozen=True, kw_only=True, slots=True)
class Report:
    findings: tuple[Finding, ...]

    @property
    def clean(self) -> bool:
        return all(finding.kind == MATCHED for finding in self.findings)

    def of(self, kind: str) -> list[Finding]:
        return [finding for finding in self.findings if finding.kind == kind]

    def counts(self) -> dict[str, int]:
        return {kind: len(self.of(kind)) for kind in CLASSES}


@dataclass(frozen=True, kw_only=True, slots=True)
class Side:
    """One side's record of the period."""

    receipts: tuple[Held, ...] = ()  # the period's
    context: tuple[Held, ...] = ()  # the chain's between them, started outside it
    lines: tuple[BookLine, ...] = ()
    suspect: frozenset[str] = field(default_factory=frozenset)  # our flags only


@dataclass(frozen=True, kw_only=True, slots=True)
class _Checked:
    held: Held
    signed: SignedReceipt | None  # None when it cannot even be read
    problem: str | None  # why it does not verify


def _check(item: Held, *, seller: str, buyer: str) -> _Checked:
    verdict = verify_receipt(item.data, seller=seller, buyer=buyer)
    return _Checked(
        held=item,
        signed=verdict.value,
        problem=None if verdict.ok else f"{verdict.reason}: {verdict.detail}",
    )


def receipt_amounts(receipt: Receipt) -> Amounts:
    return Amounts(
        **{kind: getattr(receipt.tokens, kind) for kind in TOKEN_KINDS},
        cost_micro_usd=receipt.cost_micro_usd,
    )


def _above_offer(receipt: Receipt, offers: Mapping[str, Prices]) -> str | None:
    accepted = offers.get(receipt.offer)
    if accepted is None:
        return None
    over = [
        f"{kind} {getattr(receipt.prices, kind)} > {getattr(accepted, kind)}"
        for kind in TOKEN_KINDS
        if getattr(receipt.prices, kind) > getattr(accepted, kind)
    ]
    if not over:
        return None
    return f"priced above offer {receipt.offer} ({', '.join(over)} USD per million tokens)"


def chain_findings(items: Iterable[Held], *, whose: str, from_start: bool = False) -> list[Finding]:
    """The breaks of one side's chain over the span of ``items``: a number
    missing, repeated, or a ``prev`` that is not the hash of the receipt
    before. ``from_start``: the span should begin at receipt 1."""
    ordered = sorted(items, key=lambda item: item.seq)
    found: list[Finding] = []
    if from_start and ordered and ordered[0].seq > 1:
        first = ordered[0]
        found.append(
            Finding(
                kind=SEQUENCE_GAP,
                request_id=first.request_id,
                detail=f"{whose} chain starts at receipt {first.seq}: "
                f"1 to {first.seq - 1} are missing",
            )
        )
    for before, after in itertools.pairwise(ordered):
        if after.seq == before.seq:
            detail = f"{whose} chain has receipt {after.seq} twice ({before.request_id})"
        elif after.seq != before.seq + 1:
            missing = (
                f"{before.seq + 1}"
                if after.seq == before.seq + 2
                else f"{before.seq + 1} to {after.seq - 1}"
            )
            detail = f"{whose} chain: receipt {after.seq} follows {before.seq}; {missing} missing"
        elif _prev(after) not in (None, before.hash):
            detail = (
                f"{whose} chain: receipt {after.seq}'s prev is not the hash of "
                f"receipt {before.seq} ({before.request_id})"
            )
        else:
            continue
        found.append(Finding(kind=SEQUENCE_GAP, request_id=after.request_id, detail=detail))
    return found


def _prev(item: Held) -> str | None:
    """The ``prev`` the receipt says, read leniently (None: unreadable; an
    unreadable receipt is a ``bad_signature`` finding already)."""
    try:
        envelope = json.loads(item.data)
    except (ValueError, UnicodeDecodeError):
        return None
    body = envelope.get("receipt") if isinstance(envelope, dict) else None
    prev = body.get("prev") if isinstance(body, dict) else None
    return prev if isinstance(prev, str) else None


def reconcile(
    ours: Side,
    theirs: Side,
    *,
    seller: str,
    buyer: str,
    offers: Mapping[str, Prices] | None = None,
    from_start: bool = False,
) -> Report:
    """Classify every request of the period (module docstring). ``offers``:
    the prices of the offer versions the buyer accepted, by ``NAME@VERSION``
    (a receipt naming another is not checked against a price)."""
    mine = {item.held.request_id: item for item in _checked(ours.receipts, seller, buyer)}
    other = {item.held.request_id: item for item in _checked(theirs.receipts, seller, buyer)}
    my_lines = {line.request_id: line for line in ours.lines}
    their_lines = {line.request_id: line for line in theirs.lines}
    ids = sorted(set(mine) | set(other) | set(my_lines) | set(their_lines))
    findings = [
        _classify(
            request_id,
            mine.get(request_id),
            other.get(request_id),
            my_lines.get(request_id),
            their_lines.get(request_id),
            suspect=request_id in ours.suspect,
            offers=offers or {},
        )
        for request_id in ids
    ]
    findings += chain_findings((*ours.receipts, *ours.context), whose="our", from_start=from_start)
    findings += chain_findings(
        (*theirs.receipts, *theirs.context), whose="their", from_start=from_start
    )
    return Report(findings=tuple(findings))


def _checked(items: Sequence[Held], seller: str, buyer: str) -> list[_Checked]:
    return [_check(item, seller=seller, buyer=buyer) for item in items]


def _classify(
    request_id: str,
    mine: _Checked | None,
    other: _Checked | None,
    my_line: BookLine | None,
    their_line: BookLine | None,
    *,
    suspect: bool,
    offers: Mapping[str, Prices],
) -> Finding:
    def finding(kind: str, detail: str = "") -> Finding:
        return Finding(kind=kind, request_id=request_id, detail=detail)

    bad = [
        f"{whose} receipt: {item.problem}"
        for whose, item in (("our", mine), ("their", other))
        if item is not None and item.problem is not None
    ]
    if bad:
        return finding(BAD_SIGNATURE, "; ".join(bad))
    if mine is None and my_line is None:
        return finding(MISSING_HERE, "in their book, not in ours")
    if other is None and their_line is None:
        if mine is None and my_line is not None and my_line.amounts.cost_micro_usd == 0:
            return finding(MATCHED, "no receipt and nothing charged, on either side")
        return finding(MISSING_THERE, "in our book, not in theirs")
    if my_line is None:
        return finding(MISSING_HERE, "we hold its receipt but booked nothing")
    if their_line is None:
        return finding(MISSING_THERE, "they hold its receipt but booked nothing")
    if mine is None and other is not None:
        return finding(MISSING_HERE, "we booked it but hold no receipt; they hold one")
    if other is None and mine is not None:
        return finding(MISSING_THERE, "they booked it but hold no receipt; we hold one")
    problems: list[str] = []
    if mine is not None and other is not None and mine.held.hash != other.held.hash:
        problems.append("the two receipts differ")
    if my_line.amounts != their_line.amounts:
        # Say which book left its receipt (an altered or corrected entry).
        departed = []
        for whose, line, item in (("our", my_line, mine), ("their", their_line, other)):
            if item is not None and item.signed is not None:
                signed_amounts = receipt_amounts(item.signed.receipt)
                if line.amounts != signed_amounts:
                    departed.append(
                        f"{whose} book says {line.amounts.describe()}; "
                        f"the receipt says {signed_amounts.describe()}"
                    )
        problems += departed or [
            f"our book says {my_line.amounts.describe()}; "
            f"theirs says {their_line.amounts.describe()}"
        ]
    for item in (mine, other):
        if item is not None and item.signed is not None:
            over = _above_offer(item.signed.receipt, offers)
            if over is not None:
                problems.append(over)
                break
    if problems:
        return finding(AMOUNT_MISMATCH, "; ".join(problems))
    if suspect:
        return finding(SUSPECT, "flagged suspect when our entry was written")
    if (
        mine is not None
        and mine.signed is not None
        and my_line.amounts != receipt_amounts(mine.signed.receipt)
    ):
        return finding(MATCHED, "both books corrected it alike")
    return finding(MATCHED)


# ------------------------------------------------------- against acknowledgements


def reconcile_acks(
    receipts: Sequence[Held], acks: Sequence[bytes], *, seller: str, buyer: str
) -> Report:
    """The seller's side: its receipts to ``buyer`` against the buyer's
    signed acknowledgements. Matched (acknowledged with the same hash),
    ``amount_mismatch`` (acknowledged with another hash: the buyer holds a
    different receipt), ``missing_here`` (acknowledged, but we hold no such
    receipt), ``missing_there`` (not acknowledged), ``bad_signature`` (a
    receipt of ours, or an acknowledgement, that does not verify; an
    acknowledgement is named by the first request it lists), and our
    chain's ``sequence_gap``."""
    findings: list[Finding] = []
    acknowledged: dict[str, str] = {}
    for data in acks:
        verdict = verify_ack(data, buyer=buyer, seller=seller)
        ack: Ack | None = verdict.value
        if not verdict.ok or ack is None:
            first = ack.receipts[0].request_id if ack is not None else "(acknowledgement)"
            findings.append(
                Finding(
                    kind=BAD_SIGNATURE,
                    request_id=first,
                    detail=f"acknowledgement: {verdict.reason}: {verdict.detail}",
                )
            )
            continue
        for item in ack.receipts:
            acknowledged[item.request_id] = item.receipt
    ours = {item.held.request_id: item for item in _checked(receipts, seller, buyer)}
    for request_id in sorted(set(ours) | set(acknowledged)):
        mine, hash_there = ours.get(request_id), acknowledged.get(request_id)
        if mine is not None and mine.problem is not None:
            kind, detail = BAD_SIGNATURE, f"our receipt: {mine.problem}"
        elif mine is None:
            kind, detail = MISSING_HERE, "acknowledged, but we hold no such receipt"
        elif hash_there is None:
            kind, detail = MISSING_THERE, "not acknowledged"
        elif hash_there != mine.held.hash:
            kind, detail = AMOUNT_MISMATCH, "acknowledged with another receipt's hash"
        else:
            kind, detail = MATCHED, ""
        findings.append(Finding(kind=kind, request_id=request_id, detail=detail))
    findings += chain_findings(receipts, whose="our", from_start=True)
    return Report(findings=tuple(findings))
