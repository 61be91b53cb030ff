"""The targets of one call: a route's providers, each with how it serves
the call (native, passthrough or translation), in the route's order.

A target the work mode forbids is skipped (the next provider of the route
may be allowed); only when none is left is the mode's refusal the answer.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from ..errors import GatewayError, PolicyRefusal, UpstreamUnreachable
from ..routing import Route, WorkMode
from ..routing.modes import Path, decide_mode
from ..upstreams.base import Upstream


@dataclass(frozen=True, kw_only=True, slots=True)
class Target:
    upstream: Upstream
    mode: Path


def plan_targets(
    route: Route, upstreams: Mapping[str, Upstream], *, work_mode: WorkMode, dialect: str
) -> list[Target]:
    """The targets for a call that passes through to providers speaking
    ``dialect``; raises the last refusal when no provider may serve it."""
    targets: list[Target] = []
    refusal: GatewayError | None = None
    for name in route.providers:
        upstream = upstreams.get(name)
        if upstream is None:
            refusal = UpstreamUnreachable("unavailable", f"provider {name!r} is not configured")
            continue
        try:
            mode = decide_mode(work_mode, dialect, name, upstream.dialects)
        except PolicyRefusal as refused:
            refusal = refused
            continue
        targets.append(Target(upstream=upstream, mode=mode))
    if not targets:
        raise refusal or UpstreamUnreachable(
            "unavailable", f"no provider for model {route.requested_model!r}"
        )
    return targets
