"""Model aliases from settings and files, and their live reload."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.gateway_thread import isolated_config
from tokligence.app import build, refresh_aliases
from tokligence.config import alias_text


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
    stamp = alias_text(config)[1]

    assert refresh_aliases(built, stamp) == stamp  # unchanged: nothing happens
    write(alias_file, "claude-sonnet* => loopback-b\n", 2_000)
    stamp = refresh_aliases(built, stamp)
    assert router.resolve("claude-sonnet-4").upstream_model == "loopback-b"

    alias_file.unlink()  # unreadable: the aliases in force stay
    assert refresh_aliases(built, stamp) == stamp
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
def test_a_malformed_alias_file_stops_start_up(tmp_path: Path, text: str) -> None:
    from tokligence.config import ConfigError

    alias_file = tmp_path / "bad.aliases"
    alias_file.write_text(text)
    config = isolated_config(tmp_path, env={"TOKLIGENCE_MODEL_ALIASES_FILE": str(alias_file)})
    with pytest.raises(ConfigError):
        build(config)
