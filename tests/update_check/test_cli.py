"""``tokligence version --check``: on demand, one answer, never a traceback."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.fakes.registry import GARBAGE, HANG, PATHS, newer_answer
from tests.fakes.wire import FakeServer
from tokligence import __version__
from tokligence.cli import main

EXIT_NO_ANSWER = 1


@pytest.fixture
def registry(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeServer]:
    """A fake pip index in a thread, and a CLI configured to ask it."""
    for name in list(os.environ):
        if name.startswith("TOKLIGENCE_"):
            monkeypatch.delenv(name)
    for xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / xdg.lower()))
    monkeypatch.chdir(tmp_path)
    fake = FakeServer()
    with fake.running_in_thread() as url:
        monkeypatch.setenv("TOKLIGENCE_UPDATE_CHECK_URL", url + "/simple")
        yield fake


def test_without_check_nothing_is_asked(
    registry: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["version"]) == 0
    assert capsys.readouterr().out == f"tokligence {__version__}\n"
    assert registry.received == []


def test_newer(registry: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    assert main(["version", "--check"]) == 0
    assert capsys.readouterr().out == (
        f"tokligence {__version__}\n"
        f"latest: 99.1.0 (asked {registry.url}/simple/tokligence/)\n"
        "upgrade: pip install --upgrade tokligence\n"
    )


def test_up_to_date(registry: FakeServer, capsys: pytest.CaptureFixture[str]) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", __version__))
    assert main(["version", "--check"]) == 0
    assert capsys.readouterr().out.endswith(")\nup to date\n")


def test_on_demand_ignores_the_days_memory_and_ci(
    registry: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    registry.set_default(PATHS["pip"], newer_answer(registry, "pip", "99.1.0"))
    monkeypatch.setenv("CI", "true")
    assert main(["version", "--check"]) == 0
    assert main(["version", "--check"]) == 0
    assert len(registry.received) == 2


@pytest.mark.parametrize("garbage", ["html", "truncated json", "server error", "huge body"])
def test_garbage_is_one_line_and_exit_1(
    garbage: str, registry: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.set_default(PATHS["pip"], GARBAGE[garbage])
    assert main(["version", "--check"]) == EXIT_NO_ANSWER
    out, err = capsys.readouterr()
    assert out == f"tokligence {__version__}\n"
    assert err.startswith("tokligence: could not check for updates: ")
    assert err.count("\n") == 1 and "Traceback" not in err


def test_offline_is_one_line_and_exit_1(
    registry: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_UPDATE_CHECK_URL", "http://127.0.0.1:9/simple")
    assert main(["version", "--check"]) == EXIT_NO_ANSWER
    assert "could not check for updates: cannot connect" in capsys.readouterr().err


def test_a_hanging_registry_is_given_up_on(
    registry: FakeServer, capsys: pytest.CaptureFixture[str]
) -> None:
    registry.set_default(PATHS["pip"], HANG)
    assert main(["version", "--check"]) == EXIT_NO_ANSWER
    assert "no answer within 5 s" in capsys.readouterr().err


def test_off_says_so(
    registry: FakeServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_UPDATE_CHECK_ENABLED", "false")
    assert main(["version", "--check"]) == EXIT_NO_ANSWER
    assert "update_check_enabled = false" in capsys.readouterr().err
    assert registry.received == []


def test_a_configuration_error_is_exit_2(
    registry: FakeServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TOKLIGENCE_UPDATE_CHECK_ENABLED", "maybe")
    assert main(["version", "--check"]) == 2
