"""Text a client sent, made safe for bytes, logs and databases (pure).

JSON may carry a lone surrogate (``"\\ud800"``): legal JSON text, but no
UTF-8 encoder, SQLite or PostgreSQL driver accepts it, and PostgreSQL
text cannot hold NUL either. Such text must be carried, never the cause of
a 5xx or a lost ledger row; these helpers are the one place that decides
how.
"""

from __future__ import annotations

import re
from typing import Any

from ..errors import ClientError, invalid
from .json_body import path_where

# A JSON \u escape of a surrogate (a pair decodes to one character; only a
# lone one is left as a surrogate in the decoded text).
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")
_SURROGATE = re.compile("[\ud800-\udfff]")


def utf8(text: str) -> bytes:
    """``text`` as bytes for hashing and measuring: a lone surrogate becomes
    the three bytes it would take, instead of an encoding error."""
    return text.encode("utf-8", "surrogatepass")


def storable(text: str) -> str:
    """``text`` as any database and log file can hold it: lone surrogates
    and NUL written as backslash escapes (``\\ud800``, ``\\x00``); all other
    text unchanged. Cheap for the common case (ASCII without NUL)."""
    if text.isascii() and "\x00" not in text:
        return text
    escaped = text.encode("utf-8", "backslashreplace").decode("utf-8")
    return escaped.replace("\x00", "\\x00")


def lone_surrogate_error(where: str) -> ClientError:
    """The 400 for a string with a lone surrogate at ``where`` (a dotted
    path; "" for the body at large): legal JSON, but no text that OpenAI or
    Anthropic take."""
    return invalid(
        f"{where or 'request body'}: a string holds a lone surrogate "
        "(\\ud800-\\udfff without its pair), which is not valid text",
        param=where or None,
    )


def has_lone_surrogate(text: str) -> bool:
    return _SURROGATE.search(text) is not None


def lone_surrogate_at(body: bytes, value: Any) -> str | None:
    """The dotted path of the first string in ``value`` (``body`` decoded)
    that holds a lone surrogate, "" for a key, or None when there is none.
    A byte search spares almost every body the walk."""
    if _SURROGATE_ESCAPE.search(body) is None:
        return None
    return path_where(value, lambda item: type(item) is str and has_lone_surrogate(item))
