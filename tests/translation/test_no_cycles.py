"""A finished request leaves no reference cycle behind in the gateway.

Objects in a cycle outlive their request until the cycle collector runs:
every relayed body (400 KB prompts included) stays in memory meanwhile,
and the collector's passes cost CPU on the hot path. The gateway runs in
this process (the rig's thread), so the collector's view of what it frees
is the gateway's too.
"""

from __future__ import annotations

import gc
from collections import Counter
from collections.abc import Iterator

import pytest

from .conftest import Rig
from .rigs import Path, Turn, ask, path_params, script, upstream_reply

OK_TURN = Turn(text=("all ", "done"))


@pytest.fixture
def saved_garbage() -> Iterator[list[object]]:
    """What the collector frees while the test runs (instead of freeing it)."""
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        yield gc.garbage
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()


def ours(garbage: list[object]) -> Counter[str]:
    return Counter(
        type(o).__qualname__
        for o in garbage
        if (getattr(type(o), "__module__", None) or "").startswith("tokligence")
    )


@path_params()
@pytest.mark.parametrize("stream", [False, True], ids=["whole", "stream"])
def test_no_gateway_object_is_left_in_a_cycle(
    fresh: Rig, path: Path, stream: bool, saved_garbage: list[object]
) -> None:
    for _ in range(3):
        script(fresh, path, upstream_reply(path.upstream, OK_TURN, stream=stream))
        ask(fresh, path, stream=stream)
    gc.collect()
    assert ours(saved_garbage) == Counter()
