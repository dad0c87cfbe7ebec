"""LibriSpeech layout -> Kaldi data dirs, one per part (``data/train_clean_100``, ``data/dev_clean``...), the
combined training set ``data/train``, and the LM text.

Input layout (openslr 12, the ``LibriSpeech/`` directory the archives unpack to)::

    CORPUS/<part>/<reader>/<chapter>/<reader>-<chapter>.trans.txt   "<reader>-<chapter>-<nnnn> UPPER CASE TEXT"
    CORPUS/<part>/<reader>/<chapter>/<reader>-<chapter>-<nnnn>.flac
    CORPUS/SPEAKERS.TXT      "ID | SEX | SUBSET | MINUTES | NAME" (optional: gives spk2gender)

As in Kaldi's ``egs/librispeech/s5/local/data_prep.sh``, the speaker of an utterance is ``<reader>-<chapter>``; the
wav.scp points at the flac files directly (cifst reads flac with soundfile, no ``flac -d |`` pipe needed); the text
is lower-cased (the recipe's tokenizer and lexicon are lower-case). A transcript line without its flac, or a flac
without a transcript, is an error naming both. ``data/local/lm_text`` is the normalized LM corpus
(``librispeech-lm-norm.txt.gz`` from openslr 11) when ``--lm-corpus`` is given, else the training transcripts.

Usage: python local/prepare_data.py CORPUS_DIR DATA_DIR [--parts ...] [--train-parts ...] [--lm-corpus FILE]
"""

from __future__ import annotations

import argparse
import gzip
import sys
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import iter_kv_lines, utt2spk_to_spk2utt, write_kv, write_spk2utt
from asr.errors import CifstError, InputError

PARTS = ("train-clean-100", "train-clean-360", "train-other-500", "dev-clean", "dev-other", "test-clean",
         "test-other")  # fmt: skip
TRAIN_PARTS = ("train-clean-100", "train-clean-360", "train-other-500")


def _genders(corpus: Path) -> dict[str, str]:
    speakers = corpus / "SPEAKERS.TXT"
    out: dict[str, str] = {}
    if speakers.is_file():
        for line in speakers.read_text(encoding="utf-8", errors="replace").splitlines():
            fields = [f.strip() for f in line.split("|")]
            if len(fields) >= 2 and not line.startswith(";") and fields[1].upper() in ("M", "F"):
                out[fields[0]] = fields[1].lower()
    return out


def prepare_part(corpus: Path, part: str, out: Path, genders: dict[str, str]) -> int:
    """Write one part's data dir; return its number of utterances.

    Raises:
        InputError: a transcript line whose flac is missing, or a flac without a transcript line.
    """
    wav, text, utt2spk = {}, {}, {}
    for trans in sorted((corpus / part).glob("*/*/*.trans.txt")):
        for lineno, utt, words in iter_kv_lines(trans, allow_empty_value=False):
            flac = trans.parent / f"{utt}.flac"
            if not flac.is_file():
                raise InputError(trans, lineno, f"no audio {flac} for utterance '{utt}'")
            reader, chapter, _ = utt.split("-")
            wav[utt] = str(flac.resolve())
            text[utt] = words.lower()
            utt2spk[utt] = f"{reader}-{chapter}"
    flacs = {p.stem for p in (corpus / part).glob("*/*/*.flac")}
    orphans = sorted(flacs - set(wav))
    if orphans:
        raise InputError(
            corpus / part, None, f"{len(orphans)} flac files have no transcript line, e.g. {orphans[0]}"
        )
    if not wav:
        raise CifstError(f"{corpus / part} holds no <reader>/<chapter>/*.trans.txt")
    write_kv(out / "wav.scp", wav)
    write_kv(out / "text", text)
    write_kv(out / "utt2spk", utt2spk)
    write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    spk_gender = {
        spk: genders[spk.split("-")[0]] for spk in set(utt2spk.values()) if spk.split("-")[0] in genders
    }
    if spk_gender:
        write_kv(out / "spk2gender", spk_gender)
    return len(wav)


def combine(dirs: list[Path], out: Path) -> int:
    """Concatenate data dirs (their keys are disjoint) into ``out``; return its number of utterances."""
    for name in ("wav.scp", "text", "utt2spk", "spk2gender"):
        merged: dict[str, str] = {}
        for d in dirs:
            if (d / name).exists():
                merged.update((k, v) for _, k, v in iter_kv_lines(d / name))
        if merged:
            write_kv(out / name, merged)
    utt2spk = {k: v for _, k, v in iter_kv_lines(out / "utt2spk")}
    write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    return len(utt2spk)


def write_lm_text(data: Path, train: Path, lm_corpus: Path | None) -> None:
    """``data/local/lm_text``: the normalized LM corpus (lower-cased) or the training transcripts."""
    with atomic_write(data / "local" / "lm_text") as f:
        if lm_corpus is not None:
            opener = gzip.open if lm_corpus.suffix == ".gz" else open
            with opener(lm_corpus, "rt", encoding="utf-8") as src:
                for line in src:
                    f.write(line.lower())
        else:
            for _, _, words in iter_kv_lines(train / "text"):
                f.write(words + "\n")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus_dir", help="the LibriSpeech directory (holding dev-clean/, train-clean-100/ ...)")
    p.add_argument("data_dir")
    p.add_argument("--parts", nargs="+", default=None, help="parts to prepare (default: every part present)")
    p.add_argument(
        "--train-parts", nargs="+", default=list(TRAIN_PARTS), help="parts combined into data/train"
    )
    p.add_argument(
        "--lm-corpus", default=None, help="librispeech-lm-norm.txt.gz (default: training transcripts)"
    )
    args = p.parse_args()
    corpus, data = Path(args.corpus_dir), Path(args.data_dir)
    try:
        parts = args.parts or [q for q in PARTS if (corpus / q).is_dir()]
        if not parts:
            raise CifstError(f"{corpus} holds none of the LibriSpeech parts ({', '.join(PARTS)})")
        genders = _genders(corpus)
        for part in parts:
            n = prepare_part(corpus, part, data / part.replace("-", "_"), genders)
            print(f"prepare_data: {part}: {n} utterances")
        train_dirs = [data / q.replace("-", "_") for q in args.train_parts if q in parts]
        if not train_dirs:
            raise CifstError(f"none of the training parts {args.train_parts} is present in {corpus}")
        n = combine(train_dirs, data / "train")
        print(f"prepare_data: train ({' + '.join(d.name for d in train_dirs)}): {n} utterances")
        write_lm_text(data, data / "train", Path(args.lm_corpus) if args.lm_corpus else None)
    except CifstError as e:
        print(f"prepare_data: error: {e}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
