"""The explicit registry of upstream codecs, by provider kind (no discovery:
the frozen binary must see every module statically)."""

from __future__ import annotations

from .anthropic import AnthropicCodec
from .base import Codec
from .openai_chat import OpenAIChatCodec

CODECS: dict[str, Codec] = {
    "openai": OpenAIChatCodec(),
    "anthropic": AnthropicCodec(),
}
