"""JSON reading and writing shared by the fronts.

Readers raise :func:`~tokligence.errors.invalid` with the dotted path of the
offending field (``messages[2].content[0].text``) so clients see precisely
what is wrong. Writers produce compact UTF-8 JSON: ``ensure_ascii=False``
keeps payloads small, and U+2028/U+2029 are legal inside JSON strings (SSE
framing splits only on CR and LF, which JSON always escapes).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, TypeVar

from ..errors import ClientError, invalid

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


@dataclass(frozen=True, kw_only=True, slots=True)
class JsonLimits:
    """What a request body may hold, checked as it is decoded, before
    anything else runs (settings ``max_json_depth``,
    ``max_json_integer_digits``, ``json_allow_nonfinite``)."""

    max_depth: int = 512
    max_integer_digits: int = 64
    allow_nonfinite: bool = False


DEFAULT_LIMITS = JsonLimits()


def load_object(body: bytes, limits: JsonLimits = DEFAULT_LIMITS) -> dict[str, Any]:
    """Decode a request body that must be one JSON object, within ``limits``."""
    if not body.strip():
        raise invalid("request body is empty; expected a JSON object")
    # A number past the limits decodes to a _Refused marker, so that the
    # error can name the field it stands in (found by a walk, only then).
    refused: list[_Refused] = []
    try:
        # JSON between systems is UTF-8 (RFC 8259 section 8.1): decoded here,
        # strictly, because json.loads(bytes) would also take UTF-16 and
        # UTF-32 (and UTF-8-encoded surrogates). A UTF-8 byte order mark may
        # be ignored, as the RFC allows.
        text = body.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise invalid("request body is not valid UTF-8") from None
    try:
        value = json.loads(
            text,
            parse_int=partial(_integer, limits.max_integer_digits, refused),
            parse_float=partial(_number, refused) if not limits.allow_nonfinite else float,
            parse_constant=partial(_constant, refused) if not limits.allow_nonfinite else None,
        )
    except json.JSONDecodeError as exc:
        if "\x00" in text:
            # UTF-16 or UTF-32 text of ASCII is valid UTF-8, with NUL bytes
            # between the characters (NUL is never legal JSON text).
            raise invalid(
                "request body is not valid JSON: it holds NUL bytes (UTF-16 or UTF-32 text? "
                "JSON must be UTF-8)"
            ) from None
        raise invalid(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    except RecursionError:
        raise _too_deep(limits.max_depth) from None
    if refused:
        first = refused[0]
        where = path_where(value, lambda item: item is first) or None
        raise ClientError(
            "invalid_request",
            f"{where or 'request body'}: {first.reason}",
            param=where,
            code=first.code,
        )
    if not isinstance(value, dict):
        raise invalid(f"request body must be a JSON object, not {describe(value)}")
    # Nesting can only be deeper than the limit if the body opens more
    # containers than that: a count (in C) spares most bodies the walk.
    if body.count(b"{") + body.count(b"[") > limits.max_depth and not _within_depth(
        value, limits.max_depth
    ):
        raise _too_deep(limits.max_depth)
    return value


@dataclass(frozen=True, slots=True, eq=False)
class _Refused:
    """Where a number past the limits was, in the decoded value."""

    reason: str
    code: str


def _integer(max_digits: int, refused: list[_Refused], text: str) -> int | _Refused:
    digits = len(text.lstrip("-"))
    if digits > max_digits:
        marker = _Refused(
            reason=f"an integer of {digits} digits; at most {max_digits} are accepted "
            "(setting max_json_integer_digits)",
            code="json_number_too_long",
        )
        refused.append(marker)
        return marker
    return int(text)


def _number(refused: list[_Refused], text: str) -> float | _Refused:
    value = float(text)
    if math.isinf(value):
        marker = _Refused(
            reason=f"a number out of range ({text[:40]})", code="json_number_out_of_range"
        )
        refused.append(marker)
        return marker
    return value


def _constant(refused: list[_Refused], text: str) -> _Refused:
    marker = _Refused(
        reason=f"{text} is not a JSON number (setting json_allow_nonfinite)",
        code="json_nonfinite_number",
    )
    refused.append(marker)
    return marker


def path_where(value: Any, found: Callable[[Any], bool]) -> str | None:
    """The dotted path (``messages[2].temperature``) of an item of decoded
    JSON ``value`` that ``found`` accepts, object keys included (a key's
    path is its object's; the top level's is ""); None when there is none."""
    stack: list[tuple[Any, str]] = [(value, "")]
    while stack:
        item, path = stack.pop()
        if found(item):
            return path
        if type(item) is dict:
            for key, child in item.items():
                if found(key):
                    return path
                stack.append((child, f"{path}.{key}" if path else str(key)))
        elif type(item) is list:
            stack.extend((child, f"{path}[{i}]") for i, child in enumerate(item))
    return None


def _too_deep(max_depth: int) -> ClientError:
    return ClientError(
        "invalid_request",
        f"request body nests deeper than {max_depth} levels (setting max_json_depth)",
        code="json_too_deep",
    )


def _within_depth(value: Any, max_depth: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > max_depth:
            return False
        children = item.values() if type(item) is dict else item
        for child in children:
            if type(child) is dict or type(child) is list:
                stack.append((child, depth + 1))
    return True


def dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (e.g. an upstream split a surrogate pair across
        # events) cannot be UTF-8; JSON's \uXXXX escape carries it intact.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def describe(value: Any) -> str:
    """The JSON type of ``value``, for an error message ("an integer")."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def type_name(kind: type) -> str:
    """The JSON name of a Python type ("an object" for dict)."""
    return _TYPE_NAMES.get(kind, kind.__name__)


def is_json_type(value: Any, kind: type) -> bool:
    """Whether ``value`` decoded from JSON is of ``kind``: bool is an int in
    Python, but JSON true is never an integer or a number; an integer is a
    number."""
    if isinstance(value, bool):
        return kind is bool
    if kind is float:
        return isinstance(value, (int, float))
    return isinstance(value, kind)


def expect(value: Any, kind: type[T], path: str) -> T:
    """``value`` if it is of JSON type ``kind`` (an integer given for a
    number becomes a float), else a 400 naming ``path``."""
    if type(value) is kind:  # what decoded JSON almost always is: no further call
        return value
    if not is_json_type(value, kind):
        raise invalid(f"'{path}' must be {type_name(kind)}, not {describe(value)}", param=path)
    if kind is float and not isinstance(value, float):
        return float(value)  # type: ignore[return-value]
    return value  # type: ignore[no-any-return]


def req(obj: Mapping[str, Any], key: str, kind: type[T], path: str = "") -> T:
    """A required field of the given JSON type."""
    where = f"{path}.{key}" if path else key
    if key not in obj or obj[key] is None:
        raise invalid(f"'{where}' is required", param=where)
    return expect(obj[key], kind, where)


def opt(obj: Mapping[str, Any], key: str, kind: type[T], path: str = "") -> T | None:
    """An optional field of the given JSON type; absent and null give None."""
    value = obj.get(key)
    if value is None:
        return None
    return expect(value, kind, f"{path}.{key}" if path else key)


def as_object(value: Any, path: str) -> dict[str, Any]:
    return expect(value, dict, path)


def as_list(value: Any, path: str) -> list[Any]:
    return expect(value, list, path)


def positive_int(obj: Mapping[str, Any], key: str, path: str = "") -> int | None:
    value = opt(obj, key, int, path)
    if value is not None and value < 1:
        where = f"{path}.{key}" if path else key
        raise invalid(f"'{where}' must be at least 1, got {value}", param=where)
    return value


def string_list(value: Any, path: str) -> tuple[str, ...]:
    """A string or an array of strings (OpenAI ``stop``), as a tuple."""
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    items = as_list(value, path)
    return tuple(expect(item, str, f"{path}[{i}]") for i, item in enumerate(items))


def rest(obj: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields of ``obj`` a parser did not model, to carry in ``extra``."""
    return {k: v for k, v in obj.items() if k not in known}


# A refused request's body is decoded only to name its model in the ledger,
# and not at all past this size: a refusal must stay cheap.
_MODEL_PEEK_LIMIT = 1 << 20


def requested_model(body: bytes) -> str:
    """The ``model`` a request body names; "" when it names none or cannot
    be read. For the ledger row of a request refused before it was read."""
    if len(body) > _MODEL_PEEK_LIMIT:
        return ""
    try:
        value = load_object(body)
    except ClientError:
        return ""
    model = value.get("model")
    return model if isinstance(model, str) else ""
