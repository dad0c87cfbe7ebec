"""``cifst decode`` end to end: outputs, bad inputs decoded around, resume, graph-less methods, hotword hook."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from search_refs import FakeContext, build_tlg, synth_posteriors, toy_bigram_arpa

from asr.cli import main
from decoding.search.beam import BeamSearchConfig
from decoding.search.pipeline import DecodeOptions, run_decode

WORDS = "the cat sat on a mat dog ran to big red house".split()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    import kaldiio
    import kaldilm

    rng = np.random.default_rng(0)
    d = tmp_path_factory.mktemp("decode")
    sents = [[str(w) for w in rng.choice(WORDS, int(rng.integers(2, 6)))] for _ in range(200)]
    (d / "lm.arpa").write_text(toy_bigram_arpa(sents))
    tokens = ["<blk>", *sorted(set("".join(WORDS)))]
    wl = ["<eps>", *sorted(WORDS), "<s>", "</s>", "#0"]
    g = d / "graph"
    g.mkdir()
    (g / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)))
    (g / "words.txt").write_text("".join(f"{w} {i}\n" for i, w in enumerate(wl)))
    g_text = kaldilm.arpa2fst(
        str(d / "lm.arpa"), "", disambig_symbol="#0", read_symbol_table=str(g / "words.txt")
    )
    lex = [(wl.index(w), [tokens.index(c) for c in w]) for w in WORDS]
    build_tlg(len(tokens), lex, g_text, wl.index("#0"), "ctc").write(str(g / "TLG.fst"))
    post = d / "post"
    post.mkdir()
    refs = {}
    with kaldiio.WriteHelper(f"ark,scp:{post}/posteriors.ark,{post}/posteriors.scp") as w:
        for i in range(10):
            s = sents[i]
            w(
                f"utt{i:02d}",
                synth_posteriors(
                    [tokens.index(c) for c in "".join(s)], len(tokens), rng, "frame", p_wrong=0.0, peak=8.0
                ),
            )
            refs[f"utt{i:02d}"] = " ".join(s)
        w("uttbad", np.full((4, len(tokens)), np.nan, np.float32))
        w("uttempty", np.zeros((0, len(tokens)), np.float32))
        w("uttwide", np.zeros((3, len(tokens) + 1), np.float32))
    (post / "post.yaml").write_text("tokens: ../graph/tokens.txt\nrow_type: frame\nframe_shift: 0.04\n")
    return {"dir": d, "graph": g, "scp": post / "posteriors.scp", "refs": refs, "tokens": tokens}


def test_decode_writes_text_ctm_and_decodes_around_bad_input(setup, tmp_path, caplog):
    out = tmp_path / "out"
    code = main(
        [
            "decode",
            str(setup["graph"]),
            str(setup["scp"]),
            str(out),
            "--beam",
            "12",
            "--batch-size",
            "4",
            "--no-progress",
            "--nbest",
            "2",
        ]
    )
    assert code == 0
    text = dict(line.rstrip("\n").partition(" ")[::2] for line in (out / "text").read_text().splitlines())
    assert list(text) == sorted(text)  # C-sorted
    # clean posteriors (no substituted rows): every utterance is recognized exactly
    for k, ref in setup["refs"].items():
        assert text[k] == ref
    assert text["uttbad"] == "" and text["uttempty"] == "" and text["uttwide"] == ""
    failed = (out / "failed").read_text()
    assert "uttbad" in failed and "NaN" in failed and "uttwide" in failed and "columns" in failed
    ctm = [ln.split() for ln in (out / "ctm").read_text().splitlines()]
    assert len(ctm) == sum(len(v.split()) for v in setup["refs"].values())
    for f in ctm:
        assert f[1] == "1" and float(f[2]) >= 0 and float(f[3]) > 0 and 0 <= float(f[5]) <= 1
    nbest = (out / "nbest").read_text().splitlines()
    assert any(ln.startswith("utt00 2 ") for ln in nbest)
    assert any("uttbad" in r.getMessage() and "NaN" in r.getMessage() for r in caplog.records)  # a warning


def test_resume_skips_finished_batches(setup, tmp_path):
    out = tmp_path / "out"
    opts = DecodeOptions(search=BeamSearchConfig(beam=12), batch_size=3, progress=False)
    first = run_decode(setup["graph"], setup["scp"], out, opts)
    assert first["decoded"] + first["failed"] == 13 and first["skipped"] == 0
    full = (out / "text").read_text()
    shards = sorted((out / "shards").glob("*.keys"))
    lost = shards[-1].read_text().split()
    shards[-1].unlink()  # as if the job died before finishing its last batch
    (out / "text").unlink()
    again = run_decode(
        setup["graph"],
        setup["scp"],
        out,
        DecodeOptions(search=BeamSearchConfig(beam=12), batch_size=3, progress=False),
    )
    assert again["skipped"] == 13 - len(lost) and again["decoded"] + again["failed"] == len(lost)
    assert (out / "text").read_text() == full
    with pytest.raises(Exception, match="other options"):
        run_decode(
            setup["graph"], setup["scp"], out, DecodeOptions(search=BeamSearchConfig(beam=5), progress=False)
        )


def test_missing_graph_file_is_a_clear_error(setup, tmp_path, capsys):
    g = tmp_path / "g"
    g.mkdir()
    (g / "tokens.txt").write_text((setup["graph"] / "tokens.txt").read_text())
    (g / "words.txt").write_text((setup["graph"] / "words.txt").read_text())
    assert main(["decode", str(g), str(setup["scp"]), str(tmp_path / "o"), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "TLG.fst" in err and "Traceback" not in err
    assert (
        main(["decode", str(setup["scp"]), str(tmp_path / "o2"), "--no-progress"]) == 1
    )  # 2 paths, no --no-graph


@pytest.mark.parametrize("method", ["greedy", "prefix"])
def test_graphless_methods(setup, tmp_path, method):
    out = tmp_path / method
    assert (
        main(
            ["decode", "--no-graph", "--nograph-method", method, str(setup["scp"]), str(out), "--no-progress"]
        )
        == 0
    )
    text = dict(line.partition(" ")[::2] for line in (out / "text").read_text().splitlines())
    for k, ref in setup["refs"].items():  # no word boundaries without a graph: compare the letters
        assert text[k].replace(" ", "") == ref.replace(" ", "")


class _Contexts:
    """The ``UttContexts`` interface (``graph``, ``start_states``) around a fake context graph."""

    def __init__(self, graph):
        self.graph = graph

    def start_states(self, keys, device=None):
        return torch.zeros(len(keys), dtype=torch.int64, device=device)


def test_hotword_context_reaches_the_search(setup, tmp_path):
    tokens = setup["tokens"]
    phrase = [tokens.index(c) for c in "house"]
    opts = DecodeOptions(search=BeamSearchConfig(beam=12), progress=False)
    plain = run_decode(setup["graph"], setup["scp"], tmp_path / "plain", opts)
    biased_opts = DecodeOptions(search=BeamSearchConfig(beam=12), progress=False)
    biased = run_decode(
        setup["graph"],
        setup["scp"],
        tmp_path / "hw",
        biased_opts,
        hotwords=_Contexts(FakeContext(phrase, len(tokens), 50.0)),
        hotword_record={"x": "1"},
    )
    assert plain["decoded"] == biased["decoded"]
    n_plain = (tmp_path / "plain" / "text").read_text().count("house")
    n_hw = (tmp_path / "hw" / "text").read_text().count("house")
    assert n_hw > n_plain  # a huge bonus puts the hotword into hypotheses
