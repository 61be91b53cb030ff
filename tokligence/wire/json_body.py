"""JSON reading and writing shared by the fronts.

Readers raise :func:`~tokligence.errors.invalid` with the dotted path of the
offending field (``messages[2].content[0].text``) so clients see precisely
what is wrong. Writers produce compact UTF-8 JSON: ``ensure_ascii=False``
keeps payloads small, and U+2028/U+2029 are legal inside JSON strings (SSE
framing splits only on CR and LF, which JSON always escapes).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any, TypeVar

from ..errors import invalid

T = TypeVar("T")

_TYPE_NAMES = {
    str: "a string",
    int: "an integer",
    float: "a number",
    bool: "a boolean",
    list: "an array",
    dict: "an object",
}


def load_object(body: bytes) -> dict[str, Any]:
    """Decode a request body that must be one JSON object."""
    if not body.strip():
        raise invalid("request body is empty; expected a JSON object")
    try:
        value = json.loads(body)
    except UnicodeDecodeError:
        raise invalid("request body is not valid UTF-8") from None
    except json.JSONDecodeError as exc:
        raise invalid(
            f"request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None
    if not isinstance(value, dict):
        raise invalid(f"request body must be a JSON object, not {_describe(value)}")
    return value


def dumps(value: Any) -> bytes:
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    try:
        return text.encode()
    except UnicodeEncodeError:
        # A lone surrogate (e.g. an upstream split a surrogate pair across
        # events) cannot be UTF-8; JSON's \uXXXX escape carries it intact.
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def _describe(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    for kind, name in _TYPE_NAMES.items():
        if isinstance(value, kind):
            return name
    return type(value).__name__


def _check(value: Any, kind: type[T], path: str) -> T:
    # bool is an int in Python; JSON true is never a valid integer or number.
    ok = isinstance(value, kind) and not (kind in (int, float) and isinstance(value, bool))
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)  # type: ignore[return-value]
    if not ok:
        raise invalid(
            f"'{path}' must be {_TYPE_NAMES.get(kind, kind.__name__)}, not {_describe(value)}",
            param=path,
        )
    return value  # type: ignore[no-any-return]


def req(obj: Mapping[str, Any], key: str, kind: type[T], path: str = "") -> T:
    """A required field of the given JSON type."""
    where = f"{path}.{key}" if path else key
    if key not in obj or obj[key] is None:
        raise invalid(f"'{where}' is required", param=where)
    return _check(obj[key], kind, where)


def opt(obj: Mapping[str, Any], key: str, kind: type[T], path: str = "") -> T | None:
    """An optional field of the given JSON type; absent and null give None."""
    value = obj.get(key)
    if value is None:
        return None
    return _check(value, kind, f"{path}.{key}" if path else key)


def as_object(value: Any, path: str) -> dict[str, Any]:
    return _check(value, dict, path)


def as_list(value: Any, path: str) -> list[Any]:
    return _check(value, list, path)


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
    return tuple(_check(item, str, f"{path}[{i}]") for i, item in enumerate(items))


def rest(obj: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    """The fields of ``obj`` a parser did not model, to carry in ``extra``."""
    return {k: v for k, v in obj.items() if k not in known}
