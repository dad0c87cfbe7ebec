"""BPE-dropout of training transcripts: ours (``asr.text.bpe_dropout.BpeDropout``, pure Python, seeded per
utterance) against sentencepiece's own sampling (``encode(..., enable_sampling=True, alpha=p)``, C++), on the
transcripts of a data dir and the BPE model of a tokenizer dir, one thread.

Prints, for each p, microseconds per utterance for both and the ratio (ours / sentencepiece), the share of target
tokens added over the canonical segmentation by each (the two follow the same rule, so these should agree), and
the share of utterances left canonical. The training loop draws one segmentation per utterance and use, in the
main process (``num_workers: 0``), so ours costs that time per utterance of every batch.

Usage:
  .venv/bin/python tools/bench/bpe_dropout.py egs/synth_en/asr/data/train egs/synth_en/asr/data/lang_bpe2000 \\
      --utts 20000 --p 0.05 0.1
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from asr.data.kaldi_dir import read_text  # noqa: E402
from asr.text.bpe_dropout import BpeDropout  # noqa: E402
from asr.text.tokenizer import load_tokenizer  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("data_dir")
    ap.add_argument("tokenizer_dir")
    ap.add_argument("--utts", type=int, default=20000, help="first N transcripts of the data dir")
    ap.add_argument("--p", type=float, nargs="+", default=[0.05, 0.1])
    args = ap.parse_args(argv)

    import sentencepiece as spm

    tok = load_tokenizer(args.tokenizer_dir)
    if tok.kind != "bpe":
        print(f"{args.tokenizer_dir}: kind {tok.kind}, this bench needs a bpe tokenizer", file=sys.stderr)
        return 1
    sp = spm.SentencePieceProcessor(model_file=str(Path(args.tokenizer_dir) / "bpe.model"))
    spm.set_random_generator_seed(1)
    texts = [tok.normalize(t) for t in list(read_text(Path(args.data_dir) / "text").values())[: args.utts]]
    canon = [tok.encode(t) for t in texts]
    n_canon = sum(len(c) for c in canon)
    print(f"{len(texts)} transcripts, {n_canon} canonical tokens ({n_canon / len(texts):.1f} per utterance)")
    print("p      ours us/utt  sp us/utt  ratio   ours +tokens  sp +tokens  ours canonical  sp canonical")
    for p in args.p:
        ours = BpeDropout(tok.symbols.symbols, p)
        t0 = time.perf_counter()
        mine = [ours(c, random.Random(f"1/1/{i}")) for i, c in enumerate(canon)]
        t_ours = (time.perf_counter() - t0) / len(texts) * 1e6
        t0 = time.perf_counter()
        theirs = [sp.encode(t, enable_sampling=True, alpha=p) for t in texts]
        t_sp = (time.perf_counter() - t0) / len(texts) * 1e6
        add_ours = sum(len(m) for m in mine) / n_canon - 1
        add_sp = sum(len(m) for m in theirs) / n_canon - 1
        same_ours = sum(m == c for m, c in zip(mine, canon)) / len(texts)
        # sentencepiece ids are its own (ours are shifted by our specials): compare pieces through the tokenizer
        same_sp = sum(
            [sp.id_to_piece(i) for i in m] == [tok.symbols[j] for j in c] for m, c in zip(theirs, canon)
        ) / len(texts)
        print(
            f"{p:<6} {t_ours:12.1f} {t_sp:10.1f} {t_ours / t_sp:6.1f}x {100 * add_ours:12.1f}% {100 * add_sp:10.1f}%"
            f" {100 * same_ours:14.1f}% {100 * same_sp:12.1f}%"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
