"""Field rules: what the fronts check in a request, written as tables.

Theory of operation
-------------------
A *rule* is a callable ``(value, path)`` that raises a 400 naming ``path``
(:func:`~tokligence.errors.invalid`) when the value breaks it and returns
nothing otherwise. Values are checked, never converted, so a field the
gateway carries verbatim still goes upstream exactly as the client sent it.

Each dialect lists its rules in tables, field name -> rule
(``openai_rules``, ``anthropic_rules``); :func:`check` applies a table to
one JSON object. A field that is absent or null passes (the APIs read null
as "not set"), and so does a field the table does not name: unknown fields
are carried, so that a new API feature does not break the gateway. The
parsers still read the fields they model; a table only says what is
allowed, once, where a reader can see all of it (docs/validation.md).

Every rule costs a few dictionary lookups or one pass over a short list;
none walks a conversation, so the parse of a long agent request costs what
it did.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import invalid
from ..wire.json_body import as_list, as_object, describe, expect, is_json_type, type_name

Rule = Callable[[Any, str], None]

# Longest client-supplied value quoted back in an error message.
_QUOTE_LIMIT = 40


def short(value: str) -> str:
    """A client's text for an error message, cut short if long."""
    return value if len(value) <= _QUOTE_LIMIT else value[:_QUOTE_LIMIT] + "..."


def quote(value: str) -> str:
    return repr(short(value))


def check(obj: Mapping[str, Any], rules: Mapping[str, Rule], path: str = "") -> None:
    """Apply ``rules`` to the fields of ``obj`` (at ``path``) that are set."""
    for key, rule in rules.items():
        value = obj.get(key)
        if value is not None:
            rule(value, f"{path}.{key}" if path else key)


@dataclass(frozen=True, slots=True)
class OneOf:
    """A string from a fixed set: an enum, or the type tag of a union.

    A short set is listed in the error; a long one is named (``what``).
    ``also`` accepts names beyond the set: a tool type's newer dated
    version must not break the gateway before its SDK knows it.
    """

    values: tuple[str, ...]
    what: str = ""
    also: re.Pattern[str] | None = None

    def __call__(self, value: Any, path: str) -> None:
        expect(value, str, path)
        if value in self.values or (self.also is not None and self.also.fullmatch(value)):
            return
        if self.what:
            raise invalid(f"'{path}' {quote(value)} is not a known {self.what}", param=path)
        raise invalid(
            f"'{path}' must be one of {', '.join(self.values)}; got {quote(value)}", param=path
        )


def one_of(*values: str) -> OneOf:
    return OneOf(values)


@dataclass(frozen=True, slots=True)
class Within:
    """A number (or an integer) within bounds, both inclusive."""

    kind: type[int] | type[float]
    low: float | None = None
    high: float | None = None

    def __call__(self, value: Any, path: str) -> None:
        number = expect(value, self.kind, path)
        if (self.low is None or number >= self.low) and (self.high is None or number <= self.high):
            return
        if self.low is not None and self.high is not None:
            bounds = f"between {self.low:g} and {self.high:g}"
        elif self.low is not None:
            bounds = f"at least {self.low:g}"
        else:
            bounds = f"at most {self.high:g}"
        raise invalid(f"'{path}' must be {bounds}, got {value}", param=path)


def number(low: float | None = None, high: float | None = None) -> Within:
    return Within(float, low, high)


def integer(low: float | None = None, high: float | None = None) -> Within:
    return Within(int, low, high)


@dataclass(frozen=True, slots=True)
class OfType:
    """A value of one of the JSON types ``kinds``, nothing more said."""

    kinds: tuple[type, ...]

    def __call__(self, value: Any, path: str) -> None:
        if not any(is_json_type(value, kind) for kind in self.kinds):
            names = " or ".join(type_name(kind) for kind in self.kinds)
            raise invalid(f"'{path}' must be {names}, not {describe(value)}", param=path)


def of_type(*kinds: type) -> OfType:
    return OfType(kinds)


@dataclass(frozen=True, slots=True)
class Text:
    """A string, at most ``max_length`` characters, matching ``pattern``
    (described for the error by ``shape``)."""

    max_length: int | None = None
    pattern: re.Pattern[str] | None = None
    shape: str = ""

    def problem(self, text: str) -> str | None:
        """What is wrong with ``text``, or None."""
        if self.max_length is not None and len(text) > self.max_length:
            return f"is longer than {self.max_length} characters ({len(text)})"
        if self.pattern is not None and not self.pattern.fullmatch(text):
            return f"must be {self.shape}"
        return None

    def __call__(self, value: Any, path: str) -> None:
        wrong = self.problem(expect(value, str, path))
        if wrong is not None:
            raise invalid(f"'{path}' {wrong}", param=path)


@dataclass(frozen=True, slots=True)
class ListOf:
    """An array whose items each pass ``item``."""

    item: Rule

    def __call__(self, value: Any, path: str) -> None:
        for i, entry in enumerate(as_list(value, path)):
            self.item(entry, f"{path}[{i}]")


@dataclass(frozen=True, slots=True)
class ObjectOf:
    """An object whose fields pass ``fields``; ``required`` ones must be set;
    a ``closed`` object takes no other field (the API refuses them)."""

    fields: Mapping[str, Rule]
    required: tuple[str, ...] = ()
    closed: bool = False

    def __call__(self, value: Any, path: str) -> None:
        obj = as_object(value, path)
        for key in self.required:
            if obj.get(key) is None:
                raise invalid(f"'{path}.{key}' is required", param=f"{path}.{key}")
        if self.closed:
            for key in obj:
                if key not in self.fields:
                    raise invalid(
                        f"'{path}.{short(key)}' is not allowed: '{path}' takes only "
                        + ", ".join(self.fields),
                        param=f"{path}.{key}",
                    )
        check(obj, self.fields, path)


@dataclass(frozen=True, slots=True)
class MapOf:
    """An object used as a map (its keys are data, not field names): at
    most ``max_pairs`` pairs, each key passing ``key`` and each value
    passing ``value``."""

    value: Rule
    key: Text | None = None
    max_pairs: int | None = None

    def __call__(self, value: Any, path: str) -> None:
        pairs = as_object(value, path)
        if self.max_pairs is not None and len(pairs) > self.max_pairs:
            raise invalid(
                f"'{path}' holds {len(pairs)} pairs; at most {self.max_pairs} are allowed",
                param=path,
            )
        for key, entry in pairs.items():
            wrong = self.key.problem(key) if self.key is not None else None
            if wrong is not None:
                raise invalid(f"'{path}' key {quote(key)} {wrong}", param=path)
            self.value(entry, f"{path}.{key}")
