"""Sizes: long strings, many messages, parts and tools within the body
limit (served), documented limits of the APIs (refused with a 400 naming
the field), and bodies past the gateway's limit (413 in the client's
envelope, readable by a client that sent the whole body).

The rig runs with a 1 MiB body limit (``BODY_LIMIT``) so that these
bodies stay cheap; the code paths are the same as at the default 32 MiB.
"""

from __future__ import annotations

from typing import Any

from .case import (
    BODY_LIMIT,
    MODELS,
    OK,
    RID,
    TOO_LARGE,
    Case,
    Endpoint,
    Target,
    dumps,
    model_case,
)

LONG = 500_000  # characters: half the body limit
MANY = 5_000
TOOLS = 1_000


def _base(endpoint: Endpoint, model: str) -> dict[str, Any]:
    if endpoint in ("chat", "count_tokens"):
        return {"model": model, "messages": [{"role": "user", "content": "hi"}]}
    if endpoint == "messages":
        return {"model": model, "max_tokens": 16, "messages": [{"role": "user", "content": "hi"}]}
    return {"model": model, "input": "hi"}


def _turns(endpoint: Endpoint, n: int) -> dict[str, Any]:
    roles = ("user", "assistant")
    turns = [{"role": roles[i % 2], "content": f"turn {i}"} for i in range(n - 1)]
    turns.append({"role": "user", "content": "last"})
    key = "input" if endpoint == "responses" else "messages"
    return {key: turns}


def _parts(endpoint: Endpoint, n: int) -> dict[str, Any]:
    kind = "input_text" if endpoint == "responses" else "text"
    content = [{"type": kind, "text": f"part {i}"} for i in range(n)]
    key = "input" if endpoint == "responses" else "messages"
    return {key: [{"role": "user", "content": content}]}


def _tools(endpoint: Endpoint, n: int, *, description: str = "") -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": {"a": {"type": "string"}}}
    tools: list[dict[str, Any]]
    if endpoint == "chat":
        tools = [
            {
                "type": "function",
                "function": {"name": f"t{i}", "description": description, "parameters": schema},
            }
            for i in range(n)
        ]
    elif endpoint == "responses":
        tools = [
            {"type": "function", "name": f"t{i}", "description": description, "parameters": schema}
            for i in range(n)
        ]
    else:
        tools = [
            {"name": f"t{i}", "description": description, "input_schema": schema} for i in range(n)
        ]
    return {"tools": tools}


def _nested_schema(depth: int) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    for _ in range(depth):
        schema = {"type": "object", "properties": {"a": schema}}
    return schema


def _served(endpoint: Endpoint, target: Target, tag: str, extra: dict[str, Any]) -> Case:
    body = {**_base(endpoint, MODELS[endpoint][target]), **extra}
    return model_case(
        id=f"{endpoint}-{tag}-{target}",
        category="sizes",
        endpoint=endpoint,
        target=target,
        body=dumps(body),
        statuses=OK,
    )


def _refused(
    endpoint: Endpoint, target: Target, tag: str, extra: dict[str, Any], names: str
) -> Case:
    body = {**_base(endpoint, MODELS[endpoint][target]), **extra}
    return model_case(
        id=f"{endpoint}-{tag}-{target}",
        category="sizes",
        endpoint=endpoint,
        target=target,
        body=dumps(body),
        names=names,
    )


DIALECTS: tuple[Endpoint, ...] = ("chat", "messages", "responses")
BOTH: tuple[Target, ...] = ("loopback", "translated")


def _deep_tool(endpoint: Endpoint, depth: int) -> dict[str, Any]:
    tools = _tools(endpoint, 1)
    tool = tools["tools"][0]
    if endpoint == "chat":
        tool["function"]["parameters"] = _nested_schema(depth)
    elif endpoint == "responses":
        tool["parameters"] = _nested_schema(depth)
    else:
        tool["input_schema"] = _nested_schema(depth)
    return tools


def _within_limits() -> list[Case]:
    out: list[Case] = []
    for endpoint in DIALECTS:
        long_text: dict[str, Any] = (
            {"input": "x" * LONG}
            if endpoint == "responses"
            else {"messages": [{"role": "user", "content": "x" * LONG}]}
        )
        for target in BOTH:
            out.append(_served(endpoint, target, "long-content", long_text))
            out.append(_served(endpoint, target, f"{TOOLS}-tools", _tools(endpoint, TOOLS)))
            # 200 levels of schema: deep, but nothing a JSON library must refuse.
            out.append(_served(endpoint, target, "schema-200-deep", _deep_tool(endpoint, 200)))
        out.append(_served(endpoint, "loopback", f"{MANY}-messages", _turns(endpoint, MANY)))
        out.append(_served(endpoint, "loopback", f"{MANY}-content-parts", _parts(endpoint, MANY)))
        described = _tools(endpoint, 1, description="d" * LONG)
        out.append(_served(endpoint, "loopback", "long-tool-description", described))
        # A model name no route knows: refused (404 or 400), whatever its length.
        out.append(
            model_case(
                id=f"{endpoint}-100k-model-name",
                category="sizes",
                endpoint=endpoint,
                target="loopback",
                body=dumps(_base(endpoint, "m" * 100_000)),
                statuses=frozenset({400, 404}),
            )
        )
    out.append(
        _served("count_tokens", "loopback", f"{MANY}-messages", _turns("count_tokens", MANY))
    )
    out.append(
        _served("count_tokens", "translated", f"{TOOLS}-tools", _tools("count_tokens", TOOLS))
    )
    out.append(_served("embeddings", "loopback", "long-input", {"input": "x" * LONG}))
    out.append(_served("embeddings", "loopback", "2048-inputs", {"input": ["x"] * 2048}))
    return out


def _documented_limits() -> list[Case]:
    """Limits the SDKs' docstrings state: metadata has at most 16 pairs,
    keys of at most 64 characters and values of at most 512; OpenAI
    embeddings take at most 2048 inputs."""
    out: list[Case] = []
    openai: tuple[Endpoint, ...] = ("chat", "responses")
    for endpoint in openai:
        rows = (
            ("metadata-17-pairs", {"metadata": {f"k{i}": "v" for i in range(17)}}),
            ("metadata-65-char-key", {"metadata": {"k" * 65: "v"}}),
            ("metadata-513-char-value", {"metadata": {"k": "v" * 513}}),
        )
        for i, (tag, extra) in enumerate(rows):
            out.append(_refused(endpoint, BOTH[i % 2], tag, extra, "metadata"))
    out.append(_refused("embeddings", "loopback", "2049-inputs", {"input": ["x"] * 2049}, "input"))
    out.append(
        _refused("embeddings", "passthrough", "2049-inputs", {"input": ["x"] * 2049}, "input")
    )
    return out


def _over_limit() -> list[Case]:
    """Past the body limit: 413, in the dialect of the path, and readable by
    a client that sends the whole body before reading."""
    out: list[Case] = []
    paths = (
        "/v1/chat/completions",
        "/v1/responses",
        "/v1/messages",
        "/v1/messages/count_tokens",
        "/v1/embeddings",
        "/anthropic/v1/messages",
    )
    for path in paths:
        name = path.strip("/").replace("/", "-")
        body = b'{"model":"loopback","input":"' + b"x" * BODY_LIMIT + b'"}'
        head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: %s\r\n" % (path.encode(), RID)
        out.append(
            Case(
                id=f"over-limit-{name}",
                category="sizes",
                path=path,
                raw=head + b"Content-Length: %d\r\n\r\n" % len(body) + body,
                statuses=TOO_LARGE,
            )
        )
    # Eight times the limit: the client is still sending when the answer comes.
    big = b'{"model":"loopback","input":"' + b"x" * (8 * BODY_LIMIT) + b'"}'
    out.append(
        Case(
            id="over-limit-8x-v1-chat-completions",
            category="sizes",
            path="/v1/chat/completions",
            raw=b"POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + b"Content-Length: %d\r\n\r\n" % len(big)
            + big,
            statuses=TOO_LARGE,
        )
    )
    for path in ("/v1/chat/completions", "/v1/messages"):
        name = path.strip("/").replace("/", "-")
        head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Request-Id: %s\r\n" % (path.encode(), RID)
        # Declared only: the answer must not wait for a body it will refuse.
        out.append(
            Case(
                id=f"over-limit-declared-{name}",
                category="sizes",
                path=path,
                raw=head + b"Content-Length: %d\r\n\r\n" % (BODY_LIMIT + 1),
                statuses=TOO_LARGE,
            )
        )
        chunk = b"x" * 65536
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(chunk), chunk) for _ in range(BODY_LIMIT // len(chunk) + 1)
        )
        out.append(
            Case(
                id=f"over-limit-chunked-{name}",
                category="sizes",
                path=path,
                raw=head + b"Transfer-Encoding: chunked\r\n\r\n" + chunks + b"0\r\n\r\n",
                statuses=TOO_LARGE,
            )
        )
    # Exactly at the limit: served.
    valid = b'{"model":"loopback","messages":[{"role":"user","content":"hi"}]}'
    padded = valid[:-1] + b" " * (BODY_LIMIT - len(valid)) + b"}"
    out.append(
        model_case(
            id="chat-body-exactly-at-limit",
            category="sizes",
            endpoint="chat",
            target="loopback",
            body=padded,
            statuses=OK,
        )
    )
    # One byte more, sent whole by an ordinary HTTP client.
    out.append(
        Case(
            id="chat-body-one-past-limit",
            category="sizes",
            path="/v1/chat/completions",
            body=padded[:-1] + b" }",
            statuses=TOO_LARGE,
        )
    )
    return out


def cases() -> list[Case]:
    return [*_within_limits(), *_documented_limits(), *_over_limit()]
