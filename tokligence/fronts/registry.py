"""The explicit registry of client dialects (no discovery: the frozen binary
must see every module statically)."""

from __future__ import annotations

from .anthropic_messages import AnthropicMessagesFront
from .base import Front
from .openai_chat import OpenAIChatFront
from .openai_responses import OpenAIResponsesFront

FRONTS: dict[str, Front] = {
    "openai_chat": OpenAIChatFront(),
    "openai_responses": OpenAIResponsesFront(),
    "anthropic_messages": AnthropicMessagesFront(),
}
