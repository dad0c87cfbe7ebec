"""Hotwords end to end through ``cifst decode``: a tiny letter tokenizer, a bigram LM, a CIF TLG graph and
posteriors where the rare word ``zeta`` is heard as the common ``beta``: the TLG and graph-less searches recover it
with the hotword, leave the other utterances alone, per-utterance lists bias only their utterance, and an empty
list gives byte-identical output to no list."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from asr.cli import main

CORPUS = """the beta test starts now
call the beta team now
the team starts the test
call me now
the beta version is here
my team is here
beta beta beta
the zeta test
"""
# utterance -> (text, {token: (probability left to the true token, [(confusable token, its probability), ...])})
UTTS = {
    "u1": ("the zeta test", {"▁z": (0.35, [("▁b", 0.6)])}),
    "u2": ("call the beta team now", {}),
    "u3": ("the zeta test starts now", {"▁z": (0.35, [("▁b", 0.6)])}),
    "u4": ("my team is here", {}),
    "u5": ("the zeta test", {"▁z": (0.15, [("▁b", 0.5), ("▁v", 0.3)])}),  # the true token ranks third
}


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    tk = pytest.importorskip("asr.text.tokenizer")
    pytest.importorskip("decoding.search.pipeline")
    kaldiio = pytest.importorskip("kaldiio")
    d = tmp_path_factory.mktemp("e2e")
    (d / "corpus.txt").write_text(CORPUS, encoding="utf-8")
    tok = tk.train_tokenizer("char", CORPUS.splitlines(), 0, d / "tok")
    assert (
        main(
            [
                "lm",
                "build",
                "-o",
                "2",
                "--discount_fallback",
                "--arpa",
                str(d / "lm.arpa"),
                "--quiet",
                str(d / "corpus.txt"),
            ]
        )
        == 0
    )
    assert (
        main(
            [
                "graph",
                "build",
                "--tokenizer",
                str(d / "tok"),
                "--arpa",
                str(d / "lm.arpa"),
                "--topo",
                "cif",
                "--oov",
                "skip",
                "--quiet",
                str(d / "graph"),
            ]
        )
        == 0
    )
    v = tok.vocab_size
    post = d / "post"
    post.mkdir()
    with kaldiio.WriteHelper(f"ark,scp:{post / 'posteriors.ark'},{post / 'posteriors.scp'}") as w:
        for key, (text, confuse) in UTTS.items():
            rows = []
            for t in tok.encode(text, strict=True):
                p = np.full(v, 1e-3)
                p[0] = 0.01
                sym = tok.symbols[t]
                if sym in confuse:
                    p[t], others = confuse[sym]
                    for other, p_other in others:
                        p[tok.symbols[other]] = p_other
                else:
                    p[t] = 0.9
                rows.append(np.log(p / p.sum()))
            w(key, np.asarray(rows, dtype=np.float32))
    (post / "post.yaml").write_text(f"tokens: {d / 'tok' / 'tokens.txt'}\nrow_type: cif\nframe_shift: 0.06\n")
    (d / "hw.txt").write_text("zeta\n", encoding="utf-8")
    (d / "empty.txt").write_text("# no hotwords\n", encoding="utf-8")
    (d / "other.txt").write_text("version\n", encoding="utf-8")
    (d / "hw.scp").write_text(f"u1 {d / 'hw.txt'}\nu3 {d / 'other.txt'}\n", encoding="utf-8")
    return d


def decode(d: Path, name: str, *extra: str, graph: bool = True) -> tuple[dict[str, str], str]:
    out = d / name
    paths = [str(d / "graph")] if graph else ["--no-graph", "--nograph-method", "prefix"]
    args = [
        "decode",
        *paths,
        str(d / "post" / "posteriors.scp"),
        str(out),
        "--no-progress",
        "--device",
        "cpu",
        "--tokenizer",
        str(d / "tok"),
        *extra,
    ]
    assert main(args) == 0
    text = {}
    for line in (out / "text").read_text(encoding="utf-8").splitlines():
        key, _, words = line.partition(" ")
        text[key] = words.strip()
    ctm = (out / "ctm").read_text(encoding="utf-8") if (out / "ctm").exists() else ""
    return text, ctm


@pytest.mark.parametrize("graph", [True, False], ids=["tlg", "nograph"])
def test_hotword_recovers_the_rare_word_and_nothing_else(setup, graph):
    base, _ = decode(setup, f"base_{graph}", graph=graph)
    assert base["u1"] == base["u5"] == "the beta test" and base["u3"] == "the beta test starts now"
    biased, _ = decode(setup, f"hw_{graph}", "--hotwords", str(setup / "hw.txt"), graph=graph)
    assert biased == {**base, "u1": "the zeta test", "u3": "the zeta test starts now", "u5": "the zeta test"}


def test_bias_is_applied_before_pruning(setup):
    # u5's true first token ranks third; with at most 2 tokens kept per row it survives only if the hotword bonus
    # is added on the emitting arcs before max-active pruning
    text, _ = decode(
        setup, "narrow", "--hotwords", str(setup / "hw.txt"), "--max-active", "2", "--min-active", "1"
    )
    assert text["u5"] == "the zeta test"


@pytest.mark.parametrize("graph", [True, False], ids=["tlg", "nograph"])
def test_empty_list_is_identical_to_no_list(setup, graph):
    base = decode(setup, f"base2_{graph}", graph=graph)
    empty = decode(setup, f"empty_{graph}", "--hotwords", str(setup / "empty.txt"), graph=graph)
    assert empty == base


def test_per_utterance_lists(setup):
    text, _ = decode(setup, "scp", "--hotwords-scp", str(setup / "hw.scp"))
    assert text["u1"] == "the zeta test"  # its own list has zeta
    assert text["u3"] == "the beta test starts now"  # its list has only "version"


def test_whole_word_weight_alone_and_penalty(setup):
    text, _ = decode(
        setup,
        "weight_only",
        "--hotwords",
        str(setup / "hw.txt"),
        "--hotword-score",
        "0",
        "--hotword-weight",
        "8",
    )
    assert text["u1"] == "the zeta test"
    (setup / "penalty.txt").write_text("beta -20\n", encoding="utf-8")
    text, _ = decode(setup, "penalty", "--hotwords", str(setup / "penalty.txt"))
    assert all("beta" not in t.split() for t in text.values())
    assert text["u4"] == "my team is here"


@pytest.mark.parametrize("graph", [True, False], ids=["tlg", "nograph"])
def test_acoustic_gate_through_the_search(setup, graph):
    """``--hotword-gate``: the searches pass each token's log-posterior to the context, so a hotword whose token is
    heard too faintly (u5: ``▁z`` at p=0.15, log -1.9) is not boosted while u1/u3 (p=0.35, log -1.0) still are."""
    text, _ = decode(
        setup, f"gate_{graph}", "--hotwords", str(setup / "hw.txt"), "--hotword-gate", "-1.5", graph=graph
    )
    assert text["u1"] == "the zeta test" and text["u3"] == "the zeta test starts now"
    assert text["u5"] == "the beta test"
    loose, _ = decode(
        setup, f"gate_loose_{graph}", "--hotwords", str(setup / "hw.txt"), "--hotword-gate", "-3", graph=graph
    )
    assert loose["u5"] == "the zeta test"


def test_a_failed_partial_match_cannot_prune_the_unbiased_path(setup):
    """u1 ends in a clear "test". The hotword "teams" shares "▁t e" with it, then wants "a m" (heard at p~1e-3):
    with a bonus of 20 per token the partial match "team" is far ahead of "test" on the biased cost, more than the
    beam of 5. It never completes ("teams" is not said), so the utterance end takes its bonus back. The beam is
    centred on costs with that unbanked bonus added back, so "test" stays in the beam and wins; centring it on the
    biased costs (as before) pruned "test" and output "the beta team"."""
    (setup / "teams.txt").write_text("teams\n", encoding="utf-8")
    narrow = [
        "--beam",
        "5",
        "--min-active",
        "1",
    ]  # the graph is tiny: Kaldi's min-active would keep every token
    text, _ = decode(setup, "teams", "--hotwords", str(setup / "teams.txt"), "--hotword-score", "20", *narrow)
    base, _ = decode(setup, "teams_base", *narrow)
    assert base["u1"] == "the beta test"
    assert text["u1"] == "the beta test"
    assert text == base  # a hotword that is never said changes nothing


def test_a_failed_partial_match_cannot_push_out_the_unbiased_prefix(setup):
    """The graph-less prefix search keeps its ``beam`` best prefixes by honest score (unbanked bonus taken off) plus
    the partial matches whose biased score reaches them: with a beam of 2 and a bonus of 20, the never-said "teams"
    used to keep only its own prefixes and turn u1's "test" into "team"."""
    (setup / "teams.txt").write_text("teams\n", encoding="utf-8")
    narrow = ["--prefix-beam", "2"]
    text, _ = decode(
        setup,
        "ng_teams",
        "--hotwords",
        str(setup / "teams.txt"),
        "--hotword-score",
        "20",
        *narrow,
        graph=False,
    )
    base, _ = decode(setup, "ng_teams_base", *narrow, graph=False)
    assert base["u1"] == text["u1"] == "the beta test"  # the old selection output "tea"
