"""Readying one model request for its targets, before any upstream is called.

Theory of operation. :func:`prepare` takes the client's decoded body and the
kinds of targets its route has (passthrough or not) and returns the body, the
HTTP request (whose bytes passthrough forwards) and, when any target needs
it, the canonical request, after three agent-traffic steps, in this order:

1. **Stored history.** A Responses ``previous_response_id`` this gateway
   stored is resolved into the full conversation (the id is still echoed on
   the answer); one it did not store, with no OpenAI passthrough target that
   could know it, is OpenAI's own 400 ``previous_response_not_found``.
2. **Foreign proofs.** Before a Responses body is passed through to OpenAI,
   the Claude thinking signatures Codex replays are taken out.
3. **Repeated tool calls.** The guard may add a warning to the request (in
   the canonical request and, for passthrough, in the body) or refuse it:
   the refusal is returned, for the call to record and raise.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..agents.guard import guard_call, refusal
from ..agents.safety import AgentSafety
from ..canonical import Request
from ..errors import ClientError, GatewayError, invalid
from ..fronts.base import Front
from ..fronts.openai_responses_proofs import without_carried
from ..responses_store.store import ResponseStore
from ..responses_store.turns import resume
from ..server.exchange import HttpRequest
from ..wire.json_body import dumps

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Prepared:
    obj: dict[str, Any]
    http: HttpRequest
    request: Request | None  # None when every target is passthrough
    refusal: GatewayError | None = None  # the guard stopped the conversation


async def prepare(
    front: Front,
    http: HttpRequest,
    obj: dict[str, Any],
    *,
    passthrough: Sequence[bool],
    user_id: int | None,
    responses: ResponseStore | None,
    safety: AgentSafety,
) -> Prepared:
    """See the module docstring; ``passthrough`` has one flag per target."""
    responses_dialect = front.dialect == "openai_responses"
    previous: str | None = None
    if responses_dialect and responses is not None:
        # A turn this gateway stored: its history goes into the body.
        obj, previous = await resume(responses, obj, user_id=user_id)
        if previous is not None:
            http = dataclasses.replace(http, body=dumps(obj))
    request: Request | None = None
    if not all(passthrough):
        request = front.parse_object(obj)
        _refuse_unstored_state(request, passthrough)
        _refuse_budget_past_max_tokens(request, http)
        if previous is not None:  # echoed back on the Response object
            extra = {**request.extra, "previous_response_id": previous}
            request = dataclasses.replace(request, extra=extra)
    if responses_dialect and any(passthrough):
        cleaned = without_carried(obj)  # Claude's signatures mean nothing to OpenAI
        if cleaned is not None:
            obj, http = cleaned, dataclasses.replace(http, body=dumps(cleaned))
    guarded = guard_call(safety.guard, front, obj, request)
    if guarded.verdict.level != "ok":
        log.warning(
            "agent repeated %s %d times: %s",
            guarded.verdict.tools,
            guarded.verdict.count,
            guarded.verdict.level,
        )
        if guarded.verdict.level == "stop":
            return Prepared(obj=obj, http=http, request=request, refusal=refusal(guarded.verdict))
    if guarded.body is not None:  # the note went into a passthrough body
        http = dataclasses.replace(http, body=guarded.body)
    return Prepared(obj=guarded.obj, http=http, request=guarded.request)


def _refuse_budget_past_max_tokens(request: Request, http: HttpRequest) -> None:
    """Anthropic's rule for ``thinking.budget_tokens``: less than
    ``max_tokens``, unless the interleaved-thinking beta lets the budget
    span the tool calls of a turn (then it may exceed it)."""
    reasoning = request.reasoning
    if request.dialect != "anthropic_messages" or reasoning is None:
        return
    budget, limit = reasoning.budget_tokens, request.max_tokens
    if budget is None or limit is None or budget < limit:
        return
    betas = ",".join(value for name, value in http.headers if name == "anthropic-beta")
    if "interleaved-thinking" in betas:
        return
    raise invalid(
        f"thinking.budget_tokens ({budget}) must be less than max_tokens ({limit}); "
        "with the interleaved-thinking beta it may exceed it",
        param="thinking.budget_tokens",
    )


def _refuse_unstored_state(request: Request, passthrough: Sequence[bool]) -> None:
    """A ``previous_response_id`` this gateway did not store (``prepare`` has
    already resolved the ones it did) can only be an OpenAI Responses
    upstream's own. With no passthrough target to send it to, answer as
    OpenAI does for an unknown id (400, ``previous_response_not_found``)
    instead of silently answering without the conversation."""
    previous = request.extra.get("previous_response_id")
    if request.dialect != "openai_responses" or not previous:
        return
    if not any(passthrough):
        raise ClientError(
            "invalid_request",
            f"Previous response with id {previous!r} not found. This gateway keeps the "
            "responses it answered with store enabled; send the full conversation in "
            "'input' otherwise.",
            code="previous_response_not_found",
            param="previous_response_id",
        )
