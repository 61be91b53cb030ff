"""The npm launcher's own tests (``npm-wrapper/gateway/test/``, Node's built-in
runner) run through the root package.json's ``npm test``, so that the Python
suite, and with it CI, covers them. Unlike the other distribution tests they
need no frozen build: a stand-in gateway and a release server on 127.0.0.1."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from .tools import ROOT, clean_env

TESTS = ROOT / "npm-wrapper" / "gateway" / "test"


def declared_tests() -> int:
    """How many top-level tests the Node test files declare."""
    return sum(
        len(re.findall(r"^test\(", path.read_text(encoding="utf-8"), re.M))
        for path in TESTS.glob("*.test.js")
    )


def test_the_launchers_node_tests_pass(tmp_path: Path) -> None:
    if shutil.which("node") is None or shutil.which("npm") is None:
        pytest.fail(
            "node and npm are needed to run the npm launcher's tests: install Node.js 18 or "
            "newer (CI has it)",
            pytrace=False,
        )
    result = subprocess.run(
        [shutil.which("npm") or "npm", "test"],
        cwd=ROOT,
        env=clean_env(tmp_path),
        capture_output=True,
        text=True,
        timeout=120,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    # The summary: "# tests 24" (TAP, Node 20 off a terminal) or "\u2139 tests 24" (spec).
    counts = dict(re.findall(r"^(?:# |\u2139 )(tests|pass|fail) (\d+)$", output, re.M))
    assert counts.get("fail") == "0", output
    # Every declared test ran: none lost to a file the glob missed or a skip.
    assert int(counts.get("pass", "0")) == int(counts.get("tests", "-1")), output
    assert int(counts["tests"]) == declared_tests() >= 20, output
