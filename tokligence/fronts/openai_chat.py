"""The OpenAI Chat Completions client dialect (``POST /v1/chat/completions``).

Theory of operation
-------------------
A thin :class:`~tokligence.fronts.base.Front`: request parsing lives in
``openai_chat_parse`` (top level, tools, formats) and ``openai_chat_messages``
(the conversation); response, stream and error rendering in
``openai_chat_render``. This module only binds them to the front contract.

Error envelopes are ``{"error": {"message", "type", "param", "code"}}`` with
the ``type``/``code`` values OpenAI itself sends for each status (see
``openai_chat_render.ERROR_TYPES``); the HTTP status travels separately.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..canonical import Request, Response
from ..errors import GatewayError
from ..wire.json_body import dumps
from .openai_chat_parse import parse_object, parse_request
from .openai_chat_render import ChatStreamRenderer, error_body, render_response

if TYPE_CHECKING:
    from .base import Front


class OpenAIChatFront:
    dialect = "openai_chat"

    def parse_request(self, body: bytes) -> Request:
        return parse_request(body)

    def parse_object(self, obj: dict[str, Any]) -> Request:
        return parse_object(obj)

    def render_response(self, response: Response, request: Request) -> bytes:
        return render_response(response, request)

    def stream_renderer(self, request: Request) -> ChatStreamRenderer:
        return ChatStreamRenderer(request)

    def render_error(self, error: GatewayError) -> bytes:
        return dumps(error_body(error.kind, error.message, param=error.param, code=error.code))


if TYPE_CHECKING:
    _conforms: Front = OpenAIChatFront()
