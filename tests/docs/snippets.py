"""Fenced code blocks of the project's Markdown, for the tests that run them."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.MULTILINE | re.DOTALL)


@dataclass(frozen=True)
class Block:
    file: str  # relative to the repository root
    line: int
    lang: str
    text: str

    @property
    def key(self) -> str:
        """How a block is named in a test's table: its file and first line."""
        return f"{self.file}: {self.text.splitlines()[0].strip()}"


def blocks(relative: str) -> list[Block]:
    text = (ROOT / relative).read_text(encoding="utf-8")
    return [
        Block(
            file=relative,
            line=text.count("\n", 0, match.start()) + 1,
            lang=match.group(1),
            text=match.group(2),
        )
        for match in FENCE.finditer(text)
    ]
