"""Request-line and framing rules h11 leaves to the server (RFC 9112).

h11 parses the bytes; these decide what a server must do with what it
parsed, where h11 is silent or more lenient than the RFC:

- the request target's forms (section 3.2): origin form (``/path?q``) and
  absolute form (``http://host/path``, which a server MUST accept) are
  served; any other form gets 400;
- the version (section 2.3): only HTTP/1.0 and HTTP/1.1 are spoken here;
  anything else gets 505;
- Transfer-Encoding (section 6.1 and 6.3): in an HTTP/1.0 request it means
  faulty framing; ``chunked`` that is not the last coding, or is applied
  twice, leaves the body's length unknowable. Both are 400 and the
  connection closed. A coding we do not implement (gzip) stays 501, h11's
  answer.

Errors h11 raises on a bad head leave no parsed target; the first bytes of
the request give the path (:func:`path_in_raw_head`), so the error is
rendered in the envelope of the API the client was calling.
"""

from __future__ import annotations

import re

from ..errors import ClientError

_REQUEST_LINE = re.compile(rb"[\r\n]*[!-~]+ +([!-~]+)")
_TRANSFER_ENCODING = re.compile(rb"(?im)^transfer-encoding[ \t]*:[ \t]*([^\r\n]*)")
_ABSOLUTE = re.compile(r"(?i)https?://[^/?#]*")


def request_path(target: str) -> str | None:
    """The path and query of a request target (latin-1 text), or None when
    the target is in no form a server answers here."""
    if target.startswith("/"):
        return target
    absolute = _ABSOLUTE.match(target)
    if absolute is not None:
        rest = target[absolute.end() :]
        return rest if rest.startswith("/") else "/" + rest
    return None


def path_in_raw_head(raw: bytes) -> str:
    """The path of the request whose first bytes are ``raw``, for choosing
    an error envelope; "/" when there is none to read."""
    line = _REQUEST_LINE.match(raw)
    if line is None:
        return "/"
    path = request_path(line.group(1).decode("latin-1"))
    return "/" if path is None else path.partition("?")[0]


def version_error(http_version: bytes) -> ClientError | None:
    if http_version in (b"1.1", b"1.0"):
        return None
    return ClientError(
        "invalid_request",
        f"HTTP/{http_version.decode('latin-1')} is not supported; speak HTTP/1.1",
        status=505,
        code="http_version_not_supported",
    )


def transfer_encoding_error(
    http_version: bytes, headers: tuple[tuple[str, str], ...]
) -> ClientError | None:
    """400 for a Transfer-Encoding whose framing cannot be trusted, once
    h11 has accepted the head (it refuses other codings itself)."""
    values = [value for name, value in headers if name == "transfer-encoding"]
    if not values:
        return None
    if http_version == b"1.0":
        return _faulty("Transfer-Encoding in an HTTP/1.0 request")
    return coding_error(values)


def coding_error(values: list[str]) -> ClientError | None:
    codings = [c.strip().lower() for value in values for c in value.split(",") if c.strip()]
    if "chunked" in codings and (codings[-1] != "chunked" or codings.count("chunked") > 1):
        return _faulty("Transfer-Encoding with chunked applied twice or not last")
    return None


def coding_error_in_raw_head(raw: bytes) -> ClientError | None:
    """:func:`coding_error` read from raw head bytes, for a head h11 refused."""
    values = [v.decode("latin-1") for v in _TRANSFER_ENCODING.findall(raw)]
    return coding_error(values) if values else None


def _faulty(what: str) -> ClientError:
    return ClientError(
        "invalid_request",
        f"{what}: the body's length cannot be determined (RFC 9112 section 6)",
        code="ambiguous_framing",
    )
