"""The explicit registry of upstream codecs, by provider kind (no discovery:
the frozen binary must see every module statically).

Each codec's modules are imported the first time a codec of that kind is
asked for: a gateway whose providers all speak the OpenAI wire never loads
the Anthropic codec (about 1% of a start's instructions).
"""

from __future__ import annotations

import functools

from ..providers import ProviderKind
from .base import Codec


@functools.cache
def codec_for(kind: ProviderKind) -> Codec:
    """The one codec of provider ``kind``."""
    if kind == "anthropic":
        from .anthropic import AnthropicCodec

        return AnthropicCodec()
    from .openai_chat import OpenAIChatCodec

    return OpenAIChatCodec()
