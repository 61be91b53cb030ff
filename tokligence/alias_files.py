"""Model alias files: what they hold and whether they changed.

Aliases come from ``model_aliases`` (inline), ``model_aliases_file`` and
every visible regular file of ``model_aliases_dir``; ``app.refresh_aliases``
re-reads them every ``model_aliases_reload_sec``, comparing modification
times first (:func:`alias_stamp`) so that an unchanged set costs no read. A
file that cannot be read or parsed is named, with its setting, in the error.
"""

from __future__ import annotations

from pathlib import Path

from .config import Config
from .routing.rules import Alias, parse_aliases
from .settings_table import ENV_PREFIX

AliasStamp = tuple[tuple[str, float], ...]


def _alias_files(config: Config) -> list[tuple[Path, str]]:
    """The alias files, lowest precedence first, each with the setting that
    named it (for errors)."""
    files: list[tuple[Path, str]] = []
    if config.model_aliases_file is not None:
        files.append((config.model_aliases_file, "model_aliases_file"))
    folder = config.model_aliases_dir
    if folder is not None and folder.is_dir():
        files.extend(
            (path, "model_aliases_dir")
            for path in sorted(folder.iterdir())
            if path.is_file() and not path.name.startswith(".")
        )
    return files


def alias_stamp(config: Config) -> AliasStamp:
    """The alias files' modification times (-1: cannot be read), so a reload
    can tell whether anything changed without reading them."""
    stamp = []
    for path, _ in _alias_files(config):
        try:
            stamp.append((str(path), path.stat().st_mtime))
        except OSError:
            stamp.append((str(path), -1.0))
    return tuple(stamp)


def load_aliases(config: Config) -> tuple[Alias, ...]:
    """All aliases, highest precedence first (aliases match first-wins): the
    alias dir's regular non-hidden files (a later name wins), then the alias
    file, then ``model_aliases`` -- files override the inline setting as in
    the original. A file that cannot be read or parsed raises ValueError
    naming the file and the setting."""
    aliases: list[Alias] = []
    for path, setting in reversed(_alias_files(config)):
        variable = ENV_PREFIX + setting.upper()
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8"
            raise ValueError(
                f"alias file {path} ({setting}, {variable}) cannot be read: {reason}"
            ) from None
        aliases.extend(parse_aliases(text, source=f"alias file {path} ({setting})"))
    aliases.extend(parse_aliases(config.model_aliases, source="setting model_aliases"))
    return tuple(aliases)
