"""Settlements: a netting statement both sides of a pair sign (no I/O).

Theory of operation
-------------------
A settlement closes what two gateways owe each other up to a cut-off: the
billable entries of both directions not settled before, whose request
started before ``cut_off`` (Unix ms; the time of a request as in
statements.py). An entry is *billable* when its request's first entry
holds a receipt or its own cost is not zero: an attempt with neither was
never billed, and only one side knows of it.

The body says, for each direction (a *flow*, seller to buyer): how many
requests and entries it covers, their tokens and cost, and
``entries_hash`` -- SHA-256 of the lines ``REQUEST_ID REVISION INPUT
OUTPUT CACHE_READ CACHE_WRITE COST\\n`` (decimal integers, one space
apart) of the covered entries in (request id, revision) order -- and the
net: who pays whom how much. Settlements of a pair are numbered 1, 2, 3…
and each names the hash of the one before (``previous``; 64 zeros for the
first), like receipts. Nothing in the body depends on which side proposed
it or when: the same books and cut-off make the same bytes on both sides,
which is how the other side checks a proposal -- it computes its own and
signs only an identical one -- and what makes settling twice idempotent.

Each side signs the same body (the usual envelope, ``{"settlement": BODY,
"sig": SIG}``); a settlement is done when both signatures are stored on
both sides. Its hash is the SHA-256 of the body's canonical bytes (two
envelopes, one settlement). Money moves outside the gateway: a settlement
records that the parties agree on what is owed, and that those entries are
not owed again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from .documents import Document, DocumentError, encode, is_sha256_hex, sha256_hex
from .receipts import (
    DOCUMENT_VERSION,
    GENESIS,
    MAX_SEQ,
    Verdict,
    integer_between,
    read_signed,
    require,
)
from .signing import Sealed, Signer, is_public_id, seal
from .statements import Amounts

SETTLEMENT = "settlement"
_KEYS = frozenset({"type", "v", "parties", "number", "previous", "cut_off", "flows", "net"})
_FLOW_KEYS = frozenset(
    {"seller", "buyer", "requests", "entries", "tokens", "cost_micro_usd", "entries_hash"}
)


@dataclass(frozen=True, kw_only=True, slots=True)
class SettledEntry:
    """One entry (a request's revision) a settlement covers."""

    request_id: str
    revision: int
    amounts: Amounts

    def line(self) -> str:
        a = self.amounts
        return (
            f"{self.request_id} {self.revision} {a.input} {a.output} {a.cache_read} "
            f"{a.cache_write} {a.cost_micro_usd}\n"
        )


def entries_hash(entries: Iterable[SettledEntry]) -> str:
    digest = hashlib.sha256()
    for entry in sorted(entries, key=lambda e: (e.request_id, e.revision)):
        digest.update(entry.line().encode("ascii"))
    return digest.hexdigest()


@dataclass(frozen=True, kw_only=True, slots=True)
class Flow:
    """What one side sold the other, in the entries a settlement covers."""

    seller: str
    buyer: str
    requests: int
    entries: int
    amounts: Amounts
    entries_hash: str

    def document(self) -> Document:
        return {
            "seller": self.seller,
            "buyer": self.buyer,
            "requests": self.requests,
            "entries": self.entries,
            "tokens": self.amounts.tokens_document(),
            "cost_micro_usd": self.amounts.cost_micro_usd,
            "entries_hash": self.entries_hash,
        }

    @classmethod
    def from_document(cls, value: object) -> Flow:
        require(isinstance(value, dict) and set(value) == _FLOW_KEYS, "not a settlement flow")
        assert isinstance(value, dict)
        require(is_public_id(value["seller"]) and is_public_id(value["buyer"]), "flow parties")
        require(
            integer_between(value["requests"], 0, MAX_SEQ)
            and integer_between(value["entries"], value["requests"], MAX_SEQ),
            "a flow's requests and entries are counts, entries at least requests",
        )
        require(is_sha256_hex(value["entries_hash"]), "entries_hash is not a SHA-256 digest")
        return cls(
            seller=value["seller"],
            buyer=value["buyer"],
            requests=value["requests"],
            entries=value["entries"],
            amounts=Amounts.from_tokens(value["tokens"], value["cost_micro_usd"]),
            entries_hash=value["entries_hash"],
        )


def flow(seller: str, buyer: str, entries: Sequence[SettledEntry]) -> Flow:
    return Flow(
        seller=seller,
        buyer=buyer,
        requests=len({entry.request_id for entry in entries}),
        entries=len(entries),
        amounts=total_amounts(entries),
        entries_hash=entries_hash(entries),
    )


def total_amounts(entries: Iterable[SettledEntry]) -> Amounts:
    out = Amounts()
    for entry in entries:
        out = out + entry.amounts
    return out


@dataclass(frozen=True, kw_only=True, slots=True)
class Settlement:
    parties: tuple[str, str]  # sorted
    number: int  # 1, 2, 3… per pair
    previous: str  # hash of settlement number - 1; GENESIS for 1
    cut_off: int  # Unix ms: requests that started before it
    flows: tuple[Flow, Flow]  # sold by parties[0], then by parties[1]

    def __post_init__(self) -> None:
        a, b = self.parties
        require(is_public_id(a) and is_public_id(b) and a < b, "parties are two sorted ids")
        require(integer_between(self.number, 1, MAX_SEQ), "number is not a number from 1")
        require(is_sha256_hex(self.previous), "previous is not a SHA-256 hex digest")
        require((self.number == 1) == (self.previous == GENESIS), "only number 1 has no previous")
        require(integer_between(self.cut_off, 0, MAX_SEQ), "cut_off is not a time")
        require(
            [(f.seller, f.buyer) for f in self.flows] == [(a, b), (b, a)],
            "the flows are parties[0] to parties[1], then back",
        )
        require(self.flows[0].entries + self.flows[1].entries > 0, "a settlement covers entries")

    @property
    def net(self) -> tuple[str, str, int]:
        """(payer, payee, micro-USD): what is owed once the flows are netted."""
        a, b = self.parties
        owed_to_a = self.flows[0].amounts.cost_micro_usd - self.flows[1].amounts.cost_micro_usd
        return (b, a, owed_to_a) if owed_to_a >= 0 else (a, b, -owed_to_a)

    def document(self) -> Document:
        payer, payee, amount = self.net
        return {
            "type": SETTLEMENT,
            "v": DOCUMENT_VERSION,
            "parties": list(self.parties),
            "number": self.number,
            "previous": self.previous,
            "cut_off": self.cut_off,
            "flows": [item.document() for item in self.flows],
            "net": {"payer": payer, "payee": payee, "micro_usd": amount},
        }

    @property
    def data(self) -> bytes:
        return encode(self.document())

    @property
    def hash(self) -> str:
        """What the next settlement's ``previous`` is."""
        return sha256_hex(self.data)

    def other(self, party: str) -> str:
        a, b = self.parties
        return b if party == a else a

    @classmethod
    def from_document(cls, body: Document) -> Settlement:
        require(set(body) == _KEYS, "not the members of a settlement")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} settlement")
        parties, flows = body["parties"], body["flows"]
        require(isinstance(parties, list) and len(parties) == 2, "parties are two ids")
        require(isinstance(flows, list) and len(flows) == 2, "a settlement has two flows")
        fields: dict[str, Any] = {k: body[k] for k in ("number", "previous", "cut_off")}
        settlement = cls(
            parties=(parties[0], parties[1]),
            flows=(Flow.from_document(flows[0]), Flow.from_document(flows[1])),
            **fields,
        )
        payer, payee, amount = settlement.net
        require(
            body["net"] == {"payer": payer, "payee": payee, "micro_usd": amount},
            "net is not what the flows make",
        )
        return settlement


def settlement_for(
    *,
    us: str,
    them: str,
    number: int,
    previous: str,
    cut_off: int,
    supplied: Sequence[SettledEntry],
    consumed: Sequence[SettledEntry],
) -> Settlement | None:
    """The settlement of ``supplied`` (ours to ``them``) and ``consumed``
    (theirs to us); None when both are empty: nothing to settle."""
    if not supplied and not consumed:
        return None
    ours, theirs = flow(us, them, supplied), flow(them, us, consumed)
    parties = (us, them) if us < them else (them, us)
    flows = (ours, theirs) if us < them else (theirs, ours)
    return Settlement(
        parties=parties, number=number, previous=previous, cut_off=cut_off, flows=flows
    )


def sign_settlement(settlement: Settlement, signer: Signer) -> Sealed:
    if signer.public_id not in settlement.parties:
        raise ValueError("a settlement is signed by its parties")
    return seal(SETTLEMENT, settlement.document(), signer)


def verify_settlement(data: bytes, *, signer: str, party: str | None = None) -> Verdict[Settlement]:
    """Check one party's signed settlement: its shape (``malformed``), that
    ``signer`` (and ``party``, when given) are its parties (``wrong_party``)
    and that ``signer`` signed it (``bad_signature``)."""
    try:
        sealed = read_signed(SETTLEMENT, data)
        settlement = Settlement.from_document(sealed.body)
    except DocumentError as error:
        return Verdict(reason="malformed", detail=str(error))
    for who in (signer, party):
        if who is not None and who not in settlement.parties:
            return Verdict(
                reason="wrong_party", detail=f"{who} is not a party to it", value=settlement
            )
    if not sealed.verified_by(signer):
        return Verdict(
            reason="bad_signature", detail=f"the signature is not {signer}'s", value=settlement
        )
    return Verdict(reason=None, detail=describe(settlement), value=settlement)


def describe(settlement: Settlement) -> str:
    payer, payee, amount = settlement.net
    covered = sum(item.entries for item in settlement.flows)
    return (
        f"settlement {settlement.number} to {settlement.cut_off}: {covered} entries; "
        f"{payer} owes {payee} {amount} micro-USD"
    )
