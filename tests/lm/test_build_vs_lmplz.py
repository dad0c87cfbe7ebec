"""``cifst lm build`` against kenlm's lmplz on the same text: same n-grams in the same order, log10 probabilities
and back-offs within 1e-5 of lmplz's printed values (tiny, English, Chinese --unit char, pruning, limit vocab,
orders 2-6), plus the corner cases of lmplz's pipeline (special words, discount failure, spilling to disk)."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import numpy as np
import pytest

from asr.cli import main as cifst
from asr.errors import InputError
from lm.arpa import iter_arpa, read_arpa_header
from lm.build import LmBuildConfig, build_arpa
from lm.counts import split_units
from lm.discount import DiscountError

FORTUNES = Path("/usr/share/games/fortunes")
TINY = "a b c\nb c d\na b\n\nc a b c\n  d\td  a \n"


def run_lmplz(lmplz: Path, text: Path, out: Path, order: int, *extra: str) -> Path:
    cmd = [str(lmplz), "-o", str(order), "-S", "100M", "-T", str(out.parent) + "/", "--text", str(text)]
    cmd += ["--arpa", str(out), *extra]
    r = subprocess.run(cmd, capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    return out


def run_ours(text: Path, out: Path, order: int, *extra: str) -> Path:
    assert cifst(["lm", "build", "-o", str(order), "--quiet", "--arpa", str(out), *extra, str(text)]) == 0
    return out


def assert_same_arpa(ours: Path, ref: Path, tol: float = 1e-5) -> None:
    assert read_arpa_header(ours) == read_arpa_header(ref)
    a = list(iter_arpa(ours))
    b = list(iter_arpa(ref))
    assert [e.words for e in a] == [e.words for e in b]  # same n-grams, same (suffix) order
    lp = np.array([e.logprob for e in a]) - np.array([e.logprob for e in b])
    bo = np.array([e.backoff for e in a]) - np.array([e.backoff for e in b])
    assert np.abs(lp).max() <= tol, np.abs(lp).max()
    assert np.abs(bo).max() <= tol, np.abs(bo).max()


@pytest.fixture(scope="module")
def english(tmp_path_factory) -> Path:
    if not (FORTUNES / "science").exists():
        pytest.skip("fortunes not installed")
    p = tmp_path_factory.mktemp("en") / "en.txt"
    p.write_bytes(b"".join((FORTUNES / f).read_bytes() for f in ("science", "computers", "people")))
    return p


@pytest.fixture(scope="module")
def chinese(tmp_path_factory) -> tuple[Path, Path]:
    """(raw Chinese text, the same split into characters for lmplz)."""
    files = [FORTUNES / f for f in ("tang300", "song100", "chinese")]
    if not all(f.exists() for f in files):
        pytest.skip("fortunes-zh not installed")
    d = tmp_path_factory.mktemp("zh")
    # classical poems plus the first 300 kB of the Debian quotes (mixed CJK, Latin words, digits, punctuation)
    raw = b"".join(f.read_bytes()[:300_000] for f in files).decode("utf-8", errors="ignore")
    (d / "zh.txt").write_text(raw, encoding="utf-8")
    split = "\n".join(" ".join(split_units(line, "char")) for line in raw.split("\n"))
    (d / "zh.split.txt").write_text(split, encoding="utf-8")
    return d / "zh.txt", d / "zh.split.txt"


@pytest.mark.parametrize("order", [1, 2, 3, 4])
@pytest.mark.parametrize(
    "last_line", ["\n", "c e", "c e\n\n"]
)  # lmplz gives an unterminated last line no </s>
def test_tiny_with_fallback(lmplz, tmp_path, order, last_line):
    text = tmp_path / "tiny.txt"
    text.write_text(TINY + last_line)
    ref = run_lmplz(lmplz, text, tmp_path / "ref.arpa", order, "--discount_fallback")
    ours = run_ours(text, tmp_path / "ours.arpa", order, "--discount_fallback")
    assert_same_arpa(ours, ref)


SLOW = pytest.mark.slow


@pytest.mark.parametrize(
    "order", [pytest.param(2, marks=SLOW), 3, pytest.param(4, marks=SLOW), 5, pytest.param(6, marks=SLOW)]
)
def test_english_orders(lmplz, english, tmp_path, order):
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", order)
    ours = run_ours(english, tmp_path / "ours.arpa", order)
    assert_same_arpa(ours, ref)


@pytest.mark.parametrize("order", [3, 5])
def test_chinese_unit_char(lmplz, chinese, tmp_path, order):
    raw, split = chinese
    ref = run_lmplz(lmplz, split, tmp_path / "ref.arpa", order)
    ours = run_ours(raw, tmp_path / "ours.arpa", order, "--unit", "char")
    assert_same_arpa(ours, ref)


@pytest.mark.parametrize(
    "prune",
    [
        pytest.param(["0", "1"], marks=SLOW),
        ["0", "0", "1"],
        pytest.param(["0", "1", "2", "3"], marks=SLOW),
        ["1"],
    ],
)
def test_english_pruning(lmplz, english, tmp_path, prune):
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 4, "--prune", *prune)
    ours = run_ours(english, tmp_path / "ours.arpa", 4, "--prune", *prune)
    assert_same_arpa(ours, ref)


def test_english_limit_vocab_with_pruning(lmplz, english, tmp_path):
    words = english.read_text().split()
    uniq, counts = np.unique(np.array(words), return_counts=True)
    keep = uniq[np.argsort(-counts, kind="stable")[:800]]
    vocab = tmp_path / "vocab.txt"
    vocab.write_text(" ".join(keep[:400]) + "\n" + "\n".join(keep[400:]) + "\n")
    for extra in ([], ["--prune", "0", "0", "1"]):
        ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 3, "--limit_vocab_file", str(vocab), *extra)
        ours = run_ours(english, tmp_path / "ours.arpa", 3, "--limit_vocab_file", str(vocab), *extra)
        assert_same_arpa(ours, ref)
        assert read_arpa_header(ours)[1] <= 800 + 3


@SLOW
def test_no_unigram_interpolation(lmplz, english, tmp_path):
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 3, "--interpolate_unigrams", "0")
    ours = run_ours(english, tmp_path / "ours.arpa", 3, "--interpolate_unigrams", "0")
    assert_same_arpa(ours, ref)


def test_skip_symbols_and_gzip_stdin(lmplz, english, tmp_path, monkeypatch, capsysbinary):
    text = tmp_path / "sym.txt"
    body = english.read_text()[:20000] + "\nfoo <s> bar </s> <unk> baz\n"
    text.write_text(body)
    ref = run_lmplz(lmplz, text, tmp_path / "ref.arpa", 3, "--skip_symbols")
    gz = tmp_path / "sym.txt.gz"
    with gzip.open(gz, "wt") as f:
        f.write(body)
    ours = run_ours(gz, tmp_path / "ours.arpa", 3, "--skip_symbols")
    assert_same_arpa(ours, ref)
    # stdin, ARPA on stdout
    monkeypatch.setattr("sys.stdin", open(text, encoding="utf-8"))
    assert cifst(["lm", "build", "-o", "3", "--quiet", "--skip_symbols"]) == 0
    (tmp_path / "stdout.arpa").write_bytes(capsysbinary.readouterr().out)
    assert_same_arpa(tmp_path / "stdout.arpa", ref)


def test_special_word_is_an_error_naming_the_line(tmp_path):
    text = tmp_path / "bad.txt"
    text.write_text("a b\nc <s> d\n")
    with pytest.raises(InputError) as ei:
        build_arpa([str(text)], tmp_path / "x.arpa", LmBuildConfig(order=2, progress=False, verbose=False))
    assert ei.value.line == 2 and "--skip_symbols" in ei.value.message
    assert not (tmp_path / "x.arpa").exists()


def test_discount_failure_names_order_count_and_option(tmp_path, capsys):
    text = tmp_path / "tiny.txt"
    text.write_text(TINY)
    with pytest.raises(DiscountError) as ei:
        build_arpa(
            [str(text)],
            tmp_path / "x.arpa",
            LmBuildConfig(order=3, progress=False, verbose=False, temp_prefix=str(tmp_path / "w")),
        )
    msg = str(ei.value)
    assert "1-grams" in msg and "adjusted count" in msg and "--discount_fallback" in msg
    # The CLI prints it as one line and exits 1.
    args = [
        "lm",
        "build",
        "-o",
        "3",
        "--quiet",
        "-T",
        str(tmp_path / "w"),
        "--arpa",
        str(tmp_path / "y.arpa"),
    ]
    assert cifst([*args, str(text)]) == 1
    assert "--discount_fallback" in capsys.readouterr().err


def test_spilling_to_disk_gives_the_same_model(english, tmp_path):
    big = tmp_path / "in_memory.arpa"
    small = tmp_path / "spilled.arpa"
    run_ours(english, big, 4)
    # 2 MB memory bound: many chunks, runs spilled to disk and merged block by block.
    run_ours(english, small, 4, "-S", "2M", "-T", str(tmp_path / "spill"))
    assert big.read_bytes() == small.read_bytes()
    assert not any((tmp_path / "spill").glob("cifst-lm-*"))  # spill directory removed


@pytest.mark.parametrize(
    "extra", [pytest.param(["--collapse_values"], marks=SLOW), ["--collapse_values", "--prune", "0", "1"]]
)
def test_collapse_values(lmplz, english, tmp_path, extra):
    # q = p * (back-offs folded in); back-off column 0 (kenlm interpolate.cc OutputQ)
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 4, *extra)
    ours = run_ours(english, tmp_path / "ours.arpa", 4, *extra)
    assert_same_arpa(ours, ref)
    assert all(e.backoff == 0 for e in iter_arpa(ours))


@pytest.mark.parametrize("pad", [pytest.param("10", marks=SLOW), "50000"])
def test_vocab_pad(lmplz, english, tmp_path, pad):
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 3, "--vocab_pad", pad)
    ours = run_ours(english, tmp_path / "ours.arpa", 3, "--vocab_pad", pad)
    assert_same_arpa(ours, ref)
    if pad == "10":  # smaller than the vocabulary: no effect
        assert_same_arpa(ours, run_ours(english, tmp_path / "plain.arpa", 3))


def test_vocab_pad_needs_unigram_interpolation(english, tmp_path, capsys):
    out = tmp_path / "x.arpa"
    args = ["lm", "build", "-o", "3", "--quiet", "--vocab_pad", "100", "--interpolate_unigrams", "0"]
    assert cifst([*args, "--arpa", str(out), str(english)]) == 1
    assert "--vocab_pad requires --interpolate_unigrams" in capsys.readouterr().err
    assert not out.exists()


@pytest.mark.parametrize("extra", [pytest.param([], marks=SLOW), ["-S", "2M", "--prune", "0", "1"]])
def test_renumber_lists_ngrams_in_lmplz_renumbered_order(lmplz, english, tmp_path, extra):
    """--renumber: n-grams in lmplz's order (ids monotone with MurmurHash64A), probabilities as lmplz's; the
    values are those of the plain build (lmplz's own back-offs under --renumber come out attached to other
    n-grams, so they are compared with our plain build instead)."""
    prune = [x for x in extra if x not in ("-S", "2M")]
    ref = run_lmplz(lmplz, english, tmp_path / "ref.arpa", 3, "--renumber", *prune)
    ours = run_ours(english, tmp_path / "ours.arpa", 3, "--renumber", "-T", str(tmp_path / "t"), *extra)
    assert read_arpa_header(ours) == read_arpa_header(ref)
    a, b = list(iter_arpa(ours)), list(iter_arpa(ref))
    assert [e.words for e in a] == [e.words for e in b]
    assert np.abs(np.array([e.logprob for e in a]) - np.array([e.logprob for e in b])).max() <= 1e-5
    plain = run_ours(english, tmp_path / "plain.arpa", 3, *extra)
    assert sorted(ours.read_bytes().split(b"\n")) == sorted(plain.read_bytes().split(b"\n"))
    assert ours.read_bytes() != plain.read_bytes()


@pytest.mark.parametrize("extra", [[], ["--collapse_values", "--prune", "0", "1"]])
def test_intermediate_files_as_lmplz(lmplz, english, tmp_path, extra):
    """--intermediate: kenlm's files (vocabulary and metadata byte-identical, same records: ids, values within
    1e-5); no ARPA unless --arpa; `lm from-intermediate` turns them into our --renumber ARPA."""
    from lm.intermediate import record_dtype

    ref, ours = tmp_path / "ref" / "m", tmp_path / "ours" / "m"
    ref.parent.mkdir()
    cmd = [str(lmplz), "-o", "3", "-S", "100M", "-T", str(tmp_path) + "/", "--text", str(english)]
    r = subprocess.run([*cmd, "--intermediate", str(ref), *extra], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr[-2000:]
    base = ["lm", "build", "-o", "3", "--quiet", "-T", str(tmp_path / "w"), *extra]
    assert cifst([*base, "--intermediate", str(ours), str(english)]) == 0
    assert sorted(p.name for p in ours.parent.iterdir()) == sorted(p.name for p in ref.parent.iterdir())
    for suffix in ("vocab", "kenlm_intermediate"):
        assert Path(f"{ours}.{suffix}").read_bytes() == Path(f"{ref}.{suffix}").read_bytes()
    for n in (1, 2, 3):
        a = np.fromfile(f"{ours}.{n}", record_dtype(n))
        b = np.fromfile(f"{ref}.{n}", record_dtype(n))
        assert np.array_equal(a["w"], b["w"])
        assert np.abs(a["p"] - b["p"]).max() <= 1e-5
    arpa = tmp_path / "from.arpa"
    assert cifst(["lm", "from-intermediate", str(ours), "--arpa", str(arpa)]) == 0
    renumbered = tmp_path / "renumbered.arpa"
    assert cifst([*base, "--renumber", "--arpa", str(renumbered), str(english)]) == 0
    assert arpa.read_bytes() == renumbered.read_bytes()


def test_from_intermediate_reports_broken_files(tmp_path, capsys):
    prefix = tmp_path / "m"
    Path(f"{prefix}.kenlm_intermediate").write_text(
        "KenLM intermediate binary file\nCounts 3 x\nPayload pb\n"
    )
    assert cifst(["lm", "from-intermediate", str(prefix)]) == 1
    err = capsys.readouterr().err
    assert "m.kenlm_intermediate:2" in err and "non-integer" in err
    Path(f"{prefix}.kenlm_intermediate").write_text("KenLM intermediate binary file\nCounts 3\nPayload pb\n")
    Path(f"{prefix}.vocab").write_bytes(b"<unk>\0a\0b\0")
    Path(f"{prefix}.1").write_bytes(b"\0" * 20)  # 3 records need 36 bytes
    assert cifst(["lm", "from-intermediate", str(prefix)]) == 1
    assert "m.1" in capsys.readouterr().err
