"""The router a configuration makes: rules in precedence order and aliases.

The gateway builds its router here (``app.build_router``), and so does
``tokligence statusline``, which must tell where a model goes without
importing the server: so this module needs only the configuration, the
alias files and the pure routing rules, never the upstream clients.
"""

from __future__ import annotations

from collections.abc import Collection

from ..alias_files import load_aliases
from ..config import Config
from .rules import Router, Rule, parse_rules


def default_rules(providers: Collection[str]) -> tuple[Rule, ...]:
    """The original gateway's built-in routes, for the providers that exist."""
    text = []
    if "openai" in providers:
        text.append("gpt*=>openai, chatgpt*=>openai, o1*=>openai, o3*=>openai, o4*=>openai")
        text.append("text-embedding*=>openai, codex*=>openai")
    if "anthropic" in providers:
        text.append("claude*=>anthropic")
    return parse_rules("\n".join(text))


def listed_model_rules(config: Config) -> tuple[Rule, ...]:
    """A provider's ``models`` are routable as listed (``/v1/models`` shows
    them): an exact rule each, in the order the providers were declared."""
    return tuple(
        Rule(pattern=model, providers=(provider.name,))
        for provider in config.providers
        for model in provider.models
    )


def provider_names(config: Config) -> frozenset[str]:
    """The providers a gateway with ``config`` has (loopback always, and
    each peer it buys from as ``peer:NAME``, and ``peer:auto`` when a route
    buys from the directory)."""
    peers = [f"peer:{peer.name}" for peer in config.peers]
    if config.buys_auto:
        peers.append("peer:auto")  # the directory's cheapest live offer
    return frozenset({"loopback", *(provider.name for provider in config.providers), *peers})


def router_for(config: Config, providers: Collection[str]) -> Router:
    """The router of ``config`` over ``providers``. Raises ValueError or
    OSError on a bad route or an unreadable alias file."""
    # First match wins: explicit routes, then provider routes, then the
    # models providers list, then the defaults.
    rules = (
        parse_rules(config.routes)
        + parse_rules(config.model_provider_routes)
        + listed_model_rules(config)
        + default_rules(providers)
    )
    return Router(
        rules=rules,
        aliases=load_aliases(config),
        providers=providers,
        fallback=config.fallback_adapter,
    )
