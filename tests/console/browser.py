"""A real headless browser for the console's tests: the system's Chromium
(the OS package), driven by Playwright for Python.

Playwright is only the driver here: ``playwright install`` (which downloads
its own browser builds) is never run; the browser is the OS package, found
on PATH or installed with apt-get when the suite runs as root on a machine
without it (CI's fresh machine). Anywhere else a missing Chromium fails the
tests with how to install it: a console test that silently skipped would
prove nothing.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from playwright.sync_api import Browser, ConsoleMessage, Dialog, Page, sync_playwright

CANDIDATES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# Chromium as root needs --no-sandbox; the rest keep a headless run from
# reaching out (this suite's machines have no network beyond 127.0.0.1).
CHROMIUM_ARGS = (
    "--no-sandbox",
    "--headless",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
HINT = (
    "the console's browser tests need Chromium from the OS packages "
    "(Debian/Ubuntu: apt-get install chromium; Fedora: dnf install chromium; "
    "macOS: brew install --cask chromium); set CHROMIUM to its path if it is not on PATH"
)
# Collected in every page before its own scripts run (an init script is not
# subject to the page's CSP): every CSP violation the page causes.
WATCH = """
window.__csp_violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__csp_violations.push(event.violatedDirective + " " + event.blockedURI);
});
"""


def find_chromium() -> str | None:
    named = os.environ.get("CHROMIUM")
    if named:
        return named if os.access(named, os.X_OK) else None
    for name in CANDIDATES:
        found = shutil.which(name)
        if found:
            return found
    return None


def install_chromium() -> None:
    """apt-get install chromium, as root on a Debian-like machine (CI's)."""
    if os.name != "posix" or os.geteuid() != 0 or shutil.which("apt-get") is None:
        return
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = ["apt-get", "install", "-y", "-q", "--no-install-recommends", "chromium"]
    done = subprocess.run(install, env=env, capture_output=True, timeout=1200, check=False)
    if done.returncode != 0:  # a fresh machine's package lists may be missing or stale
        subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
        subprocess.run(install, env=env, capture_output=True, timeout=1200, check=False)


def chromium_path() -> str:
    path = find_chromium()
    if path is None:
        install_chromium()
        path = find_chromium()
    if path is None:
        pytest.fail(HINT, pytrace=False)
    return path


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    path = chromium_path()
    with sync_playwright() as playwright:
        # Playwright gives each launch a fresh temporary --user-data-dir.
        launched = playwright.chromium.launch(
            executable_path=path, headless=True, args=list(CHROMIUM_ARGS)
        )
        try:
            yield launched
        finally:
            launched.close()


@dataclass
class Watched:
    """A page and what went wrong in it: console errors and warnings,
    uncaught exceptions, dialogs (alert/confirm/prompt: a script payload's
    favourite), CSP violations."""

    page: Page
    console: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)
    allowed: tuple[str, ...] = ()  # console messages from these URLs are expected

    def violations(self) -> list[str]:
        found: Any = self.page.evaluate("window.__csp_violations || []")
        return [str(item) for item in found]

    def problems(self) -> list[str]:
        return [*self.console, *self.errors, *self.dialogs, *self.violations()]


def watch(page: Page, *, allowed: tuple[str, ...] = ()) -> Watched:
    watched = Watched(page=page, allowed=allowed)

    def on_console(message: ConsoleMessage) -> None:
        if message.type not in ("error", "warning"):
            return
        url = str(message.location.get("url", ""))
        if any(url.endswith(suffix) for suffix in allowed):
            return
        watched.console.append(f"{message.type}: {message.text} ({url})")

    def on_dialog(dialog: Dialog) -> None:
        watched.dialogs.append(f"dialog {dialog.type}: {dialog.message}")
        dialog.dismiss()

    page.add_init_script(WATCH)
    page.on("console", on_console)
    page.on("pageerror", lambda error: watched.errors.append(f"page error: {error}"))
    page.on("dialog", on_dialog)
    return watched


def open_page(page: Page, base: str, name: str) -> None:
    """Go to a console page and wait until it has drawn (body[data-ready])."""
    page.goto(f"{base}/console/#{name}")
    page.wait_for_selector(f"body[data-ready={name}]", timeout=15_000)
