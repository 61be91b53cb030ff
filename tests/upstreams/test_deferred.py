"""The background import of the providers' HTTP client must never take the
gateway down: it runs beside the server once it listens."""

from __future__ import annotations

import logging

import pytest

from tokligence.upstreams import deferred


def test_a_failed_background_import_is_logged_not_raised(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setattr(deferred, "CLIENT_MODULE", "tokligence.upstreams.no_such_module")
    with caplog.at_level(logging.ERROR, logger=deferred.__name__):
        deferred.warm_up()
    assert "importing the providers' HTTP client in the background failed" in caplog.text
