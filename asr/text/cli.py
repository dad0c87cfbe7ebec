"""``cifst tokenizer train|encode``: train a tokenizer on a text file -> ``tokens.txt``, ``tokenizer.yaml``
(+ ``bpe.model``) in OUT_DIR; encode text with a trained one (one line of tokens per input line).

Only the standard library is imported at module level (see :mod:`asr.cli`).
"""

from __future__ import annotations

import argparse
import sys

from asr.cli import add_command, add_group

__all__ = ["register"]


def _read_texts(path: str, kaldi: bool) -> list[str]:
    from asr.data.kaldi_dir import read_text

    if kaldi:
        return list(read_text(path).values())
    with open(path, encoding="utf-8") as f:
        return [line.rstrip("\n") for line in f]


def _train(args: argparse.Namespace) -> int:
    import logging

    from asr.errors import CifstError
    from asr.text.normalize import NormalizeConfig
    from asr.text.tokenizer import TokenizerConfig, train_tokenizer

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(message)s")
    if args.kind != "char" and args.vocab_size <= 0:
        raise CifstError(f"--kind {args.kind} needs --vocab-size (e.g. --vocab-size 500)")
    config = TokenizerConfig(
        kind=args.kind,
        latin=args.latin,
        sp_model_type=args.sp_model_type,
        normalize=NormalizeConfig(case=args.case, remove_punctuation=not args.keep_punctuation),
    )
    texts = _read_texts(args.text, args.kaldi_text)
    tok = train_tokenizer(args.kind, texts, args.vocab_size, args.out_dir, config)
    print(
        f"{args.out_dir}: {tok.config.kind} tokenizer, {tok.vocab_size} tokens, from {len(texts)} lines",
        file=sys.stderr,
    )
    return 0


def _encode(args: argparse.Namespace) -> int:
    from asr.text.tokenizer import load_tokenizer

    tok = load_tokenizer(args.tokenizer)
    source = open(args.text, encoding="utf-8") if args.text != "-" else sys.stdin
    with source:
        for line in source:
            line = line.rstrip("\n")
            key = ""
            if args.kaldi_text:
                key, _, line = line.partition(" ")
                key += " "
            pieces = [str(i) for i in tok.encode(line)] if args.ids else tok.tokenize(line)
            print(key + " ".join(pieces))
    return 0


def register(sub) -> None:
    group = add_group(sub, "tokenizer", "train or apply a tokenizer (char, bpe, unigram, mixed)")
    p = add_command(
        group,
        "train",
        help="train a tokenizer on a text file",
        description="Train a tokenizer on training text and write tokens.txt, tokenizer.yaml (and bpe.model for\n"
        "sentencepiece kinds) into OUT_DIR. --vocab-size counts every line of tokens.txt, including <blk>,\n"
        "<sos/eos> and <unk> (for char, 0 keeps every character seen).\n\n"
        "Example:\n  cifst tokenizer train --kind bpe --vocab-size 500 --kaldi-text data/train/text data/lang_bpe500",
        func=_train,
        prog="tokenizer train",
    )
    p.add_argument(
        "text", metavar="TEXT_FILE", help="one transcript per line (or a Kaldi text file, --kaldi-text)"
    )
    p.add_argument("out_dir", metavar="OUT_DIR")
    p.add_argument("--kind", choices=["char", "bpe", "unigram", "mixed"], default="char")
    p.add_argument(
        "--vocab-size", type=int, default=0, help="tokens.txt size (required for bpe/unigram/mixed)"
    )
    p.add_argument("--kaldi-text", action="store_true", help="TEXT_FILE lines start with an utterance id")
    p.add_argument("--latin", choices=["letter", "word"], default="letter", help="char kind: Latin units")
    p.add_argument(
        "--sp-model-type", choices=["bpe", "unigram"], default="bpe", help="mixed kind: Latin model"
    )
    p.add_argument("--case", choices=["keep", "lower", "upper"], default="keep", help="case normalization")
    p.add_argument("--keep-punctuation", action="store_true", help="do not strip punctuation")

    p = add_command(
        group,
        "encode",
        help="print the tokens of each line of text",
        description="Encode text with a trained tokenizer: one line of tokens (or ids) per input line.\n\n"
        "Example:\n  cifst tokenizer encode --kaldi-text data/lang_bpe500 data/test/text",
        func=_encode,
        prog="tokenizer encode",
    )
    p.add_argument("tokenizer", metavar="TOK_DIR")
    p.add_argument("text", metavar="TEXT_FILE", nargs="?", default="-", help="'-' reads stdin")
    p.add_argument("--kaldi-text", action="store_true", help="keep the utterance id in front")
    p.add_argument("--ids", action="store_true", help="print token ids instead of token strings")
