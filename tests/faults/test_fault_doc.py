"""docs/architecture.md shows the fault matrix's answers, fault by fault:
the table there is the one this matrix plays (no gateway needed here)."""

from __future__ import annotations

from pathlib import Path

from .matrix import FAULTS, Answer, Fault

DOC = Path(__file__).parents[2] / "docs" / "architecture.md"


def before(answer: Answer | None) -> str:
    if answer is None:
        return "--"
    if answer.in_stream:
        return "--"
    if answer.kind is None:
        return "accepted"
    return f"{answer.status}, {'retried' if answer.retried else 'not retried'}"


def after(answer: Answer | None) -> str:
    if answer is None or not answer.in_stream:
        return "accepted" if answer is not None and answer.kind is None else "--"
    return "in-stream error"


def row(fault: Fault) -> str:
    whole, streamed = fault.whole, fault.streamed
    assert isinstance(whole, Answer | None) and isinstance(streamed, Answer | None)
    first = before(whole)
    if whole is not None and streamed is not None and not streamed.in_stream:
        assert before(streamed) == first, fault.id  # one answer before the first byte
    return f"| {fault.what} | {first} | {after(streamed)} |"


def test_the_doc_lists_every_fault_with_its_answer() -> None:
    doc = DOC.read_text()
    shown = doc.split("<!-- upstream-faults:", 1)[1].split("<!-- /upstream-faults", 1)[0]
    rows = [line for line in shown.splitlines() if line.startswith("| ") and "---" not in line][1:]
    expected = [row(fault) for fault in FAULTS if not fault.id.startswith("http_")]
    assert rows[: len(expected)] == expected
