"""Version numbers and the registries' answers about them (pure).

Theory of operation
-------------------
:func:`parse_version` reads the version forms this project publishes and
the registries show: PEP 440 releases with pre-, post- and dev-release
parts (``0.10.0``, ``1.0rc1``, ``1.0.post2``, ``1.0.dev3``), in any of
PEP 440's accepted spellings, and the semver pre-release spelling npm uses
(``1.0.0-rc.1`` reads as ``1.0.0rc1``). Epochs and local versions are
never published here and are not parsed: an unparsed version is ignored,
never offered. A :class:`Version` orders as PEP 440 orders (``packaging``
is not a dependency of ours): numerically by release segment
(``0.10.0 > 0.9.1``, ``1.0 == 1.0.0``), then dev < pre < final < post.

:func:`latest` picks what to offer: the highest candidate, never a
pre-release to someone on a final release.

The ``*_versions`` functions read one registry answer each and raise
:class:`BadAnswer` for anything that is not that answer, whatever it is
(HTML, truncated or wrong-typed JSON): the caller says why it could not
check, once, and carries on.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

_PATTERN = re.compile(
    r"""
    v?
    (?P<release>[0-9]+(?:\.[0-9]+)*)
    (?:[-_.]?(?P<pre_l>alpha|a|beta|b|preview|pre|c|rc)[-_.]?(?P<pre_n>[0-9]+)?)?
    (?:-(?P<post_n1>[0-9]+)|[-_.]?(?:post|rev|r)[-_.]?(?P<post_n2>[0-9]+)?(?P<post>))?
    (?:[-_.]?(?P<dev>dev)[-_.]?(?P<dev_n>[0-9]+)?)?
    """,
    re.VERBOSE | re.IGNORECASE,
)
_PRE_RANK = {"a": 0, "alpha": 0, "b": 1, "beta": 1, "c": 2, "pre": 2, "preview": 2, "rc": 2}
# Sort keys of the parts: a dev release of a final release sorts before its
# pre-releases; no pre-release part sorts after every pre-release; no dev
# part sorts after every dev release.
_DEV_ONLY = (-1, 0)
_FINAL = (3, 0)
_NOT_DEV = (1, 0)


class BadAnswer(ValueError):
    """A registry answer that does not say which versions exist."""


@dataclass(frozen=True, kw_only=True, slots=True, order=True)
class Version:
    key: tuple[tuple[int, ...], tuple[int, int], int, tuple[int, int]]
    # Compared by key alone: 1.0 and 1.0.0 are one version.
    text: str = field(default="", compare=False)  # as written by whoever published it
    prerelease: bool = field(default=False, compare=False)

    def __str__(self) -> str:
        return self.text


def parse_version(text: str) -> Version | None:
    """The version ``text`` names, or None if it is not one we read."""
    found = _PATTERN.fullmatch(text.strip())
    if found is None:
        return None
    parts = [int(part) for part in found["release"].split(".")]
    while len(parts) > 1 and parts[-1] == 0:  # 1.0 == 1.0.0
        parts.pop()
    has_post = found["post_n1"] is not None or found["post"] is not None
    post = int(found["post_n1"] or found["post_n2"] or 0) if has_post else -1
    dev = (0, int(found["dev_n"] or 0)) if found["dev"] else _NOT_DEV
    if found["pre_l"]:
        pre = (_PRE_RANK[found["pre_l"].lower()], int(found["pre_n"] or 0))
    elif dev != _NOT_DEV and not has_post:
        pre = _DEV_ONLY
    else:
        pre = _FINAL
    return Version(
        key=(tuple(parts), pre, post, dev),
        text=text.strip(),
        prerelease=bool(found["pre_l"]) or dev != _NOT_DEV,
    )


def latest(candidates: Iterable[str], *, prereleases: bool) -> Version | None:
    """The highest of ``candidates``, pre-releases only if asked for;
    unreadable candidates are skipped."""
    best: Version | None = None
    for text in candidates:
        version = parse_version(text)
        if version is None or (version.prerelease and not prereleases):
            continue
        if best is None or version > best:
            best = version
    return best


# ------------------------------------------------------------ registry answers


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):
        raise BadAnswer("the answer is not JSON") from None


def simple_index_versions(body: bytes) -> list[str]:
    """The versions of a project page of the JSON simple API (PEP 691), from
    its ``versions`` list (PEP 700), less those whose every file is yanked."""
    page = _json(body)
    if not isinstance(page, dict):
        raise BadAnswer("the answer is not a JSON simple API project page")
    versions = page.get("versions")
    if not isinstance(versions, list) or not all(isinstance(v, str) for v in versions):
        raise BadAnswer("the answer has no 'versions' list (PEP 700)")
    files = page.get("files")
    live: set[Version] = set()
    yanked: set[Version] = set()
    for file in files if isinstance(files, list) else ():
        name = file.get("filename") if isinstance(file, dict) else None
        version = _file_version(name) if isinstance(name, str) else None
        if version is not None:
            (yanked if file.get("yanked") else live).add(version)
    gone = yanked - live
    return [v for v in versions if parse_version(v) not in gone]


def _file_version(filename: str) -> Version | None:
    """The version in a wheel's or an sdist's file name."""
    if filename.endswith(".whl"):
        parts = filename.split("-")
        return parse_version(parts[1]) if len(parts) >= 5 else None
    for suffix in (".tar.gz", ".zip"):
        if filename.endswith(suffix):
            return parse_version(filename[: -len(suffix)].rpartition("-")[2])
    return None


def npm_latest(body: bytes) -> list[str]:
    """``dist-tags.latest`` of an npm package document (full or abbreviated)."""
    document = _json(body)
    tags = document.get("dist-tags") if isinstance(document, dict) else None
    latest = tags.get("latest") if isinstance(tags, dict) else None
    if not isinstance(latest, str):
        raise BadAnswer("the answer has no 'dist-tags.latest'")
    return [latest]


def feed_latest(location: str | None) -> list[str]:
    """The release a feed's ``/latest`` redirects to: the last path segment
    of the redirect's target (``…/tag/v1.2.3``)."""
    if not location:
        raise BadAnswer("the feed did not redirect to a release")
    segment = unquote(urlsplit(location).path.rstrip("/").rpartition("/")[2])
    if parse_version(segment) is None:
        raise BadAnswer("the feed redirected to something that is not a release")
    return [segment]
