"""tools/bench/decode_memory.py still runs end to end on a small graph built by ``cifst graph build`` and reports
both decoders (no memory or time figure is asserted: those belong to the bench, not the suite)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
from search_refs import synth_posteriors, toy_bigram_arpa

ROOT = Path(__file__).resolve().parents[3]


def test_decode_memory_bench_runs_both_decoders(tmp_path):
    import kaldiio

    from decoding.graph.build import GraphBuildConfig, build_graph

    rng = np.random.default_rng(3)
    words = ["".join(rng.choice(list("abcdefgh"), int(rng.integers(2, 6)))) for _ in range(40)]
    words = sorted(set(words))
    sents = [[str(w) for w in rng.choice(words, int(rng.integers(2, 6)))] for _ in range(200)]
    tokens = ["<blk>", *sorted(set("".join(words)))]
    (tmp_path / "lm.arpa").write_text(toy_bigram_arpa(sents))
    (tmp_path / "tokens.txt").write_text("".join(f"{t} {i}\n" for i, t in enumerate(tokens)))
    (tmp_path / "lexicon.txt").write_text("".join(f"{w} {' '.join(w)}\n" for w in words))
    gdir = tmp_path / "graph"
    cfg = GraphBuildConfig(
        tokens=str(tmp_path / "tokens.txt"),
        arpa=str(tmp_path / "lm.arpa"),
        lexicon=str(tmp_path / "lexicon.txt"),
        topo="ctc",
    )
    build_graph(cfg, gdir)
    with kaldiio.WriteHelper(f"ark,scp:{tmp_path / 'post.ark'},{tmp_path / 'post.scp'}") as w:
        for i in range(12):
            ids = [tokens.index(c) for c in "".join(sents[i])]
            w(f"utt{i:02d}", synth_posteriors(ids, len(tokens), rng, "frame", p_wrong=0.1).astype(np.float32))
    out = subprocess.run(
        [sys.executable, str(ROOT / "tools/bench/decode_memory.py"), str(gdir), str(tmp_path / "post.scp")],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.splitlines()
    assert [line.split()[0] for line in out[1:3]] == ["kaldi-decoder", "ours"]
    assert out[3].startswith("ours / kaldi-decoder: peak RSS ")
    same, total = out[3].rsplit("same words ", 1)[1].split("/")
    assert int(total) == 12 and int(same) >= 11
