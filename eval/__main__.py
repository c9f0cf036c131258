"""`python -m eval SUITE.yaml [--baseline FILE] [--out DIR] [--record | --replay]`: same as `assistant eval`."""

from __future__ import annotations

import sys

from assistant.cli import main as cli_main


def main() -> None:
    """Run the `eval` command of the assistant CLI with this process's arguments."""
    sys.argv[1:1] = ["eval"]
    cli_main()


if __name__ == "__main__":
    main()
