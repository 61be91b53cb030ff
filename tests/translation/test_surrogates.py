"""Any JSON-legal string is carried: a lone surrogate (``"\\ud800"``) in the
model, the content or a tool name never costs a 5xx, the process or the
request's ledger row.

JSON allows an escaped lone surrogate; no UTF-8 encoder, SQLite or
PostgreSQL driver does. It once reached the ledger writer, which died and
took the gateway down with it.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from .conftest import Rig
from .rigs import Path, Turn, path_params, script, upstream_reply
from .test_ledger_paths import row_for

LONE = "\ud800"
OK = Turn(text=("fine",))


def body(path: Path, where: str) -> bytes:
    """A request in ``path``'s dialect with a lone surrogate ``where``."""
    model = path.model + (LONE if where == "model" else "")
    text = f"hello {LONE}" if where == "content" else "hello"
    tool = {"name": f"look{LONE}" if where == "tool" else "look", "schema": {"type": "object"}}
    if path.client == "chat":
        payload: dict[str, Any] = {
            "model": model,
            "messages": [{"role": "user", "content": text}],
            "tools": [
                {
                    "type": "function",
                    "function": {"name": tool["name"], "parameters": tool["schema"]},
                }
            ],
        }
    elif path.client == "messages":
        payload = {
            "model": model,
            "max_tokens": 32,
            "messages": [{"role": "user", "content": text}],
            "tools": [{"name": tool["name"], "input_schema": tool["schema"]}],
        }
    else:
        payload = {
            "model": model,
            "input": text,
            "tools": [{"type": "function", "name": tool["name"], "parameters": tool["schema"]}],
        }
    # ensure_ascii: the surrogate travels as the \ud800 escape, as JSON allows.
    return json.dumps(payload, ensure_ascii=True).encode()


@path_params()
@pytest.mark.parametrize("where", ["model", "content", "tool"])
def test_a_lone_surrogate_is_carried_without_a_5xx(fresh: Rig, path: Path, where: str) -> None:
    script(fresh, path, upstream_reply(path.upstream, OK, stream=False))
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    reply = httpx.post(
        fresh.url + path.client_path, content=body(path, where), headers=headers, timeout=10
    )
    assert reply.status_code < 500, reply.text
    assert reply.status_code == 200 or (reply.status_code == 404 and where == "model")
    row = row_for(fresh, reply.headers["x-request-id"])
    assert row.status == reply.status_code
    if where == "model":
        assert row.requested_model.endswith("\\ud800")  # stored escaped, not lost
    assert httpx.get(fresh.url + "/health", timeout=10).status_code == 200
