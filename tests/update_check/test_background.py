"""The gateway's daily check: one line when newer, silence otherwise, at
most one question a day, and off when told or in CI."""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import pytest

from tests.fakes.registry import GARBAGE, PATHS, newer_answer
from tests.fakes.wire import FakeServer
from tokligence import __version__
from tokligence.update.check import INTERVAL, STATE_FILE, background

from .conftest import config_for, environ_for

LOGGER = "tokligence.update.check"


def lines(caplog: pytest.LogCaptureFixture, level: int = logging.INFO) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == LOGGER and r.levelno >= level]


@pytest.fixture(autouse=True)
def _capture(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG, logger=LOGGER)


@pytest.mark.parametrize("kind", ["pip", "npx", "binary"])
async def test_a_newer_version_is_one_line_naming_the_upgrade(
    kind: str,
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.set_default(PATHS[kind], newer_answer(registry, kind, "99.1.0"))
    await background(config_for(tmp_path, registry, kind), environ_for(kind, monkeypatch))
    [line] = lines(caplog)
    assert line.startswith("tokligence ") and f"is available (you have {__version__}): " in line
    assert "99.1.0" in line
    upgrade = {
        "pip": "pip install --upgrade tokligence",
        "npx": "npx @tokligence/gateway@latest",
        "binary": f"download it from {registry.url}/releases/latest",
    }
    assert upgrade[kind] in line


async def test_up_to_date_is_silent(
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", __version__))
    await background(config_for(tmp_path, registry, "pip"), environ_for("pip", monkeypatch))
    assert len(registry.received) == 1
    assert lines(caplog) == []


@pytest.mark.parametrize("garbage", ["html", "truncated json", "server error", "huge body"])
async def test_garbage_is_silent_but_for_debug(
    garbage: str,
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.set_default(PATHS["pip"], GARBAGE[garbage])
    await background(config_for(tmp_path, registry, "pip"), environ_for("pip", monkeypatch))
    assert len(registry.received) == 1
    assert lines(caplog) == []
    assert len(lines(caplog, logging.DEBUG)) == 1


async def test_once_a_day_and_the_answer_is_remembered(
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    config = config_for(tmp_path, registry, "pip")
    environ = environ_for("pip", monkeypatch)
    for _ in range(3):  # restarts, or other gateways on the same data dir
        await background(config, environ)
    assert len(registry.received) == 1
    assert len(lines(caplog)) == 3  # each start says so, from memory
    state = config.data_dir / STATE_FILE
    memory = json.loads(state.read_text())
    memory["checked_at"] = time.time() - INTERVAL - 60  # a day and a minute ago
    state.write_text(json.dumps(memory))
    await background(config, environ)
    assert len(registry.received) == 2


async def test_a_failed_check_waits_a_day_too(
    registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS["pip"], GARBAGE["not found"])
    config = config_for(tmp_path, registry, "pip")
    await background(config, environ_for("pip", monkeypatch))
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    await background(config, environ_for("pip", monkeypatch))
    assert len(registry.received) == 1


async def test_another_kind_of_installation_asks_again(
    registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    registry.set_default(PATHS["npm"], newer_answer(registry, "npm", "99.1.0"))
    pip = config_for(tmp_path, registry, "pip")
    await background(pip, environ_for("pip", monkeypatch))
    npm = config_for(tmp_path, registry, "npm")
    await background(npm, environ_for("npm", monkeypatch))
    assert [r.path for r in registry.received] == [PATHS["pip"], PATHS["npm"]]


@pytest.mark.parametrize(
    ("env", "environ", "asks"),
    [
        ({"TOKLIGENCE_UPDATE_CHECK_ENABLED": "false"}, {}, False),
        ({}, {"CI": "true"}, False),
        ({}, {"CI": "1"}, False),
        ({}, {"CI": "false"}, True),
        ({}, {"CI": ""}, True),
        ({"TOKLIGENCE_UPDATE_CHECK_ENABLED": "true"}, {}, True),
    ],
)
async def test_off_when_told_and_in_ci(
    env: dict[str, str],
    environ: dict[str, str],
    asks: bool,
    registry: FakeServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    config = config_for(tmp_path, registry, "pip", **env)
    await background(config, environ_for("pip", monkeypatch) | environ)
    assert len(registry.received) == (1 if asks else 0)


async def test_a_data_dir_it_cannot_write_means_no_check(
    registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    (tmp_path / "data").write_text("a file where the data dir should be")
    await background(config_for(tmp_path, registry, "pip"), environ_for("pip", monkeypatch))
    assert registry.received == []


async def test_a_broken_memory_file_is_as_if_never_checked(
    registry: FakeServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    config = config_for(tmp_path, registry, "pip")
    config.data_dir.mkdir(parents=True)
    (config.data_dir / STATE_FILE).write_text('{"checked_at": "soon", "answer": [')
    await background(config, environ_for("pip", monkeypatch))
    assert len(registry.received) == 1
