"""Routing: model -> ordered providers, aliases, work-mode decisions (pure)."""

from .modes import WorkMode, decide_mode
from .rules import LOOPBACK, Alias, Route, Router, Rule, parse_aliases, parse_rules, pattern_matches

__all__ = [
    "LOOPBACK",
    "Alias",
    "Route",
    "Router",
    "Rule",
    "WorkMode",
    "decide_mode",
    "parse_aliases",
    "parse_rules",
    "pattern_matches",
]
