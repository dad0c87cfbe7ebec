#!/usr/bin/env python3
"""Hotword biasing on a REAL model: a synthetic biasing test set (rare names and terms spoken by the recipe's
training voices) + a model dir -> ``cifst infer`` posteriors -> graph-less and TLG decoding with and without the
hotword list -> hotword metrics (recall, precision, false alarms, B-WER/U-WER), optionally swept over the bonus.

Subcommands (run from the repository root with ``nice -n 19 .venv/bin/python``):

* ``make-set DATA_DIR``: the biasing test set as a Kaldi data dir (default ``egs/synth_en/asr/data/bias_test``).
  Sentences are carrier templates of common training words with one slot; ``--hotword-utts`` of them carry a rare
  word (a name or term from ``/usr/share/dict/words`` that the CMU dictionary knows and the recipe's training and
  LM text never contain), ``--plain-utts`` carry a common word (the false-alarm set). Voices: the recipe's seen
  (training) voices from ``data/local/voices.tsv``. Audio is made by the recipe's own synthesis code
  (:func:`asr.data.synth.engines.synthesize`, :func:`asr.data.synth.augment.render_wav`). Also writes
  ``hotwords.txt`` (the true rare words + ``--distractors`` rare words the set never says, same kind and source)
  and ``hotwords_true.txt``.
* ``run EXP_DIR``: the whole evaluation from a model dir: infer (skipped when the posteriors of the same checkpoint
  exist), the graph-less prefix beam search without/with the list (and, with ``--sweep``, a grid of
  ``--hotword-score`` x ``--hotword-weight`` x acoustic gate), the TLG search through ``cifst decode`` when
  ``--graph`` is given, and the targets (biased WER halved, unbiased WER up <= 0.3 absolute, false alarms < 1% of
  hotword-free utterances). Options not listed here go to ``tools/bench/hotwords.py eval`` (``--sweep``,
  ``--scores 0.5,1,2``, ``--weights 0,2``, ``--gates none,-6,-3``, ``--hotword-score``, ``--hotword-gate``,
  ``--no-word-end``).

Reference: the contextual-biasing evaluation of Le et al., "Contextualized streaming end-to-end speech recognition
with trie-based deep biasing and shallow fusion" (Interspeech 2021): rare words + distractor lists, B-WER/U-WER.

Example:
  nice -n 19 .venv/bin/python tools/bench/hotwords_real.py make-set egs/synth_en/asr/data/bias_test
  OMP_NUM_THREADS=1 nice -n 19 .venv/bin/python tools/bench/hotwords_real.py run egs/synth_en/asr/exp/tiny \\
      --checkpoint avg_5.pt --sweep
"""

from __future__ import annotations

import argparse
import multiprocessing
import random
import re
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools" / "bench"))

RECIPE = ROOT / "egs" / "synth_en" / "asr"
DICT = Path("/usr/share/dict/words")

# Carrier sentences of words common in the training text; {} is the slot. Names and terms get their own, so a
# sentence reads naturally either way.
NAME_TEMPLATES = [
    "please send the letter to {} before friday",
    "i think {} will be here in the morning",
    "we talked with {} for an hour last night",
    "the man who called was {} and he was angry",
    "have you ever met {} at the office",
    "nobody knew that {} had left the city",
    "tell {} that the meeting is over",
    "my old friend {} wrote me a long letter",
    "the book was written by {} many years ago",
    "they gave the money to {} and went home",
    "when {} came back the house was empty",
    "she said that {} was the best man for the job",
]
TERM_TEMPLATES = [
    "the word {} is not in my book",
    "he wrote a long paper about {} last year",
    "we need more {} before the end of the day",
    "nobody here knows what {} means",
    "the old man told us about {} and the war",
    "i have never seen {} in my life",
    "they spent the whole night talking about {}",
    "do you know anything about {}",
]
PLAIN_FILLERS = {
    "name": [
        "my friend",
        "the doctor",
        "his father",
        "the teacher",
        "your brother",
        "the old man",
        "her mother",
    ],
    "term": ["money", "love", "the house", "the weather", "life", "the truth", "the law", "work"],
}


# ------------------------------------------------------------------------------------------------ make-set


def _corpus_words(paths: list[Path]) -> set[str]:
    words: set[str] = set()
    for p in paths:
        if p.exists():
            for line in p.read_text(encoding="utf-8").splitlines():
                fields = line.split()
                words.update(fields[1:] if p.name == "text" else fields)
    return words


def rare_candidates(known: set[str], cmu: dict, rng: random.Random) -> dict[str, list[str]]:
    """``{"name": [...], "term": [...]}``: dictionary entries the corpus never says, lower-cased, shuffled.

    Names: capitalized entries of 5-9 letters; terms: lower-case entries of 7-12 letters. Both must be in the CMU
    dictionary (the voices and the lexicon pronounce them like people do) and absent from ``known``.
    """
    names, terms = set(), set()
    for w in DICT.read_text(encoding="utf-8", errors="ignore").split():
        low = w.lower()
        if low in known or low not in cmu:
            continue
        if re.fullmatch(r"[A-Z][a-z]{4,8}", w):
            names.add(low)
        elif re.fullmatch(r"[a-z]{7,12}", w):
            terms.add(low)
    terms -= names
    out = {"name": sorted(names), "term": sorted(terms)}
    for v in out.values():
        rng.shuffle(v)
    return out


def _voices(voices_tsv: Path):
    from asr.data.synth.voices import Voice

    lines = voices_tsv.read_text(encoding="utf-8").splitlines()
    head = lines[0].split("\t")
    out = []
    for line in lines[1:]:
        row = dict(zip(head, line.split("\t")))
        if row.get("side") == "seen" and row.get("used", "1") != "0":
            out.append(
                Voice(row["engine"], row["name"], row["identity"], int(row["pitch"]), float(row["rate"]))
            )
    return out


def _synth_one(item):
    from asr.data.synth.augment import Augmentation, render_wav
    from asr.data.synth.engines import synthesize
    from asr.errors import CifstError

    key, voice, words, wav = item
    try:
        syn = synthesize(voice, words + ".", len(words.split()))
        dur = render_wav(syn.audio, syn.sample_rate, wav, Augmentation(), 0)
    except CifstError as e:
        return key, None, str(e)
    return key, dur, None


def cmd_make_set(args) -> int:
    from tqdm import tqdm

    from asr.data.kaldi_dir import utt2spk_to_spk2utt, write_kv, write_spk2utt
    from asr.data.synth.lexicon import cmu_dictionary

    rng = random.Random(args.seed)
    out = Path(args.data_dir)
    data = Path(args.corpus)
    known = _corpus_words([data / s / "text" for s in ("train", "dev", "test_seen", "test_unseen")])
    if not (data / "train" / "text").exists():
        raise SystemExit(f"{data / 'train' / 'text'} does not exist: --corpus must be the recipe's data dir")
    known |= _corpus_words([data / "local" / "lm_text"])
    cand = rare_candidates(known, cmu_dictionary(), rng)
    n_true = args.hotword_utts * 2 // 3  # some hotwords are said twice, by different voices
    kinds = ["name"] * (n_true * 2 // 3) + ["term"] * (n_true - n_true * 2 // 3)
    true = {"name": cand["name"][: kinds.count("name")], "term": cand["term"][: kinds.count("term")]}
    said = [(k, w) for k in ("name", "term") for w in true[k]]
    said += rng.sample(said, args.hotword_utts - len(said))
    rng.shuffle(said)
    voices = _voices(Path(args.voices or data / "local" / "voices.tsv"))
    if not voices:
        raise SystemExit(f"{args.voices}: no seen voices (run the recipe's stage 0 first)")
    plan = []  # (kind, text, has_hotword)
    for kind, w in said:
        plan.append((rng.choice(NAME_TEMPLATES if kind == "name" else TERM_TEMPLATES).format(w), True))
    for _ in range(args.plain_utts):
        kind = rng.choice(("name", "term"))
        tpl = rng.choice(NAME_TEMPLATES if kind == "name" else TERM_TEMPLATES)
        plan.append((tpl.format(rng.choice(PLAIN_FILLERS[kind])), False))
    unknown = sorted({w for text, hw in plan if not hw for w in text.split()} - known)
    if unknown:
        print(f"note: carrier words not in the training text: {' '.join(unknown)}", file=sys.stderr)
    wav_dir = (Path(args.wav_dir) if args.wav_dir else out.parent / "wav" / out.name).resolve()
    items = []
    for i, (text, _) in enumerate(plan):
        v = voices[i % len(voices)] if i < len(voices) else rng.choice(voices)
        key = f"{v.speaker_id}-bt{i:05d}"
        items.append((key, v, text, str(wav_dir / v.speaker_id / f"{key}.wav")))
    ctx = multiprocessing.get_context("fork")
    results = {}
    with ctx.Pool(args.jobs) as pool:
        for key, dur, err in tqdm(
            pool.imap_unordered(_synth_one, items), total=len(items), desc="synth", unit="utt"
        ):
            results[key] = (dur, err)
    bad = {k: e for k, (d, e) in results.items() if e}
    for k, e in list(bad.items())[:5]:
        print(f"warning: {k}: {e}", file=sys.stderr)
    ok = [it for it in items if it[0] not in bad]
    out.mkdir(parents=True, exist_ok=True)
    write_kv(out / "wav.scp", {k: wav for k, _, _, wav in ok})
    write_kv(out / "text", {k: text for k, _, text, _ in ok})
    utt2spk = {k: v.speaker_id for k, v, _, _ in ok}
    write_kv(out / "utt2spk", utt2spk)
    write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(out / "utt2dur", {k: f"{results[k][0]:.3f}" for k, _, _, _ in ok})
    true_words = sorted({w for _, w in said})
    pool_words = [w for k in ("name", "term") for w in cand[k][len(true[k]) :]]
    rng.shuffle(pool_words)
    distractors = sorted(pool_words[: args.distractors])
    (out / "hotwords_true.txt").write_text("\n".join(true_words) + "\n", encoding="utf-8")
    (out / "hotwords.txt").write_text(
        f"# biasing list: {len(true_words)} true rare words + {len(distractors)} distractors\n"
        + "\n".join(sorted(true_words + distractors))
        + "\n",
        encoding="utf-8",
    )
    n_hw = sum(1 for (k, _, _, _), (_, hw) in zip(items, plan) if hw and k not in bad)
    print(
        f"{out}: {len(ok)} utterances ({n_hw} with a hotword, {len(ok) - n_hw} without), {len(voices)} voices, "
        f"{len(true_words)} true hotwords + {len(distractors)} distractors in {out / 'hotwords.txt'}; "
        f"{len(bad)} failed"
    )
    return 0


# ------------------------------------------------------------------------------------------------ run


def _infer(exp: Path, checkpoint: str, data: Path, out: Path, device: str, head: str = "cif") -> Path:
    import yaml

    meta = out / "post.yaml"
    ck = (exp / checkpoint).resolve()
    if meta.exists():
        info = yaml.safe_load(meta.read_text()) or {}
        stamp = out / ".checkpoint_mtime"
        same = (
            info.get("checkpoint") == checkpoint
            and info.get("head", "cif") == head
            and stamp.exists()
            and stamp.read_text().strip() == str(ck.stat().st_mtime)
        )
        if same:
            print(f"infer: {out} already holds posteriors of {ck}: kept", flush=True)
            return out / "posteriors.scp"
    cmd = [
        sys.executable,
        "-m",
        "asr.cli",
        "infer",
        str(exp),
        str(data),
        str(out),
        "--checkpoint",
        checkpoint,
    ]
    cmd += ["--device", device, "--head", head]
    t0 = time.time()
    subprocess.run(cmd, check=True, cwd=ROOT)
    (out / ".checkpoint_mtime").write_text(str(ck.stat().st_mtime) + "\n")
    print(f"infer: {time.time() - t0:.1f} s wall", flush=True)
    return out / "posteriors.scp"


def cmd_run(args) -> int:
    import hotwords as hwb  # tools/bench/hotwords.py

    exp = Path(args.exp_dir)
    data = Path(args.data)
    sfx = "" if args.head == "cif" else f"_{args.head}"
    work = Path(args.work_dir or exp / f"bias_{data.name}_{Path(args.checkpoint).stem}{sfx}")
    work.mkdir(parents=True, exist_ok=True)
    scp = _infer(exp, args.checkpoint, data, work / "infer", args.device, args.head)
    hotwords = args.hotwords or str(data / "hotwords.txt")
    argv = ["eval", str(data / "text"), str(scp), "--tokenizer", str(exp), "--hotwords", hotwords]
    argv += ["--work-dir", str(work), "--beam", str(args.beam)]
    argv += args.eval_options
    print(f"model {exp} ({args.checkpoint}), set {data}, list {hotwords}", flush=True)
    code = 0 if args.skip_graphless else hwb.main(argv)
    if args.graph:
        from asr.data.kaldi_dir import read_text

        refs = read_text(data / "text")
        extra = ["--max-active", str(args.max_active), "--beam", str(args.tlg_beam)]
        extra += ["--acoustic-scale", str(args.acoustic_scale)]
        extra += ["--gate-relative"] if args.gate_relative else []
        run_tlg_grid(args.graph, scp, refs, hotwords, exp, args.tlg_grid, work, extra)
    return code


def _parse_config(text: str) -> tuple[float, float, float | None] | None:
    """``base`` -> None (no list); ``S:W:G`` -> (score, weight, gate or None)."""
    if text == "base":
        return None
    s, w, g = text.split(":")
    return float(s), float(w), None if g.lower() in ("none", "-") else float(g)


def cmd_tlg_decode(args) -> int:
    """One TLG decode in-process (gate emulated), hypotheses to OUT_TEXT, CPU seconds and peak RSS to OUT_TEXT.cost."""
    import resource

    import hotwords as hwb
    import torch

    from asr.data.kaldi_dir import write_kv
    from asr.text.tokenizer import load_tokenizer
    from decoding.hotwords import HotwordConfig, load_context
    from decoding.hotwords.load import UttContexts

    torch.set_num_threads(1)
    hwb.RowGatedContext.relative = args.gate_relative
    posts, row_type = hwb._read_posteriors(args.posteriors)
    cfg = _parse_config(args.config)
    ctx = None
    if cfg is not None:
        score, weight, gate = cfg
        config = HotwordConfig(
            score=score, weight=weight, gate=gate, word_end=not args.no_word_end, skip_bad=True
        )
        ctx = UttContexts(load_context(args.hotwords, load_tokenizer(args.tokenizer), config=config), {}, 0)
    t0 = time.process_time()
    hyps = hwb.decode_tlg_gated(
        args.graph,
        posts,
        row_type,
        ctx,
        beam=args.beam,
        max_active=args.max_active,
        acoustic_scale=args.acoustic_scale,
    )
    cpu = time.process_time() - t0
    write_kv(args.out_text, hyps)
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    Path(args.out_text + ".cost").write_text(f"{cpu:.1f} {rss:.0f}\n")
    return 0


def run_tlg_grid(graph, scp, refs, hotwords_file, tokenizer, configs, work: Path, extra: list[str]) -> None:
    """Decode every TLG config in its own (niced) process at once, then score them against ``base``."""
    import hotwords as hwb

    from asr.data.kaldi_dir import read_text
    from decoding.hotwords.parse import parse_hotwords

    phrases = [h.phrase for h in parse_hotwords(hotwords_file)]
    procs = {}
    for c in configs:
        out = work / f"tlg_{c.replace(':', '_')}.txt"
        if out.exists() and (Path(str(out) + ".cost")).exists():
            continue
        cmd = [sys.executable, __file__, "tlg-decode", str(graph), str(scp), str(out), "--config", c]
        cmd += ["--tokenizer", str(tokenizer), "--hotwords", str(hotwords_file), *extra]
        procs[c] = subprocess.Popen(cmd, cwd=ROOT)
    for c, p in procs.items():
        if p.wait() != 0:
            raise SystemExit(f"TLG decode {c} failed")
    rows = {}
    for c in configs:
        out = work / f"tlg_{c.replace(':', '_')}.txt"
        cpu, rss = Path(str(out) + ".cost").read_text().split()
        line, d = hwb._row(f"TLG {c}", refs, read_text(out), phrases)
        rows[c] = d
        print(f"{line}  cpu {cpu}s rss {rss}MiB", flush=True)
    if "base" in rows:
        for c in configs:
            if c != "base":
                print(f"TLG {c}: {hwb._verdict(rows['base'], rows[c])}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    m = sub.add_parser("make-set", help="synthesize the biasing test set")
    m.add_argument("data_dir", nargs="?", default=str(RECIPE / "data" / "bias_test"))
    m.add_argument(
        "--corpus",
        default=str(RECIPE / "data"),
        help="the model's corpus dir: its train/dev/test/LM words are excluded from the rare words",
    )
    m.add_argument("--voices", help="voice table (default CORPUS/local/voices.tsv): its seen voices speak")
    m.add_argument("--wav-dir", help="where the wavs go (default DATA_DIR/../wav/NAME)")
    m.add_argument("--hotword-utts", type=int, default=120)
    m.add_argument("--plain-utts", type=int, default=80)
    m.add_argument("--distractors", type=int, default=500)
    m.add_argument("--jobs", type=int, default=2)
    m.add_argument("--seed", type=int, default=0)
    r = sub.add_parser("run", help="infer + decode without/with hotwords + metrics, from a model dir")
    r.add_argument("exp_dir")
    r.add_argument("--checkpoint", default="avg_5.pt")
    r.add_argument("--data", default=str(RECIPE / "data" / "bias_test"))
    r.add_argument("--hotwords", help="hotword list (default DATA/hotwords.txt)")
    r.add_argument("--graph", help="also decode with this TLG graph dir (configs of --tlg-grid, in parallel)")
    r.add_argument(
        "--tlg-grid",
        nargs="+",
        default=["base", "1:0:none", "1:0:-3"],
        help="TLG configs: base (no list) or SCORE:WEIGHT:GATE (gate none = off)",
    )
    r.add_argument(
        "--max-active", type=int, default=7000, help="TLG max-active (cifst decode default; beam 16)"
    )
    r.add_argument("--tlg-beam", type=float, default=16.0, help="TLG beam (cifst decode default)")
    r.add_argument(
        "--acoustic-scale", type=float, default=1.0, help="TLG acoustic scale (cifst decode default)"
    )
    r.add_argument("--gate-relative", action="store_true", help="TLG gate on log(p / p_best of the row)")
    r.add_argument("--skip-graphless", action="store_true", help="only the TLG decodes")
    r.add_argument("--work-dir", help="default EXP_DIR/bias_<set>_<checkpoint>")
    r.add_argument("--device", default="cpu")
    r.add_argument(
        "--head", choices=("cif", "ctc"), default="cif", help="model output to decode (cifst infer --head)"
    )
    r.add_argument("--beam", type=int, default=8, help="prefix beam")
    t = sub.add_parser("tlg-decode", help="(internal) one in-process TLG decode for run --tlg-grid")
    t.add_argument("graph")
    t.add_argument("posteriors")
    t.add_argument("out_text")
    t.add_argument("--config", required=True)
    t.add_argument("--tokenizer", required=True)
    t.add_argument("--hotwords", required=True)
    t.add_argument("--max-active", type=int, default=7000)
    t.add_argument("--beam", type=float, default=16.0)
    t.add_argument("--acoustic-scale", type=float, default=1.0)
    t.add_argument("--gate-relative", action="store_true")
    t.add_argument("--no-word-end", action="store_true")
    args, rest = p.parse_known_args(argv)
    if args.cmd != "run" and rest:
        p.error(f"unrecognized arguments: {' '.join(rest)}")
    args.eval_options = rest  # passed on to `hotwords.py eval`: --sweep --scores --gates --hotword-score ...
    if args.cmd == "tlg-decode":
        return cmd_tlg_decode(args)
    return cmd_make_set(args) if args.cmd == "make-set" else cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
