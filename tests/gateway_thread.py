"""Run a real gateway on a loopback socket in a background thread, so that
synchronous official SDK clients can talk to it from a test."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Mapping
from contextlib import ExitStack, contextmanager
from pathlib import Path
from types import TracebackType

import trio

from tests.fakes.wire import FakeServer
from tokligence.app import build, run
from tokligence.config import Config, load_config
from tokligence.server.listen import Bound


def isolated_config(tmp: Path, env: Mapping[str, str] | None = None, **flags: object) -> Config:
    """A configuration isolated from the developer's own files and environment."""
    values: dict[str, object] = {"port": "0", "data_dir": str(tmp / "data")}
    values.update(flags)
    return load_config(flags=values, env=dict(env or {}), cwd=tmp, user_config_dir=tmp / "config")


class GatewayThread:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.bound: list[Bound] = []
        self._ready = threading.Event()
        self._token: trio.lowlevel.TrioToken | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="gateway", daemon=True)
        self._built = build(config)

    def _run(self) -> None:
        async def main() -> None:
            self._token = trio.lowlevel.current_trio_token()
            async with trio.open_nursery() as nursery:
                self.bound = await nursery.start(run, self._built)
                self._ready.set()

        try:
            trio.run(main)
        except BaseException as exc:  # reported to the test in stop()
            self._error = exc
            self._ready.set()

    def url(self, name: str = "gateway") -> str:
        port = next(b.port for b in self.bound if b.name == name)
        return f"http://127.0.0.1:{port}"

    def port(self, name: str = "gateway") -> int:
        return next(b.port for b in self.bound if b.name == name)

    @property
    def running(self) -> bool:
        """False once the gateway's trio run has ended (a crash, or shutdown)."""
        return self._thread.is_alive()

    @property
    def error(self) -> BaseException | None:
        """What ended the gateway's run, if it was not a clean shutdown."""
        return self._error

    def __enter__(self) -> GatewayThread:
        self._thread.start()
        if not self._ready.wait(10) or self._error is not None:
            raise RuntimeError(f"gateway did not start: {self._error!r}")
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._token is not None:
            try:
                trio.from_thread.run_sync(self._built.server.shutdown, trio_token=self._token)
                trio.from_thread.run_sync(self._built.server.shutdown, trio_token=self._token)
            except trio.RunFinishedError:
                pass
        self._thread.join(10)
        if self._error is not None:
            raise self._error


@contextmanager
def beside_fakes(
    tmp: Path, *names: str, env: Callable[[Mapping[str, str]], Mapping[str, str]]
) -> Iterator[tuple[GatewayThread, dict[str, FakeServer]]]:
    """A gateway beside one fake upstream per name, configured by
    ``env(urls)`` (name -> the fake's base URL)."""
    fakes = {name: FakeServer() for name in names}
    with ExitStack() as stack:
        urls = {name: stack.enter_context(fake.running_in_thread()) for name, fake in fakes.items()}
        gateway = stack.enter_context(GatewayThread(isolated_config(tmp, env=env(urls))))
        yield gateway, fakes
