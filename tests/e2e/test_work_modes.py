"""Work modes through running gateways: what each mode lets through, what it
refuses, and what the refusal looks like on the wire and in the ledger.

Theory of operation
-------------------
One gateway per work mode (``auto``, ``passthrough``, ``translation``), all
three wired to the same fake upstreams and started once for the module:

* ``openai``: the built-in OpenAI provider. It speaks Chat Completions and,
  being built in, ``/v1/responses`` too (``responses=True``);
* ``anthropic``: the built-in Anthropic provider; speaks Messages only;
* ``compat``: a declared ``kind = openai`` provider without the ``responses``
  flag, so it speaks Chat Completions only and a Responses client sent to it
  needs translation. Its fake is the rig's ``backup`` server.

Every client endpoint meets every provider (:data:`PAIRS`); whether the pair
is native (the provider speaks the client's dialect) decides what each mode
does: ``auto`` passes native pairs through and translates the rest,
``passthrough`` refuses the non-native ones and ``translation`` the native
ones. A refusal is a 400 ``work_mode_forbids`` in the client's own envelope
(Anthropic's has no ``code`` field: its type and message say it), no fake
receives anything, and the ledger gets one row with the error kind. Routes
with a fallback list (``fb-*``) check that a forbidden primary is skipped for
an allowed fallback, and that the refusal comes only when none is left.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any, Literal

import pytest

from tests.fakes.wire import FakeServer, json_reply
from tests.gateway_thread import GatewayThread, isolated_config
from tests.translation.conftest import ANTHROPIC_KEY, OPENAI_KEY, Rig
from tests.translation.rigs import (
    CHAT_PATH,
    CLAUDE,
    MESSAGES_PATH,
    RESPONSES_PATH,
    ClientKind,
    RawReply,
    Turn,
    UpstreamKind,
    post_raw,
    raw_outcome,
    upstream_reply,
)
from tests.translation.test_ledger_paths import row_for
from tokligence.ledger.db import close_database, open_database, sqlite_url
from tokligence.ledger.models import LedgerEntry, row_of
from tokligence.ledger.row import LedgerRow

WorkMode = Literal["auto", "passthrough", "translation"]
Provider = Literal["openai", "anthropic", "compat"]
MODES: tuple[WorkMode, ...] = ("auto", "passthrough", "translation")
CLIENTS: tuple[ClientKind, ...] = ("chat", "responses", "messages")
STREAM = pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])

CLIENT_PATH = {"chat": CHAT_PATH, "responses": RESPONSES_PATH, "messages": MESSAGES_PATH}
DIALECT = {"chat": "openai_chat", "responses": "openai_responses", "messages": "anthropic_messages"}
# What each provider speaks natively (tokligence/providers.py: ProviderConfig.dialects).
SPEAKS: dict[Provider, tuple[ClientKind, ...]] = {
    "openai": ("chat", "responses"),
    "anthropic": ("messages",),
    "compat": ("chat",),
}
MODEL = {"openai": "gpt-4o", "anthropic": CLAUDE, "compat": "compat-model"}
# Fallback routes: model -> (primary, fallback).
FALLBACK_ROUTES: dict[str, tuple[Provider, Provider]] = {
    "fb-anthropic-openai": ("anthropic", "openai"),
    "fb-openai-anthropic": ("openai", "anthropic"),
    "fb-compat-openai": ("compat", "openai"),
    "fb-compat-anthropic": ("compat", "anthropic"),
}
ROUTES = ", ".join(
    ["compat-*=>compat"] + [f"{m}=>{a}|{b}" for m, (a, b) in FALLBACK_ROUTES.items()]
)
ANSWER = Turn(text=("po", "ng"))


# ------------------------------------------------------------------------ rigs


@dataclass
class ModeRig(Rig):
    mode: WorkMode

    def fake(self, provider: Provider) -> FakeServer:
        return {"openai": self.openai, "anthropic": self.anthropic, "compat": self.backup}[provider]

    def fakes(self) -> dict[Provider, FakeServer]:
        return {p: self.fake(p) for p in SPEAKS}


@pytest.fixture(scope="module")
def rigs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[WorkMode, ModeRig]]:
    openai_fake, anthropic_fake, compat_fake = FakeServer(), FakeServer(), FakeServer()
    with ExitStack() as stack:
        openai_url = stack.enter_context(openai_fake.running_in_thread())
        anthropic_url = stack.enter_context(anthropic_fake.running_in_thread())
        compat_url = stack.enter_context(compat_fake.running_in_thread())
        started: dict[WorkMode, ModeRig] = {}
        for mode in MODES:
            env = {
                "TOKLIGENCE_WORK_MODE": mode,
                "TOKLIGENCE_OPENAI_API_KEY": OPENAI_KEY,
                "TOKLIGENCE_OPENAI_BASE_URL": openai_url + "/v1",
                "TOKLIGENCE_ANTHROPIC_API_KEY": ANTHROPIC_KEY,
                "TOKLIGENCE_ANTHROPIC_BASE_URL": anthropic_url,
                "TOKLIGENCE_PROVIDER_COMPAT_BASE_URL": compat_url + "/v1",
                "TOKLIGENCE_PROVIDER_COMPAT_API_KEY": "compat-key",
                "TOKLIGENCE_ROUTES": ROUTES,
                "TOKLIGENCE_UPSTREAM_MAX_RETRIES": "0",
            }
            tmp: FsPath = tmp_path_factory.mktemp(f"work-mode-{mode}")
            gateway = stack.enter_context(GatewayThread(isolated_config(tmp, env=env)))
            assert gateway.config.work_mode == mode
            started[mode] = ModeRig(
                gateway=gateway,
                openai=openai_fake,
                anthropic=anthropic_fake,
                backup=compat_fake,
                mode=mode,
            )
        yield started


@pytest.fixture
def fresh(rigs: dict[WorkMode, ModeRig]) -> Iterator[dict[WorkMode, ModeRig]]:
    rigs["auto"].reset()  # the fakes are shared by the three gateways
    yield rigs
    rigs["auto"].reset()


# --------------------------------------------------------------------- helpers


def request_body(client: ClientKind, model: str, *, stream: bool) -> bytes:
    """A request in ``client``'s dialect, as bytes the upstream must see unchanged
    on a passthrough (a Chat stream asks for usage itself, or the gateway would)."""
    hi = [{"role": "user", "content": "ping"}]
    body: dict[str, Any] = {"model": model}
    if client == "chat":
        body["messages"] = hi
    elif client == "messages":
        body |= {"max_tokens": 64, "messages": hi}
    else:
        body["input"] = "ping"
    if stream:
        body["stream"] = True
        if client == "chat":
            body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


def send(rig: ModeRig, client: ClientKind, model: str, *, stream: bool) -> RawReply:
    headers = {"anthropic-version": "2023-06-01"} if client == "messages" else {}
    body = request_body(client, model, stream=stream)
    return post_raw(rig, CLIENT_PATH[client], body, headers=headers)


def answer_text(client: ClientKind, reply: RawReply, *, stream: bool) -> str:
    if stream:
        done, failed, text = raw_outcome(client, reply.body)
        assert (done, failed) == (True, False), reply.body
        return text
    payload = reply.json()
    if client == "chat":
        return str(payload["choices"][0]["message"]["content"])
    if client == "messages":
        return "".join(b["text"] for b in payload["content"] if b["type"] == "text")
    return "".join(
        part["text"]
        for item in payload["output"]
        if item["type"] == "message"
        for part in item["content"]
        if part["type"] == "output_text"
    )


def upstream_kind(provider: Provider, client: ClientKind) -> UpstreamKind:
    """The dialect the provider is called in for ``client``."""
    if provider == "anthropic":
        return "anthropic"
    return "responses" if client == "responses" and client in SPEAKS[provider] else "chat"


UPSTREAM_PATH = {"anthropic": MESSAGES_PATH, "chat": CHAT_PATH, "responses": RESPONSES_PATH}


def ledger_row(rig: ModeRig, reply: RawReply) -> LedgerRow:
    """The request's one ledger row (exactly one: a second would be double-counting)."""
    request_id = reply.headers["x-request-id"]
    first = row_for(rig, request_id)
    db = open_database(sqlite_url(rig.gateway.config.ledger_file()))
    try:
        with db.connection_context():
            query = LedgerEntry.select().where(LedgerEntry.request_id == request_id)
            rows = [row_of(entry) for entry in query.execute(db)]
    finally:
        close_database(db)
    assert rows == [first]
    return first


def expect_served(
    rig: ModeRig,
    client: ClientKind,
    model: str,
    provider: Provider,
    *,
    stream: bool,
) -> None:
    """``provider`` answers ``model`` alone: passthrough when it speaks the
    client's dialect (the request and the answer untouched), else translation."""
    kind = upstream_kind(provider, client)
    path = UPSTREAM_PATH[kind]
    scripted = upstream_reply(kind, ANSWER, stream=stream)
    rig.fake(provider).enqueue(path, scripted)
    passthrough = client in SPEAKS[provider]
    reply = send(rig, client, model, stream=stream)
    assert reply.status == 200, reply.body
    assert answer_text(client, reply, stream=stream) == "pong"
    (sent,) = rig.fake(provider).received
    assert sent.path == path
    if passthrough:
        assert sent.body == request_body(client, model, stream=stream)
        assert reply.body == scripted.body
    else:
        assert sent.json["model"] == model
    for other, fake in rig.fakes().items():
        if other != provider:
            assert fake.received == [], other
    row = ledger_row(rig, reply)
    expected_mode = "passthrough" if passthrough else "translation"
    assert (row.status, row.error_kind, row.provider) == (200, None, provider)
    assert (row.mode, row.client_dialect, row.stream) == (expected_mode, DIALECT[client], stream)


def expect_refused(rig: ModeRig, client: ClientKind, model: str, *, stream: bool) -> None:
    reply = send(rig, client, model, stream=stream)
    assert reply.status == 400, reply.body
    assert reply.headers["content-type"].startswith("application/json")
    payload = reply.json()
    error = payload["error"]
    assert error["type"] == "invalid_request_error"
    assert error["message"].startswith(f"work_mode={rig.mode} does not support ")
    if client == "messages":
        assert payload["type"] == "error"
        assert "code" not in error
    else:
        assert "type" not in payload
        assert error["code"] == "work_mode_forbids"
    for provider, fake in rig.fakes().items():
        assert fake.received == [], provider
    row = ledger_row(rig, reply)
    assert (row.status, row.error_kind) == (400, "invalid_request")
    assert (row.mode, row.provider, row.upstream_model) == ("none", "", "")
    assert (row.endpoint, row.client_dialect) == (CLIENT_PATH[client], DIALECT[client])
    assert (row.requested_model, row.stream) == (model, stream)


# ---------------------------------------------------------- one provider a route

PAIRS = [(c, p) for c in CLIENTS for p in SPEAKS]


def allowed(mode: WorkMode, client: ClientKind, provider: Provider) -> bool:
    native = client in SPEAKS[provider]
    return mode == "auto" or native == (mode == "passthrough")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize(("client", "provider"), PAIRS, ids=[f"{c}-to-{p}" for c, p in PAIRS])
@STREAM
def test_each_mode_serves_what_it_allows_and_refuses_the_rest(
    fresh: dict[WorkMode, ModeRig],
    mode: WorkMode,
    client: ClientKind,
    provider: Provider,
    stream: bool,
) -> None:
    rig = fresh[mode]
    if allowed(mode, client, provider):
        expect_served(rig, client, MODEL[provider], provider, stream=stream)
    else:
        expect_refused(rig, client, MODEL[provider], stream=stream)


@pytest.mark.parametrize("mode", MODES)
def test_the_table_matches_what_the_gateways_providers_speak(
    rigs: dict[WorkMode, ModeRig], mode: WorkMode
) -> None:
    speaks = {p.name: p.dialects for p in rigs[mode].gateway.config.providers}
    assert speaks == {p: tuple(DIALECT[c] for c in clients) for p, clients in SPEAKS.items()}


def test_the_table_has_both_fates_under_each_strict_mode() -> None:
    # The pairs above must exercise a refusal and a success under each mode.
    for mode in ("passthrough", "translation"):
        fates = {allowed(mode, c, p) for c, p in PAIRS}
        assert fates == {True, False}, mode
    assert all(allowed("auto", c, p) for c, p in PAIRS)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("client", CLIENTS)
@STREAM
def test_loopback_answers_under_every_mode(
    fresh: dict[WorkMode, ModeRig], mode: WorkMode, client: ClientKind, stream: bool
) -> None:
    rig = fresh[mode]
    reply = send(rig, client, "loopback", stream=stream)
    assert reply.status == 200, reply.body
    assert answer_text(client, reply, stream=stream)
    for provider, fake in rig.fakes().items():
        assert fake.received == [], provider
    row = ledger_row(rig, reply)
    assert (row.status, row.mode, row.provider) == (200, "native", "loopback")


# ------------------------------------------------------------- fallback routes

# (mode, client, model): the route's primary is one the mode forbids for that
# client, its fallback one the mode allows.
FALLBACKS: list[tuple[WorkMode, ClientKind, str]] = [
    ("passthrough", "chat", "fb-anthropic-openai"),
    ("passthrough", "responses", "fb-anthropic-openai"),
    ("passthrough", "responses", "fb-compat-openai"),  # compat speaks Chat only
    ("passthrough", "messages", "fb-openai-anthropic"),
    ("translation", "chat", "fb-openai-anthropic"),
    ("translation", "chat", "fb-compat-anthropic"),
    ("translation", "responses", "fb-openai-anthropic"),
    ("translation", "messages", "fb-anthropic-openai"),
]


@pytest.mark.parametrize(
    ("mode", "client", "model"), FALLBACKS, ids=[f"{m}-{c}-{model}" for m, c, model in FALLBACKS]
)
@STREAM
def test_a_forbidden_primary_is_skipped_for_an_allowed_fallback(
    fresh: dict[WorkMode, ModeRig], mode: WorkMode, client: ClientKind, model: str, stream: bool
) -> None:
    primary, fallback = FALLBACK_ROUTES[model]
    assert not allowed(mode, client, primary) and allowed(mode, client, fallback)
    expect_served(fresh[mode], client, model, fallback, stream=stream)


# (mode, client, model): every provider of the route is one the mode forbids.
NONE_LEFT: list[tuple[WorkMode, ClientKind, str]] = [
    ("passthrough", "responses", "fb-compat-anthropic"),
    ("passthrough", "messages", "fb-compat-openai"),
    ("translation", "chat", "fb-compat-openai"),
]


@pytest.mark.parametrize(
    ("mode", "client", "model"), NONE_LEFT, ids=[f"{m}-{c}-{model}" for m, c, model in NONE_LEFT]
)
@STREAM
def test_the_refusal_comes_only_when_no_provider_of_the_route_is_left(
    fresh: dict[WorkMode, ModeRig], mode: WorkMode, client: ClientKind, model: str, stream: bool
) -> None:
    assert not any(allowed(mode, client, p) for p in FALLBACK_ROUTES[model])
    expect_refused(fresh[mode], client, model, stream=stream)


# ---------------------------------------------------- count_tokens and embeddings
# They are model calls like the others: the work mode applies per target.
# count_tokens passes through to an Anthropic counter (otherwise the gateway
# answers with its own estimate: "translation"); embeddings pass through to
# an OpenAI-kind provider.

# (mode, endpoint, provider, allowed)
SMALL_CALLS: list[tuple[WorkMode, str, Provider, bool]] = [
    ("auto", "count_tokens", "anthropic", True),
    ("auto", "count_tokens", "openai", True),
    ("passthrough", "count_tokens", "anthropic", True),
    ("passthrough", "count_tokens", "openai", False),
    ("translation", "count_tokens", "anthropic", False),
    ("translation", "count_tokens", "openai", True),
    ("auto", "embeddings", "openai", True),
    ("passthrough", "embeddings", "openai", True),
    ("translation", "embeddings", "openai", False),
]


def small_call(rig: ModeRig, endpoint: str, provider: Provider) -> RawReply:
    if endpoint == "count_tokens":
        body = {"model": MODEL[provider], "messages": [{"role": "user", "content": "ping"}]}
        headers = {"anthropic-version": "2023-06-01"}
        return post_raw(rig, "/v1/messages/count_tokens", body, headers=headers)
    return post_raw(rig, "/v1/embeddings", {"model": MODEL[provider], "input": "ping"})


@pytest.mark.parametrize(
    ("mode", "endpoint", "provider", "allowed"),
    SMALL_CALLS,
    ids=[f"{m}-{e}-{p}" for m, e, p, _ in SMALL_CALLS],
)
def test_count_tokens_and_embeddings_obey_the_work_mode(
    fresh: dict[WorkMode, ModeRig], mode: WorkMode, endpoint: str, provider: Provider, allowed: bool
) -> None:
    rig = fresh[mode]
    upstream_path = {"count_tokens": "/v1/messages/count_tokens", "embeddings": "/v1/embeddings"}
    relays = provider == "anthropic" if endpoint == "count_tokens" else True
    if allowed and relays:
        payload: Any = (
            {"input_tokens": 7}
            if endpoint == "count_tokens"
            else {"object": "list", "data": [], "model": "m", "usage": {"prompt_tokens": 1}}
        )
        rig.fake(provider).enqueue(upstream_path[endpoint], json_reply(payload))
    reply = small_call(rig, endpoint, provider)
    if not allowed:
        assert reply.status == 400, reply.body
        envelope = reply.json()
        error = envelope["error"]
        if endpoint == "count_tokens":
            assert envelope["type"] == "error"
        else:
            assert error["code"] == "work_mode_forbids"
        assert error["message"].startswith(f"work_mode={mode} does not support")
        assert all(fake.requests(upstream_path[endpoint]) == [] for fake in rig.fakes().values())
        return
    assert reply.status == 200, reply.body
    sent = rig.fake(provider).requests(upstream_path[endpoint])
    assert len(sent) == (1 if relays else 0)
