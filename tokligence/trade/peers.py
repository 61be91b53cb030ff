"""Peers: the sellers a gateway buys from, read from its configuration (no I/O).

A peer is declared in an INI section or in the environment, like a
provider::

    [trade.peer.alice]
    url = http://127.0.0.1:8082        ; the seller gateway
    public_id = ed25519:…              ; pinned: offers and receipts must be signed by it
    api_key = tra_…                    ; the account's key (tokligence trade open)
    spend_cap = 5000000                ; micro-USD bought from it at most (0: no cap)

or ``TOKLIGENCE_TRADE_PEER_ALICE_URL=…`` and so on (the field is the
longest known suffix, so a name may contain ``_``). Routes name it as the
provider ``peer:alice`` (``gpt-4o* => peer:alice``). ``config.py`` calls
:func:`resolve_peers` only when one is declared: a gateway that buys
nothing never imports this package.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ..settings_table import PEER_ENV_PREFIX, PEER_SECTION
from .documents import DocumentError, b64url_decode
from .offers import NAME

PROVIDER_PREFIX = "peer:"
# ``peer:auto`` is the directory's cheapest live offer (trade/auto.py), never a declared peer.
AUTO_NAME = "auto"
MAX_SPEND_CAP = 2**62  # micro-USD, as the store's amounts
DEFAULT_TOLERANCE = Decimal("0.05")
_PUBLIC_ID = re.compile(r"ed25519:([A-Za-z0-9_-]{43})\Z")
FIELD_HELP = {
    "url": "the seller gateway's base URL, http:// or https:// (required)",
    "public_id": "the seller's public id, ed25519:…; its offers and receipts must be "
    "signed by it (required)",
    "api_key": "the account's API key the seller issued (tokligence trade open)",
    "api_key_env": "an environment variable holding the account's API key",
    "spend_cap": "micro-USD this gateway buys from the peer at most (0: no cap)",
    "offer": "the offer to buy (default: the first whose models match the request)",
    "tolerance": "how far a receipt's token counts may differ from the answer's, as a "
    "fraction of what the answer said (default 0.05); beyond it the purchase is suspect",
}
FIELDS = tuple(FIELD_HELP)


class PeerError(ValueError):
    """A peer declaration that cannot work; the message says where it came from."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Peer:
    name: str
    url: str  # no trailing slash
    public_id: str
    api_key: str = ""
    spend_cap: int = 0  # micro-USD; 0: none
    offer: str = ""  # an offer name, or "" for the first that sells the model
    tolerance: Decimal = DEFAULT_TOLERANCE

    @property
    def provider(self) -> str:
        """The provider name routes use."""
        return PROVIDER_PREFIX + self.name

    def __repr__(self) -> str:  # never the key
        return f"Peer(name={self.name!r}, url={self.url!r}, public_id={self.public_id!r})"


def is_peer_provider(name: str) -> bool:
    return name.startswith(PROVIDER_PREFIX)


def public_id_ok(text: str) -> bool:
    """Whether ``text`` is a canonical public id (no PyNaCl needed)."""
    found = _PUBLIC_ID.match(text)
    if found is None:
        return False
    try:
        return len(b64url_decode(found.group(1))) == 32
    except DocumentError:
        return False


def peer_env_field(
    var: str, value: str, declared: dict[str, dict[str, tuple[str, str]]], problems: list[str]
) -> None:
    """``TOKLIGENCE_TRADE_PEER_<NAME>_<FIELD>``."""
    rest = var[len(PEER_ENV_PREFIX) :].lower()
    for field in sorted(FIELDS, key=len, reverse=True):
        if rest.endswith("_" + field) and len(rest) > len(field) + 1:
            name = rest[: -len(field) - 1]
            declared.setdefault(name, {})[field] = (value, f"env {var}")
            return
    problems.append(
        f"environment variable {var}: expected {PEER_ENV_PREFIX}<NAME>_<FIELD> "
        "with FIELD one of " + ", ".join(f.upper() for f in FIELDS)
    )


def declared_peer(
    name: str, fields: Mapping[str, tuple[str, str]], environ: Mapping[str, str]
) -> Peer:
    """One ``[trade.peer.NAME]`` declaration; ``fields`` maps field -> (value, where)."""
    if not NAME.match(name):
        raise PeerError(
            f"peer name {name!r} must be lowercase letters, digits, '_' or '-', "
            "starting with a letter"
        )
    if name == AUTO_NAME:
        raise PeerError(
            "peer name 'auto' is reserved: peer:auto buys from the offer directory "
            "(trade_directory_url)"
        )
    for key, (_, where) in fields.items():
        if key not in FIELDS:
            raise PeerError(f"{where}: unknown peer field {key!r}; known: {', '.join(FIELDS)}")
    missing = [key for key in ("url", "public_id") if key not in fields]
    if missing:
        raise PeerError(f"peer {name!r} needs {', '.join(missing)}")
    url, where = fields["url"][0].strip().rstrip("/"), fields["url"][1]
    if not re.match(r"https?://[^/\s]+", url):
        raise PeerError(f"{where}: url must start with http:// or https:// and name a host")
    public_id, where = fields["public_id"][0].strip(), fields["public_id"][1]
    if not public_id_ok(public_id):
        raise PeerError(f"{where}: public_id must be ed25519: and 43 base64url characters")
    api_key = fields["api_key"][0].strip() if "api_key" in fields else ""
    if not api_key and "api_key_env" in fields:
        api_key = environ.get(fields["api_key_env"][0].strip(), "").strip()
    spend_cap = 0
    if "spend_cap" in fields:
        text, where = fields["spend_cap"]
        if not text.isascii() or not text.isdigit() or int(text) > MAX_SPEND_CAP:
            raise PeerError(f"{where}: spend_cap must be a whole number of micro-USD")
        spend_cap = int(text)
    offer = ""
    if "offer" in fields:
        offer, where = fields["offer"][0].strip(), fields["offer"][1]
        if not NAME.match(offer):
            raise PeerError(f"{where}: offer must be an offer name")
    tolerance = DEFAULT_TOLERANCE
    if "tolerance" in fields:
        text, where = fields["tolerance"]
        try:
            tolerance = Decimal(text.strip())
        except InvalidOperation:
            tolerance = Decimal(-1)
        if not tolerance.is_finite() or not 0 <= tolerance <= 1:
            raise PeerError(f"{where}: tolerance must be a fraction from 0 to 1, such as 0.05")
    return Peer(
        name=name,
        url=url,
        public_id=public_id,
        api_key=api_key,
        spend_cap=spend_cap,
        offer=offer,
        tolerance=tolerance,
    )


def resolve_peers(
    declared: Mapping[str, Mapping[str, tuple[str, str]]],
    environ: Mapping[str, str],
    problems: list[str],
) -> tuple[Peer, ...]:
    """Every declared peer, in declaration order; each broken one adds a
    line to ``problems`` instead."""
    out = []
    for name, fields in declared.items():
        try:
            out.append(declared_peer(name, fields, environ))
        except PeerError as error:
            problems.append(str(error))
    return tuple(out)


def show_rows(peer: Peer) -> list[dict[str, object]]:
    """``config show``'s rows of one peer: ``trade.peer.NAME.FIELD`` (the
    key masked by the caller's rule for secrets)."""
    values: dict[str, object] = {
        "url": peer.url,
        "public_id": peer.public_id,
        "api_key": peer.api_key,
        "spend_cap": peer.spend_cap,
        "offer": peer.offer,
        "tolerance": str(peer.tolerance),
    }
    prefix = PEER_ENV_PREFIX + peer.name.upper().replace("-", "_") + "_"
    return [
        {
            "name": f"{PEER_SECTION}{peer.name}.{field}",
            "value": value,
            "source": f"peer {peer.name}",
            "env": prefix + field.upper(),
            "help": FIELD_HELP[field],
        }
        for field, value in values.items()
    ]
