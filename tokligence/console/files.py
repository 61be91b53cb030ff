"""Serving the console's static files: a fixed table read once, strict headers.

Only the files found under ``static/`` when the table is built are served,
by their exact name: a path is a dictionary key, never joined to a folder,
so no spelling of ``..`` (encoded or not) can reach another file. Every
answer carries a strict Content-Security-Policy: scripts, styles and
requests only from the gateway itself, no inline script or style, no
frames, no forms, no base URL. Data the console shows came from requests
(model names, user fields), so the page writes it as text only; the
policy is the second wall should that ever slip.

Besides the files, ``session.json`` tells the page whether this gateway
wants a key (auth on): nothing a 401 would not tell anyone anyway.

Files are revalidated on each load (``no-cache`` with an ``ETag``): an
upgraded gateway's console is never mixed with the previous version's.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from ..errors import ClientError
from ..wire.json_body import dumps

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}
INDEX = "index.html"
SECURITY_HEADERS = (
    ("content-security-policy", CONTENT_SECURITY_POLICY),
    ("referrer-policy", "no-referrer"),
    ("x-frame-options", "DENY"),
    ("cross-origin-opener-policy", "same-origin"),
    ("cache-control", "no-cache"),
)


@dataclass(frozen=True, kw_only=True, slots=True)
class Asset:
    content_type: str
    body: bytes
    etag: str


def load_assets() -> dict[str, Asset]:
    """Every servable file of ``static/`` by name (sub-folders are not served)."""
    assets: dict[str, Asset] = {}
    for entry in (resources.files(__package__) / "static").iterdir():
        suffix = "." + entry.name.rpartition(".")[2]
        if not entry.is_file() or suffix not in CONTENT_TYPES:
            continue
        body = entry.read_bytes()
        etag = '"' + hashlib.sha256(body).hexdigest()[:20] + '"'
        assets[entry.name] = Asset(content_type=CONTENT_TYPES[suffix], body=body, etag=etag)
    return assets


# What the page asks before anything else: whether to ask for a key first
# (else its first admin request would be a 401, an error in the browser).
SESSION = "session.json"


class ConsoleFiles:
    def __init__(
        self, assets: dict[str, Asset] | None = None, *, auth_required: bool = False
    ) -> None:
        self.assets = load_assets() if assets is None else assets
        session = dumps({"auth_required": auth_required})
        self.assets[SESSION] = Asset(
            content_type="application/json",
            body=session,
            etag='"' + hashlib.sha256(session).hexdigest()[:20] + '"',
        )

    def answer(
        self, name: str, if_none_match: str | None
    ) -> tuple[int, list[tuple[str, str]], bytes]:
        """(status, headers, body) for the file ``name`` ("" is the page
        itself); an unknown name is a ``not_found`` error."""
        asset = self.assets.get(name or INDEX)
        if asset is None:
            raise ClientError("not_found", "no such console file", code="unknown_url")
        headers = [*SECURITY_HEADERS, ("etag", asset.etag)]
        if if_none_match is not None and asset.etag in if_none_match:
            return 304, headers, b""
        return 200, [("content-type", asset.content_type), *headers], asset.body
