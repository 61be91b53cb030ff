"""How this copy was installed, and so which registry to ask, and how.

Theory of operation
-------------------
The gateway reaches people three ways, and each has its own registry,
which the installation itself names; no registry's address is written in
this package (only the project's own release feed, which the installers
and the npm launcher also use):

* **npm** (``npx`` or a global install): the Node launcher sets
  ``TOKLIGENCE_INSTALLED_BY`` (``npx`` when npm ran it, ``npm`` otherwise)
  and, when npm told it the registry in use (``npm_config_registry``, which
  npm exports to what it runs only when it is not npm's default),
  ``TOKLIGENCE_NPM_REGISTRY``. Without it we ask npm itself,
  ``npm config get @tokligence:registry registry`` (a scoped registry
  wins, as it does for npm). Checked first: the npm packages carry the
  frozen build, so they are frozen too.
* **binary** (``sys.frozen``: the single-file binary of the installers and
  releases): the release feed, ``TOKLIGENCE_DOWNLOAD_BASE_URL`` if set (the
  installers' and launcher's mirror setting), else :data:`RELEASE_FEED`.
* **pip** (everything else): pip's index, as pip would choose it:
  ``PIP_INDEX_URL``, else ``index-url`` from pip's configuration files (the
  ``install`` section over ``global``, read by pip's own ``Configuration``,
  so every file pip reads counts), else pip's built-in default, read from
  pip. Without pip in this environment and no ``PIP_INDEX_URL`` there is
  nothing to ask.

``update_check_url`` replaces the registry's address (not how it is asked):
a mirror, or a test's fake registry.

A URL is sent without its user name, password, query and fragment: the
check identifies nobody, even to a private index (which then cannot answer:
the check says so and carries on).
"""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit, urlunsplit

import trio

from .versions import BadAnswer, feed_latest, npm_latest, simple_index_versions

Kind = Literal["pip", "npm", "npx", "binary"]

INSTALLED_BY_ENV = "TOKLIGENCE_INSTALLED_BY"
NPM_REGISTRY_ENV = "TOKLIGENCE_NPM_REGISTRY"
DOWNLOAD_BASE_ENV = "TOKLIGENCE_DOWNLOAD_BASE_URL"
# The project's release feed: the same default as npm-wrapper/gateway/lib/download.js
# and installers/ (a test keeps them equal).
RELEASE_FEED = "https://github.com/tokligence/tokligence-gateway/releases"
PYPI_PROJECT = "tokligence"
NPM_PACKAGE = "@tokligence/gateway"
NPM_SCOPE = NPM_PACKAGE.split("/")[0]
NPM_CONFIG_TIMEOUT = 5.0  # seconds npm may take to print its configuration

# What to ask for: the JSON simple API (PEP 691) answers at the index URL
# pip is configured with, on every index and mirror that speaks it; the
# warehouse JSON API lives elsewhere and few mirrors have it. The npm
# "abbreviated" document is the small one npm install reads.
SIMPLE_JSON = "application/vnd.pypi.simple.v1+json"
NPM_ABBREVIATED = "application/vnd.npm.install-v1+json"


class CannotCheck(Exception):
    """Why there is no answer; the message is one line, safe to print."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Query:
    """One registry question: where, in what format, and how to read the answer."""

    kind: Kind
    url: str
    accept: str
    redirect_is_answer: bool  # the release feed answers /latest with a redirect
    read: Callable[[bytes, str | None], list[str]]  # (body, redirect target) -> versions
    upgrade: str  # what the user runs to upgrade


def install_kind(environ: Mapping[str, str], *, frozen: bool | None = None) -> Kind:
    """npm's marker first (its packages are frozen builds too), then frozen, else pip."""
    marker = environ.get(INSTALLED_BY_ENV, "").strip().lower()
    if marker in ("npm", "npx"):
        return "npx" if marker == "npx" else "npm"
    if getattr(sys, "frozen", False) if frozen is None else frozen:
        return "binary"
    return "pip"


async def query_for(
    kind: Kind, environ: Mapping[str, str], *, override: str = "", npm: str | None = None
) -> Query:
    """The question to ask for an installation of ``kind``; ``override`` is
    ``update_check_url``; ``npm`` the npm executable (default: on PATH)."""
    if kind == "pip":
        base = override or await trio.to_thread.run_sync(pip_index, abandon_on_cancel=True)
        return Query(
            kind=kind,
            url=_join(base, PYPI_PROJECT + "/"),
            accept=SIMPLE_JSON,
            redirect_is_answer=False,
            read=lambda body, _: simple_index_versions(body),
            upgrade=f"pip install --upgrade {PYPI_PROJECT}",
        )
    if kind in ("npm", "npx"):
        base = override or await npm_registry(environ, npm)
        upgrade = (
            f"npx {NPM_PACKAGE}@latest"
            if kind == "npx"
            else f"npm install --global {NPM_PACKAGE}@latest"
        )
        return Query(
            kind=kind,
            url=_join(base, NPM_PACKAGE.replace("/", "%2f")),
            accept=NPM_ABBREVIATED,
            redirect_is_answer=False,
            read=lambda body, _: npm_latest(body),
            upgrade=upgrade,
        )
    feed = (override or environ.get(DOWNLOAD_BASE_ENV, "").strip() or RELEASE_FEED).rstrip("/")
    return Query(
        kind=kind,
        url=_join(feed, "latest"),
        accept="text/html",
        redirect_is_answer=True,
        read=lambda _, location: feed_latest(location),
        upgrade=f"download it from {public_url(feed)}/latest or run the install script again",
    )


def pip_index() -> str:
    """pip's index URL, as pip would choose it (reads the process
    environment and pip's files, as pip does)."""
    if os.environ.get("PIP_INDEX_URL", "").strip():
        return os.environ["PIP_INDEX_URL"].strip()
    try:
        from pip._internal.configuration import Configuration
        from pip._internal.models.index import PyPI
    except ImportError:
        raise CannotCheck("pip is not installed here and PIP_INDEX_URL is not set") from None
    try:
        configuration = Configuration(isolated=False)
        configuration.load()
        default = PyPI.simple_url
    except Exception as error:  # pip's internals, or a broken pip.conf
        raise CannotCheck(f"cannot read pip's configuration: {error}") from None
    for key in ("install.index-url", "global.index-url"):
        # get_value, not items(): items() changed shape in pip 26 (values
        # grouped by file), get_value answers alike in every version.
        try:
            value = configuration.get_value(key)
        except Exception:  # pip's ConfigurationError: not set
            continue
        if isinstance(value, str) and value.strip():
            return value.strip()
    if not isinstance(default, str):
        raise CannotCheck("pip names no default index")
    return default


async def npm_registry(environ: Mapping[str, str], npm: str | None = None) -> str:
    """The registry npm installs ``@tokligence`` packages from."""
    given = environ.get(NPM_REGISTRY_ENV, "").strip()
    if given:
        return given
    npm = npm or shutil.which("npm", path=environ.get("PATH"))
    if npm is None:
        raise CannotCheck("npm is not on PATH, so its registry is unknown")
    with trio.move_on_after(NPM_CONFIG_TIMEOUT):
        done = await trio.run_process(
            [npm, "config", "get", f"{NPM_SCOPE}:registry", "registry"],
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        values = dict(
            line.partition("=")[::2] for line in done.stdout.decode("utf-8", "replace").splitlines()
        )
        for key in (f"{NPM_SCOPE}:registry", "registry"):
            value = values.get(key, "").strip()
            if value and value not in ("undefined", "null"):
                return value
        raise CannotCheck("npm printed no registry")
    raise CannotCheck("npm did not print its registry in time")


def public_url(url: str) -> str:
    """``url`` without user name, password, query and fragment."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    if ":" in host:  # IPv6
        host = f"[{host}]"
    netloc = f"{host}:{parts.port}" if parts.port is not None else host
    return urlunsplit((parts.scheme, netloc, parts.path, "", ""))


def _join(base: str, name: str) -> str:
    try:
        url = public_url(base.strip())
    except ValueError:  # a port that is not a number
        raise CannotCheck("not a URL: the registry address is malformed") from None
    if urlsplit(url).scheme not in ("http", "https"):
        raise CannotCheck(f"not an http(s) URL: {url}")
    return url.rstrip("/") + "/" + name


def read_answer(query: Query, body: bytes, location: str | None) -> list[str]:
    """The versions in an answer to ``query``; raises CannotCheck."""
    try:
        return query.read(body, location)
    except BadAnswer as bad:
        raise CannotCheck(f"{bad} ({query.url})") from None
