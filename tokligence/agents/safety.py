"""The agent helpers' settings as one value the model-call stage holds (pure)."""

from __future__ import annotations

from dataclasses import dataclass, field

from .guard import GuardPolicy


@dataclass(frozen=True, kw_only=True, slots=True)
class AgentSafety:
    """The repeated-tool-call guard and shell normalisation, as configured
    (docs/launchers.md)."""

    guard: GuardPolicy = field(default_factory=GuardPolicy)
    shell_normalization: bool = True
