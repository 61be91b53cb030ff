"""The one exception tree of the gateway, and the one table of what each
kind of fault means.

Everything that goes wrong inside is raised as a :class:`GatewayError`
subclass, one per **category** of fault; each carries a neutral
:data:`ErrorKind` and an HTTP status, and each client front renders it once,
at the edge, in its own protocol's envelope. Foreign exceptions (httpx,
peewee, json) are mapped into this tree at the adapter that meets them.

The categories:

* :class:`ClientError` -- the request itself is wrong (bad JSON, unknown
  model or path, too large): the client must change it.
* :class:`PolicyRefusal` -- a valid request this gateway will not serve:
  authentication, permissions, rate limits and budgets, work modes, the
  repeated-tool-call guard.
* :class:`UpstreamUnreachable`, :class:`UpstreamTimeout`,
  :class:`UpstreamBroken` (an answer cut off or unreadable) and
  :class:`UpstreamErrorStatus` (the provider answered with an error) -- the
  provider failed us.
* :class:`InternalError` -- the gateway failed itself (a store it cannot
  write, a bug).

:data:`FAULT_TABLE` says, for each, what the client is answered, whether
another attempt may succeed (retry, then fall back) and whether it counts
against the upstream's circuit breaker. Retry and breaker decisions are
made from that table and nowhere else.

Error messages must never contain secrets: API keys are never interpolated.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar, Literal

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

    The base of the tree; raise one of its categories. ``param`` names the
    offending request field (OpenAI's ``param``), ``code`` is a
    machine-readable code (e.g. ``model_not_found``), ``retry_after`` is
    seconds for a ``retry-after`` header, ``headers`` are extra response
    headers (e.g. ``Allow`` for 405).
    """

    category: ClassVar[str] = "uncategorised"

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
        return f"{type(self).__name__}({self.kind!r}, {self.message!r}, status={self.status})"


class ClientError(GatewayError):
    """The request is wrong; the client must change it."""

    category = "client error"


class PolicyRefusal(GatewayError):
    """A valid request this gateway refuses by policy."""

    category = "refused by policy"


class UpstreamUnreachable(GatewayError):
    """No connection to the provider (or its circuit is open)."""

    category = "upstream unreachable"


class UpstreamTimeout(GatewayError):
    """The provider did not answer, or went silent, within its timeout."""

    category = "upstream timed out"


class UpstreamBroken(GatewayError):
    """The provider's answer broke off or cannot be read (502): connected,
    then reset or closed before the head, a garbage head, a body cut short,
    a 2xx body that is not what the dialect promises."""

    category = "upstream broken response"


class UpstreamErrorStatus(GatewayError):
    """The provider answered with an error (a status, or its stream's error event)."""

    category = "upstream error status"


class InternalError(GatewayError):
    """The gateway failed itself."""

    category = "internal"


# Statuses after which another attempt may succeed: the provider is busy,
# overloaded or failing for the moment, not refusing this request.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504, 529})
_SERVER_STATUS = range(500, 600)


@dataclass(frozen=True, kw_only=True, slots=True)
class FaultRule:
    """What a fault of one category (and status band) means."""

    category: type[GatewayError]
    statuses: frozenset[int] | range | None  # None: any status
    answer: str  # what the client is told, for the table in the docs
    retry: bool  # another attempt (the same target, then the next) may succeed
    breaker: bool  # counts as a failure of the upstream's health


FAULT_TABLE: tuple[FaultRule, ...] = (
    FaultRule(
        category=ClientError,
        statuses=None,
        answer="its 4xx, in the client's envelope",
        retry=False,
        breaker=False,
    ),
    FaultRule(
        category=PolicyRefusal,
        statuses=None,
        answer="400/401/403/429 (429 with retry-after)",
        retry=False,
        breaker=False,
    ),
    FaultRule(category=UpstreamUnreachable, statuses=None, answer="503", retry=True, breaker=True),
    FaultRule(category=UpstreamTimeout, statuses=None, answer="504", retry=True, breaker=True),
    FaultRule(
        category=UpstreamBroken,
        statuses=None,
        answer="502 before the first byte; after it the dialect's in-stream error",
        retry=True,
        breaker=True,
    ),
    FaultRule(
        category=UpstreamErrorStatus,
        statuses=frozenset({408, 409, 429}),
        answer="the upstream's status and retry-after",
        retry=True,
        breaker=False,  # the provider is alive, only busy
    ),
    FaultRule(
        category=UpstreamErrorStatus,
        statuses=RETRYABLE_STATUS & frozenset(_SERVER_STATUS),
        answer="the upstream's status",
        retry=True,
        breaker=True,
    ),
    FaultRule(
        category=UpstreamErrorStatus,
        statuses=_SERVER_STATUS,
        answer="the upstream's status",
        retry=False,
        breaker=True,
    ),
    FaultRule(
        category=UpstreamErrorStatus,
        statuses=None,
        answer="the upstream's status (its own envelope when it is the client's protocol)",
        retry=False,
        breaker=False,
    ),
    FaultRule(category=InternalError, statuses=None, answer="500", retry=False, breaker=False),
)
_UNCATEGORISED = FaultRule(
    category=GatewayError, statuses=None, answer="its status", retry=False, breaker=False
)


def fault_rule(error: GatewayError) -> FaultRule:
    """The row of :data:`FAULT_TABLE` that ``error`` falls under."""
    for rule in FAULT_TABLE:
        if isinstance(error, rule.category) and (
            rule.statuses is None or error.status in rule.statuses
        ):
            return rule
    return _UNCATEGORISED


def invalid(message: str, *, param: str | None = None, code: str | None = None) -> ClientError:
    """Shorthand for the commonest error: a 400 about the request body."""
    return ClientError("invalid_request", message, param=param, code=code)


def upstream_failure(kind: str, message: str, *, code: str | None = None) -> GatewayError:
    """The error for a failure an upstream reported as a canonical
    ``StreamError`` (its stream's own error event, or a stream that ended
    unfinished), whose kind travels as plain text; an unknown kind is an
    ``api_error``."""
    if kind == "timeout":
        return UpstreamTimeout("timeout", message, code=code)
    if kind == "unavailable":
        return UpstreamUnreachable("unavailable", message, code=code)
    for known in STATUS_BY_KIND:
        if known == kind:
            return UpstreamErrorStatus(known, message, code=code)
    return UpstreamErrorStatus("api_error", message, code=code)
