"""The client-facing socket layer: trio + h11 (the only place that touches it)."""
