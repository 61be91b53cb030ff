"""Wrong types, unknown enum values, out-of-range numbers, nulls and missing
required fields, per dialect, from tables: one row per field, one case per
wrong value.

The reference for what is right is the official SDKs' request types
(``openai/types/chat/completion_create_params.py``,
``openai/types/responses/response_create_params.py``,
``openai/types/embedding_create_params.py``,
``anthropic/types/message_create_params.py`` and the param types they
name): a value outside them is a 400 naming the field, as the real APIs
answer. Each row's values alternate between the translated target and the
loopback model (both parse the body in full); a row's first value also goes
to the passthrough target, where the fake upstream refuses it as the real
API would (the gateway must relay that 400, not fail reading the body).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .anthropic_rows import COUNT_TOKENS_ROWS, MESSAGES_ROWS, count_tokens_base, messages_base
from .case import MODELS, Case, Endpoint, Row, Target, V, dumps, label, model_case, put, slug
from .openai_rows import (
    CHAT_ROWS,
    EMBEDDINGS_ROWS,
    RESPONSES_ROWS,
    chat_base,
    embeddings_base,
    responses_base,
)

BASES: dict[Endpoint, tuple[Callable[[str], dict[str, Any]], tuple[Row, ...]]] = {
    "chat": (chat_base, CHAT_ROWS),
    "messages": (messages_base, MESSAGES_ROWS),
    "responses": (responses_base, RESPONSES_ROWS),
    "count_tokens": (count_tokens_base, COUNT_TOKENS_ROWS),
    "embeddings": (embeddings_base, EMBEDDINGS_ROWS),
}


def _targets(endpoint: Endpoint) -> tuple[Target, ...]:
    """Where the values of a row go in turn."""
    return ("loopback",) if endpoint == "embeddings" else ("translated", "loopback")


def cases() -> list[Case]:
    out: list[Case] = []
    for endpoint, (base, rows) in BASES.items():
        alternate = _targets(endpoint)
        for path, values, overrides in rows:
            for i, raw in enumerate(values):
                value = raw if isinstance(raw, V) else V(raw)
                tag = value.tag or label(value.value)
                targets: list[Target] = [alternate[i % len(alternate)]]
                if i == 0:
                    targets.append("passthrough")
                for target in targets:
                    body = put({**base(MODELS[endpoint][target]), **overrides}, path, value.value)
                    out.append(
                        model_case(
                            id=f"{endpoint}-{slug(path)}-{tag}-{target}",
                            category="types",
                            endpoint=endpoint,
                            target=target,
                            body=dumps(body),
                            names=value.names or path,
                        )
                    )
    return out
