"""Where stored turns meet a model call: continuing one, recording one.

:func:`resumed` turns a request body naming a stored
``previous_response_id`` into a self-contained one (the stored history
prepended to ``input``); :class:`TurnSink` records a finished turn. The
pipeline uses both only for calls this gateway answers itself (translation
and loopback): a passthrough to OpenAI's Responses API keeps OpenAI's own
store, so its turns are not stored twice.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..canonical import Request
from .store import ResponseStore, StoredTurn, now_utc


def input_items(value: Any) -> list[Any]:
    """``input`` as a list of items (a bare string is one user message)."""
    if value is None:
        return []
    if isinstance(value, str):
        return [
            {"type": "message", "role": "user", "content": [{"type": "input_text", "text": value}]}
        ]
    return list(value) if isinstance(value, list) else [value]


def resumed(obj: Mapping[str, Any], turn: StoredTurn) -> dict[str, Any]:
    """The body with the stored history in front of its own input and no
    ``previous_response_id`` (instructions do not carry over, as on OpenAI)."""
    body = {k: v for k, v in obj.items() if k != "previous_response_id"}
    body["input"] = [*turn.history(), *input_items(obj.get("input"))]
    return body


class TurnSink:
    """Stores one turn once its Response object is final."""

    def __init__(
        self,
        store: ResponseStore,
        *,
        items: list[Any],
        user_id: int | None,
        api_key_id: int | None,
        previous_response_id: str | None,
    ) -> None:
        self.store = store
        self.items = items
        self.user_id = user_id
        self.api_key_id = api_key_id
        self.previous_response_id = previous_response_id

    async def save(self, response: Mapping[str, Any]) -> None:
        await self.store.save(
            StoredTurn(
                id=str(response["id"]),
                user_id=self.user_id,
                api_key_id=self.api_key_id,
                model=str(response.get("model") or ""),
                previous_response_id=self.previous_response_id,
                input_items=self.items,
                response=response,
                created_at=now_utc(),
            )
        )


def wants_storing(request: Request) -> bool:
    # OpenAI stores unless told not to; Codex always says store: false.
    return request.dialect == "openai_responses" and request.store is not False


async def resume(
    store: ResponseStore, obj: dict[str, Any], *, user_id: int | None
) -> tuple[dict[str, Any], str | None]:
    """``(body, id)``: a body naming a turn this gateway stored, made
    self-contained, and that turn's id; else the body unchanged and None
    (an unknown id may still be OpenAI's own, for a passthrough)."""
    previous = obj.get("previous_response_id")
    if not isinstance(previous, str) or not previous:
        return obj, None
    turn = await store.load(previous, user_id=user_id)
    if turn is None:
        return obj, None
    return resumed(obj, turn), previous


def sink_for(
    store: ResponseStore | None,
    request: Request,
    obj: Mapping[str, Any],
    *,
    user_id: int | None,
    api_key_id: int | None,
) -> TurnSink | None:
    if store is None or not wants_storing(request):
        return None
    previous = request.extra.get("previous_response_id")
    return TurnSink(
        store,
        items=input_items(obj.get("input")),
        user_id=user_id,
        api_key_id=api_key_id,
        previous_response_id=previous if isinstance(previous, str) else None,
    )
