"""Shell call normalisation: a ``shell`` tool call whose ``command`` came
back as one string becomes the argv list the client declared (pure).

Theory of operation
-------------------
Codex's ``shell`` tool takes ``command`` as an argv array and runs it without
a shell. Models reached by translation (Claude, local models) often answer
with ``{"command": "ls -la | head"}`` instead, or with an array holding the
whole command line as its only element; Codex then fails to run it. The
original Go gateway repaired such calls on their way back to Codex; this does
the same, for every client dialect, with these rules:

* It applies only when the request declares a function tool named ``shell``
  whose ``command`` parameter is an array: a client whose ``shell`` takes a
  string is left alone.
* ``command`` a string that is a JSON array of strings (a model that quoted
  the array) becomes that array; any other non-blank string ``S`` becomes
  ``["bash", "-lc", S]``, the form Codex itself uses for shell scripts.
* ``command`` an array of exactly one string that needs a shell (whitespace,
  quotes, ``| & ; < >``) becomes ``["bash", "-lc", S]``.
* Anything else, including arguments that are not a JSON object or are
  larger than :data:`MAX_ARGUMENT_BYTES`, goes through unchanged.

Only tool calls from an upstream to the client are touched, on translated and
native (loopback) calls; passthrough bytes are never rewritten. Streamed
arguments arrive in arbitrary slices, so :class:`ShellCallFixer` holds back
the argument deltas of a ``shell`` call until its ``ToolCallEnd`` and then
emits the (possibly rewritten) arguments as one delta. Other calls and all
other events pass through at once.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import aclosing
from typing import Any

from ..canonical import (
    Event,
    Finish,
    FunctionTool,
    Request,
    StreamError,
    ToolCallDelta,
    ToolCallEnd,
    ToolCallStart,
)

SHELL_TOOL = "shell"
WRAPPER = ("bash", "-lc")
# The original's limit: larger arguments are passed on untouched.
MAX_ARGUMENT_BYTES = 50_000
_NEEDS_SHELL = frozenset(" \t\n\r'\"|&;<>")


def wants_argv(request: Request) -> bool:
    """Does the client declare a ``shell`` function taking an argv array?"""
    for tool in request.tools:
        if isinstance(tool, FunctionTool) and tool.name == SHELL_TOOL:
            properties = (tool.parameters or {}).get("properties")
            command = properties.get("command") if isinstance(properties, dict) else None
            return isinstance(command, dict) and command.get("type") == "array"
    return False


def _argv_from_string(command: str) -> list[str] | None:
    text = command.strip()
    if not text:
        return None
    if text.startswith("[") and text.endswith("]"):
        try:
            value = json.loads(text)
        except ValueError:
            value = None
        if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
            return value
    return [*WRAPPER, command]


def _fixed_command(command: Any) -> list[str] | None:
    if isinstance(command, str):
        return _argv_from_string(command)
    if (
        isinstance(command, list)
        and len(command) == 1
        and isinstance(command[0], str)
        and command[0].strip()
        and any(ch in _NEEDS_SHELL for ch in command[0].strip())
    ):
        return [*WRAPPER, command[0]]
    return None


def normalize_arguments(arguments: str) -> str:
    """The arguments of a ``shell`` call, with ``command`` made argv if it
    was not (see the module docstring); unchanged otherwise."""
    if len(arguments) > MAX_ARGUMENT_BYTES:
        return arguments
    try:
        value = json.loads(arguments)
    except ValueError:
        return arguments
    if not isinstance(value, dict) or "command" not in value:
        return arguments
    fixed = _fixed_command(value["command"])
    if fixed is None:
        return arguments
    return json.dumps({**value, "command": fixed}, ensure_ascii=False, separators=(",", ":"))


class ShellCallFixer:
    """Feeds events through, holding each ``shell`` call's arguments until
    the call ends. ``feed`` returns the events to pass on now."""

    def __init__(self) -> None:
        self._held: dict[int, list[str]] = {}

    def feed(self, event: Event) -> list[Event]:
        if isinstance(event, ToolCallStart):
            if event.name == SHELL_TOOL and event.kind == "function":
                self._held[event.index] = []
            return [event]
        if isinstance(event, ToolCallDelta) and event.index in self._held:
            self._held[event.index].append(event.arguments)
            return []
        if isinstance(event, ToolCallEnd) and event.index in self._held:
            arguments = normalize_arguments("".join(self._held.pop(event.index)))
            return [ToolCallDelta(index=event.index, arguments=arguments), event]
        if isinstance(event, Finish | StreamError):
            return [*self.flush(), event]
        return [event]

    def flush(self) -> list[Event]:
        """Calls cut short (no ``ToolCallEnd``): what arrived, as it arrived."""
        held: list[Event] = [
            ToolCallDelta(index=index, arguments="".join(parts))
            for index, parts in self._held.items()
            if parts
        ]
        self._held.clear()
        return held


async def fixed_shell_calls(events: AsyncIterator[Event]) -> AsyncIterator[Event]:
    """``events`` with :class:`ShellCallFixer` applied (closing this closes
    ``events``)."""
    fixer = ShellCallFixer()
    async with aclosing(events):  # type: ignore[type-var]
        async for event in events:
            for out in fixer.feed(event):
                yield out
        for out in fixer.flush():
            yield out
