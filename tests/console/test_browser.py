"""The console in a real headless Chromium against a running gateway with
auth on: every page loads without a console error or a CSP violation, the
charts show the numbers of a known workload, a key made in the console
works and stops working when revoked there, and script payloads stored
through ordinary requests are shown as text and never run."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, Route

from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.ledger.db import close_database, open_database, sqlite_url

from .browser import browser, open_page, watch

__all__ = ["browser"]  # the fixture

PAGES = ("overview", "requests", "providers", "users", "config")
# Each sets window.__xss (or opens a dialog) if it ever runs as markup.
PAYLOADS = (
    "<img src=x onerror=window.__xss=1>",
    '"><svg onload=window.__xss=2>',
    "<script>window.__xss=3</script>",
    "<iframe srcdoc='<script>parent.__xss=4</script>'></iframe>",
    "'); alert(5); ('",
)
LOOPBACK_REQUESTS = 7
MODEL_B_REQUESTS = 3
# An admin key's secret in the configuration, to see it masked.
# Plainly not a real key, and shaped like none: only the setting marks it secret.
PROVIDER_SECRET = "console-test-provider-secret"


@dataclass
class Setup:
    gateway: GatewayThread
    admin_key: str
    user_key: str

    @property
    def base(self) -> str:
        return self.gateway.url()


def post(base: str, path: str, body: dict[str, Any], key: str) -> tuple[int, Any]:
    request = urllib.request.Request(
        base + path,
        data=json.dumps(body).encode(),
        headers={"content-type": "application/json", "authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def chat(base: str, key: str, model: str) -> int:
    body = {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return post(base, "/v1/chat/completions", body, key)[0]


@pytest.fixture(scope="module")
def setup(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Setup]:
    tmp: Path = tmp_path_factory.mktemp("console")
    env = {
        "TOKLIGENCE_AUTH_DISABLED": "false",
        # Every model is the loopback provider's: payloads are model names
        # that get answered and written to the ledger like any other.
        "TOKLIGENCE_ROUTES": "*=>loopback",
        "TOKLIGENCE_OPENAI_API_KEY": PROVIDER_SECRET,
    }
    config = isolated_config(tmp, env=env)
    db = open_database(sqlite_url(config.identity_file()))
    try:
        migrate_identity(db)
        root = store.create_user(db, email="root@example.com", role="root_admin")
        alice = store.create_user(db, email="alice@example.com", display_name=PAYLOADS[0])
        admin_key = store.issue_key(db, root.id, scopes="model,admin")[1]
        user_key = store.issue_key(db, alice.id, name=PAYLOADS[1])[1]
    finally:
        close_database(db)
    with GatewayThread(config) as gateway:
        base = gateway.url()
        for _ in range(LOOPBACK_REQUESTS):
            assert chat(base, user_key, "loopback") == 200
        for _ in range(MODEL_B_REQUESTS):
            assert chat(base, user_key, "model-b") == 200
        for payload in PAYLOADS:  # stored as model names through ordinary requests
            chat(base, user_key, payload)
        # ... and as user fields through the admin API.
        for number, payload in enumerate(PAYLOADS):
            status, _ = post(
                base,
                "/api/v1/admin/users",
                {"email": f"x{number}@example.com", "display_name": payload},
                admin_key,
            )
            assert status == 201
        yield Setup(gateway=gateway, admin_key=admin_key, user_key=user_key)


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1366, "height": 768})
    try:
        yield context.new_page()
    finally:
        context.close()


def sign_in(page: Page, setup: Setup, name: str = "overview") -> None:
    page.goto(f"{setup.base}/console/#{name}")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#login-key", setup.admin_key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login", state="hidden")
    page.wait_for_selector(f"body[data-ready={name}]")


def assert_no_script_ran(page: Page) -> None:
    assert page.evaluate("window.__xss") is None
    assert page.evaluate("parent.__xss") is None


def test_a_wrong_key_is_refused_and_the_key_stays_out_of_urls(page: Page, setup: Setup) -> None:
    watched = watch(page, allowed=("/api/v1/admin/config",))
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(f"{setup.base}/console/")
    page.wait_for_selector("#login:not([hidden])")
    page.fill("#login-key", "tok_" + "x" * 43)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:has-text('does not accept')")
    page.fill("#login-key", setup.user_key)  # a user's key: no admin role
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("#login-error:has-text('may not use the admin API')")
    page.fill("#login-key", setup.admin_key)
    page.click("#login-form button[type=submit]")
    page.wait_for_selector("body[data-ready=overview]")
    assert not [url for url in requested if setup.admin_key in url or "tok_" in url]
    stored = page.evaluate("sessionStorage.getItem('tokligence.console.key')")
    assert stored == setup.admin_key
    assert page.evaluate("localStorage.length") == 0  # nothing kept past the tab
    assert watched.errors == [] and watched.dialogs == [] and watched.violations() == []


@pytest.mark.parametrize("theme", ["light", "dark"])
def test_every_page_loads_without_errors(page: Page, setup: Setup, theme: str) -> None:
    page.emulate_media(color_scheme=theme)  # type: ignore[arg-type]
    watched = watch(page)
    sign_in(page, setup)
    for name in PAGES:
        open_page(page, setup.base, name)
        assert page.locator("main .error").count() == 0, page.locator(
            "main .error"
        ).all_inner_texts()
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert (background == "rgb(20, 23, 28)") == (theme == "dark")
    assert watched.problems() == []
    assert_no_script_ran(page)


def test_the_theme_button_switches_and_is_remembered(page: Page, setup: Setup) -> None:
    page.emulate_media(color_scheme="light")
    sign_in(page, setup)
    page.click("#theme")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"
    page.reload()
    page.wait_for_selector("body[data-ready=overview]")
    assert page.evaluate("document.documentElement.dataset.theme") == "dark"


def series_row(page: Page, key: str) -> dict[str, str]:
    row = page.locator(f'#series-table tr[data-key="{key}"]')
    cells = row.locator("td[data-field]")
    return {
        str(cells.nth(i).get_attribute("data-field")): cells.nth(i).inner_text()
        for i in range(cells.count())
    }


def test_the_chart_shows_the_workload(page: Page, setup: Setup) -> None:
    watch(page)
    sign_in(page, setup)
    assert series_row(page, "loopback")["requests"] == str(LOOPBACK_REQUESTS)
    assert series_row(page, "model-b")["requests"] == str(MODEL_B_REQUESTS)
    assert series_row(page, "loopback")["input_tokens"] == str(5 * LOOPBACK_REQUESTS)
    # The bars: one per series today, its tooltip naming the number.
    bar = page.locator('svg.chart rect[data-series="loopback"]')
    assert bar.count() == 1
    assert bar.get_attribute("data-value") == str(LOOPBACK_REQUESTS)
    assert bar.locator("title").text_content() == (
        f"{bar.evaluate('r => r.parentNode.dataset.bucket')} · loopback: {LOOPBACK_REQUESTS}"
    )
    total = int(page.locator("#total-requests").inner_text().replace(",", ""))
    assert total >= LOOPBACK_REQUESTS + MODEL_B_REQUESTS + len(PAYLOADS)
    label = page.locator("svg.chart").get_attribute("aria-label")
    assert label == f"Requests by model: {total} in total"
    # Another grouping: by user, alice made them all.
    page.select_option("#by", "user")
    page.wait_for_selector('#series-table tr[data-key="alice@example.com"]')
    alice = series_row(page, "alice@example.com")
    assert int(alice["requests"]) >= LOOPBACK_REQUESTS + MODEL_B_REQUESTS + len(PAYLOADS)


def test_requests_page_lists_and_pages(page: Page, setup: Setup) -> None:
    watch(page)
    sign_in(page, setup, "requests")
    rows = page.locator("#requests-table tbody tr")
    assert rows.count() >= LOOPBACK_REQUESTS + MODEL_B_REQUESTS
    texts = rows.all_inner_texts()
    assert any("loopback" in text and "200" in text for text in texts)
    assert any("alice@example.com" in text for text in texts)


def test_a_key_made_in_the_console_works_until_revoked_there(page: Page, setup: Setup) -> None:
    watched = watch(page)
    sign_in(page, setup, "users")
    page.select_option("#new-key select[name=user]", label="alice@example.com (gateway_user)")
    page.fill("#new-key input[name=name]", "made-in-console")
    page.click("#new-key button[type=submit]")
    secret = page.locator("#new-key-value")
    secret.wait_for()
    key = secret.inner_text()
    assert key.startswith("tok_")
    assert chat(setup.base, key, "loopback") == 200
    row = page.locator("#keys-table tr", has_text="made-in-console")
    row.locator("button[data-revoke]").click()  # arms it
    row.locator("button[data-revoke]", has_text="Confirm").click()
    page.wait_for_selector("#users-message:has-text('Revoked key')")
    revoked = page.locator("#keys-table tr", has_text="made-in-console")
    assert "revoked" in revoked.inner_text()
    assert chat(setup.base, key, "loopback") == 401
    assert watched.problems() == []


def test_users_are_created_in_the_console(page: Page, setup: Setup) -> None:
    watch(page)
    sign_in(page, setup, "users")
    page.fill("#new-user input[name=email]", "new@example.com")
    page.fill("#new-user input[name=display_name]", PAYLOADS[2])
    page.click("#new-user button[type=submit]")
    page.wait_for_selector("#users-message:has-text('Created user new@example.com')")
    row = page.locator("#users-table tr", has_text="new@example.com")
    assert row.locator("td.display-name").inner_text() == PAYLOADS[2]
    assert_no_script_ran(page)


def test_stored_payloads_render_as_text(page: Page, setup: Setup) -> None:
    watched = watch(page)
    sign_in(page, setup)
    models = page.locator("#series-table tbody tr").all_inner_texts()
    page.select_option("#by", "model")
    for name in PAGES:
        open_page(page, setup.base, name)
        page.wait_for_timeout(100)  # images and handlers would have fired by now
    open_page(page, setup.base, "requests")
    shown = page.locator("#requests-table").inner_text()
    open_page(page, setup.base, "users")
    users = page.locator("#users-table").inner_text()
    keys = page.locator("#keys-table").inner_text()
    for payload in PAYLOADS:
        assert payload in shown  # the model name, as it was sent
        assert payload in users  # the display name
    assert PAYLOADS[1] in keys  # a key's name
    # Only the markup the console itself made: no element came from data.
    assert page.locator("main img, main script, main iframe").count() == 0
    assert page.locator("main svg[onload], main [onerror]").count() == 0
    for payload in PAYLOADS:  # each a series of the overview's chart and table
        assert any(text.strip().startswith(payload) for text in models), models
    assert_no_script_ran(page)
    assert watched.problems() == []


def test_an_error_message_with_a_payload_is_text(page: Page, setup: Setup) -> None:
    watched = watch(page, allowed=("/api/v1/admin/users",))
    sign_in(page, setup, "users")
    page.fill("#new-user input[name=email]", "alice@example.com")  # taken: a 409 naming it
    page.evaluate(
        "document.querySelector('#new-user input[name=email]').type = 'text'"
    )  # let a payload through the browser's own e-mail check
    page.fill("#new-user input[name=email]", PAYLOADS[0])
    page.click("#new-user button[type=submit]")
    message = page.locator("#users-message.error")
    message.wait_for()
    assert PAYLOADS[0] in message.inner_text()  # the API's message quotes it
    assert page.locator("main img").count() == 0
    assert_no_script_ran(page)
    assert watched.errors == [] and watched.dialogs == [] and watched.violations() == []


def test_the_configuration_is_masked(page: Page, setup: Setup) -> None:
    watch(page)
    sign_in(page, setup, "config")
    table = page.locator("#config-table").inner_text()
    assert PROVIDER_SECRET not in table
    assert "****" + PROVIDER_SECRET[-4:] in table  # masked, its last four kept
    page.fill("#config-filter", "console_enabled")
    visible = page.locator("#config-table tbody tr:visible")
    assert visible.count() == 1
    assert "true" in visible.inner_text()


HEALTH = {
    "window": {"since": "2026-03-01T10:00:00Z", "until": "2026-03-01T11:00:00Z"},
    "baseline": {"since": "2026-02-22T11:00:00Z", "until": "2026-03-01T10:00:00Z"},
    "entries": [
        {
            "provider": "openai",
            "model": PAYLOADS[0],
            "buckets": [
                {
                    "start": f"2026-03-01T10:{m:02}:00Z",
                    "requests": r,
                    "errors": 0,
                    "timeouts": 0,
                    "ttfb_ms": 300.0,
                    "output_tokens_per_s": 50.0,
                }
                for m, r in ((0, 4), (15, 9), (30, 2), (45, 6))
            ],
            "window": {
                "requests": 21,
                "errors": 3,
                "timeouts": 1,
                "ttfb_ms": 812.5,
                "output_tokens_per_s": 41.25,
            },
            "baseline": {
                "requests": 900,
                "errors": 2,
                "timeouts": 0,
                "ttfb_ms": 301.0,
                "output_tokens_per_s": 55.0,
            },
            "flags": ["ttfb_regressed", PAYLOADS[2]],
        }
    ],
}


def test_provider_health_comes_from_the_gateways_audit(page: Page, setup: Setup) -> None:
    """The panel asks the real audit route and draws its answer."""
    answers: list[int] = []
    page.on(
        "response",
        lambda response: (
            answers.append(response.status)
            if "/api/v1/admin/audit/health" in response.url
            else None
        ),
    )
    watched = watch(page)
    sign_in(page, setup, "providers")
    page.wait_for_selector("#health-table")
    assert answers and set(answers) == {200}
    assert "not available" not in page.locator("#page-providers").inner_text()
    assert watched.problems() == []


def test_provider_health_draws_the_audit(page: Page, setup: Setup) -> None:
    """The panel against a fixed audit answer (served by the test, in the
    browser), so every figure it draws can be checked."""

    def fulfil(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(HEALTH))

    page.route("**/api/v1/admin/audit/health", fulfil)
    watched = watch(page)
    sign_in(page, setup, "providers")
    row = page.locator('#health-table tr[data-provider="openai"]')
    cells = row.locator("td").all_inner_texts()
    assert cells[:7] == ["openai", PAYLOADS[0], "21", "3", "1", "813", "41.3"]
    assert cells[7:9] == ["301", "55.0"]
    spark = row.locator("svg.spark").get_attribute("aria-label")
    assert spark == f"openai {PAYLOADS[0]}: requests per bucket 4, 9, 2, 6"
    assert row.locator(".badge").all_inner_texts() == ["ttfb_regressed", PAYLOADS[2]]
    assert_no_script_ran(page)
    assert watched.problems() == []


def test_provider_health_says_when_the_audit_is_missing(page: Page, setup: Setup) -> None:
    page.route(
        "**/api/v1/admin/audit/health",
        lambda route: route.fulfill(status=404, content_type="application/json", body="{}"),
    )
    watch(page, allowed=("/api/v1/admin/audit/health",))
    sign_in(page, setup, "providers")
    assert "not available on this gateway" in page.locator("#page-providers").inner_text()
