"""The one exception tree of the gateway.

Everything that goes wrong inside is raised as a :class:`GatewayError` with a
neutral :data:`ErrorKind` and an HTTP status hint; each client front renders
it once, at the edge, in its own protocol's envelope. Foreign exceptions
(httpx, peewee, json) are mapped to this tree at the adapter that meets them.

Error messages must never contain secrets: API keys are never interpolated.
"""

from __future__ import annotations

from typing import Literal

ErrorKind = Literal[
    "invalid_request",
    "authentication",
    "permission",
    "not_found",
    "method_not_allowed",
    "request_too_large",
    "rate_limit",
    "api_error",
    "overloaded",
    "timeout",
    "unavailable",
]

STATUS_BY_KIND: dict[ErrorKind, int] = {
    "invalid_request": 400,
    "authentication": 401,
    "permission": 403,
    "not_found": 404,
    "method_not_allowed": 405,
    "request_too_large": 413,
    "rate_limit": 429,
    "api_error": 500,
    "overloaded": 529,
    "timeout": 504,
    "unavailable": 503,
}

KIND_BY_STATUS: dict[int, ErrorKind] = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "method_not_allowed",
    408: "timeout",
    413: "request_too_large",
    422: "invalid_request",
    429: "rate_limit",
    500: "api_error",
    502: "api_error",
    503: "unavailable",
    504: "timeout",
    529: "overloaded",
}


def kind_for_status(status: int) -> ErrorKind:
    if status in KIND_BY_STATUS:
        return KIND_BY_STATUS[status]
    return "invalid_request" if 400 <= status < 500 else "api_error"


class GatewayError(Exception):
    """An error with a neutral kind, rendered per client dialect at the edge.

    ``param`` names the offending request field (OpenAI's ``param``), ``code``
    is a machine-readable code (e.g. ``model_not_found``), ``retry_after`` is
    seconds for a ``retry-after`` header, ``headers`` are extra response
    headers (e.g. ``Allow`` for 405).
    """

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int | None = None,
        param: str | None = None,
        code: str | None = None,
        retry_after: float | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(message)
        self.kind: ErrorKind = kind
        self.message = message
        self.status = status if status is not None else STATUS_BY_KIND[kind]
        self.param = param
        self.code = code
        self.retry_after = retry_after
        self.headers = headers

    def __repr__(self) -> str:
        return f"GatewayError({self.kind!r}, {self.message!r}, status={self.status})"


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> GatewayError:
    """Shorthand for the commonest error: a 400 about the request body."""
    return GatewayError("invalid_request", message, param=param, code=code)


def from_kind(kind: str, message: str, *, code: str | None = None) -> GatewayError:
    """A GatewayError from a kind carried as plain text (e.g. in a canonical
    ``StreamError``); an unknown kind is an ``api_error``."""
    for known in STATUS_BY_KIND:
        if known == kind:
            return GatewayError(known, message, code=code)
    return GatewayError("api_error", message, code=code)
