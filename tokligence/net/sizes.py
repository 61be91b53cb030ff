"""Sizes both HTTP sides share: the server's client connections and the
upstream client's connections (pure: constants only)."""

from __future__ import annotations

# A message head larger than this is refused: no real client or provider
# sends 64 KiB of headers, and the limit bounds memory per connection.
MAX_HEAD_BYTES = 64 * 1024
# One receive: big enough that a burst of SSE events arrives in one read.
READ_SIZE = 64 * 1024
