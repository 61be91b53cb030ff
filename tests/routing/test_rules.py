"""Routing rules and aliases, table-driven."""

from __future__ import annotations

import random

import pytest

from tokligence.errors import GatewayError, PolicyRefusal, fault_rule
from tokligence.routing import Router, decide_mode, parse_aliases, parse_rules, pattern_matches
from tokligence.routing.rules import PatternIndex


@pytest.mark.parametrize(
    ("pattern", "model", "expected"),
    [
        ("gpt-4o", "gpt-4o", True),
        ("gpt-4o", "GPT-4O", True),
        ("gpt-4o", "gpt-4o-mini", False),
        ("gpt*", "gpt-4o-mini", True),
        ("gpt*", "chatgpt", False),
        ("*-mini", "gpt-4o-mini", True),
        ("*-mini", "gpt-4o", False),
        ("*sonnet*", "claude-sonnet-4", True),
        ("*sonnet*", "claude-opus-4", False),
        ("*", "anything", True),
    ],
)
def test_pattern_matching(pattern: str, model: str, expected: bool) -> None:
    assert pattern_matches(pattern, model) is expected


def test_rule_syntax_of_the_original_gateway() -> None:
    text = (
        "# comment\ngpt*=>openai, claude*=anthropic|openrouter\n; other comment\n*mini* => openai"
    )
    rules = parse_rules(text)
    assert [(r.pattern, r.providers) for r in rules] == [
        ("gpt*", ("openai",)),
        ("claude*", ("anthropic", "openrouter")),
        ("*mini*", ("openai",)),
    ]


@pytest.mark.parametrize("text", ["gpt*", "=>openai", "gpt*=>"])
def test_malformed_rules_are_errors(text: str) -> None:
    with pytest.raises(ValueError):
        parse_rules(text)


def test_first_matching_rule_wins_and_loopback_always_routes() -> None:
    router = Router(rules=parse_rules("claude-x*=>b, claude*=>a"), aliases=(), providers={"a", "b"})
    assert router.resolve("claude-x1").providers == ("b",)
    assert router.resolve("claude-3").providers == ("a",)
    assert router.resolve("loopback").providers == ("loopback",)


def test_unrouted_model_is_a_clear_not_found_listing_routes() -> None:
    router = Router(rules=parse_rules("gpt*=>a"), aliases=(), providers={"a"})
    with pytest.raises(GatewayError) as caught:
        router.resolve("mystery-model")
    assert caught.value.status == 404
    assert caught.value.code == "model_not_found"
    assert "mystery-model" in caught.value.message and "gpt*=>a" in caught.value.message
    # ... and says how to serve it.
    assert "TOKLIGENCE_ROUTES='mystery-model=>PROVIDER'" in caught.value.message


@pytest.mark.parametrize(
    ("provider", "fix"),
    [
        ("openai", "set TOKLIGENCE_OPENAI_API_KEY"),
        ("anthropic", "set TOKLIGENCE_ANTHROPIC_API_KEY"),
        (
            "deep-seek",
            "[provider.deep-seek] section with a base_url, or set "
            "TOKLIGENCE_PROVIDER_DEEP_SEEK_BASE_URL",
        ),
    ],
)
def test_rule_naming_an_unconfigured_provider_is_refused_with_the_fix(
    provider: str, fix: str
) -> None:
    with pytest.raises(ValueError, match=f"'{provider}'") as caught:
        Router(rules=parse_rules(f"m*=>{provider}"), aliases=(), providers=set())
    assert fix in str(caught.value)


def test_an_alias_target_routes_a_name_no_rule_knows() -> None:
    router = Router(
        rules=parse_rules("gpt*=>a"),
        aliases=parse_aliases("my-model=>gpt-4o, x=>loopback"),
        providers={"a"},
    )
    route = router.resolve("my-model")
    assert (route.providers, route.upstream_model) == (("a",), "gpt-4o")
    assert router.resolve("x").providers == ("loopback",)
    # A name a rule knows is routed by that rule, the alias renaming it only.
    router = Router(
        rules=parse_rules("claude*=>b, gpt*=>a"),
        aliases=parse_aliases("claude-x=>gpt-4o"),
        providers={"a", "b"},
    )
    assert router.resolve("claude-x").providers == ("b",)


def test_aliases_rewrite_the_upstream_model_only() -> None:
    router = Router(
        rules=parse_rules("claude*=>loopback"),
        aliases=parse_aliases("claude-sonnet* => loopback-big"),
        providers=set(),
    )
    route = router.resolve("claude-sonnet-4")
    assert (route.requested_model, route.upstream_model) == ("claude-sonnet-4", "loopback-big")
    assert router.resolve("claude-opus").upstream_model == "claude-opus"


OPENAI = ("openai_chat", "openai_responses")
ANTHROPIC = ("anthropic_messages",)


@pytest.mark.parametrize(
    ("mode", "client", "provider", "expected"),
    [
        ("auto", "openai_chat", OPENAI, "passthrough"),
        ("auto", "openai_responses", OPENAI, "passthrough"),
        ("auto", "openai_responses", ("openai_chat",), "translation"),
        ("auto", "openai_chat", ANTHROPIC, "translation"),
        ("passthrough", "openai_chat", OPENAI, "passthrough"),
        ("translation", "openai_chat", ANTHROPIC, "translation"),
        ("passthrough", "openai_chat", (), "native"),
        ("translation", "anthropic_messages", (), "native"),
    ],
)
def test_work_modes(mode: str, client: str, provider: tuple[str, ...], expected: str) -> None:
    assert decide_mode(mode, client, "p", provider) == expected  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("mode", "client", "provider"),
    [
        ("passthrough", "openai_chat", ANTHROPIC),
        ("passthrough", "openai_responses", ("openai_chat",)),
        ("translation", "openai_chat", OPENAI),
        ("translation", "anthropic_messages", ANTHROPIC),
    ],
)
def test_work_modes_refuse_with_a_clear_error(
    mode: str, client: str, provider: tuple[str, ...]
) -> None:
    with pytest.raises(PolicyRefusal, match=f"work_mode={mode}") as refused:
        decide_mode(mode, client, "p", provider)  # type: ignore[arg-type]
    assert (refused.value.status, refused.value.code) == (400, "work_mode_forbids")
    assert not fault_rule(refused.value).retry


def _first_by_trying_each(patterns: list[str], model: str) -> int | None:
    return next((i for i, p in enumerate(patterns) if pattern_matches(p, model)), None)


@pytest.mark.parametrize(
    ("patterns", "model", "expected"),
    [
        (["gpt*", "gpt-4o"], "gpt-4o", 0),  # a prefix ahead of an exact name wins
        (["gpt-4o", "gpt*"], "GPT-4O", 0),
        (["*mini", "gpt*"], "gpt-4o-mini", 0),  # a suffix ahead of a prefix
        (["gpt*", "*mini"], "gpt-4o-mini", 0),
        (["a*", "*4o*", "gpt*"], "gpt-4o", 1),  # a contains pattern between two
        (["gpt-4*", "gpt*"], "gpt-4o", 0),  # the longer prefix first
        (["gpt*", "gpt-4*"], "gpt-4o", 0),
        (["x", "*", "gpt*"], "gpt-4o", 1),  # "*" matches everything after it
        (["**"], "*x", 0),  # "**" is the prefix "*", as pattern_matches reads it
        (["**"], "x*", None),
        (["***"], "a*b", 0),  # "*" contained
        (["gpt-4o-mini-long*"], "gpt", None),  # a prefix longer than the model
        (["*-mini-long-suffix"], "mini", None),
        (["Claude*", "claude-3"], "CLAUDE-3", 0),  # case-insensitive both sides
        (["m1", "m1"], "m1", 0),  # duplicates: the first
        ([], "anything", None),
    ],
)
def test_pattern_index_finds_the_first_match(
    patterns: list[str], model: str, expected: int | None
) -> None:
    assert PatternIndex(patterns).first(model) == expected
    assert _first_by_trying_each(patterns, model) == expected


def test_pattern_index_agrees_with_trying_each_pattern_in_order() -> None:
    """Random patterns of every kind over a small alphabet, so that many
    match the same model: the index finds the same first one."""
    rng = random.Random(15)

    def word() -> str:
        return "".join(rng.choice("abAB-") for _ in range(rng.randrange(0, 5)))

    for _ in range(300):
        patterns = []
        for _ in range(rng.randrange(1, 30)):
            kind = rng.randrange(5)
            patterns.append(
                ["{}", "{}*", "*{}", "*{}*", "*"][kind].format(word()) if kind < 4 else "*"
            )
        index = PatternIndex(patterns)
        for _ in range(30):
            model = word()
            assert index.first(model) == _first_by_trying_each(patterns, model), (patterns, model)


def test_first_matching_alias_wins_and_swapping_aliases_takes_effect() -> None:
    router = Router(
        rules=parse_rules("gpt*=>a"),
        aliases=parse_aliases("*-fast=>gpt-4o-mini, claude*=>gpt-4o, claude-x-fast=>never"),
        providers={"a"},
    )
    route = router.resolve("claude-x-fast")
    assert (route.upstream_model, route.providers) == ("gpt-4o-mini", ("a",))
    assert router.alias("CLAUDE-3") == "gpt-4o"
    assert router.alias("other") == "other"
    router.set_aliases(parse_aliases("claude*=>gpt-5"))
    assert router.alias("claude-x-fast") == "gpt-5"
    assert [a.pattern for a in router.aliases] == ["claude*"]


def test_a_thousand_routes_keep_first_match_wins() -> None:
    rules = ", ".join(f"model-{i:04}*=>a" for i in range(1000))
    router = Router(
        rules=parse_rules(rules + ", model-0999-x=>b, *=>b"), aliases=(), providers={"a", "b"}
    )
    assert router.resolve("model-0999-x").rule == "model-0999*"
    assert router.resolve("model-0000").rule == "model-0000*"
    assert router.resolve("other").providers == ("b",)
    assert router.resolve("loopback").providers == ("loopback",)
