"""One request down each path, to prove the wiring before the full matrix."""

from __future__ import annotations

import anthropic
import openai

from tests.fakes.anthropic import MessagesScenario, TextBlock, messages_stream
from tests.fakes.openai_chat import ChatScenario, chat_stream

from .conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig


def test_chat_client_to_anthropic_upstream(fresh: Rig) -> None:
    fresh.anthropic.enqueue(
        "/v1/messages", messages_stream(MessagesScenario(blocks=[TextBlock(pieces=["Hel", "lo"])]))
    )
    client = openai.OpenAI(base_url=fresh.url + "/v1", api_key="x", max_retries=0)
    with client.chat.completions.stream(
        model="claude-sonnet-4-5", messages=[{"role": "user", "content": "hi"}]
    ) as s:
        final = s.get_final_completion()
    assert final.choices[0].message.content == "Hello"
    sent = fresh.anthropic.last("/v1/messages")
    assert sent.headers["x-api-key"] == ANTHROPIC_KEY
    assert sent.json["max_tokens"] > 0 and sent.json["stream"] is True


def test_messages_client_to_openai_upstream(fresh: Rig) -> None:
    fresh.openai.enqueue("/v1/chat/completions", chat_stream(ChatScenario(text=["Bon", "jour"])))
    client = anthropic.Anthropic(base_url=fresh.url, api_key="x", max_retries=0)
    with client.messages.stream(
        model="gpt-4o", max_tokens=50, messages=[{"role": "user", "content": "hi"}]
    ) as s:
        final = s.get_final_message()
    assert final.content[0].text == "Bonjour"  # type: ignore[union-attr]
    sent = fresh.openai.last("/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {OPENAI_KEY}"
    assert sent.json["stream_options"] == {"include_usage": True}
