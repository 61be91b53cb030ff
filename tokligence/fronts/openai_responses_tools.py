"""Responses ``namespace`` tools: flattened for the canonical model, re-nested
on the way back.

Theory of operation
-------------------
A Responses client (Codex) may group function and custom tools under a
``namespace`` tool; the model then calls ``{"type": "function_call",
"namespace": "crm", "name": "lookup"}``. No other dialect has namespaces,
so the front flattens each member into an ordinary canonical tool whose name
joins the two (:func:`flat_name`, ``crm__lookup``) and marks it with
:data:`NAMESPACE_KEY` in the tool's ``extra`` (codecs of other dialects
ignore unknown tool extras). Calls replayed from the history get the same
flat name, so the upstream sees one consistent tool.

On the way back, :func:`Namespaces.split` turns a flat name the model called
into ``(namespace, name)`` again — exactly the pair OpenAI would have put on
the output item — and :func:`echo_tools` regroups the members when the
Response object echoes the request's tools.

Flat names must suit every upstream's tool-name rule (OpenAI and Anthropic:
``[a-zA-Z0-9_-]``, at most 64 characters). A joined name that breaks the
rule is made safe and suffixed with a short hash of the original pair, so
it stays stable across turns and distinct from every other member.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any

from ..canonical import CustomTool, FunctionTool, Request, Tool
from ..errors import invalid
from ..wire.json_body import as_object, opt, req
from ..wire.text import utf8

NAMESPACE_KEY = "tokligence_namespace"
# The strictest tool-name rule among the upstreams (OpenAI function names,
# older Anthropic models): 64 characters of [a-zA-Z0-9_-].
NAME_LIMIT = 64
SEPARATOR = "__"
_VALID = re.compile(r"[A-Za-z0-9_-]+")
_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")
_HASH_LENGTH = 8

Member = FunctionTool | CustomTool


def flat_name(namespace: str, name: str) -> str:
    joined = f"{namespace}{SEPARATOR}{name}"
    if len(joined) <= NAME_LIMIT and _VALID.fullmatch(joined):
        return joined
    digest = hashlib.sha256(utf8(f"{namespace}\0{name}")).hexdigest()[:_HASH_LENGTH]
    safe = _UNSAFE.sub("_", joined)[: NAME_LIMIT - _HASH_LENGTH - 1]
    return f"{safe}_{digest}"


def flatten(spec: dict[str, Any], path: str, member: Callable[[Any, str], Tool]) -> list[Tool]:
    """The members of one ``namespace`` tool as flat canonical tools."""
    namespace = req(spec, "name", str, path)
    description = opt(spec, "description", str, path)
    out: list[Tool] = []
    raw = spec.get("tools")
    if not isinstance(raw, list):
        raise invalid(f"'{path}.tools' must be an array of tools", param=f"{path}.tools")
    for i, entry in enumerate(raw):
        where = f"{path}.tools[{i}]"
        tool = member(as_object(entry, where), where)
        if not isinstance(tool, FunctionTool | CustomTool):
            raise invalid(
                f"'{where}.type' must be function or custom inside a namespace",
                param=f"{where}.type",
            )
        mark = {"namespace": namespace, "name": tool.name, "description": description}
        out.append(
            replace(
                tool,
                name=flat_name(namespace, tool.name),
                extra={**tool.extra, NAMESPACE_KEY: mark},
            )
        )
    return out


class Namespaces:
    """Flat tool name -> (namespace, member name), from a request's tools."""

    def __init__(self, request: Request) -> None:
        self._names: dict[str, tuple[str, str]] = {}
        for tool in request.tools:
            mark = _mark(tool)
            if mark is not None and isinstance(tool, FunctionTool | CustomTool):
                self._names[tool.name] = (str(mark["namespace"]), str(mark["name"]))

    def split(self, name: str) -> tuple[str | None, str]:
        found = self._names.get(name)
        return (None, name) if found is None else found


def _mark(tool: Tool) -> Mapping[str, Any] | None:
    if isinstance(tool, FunctionTool | CustomTool):
        mark = tool.extra.get(NAMESPACE_KEY)
        return mark if isinstance(mark, Mapping) else None
    return None


def echo_tools(
    request: Request, render: Callable[[Tool], dict[str, Any] | None]
) -> list[dict[str, Any]]:
    """The request's tools as the client sent them: namespace members
    regrouped under their namespace, in first-appearance order."""
    out: list[dict[str, Any]] = []
    groups: dict[str, dict[str, Any]] = {}
    for tool in request.tools:
        mark = _mark(tool)
        if mark is None:
            spec = render(tool)
            if spec is not None:
                out.append(spec)
            continue
        assert isinstance(tool, FunctionTool | CustomTool)
        namespace = str(mark["namespace"])
        extra = {k: v for k, v in tool.extra.items() if k != NAMESPACE_KEY}
        spec = render(replace(tool, name=str(mark["name"]), extra=extra))
        group = groups.get(namespace)
        if group is None:
            group = {"type": "namespace", "name": namespace}
            if mark.get("description") is not None:
                group["description"] = mark["description"]
            group["tools"] = []
            groups[namespace] = group
            out.append(group)
        if spec is not None:
            group["tools"].append(spec)
    return out
