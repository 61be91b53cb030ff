"""Lifecycle hooks with a real script: the JSON it reads, the arguments and
environment it gets, and that failing or hanging scripts are logged, not raised."""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pytest
import trio

from tokligence.identity.hooks import (
    EVENTS,
    ORIGINAL_TYPES,
    HookRunner,
    parse_args,
    parse_env,
    parse_timeout,
)
from tokligence.identity.keys import generate_key, hash_key
from tokligence.identity.records import KeyRecord, UserRecord
from tokligence.limits import KeyLimits

from .fakes import T0

ADA = UserRecord(
    id=42,
    email="ada@example.com",
    display_name="Ada",
    role="gateway_user",
    status="active",
    created_at=T0,
    updated_at=T0,
)
RECORDER = """
import json, os, sys
out = sys.argv[1]
with open(out, "a", encoding="utf-8") as f:
    f.write(json.dumps({"stdin": sys.stdin.read(), "argv": sys.argv[2:],
                        "env": os.environ.get("HOOK_TEST")}) + "\\n")
"""


def runner(tmp_path: Path, code: str, *args: str, **kw: Any) -> HookRunner:
    script = tmp_path / "hook.py"
    script.write_text(code)
    return HookRunner(
        Path(sys.executable),
        args=(str(script), *args),
        now=lambda: datetime(2025, 2, 18, 10, 3, 23, tzinfo=timezone.utc),
        new_id=lambda: "evt-1",
        **kw,
    )


def calls(out: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in out.read_text().splitlines()]


async def test_a_script_reads_the_event_as_json_on_stdin(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    hooks = runner(tmp_path, RECORDER, str(out), "--flag", env={"HOOK_TEST": "yes"})
    assert await hooks.emit("user.created", user=ADA, actor_id=1) is True
    (call,) = calls(out)
    assert call["argv"] == ["--flag"] and call["env"] == "yes"
    assert json.loads(call["stdin"]) == {
        "event": "user.created",
        "type": "gateway.user.provisioned",
        "id": "evt-1",
        "time": "2025-02-18T10:03:23Z",
        "occurred_at": "2025-02-18T10:03:23Z",
        "tenant_id": "",
        "user_id": "42",
        "actor_id": "1",
        "user": {
            "id": 42,
            "email": "ada@example.com",
            "display_name": "Ada",
            "role": "gateway_user",
            "status": "active",
            "created_at": "2025-03-12T12:00:00Z",
            "updated_at": "2025-03-12T12:00:00Z",
        },
        "metadata": {
            "email": "ada@example.com",
            "role": "gateway_user",
            "display_name": "Ada",
            "status": "active",
        },
    }


async def test_key_events_name_the_key_by_prefix_only(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    hooks = runner(tmp_path, RECORDER, str(out))
    key = generate_key()
    record = KeyRecord(
        id=9,
        user=ADA,
        name="laptop",
        prefix=key[:12],
        scopes=("model",),
        created_at=T0,
        limits=KeyLimits(rpm=60),
    )
    for event in ("key.issued", "key.revoked"):
        assert await hooks.emit(event, user=ADA, key=record)
    issued, revoked = calls(out)
    body = json.loads(issued["stdin"])
    assert body["type"] == "gateway.api_key.issued"
    assert json.loads(revoked["stdin"])["type"] == "gateway.api_key.revoked"
    assert body["key"]["prefix"] == key[:12] and body["key"]["limits"]["rpm"] == 60
    assert body["metadata"]["key_prefix"] == key[:12] and body["actor_id"] == ""
    for call in (issued, revoked):
        assert key not in call["stdin"] and key[12:] not in call["stdin"]
        assert hash_key(key) not in call["stdin"]


async def test_a_hanging_script_is_killed_at_the_timeout_and_logged(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    pid_file = tmp_path / "pid"
    code = (
        f"import os, time\nopen({str(pid_file)!r}, 'w').write(str(os.getpid()))\ntime.sleep(60)\n"
    )
    hooks = runner(tmp_path, code, timeout=1.5)
    started = trio.current_time()
    with caplog.at_level(logging.ERROR, logger="tokligence.identity.hooks"):
        assert await hooks.emit("user.deleted", user=ADA) is False
    assert trio.current_time() - started < 10
    assert "timed out after 1.5s on user.deleted and was killed" in caplog.text
    with pytest.raises(ProcessLookupError):
        os.kill(int(pid_file.read_text()), 0)


async def test_a_failing_script_is_logged_not_raised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    code = (
        "import sys\nsys.stdin.read()\nprint('boom: ' + 'x' * 600, file=sys.stderr)\nsys.exit(3)\n"
    )
    hooks = runner(tmp_path, code)
    with caplog.at_level(logging.ERROR, logger="tokligence.identity.hooks"):
        assert await hooks.emit("user.updated", user=ADA) is False
    assert "failed on user.updated with exit status 3: " in caplog.text
    assert "boom" not in caplog.text  # only the tail of a long stderr is kept
    assert "x" * 500 in caplog.text


async def test_a_missing_script_is_logged(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    hooks = HookRunner(tmp_path / "no-such-script")
    with caplog.at_level(logging.ERROR, logger="tokligence.identity.hooks"):
        assert await hooks.emit("user.created", user=ADA) is False
    assert "could not run for user.created" in caplog.text


async def test_without_a_script_nothing_runs() -> None:
    hooks = HookRunner(None)
    assert not hooks.enabled
    assert await hooks.emit("user.created", user=ADA) is False


def test_every_event_has_its_original_name() -> None:
    assert set(ORIGINAL_TYPES) == set(EVENTS)
    assert all(name.startswith("gateway.") for name in ORIGINAL_TYPES.values())


@pytest.mark.parametrize(
    ("text", "args"),
    [("", ()), ("--seed, --refresh", ("--seed", "--refresh")), ("--from-env", ("--from-env",))],
)
def test_parse_args(text: str, args: tuple[str, ...]) -> None:
    assert parse_args(text) == args


def test_parse_env() -> None:
    assert parse_env("FOO=BAR, BIZ=a=b,") == {"FOO": "BAR", "BIZ": "a=b"}
    assert parse_env("") == {}
    with pytest.raises(ValueError, match="'API_KEY' is not NAME=VALUE"):
        parse_env("API_KEY")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("30s", 30), ("1m30s", 90), ("500ms", 0.5), ("1h", 3600), ("2.5", 2.5), (" 45s ", 45)],
)
def test_parse_timeout(text: str, seconds: float) -> None:
    assert parse_timeout(text) == pytest.approx(seconds)


@pytest.mark.parametrize("text", ["", "soon", "30x", "0s", "-1", "1m soon", "inf"])
def test_bad_timeouts(text: str) -> None:
    with pytest.raises(ValueError, match="hook timeout"):
        parse_timeout(text)


ENV_RECORDER = """
import json, os, sys
with open(sys.argv[1], "w", encoding="utf-8") as f:
    json.dump({k: os.environ.get(k) for k in ("LD_LIBRARY_PATH", "_PYI_ARCHIVE_FILE")}, f)
"""


async def test_from_the_binary_a_script_gets_the_environment_without_the_bootloaders(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The single-file binary's bootloader points LD_LIBRARY_PATH into its
    # unpack folder (keeping the user's in LD_LIBRARY_PATH_ORIG) and marks
    # its child with _PYI_* variables; a hook script is another program.
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setenv("LD_LIBRARY_PATH", str(tmp_path / "_MEI123"))
    monkeypatch.setenv("LD_LIBRARY_PATH_ORIG", "/opt/users/lib")
    monkeypatch.setenv("_PYI_ARCHIVE_FILE", "/usr/local/bin/tokligence")
    out = tmp_path / "env.json"
    hooks = runner(tmp_path, ENV_RECORDER, str(out))
    assert await hooks.emit("user.created", user=ADA, actor_id=1) is True
    assert json.loads(out.read_text()) == {
        "LD_LIBRARY_PATH": "/opt/users/lib",
        "_PYI_ARCHIVE_FILE": None,
    }


async def test_any_stored_text_reaches_the_script_as_json(tmp_path: Path) -> None:
    out = tmp_path / "calls.jsonl"
    hooks = runner(tmp_path, RECORDER, str(out))
    odd = dataclasses.replace(ADA, display_name="Ada \ud800 Lovelace é")
    assert await hooks.emit("user.updated", user=odd) is True
    (call,) = calls(out)
    assert json.loads(call["stdin"])["user"]["display_name"] == "Ada \ud800 Lovelace é"


async def test_a_hook_that_cannot_even_start_never_raises(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, monkeypatch: pytest.MonkeyPatch
) -> None:
    hooks = runner(tmp_path, RECORDER, str(tmp_path / "calls.jsonl"))

    def broken(*args: object, **kwargs: object) -> dict[str, Any]:
        raise RuntimeError("envelope broke")

    monkeypatch.setattr("tokligence.identity.hooks.envelope", broken)
    with caplog.at_level(logging.ERROR, logger="tokligence.identity.hooks"):
        assert await hooks.emit("user.created", user=ADA) is False
    assert "envelope broke" in caplog.text
