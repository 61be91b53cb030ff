"""A lone surrogate (``"\\ud800"``) in the model, the content or a tool
name never costs a 5xx, the process or the request's ledger row.

JSON allows an escaped lone surrogate; no UTF-8 encoder, SQLite or
PostgreSQL driver does, and OpenAI and Anthropic refuse it. It once reached
the ledger writer, which died and took the gateway down with it. The policy
(docs/protocols.md): a passthrough forwards the client's bytes and the
upstream answers; where the gateway re-encodes the request it answers 400
naming the field. The model name, the gateway's routing key, must be text
on every path.
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
def test_a_lone_surrogate_never_costs_a_5xx(fresh: Rig, path: Path, where: str) -> None:
    script(fresh, path, upstream_reply(path.upstream, OK, stream=False))
    headers = {"content-type": "application/json", "anthropic-version": "2023-06-01"}
    reply = httpx.post(
        fresh.url + path.client_path, content=body(path, where), headers=headers, timeout=10
    )
    if path.passthrough and where != "model":
        # The bytes go on as they came; the (fake) upstream takes them. The
        # model name is the gateway's own routing key and must be text.
        assert reply.status_code == 200, reply.text
    else:
        assert reply.status_code == 400, reply.text
        param = reply.json()["error"].get("param")
        message = reply.json()["error"]["message"]
        # A Chat function name must be 1 to 64 of a-z, A-Z, 0-9, _ and -: that
        # rule refuses it before the surrogate is looked for.
        chat_tool = where == "tool" and path.client == "chat"
        assert ("a-z, A-Z, 0-9" if chat_tool else "lone surrogate") in message
        field = {"model": "model", "content": "input", "tool": "tools"}[where]
        if where == "content" and path.client != "responses":
            field = "messages"
        assert field in (param or message), reply.text
    row = row_for(fresh, reply.headers["x-request-id"])
    assert row.status == reply.status_code
    if where == "model":
        assert row.requested_model.endswith("\\ud800")  # stored escaped, not lost
    assert httpx.get(fresh.url + "/health", timeout=10).status_code == 200
