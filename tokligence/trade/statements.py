"""Statements: one side's signed account of its trades with a counterparty
over a period (no I/O).

Theory of operation
-------------------
A statement is issued by one side of a pair for its own direction: a
seller states what it supplied to a buyer, a buyer what it consumed from a
seller. It covers a period ``[period_from, period_to)`` in Unix
milliseconds, and a request belongs to the period its receipt *started*
in -- a time both sides read from the same signed receipt, so both select
the same requests whatever their clocks. (A request with no receipt, an
attempt that was never billed, belongs to the period its entry was written
in.)

The signed part is small: who, which direction and period, how many
requests and receipts, the booked totals, the first and last sequence
number, and two hashes binding what travels beside it:

- ``receipts_hash``: SHA-256 of the ASCII concatenation of the receipts'
  hashes (each the 64 lowercase hex digits of the SHA-256 of the signed
  receipt's bytes, as a receipt's ``prev`` names the one before it), in
  sequence order. No receipts: the SHA-256 of nothing.
- ``entries_hash``: SHA-256 of the canonical JSON ``{"entries": [LINE, …]}``,
  one LINE per request in request-id order: ``{"request_id", "status",
  "tokens": {"input", "output", "cache_read", "cache_write"},
  "cost_micro_usd"}``, the issuer's *booked* figures (its entries,
  corrections included, so they may differ from the receipt: that is what
  reconciliation looks for).

A :class:`Bundle` is what is sent: the signed statement, the receipts of the
period in sequence order, the *context* -- the chain's receipts between the
first and the last of the period's that started outside it (a receipt's
number is given when it ends, so a long request of the period before can
sit between two of this one's; with them the chain from first to last is
whole and its links can be checked) --, the lines, and for a seller the
signed offer versions its receipts name. Signed documents travel as the
strings of their exact stored bytes, so a receipt altered in a database
reaches the other side as it is and fails its own check there.

:func:`verify_bundle` checks the statement (its shape, the issuer's
signature, the pinned parties) and that the bundle is the one it states:
the hashes, counts and totals, receipts of the period inside it and
context outside it. It does not check the receipts' own signatures: a
receipt that does not verify is a finding of reconciliation, named by its
request id, not a reason to throw the statement away.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from .documents import Document, DocumentError, encode, is_sha256_hex, sha256_hex
from .money import TOKEN_KINDS, MoneyError, Prices
from .offers import OFFER, offer_ref
from .receipts import (
    DOCUMENT_VERSION,
    MAX_SEQ,
    REQUEST_ID,
    Malformed,
    Verdict,
    integer_between,
    read_signed,
    require,
)
from .signing import Sealed, Signer, is_public_id, seal, unseal

STATEMENT = "statement"
DIRECTIONS = ("supply", "consume")  # as the book files them (book.DIRECTIONS)
# The receipts and context of one statement together: a month of a busy pair
# is far less; a larger period is refused with the count, to be split.
MAX_STATEMENT_RECEIPTS = 10_000
# What one bundle may weigh: MAX_STATEMENT_RECEIPTS receipts of about a
# kilobyte each as JSON strings, with their lines, and room to spare.
MAX_BUNDLE_BYTES = 32 << 20
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
STATUS = re.compile(r"[a-z_]{1,32}\Z")
UNREADABLE = "(unreadable)"  # the request id of a receipt that cannot be read at all
_STATEMENT_KEYS = frozenset(
    {
        "type",
        "v",
        "issuer",
        "counterparty",
        "direction",
        "period_from",
        "period_to",
        "issued_at",
        "requests",
        "tokens",
        "cost_micro_usd",
        "receipts",
        "first_seq",
        "last_seq",
        "receipts_hash",
        "entries_hash",
    }
)


def opposite(direction: str) -> str:
    """The other side's direction of the same trades."""
    return DIRECTIONS[1 - DIRECTIONS.index(direction)]


# ------------------------------------------------------------------ amounts


@dataclass(frozen=True, kw_only=True, slots=True)
class Amounts:
    """Booked tokens of each kind and cost. Sums of entries, corrections
    included: unlike a receipt's, they may be negative."""

    input: int = 0
    output: int = 0
    cache_read: int = 0
    cache_write: int = 0
    cost_micro_usd: int = 0

    def __post_init__(self) -> None:
        for name in (*TOKEN_KINDS, "cost_micro_usd"):
            require(integer_between(getattr(self, name), INT_MIN, INT_MAX), f"{name} is not a sum")

    def __add__(self, other: Amounts) -> Amounts:
        return Amounts(
            **{
                name: getattr(self, name) + getattr(other, name)
                for name in (*TOKEN_KINDS, "cost_micro_usd")
            }
        )

    @property
    def tokens(self) -> int:
        return self.input + self.output + self.cache_read + self.cache_write

    def tokens_document(self) -> dict[str, int]:
        return {kind: getattr(self, kind) for kind in TOKEN_KINDS}

    @classmethod
    def from_tokens(cls, tokens: object, cost: Any) -> Amounts:
        require(
            isinstance(tokens, Mapping) and set(tokens) == set(TOKEN_KINDS),
            f"tokens must name exactly {', '.join(TOKEN_KINDS)}",
        )
        assert isinstance(tokens, Mapping)
        return cls(**{kind: tokens[kind] for kind in TOKEN_KINDS}, cost_micro_usd=cost)

    def describe(self) -> str:
        return (
            f"{self.input} in, {self.output} out, {self.cache_read} cache read, "
            f"{self.cache_write} cache write, {self.cost_micro_usd} micro-USD"
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class BookLine:
    """One request as a side booked it: the status of its entry and the
    sums of its revisions."""

    request_id: str
    status: str
    amounts: Amounts

    def __post_init__(self) -> None:
        require(
            isinstance(self.request_id, str) and REQUEST_ID.match(self.request_id) is not None,
            "request_id must be 1 to 128 of A-Z a-z 0-9 . _ : -",
        )
        require(
            isinstance(self.status, str) and STATUS.match(self.status) is not None,
            "status is not a status",
        )

    def document(self) -> Document:
        return {
            "request_id": self.request_id,
            "status": self.status,
            "tokens": self.amounts.tokens_document(),
            "cost_micro_usd": self.amounts.cost_micro_usd,
        }

    @classmethod
    def from_document(cls, value: object) -> BookLine:
        require(
            isinstance(value, dict)
            and set(value) == {"request_id", "status", "tokens", "cost_micro_usd"},
            "a line is {request_id, status, tokens, cost_micro_usd}",
        )
        assert isinstance(value, dict)
        return cls(
            request_id=value["request_id"],
            status=value["status"],
            amounts=Amounts.from_tokens(value["tokens"], value["cost_micro_usd"]),
        )


def total(lines: Iterable[BookLine]) -> Amounts:
    out = Amounts()
    for line in lines:
        out = out + line.amounts
    return out


def receipts_hash(hashes: Iterable[str]) -> str:
    """SHA-256 of the receipts' hex hashes, concatenated in sequence order."""
    digest = hashlib.sha256()
    for item in hashes:
        digest.update(item.encode("ascii"))
    return digest.hexdigest()


def entries_hash(lines: Sequence[BookLine]) -> str:
    """SHA-256 of ``{"entries": [LINE, …]}`` in canonical JSON (lines in
    request-id order, as a statement lists them)."""
    return sha256_hex(encode({"entries": [line.document() for line in lines]}))


# ------------------------------------------------------------------- receipts


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """A receipt as one side holds it: its exact bytes, and the request id
    and number it is filed under (read from the bytes when they can be)."""

    data: bytes
    request_id: str
    seq: int

    @property
    def hash(self) -> str:
        return sha256_hex(self.data)


def held(data: bytes, *, request_id: str | None = None, seq: int | None = None) -> Held:
    """``data`` as held: the filing given (a side's own table row), else
    what the bytes say, read leniently -- a receipt that does not verify
    must still be named."""
    body: object = None
    try:
        envelope = json.loads(data)
        body = envelope.get("receipt") if isinstance(envelope, dict) else None
    except (ValueError, UnicodeDecodeError):
        pass
    found_id = body.get("request_id") if isinstance(body, dict) else None
    found_seq = body.get("seq") if isinstance(body, dict) else None
    if request_id is None:
        request_id = found_id if isinstance(found_id, str) and found_id else UNREADABLE
    if seq is None:
        seq = found_seq if integer_between(found_seq, 0, MAX_SEQ) else 0
    assert isinstance(seq, int)
    return Held(data=data, request_id=request_id, seq=seq)


def started_at(data: bytes) -> int | None:
    """When the receipt in ``data`` says its request started, if it says."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    body = envelope.get("receipt") if isinstance(envelope, dict) else None
    value = body.get("started_at") if isinstance(body, dict) else None
    return value if integer_between(value, 0, MAX_SEQ) else None


def offer_of(data: bytes) -> str | None:
    """The offer version (``NAME@VERSION``) the receipt in ``data`` names."""
    try:
        envelope = json.loads(data)
    except (ValueError, UnicodeDecodeError):
        return None
    body = envelope.get("receipt") if isinstance(envelope, dict) else None
    value = body.get("offer") if isinstance(body, dict) else None
    return value if isinstance(value, str) else None


def offer_prices(offers: Iterable[bytes], seller: str) -> dict[str, Prices]:
    """The prices of each signed offer version in ``offers`` that verifies
    as ``seller``'s, by ``NAME@VERSION``; the others are left out (a
    receipt naming one is then not checked against a price)."""
    out: dict[str, Prices] = {}
    for data in offers:
        try:
            sealed = unseal(OFFER, data)
            body = sealed.body
            if body.get("seller") != seller or not sealed.verified_by(seller):
                continue
            name, version = body["name"], body["version"]
            if not isinstance(name, str) or not integer_between(version, 1, MAX_SEQ):
                continue
            out[offer_ref(name, version)] = Prices.from_document(body["prices"])
        except (DocumentError, MoneyError, KeyError):
            continue
    return out


# ------------------------------------------------------------------ statement


@dataclass(frozen=True, kw_only=True, slots=True)
class Period:
    """``[start, end)`` in Unix milliseconds."""

    start: int
    end: int

    def __post_init__(self) -> None:
        require(integer_between(self.start, 0, MAX_SEQ), "period_from is not a time")
        require(integer_between(self.end, 1, MAX_SEQ), "period_to is not a time")
        require(self.start < self.end, "period_from is not before period_to")

    def __contains__(self, moment: object) -> bool:
        return isinstance(moment, int) and self.start <= moment < self.end


@dataclass(frozen=True, kw_only=True, slots=True)
class Statement:
    issuer: str
    counterparty: str
    direction: str  # the issuer's: supply (a seller's statement) or consume
    period: Period
    issued_at: int  # Unix ms
    requests: int  # booked requests (lines)
    amounts: Amounts  # booked totals
    receipts: int
    first_seq: int  # 0 when there are no receipts
    last_seq: int
    receipts_hash: str
    entries_hash: str

    def __post_init__(self) -> None:
        require(is_public_id(self.issuer), "issuer is not a public id")
        require(is_public_id(self.counterparty), "counterparty is not a public id")
        require(self.issuer != self.counterparty, "issuer and counterparty are one node")
        require(self.direction in DIRECTIONS, "direction is supply or consume")
        require(integer_between(self.issued_at, 0, MAX_SEQ), "issued_at is not a time")
        require(integer_between(self.requests, 0, MAX_SEQ), "requests is not a count")
        require(integer_between(self.receipts, 0, MAX_SEQ), "receipts is not a count")
        if self.receipts == 0:
            require(self.first_seq == self.last_seq == 0, "no receipts: first_seq, last_seq 0")
        else:
            require(
                integer_between(self.first_seq, 1, MAX_SEQ)
                and integer_between(self.last_seq, self.first_seq, MAX_SEQ),
                "first_seq and last_seq are not a range",
            )
        require(is_sha256_hex(self.receipts_hash), "receipts_hash is not a SHA-256 hex digest")
        require(is_sha256_hex(self.entries_hash), "entries_hash is not a SHA-256 hex digest")

    @property
    def seller(self) -> str:
        return self.issuer if self.direction == "supply" else self.counterparty

    @property
    def buyer(self) -> str:
        return self.counterparty if self.direction == "supply" else self.issuer

    def document(self) -> Document:
        return {
            "type": STATEMENT,
            "v": DOCUMENT_VERSION,
            "issuer": self.issuer,
            "counterparty": self.counterparty,
            "direction": self.direction,
            "period_from": self.period.start,
            "period_to": self.period.end,
            "issued_at": self.issued_at,
            "requests": self.requests,
            "tokens": self.amounts.tokens_document(),
            "cost_micro_usd": self.amounts.cost_micro_usd,
            "receipts": self.receipts,
            "first_seq": self.first_seq,
            "last_seq": self.last_seq,
            "receipts_hash": self.receipts_hash,
            "entries_hash": self.entries_hash,
        }

    @classmethod
    def from_document(cls, body: Document) -> Statement:
        require(set(body) == _STATEMENT_KEYS, "not the members of a statement")
        require(body["v"] == DOCUMENT_VERSION, f"not a version {DOCUMENT_VERSION} statement")
        fields: dict[str, Any] = {
            key: body[key]
            for key in _STATEMENT_KEYS
            - {"type", "v", "period_from", "period_to", "tokens", "cost_micro_usd"}
        }
        return cls(
            period=Period(start=body["period_from"], end=body["period_to"]),
            amounts=Amounts.from_tokens(body["tokens"], body["cost_micro_usd"]),
            **fields,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class Bundle:
    """A signed statement and what it binds, as sent."""

    statement: Statement
    sealed: Sealed
    receipts: tuple[Held, ...]  # the period's, in sequence order
    context: tuple[Held, ...]  # the chain's between them that started outside it
    lines: tuple[BookLine, ...]  # in request-id order
    offers: tuple[bytes, ...] = ()  # signed offer versions (a seller's statement)

    def to_json(self) -> bytes:
        """The bundle as sent: signed documents as the strings of their bytes."""
        value = {
            "statement": self.sealed.data.decode("utf-8"),
            "receipts": [item.data.decode("utf-8", "replace") for item in self.receipts],
            "context": [item.data.decode("utf-8", "replace") for item in self.context],
            "entries": [line.document() for line in self.lines],
            "offers": [data.decode("utf-8", "replace") for data in self.offers],
        }
        return json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def issue(
    *,
    signer: Signer,
    counterparty: str,
    direction: str,
    period: Period,
    issued_at: int,
    receipts: Sequence[Held],
    context: Sequence[Held] = (),
    lines: Sequence[BookLine],
    offers: Sequence[bytes] = (),
) -> Bundle:
    """Sign the statement of ``receipts`` and ``lines`` (this node's own
    book of the period, receipts in sequence order)."""
    if len(receipts) + len(context) > MAX_STATEMENT_RECEIPTS:
        raise ValueError(
            f"{len(receipts) + len(context)} receipts: a statement holds at most "
            f"{MAX_STATEMENT_RECEIPTS}; ask for a shorter period"
        )
    ordered = tuple(sorted(lines, key=lambda line: line.request_id))
    statement = Statement(
        issuer=signer.public_id,
        counterparty=counterparty,
        direction=direction,
        period=period,
        issued_at=issued_at,
        requests=len(ordered),
        amounts=total(ordered),
        receipts=len(receipts),
        first_seq=receipts[0].seq if receipts else 0,
        last_seq=receipts[-1].seq if receipts else 0,
        receipts_hash=receipts_hash(item.hash for item in receipts),
        entries_hash=entries_hash(ordered),
    )
    return Bundle(
        statement=statement,
        sealed=seal(STATEMENT, statement.document(), signer),
        receipts=tuple(receipts),
        context=tuple(context),
        lines=ordered,
        offers=tuple(offers),
    )


def _strings(value: object, name: str) -> list[bytes]:
    require(
        isinstance(value, list) and all(isinstance(item, str) for item in value),
        f"{name} is not a list of strings",
    )
    assert isinstance(value, list)
    return [item.encode("utf-8") for item in value]


def read_bundle(data: bytes) -> Bundle:
    """A bundle from what :meth:`Bundle.to_json` wrote; raises Malformed
    when it is not one (the signature and hashes are not checked here)."""
    require(len(data) <= MAX_BUNDLE_BYTES, f"a statement is at most {MAX_BUNDLE_BYTES} bytes")
    try:
        value = json.loads(data)
    except (ValueError, UnicodeDecodeError) as error:
        raise Malformed(f"not JSON: {error}") from None
    require(
        isinstance(value, dict)
        and set(value) == {"statement", "receipts", "context", "entries", "offers"},
        "a statement is {statement, receipts, context, entries, offers}",
    )
    require(isinstance(value["statement"], str), "statement is not a string")
    receipts = _strings(value["receipts"], "receipts")
    context = _strings(value["context"], "context")
    require(
        len(receipts) + len(context) <= MAX_STATEMENT_RECEIPTS,
        f"more than {MAX_STATEMENT_RECEIPTS} receipts",
    )
    offers = _strings(value["offers"], "offers")
    entries = value["entries"]
    require(isinstance(entries, list), "entries is not a list")
    sealed = read_signed(STATEMENT, value["statement"].encode("utf-8"))
    return Bundle(
        statement=Statement.from_document(sealed.body),
        sealed=sealed,
        receipts=tuple(held(item) for item in receipts),
        context=tuple(held(item) for item in context),
        lines=tuple(BookLine.from_document(item) for item in entries),
        offers=tuple(offers),
    )


def verify_bundle(
    data: bytes, *, issuer: str | None = None, counterparty: str | None = None
) -> Verdict[Bundle]:
    """Check a sent statement: its form (``malformed``), the parties the
    caller pins (``wrong_issuer``, ``wrong_counterparty``), the issuer's
    signature (``bad_signature``), and that what travels beside it is what
    it states (``inconsistent``)."""
    try:
        bundle = read_bundle(data)
    except DocumentError as error:
        return Verdict(reason="malformed", detail=str(error))
    statement = bundle.statement
    for reason, expected, found in (
        ("wrong_issuer", issuer, statement.issuer),
        ("wrong_counterparty", counterparty, statement.counterparty),
    ):
        if expected is not None and expected != found:
            return Verdict(reason=reason, detail=f"{found}, expected {expected}", value=bundle)
    if not bundle.sealed.verified_by(statement.issuer):
        return Verdict(
            reason="bad_signature",
            detail=f"the signature is not {statement.issuer}'s over this statement",
            value=bundle,
        )
    problem = _inconsistency(bundle)
    if problem is not None:
        return Verdict(reason="inconsistent", detail=problem, value=bundle)
    return Verdict(reason=None, detail=describe(statement), value=bundle)


def _inconsistency(bundle: Bundle) -> str | None:
    statement, receipts, lines = bundle.statement, bundle.receipts, bundle.lines
    seqs = [item.seq for item in receipts]
    if seqs != sorted(seqs):
        return "the receipts are not in sequence order"
    if receipts_hash(item.hash for item in receipts) != statement.receipts_hash:
        return "the receipts are not the ones the statement hashes"
    if (len(receipts), seqs[0] if seqs else 0, seqs[-1] if seqs else 0) != (
        statement.receipts,
        statement.first_seq,
        statement.last_seq,
    ):
        return "the receipts' count or numbers are not the statement's"
    ids = [line.request_id for line in lines]
    if ids != sorted(set(ids)):
        return "the entries are not one per request in request-id order"
    if entries_hash(lines) != statement.entries_hash:
        return "the entries are not the ones the statement hashes"
    if len(lines) != statement.requests or total(lines) != statement.amounts:
        return "the entries do not add up to the statement's totals"
    for item in receipts:
        moment = started_at(item.data)
        if moment is not None and moment not in statement.period:
            return f"receipt {item.seq} ({item.request_id}) started outside the period"
    for item in bundle.context:
        moment = started_at(item.data)
        if moment is not None and moment in statement.period:
            return f"context receipt {item.seq} ({item.request_id}) started in the period"
        if not statement.first_seq < item.seq < statement.last_seq:
            return f"context receipt {item.seq} is not between the period's receipts"
    return None


def describe(statement: Statement) -> str:
    return (
        f"{statement.direction} statement of {statement.issuer} with "
        f"{statement.counterparty} for [{statement.period.start}, {statement.period.end}): "
        f"{statement.requests} requests, {statement.receipts} receipts, "
        f"{statement.amounts.cost_micro_usd} micro-USD"
    )
