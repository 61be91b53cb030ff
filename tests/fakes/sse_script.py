"""Turn a script of SSE events into the exact bytes and chunks a fake upstream sends.

Theory of operation
-------------------
A protocol builder (``openai_chat``, ``anthropic``, ``openai_responses``)
produces a list of ``Item``s: events ``(name or None, payload)`` where the
payload is a JSON-able dict (dumped compactly, raw UTF-8 so characters can be
split across chunks) or a raw string such as ``"[DONE]"``; ``Comment`` lines;
``Raw`` bytes (garbage, half lines); and ``Gap``s of silence. ``Framing``
then decides everything about the bytes that is not protocol content:

* line ending (``"\\n"``, ``"\\r\\n"`` or ``"\\r"``), ``data:`` with or without
  the space, ``pad_json`` trailing spaces inside data lines (recorded
  Anthropic streams have them);
* ``insert``: extra items (pings, comments, gaps, garbage) placed before item
  ``i`` of the builder's list (``i == len(items)`` appends);
* chunking: one chunk per item (``split="event"``), the whole stream at once
  (``"whole"``), every ``split_every`` bytes (cuts fall inside multi-byte
  characters and inside ``data:`` lines), or at explicit byte ``offsets``;
* truncation: ``cut_after`` keeps the builder's first N items,
  ``cut_at_byte`` keeps the first N bytes; either makes the reply close the
  TCP connection abruptly (no terminating chunk).

A ``Gap`` always forces a chunk boundary where it stands and becomes the
``delay`` of the chunk that follows it (a gap at the very end delays the
close). Indices in ``insert`` and ``cut_after`` refer to the builder's item
list, which each builder exposes as ``*_events(scenario)`` so tests can look.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, TypeAlias

from .wire import Chunk, Reply


@dataclass(frozen=True, kw_only=True, slots=True)
class Comment:
    """An SSE comment line (``: text``), followed by a blank line when asked."""

    text: str = "keep-alive"
    blank_line: bool = True


@dataclass(frozen=True, kw_only=True, slots=True)
class Gap:
    """Silence of ``seconds`` before whatever follows."""

    seconds: float


@dataclass(frozen=True, kw_only=True, slots=True)
class Raw:
    """Bytes written verbatim (a malformed line, a stray byte…)."""

    data: bytes


Event: TypeAlias = tuple[str | None, Any]
Item: TypeAlias = Event | Comment | Gap | Raw

SSE_HEADERS: tuple[tuple[str, str], ...] = (
    ("content-type", "text/event-stream; charset=utf-8"),
    ("cache-control", "no-cache"),
)


@dataclass(frozen=True, kw_only=True)
class Framing:
    eol: Literal["\n", "\r\n", "\r"] = "\n"
    space_after_colon: bool = True
    pad_json: int = 0
    insert: Mapping[int, Sequence[Item]] = field(default_factory=dict)
    split: Literal["event", "whole"] = "event"
    split_every: int | None = None
    offsets: Sequence[int] = ()
    cut_after: int | None = None
    cut_at_byte: int | None = None

    @property
    def cuts(self) -> bool:
        return self.cut_after is not None or self.cut_at_byte is not None


def only_events(items: Sequence[Item]) -> list[Event]:
    """The ``(name, payload)`` events of a script, without comments, gaps or raw bytes."""
    return [item for item in items if isinstance(item, tuple)]


def dumps(payload: Any) -> str:
    return json.dumps(payload, ensure_ascii=False, separators=(",", ":"))


def encode(item: Item, framing: Framing = Framing()) -> bytes:
    """The bytes of one item (a gap has none)."""
    eol = framing.eol
    if isinstance(item, Gap):
        return b""
    if isinstance(item, Raw):
        return item.data
    if isinstance(item, Comment):
        return (
            f":{' ' if item.text else ''}{item.text}{eol}{eol if item.blank_line else ''}".encode()
        )
    name, payload = item
    colon = ": " if framing.space_after_colon else ":"
    text = payload if isinstance(payload, str) else dumps(payload) + " " * framing.pad_json
    lines = [] if name is None else [f"event{colon}{name}"]
    lines += [f"data{colon}{line}" for line in text.split("\n")]
    return (eol.join(lines) + eol + eol).encode()


def arrange(items: Sequence[Item], framing: Framing) -> list[Item]:
    """Apply ``insert`` and ``cut_after`` to a builder's item list."""
    unknown = [i for i in framing.insert if not 0 <= i <= len(items)]
    if unknown:
        raise ValueError(f"insert positions {unknown} outside 0..{len(items)}")
    keep = len(items) if framing.cut_after is None else framing.cut_after
    out: list[Item] = []
    for index in range(len(items) + 1):
        if index > keep:
            break
        out.extend(framing.insert.get(index, ()))
        if index < min(keep, len(items)):
            out.append(items[index])
    return out


def to_chunks(items: Sequence[Item], framing: Framing = Framing()) -> tuple[Chunk, ...]:
    """Render, truncate and split ``items`` into the chunks the wire sends."""
    stream = bytearray()
    starts: list[int] = []  # where each item with bytes begins
    gaps: dict[int, float] = {}  # offset -> silence before it
    for item in arrange(items, framing):
        if isinstance(item, Gap):
            gaps[len(stream)] = gaps.get(len(stream), 0.0) + item.seconds
            continue
        starts.append(len(stream))
        stream += encode(item, framing)
    if framing.cut_at_byte is not None:
        del stream[framing.cut_at_byte :]
        gaps = {at: s for at, s in gaps.items() if at <= len(stream)}
    size = len(stream)
    if framing.split_every is not None:
        if framing.split_every < 1:
            raise ValueError("split_every must be positive")
        cuts = set(range(framing.split_every, size, framing.split_every))
    elif framing.offsets:
        cuts = set(framing.offsets)
    elif framing.split == "event":
        cuts = set(starts)
    else:
        cuts = set()
    bounds = sorted({0, *(c for c in cuts if 0 < c < size), *(g for g in gaps if g < size)})
    chunks = [
        Chunk(data=bytes(stream[start:end]), delay=gaps.get(start, 0.0))
        for start, end in zip(bounds, [*bounds[1:], size], strict=True)
        if end > start or gaps.get(start)
    ]
    if size in gaps and size > 0:
        chunks.append(Chunk(data=b"", delay=gaps[size]))
    return tuple(chunks)


def sse_reply(
    items: Sequence[Item],
    framing: Framing = Framing(),
    *,
    headers: tuple[tuple[str, str], ...] = (),
    abrupt: bool = False,
) -> Reply:
    """A chunked 200 ``text/event-stream`` reply; abrupt close when asked or the framing cuts."""
    return Reply(
        status=200,
        headers=(*SSE_HEADERS, *headers),
        chunks=to_chunks(items, framing),
        chunked=True,
        close_abruptly=abrupt or framing.cuts,
    )
