"""What a model call is and what it came to: the kinds of call (which
endpoint, which client dialect, which upstream dialect takes it as
passthrough), the facts a finished call leaves for the access log and the
ledger, and the agent session a request names."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from ..canonical import Usage
from ..server.exchange import AccessRecord

# The agent session a request belongs to, as each agent names it: Claude
# Code's header, then Codex's. Kept when it looks like an id (a UUID, say).
SESSION_HEADERS = ("x-claude-code-session-id", "session_id")
_SESSION_ID = re.compile(r"[A-Za-z0-9._:-]{1,128}")


def agent_session(headers: tuple[tuple[str, str], ...]) -> str | None:
    """The request's agent session id, if it names one that looks like an id."""
    for wanted in SESSION_HEADERS:
        for name, value in headers:
            if name == wanted:
                return value if _SESSION_ID.fullmatch(value) else None
    return None


@dataclass(frozen=True, kw_only=True, slots=True)
class CallKind:
    """What the client called, as the call needs to know it."""

    action: str  # the endpoint's action
    dialect: str  # the client's dialect, as recorded
    passes_to: str  # the dialect a provider must speak to take the call as passthrough


CALL_KINDS: Mapping[str, CallKind] = {
    kind.action: kind
    for kind in (
        CallKind(action="chat", dialect="openai_chat", passes_to="openai_chat"),
        CallKind(action="responses", dialect="openai_responses", passes_to="openai_responses"),
        CallKind(action="messages", dialect="anthropic_messages", passes_to="anthropic_messages"),
        CallKind(
            action="count_tokens", dialect="anthropic_messages", passes_to="anthropic_messages"
        ),
        # Any provider of the OpenAI kind (it speaks Chat) has /embeddings.
        CallKind(action="embeddings", dialect="openai_embeddings", passes_to="openai_chat"),
    )
}


@dataclass(kw_only=True, slots=True)
class CallFacts:
    """What one call came to, for the access log and the ledger."""

    dialect: str
    model: str | None = None
    stream: bool = False
    provider: str | None = None
    upstream_model: str | None = None
    mode: str | None = None
    usage: Usage | None = None
    counted: tuple[int, int] | None = None  # the gateway's own (input, output) count
    error: str | None = None

    def write_to(self, record: AccessRecord) -> None:
        record.dialect = self.dialect
        record.model = self.model
        record.stream = self.stream
        record.provider = self.provider
        record.upstream_model = self.upstream_model
        record.mode = self.mode
        record.usage = self.usage
        if self.counted is not None:
            record.counted_input_tokens, record.counted_output_tokens = self.counted
        record.error = self.error
