"""Wiring: configuration in, a running gateway out.

``build`` turns a :class:`~tokligence.config.Config` into the objects of a
gateway (router, upstreams, listeners); ``serve`` runs them until a signal
asks it to stop; ``run_gateway`` is what the CLI calls.
"""

from __future__ import annotations

import ipaddress
import logging
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import trio

from . import lifeline
from .agents.guard import GuardPolicy
from .agents.safety import AgentSafety
from .call.model_call import ModelCall, RetryPolicy
from .codecs.registry import CODECS
from .config import Config, ConfigError, alias_text
from .databases import close_all, open_identity, open_ledger, open_responses
from .endpoints import EndpointTable
from .gateway import Gateway
from .ledger.writer import LedgerWriter
from .routing import Router, Rule, parse_aliases, parse_rules
from .routing.breaker import CircuitBreaker
from .server.http import Handler, HttpLimits
from .server.listen import Bound, ListenerSpec, Server
from .upstreams.base import Upstream
from .upstreams.client import ProviderClient
from .upstreams.loopback_upstream import LoopbackUpstream

if TYPE_CHECKING:
    from .admin.api import AdminApi

log = logging.getLogger("tokligence")


@dataclass(frozen=True, kw_only=True, slots=True)
class Built:
    gateway: Gateway
    server: Server
    upstreams: Mapping[str, Upstream]
    config: Config


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def listener_specs(config: Config) -> list[ListenerSpec]:
    """One listener in single-port mode; in multi-port mode one per port
    whose endpoint list is not empty (a port of 0 disables a listener)."""
    anthropic_ok = config.anthropic_native_enabled

    def keys(names: tuple[str, ...]) -> frozenset[str]:
        return frozenset(k for k in names if anthropic_ok or k != "anthropic")

    if not config.multiport_mode:
        return [
            ListenerSpec(
                name="gateway",
                host=config.host,
                port=config.facade_port,
                keys=keys(config.facade_endpoints),
            )
        ]
    specs = []
    candidates = [
        ("gateway", config.facade_port, config.facade_endpoints, config.enable_facade),
        ("admin", config.admin_port, config.admin_endpoints, True),
        ("openai", config.openai_port, config.openai_endpoints, True),
        ("anthropic", config.anthropic_port, config.anthropic_endpoints, anthropic_ok),
    ]
    for name, port, names, enabled in candidates:
        if enabled and port and keys(names):
            specs.append(ListenerSpec(name=name, host=config.host, port=port, keys=keys(names)))
    if not specs:
        raise ConfigError("multiport_mode is on but no listener has a port and endpoints")
    return specs


def default_rules(providers: Mapping[str, Upstream]) -> tuple[Rule, ...]:
    """The original gateway's built-in routes, for the providers that exist."""
    text = []
    if "openai" in providers:
        text.append("gpt*=>openai, chatgpt*=>openai, o1*=>openai, o3*=>openai, o4*=>openai")
        text.append("text-embedding*=>openai, codex*=>openai")
    if "anthropic" in providers:
        text.append("claude*=>anthropic")
    return parse_rules("\n".join(text))


def build_upstreams(config: Config) -> dict[str, Upstream]:
    upstreams: dict[str, Upstream] = {"loopback": LoopbackUpstream()}
    for provider in config.providers:
        upstreams[provider.name] = ProviderClient(
            provider,
            codec=CODECS[provider.kind],
            forward_client_key=config.forward_client_key,
            breaker=CircuitBreaker(
                threshold=config.breaker_threshold, cooldown=config.breaker_cooldown
            ),
        )
    return upstreams


def build(config: Config, *, started_at: float | None = None) -> Built:
    if not is_loopback(config.host) and config.auth_disabled and not config.insecure:
        raise ConfigError(
            f"refusing to listen on {config.host} without authentication: set "
            "TOKLIGENCE_AUTH_DISABLED=false (auth_disabled = false) to require gateway API keys, "
            "or pass --insecure to expose it without them"
        )
    upstreams = build_upstreams(config)
    try:
        # First match wins: explicit routes, then provider routes, then defaults.
        rules = (
            parse_rules(config.routes)
            + parse_rules(config.model_provider_routes)
            + default_rules(upstreams)
        )
        aliases = parse_aliases(alias_text(config)[0])
        router = Router(rules=rules, aliases=aliases, providers=upstreams)
    except (ValueError, OSError) as exc:
        raise ConfigError(str(exc)) from None
    calls = ModelCall(
        router=router,
        upstreams=upstreams,
        work_mode=config.work_mode,  # type: ignore[arg-type]
        policy=RetryPolicy(
            max_retries=config.upstream_max_retries,
            backoff=config.upstream_retry_backoff,
            max_wait=config.upstream_retry_max_wait,
            keepalive=config.stream_keepalive,
            default_max_tokens=config.anthropic_max_tokens,
        ),
        safety=AgentSafety(
            guard=GuardPolicy(
                enabled=config.duplicate_tool_detection,
                warn_at=config.duplicate_tool_warn_at,
                insist_at=config.duplicate_tool_insist_at,
                stop_at=config.duplicate_tool_stop_at,
            ),
            shell_normalization=config.shell_normalization,
        ),
    )
    gateway = Gateway(
        router=router,
        upstreams=upstreams,
        calls=calls,
        started_at=started_at if started_at is not None else time.time(),
        facts={"anthropic_native": config.anthropic_native_enabled},
    )

    def make_handler(keys: frozenset[str]) -> Handler:
        return gateway.handler_for(EndpointTable(keys))

    server = Server(
        specs=listener_specs(config),
        make_handler=make_handler,
        render_error=gateway.render_error,
        limits=HttpLimits(
            max_body_bytes=config.max_body_bytes,
            header_timeout=config.header_timeout,
            idle_timeout=config.idle_timeout,
        ),
        max_connections=config.max_connections,
        grace=config.shutdown_grace,
    )
    return Built(gateway=gateway, server=server, upstreams=upstreams, config=config)


Stamp = tuple[tuple[str, float], ...]


def refresh_aliases(built: Built, stamp: Stamp) -> Stamp:
    """One reload check: swap the router's aliases if the alias files
    changed since ``stamp``; returns the new stamp. A file that cannot be
    read or parsed keeps the aliases in force (and says why)."""
    try:
        text, new_stamp = alias_text(built.config)
        if new_stamp != stamp:
            built.gateway.router.set_aliases(parse_aliases(text))
            log.info("model aliases reloaded")
        return new_stamp
    except (OSError, ValueError) as exc:
        log.error("model aliases not reloaded: %s", exc)
        return stamp


async def reload_aliases(built: Built) -> None:
    """Re-read alias files every ``model_aliases_reload_sec`` (as the
    original gateway does)."""
    config = built.config
    if config.model_aliases_file is None and config.model_aliases_dir is None:
        return
    stamp = alias_text(config)[1]
    while True:
        await trio.sleep(config.model_aliases_reload_sec)
        stamp = refresh_aliases(built, stamp)


async def run(
    built: Built, *, task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run a built gateway (ledger writer, key tracker, listeners) until its
    server has shut down; then flush the ledger, close upstream connections
    and the databases."""
    ledger = await open_ledger(built.config)
    identity = await open_identity(built.config, ledger[0] if ledger else None)
    responses = await open_responses(built.config, ledger[0] if ledger else None)
    built.gateway.calls.responses = responses
    built.gateway.gate = identity.gate

    def admin_api() -> AdminApi:
        from .admin.api import AdminApi

        return AdminApi(
            identity=identity.service,
            ledger_db=ledger[0] if ledger else None,
            on_prices_changed=ledger[1].invalidate_prices if ledger else None,
        )

    built.gateway.admin_factory = admin_api
    try:
        async with trio.open_nursery() as nursery:
            if ledger is not None:
                built.gateway.ledger = ledger[1]
                await nursery.start(ledger[1].run)
            await nursery.start(identity.tracker.run)
            nursery.start_soon(reload_aliases, built)
            try:
                await built.server.serve(task_status=task_status)
            finally:
                with trio.CancelScope(shield=True):
                    await close_upstreams(built)
                    if ledger is not None:
                        await flush_ledger(ledger[1], built.config.shutdown_grace)
                # The alias reloader, the writer's task and the tracker (which
                # writes its last batch as it is cancelled).
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await close_all(ledger[0] if ledger else None, identity.db, responses.db)


async def flush_ledger(writer: LedgerWriter, grace: float) -> None:
    """Every request has finished: write what they recorded."""
    with trio.move_on_after(max(grace, 5.0)) as waited:
        await writer.close()
    if waited.cancelled_caught:
        log.error("ledger: %d rows not written at shutdown", writer.stats.queued)


async def serve(
    config: Config, *, task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the gateway until SIGINT or SIGTERM (a second one skips the grace period)."""
    built = build(config)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run_all(task_status: trio.TaskStatus[list[Bound]]) -> None:
                await run(built, task_status=task_status)
                nursery.cancel_scope.cancel()  # served out: stop watching signals

            async def watch_signals() -> None:
                last = -lifeline.ECHO_WINDOW
                async for signum in signals:
                    if trio.current_time() - last < lifeline.ECHO_WINDOW:
                        continue  # one Ctrl-C, also forwarded by a launcher or bootloader
                    last = trio.current_time()
                    log.info("received %s: shutting down", signal.Signals(signum).name)
                    built.server.shutdown()

            nursery.start_soon(watch_signals)
            # A launcher or bootloader killed outright cannot forward a signal.
            nursery.start_soon(lifeline.watch, lifeline.current(), built.server.shutdown)
            bound = await nursery.start(run_all)
            for b in bound:
                log.info("listening on http://%s:%d (%s)", b.host, b.port, b.name)
            task_status.started(bound)


async def close_upstreams(built: Built) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        for upstream in built.upstreams.values():
            if isinstance(upstream, ProviderClient):
                await upstream.aclose()


def run_gateway(config: Config) -> int:
    """Blocking entry point for the CLI; returns the process exit code."""
    line = lifeline.current()
    lifeline.tidy_unpack_dirs(line)
    try:
        trio.run(serve, config)
    except ConfigError as exc:
        log.error("configuration error: %s", exc)
        return 2
    except OSError as exc:
        log.error("cannot start: %s", exc)
        return 1
    finally:
        lifeline.release_unpack_dir(line)
    return 0
