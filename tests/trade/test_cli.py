"""``tokligence trade id|verify``: what they print and their exit statuses."""

from __future__ import annotations

import io
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tokligence.cli import main
from tokligence.trade.node_key import key_path
from tokligence.trade.receipts import sign_receipt

from ..update_check_off import OFF
from .keys import BUYER, SELLER
from .samples import receipt

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No real TOKLIGENCE_* variables or user folders leak in."""
    for name in list(os.environ):
        if name.startswith("TOKLIGENCE_"):
            monkeypatch.delenv(name)
    for name, value in OFF.items():
        monkeypatch.setenv(name, value)
    for xdg in ("XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME"):
        monkeypatch.setenv(xdg, str(tmp_path / xdg.lower()))
    monkeypatch.chdir(tmp_path)
    yield


def test_trade_id_creates_the_key_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["trade", "id", "--data-dir", str(data)]) == 0
    first = capsys.readouterr()
    public_id = first.out.strip()
    assert public_id.startswith("ed25519:") and len(public_id) == 51
    assert first.err == f"tokligence: created the node key {key_path(data)}\n"
    if sys.platform != "win32":
        assert stat.S_IMODE(key_path(data).stat().st_mode) == 0o600
    assert main(["--data-dir", str(data), "trade", "id"]) == 0
    assert capsys.readouterr() == (public_id + "\n", "")


def test_trade_id_uses_the_configured_data_dir(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_DATA_DIR", str(tmp_path / "configured"))
    assert main(["trade", "id"]) == 0
    assert key_path(tmp_path / "configured").exists()
    assert capsys.readouterr().out.startswith("ed25519:")


def test_trade_id_errors(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TOKLIGENCE_NO_SUCH_SETTING", "1")
    assert main(["trade", "id", "--data-dir", str(tmp_path)]) == 2
    assert "configuration error: unknown environment variable" in capsys.readouterr().err
    monkeypatch.delenv("TOKLIGENCE_NO_SUCH_SETTING")
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"garbage")
    path.chmod(0o600)
    assert main(["trade", "id", "--data-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err.startswith(f"tokligence: error: the node key {path} is damaged")


@pytest.fixture
def stored(tmp_path: Path) -> Path:
    path = tmp_path / "receipt.json"
    path.write_bytes(sign_receipt(receipt(), SELLER).data + b"\n")
    return path


def test_verify_a_stored_receipt(stored: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["trade", "verify", str(stored)]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"valid: receipt 1 from {SELLER.public_id} to {BUYER.public_id}: ")
    assert out.endswith("4500 micro-USD (USD 0.004500)\n")
    assert main(["trade", "verify", str(stored), "--seller", SELLER.public_id]) == 0


def test_verify_reads_standard_input(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    header = sign_receipt(receipt(), SELLER).header_value
    for argv in (["trade", "verify"], ["trade", "verify", "-"]):
        monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(header.encode())))
        assert main(argv) == 0
        assert capsys.readouterr().out.startswith("valid: receipt 1 ")


def test_verify_refuses_with_the_reason(
    stored: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = stored.read_bytes()
    tampered = tmp_path / "tampered.json"
    tampered.write_bytes(data.replace(b'"output":200', b'"output":100'))
    assert main(["trade", "verify", str(tampered)]) == 1
    assert capsys.readouterr().err == (
        f"tokligence: invalid receipt: bad_signature: the signature is not "
        f"{SELLER.public_id}'s over this receipt\n"
    )
    assert main(["trade", "verify", str(stored), "--seller", BUYER.public_id]) == 1
    assert capsys.readouterr().err.startswith("tokligence: invalid receipt: wrong_seller: ")
    assert main(["trade", "verify", str(tmp_path / "missing.json")]) == 1
    assert "cannot read" in capsys.readouterr().err
    assert main(["trade", "verify", str(stored), "--seller", "alice"]) == 2
    assert "--seller must be a public id" in capsys.readouterr().err


@pytest.mark.parametrize("argv", [["trade"], ["trade", "sign"], ["trade", "verify", "a", "b"]])
def test_usage_errors(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(argv) == 2
    assert capsys.readouterr().err.startswith("usage: tokligence ")


def test_the_exit_status_reaches_the_shell(stored: Path) -> None:
    def status(*args: str) -> int:
        done = subprocess.run(
            [sys.executable, "-m", "tokligence", "trade", "verify", *args],
            cwd=ROOT,
            capture_output=True,
            timeout=60,
        )
        return done.returncode

    assert status(str(stored)) == 0
    stored.write_bytes(stored.read_bytes().replace(b"req_0001", b"req_0002"))
    assert status(str(stored)) == 1
