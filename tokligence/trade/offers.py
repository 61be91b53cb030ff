"""Offers: what a gateway sells, read from its configuration (no I/O).

An offer is declared in an INI section or in the environment, like a
provider::

    [trade.offer.fast]
    models = gpt-4o-mini, gpt-4.1*   ; the routes' pattern syntax
    provider = openai                ; the local provider that serves it
    price_input = 0.30               ; USD per million tokens
    price_output = 1.20
    rpm = 60                         ; 0 (the default): unlimited

or ``TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT=0.30`` (the field is the
longest known suffix, so a name may contain ``_``). ``config.py`` collects
the raw fields and calls :func:`resolve_offers` only when there is one, so
a gateway that sells nothing never imports this package.

What a buyer is sold is the offer's *terms*: its models, prices and limits
and the seller's id (never the local provider, which is the seller's
business). A *version* of an offer is its terms from an effective time on;
the store makes a new version only when the terms change
(:func:`terms_hash`), and the seller signs each version as an offer
document (:func:`offer_document`), named ``NAME@VERSION`` in receipts.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any

from ..routing.rules import pattern_matches
from ..settings_table import OFFER_ENV_PREFIX, OFFER_SECTION
from .documents import Document, encode, sha256_hex
from .money import MAX_TOKENS, TOKEN_KINDS, MoneyError, Prices, parse_price

OFFER = "offer"
DOCUMENT_VERSION = 1
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
_REF = re.compile(r"([a-z][a-z0-9_-]{0,62})@([1-9][0-9]{0,17})\Z")
# One pattern of the routes' syntax (routing.pattern_matches): exact,
# prefix*, *suffix, *contains* or *; no other '*', no spaces.
_PATTERN = re.compile(r"(?:\*|\*?[^*\s,|=]+\*?)\Z")
MAX_PATTERN_LENGTH = 256
MAX_MODELS = 256
# Requests (rpm, concurrency) fit a 32-bit column; token limits a count.
MAX_REQUEST_LIMIT = 2**31 - 1
LIMITS = ("rpm", "tpm", "concurrency", "daily_tokens")
FIELD_HELP = {
    "models": "model patterns it sells, comma-separated (exact, prefix*, *suffix, *contains*, *)",
    "provider": "the local provider that serves it: a configured provider or loopback",
    "price_input": "USD per million input tokens, a decimal such as 2.50 (required)",
    "price_output": "USD per million output tokens (required)",
    "price_cache_read": "USD per million cache-read tokens (default: price_input)",
    "price_cache_write": "USD per million cache-write tokens (default: price_input)",
    "rpm": "requests per minute, all buyers together (0: unlimited)",
    "tpm": "tokens per minute, all buyers together (0: unlimited)",
    "concurrency": "requests at once, all buyers together (0: unlimited)",
    "daily_tokens": "tokens per UTC day, all buyers together (0: unlimited)",
}
FIELDS = tuple(FIELD_HELP)
_REQUIRED = ("models", "provider", "price_input", "price_output")


class OfferError(ValueError):
    """An offer declaration that cannot work; the message says where it came from."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Limits:
    """Each 0 means unlimited."""

    rpm: int = 0
    tpm: int = 0
    concurrency: int = 0
    daily_tokens: int = 0

    def as_document(self) -> dict[str, int]:
        return {name: getattr(self, name) for name in LIMITS}


@dataclass(frozen=True, kw_only=True, slots=True)
class Offer:
    name: str
    models: tuple[str, ...]
    provider: str
    prices: Prices
    limits: Limits = Limits()

    def terms(self, seller: str) -> Document:
        """What a version of this offer fixes, and a buyer is sold."""
        return {
            "limits": self.limits.as_document(),
            "models": list(self.models),
            "prices": self.prices.as_document(),
            "seller": seller,
        }

    def terms_hash(self, seller: str) -> str:
        return sha256_hex(encode(self.terms(seller)))


def offer_document(offer: Offer, *, seller: str, version: int, effective_at: int) -> Document:
    """The body a seller signs for ``offer``'s version (``effective_at`` in
    Unix milliseconds)."""
    return {
        **offer.terms(seller),
        "effective_at": effective_at,
        "name": offer.name,
        "type": OFFER,
        "v": DOCUMENT_VERSION,
        "version": version,
    }


def is_model_pattern(text: object) -> bool:
    """Whether ``text`` is one model pattern as an offer's ``models`` lists
    it (so a signed offer read from elsewhere is held to the same rule)."""
    return (
        isinstance(text, str)
        and len(text) <= MAX_PATTERN_LENGTH
        and _PATTERN.match(text) is not None
    )


def offer_ref(name: str, version: int) -> str:
    """How a receipt names an offer's version: ``NAME@VERSION``."""
    return f"{name}@{version}"


def parse_offer_ref(text: object) -> tuple[str, int]:
    found = _REF.match(text) if isinstance(text, str) else None
    if found is None:
        raise ValueError(f"an offer is named NAME@VERSION, got {text!r:.80}")
    return found.group(1), int(found.group(2))


@dataclass(frozen=True, kw_only=True, slots=True)
class OfferTerms:
    """A version of an offer as its signed document states it: what a
    buyer accepts and a seller bills by."""

    name: str
    version: int
    seller: str
    models: tuple[str, ...]
    prices: Prices
    limits: Limits
    effective_at: int  # Unix ms

    @property
    def ref(self) -> str:
        return offer_ref(self.name, self.version)

    def sells(self, model: str) -> bool:
        return any(pattern_matches(pattern, model) for pattern in self.models)


_OFFER_KEYS = frozenset(
    {"type", "v", "name", "version", "effective_at", "models", "prices", "limits", "seller"}
)


def _whole(value: object, low: int, high: int) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and low <= value <= high


def terms_from_document(body: Mapping[str, Any]) -> OfferTerms:
    """The terms of an offer document's body (its signature is the
    caller's to check); raises OfferError when it is not one."""
    if set(body) != _OFFER_KEYS or body["type"] != OFFER or body["v"] != DOCUMENT_VERSION:
        raise OfferError("not the members of a version 1 offer")
    name, version, models, limits = body["name"], body["version"], body["models"], body["limits"]
    if not isinstance(name, str) or not NAME.match(name):
        raise OfferError("the offer's name is not an offer name")
    if not _whole(version, 1, 10**18 - 1) or not _whole(body["effective_at"], 0, 2**63 - 1):
        raise OfferError("the offer's version or effective time is not a number")
    if not isinstance(body["seller"], str):
        raise OfferError("the offer's seller is not a public id")
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise OfferError("the offer's models are not a list of patterns")
    if (
        not isinstance(limits, Mapping)
        or set(limits) != set(LIMITS)
        or not all(_whole(limits[key], 0, MAX_TOKENS) for key in LIMITS)
    ):
        raise OfferError("the offer's limits are not rpm, tpm, concurrency and daily_tokens")
    if not 0 < len(models) <= MAX_MODELS or not all(
        len(m) <= MAX_PATTERN_LENGTH and _PATTERN.match(m) for m in models
    ):
        raise OfferError(f"offer {name}: its models are not 1 to {MAX_MODELS} patterns")
    try:
        prices = Prices.from_document(body["prices"])
    except MoneyError as error:
        raise OfferError(f"offer {name}: {error}") from None
    return OfferTerms(
        name=name,
        version=version,
        seller=body["seller"],
        models=tuple(models),
        prices=prices,
        limits=Limits(**{key: limits[key] for key in LIMITS}),
        effective_at=body["effective_at"],
    )


# --- reading declarations (config.py hands in what it read) -------------------


def offer_env_field(
    var: str, value: str, declared: dict[str, dict[str, tuple[str, str]]], problems: list[str]
) -> None:
    """``TOKLIGENCE_TRADE_OFFER_<NAME>_<FIELD>``: the field is the longest
    known suffix, so offer names may contain underscores."""
    rest = var[len(OFFER_ENV_PREFIX) :].lower()
    for field in sorted(FIELDS, key=len, reverse=True):
        if rest.endswith("_" + field) and len(rest) > len(field) + 1:
            name = rest[: -len(field) - 1]
            declared.setdefault(name, {})[field] = (value, f"env {var}")
            return
    problems.append(
        f"environment variable {var}: expected {OFFER_ENV_PREFIX}<NAME>_<FIELD> "
        "with FIELD one of " + ", ".join(f.upper() for f in FIELDS)
    )


def _models(text: str, where: str) -> tuple[str, ...]:
    patterns = tuple(item.strip() for item in text.split(",") if item.strip())
    if not patterns:
        raise OfferError(f"{where}: models lists no model pattern")
    if len(patterns) > MAX_MODELS:
        raise OfferError(f"{where}: more than {MAX_MODELS} model patterns")
    for pattern in patterns:
        if len(pattern) > MAX_PATTERN_LENGTH or not _PATTERN.match(pattern):
            raise OfferError(
                f"{where}: {pattern[:40]!r} is not a model pattern (exact, prefix*, *suffix, "
                "*contains* or *)"
            )
    return patterns


def _limit(name: str, text: str, where: str) -> int:
    maximum = MAX_TOKENS if name in ("tpm", "daily_tokens") else MAX_REQUEST_LIMIT
    if not text.isascii() or not text.isdigit() or int(text) > maximum:
        raise OfferError(f"{where}: {name} must be a whole number from 0 to {maximum}")
    return int(text)


def declared_offer(
    name: str, fields: Mapping[str, tuple[str, str]], providers: Collection[str]
) -> Offer:
    """One ``[trade.offer.NAME]`` declaration; ``fields`` maps field ->
    (value, where); ``providers`` are the names an offer may be served by."""
    if not NAME.match(name):
        raise OfferError(
            f"offer name {name!r} must be lowercase letters, digits, '_' or '-', "
            "starting with a letter"
        )
    for key, (_, where) in fields.items():
        if key not in FIELDS:
            raise OfferError(f"{where}: unknown offer field {key!r}; known: {', '.join(FIELDS)}")
    missing = [key for key in _REQUIRED if key not in fields]
    if missing:
        raise OfferError(f"offer {name!r} needs {', '.join(missing)}")
    provider, provider_where = fields["provider"][0].strip().lower(), fields["provider"][1]
    if provider not in providers:
        raise OfferError(
            f"{provider_where}: offer {name!r} names provider {provider!r}, which is not "
            f"configured; configured: {', '.join(sorted(providers))}"
        )
    given: dict[str, Any] = {}
    for kind in TOKEN_KINDS:
        text, where = fields.get(f"price_{kind}") or fields["price_input"]
        try:
            given[kind] = parse_price(text, f"price_{kind}")
        except MoneyError as error:
            raise OfferError(f"{where}: {error}") from None
    limits = {key: _limit(key, fields[key][0], fields[key][1]) for key in LIMITS if key in fields}
    return Offer(
        name=name,
        models=_models(*fields["models"]),
        provider=provider,
        prices=Prices(**given),
        limits=Limits(**limits),
    )


def resolve_offers(
    declared: Mapping[str, Mapping[str, tuple[str, str]]],
    providers: Collection[str],
    problems: list[str],
) -> tuple[Offer, ...]:
    """Every declared offer, in declaration order; each broken one adds a
    line to ``problems`` instead."""
    out = []
    for name, fields in declared.items():
        try:
            out.append(declared_offer(name, fields, providers))
        except OfferError as error:
            problems.append(str(error))
    return tuple(out)


def show_rows(offer: Offer) -> list[dict[str, object]]:
    """``config show``'s rows of one offer: ``trade.offer.NAME.FIELD``."""
    prices = offer.prices.as_document()
    values: dict[str, object] = {
        "models": list(offer.models),
        "provider": offer.provider,
        **{f"price_{kind}": prices[kind] for kind in TOKEN_KINDS},
        **offer.limits.as_document(),
    }
    prefix = OFFER_ENV_PREFIX + offer.name.upper().replace("-", "_") + "_"
    return [
        {
            "name": f"{OFFER_SECTION}{offer.name}.{field}",
            "value": value,
            "source": f"offer {offer.name}",
            "env": prefix + field.upper(),
            "help": FIELD_HELP[field],
        }
        for field, value in values.items()
    ]
