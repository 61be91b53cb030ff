"""The offer directory (docs/trading.md, "Directory").

A directory is a small server any gateway can run (``tokligence trade
directory``): sellers announce their signed offers to it and keep them alive
with heartbeats; buyers ask it for the live offers of a model, cheapest
first, and check every signature themselves. It holds no money, sees no
prompt, and trading between gateways that know each other never needs it.

Modules, from the pure edge inwards:

- ``documents``: the announcement and heartbeat a seller signs, signed
  offers read back, and the listing a buyer re-verifies (pure).
- ``store``: the directory's own SQLite file: sellers, their offers, expiry.
- ``server``: the directory's HTTP endpoints, on the gateway's server layer.
- ``client``: talking to a directory: a seller's announcements, and
  :class:`~tokligence.trade.directory.client.OfferDirectory`, the buyer's
  cached view for ``peer:auto``.
- ``announcer``: a seller gateway's background task that announces its
  offers and heartbeats.
- ``cli``: ``tokligence trade directory``.

Nothing here is imported unless a directory runs, a seller has a directory
to announce to, or a buyer asks one.
"""
