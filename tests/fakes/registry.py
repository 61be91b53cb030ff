"""A fake package registry for the update check: the three ways a real one
answers "which versions exist" (a JSON simple API project page, an npm
package document, a release feed's ``/latest`` redirect) and every way
one can fail to (garbage, errors, silence), on a :class:`wire.FakeServer`.

The registry's base URL, as ``update_check_url`` takes it, is
``base_url(fake, kind)``; the page the gateway asks for is ``PATHS[kind]``.
"""

from __future__ import annotations

import json
from typing import Any

from tests.fakes.wire import Chunk, FakeServer, Reply, html_error, json_reply

# Where each kind of installation asks, under the registry's base URL.
PREFIXES = {"pip": "/simple", "npm": "/npm", "npx": "/npm", "binary": "/releases"}
PATHS = {
    "pip": "/simple/tokligence/",
    "npm": "/npm/@tokligence%2fgateway",
    "npx": "/npm/@tokligence%2fgateway",
    "binary": "/releases/latest",
}
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
HANG_S = 3600.0  # "never": longer than any test


def base_url(fake: FakeServer, kind: str) -> str:
    assert fake.url is not None, "start the fake first"
    return fake.url + PREFIXES[kind]


def simple_page(versions: list[str], *, yanked: tuple[str, ...] = ()) -> Reply:
    """A PEP 691 project page with PEP 700's ``versions``: one wheel per
    version, those in ``yanked`` yanked."""
    files = [
        {
            "filename": f"tokligence-{version}-py3-none-any.whl",
            "url": f"../../files/tokligence-{version}-py3-none-any.whl",
            "hashes": {},
            **({"yanked": "broken"} if version in yanked else {}),
        }
        for version in versions
    ]
    page = {"meta": {"api-version": "1.1"}, "name": "tokligence", "files": files}
    page["versions"] = versions
    return _json(page, SIMPLE_JSON)


def npm_document(latest: Any) -> Reply:
    """An abbreviated npm package document whose ``latest`` tag is ``latest``."""
    document = {
        "name": "@tokligence/gateway",
        "dist-tags": {"latest": latest},
        "versions": {str(latest): {"name": "@tokligence/gateway", "version": str(latest)}},
    }
    return _json(document, "application/vnd.npm.install-v1+json")


def feed_redirect(fake: FakeServer, version: str) -> Reply:
    """The release feed's answer to ``/latest``: a redirect to the release's tag."""
    location = f"{base_url(fake, 'binary')}/tag/v{version}"
    return Reply(status=302, headers=(("location", location),), chunked=False)


def newer_answer(fake: FakeServer, kind: str, version: str) -> Reply:
    """The registry of ``kind`` saying ``version`` is its latest."""
    if kind == "pip":
        return simple_page(["0.0.1", version])
    if kind in ("npm", "npx"):
        return npm_document(version)
    return feed_redirect(fake, version)


def _json(payload: Any, content_type: str) -> Reply:
    body = json.dumps(payload).encode()
    return Reply(
        headers=(("content-type", content_type),), chunks=(Chunk(data=body),), chunked=False
    )


def _raw(body: bytes, content_type: str = "application/json", status: int = 200) -> Reply:
    return Reply(
        status=status,
        headers=(("content-type", content_type),),
        chunks=(Chunk(data=body),),
        chunked=False,
    )


# Answers from which no version can be read, by name (test ids).
GARBAGE: dict[str, Reply] = {
    "html": _raw(b"<!doctype html><html><body>Welcome</body></html>", "text/html"),
    "truncated json": _raw(b'{"versions": ["0.9.0", "99.0'),
    "json list": json_reply(["99.0.0"]),
    "wrong types": json_reply({"versions": "99.0.0", "dist-tags": {"latest": 99}}),
    "no versions": json_reply({"name": "tokligence", "files": []}),
    "unreadable versions": json_reply({"versions": ["banana"], "dist-tags": {"latest": "x"}}),
    "deep nesting": _raw(b"[" * 100_000 + b"]" * 100_000),
    "huge body": Reply(
        headers=(("content-type", "application/json"),),
        chunks=tuple(Chunk(data=b" " * (1 << 20)) for _ in range(6)),
        chunked=True,
    ),
    "not found": html_error(404),
    "server error": json_reply({"error": "boom"}, status=500),
    "redirect nowhere": Reply(status=302, headers=(("location", "/elsewhere/"),), chunked=False),
    "empty 200": _raw(b""),
}
HANG = Reply(head_delay=HANG_S, chunks=(Chunk(data=b"{}"),), chunked=False)
