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
- ``statements``, ``reconcile``, ``settlements``: a side's signed account
  of a period, the matching of two books, and the netting document both
  sides sign (no I/O).
- ``node_key``: the gateway's own key, a file in its data directory.
- ``models``, ``migrations``, ``store``: the trading tables in the ledger's
  database and the operations on them; ``period``, ``settle`` (with
  ``settle_models``) and ``summary``: a period's book, settling a pair,
  and the sums per counterparty.
- ``ledger_api``, ``ledger_client``: the statement and settlement
  endpoints of a seller, and the commands' client of them.
- ``cli``, ``cli_ledger``: ``tokligence trade id|verify`` and
  ``statement|reconcile|summary|settle``.

Nothing is re-exported here, and nothing outside this package imports it
unless trading is configured or a ``trade`` command runs: a gateway that
does not trade never loads PyNaCl.
"""
