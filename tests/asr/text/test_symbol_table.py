"""SymbolTable: tokens.txt / words.txt read and write (the OpenFst text format), errors with file and line, and
agreement with pywrapfst's own symbol-table reader."""

from __future__ import annotations

import pytest

from asr.errors import InputError
from asr.text.symbol_table import SymbolTable


def test_build_lookup_and_iterate():
    t = SymbolTable(["<blk>", "a", "b"])
    assert len(t) == 3 and t["a"] == 1 and t[2] == "b"
    assert t.id("b") == 2 and t.symbol(0) == "<blk>" and t.get("zz") is None and t.get("zz", -1) == -1
    assert "a" in t and 1 in t and "zz" not in t and 7 not in t
    assert t.add("c") == 3 and t.add("c") == 3 and t.max_id == 3
    assert list(t) == [("<blk>", 0), ("a", 1), ("b", 2), ("c", 3)]
    assert t.symbols == ["<blk>", "a", "b", "c"]
    assert t == SymbolTable.from_pairs([("c", 3), ("a", 1), ("<blk>", 0), ("b", 2)])


def test_add_conflicts():
    t = SymbolTable(["<eps>", "x"])
    with pytest.raises(ValueError, match="already has id 1"):
        t.add("x", 5)
    with pytest.raises(ValueError, match="id 1 already belongs to 'x'"):
        t.add("y", 1)
    with pytest.raises(ValueError, match="whitespace"):
        t.add("a b")
    with pytest.raises(ValueError, match=">= 0"):
        t.add("n", -1)


def test_write_read_round_trip_sparse_ids(tmp_path):
    t = SymbolTable.from_pairs([("<eps>", 0), ("你好", 1), ("world", 2), ("#0", 10)])
    t.write(tmp_path / "words.txt")
    assert (tmp_path / "words.txt").read_text(encoding="utf-8") == "<eps> 0\n你好 1\nworld 2\n#0 10\n"
    back = SymbolTable.read(tmp_path / "words.txt")
    assert back == t and back[10] == "#0"
    with pytest.raises(InputError, match="dense"):
        SymbolTable.read(tmp_path / "words.txt", require_dense=True)


def test_read_accepts_tabs_and_blank_lines(tmp_path):
    p = tmp_path / "tokens.txt"
    p.write_text("<blk>\t0\n\na 1\n", encoding="utf-8")
    assert SymbolTable.read(p, require_dense=True).symbols == ["<blk>", "a"]


@pytest.mark.parametrize(
    "content,line,message",
    [
        (b"a 0\nb\n", 2, "expected 'symbol id', got 1 fields"),
        (b"a 0\nb x\n", 2, "id must be an integer, got 'x'"),
        (b"a 0\na 1\n", 2, "symbol 'a' already has id 0"),
        (b"a 0\nb 0\n", 2, "id 0 already belongs to 'a'"),
        (b"a 0\n\xff 1\n", 2, "not valid UTF-8"),
    ],
)
def test_read_errors_name_file_and_line(tmp_path, content, line, message):
    p = tmp_path / "tokens.txt"
    p.write_bytes(content)
    with pytest.raises(InputError) as e:
        SymbolTable.read(p)
    assert e.value.line == line and message in str(e.value) and str(p) in str(e.value)


def test_matches_openfst_reader(tmp_path):
    fst = pytest.importorskip("pywrapfst")
    t = SymbolTable.from_pairs([("<eps>", 0), ("a", 1), ("中", 2), ("#0", 3)])
    t.write(tmp_path / "words.txt")
    ofst = fst.SymbolTable.read_text(str(tmp_path / "words.txt"))
    assert [(ofst.find(i), i) for i in range(ofst.num_symbols())] == list(t)
