"""Peers in the configuration: sections, environment, errors, config show,
and the provider name routes use."""

from __future__ import annotations

from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path

import pytest

from tokligence.app import build
from tokligence.config import Config, ConfigError, load_config
from tokligence.config_view import show_rows
from tokligence.trade.peers import Peer

from .keys import SELLER

ALICE = f"""
[trade.peer.alice]
url = http://127.0.0.1:8082/   ; the seller
public_id = {SELLER.public_id}
api_key = tra_not-a-real-key
spend_cap = 5000000
"""


def load(tmp_path: Path, ini: str = "", env: Mapping[str, str] | None = None) -> Config:
    path = tmp_path / "gateway.ini"
    path.write_text(ini, encoding="utf-8")
    return load_config(
        env=env or {}, flags={}, config_file=path, cwd=tmp_path, user_config_dir=tmp_path / "u"
    )


def problem(tmp_path: Path, ini: str = "", env: Mapping[str, str] | None = None) -> str:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, ini, env)
    assert len(info.value.problems) == 1, info.value.problems
    return info.value.problems[0]


def test_no_peer_by_default(tmp_path: Path) -> None:
    config = load(tmp_path)
    assert config.peers == () and not config.trading


def test_a_peer_section(tmp_path: Path) -> None:
    config = load(tmp_path, ALICE)
    assert config.peers == (
        Peer(
            name="alice",
            url="http://127.0.0.1:8082",
            public_id=SELLER.public_id,
            api_key="tra_not-a-real-key",
            spend_cap=5_000_000,
        ),
    )
    assert config.trading
    (peer,) = config.peers
    assert peer.provider == "peer:alice" and peer.tolerance == Decimal("0.05")
    assert "tra_" not in repr(peer)


def test_the_environment_declares_peers_and_outranks_the_file(tmp_path: Path) -> None:
    env = {
        "TOKLIGENCE_TRADE_PEER_ALICE_SPEND_CAP": "7",
        "TOKLIGENCE_TRADE_PEER_BOB_SMITH_URL": "https://bob.example",
        "TOKLIGENCE_TRADE_PEER_BOB_SMITH_PUBLIC_ID": SELLER.public_id,
        "TOKLIGENCE_TRADE_PEER_BOB_SMITH_API_KEY_ENV": "BOB_KEY",
        "TOKLIGENCE_TRADE_PEER_BOB_SMITH_OFFER": "fast",
        "TOKLIGENCE_TRADE_PEER_BOB_SMITH_TOLERANCE": "0",
        "BOB_KEY": "tra_from-the-environment",
    }
    alice, bob = load(tmp_path, ALICE, env).peers
    assert alice.spend_cap == 7
    assert (bob.name, bob.url, bob.api_key, bob.offer, bob.tolerance) == (
        "bob_smith",
        "https://bob.example",
        "tra_from-the-environment",
        "fast",
        Decimal(0),
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            ("spend_cap = 5000000", "cap = 1"),
            "gateway.ini:6: unknown peer field 'cap'; known: url,",
        ),
        (("url = http://127.0.0.1:8082/", ""), "peer 'alice' needs url"),
        (("url = http://127.0.0.1:8082/", "url = 127.0.0.1:8082"), "gateway.ini:3: url must start"),
        ((SELLER.public_id, "ed25519:short"), "gateway.ini:4: public_id must be ed25519:"),
        (("spend_cap = 5000000", "spend_cap = -1"), "spend_cap must be a whole number"),
        (("spend_cap = 5000000", "tolerance = 2"), "tolerance must be a fraction from 0 to 1"),
        (("spend_cap = 5000000", "tolerance = x"), "tolerance must be a fraction"),
        (("spend_cap = 5000000", "offer = Fast"), "offer must be an offer name"),
        (("[trade.peer.alice]", "[trade.peer.Alice!]"), "peer name 'alice!' must be lowercase"),
    ],
)
def test_a_bad_peer_is_one_line_naming_where(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    ini = ALICE.replace(*change)
    assert ini != ALICE
    assert message in problem(tmp_path, ini)


def test_a_bad_environment_variable_is_named(tmp_path: Path) -> None:
    assert problem(tmp_path, ALICE, {"TOKLIGENCE_TRADE_PEER_ALICE_KEY": "x"}).startswith(
        "environment variable TOKLIGENCE_TRADE_PEER_ALICE_KEY: expected "
        "TOKLIGENCE_TRADE_PEER_<NAME>_<FIELD> with FIELD one of URL, PUBLIC_ID,"
    )


def test_config_show_masks_the_key(tmp_path: Path) -> None:
    rows = {row["name"]: row for row in show_rows(load(tmp_path, ALICE))}
    assert rows["trade.peer.alice.url"]["value"] == "http://127.0.0.1:8082"
    assert rows["trade.peer.alice.spend_cap"]["env"] == "TOKLIGENCE_TRADE_PEER_ALICE_SPEND_CAP"
    assert "not-a-real-key" not in str(rows["trade.peer.alice.api_key"]["value"])
    assert len([name for name in rows if name.startswith("trade.peer.")]) == 6


def test_routes_name_a_peer_as_a_provider(tmp_path: Path) -> None:
    built = build(load(tmp_path, ALICE + "\n[x]\nroutes = gpt-4o*=>peer:alice|loopback\n"))
    route = built.router.resolve("gpt-4o-mini")
    assert route.providers == ("peer:alice", "loopback")
    assert "peer:alice" in built.upstreams


def test_a_route_to_an_undeclared_peer_says_how_to_declare_it(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"\[trade.peer.bob\] section"):
        build(load(tmp_path, "routes = gpt*=>peer:bob\n"))


def test_a_peer_without_a_key_cannot_serve(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="tokligence trade open"):
        build(load(tmp_path, ALICE.replace("api_key = tra_not-a-real-key", "")))
