"""Text a client sent, made safe for bytes, logs and databases (pure).

JSON may carry a lone surrogate (``"\\ud800"``): legal JSON text, but no
UTF-8 encoder, SQLite or PostgreSQL driver accepts it, and PostgreSQL
text cannot hold NUL either. Such text must be carried, never the cause of
a 5xx or a lost ledger row; these helpers are the one place that decides
how.
"""

from __future__ import annotations


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
