"""What a traded request may cost, what it did cost, and what the buyer saw
(pure).

Theory of operation
-------------------
*The worst case* (:func:`worst_case`). Before a seller calls its provider
it holds the most the request can cost against the buyer's credit, so
concurrent requests can never overdraw it. Input: the request body's
length in bytes, counted as tokens -- a token of text is at least one
byte of it, and the JSON around the text (keys, quotes, roles) outweighs
the few tokens a chat template adds -- priced at the dearest of the input
and cache prices (a token may turn out to be a cache write). Output: the
request's own cap (``max_tokens``, ``max_completion_tokens``,
``max_output_tokens``), no higher than the model's output limit when the
gateway knows it (``codecs.model_limits``), else that limit, else
:data:`UNBOUNDED_OUTPUT`. Images are the one input whose tokens its bytes
do not bound (a short URL can cost a thousand tokens); such a request's
actual cost may exceed the hold, and is posted only if the excess still
fits the credit limit (``store.post``).

*The actual cost* is the settled usage of the call (``call/usage.py``)
as :class:`~tokligence.trade.money.Tokens` (:func:`tokens_of`): input
without the cache tokens, as in the ledger, and output including reasoning.

*The buyer's check* (:func:`beyond_tolerance`): the counts a receipt bills
are compared with those the buyer read in the answer itself; a count that
differs by more than ``tolerance`` times what the buyer saw (and at least
one token) marks the purchase ``suspect``.

*The receipt event* of a stream (:func:`receipt_event`): after the
dialect's last event the seller writes one SSE event named
``tokligence_receipt`` whose data is the signed receipt's canonical JSON;
the buyer takes it out before its client sees anything.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal
from typing import Any

from ..canonical import Usage
from ..codecs.model_limits import limits_for
from .money import MAX_TOKENS, TOKEN_KINDS, Prices, Tokens, cost_micro_usd

# The output bound of a request that names no cap, for a model whose limit
# the gateway does not know: the largest output limit in its table of
# models ordinary chat models reach (gpt-5, Claude's 128K models).
UNBOUNDED_OUTPUT = 128_000
# The fields a request caps its output with, in every dialect.
OUTPUT_CAPS = ("max_tokens", "max_completion_tokens", "max_output_tokens")
RECEIPT_EVENT = "tokligence_receipt"
RECEIPT_EVENT_PREFIX = b"event: " + RECEIPT_EVENT.encode() + b"\n"
# How each dialect's stream says it failed (an upstream's own error,
# relayed, or the gateway's): Chat's error data line, the others' events.
_STREAM_ERRORS = {
    "openai_chat": re.compile(rb'^data:\s*\{"error"', re.M),
    "anthropic_messages": re.compile(rb"^event:\s*error\s*$", re.M),
    "openai_responses": re.compile(rb"^event:\s*(?:error|response\.failed)\s*$", re.M),
}


def _count(value: object) -> int | None:
    if isinstance(value, int) and not isinstance(value, bool) and value > 0:
        return value
    return None


def output_bound(body: Mapping[str, Any], model: str) -> int:
    """The most output tokens the request can produce."""
    caps = [cap for cap in (_count(body.get(name)) for name in OUTPUT_CAPS) if cap is not None]
    limit = limits_for(model).max_output_tokens
    if caps:
        asked = max(caps)
        return min(asked, limit) if limit is not None else asked
    return limit if limit is not None else UNBOUNDED_OUTPUT


def worst_case(body_bytes: int, body: Mapping[str, Any], model: str, prices: Prices) -> int:
    """The micro-USD a seller holds before it serves the request."""
    dearest_input = max(prices.input, prices.cache_read, prices.cache_write)
    bound = Prices(
        input=dearest_input, output=prices.output, cache_read=Decimal(0), cache_write=Decimal(0)
    )
    tokens = Tokens(
        input=min(body_bytes, MAX_TOKENS), output=min(output_bound(body, model), MAX_TOKENS)
    )
    return cost_micro_usd(tokens, bound)


def _clamp(count: int) -> int:
    return min(max(count, 0), MAX_TOKENS)


def tokens_of(usage: Usage | None) -> Tokens:
    """Settled usage as the token kinds a receipt bills."""
    if usage is None:
        return Tokens()
    return Tokens(
        input=_clamp(usage.input_tokens),
        output=_clamp(max(usage.output_tokens, usage.reasoning_tokens)),
        cache_read=_clamp(usage.cache_read_tokens),
        cache_write=_clamp(usage.cache_write_tokens),
    )


def beyond_tolerance(billed: Tokens, seen: Tokens, tolerance: Decimal) -> list[str]:
    """The kinds whose billed count differs from the count the buyer saw by
    more than ``tolerance`` times the latter (and by more than one token)."""
    out = []
    for kind in TOKEN_KINDS:
        found, expected = getattr(billed, kind), getattr(seen, kind)
        allowed = max(1, math.ceil(tolerance * expected))
        if abs(found - expected) > allowed:
            out.append(f"{kind} {found} billed, {expected} seen")
    return out


def stream_failed(dialect: str, data: bytes) -> bool:
    """Whether ``data`` (whole events of a ``dialect`` stream) holds the
    dialect's in-stream error: the answer went out, and failed."""
    pattern = _STREAM_ERRORS.get(dialect)
    return pattern is not None and pattern.search(data) is not None


def receipt_event(receipt: bytes) -> bytes:
    """The SSE event that carries a stream's signed receipt."""
    return RECEIPT_EVENT_PREFIX + b"data: " + receipt + b"\n\n"
