"""A proxy that answers nothing and remembers who knocked.

Tests point an agent's ``HTTPS_PROXY``/``HTTP_PROXY`` at a :class:`ProxyTrap`
while ``NO_PROXY`` exempts 127.0.0.1, so the gateway is reached directly and
any request to anywhere else (``CONNECT api.anthropic.com:443``: telemetry,
update checks, a base URL the agent ignored) lands here instead of on the
network. The trap records the first line of each connection and closes it;
an empty :attr:`ProxyTrap.knocks` after the run is the proof that the agent
spoke to the gateway alone (for traffic that honours proxy variables, which
both pinned agents' HTTP stacks do).
"""

from __future__ import annotations

import socket
import threading
from types import TracebackType

# How long the trap waits for a connection's first line before recording it
# as unreadable; the agent sends it at once.
FIRST_LINE_TIMEOUT_S = 2.0
ACCEPT_POLL_S = 0.1  # how often the accept loop looks whether it should stop


class ProxyTrap:
    def __init__(self) -> None:
        self.knocks: list[str] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._sock = socket.create_server(("127.0.0.1", 0))
        self._thread = threading.Thread(target=self._serve, name="proxy-trap", daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._sock.getsockname()[1]}"

    def proxy_env(self) -> dict[str, str]:
        return {
            name: self.url for name in ("HTTPS_PROXY", "HTTP_PROXY", "https_proxy", "http_proxy")
        }

    def _serve(self) -> None:
        # Polled accept: on exit the loop still drains connections already
        # queued (an agent that knocked just before exiting), then stops.
        self._sock.settimeout(ACCEPT_POLL_S)
        while True:
            try:
                conn, _ = self._sock.accept()
            except TimeoutError:
                if self._stopping.is_set():
                    return
                continue
            with conn:
                conn.settimeout(FIRST_LINE_TIMEOUT_S)
                try:
                    first = conn.recv(4096).split(b"\r\n", 1)[0].decode("latin-1")
                except OSError:
                    first = "(nothing readable)"
            with self._lock:
                self.knocks.append(first)

    def __enter__(self) -> ProxyTrap:
        self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._stopping.set()
        self._thread.join()
        self._sock.close()
