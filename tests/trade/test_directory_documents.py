"""The directory's documents: announcements, heartbeats and listings, each
refusal by its reason, and a buyer's re-verification of a listing."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest

from tokligence.trade.directory.documents import (
    ANNOUNCEMENT,
    HEARTBEAT,
    MAX_OFFERS,
    Entry,
    Refused,
    listing_body,
    price_order,
    read_announcement,
    read_heartbeat,
    read_listing,
    read_offer,
    skew_problem,
)
from tokligence.trade.documents import encode, sha256_hex
from tokligence.trade.offers import OFFER

from .directory_samples import NOW, URL, announce, heartbeat, offer, rewritten, signed_body
from .keys import BUYER, SELLER, STRANGER


def test_an_announcement_reads_back_with_its_offers() -> None:
    fast, bulk = offer(), offer(name="bulk", price_input="0.1", price_output="0.2")
    announced = read_announcement(announce(offers=[fast, bulk]))
    assert announced.announcement.seller == SELLER.public_id
    assert announced.announcement.url == URL
    assert announced.announcement.issued_at == NOW
    assert announced.announcement.offers == (sha256_hex(fast), sha256_hex(bulk))
    assert [o.ref for o in announced.offers] == ["fast@1", "bulk@1"]
    assert announced.offers[0].data == fast
    assert announced.offers[1].sells("gpt-4.1-mini") and not announced.offers[1].sells("claude")


def _altered_price(document: dict[str, Any]) -> None:
    document["offers"][0]["offer"]["prices"]["input"] = "0.01"


def _spaced(data: bytes) -> bytes:
    return json.dumps(json.loads(data)).encode()


def _stranger_announces(offers: list[bytes]) -> bytes:
    return announce(STRANGER, offers)


# (what it is, the body, the reason it is refused with)
REFUSED: list[tuple[str, Callable[[], bytes], str]] = [
    ("not JSON", lambda: b"{", "malformed"),
    ("not canonical (spaces)", lambda: _spaced(announce()), "malformed"),
    ("an extra member", lambda: rewritten(announce(), lambda d: d.update(x="y")), "malformed"),
    ("the offers missing", lambda: rewritten(announce(), lambda d: d.pop("offers")), "malformed"),
    (
        "offers not a list",
        lambda: rewritten(announce(), lambda d: d.update(offers={"a": 1})),
        "malformed",
    ),
    (
        "an announcement signed by another key than the seller it names",
        lambda: rewritten(
            announce(),
            lambda d: d["announcement"].update(
                sig=json.loads(announce(STRANGER))["announcement"]["sig"]
            ),
        ),
        "bad_signature",
    ),
    (
        "an announcement naming the seller, signed by another key",
        lambda: _impersonated(),
        "bad_signature",
    ),
    (
        "another seller's genuine offer",
        lambda: _stranger_announces([offer(SELLER)]),
        "wrong_seller",
    ),
    (
        "an offer naming its announcer, signed by another key",
        lambda: _stranger_announces([offer(SELLER, seller=STRANGER.public_id)]),
        "bad_signature",
    ),
    (
        "an altered price, the original signature",
        lambda: rewritten(announce(), _altered_price),
        "bad_signature",
    ),
    (
        "an altered price, announced with its new hash",
        lambda: announce(
            offers=[rewritten(offer(), lambda d: d["offer"]["prices"].update(input="0.01"))]
        ),
        "bad_signature",
    ),
    (
        "an offer the announcement does not list",
        lambda: rewritten(
            announce(), lambda d: d["offers"].__setitem__(0, json.loads(offer(name="other")))
        ),
        "malformed",
    ),
    (
        "one offer too many",
        lambda: rewritten(announce(), lambda d: d["offers"].append(json.loads(offer(name="x")))),
        "malformed",
    ),
    (
        "the offers in another order than listed",
        lambda: rewritten(
            announce(offers=[offer(), offer(name="bulk")]), lambda d: d["offers"].reverse()
        ),
        "malformed",
    ),
    (
        "two versions of one offer",
        lambda: announce(offers=[offer(), offer(version=2)]),
        "malformed",
    ),
    ("an ftp URL", lambda: announce(url="ftp://127.0.0.1/"), "malformed"),
    ("a URL with a user", lambda: announce(url="http://me@127.0.0.1:8081"), "malformed"),
    ("a URL with a query", lambda: announce(url="http://127.0.0.1:8081/?a=b"), "malformed"),
    (
        f"{MAX_OFFERS + 1} offers",
        lambda: announce(offers=[offer(name=f"o{i}") for i in range(MAX_OFFERS + 1)]),
        "malformed",
    ),
    ("no offer", lambda: announce(offers=[]), "malformed"),
    (
        "an offer with a member of its own",
        lambda: announce(offers=[_offer_with(extra="x")]),
        "malformed",
    ),
    (
        "an offer with a pattern the routes do not have",
        lambda: announce(offers=[offer(models=["gpt*4"])]),
        "malformed",
    ),
    (
        "an offer with a price in another spelling",
        lambda: announce(
            offers=[
                _offer_with(
                    prices={
                        "input": "2.50",
                        "output": "10",
                        "cache_read": "2.5",
                        "cache_write": "2.5",
                    }
                )
            ]
        ),
        "malformed",
    ),
    (
        "an offer with a negative limit",
        lambda: announce(
            offers=[_offer_with(limits={"rpm": -1, "tpm": 0, "concurrency": 0, "daily_tokens": 0})]
        ),
        "malformed",
    ),
    (
        "a heartbeat posted as an announcement",
        lambda: heartbeat(),
        "malformed",
    ),
]


def _impersonated() -> bytes:
    """STRANGER signs an announcement that names SELLER, with SELLER's
    genuine offer: a stranger pointing buyers at its own URL."""
    body = {
        "type": ANNOUNCEMENT,
        "v": 1,
        "seller": SELLER.public_id,
        "url": "http://127.0.0.1:6666",
        "issued_at": NOW,
        "offers": [sha256_hex(offer())],
    }
    return encode(
        {
            ANNOUNCEMENT: json.loads(signed_body(ANNOUNCEMENT, body, STRANGER)),
            "offers": [json.loads(offer())],
        }
    )


def _offer_with(**changes: Any) -> bytes:
    """SELLER's offer with ``changes`` to its body, signed by SELLER."""
    body = json.loads(offer())[OFFER]
    body.update(changes)
    return signed_body(OFFER, body, SELLER)


@pytest.mark.parametrize(("what", "body", "reason"), REFUSED, ids=[r[0] for r in REFUSED])
def test_a_bad_announcement_is_refused_with_its_reason(
    what: str, body: Callable[[], bytes], reason: str
) -> None:
    with pytest.raises(Refused) as refused:
        read_announcement(body())
    assert refused.value.reason == reason, refused.value.detail


def test_the_samples_are_valid_where_they_are_not_altered() -> None:
    """The table's bodies fail for the one thing each changes."""
    read_announcement(announce(offers=[offer(), offer(name="bulk")]))
    read_announcement(announce(STRANGER, [offer(STRANGER)]))
    read_offer(_offer_with())


def test_a_heartbeat_reads_back_and_its_forgeries_do_not() -> None:
    beat = read_heartbeat(heartbeat(issued_at=NOW + 5))
    assert (beat.seller, beat.issued_at) == (SELLER.public_id, NOW + 5)
    impostor = signed_body(
        HEARTBEAT,
        {"type": HEARTBEAT, "v": 1, "seller": SELLER.public_id, "issued_at": NOW},
        STRANGER,
    )
    with pytest.raises(Refused) as refused:
        read_heartbeat(impostor)
    assert refused.value.reason == "bad_signature"
    for bad in (
        announce(),
        b"",
        signed_body(HEARTBEAT, {"type": HEARTBEAT, "v": 1, "seller": SELLER.public_id}, SELLER),
        signed_body(
            HEARTBEAT,
            {"type": HEARTBEAT, "v": 1, "seller": SELLER.public_id, "issued_at": "now"},
            SELLER,
        ),
    ):
        with pytest.raises(Refused) as refused:
            read_heartbeat(bad)
        assert refused.value.reason == "malformed"


@pytest.mark.parametrize(
    ("issued_at", "accepted"),
    [
        (NOW, True),
        (NOW - 300_000, True),
        (NOW + 300_000, True),
        (NOW - 300_001, False),
        (NOW + 300_001, False),
        (0, False),
    ],
)
def test_the_skew_window(issued_at: int, accepted: bool) -> None:
    assert (skew_problem(issued_at, NOW, 300_000) is None) is accepted


# ------------------------------------------------------------------ listings


def _entry(
    offer_data: bytes, announcement: bytes, *, expires_in_ms: int = 30_000, **plain: str
) -> Entry:
    signed = json.loads(announcement)[ANNOUNCEMENT]
    return Entry(
        offer=offer_data,
        announcement=encode(signed),
        seller=plain.get("seller", signed[ANNOUNCEMENT]["seller"]),
        url=plain.get("url", signed[ANNOUNCEMENT]["url"]),
        expires_in_ms=expires_in_ms,
    )


def _listed(*entries: Entry, model: str = "gpt-4o-mini") -> tuple[list[str], list[str]]:
    accepted, dropped = read_listing(listing_body(entries, model=model, ttl_ms=90_000), model)
    return [f"{a.seller[8:12]} {a.offer.ref} {a.url}" for a in accepted], dropped


def test_a_buyer_sorts_the_listing_itself_cheapest_first() -> None:
    dear = offer(SELLER, price_input="3", price_output="12")  # 15 per million in+out
    cheap = offer(STRANGER, price_input="1", price_output="4")  # 5
    also_cheap = offer(BUYER, name="alt", price_input="4", price_output="1")  # 5: ties by id
    entries = [
        _entry(dear, announce(SELLER, [dear])),
        _entry(cheap, announce(STRANGER, [cheap], url="http://127.0.0.1:2")),
        _entry(also_cheap, announce(BUYER, [also_cheap], url="http://127.0.0.1:3")),
    ]
    accepted, dropped = _listed(*entries)
    assert dropped == []
    ids = sorted([STRANGER.public_id, BUYER.public_id])
    first_url = {STRANGER.public_id: "http://127.0.0.1:2", BUYER.public_id: "http://127.0.0.1:3"}
    assert accepted[0].endswith(first_url[ids[0]])
    assert accepted[1].endswith(first_url[ids[1]])
    assert accepted[2] == f"{SELLER.public_id[8:12]} fast@1 {URL}"
    keys = [price_order(read_offer(o)) for o in (dear, cheap, also_cheap)]
    assert keys[0][0] == 15 and keys[1][0] == keys[2][0] == 5


def test_a_buyer_drops_every_entry_that_fails_its_checks() -> None:
    good = offer()
    other = offer(STRANGER)
    altered = rewritten(good, lambda d: d["offer"]["prices"].update(input="0.01"))
    entries = [
        _entry(good, announce(offers=[good])),
        _entry(altered, announce(offers=[good])),  # the price, changed after signing
        _entry(other, announce(offers=[good])),  # another seller's offer under this announcement
        _entry(offer(name="unlisted"), announce(offers=[good])),  # not in the announcement
        _entry(good, announce(offers=[good]), url="http://127.0.0.1:6666"),  # a URL not signed
        _entry(good, announce(offers=[good]), seller=STRANGER.public_id),
        _entry(good, announce(offers=[good]), expires_in_ms=0),
        _entry(good, _impersonated()),  # an announcement by another key
        _entry(offer(models=["claude*"]), announce(offers=[offer(models=["claude*"])])),
    ]
    accepted, dropped = _listed(*entries)
    assert accepted == [f"{SELLER.public_id[8:12]} fast@1 {URL}"]
    expected = [
        "bad_signature: offer 'fast' is not signed by",
        "wrong_seller: offer 'fast' is not",
        "malformed: the offer is not one its announcement lists",
        "malformed: the seller or url beside the offer is not the signed one",
        "malformed: the seller or url beside the offer is not the signed one",
        "malformed: expires_in_ms is not a duration",
        "bad_signature: the announcement is not signed by",
        "malformed: offer fast@1 does not sell 'gpt-4o-mini'",
    ]
    assert len(dropped) == len(expected), dropped
    for reason, start in zip(dropped, expected, strict=True):
        assert reason.startswith(start), reason


@pytest.mark.parametrize("garbage", [b"", b"[]", b'{"offers": 3}', b"{" * 100_000, b"\xff"])
def test_a_listing_that_is_not_one_is_refused(garbage: bytes) -> None:
    with pytest.raises(Refused):
        read_listing(garbage, "gpt-4o-mini")


def test_garbage_entries_are_dropped_not_fatal() -> None:
    good = offer()
    body = json.loads(listing_body([_entry(good, announce())], model="m", ttl_ms=1))
    body["offers"][:0] = [
        3,
        None,
        {"offer": 1},
        {"announcement": [], "offer": {}, "seller": "", "url": "", "expires_in_ms": 1},
    ]
    accepted, dropped = read_listing(json.dumps(body).encode(), "gpt-4o-mini")
    assert len(accepted) == 1 and len(dropped) == 4
