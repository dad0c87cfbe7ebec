"""AISHELL-1 layout -> Kaldi data dirs ``data/{train,dev,test}`` (wav.scp, text, utt2spk, spk2utt) and the LM text.

Input layout (openslr 33, ``data_aishell.tgz`` unpacked)::

    CORPUS/transcript/aishell_transcript_v0.8.txt     BAC009S0002W0122 而 对 楼市 成交 抑制 作用 最 大 的 限 购
    CORPUS/wav/{train,dev,test}/S0002/BAC009S0002W0122.wav   (16 kHz mono)

As distributed, ``CORPUS/wav`` holds one ``S0002.tar.gz`` per speaker (members ``train/S0002/...wav``); those not yet
unpacked are unpacked in place first, as Kaldi's ``download_and_untar.sh`` does.

The utterance id is the file name, the speaker its directory (as Kaldi's ``egs/aishell/s5`` does); utterances
without a transcript are left out and counted. Text: ``--unit char`` (default) writes one character per token
separated by spaces (the character LM/lexicon of the recipe); ``--unit word`` keeps the corpus's word segmentation.
Also writes ``data/local/lm_text`` (train transcripts, same unit).

Usage: python local/prepare_data.py CORPUS_DIR DATA_DIR [--unit char|word]
"""

from __future__ import annotations

import argparse
import sys
import tarfile
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import read_text, utt2spk_to_spk2utt, write_kv, write_spk2utt
from asr.errors import CifstError

SPLITS = ("train", "dev", "test")


def _unpack_speaker_archives(wav_dir: Path) -> int:
    """Unpack the per-speaker ``S0002.tar.gz`` archives of ``wav_dir`` whose speaker directory is not there yet."""
    n = 0
    for archive in sorted(wav_dir.glob("*.tar.gz")):
        speaker = archive.name[: -len(".tar.gz")]
        if any((wav_dir / split / speaker).is_dir() for split in SPLITS):
            continue
        with tarfile.open(archive) as tar:
            tar.extractall(wav_dir, filter="data")
        n += 1
    return n


def _text(words: str, unit: str) -> str:
    if unit == "word":
        return " ".join(words.split())
    return " ".join(c for c in words if not c.isspace())


def prepare(corpus: Path, data: Path, unit: str = "char") -> dict[str, int]:
    """Write the three data dirs; return utterances per split.

    Raises:
        CifstError: the transcript or a split's wav directory is missing, or a split has no transcribed audio.
    """
    transcript = corpus / "transcript" / "aishell_transcript_v0.8.txt"
    if not transcript.is_file():
        raise CifstError(
            f"{transcript} not found: pass the directory holding transcript/ and wav/ (data_aishell)"
        )
    texts = read_text(transcript)
    unpacked = _unpack_speaker_archives(corpus / "wav")
    if unpacked:
        print(f"prepare_data: unpacked {unpacked} speaker archives in {corpus / 'wav'}", file=sys.stderr)
    counts: dict[str, int] = {}
    for split in SPLITS:
        split_dir = corpus / "wav" / split
        if not split_dir.is_dir():
            raise CifstError(f"{split_dir} not found: is {corpus} an AISHELL-1 data_aishell directory?")
        wav, utt2spk, text = {}, {}, {}
        missing = 0
        for path in sorted(split_dir.glob("*/*.wav")):
            utt = path.stem
            if utt not in texts or not texts[utt].strip():
                missing += 1
                continue
            wav[utt] = str(path.resolve())
            utt2spk[utt] = path.parent.name
            text[utt] = _text(texts[utt], unit)
        if not wav:
            raise CifstError(f"no transcribed wav files under {split_dir}/*/ (expected <speaker>/<utt>.wav)")
        out = data / split
        write_kv(out / "wav.scp", wav)
        write_kv(out / "text", text)
        write_kv(out / "utt2spk", utt2spk)
        write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
        counts[split] = len(wav)
        if missing:
            print(f"prepare_data: {split}: {missing} wav files have no transcript, left out", file=sys.stderr)
    train_text = read_text(data / "train" / "text")
    with atomic_write(data / "local" / "lm_text") as f:
        f.write("".join(t + "\n" for t in train_text.values()))
    return counts


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("corpus_dir")
    p.add_argument("data_dir")
    p.add_argument("--unit", choices=("char", "word"), default="char")
    args = p.parse_args()
    try:
        counts = prepare(Path(args.corpus_dir), Path(args.data_dir), args.unit)
    except CifstError as e:
        print(f"prepare_data: error: {e}", file=sys.stderr)
        return 1
    for split, n in counts.items():
        print(f"prepare_data: {split}: {n} utterances")
    return 0


if __name__ == "__main__":
    sys.exit(main())
