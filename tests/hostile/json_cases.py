"""Bodies that are not the JSON object a model endpoint reads: empty, not
JSON, not an object, trailing garbage, bad encodings, absurd nesting and
numbers, literals JSON does not have (``NaN``, ``Infinity``), lone
surrogate escapes.

RFC 8259 is the reference: JSON exchanged between systems is UTF-8, has no
``NaN`` or ``Infinity``, and a string holding an unpaired surrogate is not
interoperable; the real APIs answer all of these with a 400 (Anthropic's
says, for instance, "no low surrogate in string"). A decoder's recursion or
digit limit is the gateway's problem, never a 500.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .case import (
    BAD,
    MODELS,
    OK,
    Case,
    Endpoint,
    Target,
    dumps,
    model_case,
    put,
)

DEEP = 100_000
DIGITS = 5_000
PLACEHOLDER = "@LITERAL@"


def _base(endpoint: Endpoint, model: str) -> dict[str, Any]:
    if endpoint == "chat":
        return {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if endpoint == "messages":
        return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    if endpoint == "count_tokens":
        return {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    return {"model": model, "input": "hi"}  # responses, embeddings


def _with_literal(body: dict[str, Any], path: str, literal: bytes) -> bytes:
    """``body`` with the raw JSON text ``literal`` at ``path``."""
    return dumps(put(body, path, PLACEHOLDER)).replace(f'"{PLACEHOLDER}"'.encode(), literal)


def _deep_object(depth: int) -> bytes:
    return b'{"a":' * depth + b"1" + b"}" * depth


def _deep_array(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


# Whole-body variants: (tag, valid body -> bytes, acceptable statuses).
WHOLE: tuple[tuple[str, Callable[[bytes], bytes], frozenset[int]], ...] = (
    ("empty", lambda b: b"", BAD),
    ("whitespace", lambda b: b" \r\n\t ", BAD),
    ("null", lambda b: b"null", BAD),
    ("array", lambda b: b"[" + b + b"]", BAD),
    ("string", lambda b: b'"hi"', BAD),
    ("number", lambda b: b"42", BAD),
    ("true", lambda b: b"true", BAD),
    ("not-json", lambda b: b"hello", BAD),
    ("open-brace", lambda b: b"{", BAD),
    ("cut-short", lambda b: b[:-1], BAD),
    ("trailing-garbage", lambda b: b + b" x", BAD),
    ("two-objects", lambda b: b + b, BAD),
    ("trailing-comma", lambda b: b[:-1] + b",}", BAD),
    ("single-quotes", lambda b: b.replace(b'"', b"'"), BAD),
    ("comment", lambda b: b"// note\n" + b, BAD),
    ("invalid-utf8-in-string", lambda b: b.replace(b'"hi"', b'"h\xffi"'), BAD),
    ("invalid-utf8-before", lambda b: b"\xff" + b, BAD),
    ("overlong-utf8", lambda b: b.replace(b'"hi"', b'"h\xc0\xafi"'), BAD),
    ("utf16-with-bom", lambda b: b.decode().encode("utf-16"), BAD),
    ("utf16le", lambda b: b.decode().encode("utf-16-le"), BAD),
    ("utf32", lambda b: b.decode().encode("utf-32"), BAD),
    # RFC 8259 lets a parser ignore a UTF-8 byte order mark: either answer.
    ("utf8-bom", lambda b: b"\xef\xbb\xbf" + b, frozenset({200, 400})),
    ("raw-control-char", lambda b: b.replace(b'"hi"', b'"h\x01i"'), BAD),
    ("raw-newline-in-string", lambda b: b.replace(b'"hi"', b'"h\ni"'), BAD),
    ("raw-nul", lambda b: b.replace(b'"hi"', b'"h\x00i"'), BAD),
    ("deep-array", lambda b: _deep_array(DEEP), BAD),
    ("deep-object", lambda b: _deep_object(DEEP), BAD),
    ("deep-in-metadata", lambda b: b[:-1] + b',"metadata":' + _deep_object(DEEP) + b"}", BAD),
)

# Numeric fields by endpoint: (path, base overrides).
NUMBERS: dict[Endpoint, tuple[tuple[str, dict[str, Any]], ...]] = {
    "chat": (
        ("temperature", {}),
        ("top_p", {}),
        ("max_tokens", {}),
        ("presence_penalty", {}),
        ("seed", {}),
    ),
    "messages": (("temperature", {}), ("max_tokens", {}), ("top_k", {})),
    "responses": (("temperature", {}), ("max_output_tokens", {}), ("top_p", {})),
    "count_tokens": (
        ("thinking.budget_tokens", {"thinking": {"type": "enabled", "budget_tokens": 1024}}),
    ),
    "embeddings": (("dimensions", {}),),
}
LITERALS: tuple[tuple[str, bytes, Target], ...] = (
    ("nan", b"NaN", "translated"),
    ("infinity", b"Infinity", "loopback"),
    ("minus-infinity", b"-Infinity", "translated"),
    ("1e999", b"1e999", "loopback"),
    ("minus-1e999", b"-1e999", "passthrough"),
    ("5000-digits", b"9" * DIGITS, "translated"),
    ("5000-digit-float", b"1" + b"0" * DIGITS + b".5", "loopback"),
    ("huge-exponent", b"1e99999999999", "translated"),
)

# Strings by endpoint that may carry a lone surrogate: (path, base overrides).
CHAT_TOOLS = {
    "tools": [{"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}]
}
MSG_TOOLS = {"tools": [{"name": "f", "input_schema": {"type": "object"}}]}
RESP_TOOLS = {"tools": [{"type": "function", "name": "f", "parameters": {"type": "object"}}]}
STRINGS: dict[Endpoint, tuple[tuple[str, dict[str, Any]], ...]] = {
    "chat": (
        ("model", {}),
        ("messages.0.content", {}),
        ("tools.0.function.name", CHAT_TOOLS),
        ("metadata.k", {"metadata": {"k": "v"}}),
        ("stop", {}),
        ("user", {}),
    ),
    "messages": (
        ("model", {}),
        ("messages.0.content", {}),
        ("tools.0.name", MSG_TOOLS),
        ("system", {}),
        ("metadata.user_id", {"metadata": {}}),
        ("stop_sequences.0", {"stop_sequences": ["x"]}),
    ),
    "responses": (
        ("model", {}),
        ("input", {}),
        ("tools.0.name", RESP_TOOLS),
        ("instructions", {}),
        ("metadata.k", {"metadata": {"k": "v"}}),
    ),
    "count_tokens": (("model", {}), ("messages.0.content", {})),
    "embeddings": (("model", {}), ("input", {})),
}
SURROGATES: tuple[tuple[str, str], ...] = (("high", "\ud800"), ("low", "\udc00"))
ROTATION: tuple[Target, ...] = ("translated", "loopback", "passthrough")


def _targets(endpoint: Endpoint) -> tuple[Target, ...]:
    return tuple(t for t in ROTATION if t in MODELS[endpoint])


def cases() -> list[Case]:
    out: list[Case] = []
    for endpoint in MODELS:
        valid = dumps(_base(endpoint, "loopback"))
        for tag, make, statuses in WHOLE:
            out.append(
                model_case(
                    id=f"{endpoint}-body-{tag}",
                    category="json",
                    endpoint=endpoint,
                    target="loopback",
                    body=make(valid),
                    statuses=statuses,
                )
            )
        targets = _targets(endpoint)
        for path, overrides in NUMBERS[endpoint]:
            for tag, literal, target in LITERALS:
                if target not in targets:
                    target = "loopback"
                body = {**_base(endpoint, MODELS[endpoint][target]), **overrides}
                out.append(
                    model_case(
                        id=f"{endpoint}-{path}-{tag}-{target}",
                        category="json",
                        endpoint=endpoint,
                        target=target,
                        body=_with_literal(body, path, literal),
                        names=path,
                    )
                )
        for i, (path, overrides) in enumerate(STRINGS[endpoint]):
            for j, (tag, surrogate) in enumerate(SURROGATES):
                target = targets[(i + j) % len(targets)]
                body = {**_base(endpoint, MODELS[endpoint][target]), **overrides}
                if path == "model":
                    value = MODELS[endpoint][target] + surrogate
                else:
                    value = "x" + surrogate + "y"
                out.append(
                    model_case(
                        id=f"{endpoint}-{path}-lone-{tag}-surrogate-{target}",
                        category="json",
                        endpoint=endpoint,
                        target=target,
                        body=dumps(put(body, path, value)),
                    )
                )
        # A well-formed surrogate pair is ordinary text: served.
        pair_path = "input" if endpoint in ("responses", "embeddings") else "messages.0.content"
        out.append(
            model_case(
                id=f"{endpoint}-surrogate-pair-is-fine-loopback",
                category="json",
                endpoint=endpoint,
                target="loopback",
                body=dumps(put(_base(endpoint, "loopback"), pair_path, "smile \U0001f600")),
                statuses=OK,
            )
        )
        # Duplicate keys: the last one wins in every mainstream parser, and
        # the real APIs take it; a gateway may also refuse them.
        out.append(
            model_case(
                id=f"{endpoint}-duplicate-model-key-loopback",
                category="json",
                endpoint=endpoint,
                target="loopback",
                body=b'{"model":"no-such-model",' + valid[1:],
                statuses=frozenset({200, 400}),
            )
        )
        # An escaped NUL is a legal JSON string; in a model name it names
        # no model.
        out.append(
            model_case(
                id=f"{endpoint}-model-with-escaped-nul",
                category="json",
                endpoint=endpoint,
                target="loopback",
                body=dumps(put(_base(endpoint, "loopback"), "model", "loop\x00back")),
                statuses=frozenset({400, 404}),
            )
        )
    return out
