#!/usr/bin/env python3
"""Memory of a TLG decode on a real graph: kaldi-decoder's FasterDecoder vs our search, each in its own process.

Both decode the same posteriors (``cifst infer`` output, CTC frame rows) with the same beam, max-active and acoustic
scale, one utterance at a time for kaldi-decoder and in batches for us, on one thread. Each side runs in a fresh
subprocess so its peak is its own: the bench prints, per side, the seconds to load the graph and to decode, the peak
resident set (``VmHWM``: everything mapped in, including the pages of a memory-mapped graph file, which the kernel
can drop and re-read rather than run out of memory), the process's own memory after decoding (``RssAnon``: what
cannot be dropped), how many utterances got the same words, and the ratios ours / kaldi-decoder.

Example (the recipe's BPE-2000 CTC graph, 145M arcs):
  OMP_NUM_THREADS=1 .venv/bin/python tools/bench/decode_memory.py \\
      egs/synth_en/asr/exp/graph_lang_bpe2000_ctc_3gram \\
      egs/synth_en/asr/exp/final28/infer_test_seen_avg_2_ctc/posteriors.scp --acoustic-scale 3
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def status_mb() -> dict[str, float]:
    """``VmHWM``, ``VmRSS``, ``RssAnon``, ``RssFile`` of this process in MB."""
    out = {}
    with open("/proc/self/status", encoding="ascii") as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmHWM", "VmRSS", "RssAnon", "RssFile"):
                out[key] = int(value.split()[0]) / 1024
    return out


def load_posteriors(post_scp: str, num_utts: int) -> tuple[list[str], list]:
    import kaldiio

    keys, mats = [], []
    for key, mat in kaldiio.load_scp_sequential(post_scp):
        keys.append(key)
        mats.append(mat.astype("float32"))
        if len(keys) == num_utts:
            break
    return keys, mats


def side_result(load_s: float, after_load: dict, t0: float, c0: float, hyps: dict[str, str]) -> dict:
    """One side's figures, taken right after its decoding loop (``t0`` / ``c0``: wall / CPU clock at its start)."""
    return {
        "load_s": load_s,
        "decode_s": time.perf_counter() - t0,
        "decode_cpu_s": time.process_time() - c0,
        "after_load": after_load,
        "end": status_mb(),
        "hyps": hyps,
    }


def side_kaldi(args) -> dict:
    import kaldi_decoder
    import kaldifst

    from asr.text.symbol_table import SymbolTable

    words = SymbolTable.read(Path(args.graph) / "words.txt")
    keys, mats = load_posteriors(args.post, args.num_utts)
    t0 = time.perf_counter()
    g = kaldifst.StdVectorFst.read(str(Path(args.graph) / "TLG.fst"))
    opts = kaldi_decoder.FasterDecoderOptions(beam=args.beam, max_active=args.max_active)
    dec = kaldi_decoder.FasterDecoder(g, opts)
    load_s = time.perf_counter() - t0
    after_load = status_mb()
    hyps = {}
    t0, c0 = time.perf_counter(), time.process_time()
    for key, m in zip(keys, mats):
        dec.decode(kaldi_decoder.DecodableCtc(m * args.acoustic_scale))
        _, lat = dec.get_best_path()
        _, _, ols, _ = kaldifst.get_linear_symbol_sequence(lat)
        hyps[key] = " ".join(words[o] for o in ols)
    return side_result(load_s, after_load, t0, c0, hyps)


def side_ours(args) -> dict:
    import numpy as np
    import torch

    from decoding.search.beam import BeamSearchConfig, TlgBeamSearch
    from decoding.search.io import load_graph_dir

    keys, mats = load_posteriors(args.post, args.num_utts)
    t0 = time.perf_counter()
    graph, _, words = load_graph_dir(args.graph)
    cfg = BeamSearchConfig(beam=args.beam, max_active=args.max_active, acoustic_scale=args.acoustic_scale)
    search = TlgBeamSearch(graph, cfg)
    olabel = graph.olabel.numpy()
    load_s = time.perf_counter() - t0
    after_load = status_mb()
    hyps = {}
    order = sorted(range(len(mats)), key=lambda i: -len(mats[i]))
    V = mats[0].shape[1]
    t0, c0 = time.perf_counter(), time.process_time()
    for s in range(0, len(order), args.batch_size):
        idx = order[s : s + args.batch_size]
        x = np.zeros((len(idx), max(len(mats[i]) for i in idx), V), np.float32)
        for j, i in enumerate(idx):
            x[j, : len(mats[i])] = mats[i]
        res = search.search(torch.from_numpy(x), torch.tensor([len(mats[i]) for i in idx]))
        for j, i in enumerate(idx):
            best = res[j].best
            ol = olabel[best.arcs] if best is not None else np.zeros(0, np.int64)
            hyps[keys[i]] = " ".join(words[int(o)] for o in ol[ol > 0])
    return side_result(load_s, after_load, t0, c0, hyps)


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("graph", help="graph directory with TLG.fst (kaldi-decoder) and TLG.pt (ours)")
    ap.add_argument("post", help="posteriors.scp of CTC frame rows (log-posteriors)")
    ap.add_argument("--num-utts", type=int, default=300)
    ap.add_argument("--beam", type=float, default=12.0)
    ap.add_argument("--max-active", type=int, default=1000)
    ap.add_argument("--acoustic-scale", type=float, default=3.0)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--side", choices=["kaldi", "ours"], help=argparse.SUPPRESS)  # the child processes
    args = ap.parse_args()
    if args.side:
        out = side_kaldi(args) if args.side == "kaldi" else side_ours(args)
        out["peak"] = status_mb()["VmHWM"]
        json.dump(out, sys.stdout)
        return 0
    res = {}
    for side in ("kaldi", "ours"):
        cmd = [sys.executable, __file__, *sys.argv[1:], "--side", side]
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            print(proc.stderr, file=sys.stderr)
            print(f"{side}: failed with exit code {proc.returncode}", file=sys.stderr)
            return 1
        res[side] = json.loads(proc.stdout)
    k, o = res["kaldi"], res["ours"]
    same = sum(o["hyps"].get(key) == hyp for key, hyp in k["hyps"].items())
    print(
        f"{'decoder':<22} {'load s':>8} {'decode s':>9} {'CPU s':>7} {'peak RSS MB':>12} {'own MB (anon)':>14}"
    )
    for name, r in (("kaldi-decoder", k), ("ours", o)):
        print(
            f"{name:<22} {r['load_s']:8.1f} {r['decode_s']:9.1f} {r['decode_cpu_s']:7.1f} {r['peak']:12.0f} "
            f"{r['end']['RssAnon']:14.0f}"
        )
    print(
        f"ours / kaldi-decoder: peak RSS {o['peak'] / k['peak']:.2f}x, own memory "
        f"{o['end']['RssAnon'] / k['end']['RssAnon']:.2f}x, decode CPU {o['decode_cpu_s'] / k['decode_cpu_s']:.2f}x; "
        f"same words {same}/{len(k['hyps'])}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
