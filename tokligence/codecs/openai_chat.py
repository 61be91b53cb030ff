"""The OpenAI Chat Completions upstream codec: OpenAI itself and every
OpenAI-compatible server (vLLM, Ollama, LM Studio, DeepSeek, OpenRouter ...).

The work is split by direction: ``codec_openai_chat_encode`` builds request
bodies, ``codec_openai_chat_decode`` reads whole responses, usage and error
envelopes, ``codec_openai_chat_stream`` turns SSE chunks into events. This
module only binds them into the :class:`~tokligence.codecs.base.Codec`
shape.
"""

from __future__ import annotations

from collections.abc import Mapping

from ..canonical import Request, Response, Usage
from ..errors import GatewayError
from . import openai_chat_decode as decode
from .base import Encoded, EncodeOptions
from .openai_chat_encode import encode_request
from .openai_chat_stream import OpenAIChatStreamDecoder


class OpenAIChatCodec:
    dialect = "openai_chat"

    def encode(self, request: Request, options: EncodeOptions) -> Encoded:
        return encode_request(request, options)

    def decode_response(self, body: bytes, encoded: Encoded) -> Response:
        return decode.decode_response(body, encoded)

    def stream_decoder(self, encoded: Encoded) -> OpenAIChatStreamDecoder:
        return OpenAIChatStreamDecoder(encoded)

    def decode_error(self, status: int, body: bytes, headers: Mapping[str, str]) -> GatewayError:
        return decode.decode_error(status, body, headers)

    def usage_from(self, payload: Mapping[str, object]) -> Usage | None:
        return decode.usage_from(payload)
