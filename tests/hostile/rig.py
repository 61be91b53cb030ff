"""The gateway the corpus runs against, its fake upstreams, and the checks
that it still serves (``health``) and recorded a request (``row_status``).

One gateway in a thread routes ``gpt*`` to a fake OpenAI and ``claude*`` to
a fake Anthropic, both answering ordinary successes unless a case scripts a
refusal, and serves the built-in ``loopback`` model. A case that kills or
wedges it is failed by its health check; :meth:`Rig.ready` then gives the
next case a new gateway, so one crash does not hide the rest of the corpus.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.fakes.anthropic import (
    MessagesScenario,
    TextBlock,
    anthropic_error,
    count_tokens_reply,
    messages_json,
    messages_stream,
)
from tests.fakes.openai_chat import ChatScenario, chat_json, chat_stream, openai_error
from tests.fakes.openai_responses import (
    MessageItem,
    ResponsesScenario,
    responses_json,
    responses_stream,
)
from tests.fakes.wire import FakeServer, Reply, by_stream, json_reply
from tests.gateway_thread import GatewayThread, isolated_config
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry, row_of

from .case import BODY_LIMIT, Case

HEALTH_TIMEOUT = 3.0  # a gateway that cannot answer /health in this is wedged
ROW_WAIT = 3.0  # the ledger writer commits within its flush interval (1 ms here)

SETTINGS = {
    "TOKLIGENCE_OPENAI_API_KEY": "test-openai-upstream-key-hostile",
    "TOKLIGENCE_ANTHROPIC_API_KEY": "test-anthropic-upstream-key-hostile",
    "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "0",
    "TOKLIGENCE_BREAKER_THRESHOLD": "100000",
    "TOKLIGENCE_MAX_BODY_BYTES": str(BODY_LIMIT),
    "TOKLIGENCE_HEADER_TIMEOUT": "1",
    "TOKLIGENCE_IDLE_TIMEOUT": "2",
    "TOKLIGENCE_BODY_TIMEOUT": "2",
    "TOKLIGENCE_LEDGER_ASYNC_FLUSH_MS": "1",
}


def _fake_openai() -> FakeServer:
    chat = ChatScenario(text=["ok"])
    responses = ResponsesScenario(items=[MessageItem(pieces=["ok"])])
    embedding = {
        "object": "list",
        "data": [{"object": "embedding", "index": 0, "embedding": [0.1, 0.2]}],
        "model": "text-embedding-3-small",
        "usage": {"prompt_tokens": 1, "total_tokens": 1},
    }
    return FakeServer(
        defaults={
            "/v1/chat/completions": by_stream(chat_stream(chat), chat_json(chat)),
            "/v1/responses": by_stream(responses_stream(responses), responses_json(responses)),
            "/v1/embeddings": json_reply(embedding),
        }
    )


def _fake_anthropic() -> FakeServer:
    message = MessagesScenario(blocks=[TextBlock(pieces=["ok"])])
    return FakeServer(
        defaults={
            "/v1/messages": by_stream(messages_stream(message), messages_json(message)),
            "/v1/messages/count_tokens": count_tokens_reply(7),
        }
    )


class Rig:
    """The module's gateway, replaced when a case leaves it dead."""

    def __init__(
        self,
        tmp: pytest.TempPathFactory,
        env: dict[str, str],
        openai: FakeServer | None = None,
        anthropic: FakeServer | None = None,
    ) -> None:
        self.tmp = tmp
        self.env = env
        self.openai = openai
        self.anthropic = anthropic
        # No keep-alive: a case never inherits a connection another case broke.
        self.client = httpx.Client(limits=httpx.Limits(max_keepalive_connections=0))
        self.suspect = False
        self.gateway = self._start()
        self.db = open_database(sqlite_url(self.gateway.config.ledger_file()))

    def _start(self) -> GatewayThread:
        root: Path = self.tmp.mktemp("hostile")
        return GatewayThread(isolated_config(root, env=self.env)).__enter__()

    @property
    def url(self) -> str:
        return self.gateway.url()

    @property
    def port(self) -> int:
        return self.gateway.port()

    def close(self) -> None:
        self.stop()
        self.client.close()

    def stop(self) -> None:
        close_database(self.db)
        # A crash that ended the gateway was reported by the case that caused it.
        with contextlib.suppress(BaseException):
            self.gateway.__exit__(None, None, None)

    def ready(self) -> None:
        """A serving gateway for the next case."""
        if not self.suspect and self.gateway.running:
            return
        if self.gateway.running and health_problem(self.client, self.url) is None:
            self.suspect = False
            return
        self.stop()
        self.gateway = self._start()
        self.db = open_database(sqlite_url(self.gateway.config.ledger_file()))
        self.suspect = False

    def health(self) -> str | None:
        """None when the gateway serves; what is wrong otherwise."""
        if not self.gateway.running:
            # Its listening socket may linger unanswered: no need to wait on it.
            return f"its run has ended: {self.gateway.error!r}"
        return health_problem(self.client, self.url)

    def row_status(self, request_id: str) -> int | None:
        """The status the ledger row of ``request_id`` records; None when
        there is none (given up early if the gateway died)."""
        deadline = time.monotonic() + ROW_WAIT
        while time.monotonic() < deadline:
            with self.db.connection_context():
                query = LedgerEntry.select().where(LedgerEntry.request_id == request_id)
                entry = query.first(self.db)
            if entry is not None:
                return row_of(entry).status
            if not self.gateway.running:
                return None
            time.sleep(0.005)
        return None

    def script(self, case: Case) -> None:
        """Reset the fakes; a passthrough body the real API refuses is
        refused by the fake, as the real API would."""
        for fake in (self.openai, self.anthropic):
            if fake is not None:
                fake.reset()
        if not case.refused_upstream:
            return
        field = case.names or "body"
        message = f"fake upstream: invalid value for '{field}' (the real API refuses this body)"
        reply: Reply
        if case.dialect == "anthropic":
            reply = anthropic_error(400, "invalid_request_error", f"{field}: {message}")
            fake = self.anthropic
        else:
            reply = openai_error(400, "invalid_request_error", message, param=field)
            fake = self.openai
        assert fake is not None
        fake.enqueue(case.path, reply)


def health_problem(client: httpx.Client, url: str) -> str | None:
    try:
        response = client.get(url + "/health", timeout=HEALTH_TIMEOUT)
    except httpx.HTTPError as exc:
        return f"GET /health failed: {exc!r}"
    if response.status_code != 200:
        return f"GET /health answered {response.status_code}: {response.text[:200]}"
    return None


@contextlib.contextmanager
def running_rig(tmp: pytest.TempPathFactory) -> Iterator[Rig]:
    """A rig with both fake upstreams, torn down on exit."""
    openai, anthropic = _fake_openai(), _fake_anthropic()
    with openai.running_in_thread() as openai_url, anthropic.running_in_thread() as anthropic_url:
        env = {
            **SETTINGS,
            "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
            "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
        }
        rig = Rig(tmp, env, openai, anthropic)
        try:
            yield rig
        finally:
            rig.close()
