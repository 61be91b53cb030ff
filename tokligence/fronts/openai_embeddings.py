"""OpenAI ``/v1/embeddings``: request parsing and response rendering (pure)."""

from __future__ import annotations

import base64
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import invalid
from ..wire.json_body import dumps, load_object, opt, positive_int, req

# OpenAI's own limits: 2048 inputs per request.
MAX_INPUTS = 2048


@dataclass(frozen=True, kw_only=True, slots=True)
class EmbeddingsRequest:
    model: str
    inputs: tuple[str, ...]  # token-array inputs are carried as their decimal text
    encoding_format: str = "float"
    dimensions: int | None = None
    user: str | None = None


def parse_embeddings(body: bytes) -> EmbeddingsRequest:
    return parse_embeddings_object(load_object(body))


def parse_embeddings_object(obj: dict[str, Any]) -> EmbeddingsRequest:
    model = req(obj, "model", str)
    if "input" not in obj or obj["input"] is None:
        raise invalid("'input' is required", param="input")
    inputs = _inputs(obj["input"])
    fmt = opt(obj, "encoding_format", str) or "float"
    if fmt not in ("float", "base64"):
        raise invalid("'encoding_format' must be 'float' or 'base64'", param="encoding_format")
    return EmbeddingsRequest(
        model=model,
        inputs=inputs,
        encoding_format=fmt,
        dimensions=positive_int(obj, "dimensions"),
        user=opt(obj, "user", str),
    )


def _inputs(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        if not value:
            raise invalid("'input' must not be empty", param="input")
        return (value,)
    if not isinstance(value, list) or not value:
        raise invalid("'input' must be a non-empty string or array", param="input")
    if len(value) > MAX_INPUTS:
        raise invalid(
            f"'input' has {len(value)} items; at most {MAX_INPUTS} are allowed", param="input"
        )
    if all(isinstance(v, int) and not isinstance(v, bool) for v in value):
        return (" ".join(map(str, value)),)  # one input given as tokens
    out = []
    for i, item in enumerate(value):
        if isinstance(item, str) and item:
            out.append(item)
        elif (
            isinstance(item, list)
            and item
            and all(isinstance(t, int) and not isinstance(t, bool) for t in item)
        ):
            out.append(" ".join(map(str, item)))
        else:
            raise invalid(
                f"'input[{i}]' must be a non-empty string or array of token ids",
                param=f"input[{i}]",
            )
    return tuple(out)


def render_embeddings(
    request: EmbeddingsRequest, vectors: Sequence[Sequence[float]], *, prompt_tokens: int
) -> bytes:
    data = []
    for index, vector in enumerate(vectors):
        embedding: Any
        if request.encoding_format == "base64":
            embedding = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
        else:
            embedding = list(vector)
        data.append({"object": "embedding", "index": index, "embedding": embedding})
    return dumps(
        {
            "object": "list",
            "data": data,
            "model": request.model,
            "usage": {"prompt_tokens": prompt_tokens, "total_tokens": prompt_tokens},
        }
    )
