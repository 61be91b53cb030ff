"""Model routing: which provider serves a model, under which name.

Theory of operation
-------------------
Rules are ordered ``pattern=>provider`` pairs; the first rule whose pattern
matches the requested model wins (deterministic, unlike a map). A rule may
name several providers separated by ``|`` — an ordered fallback list.
Patterns are case-insensitive: exact, ``prefix*``, ``*suffix`` and
``*contains*``.

First match without trying each pattern: a :class:`PatternIndex` keeps the
exact names, prefixes and suffixes in dicts (each with the position of its
first pattern), so finding the first match costs a lookup per distinct
prefix or suffix length and per ``*contains*`` pattern ahead of it, not one
per pattern: a thousand routes or aliases cost what ten do.

Aliases rewrite the model name sent upstream (``claude-sonnet-4 =>
gpt-4.1``); they are looked up with the same pattern rules after the
provider is chosen by the client's model name, as in the original gateway.
When no rule matches the client's model name, the alias's target is routed
instead: ``gpt-4o=>loopback`` alone makes ``gpt-4o`` the loopback model.

The ``loopback`` model always routes to the ``loopback`` provider, so a
gateway with no keys still answers. A model no rule matches goes to the
``fallback`` provider when one is configured (setting ``fallback_adapter``,
as in the original gateway); with none it is an error that lists what is
configured, never a silent echo.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from ..errors import ClientError

LOOPBACK = "loopback"


@dataclass(frozen=True, kw_only=True, slots=True)
class Rule:
    pattern: str
    providers: tuple[str, ...]

    def matches(self, model: str) -> bool:
        return pattern_matches(self.pattern, model)


@dataclass(frozen=True, kw_only=True, slots=True)
class Alias:
    pattern: str
    target: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Route:
    requested_model: str
    upstream_model: str
    providers: tuple[str, ...]  # first is primary, the rest are fallbacks
    rule: str  # the pattern that matched, for logs and /health


def pattern_matches(pattern: str, model: str) -> bool:
    p, m = pattern.lower(), model.lower()
    if p == "*":
        return True
    starts, ends = p.startswith("*"), p.endswith("*")
    if starts and ends and len(p) > 2:
        return p[1:-1] in m
    if ends:
        return m.startswith(p[:-1])
    if starts:
        return m.endswith(p[1:])
    return p == m


class PatternIndex:
    """The position of the first of ``patterns`` that matches a model, as
    trying them in order with :func:`pattern_matches` finds it."""

    __slots__ = (
        "_contains",
        "_count",
        "_exact",
        "_prefix_lengths",
        "_prefixes",
        "_star",
        "_suffix_lengths",
        "_suffixes",
    )

    def __init__(self, patterns: Iterable[str]) -> None:
        self._exact: dict[str, int] = {}
        self._prefixes: dict[str, int] = {}
        self._suffixes: dict[str, int] = {}
        self._contains: list[tuple[int, str]] = []  # in order
        self._star: int | None = None  # the first "*"
        count = 0
        # The branches of pattern_matches, in its order.
        for position, pattern in enumerate(patterns):
            count += 1
            p = pattern.lower()
            starts, ends = p.startswith("*"), p.endswith("*")
            if p == "*":
                if self._star is None:
                    self._star = position
            elif starts and ends and len(p) > 2:
                self._contains.append((position, p[1:-1]))
            elif ends:
                self._prefixes.setdefault(p[:-1], position)
            elif starts:
                self._suffixes.setdefault(p[1:], position)
            else:
                self._exact.setdefault(p, position)
        self._count = count
        self._prefix_lengths = sorted({len(prefix) for prefix in self._prefixes})
        self._suffix_lengths = sorted({len(suffix) for suffix in self._suffixes})

    def first(self, model: str) -> int | None:
        """The position of the first pattern matching ``model``, or None."""
        m = model.lower()
        best = self._count if self._star is None else self._star
        found = self._exact.get(m)
        if found is not None and found < best:
            best = found
        size = len(m)
        for length in self._prefix_lengths:
            if length > size:
                break
            found = self._prefixes.get(m[:length])
            if found is not None and found < best:
                best = found
        for length in self._suffix_lengths:
            if length > size:
                break
            found = self._suffixes.get(m[size - length :])
            if found is not None and found < best:
                best = found
        for position, needle in self._contains:
            if position >= best:
                break
            if needle in m:
                best = position
                break
        return best if best < self._count else None


def _entries(text: str, what: str) -> Iterable[tuple[str, str]]:
    """``key=>value`` (or ``key=value``) entries split on newlines and commas;
    ``#``/``;`` comment lines skipped, as the original gateway parses them.
    ``what`` names them in errors ("route entry …", "alias entry … in FILE")."""
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped or stripped[0] in "#;":
            continue
        for entry in stripped.split(","):
            entry = entry.strip()
            if not entry:
                continue
            if "=>" in entry:
                key, _, value = entry.partition("=>")
            else:
                key, sep, value = entry.partition("=")
                if not sep:
                    raise ValueError(f"{what} {entry!r} has no '=>'")
            key, value = key.strip(), value.strip()
            if not key or not value:
                raise ValueError(f"{what} {entry!r} has an empty side")
            yield key, value


def how_to_configure(provider: str) -> str:
    """The setting that makes ``provider`` exist, for error messages."""
    if provider == "peer:auto":
        return "set trade_directory_url to the offer directory it buys from (docs/trading.md)"
    if provider.startswith("peer:"):
        name = provider[len("peer:") :]
        return (
            f"declare the seller in a [trade.peer.{name}] section with its url and public_id "
            "(docs/trading.md)"
        )
    if provider in ("openai", "anthropic"):
        variable = f"TOKLIGENCE_{provider.upper()}_API_KEY"
        return f"set {variable} ({provider}_api_key in an INI file) to configure it"
    return (
        f"declare it in a [provider.{provider}] section with a base_url, or set "
        f"TOKLIGENCE_PROVIDER_{provider.upper().replace('-', '_')}_BASE_URL"
    )


def parse_rules(text: str) -> tuple[Rule, ...]:
    rules = []
    for pattern, value in _entries(text, "route entry"):
        providers = tuple(p.strip().lower() for p in value.split("|") if p.strip())
        rules.append(Rule(pattern=pattern, providers=providers))
    return tuple(rules)


def parse_aliases(text: str, *, source: str = "") -> tuple[Alias, ...]:
    """``source`` (a file, a setting) is named in an error."""
    what = f"alias entry in {source}:" if source else "alias entry"
    return tuple(Alias(pattern=k, target=v) for k, v in _entries(text, what))


class Router:
    def __init__(
        self,
        *,
        rules: tuple[Rule, ...],
        aliases: tuple[Alias, ...],
        providers: Iterable[str],
        fallback: str = "",
    ) -> None:
        self.providers = frozenset(providers) | {LOOPBACK}
        self.rules = (Rule(pattern=LOOPBACK, providers=(LOOPBACK,)), *rules)
        self._rule_index = PatternIndex(rule.pattern for rule in self.rules)
        self.set_aliases(aliases)
        self.fallback = fallback.strip().lower()
        named = [(f"route {rule.pattern!r}", p) for rule in rules for p in rule.providers]
        if self.fallback:
            named.append(("fallback_adapter", self.fallback))
        for where, provider in named:
            if provider not in self.providers:
                configured = ", ".join(sorted(self.providers))
                raise ValueError(
                    f"{where} names provider {provider!r}, "
                    f"which is not configured (configured: {configured}); "
                    + how_to_configure(provider)
                )

    def set_aliases(self, aliases: tuple[Alias, ...]) -> None:
        """Swap the whole alias set at once (alias files are reloaded live)."""
        # One assignment: a request on another thread sees the old pair or the new.
        self._aliases = (aliases, PatternIndex(alias.pattern for alias in aliases))

    @property
    def aliases(self) -> tuple[Alias, ...]:
        return self._aliases[0]

    def resolve(self, model: str) -> Route:
        target = self.alias(model)
        # The client's name first; then, for a name no rule knows, its alias's.
        for name in (model, target) if target != model else (model,):
            position = self._rule_index.first(name)
            if position is not None:
                rule = self.rules[position]
                return Route(
                    requested_model=model,
                    upstream_model=target,
                    providers=rule.providers,
                    rule=rule.pattern,
                )
        if self.fallback:
            return Route(
                requested_model=model,
                upstream_model=self.alias(model),
                providers=(self.fallback,),
                rule="(fallback_adapter)",
            )
        raise ClientError(
            "not_found",
            f"no provider for model {model!r}; routes configured: {self.describe_routes()}. "
            f"To serve it, add a route (TOKLIGENCE_ROUTES='{model}=>PROVIDER'), list it in a "
            "provider's models, or set fallback_adapter",
            code="model_not_found",
            param="model",
        )

    def alias(self, model: str) -> str:
        aliases, index = self._aliases
        position = index.first(model)
        return model if position is None else aliases[position].target

    def describe_routes(self) -> str:
        """The rules, for error messages; models no rule matches get a 404
        (there is no fallback, or this would not be asked)."""
        return ", ".join(f"{r.pattern}=>{'|'.join(r.providers)}" for r in self.rules)

    def exact_models(self) -> tuple[str, ...]:
        """Models named exactly by a rule or an alias (for ``/v1/models``)."""
        names = [r.pattern for r in self.rules if "*" not in r.pattern]
        names += [a.pattern for a in self.aliases if "*" not in a.pattern]
        return tuple(dict.fromkeys(names))
