"""What serving imports at start-up: the admin API and the web console wait
for their first request, the update check until the gateway is listening."""

from __future__ import annotations

import json
import subprocess
import sys


def test_serving_does_not_import_the_admin_api_until_it_is_used() -> None:
    probe = (
        "import json, sys\n"
        "import tokligence.cli, tokligence.app\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.startswith('tokligence.'))))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    loaded = set(json.loads(out.stdout))
    assert "tokligence.app" in loaded  # the probe did import the server
    lazy = {
        "tokligence.admin.api",
        "tokligence.admin.api_input",
        "tokligence.ledger.queries",
        "tokligence.console.files",
    }
    assert not loaded & lazy
    assert not [m for m in loaded if m.startswith("tokligence.console")]
    assert not [m for m in loaded if m.startswith("tokligence.update")]
