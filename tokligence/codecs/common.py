"""Pieces every codec shares: upstream error statuses and retry hints."""

from __future__ import annotations

import json
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime

from ..errors import GatewayError, UpstreamErrorStatus, kind_for_status

# An upstream's retry hint is trusted up to this long; beyond it a client
# is better told to back off on its own schedule than to sleep for hours.
MAX_RETRY_AFTER = 600.0


def retry_after_seconds(headers: Mapping[str, str], *, now: float | None = None) -> float | None:
    """Seconds from ``retry-after-ms`` or ``retry-after`` (delta seconds or an
    HTTP date), keys lower-cased; None when absent or unparseable."""
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return min(max(float(millis) / 1000, 0.0), MAX_RETRY_AFTER)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return min(max(float(value), 0.0), MAX_RETRY_AFTER)
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    current = time.time() if now is None else now
    return min(max(when.timestamp() - current, 0.0), MAX_RETRY_AFTER)


def upstream_error(
    status: int,
    message: str,
    headers: Mapping[str, str],
    *,
    code: str | None = None,
    param: str | None = None,
) -> GatewayError:
    """A neutral error for an upstream's HTTP error status. 529 stays
    "overloaded"; unknown 4xx are invalid requests and unknown 5xx API errors."""
    return UpstreamErrorStatus(
        kind_for_status(status),
        message,
        status=status if status >= 400 else 502,
        code=code,
        param=param,
        retry_after=retry_after_seconds(headers),
    )


def custom_input(arguments: str) -> str | None:
    """The raw text of a freeform (custom) tool call sent to an upstream as
    a one-string function: the ``input`` of its ``{"input": text}``
    arguments, or None when they are not that shape."""
    try:
        value = json.loads(arguments)
    except ValueError:
        return None
    if isinstance(value, Mapping) and isinstance(value.get("input"), str):
        return str(value["input"])
    return None


def custom_input_or_raw(arguments: str) -> str:
    """:func:`custom_input`, or the arguments as they came when unwrapped."""
    text = custom_input(arguments)
    return arguments if text is None else text
