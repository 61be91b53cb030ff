"""What the gateway knows about upstream models: output limits and reasoning controls.

Theory of operation
-------------------
One ordered table of ``(pattern, limits)``; the first pattern that matches a
normalised model name wins, so more specific patterns come first
(``claude-opus-4-5*`` before ``claude-opus-4*``). Patterns are shell-style
(``*`` matches anything). Names are normalised before matching: lower-cased,
anything up to the last ``/`` dropped (``anthropic/claude-…``) and a Bedrock
``…anthropic.`` prefix dropped (``us.anthropic.claude-…-v1:0``); Vertex's
``claude-…@20250805`` matches as is.

``max_output_tokens`` is used to clamp a client's ``max_tokens``; clamping
*below* a model's real limit silently truncates answers (failure mode 11), so
where sources disagree the table takes the larger documented value: a value
that is too high only lets the upstream's own "max_tokens too large" error
through, which is what the client would get talking to it directly. An
unknown model gets no limit and no reasoning controls.

Sources (Anthropic model pages and "what's new" notes, OpenAI model pages):

* Claude Opus 4 / 4.1: 32K. Sonnet 4, Sonnet 4.5, Opus 4.5, Haiku 4.5 and
  Sonnet 3.7: 64K (3.7 reaches 128K only with a beta header; 64K is used).
  Opus 4.6/4.7/4.8 and Sonnet 4.6: 128K and adaptive thinking (the launch
  note said 64K for Sonnet 4.6, its model page and the API's own error say
  128K). Claude 5 models (Opus, Sonnet, Fable): 128K, adaptive thinking
  only — manual ``budget_tokens`` thinking is not accepted.
* Claude 3.5 Sonnet/Haiku: 8192, no extended thinking; other Claude 3: 4096.
* gpt-4o: 16384; gpt-4.1: 32768; o1/o3/o4-mini: 100000 (o1-mini 65536,
  o1-preview 32768); gpt-5: 128000 (gpt-5-pro 272000); gpt-5-chat is not a
  reasoning model (16384).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from fnmatch import fnmatchcase

# max_tokens of a translated request that names none, where the provider's
# protocol requires one (setting anthropic_max_tokens overrides it). Here,
# not in codecs.base, so that the settings table (and with it --version and
# config show) does not import the canonical types to read it.
DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True, kw_only=True, slots=True)
class ModelLimits:
    """``reasoning_model``: accepts OpenAI reasoning controls
    (``reasoning_effort``); ``thinking``: accepts Anthropic ``thinking``;
    ``adaptive_thinking``: accepts (and prefers) ``{"type": "adaptive"}`` with
    ``output_config.effort`` over a manual ``budget_tokens``."""

    max_output_tokens: int | None = None
    reasoning_model: bool = False
    thinking: bool = False
    adaptive_thinking: bool = False


UNKNOWN = ModelLimits()

_CLAUDE_32K = ModelLimits(max_output_tokens=32_000, thinking=True)
_CLAUDE_64K = ModelLimits(max_output_tokens=64_000, thinking=True)
_CLAUDE_128K_ADAPTIVE = ModelLimits(
    max_output_tokens=128_000, thinking=True, adaptive_thinking=True
)
_CLAUDE_3_5 = ModelLimits(max_output_tokens=8192)
_CLAUDE_3 = ModelLimits(max_output_tokens=4096)
_O_SERIES = ModelLimits(max_output_tokens=100_000, reasoning_model=True)

# First match wins: keep specific patterns above the general ones they refine.
TABLE: tuple[tuple[str, ModelLimits], ...] = (
    ("claude-opus-4-1*", _CLAUDE_32K),
    ("claude-opus-4-5*", _CLAUDE_64K),
    ("claude-opus-4-6*", _CLAUDE_128K_ADAPTIVE),
    ("claude-opus-4-7*", _CLAUDE_128K_ADAPTIVE),
    ("claude-opus-4-8*", _CLAUDE_128K_ADAPTIVE),
    ("claude-opus-4*", _CLAUDE_32K),
    ("claude-sonnet-4-5*", _CLAUDE_64K),
    ("claude-sonnet-4-6*", _CLAUDE_128K_ADAPTIVE),
    ("claude-sonnet-4*", _CLAUDE_64K),
    ("claude-haiku-4*", _CLAUDE_64K),
    ("claude-opus-5*", _CLAUDE_128K_ADAPTIVE),
    ("claude-sonnet-5*", _CLAUDE_128K_ADAPTIVE),
    ("claude-fable-5*", _CLAUDE_128K_ADAPTIVE),
    ("claude-3-7-sonnet*", _CLAUDE_64K),
    ("claude-3-5-sonnet*", _CLAUDE_3_5),
    ("claude-3-5-haiku*", _CLAUDE_3_5),
    ("claude-3-*", _CLAUDE_3),
    ("gpt-4o*", ModelLimits(max_output_tokens=16_384)),
    ("gpt-4.1*", ModelLimits(max_output_tokens=32_768)),
    ("gpt-5-chat*", ModelLimits(max_output_tokens=16_384)),
    ("gpt-5-pro*", ModelLimits(max_output_tokens=272_000, reasoning_model=True)),
    ("gpt-5*", ModelLimits(max_output_tokens=128_000, reasoning_model=True)),
    ("o1-mini*", ModelLimits(max_output_tokens=65_536, reasoning_model=True)),
    ("o1-preview*", ModelLimits(max_output_tokens=32_768, reasoning_model=True)),
    ("o1*", _O_SERIES),
    ("o3*", _O_SERIES),
    ("o4-mini*", _O_SERIES),
)

_BEDROCK_PREFIX = "anthropic."


def normalise(model: str) -> str:
    """The bare model id a table pattern is written against."""
    name = model.strip().lower().rsplit("/", 1)[-1]
    if _BEDROCK_PREFIX in name:
        name = name.split(_BEDROCK_PREFIX, 1)[1]
    return name


# Remembered per model name: a name the table does not know is tried against
# every pattern (about 20 us), and a translated request asks twice. Bounded,
# since clients choose the names.
@functools.lru_cache(maxsize=1024)
def limits_for(model: str) -> ModelLimits:
    name = normalise(model)
    for pattern, limits in TABLE:
        if fnmatchcase(name, pattern):
            return limits
    return UNKNOWN
