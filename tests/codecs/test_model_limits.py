"""The model-limits table: first match wins, names normalised, unknown = no limits."""

from __future__ import annotations

from fnmatch import fnmatchcase

import pytest

from tokligence.codecs.model_limits import TABLE, UNKNOWN, ModelLimits, limits_for, normalise


@pytest.mark.parametrize(
    ("model", "max_output", "thinking", "adaptive"),
    [
        ("claude-opus-4-20250514", 32_000, True, False),
        ("claude-opus-4-0", 32_000, True, False),
        ("claude-opus-4-1-20250805", 32_000, True, False),
        ("claude-opus-4-5-20251101", 64_000, True, False),
        ("claude-opus-4-6", 128_000, True, True),
        ("claude-opus-4-7", 128_000, True, True),
        ("claude-sonnet-4-20250514", 64_000, True, False),
        ("claude-sonnet-4-5-20250929", 64_000, True, False),
        ("claude-sonnet-4-6", 128_000, True, True),
        ("claude-haiku-4-5-20251001", 64_000, True, False),
        ("claude-3-7-sonnet-20250219", 64_000, True, False),
        ("claude-3-5-sonnet-20241022", 8192, False, False),
        ("claude-3-5-haiku-latest", 8192, False, False),
        ("claude-3-opus-20240229", 4096, False, False),
        ("claude-opus-5-5", 128_000, True, True),
        ("claude-sonnet-5", 128_000, True, True),
    ],
)
def test_claude_models(model: str, max_output: int, thinking: bool, adaptive: bool) -> None:
    limits = limits_for(model)
    assert limits.max_output_tokens == max_output
    assert limits.thinking is thinking
    assert limits.adaptive_thinking is adaptive
    assert limits.reasoning_model is False


@pytest.mark.parametrize(
    ("model", "max_output", "reasoning"),
    [
        ("gpt-4o", 16_384, False),
        ("gpt-4o-mini-2024-07-18", 16_384, False),
        ("gpt-4.1", 32_768, False),
        ("gpt-4.1-nano", 32_768, False),
        ("o1", 100_000, True),
        ("o1-mini", 65_536, True),
        ("o1-preview-2024-09-12", 32_768, True),
        ("o3-mini", 100_000, True),
        ("o4-mini-2025-04-16", 100_000, True),
        ("gpt-5", 128_000, True),
        ("gpt-5.1-codex", 128_000, True),
        ("gpt-5-pro", 272_000, True),
        ("gpt-5-chat-latest", 16_384, False),
    ],
)
def test_openai_models(model: str, max_output: int, reasoning: bool) -> None:
    limits = limits_for(model)
    assert limits.max_output_tokens == max_output
    assert limits.reasoning_model is reasoning
    assert limits.thinking is False


@pytest.mark.parametrize(
    ("raw", "bare"),
    [
        ("Claude-Sonnet-4-5", "claude-sonnet-4-5"),
        ("anthropic/claude-opus-4-1", "claude-opus-4-1"),
        ("us.anthropic.claude-opus-4-1-20250805-v1:0", "claude-opus-4-1-20250805-v1:0"),
        ("openai/gpt-4o", "gpt-4o"),
        (" gpt-5 ", "gpt-5"),
    ],
)
def test_names_are_normalised(raw: str, bare: str) -> None:
    assert normalise(raw) == bare
    assert limits_for(raw) == limits_for(bare) != UNKNOWN


def test_vertex_names_match() -> None:
    assert limits_for("claude-opus-4-1@20250805").max_output_tokens == 32_000


@pytest.mark.parametrize("model", ["llama3", "deepseek-chat", "loopback", "", "claude"])
def test_unknown_models_get_no_limits(model: str) -> None:
    assert limits_for(model) == UNKNOWN == ModelLimits()
    assert UNKNOWN.max_output_tokens is None


def test_specific_patterns_come_before_the_general_ones_they_refine() -> None:
    # A pattern listed after a more general one that also matches it is dead.
    for i, (pattern, _) in enumerate(TABLE):
        probe = pattern.replace("*", "")
        first = next(p for p, _ in TABLE if fnmatchcase(probe, p))
        assert first == pattern, f"{pattern} is shadowed by {first} (row {i})"
