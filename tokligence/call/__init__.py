"""The model call: one owner for a request from its body to its ledger facts."""
