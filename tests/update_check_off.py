"""The suite's gateways never ask a real registry for updates.

``tests/conftest.py`` puts :data:`OFF` in the environment of the test
process, so every gateway and CLI the suite starts inherits it; helpers
that build an environment without the developer's ``TOKLIGENCE_*``
variables add it back. A test of the update check turns it on again and
points ``TOKLIGENCE_UPDATE_CHECK_URL`` at a fake registry
(``tests/fakes/registry.py``).
"""

from __future__ import annotations

OFF = {"TOKLIGENCE_UPDATE_CHECK_ENABLED": "false"}
