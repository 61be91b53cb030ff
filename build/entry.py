"""Entry script of the frozen binary: ``tokligence``, or ``gatewayd`` when the
executable is invoked under that name (a symlink or a copy named gatewayd).

PyInstaller needs a script, not a console-script entry point. Importing only
``tokligence.cli`` keeps ``--version`` fast: the server is imported when it is
about to serve.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    from tokligence.cli import gatewayd_main, main

    name = os.path.basename(sys.argv[0]).lower()
    if name.startswith("gatewayd"):
        return gatewayd_main()
    return main()


if __name__ == "__main__":
    sys.exit(main())
