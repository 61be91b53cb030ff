"""Sockets shared by the client-facing server and the upstream transport."""
