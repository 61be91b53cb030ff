"""Model aliases from settings and files, and their live reload."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from tests.gateway_thread import isolated_config
from tokligence.alias_files import alias_stamp
from tokligence.app import build, refresh_aliases
from tokligence.config import ConfigError


def write(path: Path, text: str, mtime: float) -> None:
    path.write_text(text)
    os.utime(path, (mtime, mtime))


def test_files_override_the_inline_setting_and_reload_when_changed(tmp_path: Path) -> None:
    alias_file = tmp_path / "aliases.conf"
    write(alias_file, "# comment\nclaude-sonnet* => loopback-a\n", 1_000)
    config = isolated_config(
        tmp_path,
        env={
            "TOKLIGENCE_MODEL_ALIASES": "claude-sonnet-4=>loopback-inline, gpt-x=>loopback-g",
            "TOKLIGENCE_MODEL_ALIASES_FILE": str(alias_file),
            "TOKLIGENCE_ROUTES": "claude*=>loopback, gpt*=>loopback",
        },
    )
    built = build(config)
    router = built.router
    assert router.resolve("claude-sonnet-4").upstream_model == "loopback-a"  # the file wins
    assert router.resolve("gpt-x").upstream_model == "loopback-g"  # inline still applies
    stamp = alias_stamp(config)

    assert refresh_aliases(built, stamp) == stamp  # unchanged: nothing happens
    write(alias_file, "claude-sonnet* => loopback-b\n", 2_000)
    stamp = refresh_aliases(built, stamp)
    assert router.resolve("claude-sonnet-4").upstream_model == "loopback-b"

    alias_file.unlink()  # unreadable: the aliases in force stay
    stamp = refresh_aliases(built, stamp)
    assert router.resolve("claude-sonnet-4").upstream_model == "loopback-b"


def test_alias_dir_reads_every_visible_file_later_names_winning(tmp_path: Path) -> None:
    folder = tmp_path / "aliases.d"
    folder.mkdir()
    write(folder / "10-base.aliases", "m1 => loopback-base\nm2 => loopback-base\n", 1)
    write(folder / "20-override.aliases", "m1 => loopback-override\n", 1)
    write(folder / ".hidden", "m2 => loopback-hidden\n", 1)
    config = isolated_config(
        tmp_path,
        env={"TOKLIGENCE_MODEL_ALIASES_DIR": str(folder), "TOKLIGENCE_ROUTES": "m*=>loopback"},
    )
    router = build(config).router
    assert router.resolve("m1").upstream_model == "loopback-override"
    assert router.resolve("m2").upstream_model == "loopback-base"


@pytest.mark.parametrize("text", ["no arrow here", "=> target"])
def test_a_malformed_alias_file_stops_start_up_naming_the_file(tmp_path: Path, text: str) -> None:
    alias_file = tmp_path / "bad.aliases"
    alias_file.write_text(text)
    config = isolated_config(tmp_path, env={"TOKLIGENCE_MODEL_ALIASES_FILE": str(alias_file)})
    with pytest.raises(ConfigError) as caught:
        build(config)
    message = str(caught.value)
    assert f"alias entry in alias file {alias_file} (model_aliases_file)" in message
    assert "route entry" not in message


def test_a_missing_alias_file_names_its_setting(tmp_path: Path) -> None:
    missing = tmp_path / "nope.aliases"
    config = isolated_config(tmp_path, env={"TOKLIGENCE_MODEL_ALIASES_FILE": str(missing)})
    with pytest.raises(ConfigError) as caught:
        build(config)
    assert (
        f"alias file {missing} (model_aliases_file, TOKLIGENCE_MODEL_ALIASES_FILE) cannot be "
        "read: No such file or directory" in str(caught.value)
    )


def test_a_broken_alias_file_is_reported_once_per_change(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    alias_file = tmp_path / "aliases.conf"
    write(alias_file, "m => loopback-a\n", 1_000)
    config = isolated_config(
        tmp_path,
        env={"TOKLIGENCE_MODEL_ALIASES_FILE": str(alias_file), "TOKLIGENCE_ROUTES": "m*=>loopback"},
    )
    built = build(config)
    stamp = alias_stamp(config)
    write(alias_file, "m loopback-b\n", 2_000)  # broken
    with caplog.at_level(logging.ERROR, logger="tokligence.app"):
        for _ in range(3):
            stamp = refresh_aliases(built, stamp)
    assert len([r for r in caplog.records if "not reloaded" in r.getMessage()]) == 1
    assert built.router.resolve("m").upstream_model == "loopback-a"  # the good ones stay
    write(alias_file, "m => loopback-c\n", 3_000)  # fixed
    refresh_aliases(built, stamp)
    assert built.router.resolve("m").upstream_model == "loopback-c"
