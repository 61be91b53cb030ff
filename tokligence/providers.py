"""Upstream providers: what the gateway can route a model to.

Two providers are built in, as in the original gateway: ``openai`` (from
``openai_api_key`` / ``openai_base_url`` / ``openai_org``; it also serves
``/v1/responses`` natively) and ``anthropic`` (``anthropic_api_key`` /
``anthropic_base_url`` / ``anthropic_version``). Each is available once its
key is set, or when ``forward_client_key`` lets clients bring their own.

Any number of named providers are declared in INI sections::

    [provider.deepseek]
    kind = openai              ; openai (Chat Completions wire) or anthropic
    base_url = https://api.deepseek.com/v1
    api_key_env = DEEPSEEK_API_KEY   ; or api_key = ...
    headers = X-Title: my-app, HTTP-Referer: https://example.org
    drop_betas = context-1m-2025-08-07   ; anthropic-beta flags this upstream rejects
    models = deepseek-chat, deepseek-reasoner
    connect_timeout = 5
    response_timeout = 60
    read_timeout = 300

or in the environment as ``TOKLIGENCE_PROVIDER_<NAME>_<FIELD>`` (e.g.
``TOKLIGENCE_PROVIDER_DEEPSEEK_BASE_URL``). The name is what routes name:
``deepseek*=>deepseek``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

ProviderKind = Literal["openai", "anthropic"]
PROVIDER_ENV_PREFIX = "TOKLIGENCE_PROVIDER_"
BUILT_IN = ("openai", "anthropic")
RESERVED = (*BUILT_IN, "loopback")
NAME = re.compile(r"[a-z][a-z0-9_-]{0,62}\Z")
# Each field of a [provider.NAME] section, with its help (config show).
FIELD_HELP = {
    "kind": "openai (Chat Completions wire, any compatible server) or anthropic",
    "base_url": "the API's base URL (http:// or https://)",
    "api_key": "the provider's API key",
    "api_key_env": "an environment variable holding the API key",
    "headers": "extra request headers, 'Name: value' separated by commas",
    "models": "models it serves: listed by /v1/models and routed to it",
    "connect_timeout": "upstream connect timeout (seconds)",
    "response_timeout": "time for a streamed request's response head (seconds)",
    "read_timeout": "upstream silence before giving up (seconds)",
    "responses": "true when it serves /v1/responses natively (passthrough)",
    "anthropic_version": "anthropic-version header sent upstream",
    "drop_betas": "anthropic-beta flags this upstream rejects, removed from requests",
}
FIELDS = tuple(FIELD_HELP)


@dataclass(frozen=True, kw_only=True, slots=True)
class ProviderConfig:
    name: str
    kind: ProviderKind
    base_url: str  # no trailing slash
    api_key: str
    headers: tuple[tuple[str, str], ...] = ()
    models: tuple[str, ...] = ()
    connect_timeout: float = 10.0
    response_timeout: float = 120.0  # a streamed request's response head
    read_timeout: float = 600.0  # silence between bytes
    responses: bool = False  # serves /v1/responses natively (passthrough)
    anthropic_version: str = "2023-06-01"
    organization: str = ""
    # anthropic-beta flags this upstream rejects (e.g. a Bedrock-style
    # Anthropic-compatible endpoint): removed from relayed requests, and
    # nothing else is ever added or changed.
    drop_betas: tuple[str, ...] = ()

    @property
    def dialects(self) -> tuple[str, ...]:
        """The client dialects this provider speaks natively."""
        if self.kind == "anthropic":
            return ("anthropic_messages",)
        return ("openai_chat", "openai_responses") if self.responses else ("openai_chat",)

    def __repr__(self) -> str:  # never show the key
        return f"ProviderConfig(name={self.name!r}, kind={self.kind!r}, base_url={self.base_url!r})"


class ProviderError(ValueError):
    """A provider declaration that cannot work; the message names where it came from."""


def _bool(text: str, where: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("1", "true", "yes", "on"):
        return True
    if lowered in ("0", "false", "no", "off"):
        return False
    raise ProviderError(f"{where}: expected true or false, got {text!r}")


def _seconds(text: str, where: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise ProviderError(f"{where}: expected seconds, got {text!r}") from None
    if value <= 0:
        raise ProviderError(f"{where}: must be greater than 0")
    return value


def _headers(text: str, where: str) -> tuple[tuple[str, str], ...]:
    out = []
    for item in text.split(","):
        if not item.strip():
            continue
        name, sep, value = item.partition(":")
        if not sep or not name.strip():
            raise ProviderError(f"{where}: expected 'Name: value', got {item.strip()!r}")
        out.append((name.strip().lower(), value.strip()))
    return tuple(out)


def declared_provider(
    name: str,
    fields: Mapping[str, tuple[str, str]],
    environ: Mapping[str, str],
    *,
    default_connect: float,
    default_response: float,
    default_read: float,
) -> ProviderConfig:
    """One ``[provider.NAME]`` declaration; ``fields`` maps field -> (value, where)."""
    if not NAME.match(name):
        raise ProviderError(f"provider name {name!r} must be lowercase letters, digits, '_' or '-'")
    if name in RESERVED:
        raise ProviderError(f"provider name {name!r} is reserved for the built-in provider")
    for key, (_, where) in fields.items():
        if key not in FIELDS:
            raise ProviderError(
                f"{where}: unknown provider field {key!r}; known: {', '.join(FIELDS)}"
            )

    def get(key: str) -> tuple[str, str] | None:
        return fields.get(key)

    kind_raw = get("kind")
    kind = kind_raw[0].strip().lower() if kind_raw else "openai"
    if kind not in ("openai", "anthropic"):
        raise ProviderError(
            f"{kind_raw[1] if kind_raw else name}: kind must be openai or anthropic"
        )
    base = get("base_url")
    if base is None or not base[0].strip():
        raise ProviderError(f"provider {name!r} needs a base_url")
    if not re.match(r"https?://", base[0].strip()):
        raise ProviderError(f"{base[1]}: base_url must start with http:// or https://")
    given_key = get("api_key")
    key_env = get("api_key_env")
    api_key = given_key[0].strip() if given_key else ""
    if key_env and not api_key:
        api_key = environ.get(key_env[0].strip(), "")
    connect = get("connect_timeout")
    response = get("response_timeout")
    read = get("read_timeout")
    models = get("models")
    responses = get("responses")
    headers = get("headers")
    version = get("anthropic_version")
    drop = get("drop_betas")
    return ProviderConfig(
        name=name,
        kind="anthropic" if kind == "anthropic" else "openai",
        base_url=base[0].strip().rstrip("/"),
        api_key=api_key,
        headers=_headers(*headers) if headers else (),
        models=tuple(m.strip() for m in models[0].split(",") if m.strip()) if models else (),
        connect_timeout=_seconds(*connect) if connect else default_connect,
        response_timeout=_seconds(*response) if response else default_response,
        read_timeout=_seconds(*read) if read else default_read,
        responses=_bool(*responses) if responses else False,
        anthropic_version=version[0].strip() if version else "2023-06-01",
        drop_betas=tuple(b.strip() for b in drop[0].split(",") if b.strip()) if drop else (),
    )


# --- resolving declarations (config.py hands in what it read) -----------------


def provider_env_field(
    var: str, value: str, providers: dict[str, dict[str, tuple[str, str]]], problems: list[str]
) -> None:
    """``TOKLIGENCE_PROVIDER_<NAME>_<FIELD>``: the field is the longest known
    suffix, so provider names may contain underscores."""
    rest = var[len(PROVIDER_ENV_PREFIX) :].lower()
    for field in sorted(FIELDS, key=len, reverse=True):
        if rest.endswith("_" + field) and len(rest) > len(field) + 1:
            name = rest[: -len(field) - 1]
            providers.setdefault(name, {})[field] = (value, f"env {var}")
            return
    problems.append(
        f"environment variable {var}: expected {PROVIDER_ENV_PREFIX}<NAME>_<FIELD> "
        "with FIELD one of " + ", ".join(f.upper() for f in FIELDS)
    )


def resolve_providers(
    values: Mapping[str, Any],
    declared: Mapping[str, Mapping[str, tuple[str, str]]],
    environ: Mapping[str, str],
    problems: list[str],
) -> list[ProviderConfig]:
    connect = float(values["upstream_connect_timeout"])
    response = float(values["upstream_response_timeout"])
    read = float(values["upstream_read_timeout"])
    forward = bool(values["forward_client_key"])
    out: list[ProviderConfig] = []
    if values["openai_api_key"] or forward:
        out.append(
            ProviderConfig(
                name="openai",
                kind="openai",
                base_url=str(values["openai_base_url"]).rstrip("/"),
                api_key=str(values["openai_api_key"]),
                organization=str(values["openai_org"]),
                connect_timeout=connect,
                response_timeout=response,
                read_timeout=read,
                responses=True,
            )
        )
    if values["anthropic_api_key"] or forward:
        out.append(
            ProviderConfig(
                name="anthropic",
                kind="anthropic",
                base_url=str(values["anthropic_base_url"]).rstrip("/"),
                api_key=str(values["anthropic_api_key"]),
                anthropic_version=str(values["anthropic_version"]),
                connect_timeout=connect,
                response_timeout=response,
                read_timeout=read,
            )
        )
    for name, fields in declared.items():
        try:
            out.append(
                declared_provider(
                    name,
                    fields,
                    environ,
                    default_connect=connect,
                    default_response=response,
                    default_read=read,
                )
            )
        except ProviderError as exc:
            problems.append(str(exc))
    return out
