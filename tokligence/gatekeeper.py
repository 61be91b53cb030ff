"""Who may call, and how much: authentication and per-key limits at the edge.

Theory of operation
-------------------
For every matched endpoint the pipeline asks :meth:`Gatekeeper.admit`: the
presented gateway key (``Authorization: Bearer tok_…`` or ``x-api-key``)
resolves through the :class:`~tokligence.identity.cache.KeyCache` (a dict
lookup on the hot path), :func:`~tokligence.auth.authorize` decides 401/403
by key state, role and scope, and for model calls the
:class:`~tokligence.limits.KeyLimiter` refuses with a 429 and
``retry-after`` once a rate or a budget is spent. The errors are rendered
in the client's own envelope like every other error.

When the call is over, :meth:`Gatekeeper.settle` feeds what it used (tokens,
cost at current prices) back to the limiter. With auth off (allowed only on
a loopback address, or with ``--insecure``) nobody is refused, but a valid
key still names its caller for the ledger and its limits.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timezone
from decimal import Decimal

from .auth import Principal, authorize, key_from_headers
from .identity.cache import KeyCache, LastUsedTracker
from .limits import KeyLimiter
from .server.exchange import AccessRecord, HttpRequest

# Endpoints whose calls count against a key's request/token limits and budgets.
LIMITED_ACTIONS = frozenset({"chat", "responses", "messages", "embeddings"})


@dataclass(kw_only=True, slots=True)
class Gatekeeper:
    auth_required: bool
    cache: KeyCache
    limiter: KeyLimiter
    tracker: LastUsedTracker | None = None

    async def admit(
        self, request: HttpRequest, record: AccessRecord, *, endpoint_key: str, action: str
    ) -> Principal | None:
        """The caller, once authorized and within its limits. The key's
        owner goes into ``record`` as soon as the key resolves, so that the
        ledger row of a refusal (an expired key, a 429) says whose it was."""
        presented = key_from_headers(request.headers)
        principal = await self.cache.resolve(presented) if presented else None
        if principal is not None:
            record.user_id, record.api_key_id = principal.user_id, principal.key_id
        caller = authorize(
            principal,
            presented_key=presented,
            endpoint_key=endpoint_key,
            auth_required=self.auth_required,
            now=datetime.now(timezone.utc),
        )
        if caller is None:
            record.user_id = record.api_key_id = None  # not a usable key: nobody's call
            return None
        if self.tracker is not None:
            self.tracker.note(caller.key_id)
        if action in LIMITED_ACTIONS:
            await self.limiter.admit(caller)
        return caller

    async def settle(self, caller: Principal, record: AccessRecord, cost: Decimal | None) -> None:
        usage = record.usage
        tokens = usage.prompt_tokens + usage.output_tokens if usage is not None else 0
        await self.limiter.record(caller, tokens=tokens, cost_usd=cost)
