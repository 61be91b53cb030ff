"""Offers in the configuration: sections, environment, errors, and the
terms a version of an offer fixes."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from tokligence.config import Config, ConfigError, load_config
from tokligence.config_view import show_rows
from tokligence.trade.money import Prices
from tokligence.trade.offers import (
    Limits,
    Offer,
    OfferError,
    offer_document,
    offer_ref,
    parse_offer_ref,
    terms_from_document,
)

from .keys import BUYER, SELLER

FAST = """
[trade.offer.fast]
models = gpt-4o-mini, gpt-4.1*   ; a comment
provider = loopback
price_input = 2.50
price_output = 10
rpm = 60
"""


def load(tmp_path: Path, ini: str = "", env: Mapping[str, str] | None = None) -> Config:
    path = tmp_path / "gateway.ini"
    path.write_text(ini, encoding="utf-8")
    return load_config(
        env=env or {},
        flags={},
        config_file=path,
        cwd=tmp_path,
        user_config_dir=tmp_path / "user-config",
    )


def problem(tmp_path: Path, ini: str = "", env: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, ini, env)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def test_no_offer_by_default(tmp_path: Path) -> None:
    assert load(tmp_path).offers == ()


def test_an_offer_section(tmp_path: Path) -> None:
    (offer,) = load(tmp_path, FAST).offers
    assert offer == Offer(
        name="fast",
        models=("gpt-4o-mini", "gpt-4.1*"),
        provider="loopback",
        # Cache tokens are billed as input tokens unless priced.
        prices=Prices(
            input=Decimal("2.5"),
            output=Decimal(10),
            cache_read=Decimal("2.5"),
            cache_write=Decimal("2.5"),
        ),
        limits=Limits(rpm=60),
    )


def test_the_environment_outranks_the_file_and_declares_offers_too(tmp_path: Path) -> None:
    env = {
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": "3",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_CACHE_READ": "0.25",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_MODELS": "*",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_PROVIDER": "LOOPBACK",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_PRICE_INPUT": "0.1",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_PRICE_OUTPUT": "0.2",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_DAILY_TOKENS": "1000000",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_CONCURRENCY": "4",
        "TOKLIGENCE_TRADE_OFFER_BULK_ITEMS_TPM": "",  # empty: unset
    }
    fast, bulk = load(tmp_path, FAST, env).offers
    assert fast.prices.input == Decimal(3)
    assert fast.prices.cache_read == Decimal("0.25")
    assert fast.prices.cache_write == Decimal(3)  # the input price in force
    assert bulk.name == "bulk_items"
    assert bulk.models == ("*",)
    assert bulk.provider == "loopback"
    assert bulk.limits == Limits(concurrency=4, daily_tokens=1_000_000)


def test_an_offer_may_name_a_declared_provider(tmp_path: Path) -> None:
    ini = FAST.replace("provider = loopback", "provider = local") + (
        "[provider.local]\nbase_url = http://127.0.0.1:9/v1\n"
    )
    (offer,) = load(tmp_path, ini).offers
    assert offer.provider == "local"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("rpm = 60", "rmp = 60"), "gateway.ini:7: unknown offer field 'rmp'; known: models,"),
        (("price_output = 10", ""), "offer 'fast' needs price_output"),
        (("[trade.offer.fast]", "[trade.offer.9fast]"), "offer name '9fast' must be lowercase"),
        (("[trade.offer.fast]", "[trade.offer.]"), "offer name '' must be lowercase"),
        (
            ("provider = loopback", "provider = openai"),
            "gateway.ini:4: offer 'fast' names provider 'openai', which is not configured;"
            " configured: loopback",
        ),
        (("price_input = 2.50", "price_input = -1"), "gateway.ini:5: price_input must be a"),
        (("price_input = 2.50", "price_input = 2.5000001"), "more than 6 decimal places"),
        (("price_input = 2.50", "price_input = 1e3"), "price_input must be a decimal number"),
        (("price_output = 10", "price_output = 2000000"), "above 1000000 USD per million"),
        (("rpm = 60", "rpm = -1"), "gateway.ini:7: rpm must be a whole number from 0 to"),
        (("rpm = 60", "rpm = 1.5"), "rpm must be a whole number"),
        (("rpm = 60", "rpm = 2147483648"), "rpm must be a whole number from 0 to 2147483647"),
        (("rpm = 60", "tpm = 1000000000001"), "tpm must be a whole number from 0 to"),
        (("gpt-4.1*", "gpt*4"), "'gpt*4' is not a model pattern"),
        (("gpt-4.1*", "**"), "'**' is not a model pattern"),
        (("gpt-4o-mini, gpt-4.1*", " , "), "models lists no model pattern"),
        (("gpt-4.1*", "gpt 4"), "'gpt 4' is not a model pattern"),
        (("gpt-4.1*", "gpt=>x"), "'gpt=>x' is not a model pattern"),
    ],
)
def test_a_bad_offer_is_one_line_naming_where(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    ini = FAST.replace(*change)
    assert ini != FAST
    assert message in problem(tmp_path, ini)


def test_a_bad_environment_variable_is_named(tmp_path: Path) -> None:
    env = {"TOKLIGENCE_TRADE_OFFER_FAST_PRICE": "1"}
    assert problem(tmp_path, FAST, env).startswith(
        "environment variable TOKLIGENCE_TRADE_OFFER_FAST_PRICE: expected "
        "TOKLIGENCE_TRADE_OFFER_<NAME>_<FIELD> with FIELD one of MODELS, PROVIDER,"
    )
    env = {"TOKLIGENCE_TRADE_OFFER_FAST_RPM": "x"}
    assert problem(tmp_path, FAST, env) == (
        "env TOKLIGENCE_TRADE_OFFER_FAST_RPM: rpm must be a whole number from 0 to 2147483647"
    )


def test_config_show_lists_each_offers_fields(tmp_path: Path) -> None:
    rows = {row["name"]: row for row in show_rows(load(tmp_path, FAST))}
    assert rows["trade.offer.fast.models"]["value"] == ["gpt-4o-mini", "gpt-4.1*"]
    assert rows["trade.offer.fast.price_input"]["value"] == "2.5"
    assert rows["trade.offer.fast.price_cache_write"]["value"] == "2.5"
    assert rows["trade.offer.fast.rpm"]["value"] == 60
    assert rows["trade.offer.fast.tpm"]["value"] == 0
    assert (
        rows["trade.offer.fast.daily_tokens"]["env"] == "TOKLIGENCE_TRADE_OFFER_FAST_DAILY_TOKENS"
    )
    assert rows["trade.offer.fast.provider"]["source"] == "offer fast"
    assert len([name for name in rows if name.startswith("trade.offer.")]) == 10


def _offer(**changes: object) -> Offer:
    base: dict[str, object] = {
        "name": "fast",
        "models": ("gpt-4o-mini",),
        "provider": "loopback",
        "prices": Prices(
            input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal(0), cache_write=Decimal(0)
        ),
        "limits": Limits(rpm=60),
    }
    return Offer(**{**base, **changes})  # type: ignore[arg-type]


def test_terms_change_with_what_a_buyer_is_sold_and_nothing_else() -> None:
    base = _offer().terms_hash(SELLER.public_id)
    assert _offer(provider="openai").terms_hash(SELLER.public_id) == base
    respelt = Prices(
        input=Decimal("2.50"), output=Decimal("10.0"), cache_read=Decimal(0), cache_write=Decimal(0)
    )
    assert _offer(prices=respelt).terms_hash(SELLER.public_id) == base
    changed = [
        _offer(models=("gpt-4o-mini", "gpt-4o")).terms_hash(SELLER.public_id),
        _offer(limits=Limits(rpm=61)).terms_hash(SELLER.public_id),
        _offer(
            prices=Prices(
                input=Decimal("2.5"),
                output=Decimal(10),
                cache_read=Decimal("0.000001"),
                cache_write=Decimal(0),
            )
        ).terms_hash(SELLER.public_id),
        _offer().terms_hash(BUYER.public_id),  # another seller's offer
    ]
    assert base not in changed and len(set(changed)) == len(changed)


def test_the_offer_document() -> None:
    document = offer_document(
        _offer(), seller=SELLER.public_id, version=3, effective_at=1_767_225_600_000
    )
    assert document == {
        "type": "offer",
        "v": 1,
        "name": "fast",
        "version": 3,
        "effective_at": 1_767_225_600_000,
        "seller": SELLER.public_id,
        "models": ["gpt-4o-mini"],
        "prices": {"input": "2.5", "output": "10", "cache_read": "0", "cache_write": "0"},
        "limits": {"rpm": 60, "tpm": 0, "concurrency": 0, "daily_tokens": 0},
    }
    assert "provider" not in document  # the seller's own business


def test_offer_refs() -> None:
    assert offer_ref("fast", 3) == "fast@3"
    assert parse_offer_ref("fast@3") == ("fast", 3)
    assert parse_offer_ref("bulk_items-2@120") == ("bulk_items-2", 120)
    for bad in ("fast", "fast@0", "fast@03", "Fast@1", "fast@1 ", "@1", "fast@-1", "a@b@1", 3):
        with pytest.raises(ValueError):
            parse_offer_ref(bad)


def test_the_terms_read_back_from_the_document() -> None:
    document = offer_document(
        _offer(), seller=SELLER.public_id, version=3, effective_at=1_767_225_600_000
    )
    terms = terms_from_document(document)
    assert (terms.ref, terms.seller, terms.models) == ("fast@3", SELLER.public_id, ("gpt-4o-mini",))
    assert (terms.prices, terms.limits) == (_offer().prices, _offer().limits)
    assert terms.sells("GPT-4o-mini") and not terms.sells("gpt-4o")


@pytest.mark.parametrize(
    "change",
    [
        {"type": "receipt"},
        {"v": 2},
        {"extra": 1},
        {"name": "Fast"},
        {"version": 0},
        {"models": []},
        {"models": ["a,b"]},
        {"models": "gpt-4o-mini"},
        {"prices": {"input": "2.50", "output": "10", "cache_read": "0", "cache_write": "0"}},
        {"limits": {"rpm": 60}},
        {"limits": {"rpm": -1, "tpm": 0, "concurrency": 0, "daily_tokens": 0}},
    ],
)
def test_terms_of_a_malformed_offer_are_refused(change: dict[str, object]) -> None:
    document = {
        **offer_document(_offer(), seller=SELLER.public_id, version=1, effective_at=1),
        **change,
    }
    with pytest.raises(OfferError):
        terms_from_document(document)
