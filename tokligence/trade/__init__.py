"""Token trading between gateways (docs/trading.md).

Modules, from the pure edge inwards:

- ``documents``: canonical JSON, the byte form every signature covers, and
  its hash and base64url helpers (pure).
- ``money``: token counts by kind, prices per million tokens and the one
  cost rule, in integer micro-USD (pure).
- ``signing``: Ed25519 public ids, signatures and the signed-document
  envelope (PyNaCl; no I/O).
- ``receipts``: the receipt a seller signs for each request, its
  verification, and the buyer's acknowledgement (no I/O).
- ``offers``: offers read from the configuration, and the document a seller
  signs for each version of one (no I/O).
- ``orders``: the buyer's signed order and account request (no I/O).
- ``metering``: the worst case a seller holds, usage as billed tokens, the
  buyer's tolerance and the stream's receipt event (pure).
- ``statements``, ``reconcile``, ``settlements``: a side's signed account
  of a period, the matching of two books, and the netting document both
  sides sign (no I/O).
- ``peers``: the sellers a gateway buys from, read from its configuration.
- ``node_key``: the gateway's own key, a file in its data directory.
- ``models``, ``migrations``, ``store``, ``book``: the trading tables in the
  ledger's database and the operations on them; ``period``, ``settle``
  (with ``settle_models``) and ``summary``: a period's book, settling a
  pair, and the sums per counterparty.
- ``seller``, ``sale``: the seller's endpoints and traded requests;
  ``ledger_api``: its statement and settlement endpoints.
- ``peer``: the buyer's provider ``peer:NAME`` and its bookings; ``acker``:
  its acknowledgements;
  ``auto``: ``peer:auto``, a peer per seller the directory finds, with the
  accounts it opens (``opening``: the signed account request, shared with
  ``trade open``); ``ledger_client``: the commands' client of a seller's book.
- ``node``: trading at start-up.
- ``directory``: the optional offer directory, its server and its client.
- ``cli``, ``cli_accounts``, ``cli_ledger``: ``tokligence trade
  id|verify|open|accounts|directory`` and ``statement|reconcile|summary|settle``.

Nothing is re-exported here, and nothing outside this package imports it
unless trading is configured or a ``trade`` command runs: a gateway that
does not trade never loads PyNaCl.
"""
