"""The reference pages in ``docs/`` name what the code has, so they cannot rot.

Each list is read from the code itself — the admin API's route table, the
hook events, the argparse parser, the settings table — and every item must
appear in the page that documents it. Each check returns what is missing;
the last tests remove one item from a page and make sure the check notices.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, cast

import pytest

from tokligence.admin.api import AdminApi
from tokligence.cli import _build_parser, _serve_options
from tokligence.identity.hooks import EVENTS, ORIGINAL_TYPES
from tokligence.providers import FIELDS as PROVIDER_FIELDS
from tokligence.settings_table import SETTINGS
from tokligence.trade.offers import FIELDS as OFFER_FIELDS
from tokligence.trade.peers import FIELDS as PEER_FIELDS

DOCS = Path(__file__).resolve().parent.parent / "docs"
ADMIN_PAGE = DOCS / "admin-api.md"
HOOKS_PAGE = DOCS / "hooks.md"
CLI_PAGE = DOCS / "cli.md"
CONFIG_PAGE = DOCS / "configuration.md"

# Setting-name prefixes -> the page that documents them.
SETTING_PAGES = {
    "hooks_": HOOKS_PAGE,
    "model_aliases": CONFIG_PAGE,
    "log_": CONFIG_PAGE,
    "update_check_": CONFIG_PAGE,
    "trade_": CONFIG_PAGE,
}


def read(page: Path) -> str:
    return page.read_text(encoding="utf-8")


# ------------------------------------------------------------------ admin API


def admin_routes() -> list[tuple[str, str]]:
    """(method, path under /api/v1/admin/) for every route the API serves,
    from the route table AdminApi dispatches on."""
    api = AdminApi(identity=cast(Any, None), ledger_db=None)
    return [
        (method, "/".join(route.segments))
        for route in api._routes
        for method in sorted(route.methods)
    ]


def missing_routes(text: str) -> list[str]:
    """Routes with no line naming both the method and the path, e.g. a
    table row ``| `GET` | `users/{id}` |``."""
    lines = text.splitlines()
    return [
        f"{method} {path}"
        for method, path in admin_routes()
        if not any(f"`{method}`" in line and f"`{path}`" in line for line in lines)
    ]


def test_the_route_table_is_read() -> None:
    routes = admin_routes()
    assert ("GET", "users") in routes
    assert ("POST", "users/{id}/api-keys") in routes
    assert len(routes) >= 15


def test_every_admin_route_is_documented() -> None:
    assert missing_routes(read(ADMIN_PAGE)) == []


# ----------------------------------------------------------------------- hooks


def missing_events(text: str) -> list[str]:
    names = [*EVENTS, *(ORIGINAL_TYPES[event] for event in EVENTS)]
    return [name for name in names if f"`{name}`" not in text]


def test_every_hook_event_is_documented() -> None:
    assert len(EVENTS) == 5
    assert missing_events(read(HOOKS_PAGE)) == []


# ------------------------------------------------------------------------ CLI


def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def commands(
    parser: argparse.ArgumentParser, path: tuple[str, ...] = ()
) -> Iterator[tuple[tuple[str, ...], argparse.ArgumentParser]]:
    """Every command path the parser defines (("users",), ("users", "list"), …)."""
    for name, sub in _subparsers(parser).items():
        yield (*path, name), sub
        yield from commands(sub, (*path, name))


GATEWAY_OPTIONS = frozenset(
    option for action in _serve_options()._actions for option in action.option_strings
)


def own_options(parser: argparse.ArgumentParser) -> list[str]:
    """A command's own options and positionals, as the page writes them:
    the long option, or the positional's metavar."""
    names = []
    for action in parser._actions:
        if isinstance(
            action, argparse._HelpAction | argparse._VersionAction | argparse._SubParsersAction
        ):
            continue
        if action.option_strings:
            if GATEWAY_OPTIONS.intersection(action.option_strings):
                continue
            names.append(max(action.option_strings, key=len))
        else:
            names.append(str(action.metavar or action.dest))
    return names


def sections(text: str) -> dict[str, str]:
    """Markdown sections by heading line (text up to the next heading)."""
    found: dict[str, str] = {}
    heading = ""
    for line in text.splitlines():
        if line.startswith("#"):
            heading = line
            found[heading] = ""
        elif heading:
            found[heading] += line + "\n"
    return found


def missing_cli(text: str) -> list[str]:
    """Commands the page does not name, leaf commands without a section of
    their own (a heading naming `tokligence PATH`), options missing from
    their command's section, and gateway options missing from the page."""
    missing = [f"option {option}" for option in sorted(GATEWAY_OPTIONS) if f"`{option}" not in text]
    by_heading = sections(text)
    for path, parser in commands(_build_parser()):
        name = "tokligence " + " ".join(path)
        if name not in text:
            missing.append(name)
            continue
        if _subparsers(parser):
            continue  # a group (users, keys, …): its actions have the sections
        body = [body for heading, body in by_heading.items() if f"`{name}`" in heading]
        if not body:
            missing.append(f"section for {name}")
            continue
        missing += [
            f"{name} {option}" for option in own_options(parser) if f"`{option}" not in body[0]
        ]
    return missing


def test_the_parser_is_walked() -> None:
    paths = [path for path, _ in commands(_build_parser())]
    for expected in (("serve",), ("config", "show"), ("users", "import"), ("prices", "add")):
        assert expected in paths
    assert "--budget-monthly" in own_options(dict(commands(_build_parser()))[("keys", "create")])


def test_every_cli_command_and_option_is_documented() -> None:
    assert missing_cli(read(CLI_PAGE)) == []


# ------------------------------------------------------------------- settings


def documented_settings() -> list[tuple[str, Path, tuple[str, ...]]]:
    """(setting, page, its environment variables) for every setting of the
    families these pages own."""
    return [
        (setting.name, page, setting.env_vars)
        for setting in SETTINGS
        for prefix, page in SETTING_PAGES.items()
        if setting.name.startswith(prefix)
    ]


def missing_settings(texts: dict[Path, str]) -> list[str]:
    missing = []
    for name, page, env_vars in documented_settings():
        if f"`{name}`" not in texts[page]:
            missing.append(f"{name} in {page.name}")
        if page == HOOKS_PAGE:  # the hook variables keep the original's odd names
            missing += [f"{var} in {page.name}" for var in env_vars if var not in texts[page]]
    return missing


def _pages() -> dict[Path, str]:
    return {page: read(page) for page in set(SETTING_PAGES.values())}


def test_every_hook_alias_and_log_setting_is_documented() -> None:
    names = [name for name, _, _ in documented_settings()]
    for expected in ("hooks_timeout", "model_aliases_dir", "log_backups", "log_file_cli"):
        assert expected in names
    assert missing_settings(_pages()) == []


# ------------------------------------------ fields of declared sections

# The section of configuration.md that documents each kind of declaration,
# and its fields (each a table row of that section).
SECTION_FIELDS = {
    "## Providers: `[provider.NAME]`": PROVIDER_FIELDS,
    "## Trading offers: `[trade.offer.NAME]`": OFFER_FIELDS,
    "## Trading peers: `[trade.peer.NAME]`": PEER_FIELDS,
}


def missing_fields(text: str) -> list[str]:
    by_heading = sections(text)
    missing = [heading for heading in SECTION_FIELDS if heading not in by_heading]
    for heading, fields in SECTION_FIELDS.items():
        body = by_heading.get(heading, "")
        missing += [f"{heading} {field}" for field in fields if f"| `{field}` |" not in body]
    return missing


def test_every_provider_and_offer_field_is_documented() -> None:
    assert "daily_tokens" in OFFER_FIELDS and "base_url" in PROVIDER_FIELDS
    assert missing_fields(read(CONFIG_PAGE)) == []


# ------------------------------------------------- the checks can fail


def _without(text: str, needle: str) -> str:
    """The page with every line that holds ``needle`` removed."""
    return "\n".join(line for line in text.splitlines() if needle not in line)


def test_a_missing_route_is_noticed() -> None:
    text = read(ADMIN_PAGE)
    row = re.compile(r"\|\s*`DELETE`\s*\|\s*`api-keys/\{id\}`")
    trimmed = "\n".join(line for line in text.splitlines() if not row.search(line))
    assert trimmed != text
    assert missing_routes(trimmed) == ["DELETE api-keys/{id}"]


@pytest.mark.parametrize("event", EVENTS)
def test_a_missing_event_is_noticed(event: str) -> None:
    assert missing_events(read(HOOKS_PAGE).replace(f"`{event}`", "`?`")) == [event]


def test_a_missing_command_or_option_is_noticed() -> None:
    text = read(CLI_PAGE)
    assert missing_cli(text.replace("`--budget-daily", "`--daily")) == [
        "tokligence keys create --budget-daily"
    ]
    unheaded = text.replace(
        "### `tokligence keys revoke`", "### Revoking\n\ntokligence keys revoke"
    )
    assert missing_cli(unheaded) == ["section for tokligence keys revoke"]
    assert "tokligence prices add" in missing_cli(text.replace("tokligence prices add", "?"))
    assert "option --data-dir" in missing_cli(text.replace("`--data-dir", "`--dir"))


def test_a_missing_field_is_noticed() -> None:
    text = read(CONFIG_PAGE)
    assert missing_fields(_without(text, "| `daily_tokens` |")) == [
        "## Trading offers: `[trade.offer.NAME]` daily_tokens"
    ]
    assert missing_fields(_without(text, "| `drop_betas` |")) == [
        "## Providers: `[provider.NAME]` drop_betas"
    ]


@pytest.mark.parametrize("name", ["hooks_script_args", "model_aliases_reload_sec", "log_max_bytes"])
def test_a_missing_setting_is_noticed(name: str) -> None:
    pages = {page: _without(text, f"`{name}`") for page, text in _pages().items()}
    assert any(item.startswith(f"{name} in ") for item in missing_settings(pages))
