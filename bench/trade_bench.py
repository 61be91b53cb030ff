"""What token trading costs, in one run: the documents, a peer hop, and
nothing at all for requests that do not trade.

Four parts, each printed as it finishes:

(a) **Signing and verifying.** Microseconds to sign and to verify a
    receipt and an order (``timeit``, best of ``--timeit-repeat``; the
    calls the seller and the buyer make on every traded request), and the
    sizes of what travels: the receipt's canonical bytes and the order's
    header value.

(b) **A peer hop.** Starts ``bench/fast_upstream.py``, a *seller* gateway
    whose offer ``gpt-bench`` is served by its ``openai`` provider pointed
    at that upstream, and a *buyer* gateway routing ``gpt-bench =>
    peer:seller``, paired as a user pairs them (``tokligence trade open``,
    then ``trade accounts --set-credit``). The same chat request is then
    sent, interleaved run by run:

    * ``upstream``: straight to the fake upstream (the floor);
    * ``seller plain``: to the seller as an ordinary client, no order (its
      own provider path: ``gpt-bench => openai``);
    * ``seller as buyer``: to the seller as a buyer gateway sends it, with
      the buyer's account key and a fresh order signed with the buyer's
      node key by the buyer's own code (``Order``/``sign_order``) for
      every request -- signed before the request's clock starts, so the
      figure is the sale (checks, reservation, upstream call, posting,
      receipt) without the client's signing;
    * ``buyer -> seller``: to the buyer gateway, which signs the order,
      calls the seller, checks the receipt and books the purchase.

    The **peer hop** is ``buyer -> seller`` minus ``seller as buyer``:
    what the buyer gateway in front adds (its own request path, signing
    the order, the extra loopback hop, verifying the receipt). The
    **sale** is ``seller as buyer`` minus ``seller plain``. Figures: p50 at
    concurrency 1 (non-stream), time to first byte p50 at concurrency 1
    (stream), and requests per second at concurrency 16 (both).

(c) **Non-trading paths unchanged.** Two gateways of this checkout, one
    without trading and one with an offer configured (a node key, the
    trading tables, the offer published) for a model the requests do not
    ask for, serve the loopback model and the provider path (``gpt-bench
    => openai``, non-stream and stream); CPU microseconds the kernel
    charges the gateway per request (``cpu_bench.cpu_seconds``), median of
    ``--rounds`` interleaved rounds (who goes first alternates), and the
    ratio offer/plain.

(d) **Start-up.** Seconds from process start to ``/health`` answering,
    median of ``--starts`` starts (after one uncounted start each, which
    creates the databases and the node key), for a gateway without
    trading, a seller (one offer) and a buyer (one peer), alternating.

Every gateway uses SQLite in its own temporary data directory; everything
listens on 127.0.0.1. Shared virtual machines change speed from minute to
minute: the calibration loop is printed before and after.

    python bench/trade_bench.py [--seconds 2] [--repeat 3] [--rounds 5]
                                [--starts 7] [--skip a,b,c,d]
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import hashlib
import itertools
import json
import os
import subprocess
import sys
import tempfile
import time
import timeit
import urllib.request
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from statistics import median

from common import (
    ROOT,
    Result,
    _read_response,
    free_port,
    host_speed_ms,
    load,
    request_bytes,
    start_gateway,
    wait_http,
)
from cpu_bench import cpu_seconds
from upstream_bench import CHAT, chat_body

from tokligence.trade.money import Prices, Tokens, cost_micro_usd
from tokligence.trade.node_key import load_or_create
from tokligence.trade.orders import ORDER_HEADER, Order, read_order, sign_order
from tokligence.trade.receipts import GENESIS, Receipt, sign_receipt, verify_receipt
from tokligence.trade.signing import Signer

OFF = {"TOKLIGENCE_UPDATE_CHECK_ENABLED": "false"}
OFFER = {
    "TOKLIGENCE_TRADE_OFFER_BENCH_PROVIDER": "openai",
    "TOKLIGENCE_TRADE_OFFER_BENCH_PRICE_INPUT": "2.50",
    "TOKLIGENCE_TRADE_OFFER_BENCH_PRICE_OUTPUT": "10",
}
CREDIT = 10**15  # micro-USD: a run never reaches it
Gateway = tuple[str, int, subprocess.Popen[bytes]]


def _spread(
    values: list[float], digits: int = 3, best: Callable[[list[float]], float] = min
) -> str:
    return f"{median(values):.{digits}f} ({best(values):.{digits}f})"


def _minus(these: list[float], those: list[float]) -> list[float]:
    """Run by run: each of ``these`` less the one of ``those`` measured beside it."""
    return [a - b for a, b in zip(these, those, strict=True)]


# ------------------------------------------------------------- (a) documents


def documents(number: int, repeat: int) -> None:
    seller, buyer = Signer(os.urandom(32)), Signer(os.urandom(32))
    tokens = Tokens(input=1_000, output=200)
    prices = Prices(
        input=Decimal("2.5"), output=Decimal(10), cache_read=Decimal("2.5"), cache_write=Decimal(0)
    )
    now = time.time_ns() // 1_000_000
    receipt = Receipt(
        request_id="req_0123456789abcdef01.89abcdef",
        buyer=buyer.public_id,
        seller=seller.public_id,
        offer="bench@1",
        requested_model="gpt-bench",
        served_model="gpt-bench-2025",
        tokens=tokens,
        prices=prices,
        cost_micro_usd=cost_micro_usd(tokens, prices),
        status="ok",
        started_at=now,
        ended_at=now + 800,
        seq=1,
        prev=GENESIS,
    )
    signed = sign_receipt(receipt, seller)
    order = Order(
        buyer=buyer.public_id,
        seller=seller.public_id,
        request_id=receipt.request_id,
        offer="bench@1",
        body_sha256=hashlib.sha256(chat_body("gpt-bench", False)).hexdigest(),
        issued_at=now,
    )
    signed_order = sign_order(order, buyer)
    assert verify_receipt(signed.data, seller=seller.public_id, buyer=buyer.public_id).ok
    header = signed_order.header_value.encode()
    cases: list[tuple[str, Callable[[], object]]] = [
        ("sign a receipt (seller)", lambda: sign_receipt(receipt, seller)),
        (
            "verify a receipt (buyer)",
            lambda: verify_receipt(signed.data, seller=seller.public_id, buyer=buyer.public_id),
        ),
        ("sign an order (buyer)", lambda: sign_order(order, buyer)),
        ("verify an order (seller)", lambda: read_order(header, seller=seller.public_id)),
    ]
    print(f"(a) documents: best of {repeat} x {number} calls, microseconds per call")
    for label, call in cases:
        best = min(timeit.repeat(call, number=number, repeat=repeat)) / number * 1e6
        print(f"    {label:<28}{best:>8.1f} us")
    print(
        f"    receipt {len(signed.data)} bytes (canonical JSON); "
        f"order header {len(header)} characters"
    )


# ------------------------------------------------------------- (b) peer hop


def cli(data_dir: Path, env: dict[str, str], *args: str) -> str:
    full = {k: v for k, v in os.environ.items() if not k.startswith("TOKLIGENCE_")}
    full.update(OFF, **env)
    done = subprocess.run(
        [sys.executable, "-m", "tokligence", *args, "--data-dir", str(data_dir)],
        env=full,
        cwd=data_dir,
        capture_output=True,
        text=True,
        timeout=120,
    )
    if done.returncode != 0:
        raise SystemExit(f"tokligence {' '.join(args)}: {done.stderr.strip()}")
    return done.stdout


def pair(
    seller_dir: Path, seller_env: dict[str, str], seller_url: str, buyer_dir: Path
) -> dict[str, str]:
    """The buyer's ``[trade.peer.seller]`` as variables, as a user opens it."""
    seller_id = cli(seller_dir, seller_env, "trade", "id").strip()
    section = cli(
        buyer_dir, {}, "trade", "open", seller_url, "--seller", seller_id, "--name", "seller"
    )
    buyer_id = cli(buyer_dir, {}, "trade", "id").strip()
    cli(seller_dir, seller_env, "trade", "accounts", "--set-credit", buyer_id, str(CREDIT))
    fields = dict(line.split(" = ", 1) for line in section.splitlines() if " = " in line)
    return {f"TOKLIGENCE_TRADE_PEER_SELLER_{key.upper()}": value for key, value in fields.items()}


class AsBuyer:
    """Requests to the seller as the buyer gateway sends them: its account
    key, and for each request a new order signed with the buyer's key."""

    def __init__(self, signer: Signer, seller: str, key: str, offer: str) -> None:
        self.signer, self.seller, self.key, self.offer = signer, seller, key, offer
        self.count = itertools.count()
        self.run = os.urandom(4).hex()

    def wire(self, body: bytes) -> bytes:
        order = Order(
            buyer=self.signer.public_id,
            seller=self.seller,
            request_id=f"req_bench{self.run}{next(self.count)}.{os.urandom(4).hex()}",
            offer=self.offer,
            body_sha256=hashlib.sha256(body).hexdigest(),
            issued_at=time.time_ns() // 1_000_000,
        )
        headers = {
            "authorization": f"Bearer {self.key}",
            ORDER_HEADER: sign_order(order, self.signer).header_value,
        }
        return request_bytes(CHAT, body, headers)


async def _ordered_load(
    port: int, make: Callable[[], bytes], concurrency: int, seconds: float
) -> Result:
    """``common.load`` with a new request per call of ``make`` (made before
    the request's clock starts)."""

    async def worker(until: float, latencies: list[float], ttfb: list[float]) -> None:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        while time.perf_counter() < until:
            wire = make()
            t0 = time.perf_counter()
            writer.write(wire)
            first, _ = await _read_response(reader)
            latencies.append(time.perf_counter() - t0)
            ttfb.append(first - t0)
        writer.close()

    await asyncio.gather(*(worker(time.perf_counter() + 0.3, [], []) for _ in range(concurrency)))
    latencies: list[float] = []
    ttfb: list[float] = []
    start = time.perf_counter()
    await asyncio.gather(*(worker(start + seconds, latencies, ttfb) for _ in range(concurrency)))
    elapsed = time.perf_counter() - start
    return Result(
        count=len(latencies),
        rps=len(latencies) / elapsed,
        p50_ms=median(latencies) * 1000,
        p99_ms=sorted(latencies)[int(len(latencies) * 0.99)] * 1000,
        ttfb_p50_ms=median(ttfb) * 1000,
        events_per_s=0.0,
    )


def peer_hop(
    root: Path, upstream_env: dict[str, str], upstream_port: int, args: argparse.Namespace
) -> None:
    seller_dir, buyer_dir = root / "seller", root / "buyer"
    seller_dir.mkdir()
    buyer_dir.mkdir()
    seller_env = {
        **OFF,
        **upstream_env,
        **OFFER,
        "TOKLIGENCE_TRADE_OFFER_BENCH_MODELS": "gpt-bench",
        "TOKLIGENCE_ROUTES": "gpt-bench=>openai",
    }
    seller_port = free_port()
    seller_url = f"http://127.0.0.1:{seller_port}"
    gateways: list[subprocess.Popen[bytes]] = []
    try:
        gateways.append(start_gateway(seller_port, str(seller_dir), seller_env))
        wait_http(seller_url + "/health")
        peer_env = pair(seller_dir, seller_env, seller_url, buyer_dir)
        buyer_port = free_port()
        buyer_env = {**OFF, **peer_env, "TOKLIGENCE_ROUTES": "gpt-bench=>peer:seller"}
        gateways.append(start_gateway(buyer_port, str(buyer_dir), buyer_env))
        wait_http(f"http://127.0.0.1:{buyer_port}/health")
        with urllib.request.urlopen(seller_url + "/v1/trade/offers") as response:
            offer = json.loads(response.read())[0]["offer"]
        as_buyer = AsBuyer(
            load_or_create(buyer_dir)[0],
            offer["seller"],
            peer_env["TOKLIGENCE_TRADE_PEER_SELLER_API_KEY"],
            f"{offer['name']}@{offer['version']}",
        )
        _peer_figures(upstream_port, seller_port, buyer_port, as_buyer, args)
    finally:
        for process in gateways:
            process.terminate()
            process.wait(10)


def _peer_figures(
    upstream_port: int,
    seller_port: int,
    buyer_port: int,
    as_buyer: AsBuyer,
    args: argparse.Namespace,
) -> None:
    rows = ("upstream", "seller plain", "seller as buyer", "buyer -> seller")
    print(
        f"(b) peer hop: chat, gpt-bench; median of {args.repeat} interleaved runs of "
        f"{args.seconds:g} s, best in brackets"
    )
    for stream, concurrency, what in (
        (False, 1, "p50 ms, c=1, non-stream"),
        (True, 1, "ttfb p50 ms, c=1, stream"),
        (False, 16, "req/s, c=16, non-stream"),
        (True, 16, "req/s, c=16, stream"),
    ):
        body = chat_body("gpt-bench", stream)
        plain = request_bytes(CHAT, body)
        figures: dict[str, list[float]] = {row: [] for row in rows}
        for turn in range(args.repeat):
            order = list(rows) if turn % 2 == 0 else list(reversed(rows))
            for row in order:
                if row == "seller as buyer":
                    result = asyncio.run(
                        _ordered_load(
                            seller_port,
                            functools.partial(as_buyer.wire, body),
                            concurrency,
                            args.seconds,
                        )
                    )
                else:
                    port = {"upstream": upstream_port, "seller plain": seller_port}.get(
                        row, buyer_port
                    )
                    result = load(port, plain, concurrency, args.seconds)
                if concurrency > 1:
                    figures[row].append(result.rps)
                else:
                    figures[row].append(result.ttfb_p50_ms if stream else result.p50_ms)
        rate = concurrency > 1
        print(f"    {what}")
        for row in rows:
            digits = 0 if rate else 3
            best = max if rate else min
            print(f"      {row:<18}{_spread(figures[row], digits, best):>20}")
        if not rate:
            hop = _minus(figures["buyer -> seller"], figures["seller as buyer"])
            sale = _minus(figures["seller as buyer"], figures["seller plain"])
            print(f"      {'peer hop added':<18}{_spread(hop):>20}")
            print(f"      {'sale added':<18}{_spread(sale):>20}")


# ------------------------------------------------------ (c) non-trading paths


def unchanged(root: Path, upstream_env: dict[str, str], args: argparse.Namespace) -> None:
    offer_env = {**OFFER, "TOKLIGENCE_TRADE_OFFER_BENCH_MODELS": "traded-*"}
    shapes = {
        "loopback": request_bytes(CHAT, chat_body("loopback", False)),
        "provider": request_bytes(CHAT, chat_body("gpt-bench", False)),
        "provider-stream": request_bytes(CHAT, chat_body("gpt-bench", True)),
    }
    gateways: list[Gateway] = []
    try:
        for name, extra in (("plain", {}), ("offer", offer_env)):
            data_dir = root / f"cpu-{name}"
            data_dir.mkdir()
            port = free_port()
            env = {**OFF, **upstream_env, "TOKLIGENCE_ROUTES": "gpt-bench=>openai", **extra}
            gateways.append((name, port, start_gateway(port, str(data_dir), env)))
        for _, port, _ in gateways:
            wait_http(f"http://127.0.0.1:{port}/health")
        print(
            f"(c) non-trading requests, CPU us per request (median of {args.rounds} rounds of "
            f"{args.seconds:g} s at c=16, best in brackets); plain: no trading; offer: an "
            "offer for traded-* configured"
        )
        for shape, wire in shapes.items():
            spent: dict[str, list[float]] = {name: [] for name, _, _ in gateways}
            for round_ in range(args.rounds):
                order = gateways if round_ % 2 == 0 else gateways[::-1]
                for name, port, process in order:
                    load(port, wire, 16, 0.3, warmup=0)
                    before = cpu_seconds(process.pid)
                    result = load(port, wire, 16, args.seconds, warmup=0)
                    spent[name].append((cpu_seconds(process.pid) - before) / result.count * 1e6)
            ratio = median(spent["offer"]) / median(spent["plain"])
            print(
                f"    {shape:<16}plain {_spread(spent['plain'], 0):>10}   "
                f"offer {_spread(spent['offer'], 0):>10}   offer/plain {ratio:.3f}"
            )
    finally:
        for _, _, process in gateways:
            process.terminate()
            process.wait(10)


# --------------------------------------------------------------- (d) start-up


def start_up(root: Path, upstream_env: dict[str, str], starts: int) -> None:
    peer = {
        "TOKLIGENCE_TRADE_PEER_SELLER_URL": f"http://127.0.0.1:{free_port()}",
        "TOKLIGENCE_TRADE_PEER_SELLER_PUBLIC_ID": load_or_create(root / "startup-key")[0].public_id,
        "TOKLIGENCE_TRADE_PEER_SELLER_API_KEY": "tra_bench",
        "TOKLIGENCE_ROUTES": "gpt-bench=>peer:seller",
    }
    configs = {
        "no trading": {"TOKLIGENCE_ROUTES": "gpt-bench=>openai"},
        "seller (1 offer)": {
            **OFFER,
            "TOKLIGENCE_TRADE_OFFER_BENCH_MODELS": "gpt-bench",
            "TOKLIGENCE_ROUTES": "gpt-bench=>openai",
        },
        "buyer (1 peer)": peer,
    }
    times: dict[str, list[float]] = {name: [] for name in configs}
    for index in range(len(configs)):
        (root / f"start-{index}").mkdir()
    for turn in range(starts + 1):
        items = list(enumerate(configs.items()))
        for index, (name, extra) in items if turn % 2 == 0 else items[::-1]:
            port = free_port()
            started = time.perf_counter()
            process = start_gateway(
                port, str(root / f"start-{index}"), {**OFF, **upstream_env, **extra}
            )
            try:
                wait_http(f"http://127.0.0.1:{port}/health")
                if turn:  # the first start creates the databases and the key
                    times[name].append(time.perf_counter() - started)
            finally:
                process.terminate()
                process.wait(10)
    print(f"(d) start-up to healthy, seconds, median of {starts} (best in brackets)")
    for name, values in times.items():
        print(f"    {name:<20}{_spread(values):>16}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=float, default=2.0)
    parser.add_argument("--repeat", type=int, default=3, help="interleaved runs of (b)")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds of (c)")
    parser.add_argument("--starts", type=int, default=7, help="start-ups of (d), per config")
    parser.add_argument("--timeit-number", type=int, default=2000)
    parser.add_argument("--timeit-repeat", type=int, default=5)
    parser.add_argument("--skip", default="", help="parts to leave out, e.g. c,d")
    args = parser.parse_args()
    skip = set(args.skip.split(","))
    print(f"host speed before: {host_speed_ms():.0f} ms per calibration loop (lower is faster)")
    if "a" not in skip:
        documents(args.timeit_number, args.timeit_repeat)
    upstream_port = free_port()
    upstream = subprocess.Popen(
        [sys.executable, str(ROOT / "bench" / "fast_upstream.py"), str(upstream_port)]
    )
    upstream_env = {
        "TOKLIGENCE_OPENAI_API_KEY": "bench",
        "TOKLIGENCE_OPENAI_BASE_URL": f"http://127.0.0.1:{upstream_port}/v1",
    }
    try:
        with tempfile.TemporaryDirectory() as data_root:
            root = Path(data_root)
            if "b" not in skip:
                peer_hop(root, upstream_env, upstream_port, args)
            if "c" not in skip:
                unchanged(root, upstream_env, args)
            if "d" not in skip:
                start_up(root, upstream_env, args.starts)
    finally:
        upstream.terminate()
        upstream.wait(10)
    print(f"host speed after: {host_speed_ms():.0f} ms per calibration loop")


if __name__ == "__main__":
    main()
