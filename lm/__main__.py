"""``python -m lm build|ppl|prune ...``: the ``cifst lm`` commands without loading the other packages' CLIs.

Same arguments and behaviour as ``cifst lm ...`` (errors printed as one line, exit code 1).
"""

from __future__ import annotations

import argparse
import sys

from asr import cli as asr_cli
from lm.cli import register


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m lm", description="n-gram language models (cifst lm)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    register(sub)
    # Reuse asr.cli.main's error handling with this smaller parser.
    original = asr_cli.build_parser
    asr_cli.build_parser = lambda: parser
    try:
        return asr_cli.main(["lm", *(sys.argv[1:] if argv is None else argv)])
    finally:
        asr_cli.build_parser = original


if __name__ == "__main__":
    sys.exit(main())
