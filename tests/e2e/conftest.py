from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.gateway_thread import GatewayThread, isolated_config


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[GatewayThread]:
    tmp: Path = tmp_path_factory.mktemp("gateway")
    with GatewayThread(isolated_config(tmp)) as running:
        yield running
