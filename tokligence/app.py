"""Wiring: configuration in, a running gateway out.

``build`` checks a :class:`~tokligence.config.Config` and turns it into
everything of a gateway that needs no I/O (router, upstreams, listeners);
``run`` opens the databases, makes the finished
:class:`~tokligence.gateway.Gateway` and serves it until the server shuts
down; ``serve`` adds the signals and, once listening, the daily update
check; ``run_gateway`` is what the CLI calls.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, cast

import trio

from . import lifeline
from .agents.guard import GuardPolicy
from .agents.safety import AgentSafety
from .alias_files import AliasStamp, alias_stamp, load_aliases
from .call.model_call import ModelCalls
from .call.retry import RetryPolicy
from .codecs.registry import codec_for
from .config import Config, ConfigError
from .config_view import fingerprint, show_rows
from .databases import close_all, hook_runner, open_identity, open_ledger, open_responses
from .endpoints import EndpointTable
from .gateway import Gateway, render_error
from .ledger.writer import LedgerWriter
from .metrics import GatewayMetrics, Gauge
from .routing import LOOPBACK, Router, WorkMode
from .routing.breaker import CircuitBreaker
from .routing.table import router_for
from .server.http import Handler, HttpLimits
from .server.listen import Bound, CannotListen, ListenerSpec, Server
from .supervise import Supervisor, supervised
from .upstreams.base import Upstream
from .upstreams.deferred import DeferredProvider, warm_up
from .upstreams.loopback_upstream import LoopbackUpstream
from .wire.json_body import JsonLimits

if TYPE_CHECKING:
    from .admin.api import AdminApi
    from .identity.hooks import HookRunner
    from .responses_store.store import ResponseStore
    from .trade.ledger_api import TradeLedgerApi
    from .trade.node import Trading

log = logging.getLogger(__name__)


@dataclass(frozen=True, kw_only=True, slots=True)
class Built:
    """A checked configuration and what it makes without I/O."""

    config: Config
    router: Router
    upstreams: Mapping[str, Upstream]
    server: Server
    started_at: float
    supervisor: Supervisor  # the background tasks' failures, for /health
    hooks: HookRunner | None  # the lifecycle hook, checked here, run by the identity service


def listener_specs(config: Config, *, reuse_port: bool = False) -> list[ListenerSpec]:
    """One listener in single-port mode; in multi-port mode one per port
    whose endpoint list is not empty (a port of 0 disables a listener).
    ``reuse_port``: the ports are shared with other worker processes."""
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
                reuse_port=reuse_port,
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
            specs.append(
                ListenerSpec(
                    name=name, host=config.host, port=port, keys=keys(names), reuse_port=reuse_port
                )
            )
    if not specs:
        raise ConfigError("multiport_mode is on but no listener has a port and endpoints")
    return specs


def build_upstreams(config: Config) -> dict[str, Upstream]:
    upstreams: dict[str, Upstream] = {"loopback": LoopbackUpstream()}
    if config.peers:
        upstreams.update(build_peers(config))
    if config.buys_auto:
        upstreams["peer:auto"] = build_auto_peer(config)
    # Each provider's HTTP client (and httpx with it) is made on its first
    # use, or imported in the background once the gateway listens
    # (upstreams/deferred.py): the loopback model needs none of it.
    for provider in config.providers:
        upstreams[provider.name] = DeferredProvider(
            provider,
            codec=codec_for(provider.kind),
            forward_client_key=config.forward_client_key,
            breaker=CircuitBreaker(
                threshold=config.breaker_threshold, cooldown=config.breaker_cooldown
            ),
            max_connections=config.max_connections,
        )
    return upstreams


def build_peers(config: Config) -> dict[str, Upstream]:
    """The sellers this gateway buys from, as providers named ``peer:NAME``
    (only with a peer configured is the trading package loaded)."""
    from .trade.peer import PeerUpstream

    missing = [peer.name for peer in config.peers if not peer.api_key]
    if missing:
        raise ConfigError(
            f"peer {missing[0]!r} has no api_key: open an account with "
            f"'tokligence trade open URL' and set api_key in [trade.peer.{missing[0]}]"
        )
    return {
        peer.provider: PeerUpstream(
            peer,
            connect_timeout=config.upstream_connect_timeout,
            response_timeout=config.upstream_response_timeout,
            read_timeout=config.upstream_read_timeout,
            breaker=CircuitBreaker(
                threshold=config.breaker_threshold, cooldown=config.breaker_cooldown
            ),
            max_connections=config.max_connections,
        )
        for peer in config.peers
    }


def build_auto_peer(config: Config) -> Upstream:
    """``peer:auto``: the cheapest live offer of the directory (a route names it)."""
    from .trade.auto import AutoPeerUpstream
    from .trade.directory.client import OfferDirectory

    return AutoPeerUpstream(
        directory=OfferDirectory(config.trade_directory_url),
        named=config.peers,
        connect_timeout=config.upstream_connect_timeout,
        response_timeout=config.upstream_response_timeout,
        read_timeout=config.upstream_read_timeout,
        # Past any retry wait: what stops peer:auto moves the call on at once.
        skip_after=config.upstream_retry_max_wait + 1,
        breaker=CircuitBreaker(
            threshold=config.breaker_threshold, cooldown=config.breaker_cooldown
        ),
        max_connections=config.max_connections,
    )


def build_router(config: Config, upstreams: Mapping[str, Upstream]) -> Router:
    if config.routes.strip() and config.model_provider_routes.strip():
        log.info("routes and model_provider_routes are both set: routes are tried first")
    try:
        return router_for(config, upstreams)
    except (ValueError, OSError) as exc:
        raise ConfigError(str(exc)) from None


def build(config: Config, *, started_at: float | None = None, reuse_port: bool = False) -> Built:
    """Check ``config`` and make the gateway's parts that need no I/O;
    raises ConfigError on any problem."""
    if not config.is_loopback_host() and config.auth_disabled and not config.insecure:
        raise ConfigError(
            f"refusing to listen on {config.host} without authentication: set "
            "TOKLIGENCE_AUTH_DISABLED=false (auth_disabled = false) to require gateway API keys, "
            "or pass --insecure to expose it without them"
        )
    upstreams = build_upstreams(config)
    supervisor = Supervisor()
    server = Server(
        supervisor=supervisor,
        specs=listener_specs(config, reuse_port=reuse_port),
        render_error=render_error,
        limits=HttpLimits(
            max_body_bytes=config.max_body_bytes,
            header_timeout=config.header_timeout,
            idle_timeout=config.idle_timeout,
            body_timeout=config.body_timeout,
            body_min_rate=config.body_min_rate,
        ),
        max_connections=config.max_connections,
        grace=config.shutdown_grace,
    )
    return Built(
        config=config,
        router=build_router(config, upstreams),
        upstreams=upstreams,
        server=server,
        started_at=started_at if started_at is not None else time.time(),
        supervisor=supervisor,
        hooks=hook_runner(config),
    )


BREAKER_STATES = ("closed", "half_open", "open")
# Seconds a stopping buyer spends acknowledging the receipts it still holds.
ACK_FLUSH_GRACE = 3.0


def gateway_metrics(built: Built, writer: LedgerWriter | None) -> GatewayMetrics:
    """The metric families, with the values read at scrape time: each
    upstream's circuit breaker, and the ledger writer's queue and totals."""
    metrics = GatewayMetrics()
    upstreams = [u for name, u in built.upstreams.items() if name != LOOPBACK]

    def breakers() -> list[tuple[tuple[str, ...], float]]:
        return [
            ((upstream.name, state), float(upstream.breaker.state == state))
            for upstream in upstreams
            for state in BREAKER_STATES
        ]

    metrics.add_gauge(
        Gauge(
            "tokligence_upstream_breaker_state",
            "Each upstream's circuit breaker: 1 for the state it is in.",
            ("provider", "state"),
            breakers,
        )
    )
    if writer is None:
        return metrics
    for name, help_text, field, kind in (
        ("tokligence_ledger_queue_depth", "Ledger rows waiting to be written.", "queued", "gauge"),
        ("tokligence_ledger_rows_written_total", "Ledger rows written.", "rows_written", "counter"),
        (
            "tokligence_ledger_write_errors_total",
            "Failed ledger commits (each is retried; rows are never dropped).",
            "failures",
            "counter",
        ),
        (
            "tokligence_ledger_rows_quarantined_total",
            "Rows the database refused, kept in the quarantine file.",
            "quarantined",
            "counter",
        ),
    ):
        metrics.add_gauge(
            Gauge(
                name,
                help_text,
                (),
                functools.partial(lambda f: [((), float(getattr(writer.stats, f)))], field),
                type=kind,
            )
        )
    return metrics


def model_calls(
    built: Built, responses: ResponseStore | None, metrics: GatewayMetrics | None = None
) -> ModelCalls:
    config = built.config
    return ModelCalls(
        metrics=metrics,
        router=built.router,
        upstreams=built.upstreams,
        work_mode=cast(WorkMode, config.work_mode),  # a choice setting
        retry=RetryPolicy(
            max_retries=config.upstream_max_retries,
            backoff=config.upstream_retry_backoff,
            max_wait=config.upstream_retry_max_wait,
        ),
        keepalive=config.stream_keepalive,
        default_max_tokens=config.anthropic_max_tokens,
        safety=AgentSafety(
            guard=GuardPolicy(
                enabled=config.duplicate_tool_detection,
                warn_at=config.duplicate_tool_warn_at,
                insist_at=config.duplicate_tool_insist_at,
                stop_at=config.duplicate_tool_stop_at,
            ),
            shell_normalization=config.shell_normalization,
        ),
        responses=responses,
        json_limits=JsonLimits(
            max_depth=config.max_json_depth,
            max_integer_digits=config.max_json_integer_digits,
            allow_nonfinite=config.json_allow_nonfinite,
        ),
    )


def refresh_aliases(built: Built, stamp: AliasStamp) -> AliasStamp:
    """One reload check: swap the router's aliases if the alias files
    changed since ``stamp``; returns the new stamp. A file that cannot be
    read or parsed keeps the aliases in force and says why, once per change
    (not on every check until it is fixed)."""
    new_stamp = alias_stamp(built.config)
    if new_stamp == stamp:
        return stamp
    try:
        built.router.set_aliases(load_aliases(built.config))
    except (OSError, ValueError) as exc:
        log.error("model aliases not reloaded, the ones in force stay: %s", exc)
    else:
        log.info("model aliases reloaded")
    return new_stamp


async def reload_aliases(
    built: Built, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """Re-read alias files every ``model_aliases_reload_sec`` (as the
    original gateway does)."""
    task_status.started()
    config = built.config
    if config.model_aliases_file is None and config.model_aliases_dir is None:
        return
    stamp = alias_stamp(config)
    while True:
        await trio.sleep(config.model_aliases_reload_sec)
        stamp = refresh_aliases(built, stamp)


async def run(
    built: Built, *, task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED
) -> None:
    """Open the databases, make the gateway and serve it (with the ledger
    writer, the key tracker and the alias reloader) until its server has
    shut down; then flush the ledger, close upstream connections and the
    databases."""
    config = built.config
    ledger = await open_ledger(config)
    ledger_db = ledger.db if ledger is not None else None
    identity = await open_identity(config, ledger_db, built.hooks)
    responses = await open_responses(config, ledger_db)

    def admin_api() -> AdminApi:
        from .admin.api import AdminApi

        return AdminApi(
            identity=identity.service,
            ledger_db=ledger_db,
            on_prices_changed=ledger.writer.invalidate_prices if ledger is not None else None,
            config_rows=functools.partial(show_rows, config),
            selling=bool(config.offers),
        )

    def trade_api() -> TradeLedgerApi:
        from .trade.ledger_api import TradeLedgerApi  # its first use: PyNaCl waits for it

        return TradeLedgerApi(db=ledger_db, data_dir=config.data_dir)

    writer = ledger.writer if ledger is not None else None
    metrics = gateway_metrics(built, writer) if config.metrics_enabled else None
    calls = model_calls(built, responses, metrics)
    trading: Trading | None = None
    if config.trading:  # only then is the trading package (and PyNaCl) loaded
        from .trade.node import open_trading

        try:
            trading = await open_trading(config, ledger_db, calls, built.upstreams.values())
        except BaseException:
            with trio.CancelScope(shield=True):
                await close_all(ledger_db, identity.db, responses.db)
            raise
    gateway = Gateway(
        router=built.router,
        upstreams=built.upstreams,
        calls=calls,
        started_at=built.started_at,
        facts={
            "anthropic_native": config.anthropic_native_enabled,
            "config": fingerprint(config),  # launchers compare it (agents/background.py)
        },
        ledger=writer,
        gate=identity.gate,
        admin_factory=admin_api,
        supervisor=built.supervisor,
        metrics=metrics,
        console_enabled=config.console_enabled,
        seller=trading.seller if trading is not None else None,
        trade_factory=trade_api if config.offers else None,
    )

    def make_handler(keys: frozenset[str]) -> Handler:
        return gateway.handler_for(EndpointTable(keys))

    try:
        async with trio.open_nursery() as nursery:
            # Supervised: a failure in one is logged and the task restarted,
            # never the end of the gateway (supervise.py).
            watch = built.supervisor
            if ledger is not None:
                await nursery.start(supervised, "ledger writer", ledger.writer.run, watch)
            await nursery.start(supervised, "key tracker", identity.tracker.run, watch)
            await nursery.start(
                supervised, "alias reloader", functools.partial(reload_aliases, built), watch
            )
            if trading is not None and trading.seller is not None:
                await nursery.start(supervised, "trade sweeps", trading.seller.run_sweeps, watch)
            if trading is not None and trading.acker is not None:
                await nursery.start(supervised, "trade acks", trading.acker.run, watch)
            try:
                await built.server.serve(make_handler, task_status=task_status)
            finally:
                with trio.CancelScope(shield=True):
                    if trading is not None and trading.acker is not None:
                        with trio.move_on_after(ACK_FLUSH_GRACE):
                            await trading.acker.flush()  # what the last requests bought
                    await close_upstreams(built)
                    if ledger is not None:
                        await flush_ledger(ledger.writer, config.shutdown_grace)
                # The alias reloader, the writer's task and the tracker (which
                # writes its last batch as it is cancelled).
                nursery.cancel_scope.cancel()
    finally:
        with trio.CancelScope(shield=True):
            await close_all(ledger_db, identity.db, responses.db)


async def flush_ledger(writer: LedgerWriter, grace: float) -> None:
    """Every request has finished: write what they recorded."""
    with trio.move_on_after(max(grace, 5.0)) as waited:
        await writer.close()
    if waited.cancelled_caught:
        log.error("ledger: %d rows not written at shutdown", writer.stats.queued)


async def serve(
    config: Config,
    *,
    reuse_port: bool = False,
    check_updates: bool = True,
    announce: bool = True,
    task_status: trio.TaskStatus[list[Bound]] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the gateway until SIGINT or SIGTERM (a second one skips the grace
    period); ``reuse_port`` when it is one of several worker processes;
    ``announce``: this process announces the offers to the directory."""
    built = build(config, reuse_port=reuse_port)
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        async with trio.open_nursery() as nursery:

            async def run_all(task_status: trio.TaskStatus[list[Bound]]) -> None:
                await run(built, task_status=task_status)
                nursery.cancel_scope.cancel()  # served out: stop watching signals

            nursery.start_soon(lifeline.stop_on_signals, signals, built.server.shutdown)
            # A launcher or bootloader killed outright cannot forward a signal.
            nursery.start_soon(lifeline.watch, lifeline.current(), built.server.shutdown)
            bound = await nursery.start(run_all)
            for b in bound:
                log.info("listening on http://%s:%d (%s)", b.host, b.port, b.name)
            task_status.started(bound)
            if any(isinstance(u, DeferredProvider) for u in built.upstreams.values()):
                # The providers' HTTP client, imported while the gateway
                # already answers: a worker thread leaves the loop free.
                nursery.start_soon(trio.to_thread.run_sync, warm_up)
            # Only now, and in the background: start-up never waits for it,
            # and the end of serving cancels it wherever it is.
            # Off: not even imported (it brings httpx and urllib with it).
            if check_updates and config.update_check_enabled:
                nursery.start_soon(
                    supervised,
                    "update check",
                    functools.partial(check_for_updates, config),
                    built.supervisor,
                )
            if announce and config.offers and config.trade_directory_url:
                nursery.start_soon(
                    supervised,
                    "offer announcer",
                    functools.partial(announce_offers, config),
                    built.supervisor,
                )


async def check_for_updates(
    config: Config, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """The daily update check of a serving gateway (update/check.py)."""
    from .update.check import background  # imported when used: start-up never pays

    await background(config, os.environ, task_status=task_status)


async def announce_offers(
    config: Config, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED
) -> None:
    """A seller's announcements to its directory (trade/directory/announcer.py)."""
    from .trade.directory.announcer import run_announcer  # a seller with a directory only

    await run_announcer(config, task_status=task_status)


async def close_upstreams(built: Built) -> None:
    with trio.CancelScope(shield=True), trio.move_on_after(5):
        for upstream in built.upstreams.values():
            await upstream.aclose()


def _start_failure(raised: BaseException) -> ConfigError | OSError | None:
    """The configuration or OS error that stopped start-up, when that is
    all ``raised`` (perhaps a group of groups) holds; None otherwise."""
    if isinstance(raised, ConfigError | OSError):
        return raised
    grouped = getattr(raised, "exceptions", None)  # an exception group (3.10: backport)
    if isinstance(grouped, tuple) and grouped:
        causes = [_start_failure(inner) for inner in grouped]
        if all(cause is not None for cause in causes):
            return causes[0]
    return None


def run_gateway(config: Config, *, worker: int | None = None) -> int:
    """Blocking entry point for the CLI; returns the process exit code.
    ``worker``: this process's number among ``serve --workers N``'s
    (workers.py): its ports are shared, and only worker 0 checks for updates."""
    line = lifeline.current()
    lifeline.tidy_unpack_dirs(line)
    try:
        trio.run(
            functools.partial(
                serve,
                config,
                reuse_port=worker is not None,
                check_updates=worker in (None, 0),
                announce=worker in (None, 0),
            )
        )
    except BaseException as raised:
        # Raised inside the gateway's nurseries, a start-up failure comes
        # wrapped in exception groups: one line for it, never a traceback.
        cause = _start_failure(raised)
        if cause is None:
            raise
        if isinstance(cause, ConfigError):
            log.error("configuration error: %s", cause)
            return 2
        log.error("cannot start: %s", cause)
        return 2 if isinstance(cause, CannotListen) else 1
    finally:
        lifeline.release_unpack_dir(line)
    return 0
