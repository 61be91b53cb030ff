"""Client dialects: wire JSON <-> canonical model (pure)."""
