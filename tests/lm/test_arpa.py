"""lm.arpa: streaming reader (errors name file and line), lmplz-layout writer, kenlm float formatting."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from asr.errors import InputError
from lm.arpa import ArpaEntry, format_floats, iter_arpa, read_arpa, read_arpa_header, write_arpa

GOOD = """\\data\\
ngram 1=4
ngram 2=3

\\1-grams:
-1.0\t<unk>\t0
-99\t<s>\t-0.5
-0.5\t</s>
-0.25 a -0.125

\\2-grams:
-0.2\t<s> a
-0.3\t<s> <unk>
-0.1\ta </s>

\\end\\
"""


def _write(tmp_path, text, name="lm.arpa"):
    p = tmp_path / name
    p.write_text(text, encoding="utf-8")
    return p


def test_header_and_entries_in_file_order(tmp_path):
    p = _write(tmp_path, GOOD)
    assert read_arpa_header(p) == {1: 4, 2: 3}
    entries = list(iter_arpa(p))
    assert entries[0] == ArpaEntry(1, ("<unk>",), -1.0, 0.0)
    assert entries[1] == ArpaEntry(1, ("<s>",), -99.0, -0.5)
    assert entries[2] == ArpaEntry(1, ("</s>",), -0.5, 0.0)
    assert entries[3] == ArpaEntry(1, ("a",), -0.25, -0.125)  # spaces instead of tabs accepted
    assert [e.words for e in entries[4:]] == [("<s>", "a"), ("<s>", "<unk>"), ("a", "</s>")]


def test_gzip_and_comments_before_data(tmp_path):
    p = tmp_path / "lm.arpa.gz"
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("# Input file: x\n# Token count: 3\n" + GOOD)
    assert read_arpa(p) == read_arpa(_write(tmp_path, GOOD))


def test_roundtrip_is_lmplz_layout(tmp_path):
    src = _write(tmp_path, GOOD)
    out = tmp_path / "out.arpa"
    write_arpa(out, read_arpa_header(src), iter_arpa(src))
    text = out.read_text()
    assert text.startswith("\\data\\\nngram 1=4\nngram 2=3\n\n\\1-grams:\n-1\t<unk>\n-99\t<s>\t-0.5\n")
    assert text.endswith("\\2-grams:\n-0.2\t<s> a\n-0.3\t<s> <unk>\n-0.1\ta </s>\n\n\\end\\\n")
    assert read_arpa(out) == read_arpa(src)


def test_write_count_mismatch_leaves_no_file(tmp_path):
    out = tmp_path / "bad.arpa"
    with pytest.raises(ValueError):
        write_arpa(out, {1: 2}, [ArpaEntry(1, ("a",), -0.3, 0.0)])
    assert not out.exists()


@pytest.mark.parametrize(
    "old,new,line,needle",
    [
        ("ngram 2=3", "ngram 2=x", 3, "ngram N=COUNT"),
        ("ngram 2=3", "ngram 3=3", 3, "out of sequence"),
        ("-0.2\t<s> a", "-0.2\t<s> a b c", 12, "fields"),
        ("-0.5\t</s>", "-0.5", 8, "fields"),
        ("-0.25 a -0.125", "-0.25 a x", 9, "non-numeric"),
        ("-0.3\t<s> <unk>", "abc\t<s> <unk>", 13, "non-numeric"),
        ("ngram 1=4", "ngram 1=5", 5, "declares 'ngram 1=5'"),
        ("ngram 2=3", "ngram 2=2", 14, "more than the 2"),
    ],
)
def test_malformed_files_name_file_and_line(tmp_path, old, new, line, needle):
    p = _write(tmp_path, GOOD.replace(old, new, 1))
    with pytest.raises(InputError) as ei:
        list(iter_arpa(p))
    assert ei.value.path == str(p)
    assert ei.value.line == line, str(ei.value)
    assert needle in ei.value.message


def test_truncated_and_not_arpa(tmp_path):
    p = _write(tmp_path, GOOD.replace("\\end\\\n", ""))
    with pytest.raises(InputError, match="without"):
        list(iter_arpa(p))
    q = _write(tmp_path, "hello world\n", "x.arpa")
    with pytest.raises(InputError, match="no '\\\\data\\\\'"):
        read_arpa_header(q)


def test_kenlm_float_format():
    got = format_floats(np.array([-99, 0, -0.0, -0.30103, -1.2e-7, -1e-5, -1.23456789, -3e-30]))
    assert got == ["-99", "0", "0", "-0.30103", "-1.2e-7", "-0.00001", "-1.2345679", "-3e-30"]
    # every string parses back to the same float32
    vals = np.random.default_rng(0).normal(size=1000).astype(np.float32) * 10
    assert np.array_equal(np.array(format_floats(vals), dtype=np.float32), vals)
