"""The ``cifst`` console command: a thin argparse layer whose subcommands are registered by the packages.

Each module in :data:`COMMAND_MODULES` defines ``register(subparsers)``, which adds its subcommand(s) with
``subparsers.add_parser(...)`` and sets ``func`` (a callable taking the parsed ``argparse.Namespace`` and returning an
exit code) with ``parser.set_defaults(func=...)``. ``register`` must import only the standard library: heavy imports
(torch, numpy) go inside ``func`` so that ``cifst --help`` and ``cifst score`` start fast.

Errors a user can fix (:class:`asr.errors.CifstError`, missing files, undecodable bytes) are printed as one line
``cifst <command>: error: ...`` with exit code 1, never as a traceback. ``CIFST_DEBUG=1`` shows the traceback.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys

from asr.errors import CifstError

__all__ = ["main", "build_parser", "COMMAND_MODULES"]

# Order = order in `cifst --help`. A module that fails to import is reported, not fatal, so one broken optional
# dependency does not take down every other subcommand.
COMMAND_MODULES = [
    "asr.data.cli",  # cifst data validate|fix
    "asr.scoring.cli",  # cifst score
    "lm.cli",  # cifst lm build|ppl|prune
    "decoding.graph.cli",  # cifst graph build|info
    "decoding.search.cli",  # cifst decode
    "decoding.hotwords.cli",  # cifst hotwords check
    "asr.text.cli",  # cifst tokenizer train
    "asr.train.cli",  # cifst train|average
    "asr.infer_cli",  # cifst infer
]


class _Formatter(argparse.RawDescriptionHelpFormatter, argparse.ArgumentDefaultsHelpFormatter):
    """Keeps the examples in descriptions as written and shows every option's default."""


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cifst",
        description="Paraformer/CIF speech recognition with batched PyTorch WFST decoding.\n\n"
        "Example:\n  cifst score data/test/text exp/decode/text --out exp/decode/report",
        formatter_class=_Formatter,
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as e:
            if e.name and (name == e.name or name.startswith(e.name + ".")):
                continue  # subcommand not present in this build
            raise
        module.register(sub)
    return parser


def _version() -> str:
    try:
        from importlib.metadata import version

        return "cifst " + version("cifst")
    except Exception:  # pragma: no cover - running from a source tree without install
        return "cifst (source tree)"


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        # `cifst` or `cifst lm` alone: show the help of the deepest parser reached.
        getattr(args, "_parser", parser).print_help(sys.stderr)
        return 2
    prog = getattr(args, "_prog", args.command)
    try:
        code = args.func(args)
    except KeyboardInterrupt:
        print(f"cifst {prog}: interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        # e.g. `cifst lm build ... | head`: not an error of ours
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return 0
    except (CifstError, FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        if os.environ.get("CIFST_DEBUG"):
            raise
        print(f"cifst {prog}: error: {_describe(e)}", file=sys.stderr)
        return 1
    return int(code or 0)


def _describe(e: BaseException) -> str:
    if isinstance(e, (FileNotFoundError, IsADirectoryError, PermissionError)):
        return f"{e.filename}: {e.strerror}"
    if isinstance(e, UnicodeDecodeError):
        return f"input is not valid UTF-8 ({e.reason} at byte {e.start})"
    return str(e)


def add_group(sub, name: str, help: str) -> argparse._SubParsersAction:
    """Add a command group such as ``cifst lm`` and return its own subparsers (for ``build``, ``ppl``...).

    ``cifst lm`` alone prints the group's help.
    """
    p = sub.add_parser(name, help=help, description=help, formatter_class=_Formatter)
    p.set_defaults(_parser=p, func=None)
    return p.add_subparsers(dest=f"{name}_command", metavar="SUBCOMMAND")


def add_command(
    sub, name: str, help: str, description: str, func, prog: str | None = None
) -> argparse.ArgumentParser:
    """Add one subcommand with the house formatter (description shown verbatim, defaults shown).

    Args:
        sub: The subparsers action from ``register`` or :func:`add_group`.
        name: Subcommand name, e.g. ``"build"``.
        help: One line for the parent's command list.
        description: Full text for ``--help``; end it with an ``Example:`` block.
        func: ``func(args) -> int`` run when the command is chosen.
        prog: Name used in error messages, e.g. ``"lm build"``; defaults to ``name``.
    """
    p = sub.add_parser(name, help=help, description=description, formatter_class=_Formatter)
    p.set_defaults(func=func, _prog=prog or name, _parser=p)
    return p


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
