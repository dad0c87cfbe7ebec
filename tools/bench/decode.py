#!/usr/bin/env python3
"""Decoding benchmark: our batched TLG search (batch 1 and batch 64) vs kaldi-decoder's FasterDecoder, one thread.

Inputs made here, once (each stage skips what exists in ``--work-dir``):

1. text: the English fortunes corpus (``/usr/share/games/fortunes``, ~1M words), lower-cased, words ``[a-z']+``;
   the last 2,000 lines are held out for test sentences.
2. lexicon: the 20,000 most frequent words spelled with letters (tokens ``<blk>``, ``'``, ``a``..``z``).
3. ARPA: 3-gram by kenlm's ``lmplz -o 3 --limit_vocab_file`` (modified Kneser-Ney).
4. graph: ``cifst graph build --topo ctc`` (TLG.fst for kaldi-decoder, TLG.pt for us).
5. posteriors: 1,000 held-out sentences of in-vocabulary words turned into CTC-like frame posteriors (each letter
   1-2 frames, blanks between, Gaussian noise on the logits, ``--p-wrong`` of the frames peaked on a wrong letter),
   frame shift 40 ms, so the real-time factor counts 0.04 s of audio per row.

Then decodes all of them with the same beam / max-active / min-active: kaldi-decoder (C++, one utterance at a
time), ours with batch 1 and batch 64 on one thread, and prints seconds, real-time factor (decode time / audio
time), the ratio ours / kaldi, WER against the sentences, and how many utterances have the same words and cost as
kaldi-decoder.

Example:
  OMP_NUM_THREADS=1 nice -n 10 .venv/bin/python tools/bench/decode.py --num-utts 1000
"""

from __future__ import annotations

import argparse
import re
import resource
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from decoding.graph import load_graph  # noqa: E402
from decoding.search.beam import BeamSearchConfig, TlgBeamSearch  # noqa: E402

FORTUNES = Path("/usr/share/games/fortunes")
_WORD = re.compile(r"[a-z']+")
FRAME_SHIFT = 0.04


def peak_rss_mb() -> float:
    """Peak resident memory of this process so far (MB): it only grows, so read it after each side."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def prepare_text(work: Path) -> tuple[Path, Path]:
    train, test = work / "train.txt", work / "test.txt"
    if train.exists() and test.exists():
        return train, test
    lines = []
    for p in sorted(FORTUNES.iterdir()):
        if p.suffix in (".dat", ".u8") or p.is_dir() or p.name.startswith("chinese"):
            continue
        for raw in p.read_text(encoding="latin-1").splitlines():
            ws = _WORD.findall(raw.lower())
            ws = [w.strip("'") for w in ws if w.strip("'")]
            if ws:
                lines.append(" ".join(ws))
    train.write_text("\n".join(lines[:-2000]) + "\n")
    test.write_text("\n".join(lines[-2000:]) + "\n")
    log(f"corpus: {sum(len(x.split()) for x in lines)} words in {len(lines)} lines")
    return train, test


def prepare_lexicon(work: Path, train: Path, vocab_size: int) -> tuple[Path, Path, list[str]]:
    lex, tok, vocab_file = work / "lexicon.txt", work / "tokens.txt", work / "vocab.txt"
    letters = ["'", *"abcdefghijklmnopqrstuvwxyz"]
    if not lex.exists():
        counts = Counter(train.read_text().split())
        vocab = sorted(w for w, _ in counts.most_common(vocab_size))
        lex.write_text("".join(f"{w} {' '.join(w)}\n" for w in vocab))
        vocab_file.write_text("\n".join(vocab) + "\n")
        tok.write_text("".join(f"{t} {i}\n" for i, t in enumerate(["<blk>", *letters])))
    return lex, tok, ["<blk>", *letters]


def prepare_arpa(work: Path, train: Path, order: int) -> Path:
    arpa = work / f"lm{order}.arpa"
    if arpa.exists():
        return arpa
    lmplz = ROOT / "tools" / "kenlm" / "bin" / "lmplz"
    cmd = [
        str(lmplz),
        "-o",
        str(order),
        "-S",
        "1G",
        "-T",
        str(work),
        "--limit_vocab_file",
        str(work / "vocab.txt"),
        "--discount_fallback",
    ]
    log("lmplz: " + " ".join(cmd))
    with open(train, "rb") as fi, open(arpa.with_suffix(".tmp"), "wb") as fo:
        subprocess.run(cmd, stdin=fi, stdout=fo, stderr=subprocess.DEVNULL, check=True)
    arpa.with_suffix(".tmp").rename(arpa)
    return arpa


def prepare_graph(work: Path, tok: Path, lex: Path, arpa: Path) -> Path:
    g = work / "graph"
    if (g / "TLG.pt").exists():
        return g
    cmd = [
        str(ROOT / ".venv" / "bin" / "cifst"),
        "graph",
        "build",
        "--tokens",
        str(tok),
        "--lexicon",
        str(lex),
        "--arpa",
        str(arpa),
        "--topo",
        "ctc",
        "--oov",
        "skip",
        "--clean",
        str(g),
    ]
    log("graph: " + " ".join(cmd))
    subprocess.run(cmd, check=True)
    return g


def synth(
    tokens: list[int], vocab: int, rng: np.random.Generator, p_wrong: float, noise: float, peak: float
) -> np.ndarray:
    labels = [0] * int(rng.integers(1, 4))
    for i, t in enumerate(tokens):
        if i and tokens[i - 1] == t:
            labels.append(0)
        labels += [t] * int(rng.integers(1, 3))
        labels += [0] * int(rng.integers(0, 2))
    labels += [0] * int(rng.integers(1, 4))
    x = rng.normal(0, noise, (len(labels), vocab)).astype(np.float32)
    for r, lab in enumerate(labels):
        x[r, int(rng.integers(0, vocab)) if rng.random() < p_wrong else lab] += peak
    return (x - np.logaddexp.reduce(x, axis=1, keepdims=True)).astype(np.float32)


def make_set(test: Path, lex: Path, letters: list[str], n: int, args) -> tuple[list[str], list[np.ndarray]]:
    rng = np.random.default_rng(args.seed)
    vocab = {ln.split()[0] for ln in lex.read_text().splitlines()}
    sents = [s.split() for s in test.read_text().splitlines()]
    sents = [s for s in sents if 3 <= len(s) <= 20 and all(w in vocab for w in s)]
    if len(sents) < n:
        sents = sents * (n // max(1, len(sents)) + 1)
    idx = {c: i for i, c in enumerate(letters)}
    refs, mats = [], []
    for s in sents[:n]:
        ids = [idx[c] for c in "".join(s)]
        refs.append(" ".join(s))
        mats.append(synth(ids, len(letters), rng, args.p_wrong, args.noise, args.peak))
    return refs, mats


def wer(refs: list[str], hyps: list[str]) -> float:
    import kaldialign

    errs = sum(kaldialign.edit_distance(r.split(), h.split())["total"] for r, h in zip(refs, hyps))
    return 100.0 * errs / sum(len(r.split()) for r in refs)


def run_kaldi(graph_dir: Path, mats, words, args):
    import kaldi_decoder
    import kaldifst

    g = kaldifst.StdVectorFst.read(str(graph_dir / "TLG.fst"))
    dec = kaldi_decoder.FasterDecoder(
        g,
        kaldi_decoder.FasterDecoderOptions(
            beam=args.beam, max_active=args.max_active, min_active=args.min_active
        ),
    )
    hyps, costs = [], []
    t0, c0 = time.perf_counter(), time.process_time()
    for m in mats:
        d = kaldi_decoder.DecodableCtc(m)
        dec.decode(d)
        ok, lat = dec.get_best_path()
        ok, _, ols, w = kaldifst.get_linear_symbol_sequence(lat)
        hyps.append(" ".join(words[o] for o in ols))
        costs.append(float(w.value1) + float(w.value2))
    return (time.perf_counter() - t0, time.process_time() - c0), hyps, costs


def run_ours(graph, mats, words, args, batch_size: int):
    cfg = BeamSearchConfig(
        beam=args.beam, max_active=args.max_active, min_active=args.min_active, expand=args.expand
    )
    search = TlgBeamSearch(graph, cfg, args.device)
    log(f"ours: {search.expand_mode} expansion")
    olabel = graph.olabel.numpy()
    order = sorted(
        range(len(mats)), key=lambda i: -len(mats[i])
    )  # length-sorted batches, as cifst decode does
    hyps, costs = [""] * len(mats), [0.0] * len(mats)
    V = mats[0].shape[1]
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(0, len(order), batch_size):
        idx = order[s : s + batch_size]
        T = max(len(mats[i]) for i in idx)
        x = np.zeros((len(idx), T, V), np.float32)
        for j, i in enumerate(idx):
            x[j, : len(mats[i])] = mats[i]
        res = search.search(torch.from_numpy(x), torch.tensor([len(mats[i]) for i in idx]))
        for j, i in enumerate(idx):
            r = res[j].best
            ol = olabel[r.arcs]
            hyps[i] = " ".join(words[int(o)] for o in ol[ol > 0])
            costs[i] = r.cost
    return (time.perf_counter() - t0, time.process_time() - c0), hyps, costs


def run_prefix(mats, n: int, beam: int, batch_size: int) -> None:
    """Graph-less prefix beam search: the per-utterance Python reference vs the batched tensor version."""
    from decoding.search.nograph import prefix_beam_search, prefix_beam_search_batch

    sub = mats[:n]
    c0 = time.process_time()
    ref = [prefix_beam_search(m, beam=beam)[0] for m in sub]
    c_ref = time.process_time() - c0
    V = sub[0].shape[1]
    c0 = time.process_time()
    got = []
    for s in range(0, n, batch_size):
        part = sub[s : s + batch_size]
        x = np.zeros((len(part), max(len(m) for m in part), V), np.float32)
        for j, m in enumerate(part):
            x[j, : len(m)] = m
        got += [
            h[0]
            for h in prefix_beam_search_batch(torch.from_numpy(x), torch.tensor([len(m) for m in part]), beam)
        ]
    c_b = time.process_time() - c0
    same = sum(a.tokens == b.tokens and abs(a.score - b.score) < 1e-6 for a, b in zip(ref, got))
    print(
        f"prefix beam search (beam {beam}), {n} utts: per-utterance {c_ref:.2f} s CPU, batched (batch {batch_size}) "
        f"{c_b:.2f} s CPU, ratio {c_b / c_ref:.3f}; same best prefix and score on {same}/{n}"
    )


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--work-dir", default=str(ROOT / "bench_out" / "decode"))
    ap.add_argument("--num-utts", type=int, default=1000)
    ap.add_argument("--batch1-utts", type=int, default=0, help="utterances for the batch-1 run (0 = all)")
    ap.add_argument("--vocab-size", type=int, default=20000)
    ap.add_argument("--order", type=int, default=3)
    ap.add_argument("--beam", type=float, default=12.0)
    ap.add_argument("--max-active", type=int, default=2000)
    ap.add_argument("--min-active", type=int, default=20)
    ap.add_argument("--p-wrong", type=float, default=0.1)
    ap.add_argument("--noise", type=float, default=1.0)
    ap.add_argument("--peak", type=float, default=5.0)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--prefix-utts", type=int, default=0, help="also time the graph-less prefix beam search")
    ap.add_argument(
        "--expand", default="auto", choices=("auto", "label", "csr"), help="our stage-1 expansion"
    )
    ap.add_argument(
        "--no-malloc-tuning",
        action="store_true",
        help="keep glibc's default malloc (cifst decode tunes it; here it applies to both decoders, one process)",
    )
    args = ap.parse_args()
    if not args.no_malloc_tuning:
        from asr.malloc import tune_glibc_malloc

        log(f"glibc malloc tuning (as in cifst decode): {'on' if tune_glibc_malloc() else 'not available'}")
    torch.set_num_threads(args.threads)
    work = Path(args.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    train, test = prepare_text(work)
    lex, tok, letters = prepare_lexicon(work, train, args.vocab_size)
    arpa = prepare_arpa(work, train, args.order)
    gdir = prepare_graph(work, tok, lex, arpa)
    graph, _, words_table = load_graph(gdir)
    words = {i: s for s, i in words_table}
    log(
        f"graph: {graph.num_states} states, {graph.num_arcs} arcs; peak RSS {peak_rss_mb():.0f} MB after loading"
    )
    refs, mats = make_set(test, lex, letters, args.num_utts, args)
    audio = sum(len(m) for m in mats) * FRAME_SHIFT
    log(f"{len(mats)} utterances, {sum(len(m) for m in mats)} frames = {audio:.0f} s of audio")
    if args.prefix_utts:
        run_prefix(mats, args.prefix_utts, 10, 64)
    t_k, h_k, c_k = run_kaldi(gdir, mats, words, args)
    log(f"kaldi-decoder: {t_k[0]:.2f} s wall, {t_k[1]:.2f} s CPU, process peak RSS {peak_rss_mb():.0f} MB")
    rows = [("kaldi-decoder FasterDecoder", t_k, audio, h_k, c_k)]
    n1 = args.batch1_utts or len(mats)
    audio1 = sum(len(m) for m in mats[:n1]) * FRAME_SHIFT
    t_1, h_1, c_1 = run_ours(graph, mats[:n1], words, args, 1)
    log(f"ours batch 1: {t_1[0]:.2f} s wall, {t_1[1]:.2f} s CPU ({n1} utts), peak RSS {peak_rss_mb():.0f} MB")
    rows.append(("ours batch 1", t_1, audio1, h_1, c_1))
    t_64, h_64, c_64 = run_ours(graph, mats, words, args, 64)
    log(f"ours batch 64: {t_64[0]:.2f} s wall, {t_64[1]:.2f} s CPU, peak RSS {peak_rss_mb():.0f} MB")
    rows.append(("ours batch 64", t_64, audio, h_64, c_64))
    rtf_k = t_k[1] / audio
    print(
        f"\nbeam {args.beam}, max-active {args.max_active}, min-active {args.min_active}, "
        f"threads {args.threads}, device {args.device}; RTF = CPU seconds / audio seconds"
    )
    print(
        f"{'decoder':28s} {'utts':>5s} {'wall s':>8s} {'CPU s':>8s} {'RTF':>8s} {'RTF/kaldi':>9s} {'WER%':>6s} "
        f"{'same words+cost as kaldi':>24s} {'worse cost':>10s}"
    )
    for name, (wall, cpu), au, h, c in rows:
        n = len(h)
        tol = [1e-4 * max(1, abs(c_k[i])) for i in range(n)]
        same = sum(1 for i in range(n) if h[i] == h_k[i] and abs(c[i] - c_k[i]) <= tol[i])
        worse = sum(1 for i in range(n) if c[i] > c_k[i] + tol[i])
        print(
            f"{name:28s} {n:5d} {wall:8.2f} {cpu:8.2f} {cpu / au:8.4f} {cpu / au / rtf_k:9.2f} "
            f"{wer(refs[:n], h):6.2f} {same:10d}/{n:<6d} {worse:10d}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
