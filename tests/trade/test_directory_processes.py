"""The directory end to end, every party its own process on 127.0.0.1: a
``tokligence trade directory`` and seller gateways (``tokligence serve``
with offers and ``trade_directory_url``); the buyer's side is
``OfferDirectory``, what ``peer:auto`` will call. Waits poll for what is
expected with generous bounds; nothing is timed."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import trio
import trio.testing

from tests.e2e.test_process import clean_env, free_port, wait_healthy
from tokligence.trade.directory.client import DirectoryOffer, OfferDirectory
from tokligence.trade.directory.documents import announcement_body
from tokligence.trade.documents import encode

from .keys import STRANGER

WAIT = 60.0  # seconds: only ever a bound on polling
MODEL = "gpt-4o-mini"


@dataclass
class Proc:
    process: subprocess.Popen[bytes]
    port: int
    log: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def output(self) -> str:
        return self.log.read_text(errors="replace")


def spawn(tmp: Path, name: str, args: list[str], env: dict[str, str], port: int) -> Proc:
    log = tmp / f"{name}.log"
    with log.open("ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "tokligence", *args],
            cwd=tmp,
            env=clean_env(tmp) | {"TOKLIGENCE_LOG_FILE": "-"} | env,
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    return Proc(process=process, port=port, log=log)


def start_directory(
    tmp: Path, *, ttl: float, port: int | None = None, log: str = "directory"
) -> Proc:
    port = port or free_port()
    args = ["trade", "directory", "--port", str(port), "--data-dir", str(tmp / "directory")]
    proc = spawn(tmp, log, args, {"TOKLIGENCE_TRADE_DIRECTORY_TTL": str(ttl)}, port)
    wait_for(lambda: get(f"{proc.url}/health") is not None, proc)
    return proc


def start_seller(tmp: Path, name: str, directory: Proc, *, price_in: str, price_out: str) -> Proc:
    port = free_port()
    env = {
        "TOKLIGENCE_TRADE_OFFER_FAST_MODELS": "gpt-4o-mini, gpt-4.1*",
        "TOKLIGENCE_TRADE_OFFER_FAST_PROVIDER": "loopback",
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_INPUT": price_in,
        "TOKLIGENCE_TRADE_OFFER_FAST_PRICE_OUTPUT": price_out,
        "TOKLIGENCE_TRADE_DIRECTORY_URL": directory.url,
        "TOKLIGENCE_TRADE_PUBLIC_URL": f"http://127.0.0.1:{port}",
    }
    args = ["serve", "--port", str(port), "--data-dir", str(tmp / name)]
    proc = spawn(tmp, name, args, env, port)
    wait_healthy(proc.process, port)  # type: ignore[arg-type]
    return proc


def node_id(tmp: Path, name: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "tokligence", "trade", "id", "--data-dir", str(tmp / name)],
        cwd=tmp,
        env=clean_env(tmp),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    return done.stdout.strip()


def get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.loads(response.read())
    except OSError:
        return None


def post(url: str, body: bytes) -> tuple[int, Any]:
    request = urllib.request.Request(url, data=body, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def wait_for(check: Callable[[], bool], *watched: Proc) -> None:
    deadline = time.monotonic() + WAIT
    while not check():
        for proc in watched:
            assert proc.process.poll() is None, f"exited early:\n{proc.output()}"
        assert time.monotonic() < deadline, "\n".join(p.output() for p in watched)
        time.sleep(0.05)


def listing(directory: Proc) -> list[dict[str, Any]]:
    found = get(f"{directory.url}/v1/directory/offers?model={MODEL}")
    return [] if found is None else list(found["offers"])


def sellers(directory: Proc) -> list[tuple[str, str]]:
    return [(entry["seller"], entry["url"]) for entry in listing(directory)]


def cheapest(url: str) -> DirectoryOffer | None:
    async def ask() -> DirectoryOffer | None:
        view = OfferDirectory(url)
        try:
            return await view.cheapest_offer(MODEL)
        finally:
            await view.aclose()

    return trio.run(ask)


@contextmanager
def processes() -> Iterator[list[Proc]]:
    started: list[Proc] = []
    try:
        yield started
    finally:
        for proc in started:
            if proc.process.poll() is None:
                proc.process.kill()
            proc.process.wait(timeout=30)


def test_the_cheaper_live_seller_is_chosen_a_forgery_refused_a_dead_one_dropped(
    tmp_path: Path,
) -> None:
    with processes() as started:
        directory = start_directory(tmp_path, ttl=2)
        started.append(directory)
        dear = start_seller(tmp_path, "dear", directory, price_in="2.50", price_out="10")
        started.append(dear)
        cheap = start_seller(tmp_path, "cheap", directory, price_in="1", price_out="4")
        started.append(cheap)
        dear_id, cheap_id = node_id(tmp_path, "dear"), node_id(tmp_path, "cheap")
        both = [(cheap_id, cheap.url), (dear_id, dear.url)]
        wait_for(lambda: sellers(directory) == both, directory, dear, cheap)

        chosen = cheapest(directory.url)
        assert chosen is not None
        assert (chosen.seller, chosen.url, chosen.ref) == (cheap_id, cheap.url, "fast@1")
        assert json.loads(chosen.offer)["offer"]["prices"] == {
            "input": "1",
            "output": "4",
            "cache_read": "1",
            "cache_write": "1",
        }

        # Forgeries of the cheap seller's listing, each refused, none stored.
        genuine = json.dumps(listing(directory)[0]["offer"]).encode()
        signed = encode(json.loads(genuine))
        altered = signed.replace(b'"output":"4"', b'"output":"0.01"')
        assert altered != signed
        stolen = announcement_body(
            STRANGER, url="http://127.0.0.1:1", offers=[signed], issued_at=_now()
        )
        cheaper = announcement_body(
            STRANGER, url="http://127.0.0.1:1", offers=[altered], issued_at=_now()
        )
        for body, status, code in ((stolen, 400, "wrong_seller"), (cheaper, 401, "bad_signature")):
            answer = post(f"{directory.url}/v1/directory/offers", body)
            assert answer[0] == status and answer[1]["error"]["code"] == code, answer
        assert sellers(directory) == both

        cheap.process.kill()  # its heartbeats stop
        cheap.process.wait(timeout=30)
        wait_for(lambda: sellers(directory) == [(dear_id, dear.url)], directory, dear)
        chosen = cheapest(directory.url)
        assert chosen is not None and (chosen.seller, chosen.url) == (dear_id, dear.url)
        assert "announced fast@1" in directory.output()


def _now() -> int:
    return time.time_ns() // 1_000_000


def test_the_directory_going_away_stops_nothing_else_and_its_restart_keeps_entries(
    tmp_path: Path,
) -> None:
    with processes() as started:
        # A TTL far longer than a restart, so the entry outlives the outage.
        directory = start_directory(tmp_path, ttl=30)
        started.append(directory)
        seller = start_seller(tmp_path, "seller", directory, price_in="1", price_out="2")
        started.append(seller)
        seller_id = node_id(tmp_path, "seller")
        wait_for(lambda: sellers(directory) == [(seller_id, seller.url)], directory, seller)
        (before,) = listing(directory)
        clock = trio.testing.MockClock()  # the buyer's: moved by hand, never by waiting
        found: list[str | None] = []

        async def buyer() -> None:
            view = OfferDirectory(directory.url, fresh_for=5)

            async def look() -> None:
                chosen = await view.cheapest_offer(MODEL)
                found.append(None if chosen is None else chosen.seller)

            await look()  # the directory's answer
            directory.process.kill()
            await trio.to_thread.run_sync(directory.process.wait)
            await trio.to_thread.run_sync(_seller_still_serves, seller)
            clock.jump(5)
            await look()  # asked, no answer: the last one, still live
            clock.jump(30)
            await look()  # its entries expired: none
            restarted = await trio.to_thread.run_sync(
                lambda: start_directory(tmp_path, ttl=30, port=directory.port, log="restarted")
            )
            started.append(restarted)
            clock.jump(5)
            await look()  # the restarted directory's answer
            await view.aclose()

        trio.run(buyer, clock=clock)
        assert found == [seller_id, seller_id, None, seller_id]
        # The seller kept heartbeating; the restarted directory still held its
        # entry, so nothing was announced again: the same signed announcement.
        restarted = started[-1]
        wait_for(lambda: "POST /v1/directory/heartbeat" in restarted.output(), restarted)
        (after,) = listing(restarted)
        assert after["announcement"] == before["announcement"]
        assert "announced" not in restarted.output()
        _seller_still_serves(seller)


def _seller_still_serves(seller: Proc) -> None:
    health = get(f"{seller.url}/health")
    assert health is not None and health["status"] == "ok", seller.output()
    body = json.dumps({"model": "loopback", "messages": [{"role": "user", "content": "hi"}]})
    request = urllib.request.Request(
        f"{seller.url}/v1/chat/completions",
        data=body.encode(),
        headers={"content-type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert response.status == 200 and json.loads(response.read())["choices"]
    assert seller.process.poll() is None
    assert "Traceback" not in seller.output()


def test_a_gateway_without_offers_or_directory_announces_nothing(tmp_path: Path) -> None:
    """A directory URL alone (a buyer's) starts no announcer; nor do offers
    without a directory."""
    with processes() as started:
        directory = start_directory(tmp_path, ttl=30)
        started.append(directory)
        port = free_port()
        buyer = spawn(
            tmp_path,
            "buyer",
            ["serve", "--port", str(port), "--data-dir", str(tmp_path / "buyer")],
            {"TOKLIGENCE_TRADE_DIRECTORY_URL": directory.url},
            port,
        )
        started.append(buyer)
        wait_healthy(buyer.process, port)  # type: ignore[arg-type]
        _seller_still_serves(buyer)
        buyer.process.send_signal(signal.SIGTERM)
        buyer.process.wait(timeout=30)
        assert "POST /v1/directory" not in directory.output()
        assert "announc" not in buyer.output()
