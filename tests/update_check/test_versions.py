"""Version order and the registries' answers (update/versions.py)."""

from __future__ import annotations

import itertools
import json

import pytest

from tests.fakes.registry import simple_page
from tokligence.update.versions import (
    BadAnswer,
    feed_latest,
    latest,
    npm_latest,
    parse_version,
    simple_index_versions,
)

# Each ascending: every version is lower than the next (PEP 440's order).
ASCENDING = [
    "0.1.0",
    "0.9.0",
    "0.9.1",
    "0.10.0.dev1",
    "0.10.0a1",
    "0.10.0a2",
    "0.10.0b1",
    "0.10.0rc1.dev2",
    "0.10.0rc1",
    "0.10.0rc1.post1",
    "0.10.0",
    "0.10.0.post1",
    "0.10.1",
    "1.0",
    "1.0.1",
    "2.0.0",
    "10.0.0",
]


@pytest.mark.parametrize(("lower", "higher"), list(itertools.pairwise(ASCENDING)))
def test_order(lower: str, higher: str) -> None:
    low, high = parse_version(lower), parse_version(higher)
    assert low is not None and high is not None
    assert low < high and high > low and low != high


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("1.0", "1.0.0"),
        ("v1.2.3", "1.2.3"),
        ("1.0.0-rc.1", "1.0.0rc1"),
        ("1.0-beta2", "1.0b2"),
        ("1.0alpha", "1.0a0"),
        ("1.0.0-1", "1.0.0.post1"),
        ("1.0c1", "1.0rc1"),
        ("1.0-dev3", "1.0.dev3"),
        ("1.0.RC1", "1.0rc1"),
    ],
)
def test_spellings_of_one_version(one: str, other: str) -> None:
    assert parse_version(one) == parse_version(other) is not None


@pytest.mark.parametrize(
    "text", ["", "banana", "1.0+local", "1!2.0", "1.0-foo", "1..0", ".1", "1.0 beta", "0x10"]
)
def test_what_is_not_read(text: str) -> None:
    assert parse_version(text) is None


@pytest.mark.parametrize(
    ("text", "pre"), [("1.0", False), ("1.0rc1", True), ("1.0.dev1", True), ("1.0.post1", False)]
)
def test_prerelease(text: str, pre: bool) -> None:
    version = parse_version(text)
    assert version is not None and version.prerelease is pre


def test_latest_is_the_highest_not_the_last() -> None:
    found = latest(["0.9.1", "0.10.0", "0.2.0", "junk"], prereleases=False)
    assert found is not None and found.text == "0.10.0"


def test_pre_releases_only_for_those_who_asked() -> None:
    offered = ["0.9.0", "1.0.0rc1", "1.0.0.dev4"]
    stable = latest(offered, prereleases=False)
    assert stable is not None and stable.text == "0.9.0"
    pre = latest(offered, prereleases=True)
    assert pre is not None and pre.text == "1.0.0rc1"
    assert latest(["1.0.0rc1", "x"], prereleases=False) is None


def test_simple_index_versions_drop_a_version_whose_every_file_is_yanked() -> None:
    body = simple_page(["0.1.0", "0.2.0", "0.3.0"], yanked=("0.3.0",)).body
    assert simple_index_versions(body) == ["0.1.0", "0.2.0"]


def test_a_version_with_one_live_file_stays() -> None:
    page = json.loads(simple_page(["0.2.0"], yanked=("0.2.0",)).body)
    page["files"].append({"filename": "tokligence-0.2.0.tar.gz", "hashes": {}})
    assert simple_index_versions(json.dumps(page).encode()) == ["0.2.0"]


@pytest.mark.parametrize(
    "body",
    [
        b"<html></html>",
        b'{"versions": ["0.1',
        b"[]",
        b'{"versions": "0.2.0"}',
        b'{"versions": [1, 2]}',
        b'{"files": []}',
        b"[" * 50_000 + b"]" * 50_000,
        b"",
    ],
)
def test_simple_index_garbage(body: bytes) -> None:
    with pytest.raises(BadAnswer):
        simple_index_versions(body)


def test_npm_latest() -> None:
    assert npm_latest(b'{"dist-tags": {"latest": "0.4.0", "next": "0.5.0rc1"}}') == ["0.4.0"]


@pytest.mark.parametrize(
    "body", [b"{}", b'{"dist-tags": []}', b'{"dist-tags": {"latest": 4}}', b"null", b"<html>"]
)
def test_npm_garbage(body: bytes) -> None:
    with pytest.raises(BadAnswer):
        npm_latest(body)


@pytest.mark.parametrize(
    ("location", "version"),
    [
        ("http://127.0.0.1:1/releases/tag/v0.4.0", "v0.4.0"),
        ("/releases/tag/0.4.0/", "0.4.0"),
        ("http://127.0.0.1:1/download/v1.0.0-rc.1", "v1.0.0-rc.1"),
    ],
)
def test_feed_latest(location: str, version: str) -> None:
    assert feed_latest(location) == [version]


@pytest.mark.parametrize("location", [None, "", "/releases", "/releases/tag/latest-build"])
def test_feed_garbage(location: str | None) -> None:
    with pytest.raises(BadAnswer):
        feed_latest(location)
