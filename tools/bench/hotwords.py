#!/usr/bin/env python3
"""Hotword biasing benchmarks: speed of the batched context graph and the biasing test (recall, false alarms,
biased/unbiased WER).

Subcommands (each prints what it measured; run from the repository root with ``.venv/bin/python``):

* ``speed``: the context-graph step, ours (one batched gather for all hypotheses) vs an icefall-style plain-Python
  automaton walked one hypothesis at a time (our :class:`ContextGraphRef`, the algorithm of icefall's
  ``context_graph.py``), as a ratio; and decode time through the search with 0, 10, 1,000 and 10,000 hotwords on
  synthetic posteriors.
* ``make-list REF_TEXT TRAIN_TEXT OUT``: the biasing list: true hotwords = words of the references that are rare in
  the training text (count <= ``--max-train-count``), plus ``--distractors`` rare words that are NOT in the
  references, drawn from the training/LM text and ``/usr/share/dict/words``; ``--scp`` also writes per-utterance
  lists (each utterance's own rare words + ``--per-utt-distractors`` drawn from the other utterances' rare words and
  the distractors).
* ``simulate REF_TEXT TRAIN_TEXT TOKENIZER_DIR OUT_DIR``: simulated CIF posteriors (one row per reference token):
  noisy one-hot rows whose competitors are similarly spelled tokens (a crude stand-in for acoustic confusions), a
  small error rate on common words, and the tokens of rare words corrupted (a confusable token ranked first) with
  probability ``--corrupt``. Only for when real posteriors do not exist yet: figures measured on
  them are labelled SIMULATED.
* ``eval REF_TEXT POSTERIORS_SCP --tokenizer DIR --hotwords FILE``: decode without and with the list (graph-less
  prefix beam search; ``--graph DIR`` adds the TLG search through ``cifst decode``), score with
  :mod:`asr.scoring.hotword_metrics`, print B-WER/U-WER/recall/precision/false-alarm rate and the targets (B-WER
  halved, U-WER +0.3 absolute at most, false alarms < 1% of hotword-free utterances); ``--sweep`` tries a grid of
  ``--hotword-score`` x ``--hotword-weight``.

Example:
  .venv/bin/python tools/bench/hotwords.py speed
  .venv/bin/python tools/bench/hotwords.py make-list data/test/text data/train/text exp/hw/hotwords.txt
"""

from __future__ import annotations

import argparse
import math
import random
import re
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.data.kaldi_dir import read_text, write_kv  # noqa: E402
from asr.scoring.hotword_metrics import hotword_metrics  # noqa: E402
from asr.scoring.score import process  # noqa: E402
from decoding.hotwords import ContextGraph, ContextGraphRef, HotwordConfig  # noqa: E402

DICT = Path("/usr/share/dict/words")
_WORD = re.compile(r"^[a-z][a-z']*$")


# ------------------------------------------------------------------------------------------------ speed


def _random_phrases(n: int, vocab: int, rng: random.Random) -> list[list[int]]:
    return [[rng.randrange(1, vocab) for _ in range(rng.randint(2, 6))] for _ in range(n)]


def _time(fn, repeat: int = 3) -> float:
    best = math.inf
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def _walk_ours(graph: ContextGraph, toks: torch.Tensor) -> None:
    state = torch.zeros(toks.shape[1], dtype=torch.int64)
    for k in range(toks.shape[0]):
        _, state = graph.step(state, toks[k])


def _walk_peer(ref: ContextGraphRef, streams: list[list[int]]) -> None:
    states = [ref.root] * len(streams)
    for k in range(len(streams[0])):
        states = [ref.forward_one_step(s, streams[i][k])[1] for i, s in enumerate(states)]


def bench_step(args) -> list[str]:
    """Context step: batched tensor graph vs the icefall-style per-hypothesis Python walk."""
    rng = random.Random(0)
    lines = [
        f"context step, {args.hyps} hypotheses x {args.steps} steps, V={args.vocab} (best of 5 for ours, 1 for peer)",
        "hotwords  states  layout  build_s  ours_s   icefall-style_s  ratio(peer/ours)",
    ]
    for n in (10, 1000, 10000):
        phrases = _random_phrases(n, args.vocab, rng)
        t0 = time.perf_counter()
        graph = ContextGraph.build(phrases, [0.0] * n, 1.5, args.vocab)
        t_build = time.perf_counter() - t0
        ref = ContextGraphRef(phrases, [0.0] * n, 1.5)
        # token streams that often follow hotwords, so matches and failures both happen
        streams = [[t for p in rng.sample(phrases, 8) for t in p][: args.steps] for _ in range(args.hyps)]
        streams = [s + [rng.randrange(1, args.vocab) for _ in range(args.steps - len(s))] for s in streams]
        toks = torch.tensor(streams, dtype=torch.int64).T.contiguous()
        t_ours = _time(lambda: _walk_ours(graph, toks), 5)  # noqa: B023 - called inside this iteration
        t_peer = _time(lambda: _walk_peer(ref, streams), 1)  # noqa: B023
        lines.append(
            f"{n:8d}  {graph.num_states:6d}  {graph.mode:6s}  {t_build:7.3f}  {t_ours:7.4f}  {t_peer:15.4f}  "
            f"{t_peer / t_ours:8.1f}"
        )
    return lines


def _synthetic_posteriors(b: int, t: int, v: int, gen: torch.Generator) -> torch.Tensor:
    logits = torch.randn(b, t, v, generator=gen) * 2.0
    logits[:, :, 0] -= 2.0
    return torch.log_softmax(logits, dim=-1)


def _batch(posts: dict[str, np.ndarray], n: int) -> tuple[torch.Tensor, torch.Tensor]:
    mats = [torch.tensor(m) for m in list(posts.values())[:n]]
    lens = torch.tensor([m.shape[0] for m in mats], dtype=torch.int64)
    out = torch.full((len(mats), int(lens.max()), mats[0].shape[1]), -1e4)
    for i, m in enumerate(mats):
        out[i, : m.shape[0]] = m
    return out, lens


def _word_lists(tokenizer, sizes, rng: random.Random) -> dict[int, ContextGraph]:
    """Context graphs of ``n`` random dictionary words the tokenizer can spell."""
    words = [w for w in _dict_words() if len(w) >= 3]
    rng.shuffle(words)
    phrases: list[list[int]] = []
    for w in words:
        if len(phrases) >= max(sizes):
            break
        try:
            phrases.append(tokenizer.encode(w, strict=True))
        except ValueError:
            continue
    v = int(tokenizer.symbols.max_id) + 1
    return {n: ContextGraph.build(phrases[:n], [0.0] * n, 1.5, v) for n in sizes}


def bench_decode(args) -> list[str]:
    """Decode time with 0/10/1,000/10,000 hotwords through the search (graph-less and TLG)."""
    try:
        from decoding.search.nograph import greedy_search, prefix_beam_search
    except ImportError:
        return ["decode timing skipped: decoding.search not available yet"]
    rng = random.Random(1)
    sizes = (10, 1000, 10000)
    if args.graph and args.posteriors and args.tokenizer:
        from asr.text.tokenizer import load_tokenizer

        posts, _ = _read_posteriors(args.posteriors)
        post, lens = _batch(posts, args.utts)
        graphs = _word_lists(load_tokenizer(args.tokenizer), sizes, rng)
        tlg = _tlg_search(args.graph, args.max_active)
        what = f"{len(lens)} utterances of {args.posteriors} ({int(lens.sum())} rows), TLG {args.graph}"
    else:
        gen = torch.Generator().manual_seed(0)
        post = _synthetic_posteriors(args.utts, args.rows, args.vocab, gen)
        lens = torch.full((args.utts,), args.rows, dtype=torch.int64)
        graphs = {
            n: ContextGraph.build(_random_phrases(n, args.vocab, rng), [0.0] * n, 1.5, args.vocab)
            for n in sizes
        }
        tlg = None  # a TLG needs matching posteriors: --graph --posteriors --tokenizer
        what = f"{args.utts} random utterances x {args.rows} CIF rows, V={args.vocab}, no TLG (give --graph)"
    lines = [
        f"decode: {what}; max-active {args.max_active}, prefix beam {args.beam}",
        "hotwords  layout  greedy_s  prefix_beam_s  tlg_s   (time relative to 0 hotwords)",
    ]
    base = None
    for n in (0, *sizes):
        ctx = graphs.get(n)
        tg = _time(lambda ctx=ctx: greedy_search(post, lens, row_type="cif", context=ctx))
        tp = _time(
            lambda ctx=ctx: [
                prefix_beam_search(post[i, : lens[i]].numpy(), beam=args.beam, row_type="cif", context=ctx)
                for i in range(len(lens))
            ],
            1,
        )
        tt = _time(lambda ctx=ctx: tlg(post, lens, ctx), 1) if tlg else float("nan")
        base = base or (tg, tp, tt)
        layout = ctx.mode if ctx is not None else "-"
        lines.append(
            f"{n:8d}  {layout:6s}  {tg:8.3f}  {tp:13.3f}  {tt:6.3f}   (x{tg / base[0]:.2f}, "
            f"x{tp / base[1]:.2f}, x{tt / base[2]:.2f})"
        )
    return lines


def _tlg_search(graph_dir: str, max_active: int):
    from decoding.graph import load_graph
    from decoding.search.beam import BeamSearchConfig, TlgBeamSearch

    graph, _, _ = load_graph(graph_dir)
    search = TlgBeamSearch(graph, BeamSearchConfig(beam=12.0, max_active=max_active, row_type="cif"))
    return lambda post, lens, ctx: search.search(post, lens, context=ctx)


def cmd_speed(args) -> int:
    torch.set_num_threads(1)
    lines = [] if args.skip_step else bench_step(args) + [""]
    for line in lines + bench_decode(args):
        print(line, flush=True)
    return 0


# ------------------------------------------------------------------------------------------------ lists


def _words(texts) -> Counter:
    c: Counter = Counter()
    for t in texts:
        c.update(t.split())
    return c


def make_lists(
    refs: dict[str, str],
    train_counts: Counter,
    max_train_count: int,
    n_distractors: int,
    extra_words: list[str],
    seed: int,
    tokenizer=None,
) -> tuple[list[str], list[str]]:
    """Return ``(true_hotwords, distractors)``.

    True hotwords: reference words (letters/apostrophes, 3+ characters) seen at most ``max_train_count`` times in the
    training text. Distractors: words of the same kind that do not occur in the references, from the training text's
    rare words first, then ``extra_words`` (e.g. /usr/share/dict/words), all tokenizable when a tokenizer is given.
    """
    rng = random.Random(seed)
    ref_counts = _words(refs.values())

    def ok(w: str) -> bool:
        if not _WORD.match(w) or len(w) < 3:
            return False
        if tokenizer is not None:
            try:
                tokenizer.encode(w, strict=True)
            except ValueError:
                return False
        return True

    true = sorted(w for w in ref_counts if train_counts.get(w, 0) <= max_train_count and ok(w))
    pool = sorted(w for w, c in train_counts.items() if c <= max(1, max_train_count) and w not in ref_counts)
    rng.shuffle(pool)
    extra = [w for w in extra_words if w not in ref_counts and w not in train_counts]
    rng.shuffle(extra)
    distractors: list[str] = []
    seen = set(true)
    for w in pool + extra:
        if len(distractors) >= n_distractors:
            break
        if w not in seen and ok(w):
            distractors.append(w)
            seen.add(w)
    return true, distractors


def _dict_words() -> list[str]:
    if not DICT.exists():
        return []
    return sorted(
        {
            w.strip().lower()
            for w in DICT.read_text(encoding="utf-8", errors="ignore").split()
            if _WORD.match(w.strip().lower())
        }
    )


def cmd_make_list(args) -> int:
    refs = read_text(args.ref)
    train = _words(read_text(args.train).values())
    tok = None
    if args.tokenizer:
        from asr.text.tokenizer import load_tokenizer

        tok = load_tokenizer(args.tokenizer)
    true, distractors = make_lists(
        refs, train, args.max_train_count, args.distractors, _dict_words(), args.seed, tok
    )
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    lines = (
        [f"# biasing list: {len(true)} rare reference words + {len(distractors)} distractors"]
        + true
        + distractors
    )
    out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with_hw = sum(1 for t in refs.values() if set(t.split()) & set(true))
    print(
        f"{out}: {len(true)} true hotwords (in {with_hw}/{len(refs)} utterances), {len(distractors)} distractors"
    )
    if args.scp:
        rng = random.Random(args.seed + 1)
        lists_dir = Path(args.scp).parent / "hotword_lists"
        lists_dir.mkdir(parents=True, exist_ok=True)
        true_set = set(true)
        pool = true + distractors  # other utterances' rare words are the hardest distractors
        entries = {}
        for key, text in refs.items():
            own = sorted({w for w in text.split() if w in true_set})
            others = [w for w in pool if w not in own]
            lst = own + rng.sample(others, min(args.per_utt_distractors, len(others)))
            p = lists_dir / f"{key}.txt"
            p.write_text("\n".join(lst) + "\n", encoding="utf-8")
            entries[key] = str(p)
        write_kv(args.scp, entries)
        print(f"{args.scp}: per-utterance lists in {lists_dir}")
    return 0


# ------------------------------------------------------------------------------------------------ simulate


def simulate(refs: dict[str, str], rare: set[str], tokenizer, corrupt: float, common_error: float, seed: int):
    """Yield ``(key, logpost float32 [U, V])`` of simulated CIF rows (see the module docstring)."""
    rng = np.random.default_rng(seed)
    v = int(tokenizer.symbols.max_id) + 1
    specials = {i for s in ("<blk>", "<sos/eos>", "<unk>") if (i := tokenizer.symbols.get(s)) is not None}
    starts = np.array([i not in specials and tokenizer.is_word_start(i) for i in range(v)])
    normal = np.array([i not in specials for i in range(v)])
    by_kind = {True: np.nonzero(starts & normal)[0], False: np.nonzero(~starts & normal)[0]}
    similar = _similar_tokens(tokenizer, by_kind, k=6)
    for key, text in refs.items():
        rows = []
        for word in text.split():
            ids = tokenizer.encode(word)
            is_rare = word in rare
            for tid in ids:
                p = np.full(v, 1e-4)
                conf = rng.choice(similar[tid], size=3, replace=False)
                if is_rare and rng.random() < corrupt:
                    p[conf[0]] = rng.uniform(0.4, 0.6)
                    p[tid] = rng.uniform(0.15, 0.35)
                elif rng.random() < common_error:
                    p[conf[0]] = rng.uniform(0.45, 0.7)
                    p[tid] = rng.uniform(0.1, 0.3)
                else:
                    p[tid] = rng.uniform(0.6, 0.95)
                    p[conf[0]] = rng.uniform(0.0, 1 - p[tid]) * 0.6
                p[conf[1:]] += rng.uniform(0.0, 0.05, size=2)
                p[0] = 0.01
                rows.append(np.log(p / p.sum()))
        yield key, np.asarray(rows if rows else np.zeros((0, v)), dtype=np.float32)


def _similar_tokens(tokenizer, by_kind: dict[bool, np.ndarray], k: int) -> dict[int, np.ndarray]:
    """For each token, the ``k`` most similarly spelled tokens of the same kind (word-initial or not): the
    simulated acoustic confusions."""
    from difflib import SequenceMatcher

    out = {}
    for ids in by_kind.values():
        syms = [tokenizer.symbols[int(i)].lstrip("\u2581") or "_" for i in ids]
        for a, sa in zip(ids, syms):
            scores = [(SequenceMatcher(None, sa, sb).ratio(), int(b)) for b, sb in zip(ids, syms) if b != a]
            scores.sort(reverse=True)
            out[int(a)] = np.array([b for _, b in scores[:k]] or [int(a)])
    return out


def cmd_simulate(args) -> int:
    import kaldiio

    from asr.text.tokenizer import load_tokenizer

    refs = read_text(args.ref)
    train = _words(read_text(args.train).values())
    rare = {w for w in _words(refs.values()) if train.get(w, 0) <= args.max_train_count}
    tok = load_tokenizer(args.tokenizer)
    out = Path(args.out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with kaldiio.WriteHelper(f"ark,scp:{out / 'posteriors.ark'},{out / 'posteriors.scp'}") as w:
        for key, mat in simulate(refs, rare, tok, args.corrupt, args.common_error, args.seed):
            w(key, mat)
    (out / "post.yaml").write_text(
        f"tokens: {Path(args.tokenizer).resolve() / 'tokens.txt'}\nrow_type: cif\nframe_shift: 0.06\n"
        "simulated: true\n",
        encoding="utf-8",
    )
    print(
        f"{out}: SIMULATED posteriors for {len(refs)} utterances ({len(rare)} rare words corrupted with "
        f"p={args.corrupt})"
    )
    return 0


# ------------------------------------------------------------------------------------------------ eval


def _read_posteriors(scp: str) -> tuple[dict[str, np.ndarray], str]:
    import kaldiio
    import yaml

    posts = {k: np.asarray(m, dtype=np.float32) for k, m in kaldiio.load_scp(scp).items()}
    meta = Path(scp).parent / "post.yaml"
    row_type = "cif"
    if meta.exists():
        row_type = (yaml.safe_load(meta.read_text()) or {}).get("row_type", "cif")
    return posts, row_type


class RowGatedContext:
    """Passes each token's log-posterior to ``ContextGraph.step`` for the acoustic gate, for a search that does not
    pass it yet: ``prefix_beam_search`` steps the context exactly once per row (all extensions of that row in one
    call), so the row is known by counting calls. Emulates the proposed search change (``token_logp=row[c]``);
    checked by :meth:`check` (calls must equal rows).
    """

    relative = False  # pass log(p(token) / p(best token of the row)) instead of log p(token)

    def __init__(self, graph, logprobs: np.ndarray):
        lp = torch.tensor(np.asarray(logprobs, dtype=np.float32))
        if self.relative:
            lp = lp - lp.max(dim=1, keepdim=True).values
        self.graph, self.lp, self.row = graph, lp, 0

    def step(self, state, token, token_logp=None):  # the searches now pass token_logp; this recomputes it
        logp = self.lp[self.row, token]
        self.row += 1
        return self.graph.step(state, token, token_logp=logp)

    @property
    def num_states(self) -> int:
        return self.graph.num_states

    def to(self, device):
        self.graph = self.graph.to(device)
        return self

    def finalize(self, state):
        return self.graph.finalize(state)

    def pending(self, state):
        return self.graph.pending(state)

    def check(self) -> None:
        if self.row != self.lp.shape[0]:
            raise RuntimeError(f"context stepped {self.row} times for {self.lp.shape[0]} rows")


def decode_nograph(posts, row_type, tokenizer, ctx, beam: int) -> dict[str, str]:
    """Graph-less prefix beam search of every utterance, with an optional ``UttContexts`` (gated through
    :class:`RowGatedContext` when its graph has a ``gate_logp``)."""
    from decoding.search.nograph import prefix_beam_search

    out = {}
    for key, lp in posts.items():
        graph = ctx.graph if ctx else None
        gated = graph is not None and graph.gate_logp is not None
        if gated:
            graph = RowGatedContext(graph, lp)
        start = int(ctx.start_states([key])[0]) if ctx else 0
        hyps = prefix_beam_search(lp, beam=beam, row_type=row_type, context=graph, context_start=start)
        if gated:
            graph.check()
        out[key] = tokenizer.decode(list(hyps[0].tokens)) if hyps else ""
    return out


def decode_tlg_gated(
    graph_dir, posts, row_type, ctx, beam: float = 16.0, max_active: int = 7000, acoustic_scale: float = 1.0
) -> dict[str, str]:
    """TLG search in-process, one utterance at a time, so :class:`RowGatedContext` can pass each token's
    log-posterior to the gate (the search steps the context once per row). Emulates the proposed search change."""
    from decoding.graph import load_graph
    from decoding.search.beam import BeamSearchConfig, TlgBeamSearch

    graph, _, words = load_graph(graph_dir)
    search = TlgBeamSearch(
        graph,
        BeamSearchConfig(beam=beam, max_active=max_active, row_type=row_type, acoustic_scale=acoustic_scale),
    )
    olabel = graph.olabel.cpu().numpy()
    out = {}
    for key, lp in posts.items():
        x = torch.tensor(np.asarray(lp, dtype=np.float32))[None]
        lens = torch.tensor([lp.shape[0]])
        context, start = None, None
        if ctx is not None:
            context = RowGatedContext(ctx.graph, lp) if ctx.graph.gate_logp is not None else ctx.graph
            start = ctx.start_states([key], "cpu")
        res = search.search(x, lens, context, start)[0]
        if isinstance(context, RowGatedContext):
            context.check()
        ol = olabel[res.best.arcs] if res.best is not None else np.zeros(0, np.int64)
        out[key] = " ".join(words[int(w)] for w in ol[ol > 0])
    return out


def decode_tlg(graph_dir, scp, out_dir, extra: list[str]) -> dict[str, str]:
    """Decode through ``cifst decode`` (the TLG search) into a fresh ``out_dir`` and read its ``text``."""
    import shutil

    shutil.rmtree(out_dir, ignore_errors=True)
    cmd = [sys.executable, "-m", "asr.cli", "decode", str(graph_dir), str(scp), str(out_dir), *extra]
    subprocess.run(cmd, check=True, cwd=ROOT)
    return read_text(Path(out_dir) / "text")


def _row(name, refs, hyps, hotwords) -> tuple[str, dict]:
    m = hotword_metrics(refs, hyps, hotwords)
    wer = process(refs, hyps).error_rate
    d = {
        "wer": wer,
        "bwer": m.biased_wer,
        "uwer": m.unbiased_wer,
        "recall": m.recall,
        "precision": m.precision,
        "fa": m.false_alarm_rate,
        "fa_n": m.false_alarm_utts,
        "fa_d": m.utts_without_hotword,
    }
    line = (
        f"{name:32s} {100 * wer:6.2f} {100 * m.biased_wer:7.2f} {100 * m.unbiased_wer:7.2f} "
        f"{100 * m.recall:7.2f} {100 * m.precision:8.2f} {100 * m.false_alarm_rate:6.2f} "
        f"({m.false_alarm_utts}/{m.utts_without_hotword})"
    )
    return line, d


def _verdict(base: dict, biased: dict) -> str:
    halved = biased["bwer"] <= base["bwer"] / 2
    uwer_ok = biased["uwer"] - base["uwer"] <= 0.003
    fa_ok = biased["fa"] < 0.01
    return (
        f"targets: B-WER halved {'yes' if halved else 'NO'} ({100 * base['bwer']:.2f} -> "
        f"{100 * biased['bwer']:.2f}); U-WER +{100 * (biased['uwer'] - base['uwer']):.2f} abs "
        f"{'<= 0.3 yes' if uwer_ok else '> 0.3 NO'}; false alarms {100 * biased['fa']:.2f}% "
        f"{'< 1% yes' if fa_ok else '>= 1% NO'}"
    )


def cmd_eval(args) -> int:
    from asr.text.tokenizer import load_tokenizer
    from decoding.hotwords import load_context, load_context_scp
    from decoding.hotwords.load import UttContexts
    from decoding.hotwords.parse import parse_hotwords

    refs = read_text(args.ref)
    tok = load_tokenizer(args.tokenizer)
    posts, row_type = _read_posteriors(args.posteriors)
    refs = {k: v for k, v in refs.items() if k in posts}
    hotwords = [h.phrase for h in parse_hotwords(args.hotwords)]
    label = (
        "SIMULATED posteriors"
        if "simulated" in (Path(args.posteriors).parent / "post.yaml").read_text(errors="ignore")
        else "posteriors"
    )
    print(f"{label}: {args.posteriors}, {len(refs)} utterances, {len(hotwords)} hotwords ({args.hotwords})")
    print(
        f"{'system':32s} {'WER':>6s} {'B-WER':>7s} {'U-WER':>7s} {'recall':>7s} {'precis.':>8s} {'FA%':>6s}"
    )
    torch.set_num_threads(1)
    RowGatedContext.relative = args.gate_relative

    def ctx_for(score, weight, gate=args.hotword_gate):
        cfg = HotwordConfig(
            score=score, weight=weight, gate=gate, word_end=not args.no_word_end, skip_bad=True
        )
        if args.scp:
            return load_context_scp(args.scp, tok, config=cfg)
        return UttContexts(load_context(args.hotwords, tok, config=cfg), {}, 0)

    line, base = _row(
        "prefix-beam, no hotwords", refs, decode_nograph(posts, row_type, tok, None, args.beam), hotwords
    )
    print(line)
    grid = (
        [(s, w, g) for g in args.gates for s in args.scores for w in args.weights]
        if args.sweep
        else [(args.hotword_score, args.hotword_weight, args.hotword_gate)]
    )
    if not args.skip_graphless:
        _sweep(
            "prefix-beam",
            lambda c: decode_nograph(posts, row_type, tok, c, args.beam),
            grid,
            ctx_for,
            refs,
            hotwords,
            base,
        )
    if args.graph:
        vocab = {
            line.split()[0] for line in open(Path(args.graph) / "words.txt", encoding="utf-8") if line.strip()
        }
        in_refs = sorted(
            {w for h in hotwords for w in h.split()} & {w for t in refs.values() for w in t.split()}
        )
        print(
            f"TLG vocabulary holds {sum(w in vocab for w in in_refs)} of the {len(in_refs)} hotword words that occur "
            "in the references (a TLG cannot output the others)"
        )
        out = Path(args.work_dir)
        line, tbase = _row(
            "TLG, no hotwords", refs, decode_tlg(args.graph, args.posteriors, out / "tlg", []), hotwords
        )
        print(line)
        extra = [
            "--hotwords",
            args.hotwords,
            "--hotword-score",
            str(args.hotword_score),
            "--hotword-weight",
            str(args.hotword_weight),
            "--tokenizer",
            args.tokenizer,
        ]
        line, d = _row(
            "TLG + hotwords", refs, decode_tlg(args.graph, args.posteriors, out / "tlg_hw", extra), hotwords
        )
        print(line)
        print(_verdict(tbase, d))
        if args.sweep or args.hotword_gate is not None:
            print(
                "TLG in-process, one utterance at a time (the gate gets each token's log-posterior):",
                flush=True,
            )
            _sweep(
                "TLG",
                lambda c: decode_tlg_gated(args.graph, posts, row_type, c, max_active=args.max_active),
                grid,
                ctx_for,
                refs,
                hotwords,
                tbase,
            )
    return 0


def _sweep(name, decode, grid, ctx_for, refs, hotwords, base) -> None:
    """Decode and score every (score, weight, gate) of ``grid``; name the best setting within the targets."""
    results = []
    for s, w, g in grid:
        t0 = time.process_time()
        hyps = decode(ctx_for(s, w, g))
        cpu = time.process_time() - t0
        gname = "-" if g is None else f"{g:g}"
        line, d = _row(f"{name} +hw s={s:g} w={w:g} g={gname}", refs, hyps, hotwords)
        print(f"{line}  cpu {cpu:.1f}s", flush=True)
        results.append((s, w, g, d))
        if len(grid) == 1:
            print(_verdict(base, d))
    if len(grid) > 1:
        ok = [r for r in results if r[3]["uwer"] - base["uwer"] <= 0.003 and r[3]["fa"] < 0.01]
        if ok:
            s, w, g, d = min(ok, key=lambda r: r[3]["bwer"])
            print(
                f"{name}: best within the U-WER and false-alarm targets: s={s:g} w={w:g} g={g}: {_verdict(base, d)}"
            )
        else:
            print(f"{name}: no setting of the grid meets the U-WER and false-alarm targets")


def _floats(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x]


def _gates(text: str) -> list[float | None]:
    return [None if x.lower() in ("none", "-") else float(x) for x in text.split(",") if x]


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("speed", help="context step and decode timing with 10 / 1,000 / 10,000 hotwords")
    s.add_argument("--vocab", type=int, default=500)
    s.add_argument("--hyps", type=int, default=2000, help="hypotheses advanced per step")
    s.add_argument("--steps", type=int, default=30)
    s.add_argument("--utts", type=int, default=16)
    s.add_argument("--rows", type=int, default=30)
    s.add_argument("--beam", type=int, default=8, help="prefix beam")
    s.add_argument("--max-active", type=int, default=1000, help="TLG search max-active")
    s.add_argument("--graph", help="real TLG graph dir (with --posteriors and --tokenizer)")
    s.add_argument("--posteriors", help="posteriors.scp matching the graph's tokens")
    s.add_argument("--tokenizer", help="tokenizer dir: lists are random dictionary words it can spell")
    s.add_argument("--skip-step", action="store_true", help="only the decode timing")
    s.set_defaults(func=cmd_speed)
    m = sub.add_parser("make-list", help="true hotwords + distractors")
    m.add_argument("ref")
    m.add_argument("train")
    m.add_argument("out")
    m.add_argument("--distractors", type=int, default=500)
    m.add_argument("--max-train-count", type=int, default=0)
    m.add_argument("--tokenizer", help="drop words this tokenizer cannot spell")
    m.add_argument("--scp", help="also write per-utterance lists and this scp")
    m.add_argument("--per-utt-distractors", type=int, default=100)
    m.add_argument("--seed", type=int, default=0)
    m.set_defaults(func=cmd_make_list)
    si = sub.add_parser("simulate", help="SIMULATED CIF posteriors with rare words corrupted")
    si.add_argument("ref")
    si.add_argument("train")
    si.add_argument("tokenizer")
    si.add_argument("out_dir")
    si.add_argument("--max-train-count", type=int, default=0)
    si.add_argument("--corrupt", type=float, default=0.6)
    si.add_argument("--common-error", type=float, default=0.03)
    si.add_argument("--seed", type=int, default=0)
    si.set_defaults(func=cmd_simulate)
    e = sub.add_parser("eval", help="decode without/with hotwords and score")
    e.add_argument("ref")
    e.add_argument("posteriors")
    e.add_argument("--tokenizer", required=True)
    e.add_argument("--hotwords", required=True)
    e.add_argument("--scp", help="per-utterance hotword lists instead of the one list")
    e.add_argument("--graph", help="also decode through the TLG search (cifst decode GRAPH_DIR)")
    e.add_argument("--work-dir", default="exp/bench_hotwords")
    e.add_argument("--beam", type=int, default=8)
    e.add_argument("--hotword-score", type=float, default=HotwordConfig.score)
    e.add_argument("--hotword-weight", type=float, default=HotwordConfig.weight)
    e.add_argument("--skip-graphless", action="store_true", help="only the TLG decodes")
    e.add_argument(
        "--max-active",
        type=int,
        default=7000,
        help="TLG max-active of the in-process sweep (cifst decode default)",
    )
    e.add_argument(
        "--hotword-gate", type=float, default=HotwordConfig.gate, help="acoustic gate (log-posterior)"
    )
    e.add_argument(
        "--gate-relative",
        action="store_true",
        help="gate on log(p(token) / p(row's best)) instead of log p(token)",
    )
    e.add_argument("--no-word-end", action="store_true", help="pay completions at once (no word-end check)")
    e.add_argument("--sweep", action="store_true", help="grid over --scores x --weights x --gates")
    e.add_argument(
        "--scores", type=_floats, default=[0.5, 1.0, 1.5, 2.0, 3.0], help="sweep: per-token bonuses"
    )
    e.add_argument(
        "--weights", type=_floats, default=[0.0, 1.0, 2.0, 4.0], help="sweep: whole-phrase weights"
    )
    e.add_argument("--gates", type=_gates, default=[None], help="sweep: gates, e.g. none,-6,-3")
    e.set_defaults(func=cmd_eval)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
