"""Symbol tables: ``tokens.txt`` and ``words.txt`` (``symbol id`` per line), the OpenFst/Kaldi text format.

Conventions (DESIGN.md): in ``tokens.txt`` id 0 is ``<blk>`` (blank, also epsilon in graphs) and ids are dense; in
``words.txt`` id 0 is ``<eps>``, then the words, then the disambiguation symbols ``#0``, ``#1``, ...
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import iter_utf8_lines
from asr.errors import InputError

__all__ = ["SymbolTable"]


class SymbolTable:
    """A bidirectional map between symbols (str) and integer ids.

    Args:
        symbols: Symbols in id order, ids ``0..len-1``; use :meth:`from_pairs` for sparse ids.
    """

    def __init__(self, symbols: Iterable[str] = ()):
        self._sym2id: dict[str, int] = {}
        self._id2sym: dict[int, str] = {}
        for i, s in enumerate(symbols):
            self.add(s, i)

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, int]]) -> SymbolTable:
        table = cls()
        for s, i in pairs:
            table.add(s, i)
        return table

    def add(self, symbol: str, id: int | None = None) -> int:
        """Add ``symbol`` (with the next free id unless ``id`` is given); return its id.

        Raises:
            ValueError: the symbol or the id is already taken by something else, or the symbol has whitespace.
        """
        if not symbol or any(c.isspace() for c in symbol):
            raise ValueError(f"symbol {symbol!r} is empty or contains whitespace")
        if symbol in self._sym2id:
            if id is None or self._sym2id[symbol] == id:
                return self._sym2id[symbol]
            raise ValueError(
                f"symbol '{symbol}' already has id {self._sym2id[symbol]}, cannot give it id {id}"
            )
        if id is None:
            id = max(self._id2sym, default=-1) + 1
        if id in self._id2sym:
            raise ValueError(f"id {id} already belongs to '{self._id2sym[id]}', cannot give it to '{symbol}'")
        if id < 0:
            raise ValueError(f"id of '{symbol}' must be >= 0, got {id}")
        self._sym2id[symbol] = id
        self._id2sym[id] = symbol
        return id

    @classmethod
    def read(cls, path: str | os.PathLike, require_dense: bool = False) -> SymbolTable:
        """Read ``symbol id`` lines.

        Raises:
            InputError: wrong field count, non-integer id, duplicate symbol or id, or (with ``require_dense``) ids
                that are not exactly ``0..n-1``.
        """
        table = cls()
        path = Path(path)
        for lineno, line in iter_utf8_lines(path):
            line = line.strip()
            if not line:
                continue
            fields = line.split()
            if len(fields) != 2:
                raise InputError(path, lineno, f"expected 'symbol id', got {len(fields)} fields: '{line}'")
            try:
                idx = int(fields[1])
            except ValueError:
                raise InputError(path, lineno, f"id must be an integer, got '{fields[1]}'") from None
            try:
                table.add(fields[0], idx)
            except ValueError as e:
                raise InputError(path, lineno, str(e)) from None
        if require_dense and sorted(table._id2sym) != list(range(len(table))):
            raise InputError(path, None, "ids must be dense 0..N-1 (tokens.txt ids index posterior columns)")
        return table

    def write(self, path: str | os.PathLike) -> None:
        """Write ``symbol id`` lines in id order, atomically."""
        with atomic_write(path) as f:
            for i in sorted(self._id2sym):
                f.write(f"{self._id2sym[i]} {i}\n")

    def __len__(self) -> int:
        return len(self._sym2id)

    def __contains__(self, item: str | int) -> bool:
        return item in (self._id2sym if isinstance(item, int) else self._sym2id)

    def __getitem__(self, item: str | int) -> int | str:
        """``table["a"]`` gives the id, ``table[3]`` the symbol."""
        return self._id2sym[item] if isinstance(item, int) else self._sym2id[item]

    def get(self, symbol: str, default: int | None = None) -> int | None:
        return self._sym2id.get(symbol, default)

    def id(self, symbol: str) -> int:
        return self._sym2id[symbol]

    def symbol(self, id: int) -> str:
        return self._id2sym[id]

    @property
    def symbols(self) -> list[str]:
        """Symbols in id order."""
        return [self._id2sym[i] for i in sorted(self._id2sym)]

    @property
    def max_id(self) -> int:
        return max(self._id2sym, default=-1)

    def __iter__(self) -> Iterator[tuple[str, int]]:
        for i in sorted(self._id2sym):
            yield self._id2sym[i], i

    def __eq__(self, other: object) -> bool:
        return isinstance(other, SymbolTable) and self._sym2id == other._sym2id

    def __repr__(self) -> str:
        return f"SymbolTable({len(self)} symbols)"
