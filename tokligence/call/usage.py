"""What an answer used, and how it ended: the meters a model call reads.

One rule decides usage on every path (:func:`settle`): the upstream's own
report when the answer completed and the report counts its output;
otherwise the local estimate, with whatever the upstream did report laid
over it, flagged as estimated. So a cut stream is never accounted as free,
and a complete one is never second-guessed.

Each answer stage feeds a meter; the call reads ``usage()`` and ``error``
from it when the answer is over, however it ended (a client that went away
cancels the stage, but the meter keeps what had been seen):

* :class:`EventMeter` watches canonical events (translation and loopback):
  reported usage from ``MessageStart``/``UsageUpdate``, the text and tool
  arguments for an output estimate, ``Finish`` for completion;
* :class:`RelayMeter` watches relayed bytes (passthrough) through a
  :class:`~tokligence.codecs.usage_sniff.UsageSniffer`: reported usage,
  the dialect's terminal event for completion, and the number of relayed
  events for an output estimate (a token or a few per delta).

Each meter also gives the gateway's own count of the request and of the
output it relayed (:meth:`counted`), independent of what the upstream
reports, for the billing audit. It is counted once, when the answer is
over, with the estimator of ``canonical.tokens``: from the canonical
request and the events' text in translation; from the client's decoded
body and the relayed events' text in passthrough (never parsed into
canonical form for it). Reasoning the upstream reports apart
(``reasoning_tokens``) is left out of the count, as the audit leaves it out
of the report: OpenAI's is never shown, so it cannot be counted; reasoning
an upstream shows but does not break out (Anthropic's thinking) is counted.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..canonical import (
    Event,
    Finish,
    MessageStart,
    ReasoningDelta,
    Request,
    StreamError,
    TextDelta,
    ToolCallDelta,
    Usage,
    UsageUpdate,
    merge_usage,
)
from ..canonical.tokens import json_tokens, request_tokens, text_tokens
from ..codecs.usage_sniff import UsageReader, UsageSniffer
from ..errors import GatewayError
from ..fronts.base import Front


def settle(reported: Usage | None, *, complete: bool, estimate: Callable[[], Usage]) -> Usage:
    """The one rule; ``estimate`` (called only when needed) must be flagged."""
    if reported is not None and complete and reported.output_tokens:
        return reported
    guess = estimate()
    return merge_usage(guess, reported) if reported is not None else guess


# (input, output) as the gateway counted them; None when nothing was relayed.
Counted = tuple[int, int] | None


def _with_reasoning(usage: Usage | None) -> bool:
    """Whether the count includes the visible reasoning: only when the
    upstream's report does not break reasoning out (see the module docstring)."""
    return usage is None or not usage.reasoning_tokens


class EventMeter:
    """Usage and outcome of an answer made of canonical events."""

    def __init__(self, request: Request) -> None:
        self._request = request
        self._reported: Usage | None = None
        self._output: list[str] = []
        self._reasoning: list[str] = []
        self.complete = False  # saw Finish
        self.error: str | None = None  # the kind that ended the answer badly

    def observe(self, event: Event) -> None:
        if isinstance(event, TextDelta):
            self._output.append(event.text)
        elif isinstance(event, ToolCallDelta):
            self._output.append(event.arguments)
        elif isinstance(event, ReasoningDelta):
            self._reasoning.append(event.text)
        elif isinstance(event, UsageUpdate | MessageStart):
            if event.usage is not None:
                self._reported = merge_usage(self._reported, event.usage)
        elif isinstance(event, Finish):
            self.complete = True
        elif isinstance(event, StreamError):
            self.error = event.kind

    def usage(self) -> Usage:
        return settle(self._reported, complete=self.complete, estimate=self._estimate)

    def counted(self, usage: Usage | None) -> Counted:
        """The gateway's own count; ``usage`` is what was settled."""
        output = self._output + self._reasoning if _with_reasoning(usage) else self._output
        return request_tokens(self._request), text_tokens("".join(output))

    def _estimate(self) -> Usage:
        return Usage(
            input_tokens=request_tokens(self._request),
            output_tokens=text_tokens("".join(self._output)),
            estimated=True,
        )


class RelayMeter:
    """Usage and outcome of a relayed answer. ``input_estimate`` counts the
    request's input locally, for when the upstream reports none."""

    def __init__(
        self,
        dialect: str,
        reader: UsageReader,
        input_estimate: Callable[[], int],
        body: dict[str, Any] | None = None,
    ) -> None:
        self._dialect = dialect
        self._reader = reader
        self._input_estimate = input_estimate
        self._body = body  # the client's decoded body, for the gateway's own count
        self.sniffer: UsageSniffer | None = None  # set once the answer's head is known
        self.error: str | None = None

    def start(self, *, stream: bool) -> UsageSniffer:
        self.sniffer = UsageSniffer(self._dialect, self._reader, stream=stream)
        return self.sniffer

    def usage(self) -> Usage | None:
        sniffer = self.sniffer
        if sniffer is None:
            return None  # no answer was relayed (an error status, say)
        reported = sniffer.finish()  # first: a whole body is read here
        return settle(
            reported,
            complete=sniffer.completed,
            estimate=lambda: Usage(
                input_tokens=self._input_estimate(),
                output_tokens=sniffer.events,
                estimated=True,
            ),
        )

    def counted(self, usage: Usage | None) -> Counted:
        """The gateway's own count; ``usage`` is what was settled."""
        sniffer = self.sniffer
        if sniffer is None or self._body is None:
            return None
        output = sniffer.counted_output(reasoning=_with_reasoning(usage))
        return json_tokens(self._body), output


def input_tokens(front: Front, obj: dict[str, Any]) -> int:
    """The local count of a request's input, for a relayed answer whose
    upstream reported no usage."""
    try:
        return request_tokens(front.parse_object(obj))
    except GatewayError:
        return 0  # the upstream took a body we cannot read: no better guess
