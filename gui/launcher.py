"""The ``slipway`` entry point: no arguments opens the app, anything else is the CLI.

Kept apart from core.cli so that core never imports the GUI.
"""

from __future__ import annotations

import sys


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args:
        from gui.app import main as run_app

        return run_app()
    from core.cli import main as run_cli

    return run_cli(args)


if __name__ == "__main__":
    sys.exit(main())
