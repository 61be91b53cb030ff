"""The node key file: created once, private, and one key however many
processes start together."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from tokligence.trade.node_key import NodeKeyError, key_path, load_or_create
from tokligence.trade.signing import is_public_id, verify

ROOT = Path(__file__).resolve().parents[2]
POSIX = sys.platform != "win32"


def test_created_on_first_use_then_the_same(tmp_path: Path) -> None:
    signer, created = load_or_create(tmp_path)
    assert created
    assert is_public_id(signer.public_id)
    again, created_again = load_or_create(tmp_path)
    assert not created_again
    assert again.public_id == signer.public_id
    assert verify(signer.public_id, b"m", again.sign(b"m"))
    path = key_path(tmp_path)
    assert path == tmp_path / "trade" / "node.key"
    document = json.loads(path.read_bytes())
    assert document["public_id"] == signer.public_id
    assert document["type"] == "tokligence.node_key.ed25519"
    assert os.listdir(path.parent) == ["node.key"]  # no temporary file left behind


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_the_file_is_the_owners_only(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    path = key_path(tmp_path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) & 0o077 == 0


@pytest.mark.skipif(not POSIX, reason="POSIX permissions")
def test_a_key_others_can_read_is_refused(tmp_path: Path) -> None:
    load_or_create(tmp_path)
    key_path(tmp_path).chmod(0o644)
    with pytest.raises(NodeKeyError, match="readable by other users: chmod 600"):
        load_or_create(tmp_path)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"not json",
        b'{"type":"tokligence.node_key.ed25519"}',
        b'{"public_id":"x","seed":"AAAA","type":"tokligence.node_key.ed25519"}',
        b'{"seed":"' + b"A" * 43 + b'","type":"something else"}',
    ],
)
def test_a_damaged_key_is_refused_not_replaced(tmp_path: Path, content: bytes) -> None:
    path = key_path(tmp_path)
    path.parent.mkdir(parents=True)
    path.write_bytes(content)
    path.chmod(0o600)
    with pytest.raises(NodeKeyError, match="is damaged"):
        load_or_create(tmp_path)
    assert path.read_bytes() == content


def test_a_public_id_that_is_not_the_seeds_is_refused(tmp_path: Path) -> None:
    first, _ = load_or_create(tmp_path / "a")
    second, _ = load_or_create(tmp_path / "b")
    path = key_path(tmp_path / "a")
    path.write_bytes(path.read_bytes().replace(first.public_id.encode(), second.public_id.encode()))
    with pytest.raises(NodeKeyError, match="not the seed's"):
        load_or_create(tmp_path / "a")


def test_threads_racing_to_create_end_with_one_key(tmp_path: Path) -> None:
    count = 16
    barrier = threading.Barrier(count)
    results: list[tuple[str, bool]] = []
    errors: list[BaseException] = []

    def start() -> None:
        barrier.wait()
        try:
            signer, created = load_or_create(tmp_path)
            results.append((signer.public_id, created))
        except BaseException as error:  # reported below
            errors.append(error)

    threads = [threading.Thread(target=start) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len({public_id for public_id, _ in results}) == 1
    assert sum(created for _, created in results) == 1
    assert os.listdir(key_path(tmp_path).parent) == ["node.key"]


def test_processes_racing_to_create_end_with_one_key(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from pathlib import Path\n"
        "from tokligence.trade.node_key import load_or_create\n"
        "signer, created = load_or_create(Path(sys.argv[1]))\n"
        "print(signer.public_id, created)\n"
    )
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", probe, str(tmp_path)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(6)
    ]
    outputs = [process.communicate(timeout=60) for process in processes]
    assert [process.returncode for process in processes] == [0] * 6, outputs
    lines = [out.split() for out, _ in outputs]
    assert len({public_id for public_id, _ in lines}) == 1
    assert [created for _, created in lines].count("True") == 1
    assert os.listdir(key_path(tmp_path).parent) == ["node.key"]
