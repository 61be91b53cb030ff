"""Upstreams: a pure codec per provider plus a thin client; and the loopback model."""
