"""Errors that reach a person: each names the file, the line and the problem, and the CLI prints them without a
traceback (``asr.cli.main`` catches :class:`CifstError`).

Every library module raises :class:`InputError` for bad input it reads and :class:`CifstError` for other failures a
user can fix (a missing tool, an option out of range); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

from os import PathLike

__all__ = ["CifstError", "InputError"]


class CifstError(Exception):
    """A failure the user can fix; its message says how."""


class InputError(CifstError):
    """Bad input data: names the file and, where known, the 1-based line number.

    Args:
        path: The file that holds the bad input.
        line: 1-based line number, or ``None`` when the problem is not tied to one line.
        message: What is wrong, and the option or fix that helps where there is one.
    """

    def __init__(self, path: str | PathLike | None, line: int | None, message: str):
        self.path = None if path is None else str(path)
        self.line = line
        self.message = message
        where = self.path or "<input>"
        if line is not None:
            where = f"{where}:{line}"
        super().__init__(f"{where}: {message}")
