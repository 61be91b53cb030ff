"""Canonical JSON: one spelling per document, and everything else refused."""

from __future__ import annotations

import json
import random

import pytest

from tokligence.trade.documents import (
    INT_MAX,
    INT_MIN,
    MAX_DEPTH,
    DocumentError,
    b64url_decode,
    b64url_encode,
    decode,
    encode,
    is_sha256_hex,
    sha256_hex,
)

# (document, its canonical bytes)
CANONICAL = [
    ({}, b"{}"),
    ({"b": 1, "a": 2}, b'{"a":2,"b":1}'),
    ({"b": 1, "B": 2, "aa": 3, "a": 4}, b'{"B":2,"a":4,"aa":3,"b":1}'),
    ({"n": [1, -2, "x", [], {}]}, b'{"n":[1,-2,"x",[],{}]}'),
    (
        {"i": INT_MAX, "j": INT_MIN, "z": 0},
        b'{"i":9223372036854775807,"j":-9223372036854775808,"z":0}',
    ),
    # Only JSON's required escapes; everything else is UTF-8 as it is.
    ({"s": 'q"b\\n\n\t\x00\x1f\x7f'}, b'{"s":"q\\"b\\\\n\\n\\t\\u0000\\u001f\x7f"}'),
    ({"s": "é€😀\u2028/"}, '{"s":"é€😀\u2028/"}'.encode()),
    # Keys sort by code point: U+FFFF before U+1F600 (UTF-16 order would not).
    ({"😀": 1, "\uffff": 2, "z": 3, "é": 4}, '{"z":3,"é":4,"\uffff":2,"😀":1}'.encode()),
    ({"deep": [[[[1]]]]}, b'{"deep":[[[[1]]]]}'),
]


@pytest.mark.parametrize(("document", "data"), CANONICAL)
def test_canonical_bytes_and_back(document: dict[str, object], data: bytes) -> None:
    assert encode(document) == data
    assert decode(data) == document


NOT_ENCODABLE = [
    ({"a": True}, "bool"),
    ({"a": None}, "NoneType"),
    ({"a": 1.0}, "float"),
    ({"a": INT_MAX + 1}, "64-bit"),
    ({"a": INT_MIN - 1}, "64-bit"),
    ({"a": "\ud800"}, "surrogate"),
    ({"\udfff": 1}, "surrogate"),
    ({1: 1}, "key that is not a string"),
    ({"a": (1, 2)}, "tuple"),
    ({"a": b"x"}, "bytes"),
    ({"a": [[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]}, "deeper"),
]


@pytest.mark.parametrize(("document", "reason"), NOT_ENCODABLE)
def test_values_outside_the_model_are_refused(document: object, reason: str) -> None:
    with pytest.raises(DocumentError, match=reason):
        encode(document)  # type: ignore[arg-type]


def test_only_an_object_is_a_document() -> None:
    for value in ([1], "x", 1):
        with pytest.raises(DocumentError, match="JSON object"):
            encode(value)  # type: ignore[arg-type]


HOSTILE = [
    b'{"a": 1}',  # a space
    b'{"b":1,"a":2}',  # keys out of order
    b'{"a":1,"a":1}',  # a duplicate key (its re-encoding would hide it)
    b'{"a":1} ',  # trailing whitespace
    b'{"a":1}\n',  # a trailing newline
    b' {"a":1}',
    b'{"a":"\\u0041"}',  # an escape JSON does not require
    b'{"a":"\\/"}',
    b'{"a":"\\ud83d\\ude00"}',  # a surrogate pair instead of the UTF-8 character
    b'{"a":"\\ud800"}',  # a lone surrogate
    b'{"a":"\\u00e9"}',
    b'{"a":"\\u007f"}',
    b'{"a":"\x01"}',  # a raw control character
    b'{"a":1.0}',
    b'{"a":1e3}',
    b'{"a":-0}',
    b'{"a":01}',
    b'{"a":NaN}',
    b'{"a":Infinity}',
    b'{"a":true}',
    b'{"a":null}',
    b'{"a":9223372036854775808}',
    b'{"a":-9223372036854775809}',
    b'{"a":' + b"9" * 5000 + b"}",  # beyond Python's int-from-text limit
    b"[1]",
    b'"a"',
    b"1",
    b"",
    b"{",
    b'\xef\xbb\xbf{"a":1}',  # a byte-order mark
    b'{"a":"\xff"}',  # not UTF-8
    b'{"a":"\xc0\xaf"}',  # an overlong UTF-8 sequence
    b'{"a":"\xed\xa0\x80"}',  # a surrogate encoded as UTF-8
    b'{"a":' + b"[" * 100_000 + b"]" * 100_000 + b"}",  # deep enough to exhaust the stack
    b'{"a":' + b"[" * MAX_DEPTH + b"]" * MAX_DEPTH + b"}",
]


@pytest.mark.parametrize("data", HOSTILE, ids=lambda d: repr(d[:40]))
def test_hostile_and_non_canonical_inputs_are_refused(data: bytes) -> None:
    with pytest.raises(DocumentError):
        decode(data)


def test_the_depth_limit_is_exact() -> None:
    deepest = {"a": json.loads("[" * (MAX_DEPTH - 1) + "]" * (MAX_DEPTH - 1))}
    assert decode(encode(deepest)) == deepest


def test_an_oversized_document_is_refused_before_parsing() -> None:
    with pytest.raises(DocumentError, match="larger than"):
        decode(b'{"a":"' + b"x" * (1 << 20) + b'"}')


def _random_value(rng: random.Random, depth: int) -> object:
    kind = rng.choice(("int", "str", "list", "dict") if depth < 4 else ("int", "str"))
    if kind == "int":
        return rng.choice((0, -1, INT_MAX, INT_MIN, rng.randint(INT_MIN, INT_MAX)))
    if kind == "str":
        alphabet = 'ab"\\\n\x00\x7fé€😀\u2028 '
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 6)))
    if kind == "list":
        return [_random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {
        str(_random_value(rng, 9)): _random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))
    }


def test_random_documents_round_trip_and_any_respelling_is_refused() -> None:
    rng = random.Random(13)
    for _ in range(500):
        document = {"d": _random_value(rng, 0)}
        data = encode(document)
        assert decode(data) == document
        # Python's own spelling with spaces differs from ours and is refused.
        spaced = json.dumps(document, sort_keys=True, ensure_ascii=False).encode()
        if spaced != data:
            with pytest.raises(DocumentError):
                decode(spaced)
        ascii_only = json.dumps(document, sort_keys=True, separators=(",", ":")).encode()
        if ascii_only != data:
            with pytest.raises(DocumentError):
                decode(ascii_only)


def test_sha256_hex() -> None:
    digest = sha256_hex(b"abc")
    assert digest == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    assert is_sha256_hex(digest) and is_sha256_hex("0" * 64)
    for other in (digest.upper(), digest[:-1], digest + "0", 7, None):
        assert not is_sha256_hex(other)


def test_b64url_round_trips_every_length() -> None:
    rng = random.Random(5)
    for length in range(70):
        data = bytes(rng.randrange(256) for _ in range(length))
        text = b64url_encode(data)
        assert "=" not in text and "+" not in text and "/" not in text
        assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    ["AA==", "A", "AAAAA", "A+B/", "AA AA", "AA\n", "AB", "AAB", "ÄA", "AA.A"],
)
def test_b64url_decoding_is_strict(text: str) -> None:
    # "AB" and "AAB" carry non-zero unused bits: another spelling of "AA", "AAA".
    with pytest.raises(DocumentError):
        b64url_decode(text)
