"""The gateway's own Ed25519 key: a file in its data directory.

Theory of operation
-------------------
The key is created on first use, as ``<data_dir>/trade/node.key``, and
never changes afterwards: it is the gateway's identity to every peer that
pinned it. The file is a canonical JSON document naming the key's type,
its 32-byte seed and, for people reading it, the public id (checked on
load).

Creation is atomic, so two processes starting together (``serve
--workers``, a CLI command beside a running gateway) end with one key: the
new key is written and synced to a temporary file of its own, readable by
the owner only (mode 0600), then *hard-linked* to the final name. A link
fails if the name exists, so exactly one process's file becomes the key;
the others remove their temporary file and read the winner's. The key
never exists half-written under its name. On a file system without hard
links, an exclusive create of the name itself stands in (a reader racing
that writer may find the file short and is told to retry).

A key file that others can read (any group or other permission bit, on
POSIX) is refused, as ssh refuses such a key: whoever read it can sign as
this gateway.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import sys
from pathlib import Path

from .documents import DocumentError, b64url_decode, b64url_encode, decode, encode
from .signing import KEY_BYTES, Signer

KEY_DIR = "trade"
KEY_FILE = "node.key"
KEY_TYPE = "tokligence.node_key.ed25519"
FILE_MODE = 0o600
DIR_MODE = 0o700
# Larger than any key file we write; a bigger file is not ours.
MAX_KEY_FILE_BYTES = 4096
_NO_HARD_LINKS = {errno.EPERM, errno.EOPNOTSUPP, errno.ENOTSUP, errno.EXDEV, errno.EMLINK}


class NodeKeyError(Exception):
    """The key file cannot be used; the message names it and says why."""


def key_path(data_dir: Path) -> Path:
    return data_dir / KEY_DIR / KEY_FILE


def load_or_create(data_dir: Path) -> tuple[Signer, bool]:
    """The node key of the gateway whose data directory is ``data_dir``,
    and whether this call created it."""
    path = key_path(data_dir)
    if not path.exists():
        try:
            _create(path)
            return _load(path), True
        except FileExistsError:
            pass  # another process made it first: theirs is the key
    return _load(path), False


def _document(seed: bytes) -> bytes:
    signer = Signer(seed)
    return encode({"public_id": signer.public_id, "seed": b64url_encode(seed), "type": KEY_TYPE})


def _create(path: Path) -> None:
    try:
        path.parent.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
    except OSError as error:
        raise NodeKeyError(f"cannot create {path.parent}: {error.strerror or error}") from None
    data = _document(secrets.token_bytes(KEY_BYTES)) + b"\n"
    temporary = path.with_name(f".{KEY_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    try:
        _write_new(temporary, data)
        try:
            os.link(temporary, path)
        except OSError as error:
            if isinstance(error, FileExistsError) or error.errno not in _NO_HARD_LINKS:
                raise
            _write_new(path, data)  # no hard links here: an exclusive create instead
    except FileExistsError:
        raise
    except OSError as error:
        raise NodeKeyError(
            f"cannot create the node key {path}: {error.strerror or error}"
        ) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            temporary.unlink()


def _write_new(path: Path, data: bytes) -> None:
    """Create ``path`` (it must not exist) holding ``data``, synced, mode 0600."""
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    descriptor = os.open(path, flags, FILE_MODE)
    try:
        os.write(descriptor, data)
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _load(path: Path) -> Signer:
    try:
        if sys.platform != "win32" and path.stat().st_mode & 0o077:
            raise NodeKeyError(
                f"the node key {path} is readable by other users: "
                f"chmod 600 it (or remove it to make a new identity)"
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_KEY_FILE_BYTES + 1)
    except OSError as error:
        raise NodeKeyError(f"cannot read the node key {path}: {error.strerror or error}") from None
    try:
        document = decode(data.removesuffix(b"\n"))
        seed = b64url_decode(document["seed"])
        if document.get("type") != KEY_TYPE or len(seed) != KEY_BYTES:
            raise DocumentError("not a node key")
        signer = Signer(seed)
        if document != {"public_id": signer.public_id, "seed": document["seed"], "type": KEY_TYPE}:
            raise DocumentError("its public id is not the seed's")
    except (DocumentError, KeyError) as error:
        raise NodeKeyError(
            f"the node key {path} is damaged ({error}); if it is being written "
            "by another process, try again"
        ) from None
    return signer
