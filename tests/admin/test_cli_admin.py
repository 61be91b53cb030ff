"""The management commands through ``tokligence.cli.main`` on a temporary
data directory (SQLite), checked by their output, exit status and what the
databases then hold."""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest
import trio

from tokligence.auth import authorize
from tokligence.cli import main
from tokligence.errors import GatewayError
from tokligence.identity import store
from tokligence.identity.migrations import migrate_identity
from tokligence.identity.records import KeyRecord
from tokligence.ledger import db as dbmod
from tokligence.ledger.migrations import migrate
from tokligence.ledger.row import LedgerRow
from tokligence.ledger.writer import QUARANTINE_FILE, LedgerWriter

from .rows import ROWS


@pytest.fixture(autouse=True)
def data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """No real TOKLIGENCE_* variables or user config leak in; data in tmp."""
    for name in list(os.environ):
        if name.startswith("TOKLIGENCE_"):
            monkeypatch.delenv(name)
    for xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / xdg.lower()))
    monkeypatch.setenv("TOKLIGENCE_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.chdir(tmp_path)
    yield tmp_path / "data"


class Cli:
    def __init__(self, capsys: pytest.CaptureFixture[str]) -> None:
        self.capsys = capsys

    def __call__(self, *argv: str, code: int = 0) -> tuple[str, str]:
        self.capsys.readouterr()
        status = main(list(argv))
        out, err = self.capsys.readouterr()
        assert status == code, (argv, status, out, err)
        return out, err

    def json(self, *argv: str) -> Any:
        return json.loads(self(*argv, "--json")[0])


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Cli:
    return Cli(capsys)


def lookup(data_dir: Path, plaintext: str) -> KeyRecord | None:
    db = dbmod.open_database(dbmod.sqlite_url(data_dir / "identity.db"))
    try:
        return store.lookup_key(db, plaintext)
    finally:
        dbmod.close_database(db)


def table(out: str) -> list[list[str]]:
    """Table lines split on runs of two or more spaces."""
    import re

    return [re.split(r"\s{2,}", line.strip()) for line in out.splitlines() if line.strip()]


# ------------------------------------------------------------------- users


def test_users_lifecycle(cli: Cli) -> None:
    out, _ = cli("users", "create", "Ada@Example.com", "--name", "Ada Lovelace")
    assert out == "created user 1: ada@example.com (gateway_user)\n"
    made = cli.json("users", "create", "bo@example.com", "--role", "gateway_admin")
    assert made["user"]["role"] == "gateway_admin" and made["user"]["id"] == 2

    out, _ = cli("users", "list")
    rows = table(out)
    assert rows[0] == ["ID", "EMAIL", "NAME", "ROLE", "STATUS", "CREATED"]
    assert rows[1][:5] == ["1", "ada@example.com", "Ada Lovelace", "gateway_user", "active"]
    assert rows[2][:5] == ["2", "bo@example.com", "-", "gateway_admin", "active"]
    lines = out.splitlines()
    assert lines[0].index("EMAIL") == lines[1].index("ada@") == lines[2].index("bo@")

    listed = cli.json("users", "list")
    assert [u["email"] for u in listed["users"]] == ["ada@example.com", "bo@example.com"]

    out, _ = cli("users", "update", "ada@example.com", "--status", "disabled", "--name", "Ada")
    assert out == "updated user 1: ada@example.com (gateway_user, disabled)\n"
    updated = cli.json(
        "users", "update", "1", "--email", "ada@new.example", "--role", "gateway_admin"
    )
    assert updated["user"]["email"] == "ada@new.example"
    assert updated["user"]["display_name"] == "Ada"

    _, err = cli("users", "update", "1", code=2)
    assert "nothing to change" in err
    _, err = cli("users", "create", "bo@example.com", code=1)
    assert err == "tokligence: error: a user with e-mail bo@example.com already exists\n"
    _, err = cli("users", "update", "nobody@example.com", "--name", "x", code=1)
    assert "no user with e-mail nobody@example.com" in err
    assert "'tokligence users create nobody@example.com'" in err  # and how to fix it
    _, err = cli("users", "update", "ada", "--name", "x", code=2)
    assert "neither a user id nor an e-mail address" in err

    cli("keys", "create", "1")
    out, _ = cli("users", "delete", "1")
    assert out == "deleted user 1 (ada@new.example) and its 1 API key (1 still usable)\n"
    _, err = cli("users", "delete", "1", code=1)
    assert "no user with id 1" in err
    deleted = cli.json("users", "delete", "bo@example.com")
    assert deleted == {
        "deleted": made["user"] | {"updated_at": deleted["deleted"]["updated_at"]},
        "revoked_keys": 0,
    }


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "create", "a@b.c", "--role", "king"],
        ["users", "update", "1", "--status", "sleeping"],
        ["users"],
        ["keys", "create", "1", "--rpm", "-1"],
        ["keys", "create", "1", "--budget-daily", "1.0000001"],
        ["keys", "create", "1", "--expires-in-days", "0"],
        ["keys", "revoke", "abc"],
        ["usage", "--by", "week"],
        ["usage", "--json", "--csv"],
        ["usage", "--since", "yesterday"],
        ["usage", "--recent", "0"],
        ["prices", "add", "m", "--input", "abc", "--output", "1"],
        ["prices", "add", "m", "--input", "1"],
        ["prices", "list", "--at", "soon"],
    ],
)
def test_usage_errors_exit_2(cli: Cli, argv: list[str]) -> None:
    _, err = cli(*argv, code=2)
    assert "usage: tokligence" in err


@pytest.mark.parametrize(
    "argv",
    [
        ["users", "--help"],
        ["users", "import", "--help"],
        ["keys", "create", "--help"],
        ["usage", "--help"],
        ["prices", "add", "--help"],
    ],
)
def test_help(cli: Cli, argv: list[str]) -> None:
    out, _ = cli(*argv)
    assert out.startswith("usage: tokligence " + argv[0])


def test_configuration_errors_exit_2(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    _, err = cli("users", "list", "--config", "nowhere.ini", code=2)
    assert err.startswith("tokligence: configuration error: ") and "does not exist" in err
    monkeypatch.setenv("TOKLIGENCE_FACADE_PORT", "http")
    _, err = cli("usage", code=2)
    assert "TOKLIGENCE_FACADE_PORT" in err


def test_data_dir_flag(cli: Cli, tmp_path: Path) -> None:
    cli("users", "create", "ada@example.com", "--data-dir", "elsewhere")
    assert (tmp_path / "elsewhere" / "identity.db").exists()
    assert cli.json("users", "list")["users"] == []  # the env's data dir is another
    assert len(cli.json("users", "list", "--data-dir", "elsewhere")["users"]) == 1


def test_import_json_and_csv(cli: Cli, tmp_path: Path) -> None:
    cli("users", "create", "ada@example.com")
    (tmp_path / "users.json").write_text(
        json.dumps(
            {
                "users": [
                    {"email": "ada@example.com", "display_name": "Ada"},
                    {"email": "bo@example.com", "role": "gateway_admin"},
                ]
            }
        )
    )
    out, _ = cli("users", "import", "users.json")
    assert out.splitlines() == [
        "created 1, updated 1, unchanged 0",
        "  created 2: bo@example.com (gateway_admin, active)",
        "  updated 1: ada@example.com (gateway_user, active)",
    ]
    (tmp_path / "users.csv").write_bytes(
        "\ufeffEmail,Name,role,status\n"
        "cy@example.com,Cy Young,,\n"
        "\n"
        "ada@example.com,Ada,,\n"
        "bo@example.com,,gateway_user,disabled\n".encode()
    )
    result = cli.json("users", "import", "users.csv")
    assert [u["email"] for u in result["created"]] == ["cy@example.com"]
    assert result["created"][0]["display_name"] == "Cy Young"
    assert [u["email"] for u in result["unchanged"]] == ["ada@example.com"]
    assert [(u["email"], u["role"], u["status"]) for u in result["updated"]] == [
        ("bo@example.com", "gateway_user", "disabled")
    ]
    (tmp_path / "array.json").write_text('[{"email": "di@example.com"}]')
    assert cli.json("users", "import", "array.json")["created"][0]["email"] == "di@example.com"
    assert len(cli.json("users", "list")["users"]) == 4


@pytest.mark.parametrize(
    ("name", "content", "code", "fragment"),
    [
        ("u.txt", "email\n", 2, "must end in .json or .csv"),
        ("missing.csv", None, 1, "cannot read missing.csv"),
        ("u.csv", "email,age\na@b.c,3\n", 2, "unknown column 'age'"),
        ("u.csv", "name\nAda\n", 2, "no email column"),
        ("u.csv", "email\na@b.c,extra\n", 2, "line 2: more cells than columns"),
        ("u.csv", "email\na@b.c\nnot-an-email\n", 1, "users[1].email: invalid e-mail address"),
        ("u.json", '{"users": [{"email": "a@b.c", "team": "x"}]}', 1, "unknown field"),
        ("u.json", "{", 1, "not valid JSON"),
    ],
)
def test_import_errors_change_nothing(
    cli: Cli, tmp_path: Path, name: str, content: str | None, code: int, fragment: str
) -> None:
    if content is not None:
        (tmp_path / name).write_text(content)
    _, err = cli("users", "import", name, code=code)
    assert fragment in err
    assert cli.json("users", "list")["users"] == []


# -------------------------------------------------------------------- keys


def test_keys_create_authenticates_and_revoke_stops_it(cli: Cli, data_dir: Path) -> None:
    cli("users", "create", "ada@example.com")
    out, err = cli(
        "keys",
        "create",
        "ada@example.com",
        "--name",
        "laptop",
        "--expires-in-days",
        "7",
        "--rpm",
        "60",
        "--budget-daily",
        "5",
    )
    plaintext = out.strip()
    assert out == plaintext + "\n" and plaintext.startswith("tok_")
    assert "for ada@example.com" in err and "it will not be shown again" in err
    assert plaintext not in err

    record = lookup(data_dir, plaintext)
    assert record is not None and record.user.email == "ada@example.com"
    assert record.name == "laptop" and record.limits.rpm == 60
    assert record.expires_at is not None
    soon = datetime.now(timezone.utc) + timedelta(days=7)
    assert abs((record.expires_at - soon).total_seconds()) < 60
    now = datetime.now(timezone.utc)
    principal = authorize(
        record.principal(),
        presented_key=plaintext,
        endpoint_key="openai_core",
        auth_required=True,
        now=now,
    )
    assert principal is not None and principal.email == "ada@example.com"

    made = cli.json("keys", "create", "1", "--scopes", "model")
    assert made["api_key"].startswith("tok_") and made["key"]["scopes"] == ["model"]
    assert lookup(data_dir, made["api_key"]) is not None

    out, _ = cli("keys", "list")
    rows = table(out)
    assert rows[0] == [
        "ID",
        "USER",
        "PREFIX",
        "NAME",
        "SCOPES",
        "STATE",
        "EXPIRES",
        "LAST USED",
        "LIMITS",
    ]
    assert rows[1][:6] == [
        "1",
        "ada@example.com",
        plaintext[:12] + "…",
        "laptop",
        "model",
        "active",
    ]
    assert rows[1][-1] == "60 rpm, $5/day"
    assert plaintext not in out and made["api_key"] not in out

    _, err = cli("keys", "create", "1", "--scopes", "admin", code=1)
    assert "cannot hold a key with scope 'admin'" in err

    out, _ = cli("keys", "revoke", "1")
    assert out.startswith(f"revoked API key 1 ({plaintext[:12]}…) of ada@example.com; ")
    assert "refuses it within 1 s" in out  # and says when a running gateway notices
    revoked = lookup(data_dir, plaintext)
    assert revoked is not None and revoked.revoked_at is not None
    with pytest.raises(GatewayError) as refused:
        authorize(
            revoked.principal(),
            presented_key=plaintext,
            endpoint_key="openai_core",
            auth_required=True,
            now=now,
        )
    assert refused.value.status == 401
    states = [k["state"] for k in cli.json("keys", "list", "--user", "ada@example.com")["api_keys"]]
    assert states == ["revoked", "active"]
    listed = json.dumps(cli.json("keys", "list"))
    assert plaintext not in listed and "hash" not in listed
    _, err = cli("keys", "revoke", "99", code=1)
    assert "no API key with id 99" in err
    _, err = cli("keys", "list", "--user", "9", code=1)
    assert "no user with id 9" in err


# ----------------------------------------------------------- usage, prices


def write_rows(data_dir: Path, rows: tuple[LedgerRow, ...]) -> None:
    db = dbmod.open_database(dbmod.sqlite_url(data_dir / "ledger.db"))
    migrate(db, "ledger")

    async def run() -> None:
        writer = LedgerWriter(db, flush_interval=0)
        async with trio.open_nursery() as nursery:
            await nursery.start(writer.run)
            for row in rows:
                await writer.submit(row)
            await writer.close()

    try:
        trio.run(run)
    finally:
        dbmod.close_database(db)


@pytest.fixture
def usage(cli: Cli, data_dir: Path) -> Cli:
    """The API tests' ledger rows, costed with a price added through the CLI,
    and the users they belong to."""
    cli(
        "prices",
        "add",
        "test-model*",
        "--input",
        "1",
        "--output",
        "2",
        "--cache-read",
        "0.5",
        "--cache-write",
        "1.25",
        "--effective-from",
        "2026-01-01",
    )
    cli("users", "create", "ada@example.com")
    cli("users", "create", "bo@example.com")
    write_rows(data_dir, ROWS)
    return cli


def test_usage_table(usage: Cli) -> None:
    out, _ = usage("usage")
    rows = table(out)
    assert rows == [
        ["DAY", "REQUESTS", "ERRORS", "INPUT", "OUTPUT", "CACHE READ", "CACHE WRITE", "COST USD"],
        ["2026-03-01", "2", "0", "4000", "500", "200", "0", "0.005100"],
        ["2026-03-02", "2", "1", "10", "1000000", "0", "0", "2.000000"],
        ["TOTAL", "4", "1", "4010", "1000500", "200", "0", "2.005100"],
        ["1 request matched no price: not in the cost (see 'tokligence prices list')."],
    ]
    lines = out.splitlines()
    assert len({line.index("REQUESTS") + len("REQUESTS") for line in lines[:1]}) == 1
    assert lines[1].rindex("0.005100") == lines[3].rindex("2.005100")  # right-aligned


def test_usage_by_user_names_users(usage: Cli) -> None:
    rows = table(usage("usage", "--by", "user")[0])
    assert rows[0][0] == "USER"
    assert {row[0]: row[-1] for row in rows[1:4]} == {
        "1 ada@example.com": "0.005100",
        "2 bo@example.com": "0.000000",
        "(none)": "2.000000",
    }
    keys = table(usage("usage", "--by", "key")[0])
    assert keys[0][0] == "KEY" and {row[0] for row in keys[1:5]} == {"10", "11", "12", "(none)"}


def test_usage_json_and_csv(usage: Cli) -> None:
    body = usage.json("usage", "--by", "model", "--since", "2026-03-01", "--until", "2026-03-02")
    assert body["group_by"] == "model" and body["since"] == "2026-03-01T00:00:00Z"
    assert [(r["model"], r["cost_usd"]) for r in body["rows"]] == [
        ("test-model", "0.002100000000"),
        ("test-model-b", "0.003000000000"),
    ]
    assert body["totals"]["requests"] == 2 and body["totals"]["cost_usd"] == "0.005100000000"

    out, _ = usage("usage", "--by", "provider", "--csv")
    records = list(csv.DictReader(io.StringIO(out)))
    assert [(r["provider"], r["requests"], r["cost_usd"]) for r in records] == [
        ("anthropic", "1", "0.003000000000"),
        ("openai", "3", "2.002100000000"),
    ]
    assert list(records[0]) == [
        "provider",
        "requests",
        "errors",
        "input_tokens",
        "output_tokens",
        "cache_read_tokens",
        "cache_write_tokens",
        "reasoning_tokens",
        "estimated_requests",
        "unpriced_requests",
        "cost_usd",
    ]
    only_ada = usage.json("usage", "--user", "ada@example.com")
    assert only_ada["totals"]["requests"] == 2
    only_key = usage.json("usage", "--key", "12")
    assert only_key["totals"]["errors"] == 1
    empty_csv, _ = usage("usage", "--csv", "--since", "2030-01-01")
    assert empty_csv.splitlines() == [",".join(["day", *list(records[0])[1:]])]


def test_usage_recent(usage: Cli) -> None:
    rows = table(usage("usage", "--recent", "2")[0])
    assert rows[0] == [
        "TIME (UTC)",
        "MODEL",
        "PROVIDER",
        "STATUS",
        "INPUT",
        "OUTPUT",
        "COST USD",
        "USER",
        "KEY",
    ]
    assert rows[1] == [
        "2026-03-02 02:00:00",
        "test-model",
        "openai",
        "200",
        "0",
        "1000000",
        "2.000000",
        "(none)",
        "(none)",
    ]
    assert rows[2][1] == "zzz-local-model" and rows[2][6] == "-"
    entries = usage.json("usage", "--recent", "10", "--user", "1")["entries"]
    assert [e["request_id"] for e in entries] == ["r2", "r1"]
    records = list(csv.DictReader(io.StringIO(usage("usage", "--recent", "1", "--csv")[0])))
    assert records[0]["request_id"] == "r4" and records[0]["cost_usd"] == "2.000000000000"
    _, err = usage("usage", "--recent", "3", "--by", "model", code=2)
    assert "do not apply" in err


def test_prices_add_and_list_history(cli: Cli) -> None:
    seeds = cli.json("prices", "list")["prices"]
    assert seeds and all(p["source"].startswith("seed") for p in seeds)
    out, _ = cli(
        "prices",
        "add",
        "my-model",
        "--input",
        "2.5",
        "--output",
        "10",
        "--effective-from",
        "2026-01-01T00:00:00Z",
    )
    assert out.startswith(f"added price {len(seeds) + 1}: my-model via *, USD 2.5 in / 10 out")
    added = cli.json(
        "prices",
        "add",
        "my-model",
        "--input",
        "3",
        "--output",
        "12",
        "--provider",
        "openai",
        "--cache-read",
        "0.3",
    )
    assert added["price"]["provider"] == "openai"
    assert added["price"]["cache_read_per_mtok"] == "0.300000"
    _, err = cli(
        "prices",
        "add",
        "my-model",
        "--input",
        "1",
        "--output",
        "1",
        "--effective-from",
        "2026-01-01",
        code=1,
    )
    assert "already exists" in err

    history = [p for p in cli.json("prices", "list")["prices"] if p["model_pattern"] == "my-model"]
    assert [(p["provider"], p["input_per_mtok"]) for p in history] == [
        ("*", "2.500000"),
        ("openai", "3.000000"),
    ]
    before = cli.json("prices", "list", "--at", "2025-12-31")["prices"]
    assert "my-model" not in {p["model_pattern"] for p in before}

    rows = table(cli("prices", "list")[0])
    assert rows[0] == [
        "ID",
        "MODEL PATTERN",
        "PROVIDER",
        "INPUT",
        "OUTPUT",
        "CACHE READ",
        "CACHE WRITE",
        "FROM (UTC)",
        "SOURCE",
    ]
    mine = [row for row in rows if row[1] == "my-model"]
    assert [row[2:5] for row in mine] == [["*", "2.5", "10"], ["openai", "3", "12"]]
    assert mine[0][7] == "2026-01-01 00:00:00" and mine[0][8] == "admin"


def test_ledger_disabled(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TOKLIGENCE_LEDGER_ENABLED", "false")
    _, err = cli("usage", code=1)
    assert "the ledger is disabled" in err
    _, err = cli("prices", "list", code=1)
    assert "the ledger is disabled" in err


def test_a_database_that_cannot_open_fails_cleanly(cli: Cli, data_dir: Path) -> None:
    data_dir.mkdir(parents=True)
    (data_dir / "identity.db").write_text("this is not a database" * 100)
    _, err = cli("users", "list", code=1)
    assert err.startswith("tokligence: error: cannot open the identity database sqlite:///")


def test_identity_tables_are_the_gateways(cli: Cli, data_dir: Path) -> None:
    """What the CLI writes is what the gateway reads: same file, same schema."""
    cli("users", "create", "ada@example.com")
    db = dbmod.open_database(dbmod.sqlite_url(data_dir / "identity.db"))
    try:
        migrate_identity(db)  # already current: nothing to do
        assert [u.email for u in store.list_users(db)] == ["ada@example.com"]
    finally:
        dbmod.close_database(db)


def test_usage_reports_rows_kept_in_quarantine(usage: Cli, data_dir: Path) -> None:
    _, err = usage("usage")
    assert "quarantine" not in err
    kept = data_dir / QUARANTINE_FILE
    kept.write_text('{"request_id": "a"}\n{"request_id": "b"}\n', encoding="utf-8")
    out, err = usage("usage", "--by", "model", "--csv")
    assert "quarantine" not in out  # the CSV stays clean
    assert f"note: 2 ledger rows the database refused are kept in {kept}" in err


def test_every_listing_prints_csv_with_the_json_fields(cli: Cli) -> None:
    cli("users", "create", "ada@example.com", "--name", "Ada, Countess", "--role", "gateway_admin")
    cli("keys", "create", "ada@example.com", "--rpm", "60", "--scopes", "model,admin")
    cli("prices", "add", "csv-model*", "--input", "1.5", "--output", "2")
    for argv, key in (
        (["users", "list"], "users"),
        (["keys", "list"], "api_keys"),
        (["prices", "list"], "prices"),
    ):
        out, _ = cli(*argv, "--csv")
        records = list(csv.DictReader(io.StringIO(out)))
        listed = cli.json(*argv)[key]
        assert len(records) == len(listed) >= 1, argv
        for record, item in zip(records, listed, strict=True):
            for name, value in item.items():
                if isinstance(value, dict):  # nested objects are dotted columns
                    for inner, cell in value.items():
                        expected = "" if cell is None else str(cell)
                        assert record[f"{name}.{inner}"] == expected, (argv, name, inner)
                elif isinstance(value, list):
                    assert record[name] == ",".join(value), (argv, name)
                else:
                    assert record[name] == ("" if value is None else str(value)), (argv, name)
    users = list(csv.DictReader(io.StringIO(cli("users", "list", "--csv")[0])))
    assert "Ada, Countess" in {u["display_name"] for u in users}  # a comma stays in its cell
    keys = list(csv.DictReader(io.StringIO(cli("keys", "list", "--csv")[0])))
    assert keys[-1]["scopes"] == "model,admin" and keys[-1]["limits.rpm"] == "60"
    cli("users", "list", "--csv", "--json", code=2)
