"""``python -m asr.data.synth``: command line of the synthetic-corpus library, used by ``egs/synth_*/asr`` recipes.

Subcommands:
  corpus    sentences + voices -> data/{train,dev,test_seen,test_unseen} + data/local (voices, LM text)
  lexicon   words + tokenizer -> lexicon.txt (word -> tokens), plus the CMU-dict phone lexicon
  hotwords  a test set's text -> a hotword list: its words rare in the LM text, phrases, and distractors
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

from asr.errors import CifstError


def _corpus(args: argparse.Namespace) -> int:
    from asr.data.synth.corpus import CorpusConfig, build_corpus
    from asr.data.synth.text import TextFilter

    config = CorpusConfig(hours=args.hours, eval_fraction=args.eval_fraction, min_eval_utts=args.min_eval_utts,
                          max_eval_utts=args.max_eval_utts, unseen_fraction=args.unseen_fraction,
                          augment_probability=args.augment, seed=args.seed, jobs=args.jobs,
                          train_engines=tuple(args.train_engines.split(",")) if args.train_engines else None)  # fmt: skip
    flt = TextFilter(min_words=args.min_words, max_words=args.max_words)
    if args.lang == "en":
        from asr.data.synth.lexicon import cmu_dictionary
        from asr.data.synth.text import collect_sentences, english_sources
        from asr.data.synth.voices import VoiceConfig, english_inventory

        sources = [Path(p) for p in args.text] if args.text else english_sources(args.text_sources.split(","))
        sentences = collect_sentences(sources, cmu_dictionary(), flt)
        vc = VoiceConfig(seed=args.seed)
        voices = english_inventory(vc)
    else:
        from asr.data.synth.mandarin import collect_mandarin_sentences, default_mandarin_sources
        from asr.data.synth.voices import VoiceConfig, mandarin_inventory

        sources = [Path(p) for p in args.text] if args.text else default_mandarin_sources()
        sentences = collect_mandarin_sentences(sources, min_chars=args.min_words, max_chars=args.max_words)
        vc = VoiceConfig(seed=args.seed)
        voices = mandarin_inventory(vc)
    for note in vc.notes:
        print(f"synth: note: {note}", file=sys.stderr)
    print(f"synth: {len(sentences)} sentences from {len(sources)} files, {len(voices)} voices "
          f"({len({v.identity for v in voices})} identities)", file=sys.stderr)  # fmt: skip
    summary = build_corpus(sentences, voices, config, args.data_dir, args.wav_dir)
    for split, (n, secs) in summary.items():
        print(f"synth: {split}: {n} utterances, {secs / 3600:.2f} h")
    return 0


def _lexicon(args: argparse.Namespace) -> int:
    from asr.data.synth.lexicon import write_lexicons

    n = write_lexicons(args.words, args.tokenizer, args.out_dir, cmu=not args.no_cmu)
    print(f"synth: lexicon of {n} words in {args.out_dir}")
    return 0


def _hotwords(args: argparse.Namespace) -> int:
    from asr.data.synth.lexicon import make_hotword_list

    n = make_hotword_list(args.text, args.lm_text, args.out, num=args.num, seed=args.seed)
    print(f"synth: {n} hotwords in {args.out}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m asr.data.synth", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    sub = p.add_subparsers(dest="cmd", required=True)
    c = sub.add_parser("corpus", help="synthesize a corpus into Kaldi data dirs",
                       description="Example:\n  python -m asr.data.synth corpus --lang en --hours 3 data",
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    c.add_argument("data_dir")
    c.add_argument("--lang", choices=("en", "zh"), default="en")
    c.add_argument("--hours", type=float, default=3.0, help="hours of training audio")
    c.add_argument("--text", action="append", help="text file(s) to use instead of the default sources")
    c.add_argument("--text-sources", default="fortunes,licenses",
                   help="en: comma-separated Debian text sources: fortunes, licenses, wordnet (example sentences), wordnet-glosses (definitions)")  # fmt: skip
    c.add_argument("--wav-dir", default=None, help="where wav files go (default DATA_DIR/wav)")
    c.add_argument("--eval-fraction", type=float, default=0.05)
    c.add_argument("--min-eval-utts", type=int, default=8)
    c.add_argument("--max-eval-utts", type=int, default=300)
    c.add_argument("--unseen-fraction", type=float, default=0.2)
    c.add_argument("--augment", type=float, default=0.3, help="share of train utterances augmented")
    c.add_argument("--min-words", type=int, default=3, help="(zh: characters)")
    c.add_argument("--max-words", type=int, default=15, help="(zh: characters)")
    c.add_argument("--seed", type=int, default=0)
    c.add_argument("--jobs", type=int, default=0, help="worker processes, 0 = all cores")
    c.add_argument("--train-engines", default="",
                   help="comma-separated engines (espeak, mbrola, festival, flite, pico) whose seen voices read "
                        "the train sentences (default all); the speaker split and dev/test sentences stay the full "
                        "inventory's")  # fmt: skip
    c.set_defaults(func=_corpus)
    lx = sub.add_parser("lexicon", help="word list + tokenizer -> lexicon.txt")
    lx.add_argument("words", help="file with one word per line (or a words.txt / text corpus: first column)")
    lx.add_argument("tokenizer", help="tokenizer directory (tokens.txt, tokenizer.yaml)")
    lx.add_argument("out_dir")
    lx.add_argument("--no-cmu", action="store_true", help="skip the CMU phone lexicon (non-English)")
    lx.set_defaults(func=_lexicon)
    hw = sub.add_parser("hotwords", help="make a hotword list for a test set")
    hw.add_argument("text", help="Kaldi text of the test set")
    hw.add_argument("lm_text", help="LM training text (hotwords are chosen among words rare in it)")
    hw.add_argument("out")
    hw.add_argument("--num", type=int, default=30)
    hw.add_argument("--seed", type=int, default=0)
    hw.set_defaults(func=_hotwords)
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (CifstError, FileNotFoundError, IsADirectoryError, PermissionError, UnicodeDecodeError) as e:
        if os.environ.get("CIFST_DEBUG"):
            raise
        from asr.cli import _describe

        print(f"synth {args.cmd}: error: {_describe(e)}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
