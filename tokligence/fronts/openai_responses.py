"""The OpenAI Responses client dialect (``POST /v1/responses``).

Theory of operation
-------------------
A thin :class:`~tokligence.fronts.base.Front` binding three modules:
``openai_responses_parse`` (input items -> canonical messages),
``openai_responses_render`` (the Response object, its output items and the
non-stream body) and ``openai_responses_stream`` (the item-lifecycle state
machine behind ``"stream": true``).

Errors before the first byte use the same OpenAI envelope as Chat
Completions, ``{"error": {"message", "type", "param", "code"}}``, with the
``type``/``code`` values OpenAI sends per status (one table, in
``openai_chat_render``). Errors after it become an ``error`` event plus
``response.failed`` inside the stream.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..canonical import Request, Response
from ..errors import GatewayError
from ..wire.json_body import dumps
from .openai_chat_render import error_body
from .openai_responses_parse import DIALECT, parse_object, parse_request
from .openai_responses_render import render_response
from .openai_responses_stream import ResponsesStreamRenderer

if TYPE_CHECKING:
    from .base import Front


class OpenAIResponsesFront:
    dialect: str = DIALECT

    def parse_request(self, body: bytes) -> Request:
        return parse_request(body)

    def parse_object(self, obj: dict[str, Any]) -> Request:
        return parse_object(obj)

    def render_response(self, response: Response, request: Request) -> bytes:
        return render_response(response, request)

    def stream_renderer(self, request: Request) -> ResponsesStreamRenderer:
        return ResponsesStreamRenderer(request)

    def render_error(self, error: GatewayError) -> bytes:
        return dumps(error_body(error.kind, error.message, param=error.param, code=error.code))


if TYPE_CHECKING:
    _conforms: Front = OpenAIResponsesFront()
