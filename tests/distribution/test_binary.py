"""The single-file binary: version, serving through the official SDK, and no
orphan server or unpacked folder however its processes die."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.request
from pathlib import Path

import openai

from tests.trade.keys import SELLER
from tests.trade.nodes import Node, offer_env, pair, stop_all, until
from tests.trade.samples import receipt
from tests.trade.test_two_gateways import COST, CREDIT, GPT, TEXT, upstream
from tokligence import __version__
from tokligence.trade.receipts import sign_receipt

from .tools import (
    clean_env,
    free_port,
    processes_with,
    sha256,
    unpack_dirs,
    wait_gone,
    wait_healthy,
    wait_no_unpack_dirs,
)


def start(
    binary: Path, tmp: Path, *, argv0: str | None = None
) -> tuple[subprocess.Popen[str], int]:
    port = free_port()
    process = subprocess.Popen(
        [argv0 or str(binary), "--port", str(port), "--data-dir", str(tmp / "data")],
        executable=str(binary),
        cwd=tmp,
        env=clean_env(tmp),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    return process, port


def test_stamp_describes_the_binary(binary: Path) -> None:
    stamp = json.loads(binary.with_name(binary.name + ".json").read_text())
    assert stamp["sha256"] == sha256(binary)
    assert stamp["size"] == binary.stat().st_size
    assert stamp["pyinstaller"].startswith("6.")


# The single file's size budget (issue 13): what a download and every
# start's unpacking cost. Decimal megabytes, as build/freeze prints them.
SIZE_BUDGET = 12_000_000


def test_the_binary_stays_within_its_size_budget(binary: Path) -> None:
    assert binary.stat().st_size <= SIZE_BUDGET


def test_trades_from_inside_the_binary(binary: Path, tmp: Path) -> None:
    """PyNaCl is imported only by the trade commands, and is still frozen in."""

    def trade(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(binary), "trade", *args],
            cwd=tmp,
            env=clean_env(tmp),
            capture_output=True,
            text=True,
            timeout=30,
        )

    made = trade("id", "--data-dir", str(tmp / "data"))
    assert made.returncode == 0, made.stderr
    assert made.stdout.startswith("ed25519:") and len(made.stdout.strip()) == 51
    assert trade("id", "--data-dir", str(tmp / "data")).stdout == made.stdout
    stored = tmp / "receipt.json"
    stored.write_bytes(sign_receipt(receipt(), SELLER).data)
    valid = trade("verify", str(stored), "--seller", SELLER.public_id)
    assert valid.returncode == 0, valid.stderr
    assert valid.stdout.startswith("valid: receipt 1 ")
    stored.write_bytes(stored.read_bytes().replace(b'"output":200', b'"output":201'))
    invalid = trade("verify", str(stored))
    assert invalid.returncode == 1
    assert "invalid receipt: bad_signature" in invalid.stderr
    assert unpack_dirs(tmp) == []


def test_the_binary_sells_to_a_gateway_of_the_source_tree(binary: Path, tmp: Path) -> None:
    """The binary as a seller (offer, account, signed receipt), the source
    tree as its buyer: one chat request, booked alike on both sides."""
    with upstream().running_in_thread() as url:
        seller = Node(
            "seller",
            tmp / "seller",
            {
                "TOKLIGENCE_OPENAI_API_KEY": "upstream-key",
                "TOKLIGENCE_OPENAI_BASE_URL": url + "/v1",
                **offer_env("gpt", "gpt-*", "openai"),
            },
            command=(str(binary),),
        )
        buyer = Node("buyer", tmp / "buyer", {})
        try:
            seller.start()
            buyer.start()
            peer = pair(buyer, seller, name="seller", credit=CREDIT)
            buyer.stop()
            buyer.start(**peer, TOKLIGENCE_ROUTES="gpt-*=>peer:seller")
            with openai.OpenAI(base_url=buyer.url + "/v1", api_key="unused", max_retries=0) as c:
                answer = c.chat.completions.create(
                    model=GPT, messages=[{"role": "user", "content": "Say hello."}]
                )
            assert answer.choices[0].message.content == TEXT
            (bought,) = until(lambda: buyer.entries(seller, "consume"), "the purchase")
            (sold,) = seller.entries(buyer, "supply")
            assert (bought.status, bought.cost_micro_usd) == ("ok", COST)
            assert bought.receipt is not None and bought.receipt == sold.receipt
        finally:
            stop_all([buyer, seller])


def test_version_answers_from_the_binary(binary: Path, tmp: Path) -> None:
    result = subprocess.run(
        [str(binary), "--version"], env=clean_env(tmp), capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"tokligence {__version__}"
    assert unpack_dirs(tmp) == []


def test_called_gatewayd_it_is_gatewayd(binary: Path, tmp: Path) -> None:
    result = subprocess.run(
        ["gatewayd", "--help"],
        executable=str(binary),
        env=clean_env(tmp),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("usage: gatewayd")


def test_serves_a_loopback_stream_through_the_sdk_and_exits_on_sigterm(
    binary: Path, tmp: Path
) -> None:
    process, port = start(binary, tmp)
    health = wait_healthy(process, port)
    assert health["status"] == "ok" and health["version"] == __version__
    with openai.OpenAI(
        base_url=f"http://127.0.0.1:{port}/v1", api_key="unused", max_retries=0
    ) as client:
        chunks = list(
            client.chat.completions.create(
                model="loopback",
                messages=[{"role": "user", "content": "frozen and still \u2028 streaming"}],
                stream=True,
            )
        )
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "frozen and still \u2028 streaming"
    finish = [
        c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason
    ]
    assert finish == ["stop"]
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "shutting down" in stderr
    assert wait_gone(str(tmp)) == []
    assert unpack_dirs(tmp) == []


def test_a_killed_bootloader_leaves_no_server_and_no_folder(binary: Path, tmp: Path) -> None:
    process, port = start(binary, tmp)
    wait_healthy(process, port)
    assert len(unpack_dirs(tmp)) == 1
    process.kill()  # the bootloader: it can neither forward this nor clean up
    process.communicate(timeout=10)
    assert wait_gone(str(tmp)) == []
    assert wait_no_unpack_dirs(tmp) == []


def test_folders_of_a_gateway_killed_outright_are_swept_at_the_next_start(
    binary: Path, tmp: Path
) -> None:
    process, port = start(binary, tmp)
    wait_healthy(process, port)
    left = unpack_dirs(tmp)
    for pid in processes_with(str(tmp)):  # bootloader and gateway at once, as `kill -9 -PGID`
        os.kill(pid, signal.SIGKILL)
    process.communicate(timeout=10)
    assert wait_gone(str(tmp)) == []
    assert unpack_dirs(tmp) == left  # nobody was left to remove it

    process, port = start(binary, tmp)
    wait_healthy(process, port)
    now = unpack_dirs(tmp)
    assert len(now) == 1 and now != left
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=30)
    assert f"removing {tmp / 'tmp' / left[0]}" in stderr
    assert unpack_dirs(tmp) == []


def test_a_folder_of_another_program_is_never_swept(binary: Path, tmp: Path) -> None:
    foreign = tmp / "tmp" / "_MEI_other_program"
    foreign.mkdir(parents=True)
    (foreign / "file").write_text("not ours")
    process, port = start(binary, tmp)
    wait_healthy(process, port)
    process.send_signal(signal.SIGTERM)
    process.communicate(timeout=30)
    assert unpack_dirs(tmp) == ["_MEI_other_program"]


def test_serves_the_web_console_from_inside_the_binary(binary: Path, tmp: Path) -> None:
    """The console's files are data of the frozen package (build/tokligence.spec)."""
    process, port = start(binary, tmp)
    try:
        wait_healthy(process, port)
        source = Path(__file__).resolve().parents[2] / "tokligence" / "console" / "static"
        for name in ("index.html", "app.js", "console.css"):
            url = f"http://127.0.0.1:{port}/console/{name}"
            with urllib.request.urlopen(url, timeout=10) as response:
                assert response.read() == (source / name).read_bytes(), name
                assert "script-src 'self'" in response.headers["content-security-policy"]
    finally:
        process.send_signal(signal.SIGTERM)
        process.communicate(timeout=30)
