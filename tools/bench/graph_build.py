#!/usr/bin/env python3
"""Graph-build benchmark: ``cifst graph build`` (decoding.graph.build_graph) vs a Kaldi-style pipeline made of
kaldilm's ``arpa2fst`` (Kaldi's C++ ARPA compiler) + pywrapfst, on the same tokens, lexicon and ARPA.

Inputs made here, once (each stage skips what exists in ``--work-dir``):

1. vocabulary: ``--vocab`` (20,000) words drawn with a seeded sampler from ``/usr/share/dict/words`` (only
   ``[a-z]+``), spelled by letters (tokens ``<blk>``, ``<unk>``, ``a``..``z``): ``lexicon.txt``, ``tokens.txt``.
2. corpus: ``--corpus-words`` (1,000,000) words, sentences of 5-20 words drawn from a Zipf (1/rank) distribution
   over the vocabulary, seeded.
3. ARPA: kenlm ``lmplz -o 4`` (``--prune`` passed through, e.g. ``0 0 1 1``), modified Kneser-Ney.

Then each pipeline runs in its own child process (wall time; CPU time and peak resident memory from ``wait4``), building
TLG (CTC topology) plus the torch CSR arrays the search loads:

- ours: ``build_graph`` = vectorised G from the ARPA, L from arrays, det/min/compose with pywrapfst, numpy <-> FST
  through the const layout, ``TLG.fst`` + ``TLG.pt``.
- peer: ``kaldilm.arpa2fst`` -> ``G.fst``; L and T written as text FSTs (as Kaldi's ``make_lexicon_fst.py`` and
  WeNet's ``ctc_token_fst.py`` do) and compiled with ``pywrapfst.Compiler``; the same OpenFst compose /
  determinize / minimize(encoded) / rmepsilon; ``TLG.fst``; the CSR arrays by walking the FST arc by arc.

Prints the time and peak memory of both and the ratios ours / peer, then checks that both TLGs give the same cost
to ``--check`` corpus sentences (CTC frames ``t t <blk>`` per letter, composed with each graph).

Example:
  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/graph_build.py --work-dir /tmp/graph_bench
"""

from __future__ import annotations

import argparse
import itertools
import json
import os
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

DICT = Path("/usr/share/dict/words")
LETTERS = "abcdefghijklmnopqrstuvwxyz"


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prepare(work: Path, vocab_size: int, corpus_words: int, order: int, prune: list[str], seed: int) -> Path:
    """Make tokens.txt, lexicon.txt, corpus.txt and lm.arpa in ``work`` (skipping what exists)."""
    work.mkdir(parents=True, exist_ok=True)
    lexicon, tokens, corpus = work / "lexicon.txt", work / "tokens.txt", work / "corpus.txt"
    if not (lexicon.exists() and tokens.exists() and corpus.exists()):
        words = sorted(
            {w.strip() for w in DICT.read_text().splitlines() if re.fullmatch("[a-z]+", w.strip())}
        )
        rng = random.Random(seed)
        vocab = rng.sample(words, vocab_size)
        tokens.write_text("".join(f"{s} {i}\n" for i, s in enumerate(["<blk>", "<unk>", *LETTERS])))
        lexicon.write_text("<unk> <unk>\n" + "".join(f"{w} {' '.join(w)}\n" for w in sorted(vocab)))
        cum = list(itertools.accumulate(1.0 / r for r in range(1, vocab_size + 1)))
        n = 0
        with open(corpus, "w") as f:
            while n < corpus_words:
                k = rng.randint(5, 20)
                f.write(" ".join(rng.choices(vocab, cum_weights=cum, k=k)) + "\n")
                n += k
        log(f"made {vocab_size}-word lexicon and a {n}-word corpus in {work}")
    arpa = work / f"lm{order}{'_p' + '_'.join(prune) if prune else ''}.arpa"
    if not arpa.exists():
        lmplz = ROOT / "tools" / "kenlm" / "bin" / "lmplz"
        if not lmplz.exists():
            sys.exit(f"error: {lmplz} not found; run tools/build_kenlm.sh")
        cmd = [str(lmplz), "-o", str(order), "-S", "20%"] + (["--prune", *prune] if prune else [])
        log("running " + " ".join(cmd))
        tmp = arpa.with_suffix(".tmp")
        with open(corpus, "rb") as fin, open(tmp, "wb") as fout:
            subprocess.run(cmd, stdin=fin, stdout=fout, stderr=subprocess.DEVNULL, check=True)
        tmp.rename(arpa)
    return arpa


# --- the two pipelines (run in a child process) -------------------------------------------------------------------


def run_ours(work: Path, arpa: Path, out: Path) -> dict:
    import logging

    from decoding.graph.build import GraphBuildConfig, build_graph

    logging.basicConfig(level=logging.INFO, format="    ours %(asctime)s %(message)s", stream=sys.stdout)
    cfg = GraphBuildConfig(
        tokens=str(work / "tokens.txt"),
        lexicon=str(work / "lexicon.txt"),
        arpa=str(arpa),
        det_method=os.environ.get("GRAPH_BENCH_DET_METHOD", "auto"),
        topo=os.environ.get("GRAPH_BENCH_TOPO", "ctc"),
    )
    if os.environ.get("GRAPH_BENCH_STAGE") == "det":
        return _ours_det_only(cfg)
    res = build_graph(cfg, out)
    return {"TLG": res.sizes["TLG.fst"]}


def _ours_det_only(cfg) -> dict:
    """``--stage det``: G from the ARPA and det(L o G), nothing after (the step OpenFst could not finish)."""
    from asr.text.symbol_table import SymbolTable
    from decoding.graph.fst_arrays import arrays_to_fst, fst_to_arrays
    from decoding.graph.grammar import make_grammar_fst
    from decoding.graph.lexicon import add_disambig, make_lexicon_fst, make_word_table, read_lexicon
    from decoding.graph.trie_lg import trie_lg

    t0 = time.time()
    tokens = SymbolTable.read(cfg.tokens)
    lex = read_lexicon(cfg.lexicon, tokens)
    dis, _ = add_disambig(lex)
    words = make_word_table(lex.words())
    G, _ = make_grammar_fst(cfg.arpa, words)
    print(f"    ours {time.time() - t0:7.1f}s G: {G.num_states()} states", flush=True)
    if cfg.det_method == "openfst":
        import pywrapfst as fst

        L = make_lexicon_fst(lex, words, len(tokens), dis)
        LG = fst.compose(L, G)
        print(f"    ours {time.time() - t0:7.1f}s L o G: {LG.num_states()} states", flush=True)
        LG = fst.determinize(LG)
    else:
        a = trie_lg(lex, dis, len(tokens), words, fst_to_arrays(G)).arrays
        del G
        LG = arrays_to_fst(a.num_states, a.start, a.src, a.dst, a.ilabel, a.olabel, a.weight, a.final)
    n = LG.num_states()
    print(f"    ours {time.time() - t0:7.1f}s det(L o G): {n} states", flush=True)
    return {"TLG": [n, sum(LG.num_arcs(s) for s in range(n))], "stage": "det(L o G)"}


def run_peer(work: Path, arpa: Path, out: Path) -> dict:
    """kaldilm arpa2fst + text FSTs compiled by pywrapfst + the same OpenFst operations."""
    import kaldilm
    import numpy as np
    import pywrapfst as fst
    import torch

    from decoding.graph.lexicon import add_disambig, make_word_table, read_lexicon  # lexicon parsing only

    out.mkdir(parents=True, exist_ok=True)
    t0 = time.time()

    def note(msg):
        print(f"    peer {time.time() - t0:7.1f}s {msg}", flush=True)

    from asr.text.symbol_table import SymbolTable

    tokens = SymbolTable.read(work / "tokens.txt")
    lex = read_lexicon(work / "lexicon.txt", tokens)
    dis, ndis = add_disambig(lex)  # the algorithm of Kaldi's add_lex_disambig.pl
    words = make_word_table(lex.words())
    words.write(out / "words.txt")
    V = len(tokens)
    # L as text (Kaldi make_lexicon_fst.py without silence) + fstaddselfloops #0
    lines, nxt = [], 1
    for p, k in zip(lex.prons, dis):
        seq = list(p.tokens) + ([V + k] if k else [])
        src = 0
        for j, t in enumerate(seq):
            dst = 0 if j == len(seq) - 1 else nxt
            if dst:
                nxt += 1
            lines.append(f"{src} {dst} {t} {words.id(p.word) if j == 0 else 0}")
            src = dst
    lines.append(f"0 0 {V} {words.id('#0')}")
    lines.append("0")
    comp = fst.Compiler()
    comp.write("\n".join(lines) + "\n")
    L = comp.compile()
    L.arcsort("olabel")
    note(f"L compiled: {L.num_states()} states")
    kaldilm.arpa2fst(
        str(arpa),
        str(out / "G.fst"),
        disambig_symbol="#0",
        read_symbol_table=str(out / "words.txt"),
        max_arpa_warnings=0,
    )
    G = fst.Fst.read(str(out / "G.fst"))
    note(f"G by kaldilm arpa2fst: {G.num_states()} states")
    LG = fst.compose(L, G.arcsort("ilabel"))
    del G
    LG = fst.determinize(LG)
    note(f"det(LG): {LG.num_states()} states")
    if os.environ.get("GRAPH_BENCH_STAGE") == "det":
        n = LG.num_states()
        return {"TLG": [n, sum(LG.num_arcs(s) for s in range(n))], "stage": "det(L o G)"}
    m = fst.EncodeMapper(LG.arc_type(), True, True)
    LG.encode(m)
    LG.minimize()
    LG.decode(m)
    LG.relabel_pairs(ipairs=[(V + k, 0) for k in range(ndis)])
    LG.rmepsilon()
    LG.connect()
    LG.arcsort("ilabel")
    note(f"LG: {LG.num_states()} states")
    # T as text (WeNet ctc_token_fst.py layout: state 0 blank, state t after token t)
    tl = ["0 0 1 0"]
    for t in range(1, V):
        tl += [f"0 {t} {t + 1} {t}", f"{t} {t} {t + 1} 0", f"{t} 0 1 0"]
        tl += [f"{t} {u} {u + 1} {u}" for u in range(1, V) if u != t]
    tl += [str(s) for s in range(V)]
    comp = fst.Compiler()
    comp.write("\n".join(tl) + "\n")
    T = comp.compile()
    T.arcsort("olabel")
    TLG = fst.compose(T, LG)
    TLG.connect()
    TLG.arcsort("ilabel")
    TLG.write(str(out / "TLG.fst"))
    note(f"TLG: {TLG.num_states()} states")
    src, dst, il, ol, w = [], [], [], [], []
    final = np.full(TLG.num_states(), np.inf, np.float32)
    for s in TLG.states():
        final[s] = float(TLG.final(s))
        for a in TLG.arcs(s):
            src.append(s)
            dst.append(a.nextstate)
            il.append(a.ilabel)
            ol.append(a.olabel)
            w.append(float(a.weight))
    torch.save(
        {
            "src": torch.tensor(src),
            "dst": torch.tensor(dst),
            "ilabel": torch.tensor(il),
            "olabel": torch.tensor(ol),
            "weight": torch.tensor(w, dtype=torch.float32),
            "final": torch.from_numpy(final),
            "start": TLG.start(),
        },
        out / "TLG.pt",
    )
    note("TLG.pt written (arc-by-arc walk)")
    return {"TLG": [TLG.num_states(), len(src)]}


def child(which: str, work: Path, arpa: Path, out: Path, timeout: float = 0.0) -> dict:
    """Run one pipeline in a child process; return its wall time, CPU time (user + sys), peak RSS and result.

    With ``timeout`` > 0 the child is stopped after that many wall-clock seconds and reported as unfinished."""
    import threading

    cmd = [
        sys.executable,
        __file__,
        "--work-dir",
        str(work),
        "--_child",
        which,
        "--_arpa",
        str(arpa),
        "--_out",
        str(out),
    ]
    t0 = time.time()
    gb = float(os.environ.get("GRAPH_BENCH_MEM_GB", "0"))

    def limit():
        if gb > 0:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (int(gb * 2**30), int(gb * 2**30)))

    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True, preexec_fn=limit)
    timer = None
    if timeout > 0:
        timer = threading.Timer(timeout, p.kill)
        timer.start()
    lines = []
    for line in p.stdout:
        print(line, end="", flush=True)
        lines.append(line)
    _, status, usage = os.wait4(p.pid, 0)
    if timer is not None:
        timer.cancel()
    wall = time.time() - t0
    cpu = usage.ru_utime + usage.ru_stime
    base = {"seconds": wall, "cpu": cpu, "peak_mb": usage.ru_maxrss / 1024}
    if status != 0:
        if (timeout > 0 and wall >= timeout) or gb > 0:
            why = (
                "timeout" if timeout > 0 and wall >= timeout else f"status {status} (memory limit {gb:g} GB?)"
            )
            log(f"{which}: stopped after {wall:.0f} s wall ({cpu:.0f} s CPU), unfinished: {why}")
            return {**base, "TLG": None}
        sys.exit(f"error: the {which} pipeline failed (status {status})")
    result = json.loads(lines[-1])
    return {**base, **result}


def check_same(work: Path, num: int, seed: int) -> None:
    """Both TLGs give the same cost to the same (CTC frames, words) pairs: corpus sentences, tokens framed as
    ``t t <blk>``; costs through each graph by composition and shortest distance (epsilons allowed)."""
    import math

    import pywrapfst as fst

    from asr.text.symbol_table import SymbolTable

    def linear(labels):
        f = fst.VectorFst()
        s = f.add_state()
        f.set_start(s)
        for x in labels:
            t = f.add_state()
            f.add_arc(s, fst.Arc(x, x, fst.Weight.one("tropical"), t))
            s = t
        f.set_final(s)
        return f

    def cost(g, frames, wids):
        c = fst.compose(fst.compose(linear(frames), g).arcsort("olabel"), linear(wids))
        if c.start() < 0:
            return math.inf
        d = fst.shortestdistance(c, reverse=True)
        return float(d[c.start()])

    graphs = {k: fst.Fst.read(str(work / f"graph_{k}" / "TLG.fst")) for k in ("ours", "peer")}
    words = SymbolTable.read(work / "graph_ours" / "words.txt")
    tokens = SymbolTable.read(work / "tokens.txt")
    lines = (work / "corpus.txt").read_text().splitlines()
    rng = random.Random(seed)
    worst, n = 0.0, 0
    for line in rng.sample(lines, num):
        ws = line.split()
        frames = [f for w in ws for c in w for f in (tokens.id(c) + 1, tokens.id(c) + 1, 1)]
        wids = [words.id(w) for w in ws]
        a, b = cost(graphs["ours"], frames, wids), cost(graphs["peer"], frames, wids)
        assert math.isfinite(a), line
        worst = max(worst, abs(a - b))
        n += 1
    log(f"check: {n} corpus sentences, largest |cost ours - cost peer| = {worst:.2e}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work-dir", type=Path, default=Path("/tmp/graph_bench"))
    ap.add_argument("--vocab", type=int, default=20000)
    ap.add_argument("--corpus-words", type=int, default=1_000_000)
    ap.add_argument("--order", type=int, default=4)
    ap.add_argument("--prune", nargs="*", default=[], help="lmplz --prune thresholds, e.g. 0 0 1 1")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--only", choices=["ours", "peer"], help="run one side only")
    ap.add_argument("--check", type=int, default=20, help="compare both TLGs on this many corpus sentences")
    ap.add_argument(
        "--timeout", type=float, default=0.0, help="stop a pipeline after this many wall seconds (0 = never)"
    )
    ap.add_argument(
        "--topo", default="ctc", choices=["ctc", "cif"], help="ours: topology (the peer builds ctc only)"
    )
    ap.add_argument(
        "--stage",
        choices=["all", "det"],
        default="all",
        help="det: stop both pipelines after det(L o G) (sizes printed are det(L o G)'s, not TLG's)",
    )
    ap.add_argument(
        "--mem-limit-gb",
        type=float,
        default=0.0,
        help="address-space limit of each pipeline's process (a shared machine must not run out of memory)",
    )
    ap.add_argument(
        "--det-method",
        default="auto",
        choices=["auto", "trie", "openfst"],
        help="ours: how det(L o G) is made",
    )
    ap.add_argument("--_child", help=argparse.SUPPRESS)
    ap.add_argument("--_arpa", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--_out", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args._child:
        fn = run_ours if args._child == "ours" else run_peer
        print(json.dumps(fn(args.work_dir, args._arpa, args._out)), flush=True)
        return
    os.environ["GRAPH_BENCH_DET_METHOD"] = args.det_method  # read by the child
    os.environ["GRAPH_BENCH_STAGE"] = args.stage
    os.environ["GRAPH_BENCH_TOPO"] = args.topo
    if args.topo != "ctc" and args.only != "ours":
        sys.exit("error: --topo cif needs --only ours (the peer pipeline builds the CTC topology)")
    os.environ["GRAPH_BENCH_MEM_GB"] = str(args.mem_limit_gb)
    arpa = prepare(args.work_dir, args.vocab, args.corpus_words, args.order, args.prune, args.seed)
    with open(arpa) as f:
        header = [
            line.strip() for line in itertools.islice(f, 1 + args.order + 1) if line.startswith("ngram")
        ]
    log(f"ARPA {arpa.name}: {', '.join(header)}; threads OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    res = {}
    for which in ("ours", "peer"):
        if args.only and which != args.only:
            continue
        log(f"running {which}")
        res[which] = child(which, args.work_dir, arpa, args.work_dir / f"graph_{which}", args.timeout)
        r = res[which]
        tlg = f"TLG {r['TLG'][0]} states {r['TLG'][1]} arcs" if r["TLG"] else "unfinished"
        log(f"{which}: {r['seconds']:.1f} s wall, {r['cpu']:.1f} s CPU, peak {r['peak_mb']:.0f} MB, {tlg}")
    print(f"\n{'':8}{'wall s':>10}{'CPU s':>10}{'peak MB':>10}{'TLG states':>12}{'TLG arcs':>12}")
    for k, r in res.items():
        st, arcs = r["TLG"] or ("unfinished", "")
        print(f"{k:8}{r['seconds']:10.1f}{r['cpu']:10.1f}{r['peak_mb']:10.0f}{st:>12}{arcs:>12}")
    if len(res) == 2:
        o, p = res["ours"], res["peer"]
        bound = "" if p["TLG"] else "   (peer unfinished: ratios are upper bounds)"
        print(
            f"{'ratio':8}{o['seconds'] / p['seconds']:10.2f}{o['cpu'] / p['cpu']:10.2f}"
            f"{o['peak_mb'] / p['peak_mb']:10.2f}   (ours / peer){bound}"
        )
    if args.check and all((args.work_dir / f"graph_{k}" / "TLG.fst").exists() for k in ("ours", "peer")):
        check_same(args.work_dir, args.check, args.seed)


if __name__ == "__main__":
    main()
