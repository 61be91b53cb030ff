"""The explicit registry of upstream codecs, by provider kind (no discovery:
the frozen binary must see every module statically)."""

from __future__ import annotations

from .codec import Codec
from .codec_anthropic import AnthropicCodec
from .codec_openai_chat import OpenAIChatCodec

CODECS: dict[str, Codec] = {
    "openai": OpenAIChatCodec(),
    "anthropic": AnthropicCodec(),
}
