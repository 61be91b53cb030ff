"""Screenshots of every console page, light and dark, for docs/console.md.

Starts a gateway (auth off, on loopback) whose ledger holds a week of
made-up traffic over a few models, users and keys, plus a few live loopback
requests; opens each page at 1366x768 in the system's Chromium (as the
console's tests do, tests/console/browser.py) and saves
``docs/console/PAGE-THEME.png``.

    python bench/console_screenshots.py [--out docs/console]
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import tempfile
import urllib.request
from datetime import datetime, timedelta, timezone
from decimal import Decimal
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.console.browser import CHROMIUM_ARGS, chromium_path, open_page  # noqa: E402
from tests.gateway_thread import GatewayThread, isolated_config  # noqa: E402
from tokligence.identity import store  # noqa: E402
from tokligence.identity.migrations import migrate_identity  # noqa: E402
from tokligence.ledger import db as dbmod  # noqa: E402
from tokligence.ledger.migrations import migrate  # noqa: E402
from tokligence.ledger.models import ENTRY_COLUMNS, entry_values  # noqa: E402
from tokligence.ledger.row import LedgerRow  # noqa: E402

PAGES = ("overview", "requests", "providers", "users", "config")
MODELS = (
    ("gpt-4o-mini", "openai", Decimal("0.00002")),
    ("claude-sonnet-4-5", "anthropic", Decimal("0.0004")),
    ("gpt-4o", "openai", Decimal("0.0002")),
    ("deepseek-chat", "deepseek", Decimal("0.00001")),
)


def history(ledger: Path, identity: Path) -> None:
    """A week of traffic from three users' keys."""
    db = dbmod.open_database(dbmod.sqlite_url(identity))
    migrate_identity(db)
    keys = []
    for email, name in (
        ("ada@example.com", "Ada"),
        ("lin@example.com", "Lin"),
        ("sam@example.com", "Sam"),
    ):
        user = store.create_user(db, email=email, display_name=name)
        keys.append((user.id, store.issue_key(db, user.id, name=f"{name.lower()}-laptop")[0].id))
    dbmod.close_database(db)
    db = dbmod.open_database(dbmod.sqlite_url(ledger))
    migrate(db, "ledger")
    rng = random.Random(14)
    now = datetime.now(timezone.utc)
    rows = []
    for i in range(1500):
        model, provider, per_token = MODELS[min(3, int(rng.expovariate(0.9)))]
        user_id, key_id = keys[rng.randrange(len(keys))]
        inp, out = rng.randrange(200, 6000), rng.randrange(20, 900)
        failed = rng.random() < 0.03
        latency = rng.uniform(300, 4000)
        row = LedgerRow(
            created_at=now - timedelta(days=7) * (i / 1500) ** 0.8 - timedelta(minutes=1),
            request_id=f"req_{i}",
            user_id=user_id,
            api_key_id=key_id,
            endpoint="/v1/chat/completions",
            client_dialect="openai_chat",
            provider=provider,
            requested_model=model,
            upstream_model=model,
            mode="passthrough",
            stream=bool(i % 2),
            status=502 if failed else 200,
            error_kind="upstream_error" if failed else None,
            input_tokens=inp,
            output_tokens=0 if failed else out,
            latency_ms=latency,
            ttfb_ms=latency / 3,
            gateway_ms=rng.uniform(0.3, 1.5),
            upstream_ms=latency - 1,
        )
        rows.append(entry_values(row, None if failed else per_token * (inp + 4 * out)))
    with dbmod.connection(db), db.atomic():
        dbmod.insert_rows(db, "ledger_entries", ENTRY_COLUMNS, rows)
    dbmod.close_database(db)


def main() -> None:
    from playwright.sync_api import sync_playwright

    options = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    options.add_argument("--out", type=Path, default=ROOT / "docs" / "console")
    args = options.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        config = isolated_config(Path(folder))
        history(config.ledger_file(), config.identity_file())
        with GatewayThread(config) as gateway, sync_playwright() as playwright:
            base = gateway.url()
            for _ in range(3):
                body = {"model": "loopback", "messages": [{"role": "user", "content": "hi"}]}
                request = urllib.request.Request(
                    base + "/v1/chat/completions",
                    data=json.dumps(body).encode(),
                    headers={"content-type": "application/json"},
                )
                urllib.request.urlopen(request, timeout=10).read()
            browser = playwright.chromium.launch(
                executable_path=chromium_path(), headless=True, args=list(CHROMIUM_ARGS)
            )
            for theme in ("light", "dark"):
                context = browser.new_context(
                    viewport={"width": 1366, "height": 768}, color_scheme=theme
                )
                page = context.new_page()
                for name in PAGES:
                    open_page(page, base, name)
                    page.wait_for_timeout(200)
                    path = args.out / f"{name}-{theme}.png"
                    page.screenshot(path=str(path))
                    print(path.relative_to(ROOT) if path.is_relative_to(ROOT) else path)
                context.close()
            browser.close()


if __name__ == "__main__":
    main()
