"""``cifst data validate DATA_DIR``, ``cifst data fix DATA_DIR``, ``cifst data combine OUT IN...`` and ``cifst data
fbank DATA_DIR``: a Kaldi data directory -> its problems listed one per line (exit 1 when there are errors), or the
directory repaired in place (sorted, inconsistent utterances dropped and named), or several directories merged into
one, or its fbank computed once into ``feats.scp``. A thin layer over :mod:`asr.data.validate`,
:mod:`asr.data.combine` and :mod:`asr.data.feats`.
"""

from __future__ import annotations

import argparse
import sys

from asr.cli import add_command, add_group

__all__ = ["register"]

_VALIDATE = """\
Check a Kaldi data directory as Kaldi's utils/validate_data_dir.sh does: required files
(utt2spk, spk2utt, wav.scp, text), UTF-8, no duplicate or empty keys, C-locale sorting,
the same utterances in every per-utterance file, spk2utt consistent with utt2spk, segments
referring to recordings of wav.scp. Prints every problem as 'file:line: message' and exits 1
when there are errors (warnings alone exit 0).

Examples:
  cifst data validate data/train
  cifst data validate data/test --no-text --check-audio
"""

_FIX = """\
Repair a Kaldi data directory in place as Kaldi's utils/fix_data_dir.sh does: sort every
file in the C locale, drop utterances missing from any per-utterance file (text, utt2spk,
segments or wav.scp, utt2dur, ...), drop recordings no segment uses, rebuild spk2utt.
Prints each dropped utterance with the reason. Originals are copied to DATA_DIR/.backup/.

Example:
  cifst data fix data/train && cifst data validate data/train
"""


_COMBINE = """\
Merge Kaldi data directories into OUT_DIR as Kaldi's utils/combine_data.sh does:
per-utterance files present in every input (text, utt2spk, wav.scp or segments, utt2dur,
utt2aug, ...) are merged and sorted, spk2utt is rebuilt, speaker files and a reference
ctm are merged. A file missing from some input is left out (with a warning). Utterance
keys must be unique: write an input as DIR:TAG to append -TAG to its utterance keys
(two synthetic corpora both number their utterances from 0). The result is validated.

Example (more training text for the synth_en model):
  cifst data combine data33/train data10/train data_wordnet/train:wn
"""

_FBANK = """\
Compute the fbank of every utterance once, as Kaldi's steps/make_fbank.sh: float32
matrices in DATA_DIR/fbank/feats.*.ark, indexed by DATA_DIR/feats.scp, with
utt2num_frames and feats.json (the fbank options, checked against the model's config
when the features are read). cifst train and cifst infer then read the matrices
instead of decoding audio (not when speed perturbation is on: it needs the audio).
No dither is applied. Unreadable audio is named and left out of feats.scp; run
cifst data fix afterwards to drop those utterances. A killed run resumes at the
first unfinished chunk of --chunk-size utterances.

Example (the fbank options of the training config):
  cifst data fbank --config conf/train.yaml --jobs 2 data/train
"""


_TRIM = """\
Write OUT_DIR, a copy of DATA_DIR with the leading and trailing silence of every
utterance cut, found from its stored fbank (run `cifst data fbank` first): frames
within --floor-db of the utterance's loudest frame are speech; the span from the
first to the last of them, widened by --margin seconds, is kept. feats.scp points
at the same arks with Kaldi row ranges (ark:offset[first:last]); segments, utt2dur,
utt2num_frames and ctm follow the cut; the rest is copied. Inner pauses are kept.
Utterances without stored features are left out of feats.scp and segments (run
cifst data fix OUT_DIR).

Example (training data only; dev and test keep their audio as it is):
  cifst data trim data/train data/train_trim
"""


def register(sub) -> None:
    group = add_group(sub, "data", "Kaldi data directories: validate, fix, combine, fbank, trim")
    p = add_command(
        group, "validate", "check a Kaldi data directory", _VALIDATE, run_validate, prog="data validate"
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the Kaldi data directory")
    p.add_argument("--no-text", action="store_true", help="the 'text' file is optional")
    p.add_argument(
        "--no-wav",
        action="store_true",
        help="the 'wav.scp' file is optional (it already is when feats.scp is there)",
    )
    p.add_argument(
        "--check-audio", action="store_true", help="check that audio files and pipe programs exist"
    )
    p = add_command(
        group, "fix", "sort a data directory and drop inconsistent utterances", _FIX, run_fix, prog="data fix"
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the Kaldi data directory")
    p.add_argument("--no-backup", action="store_true", help="do not copy the originals to DATA_DIR/.backup/")
    p = add_command(
        group, "combine", "merge data directories into one", _COMBINE, run_combine, prog="data combine"
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="the combined directory (created)")
    p.add_argument("inputs", metavar="DIR[:TAG]", nargs="+", help="input data directories")
    p = add_command(
        group, "fbank", "compute features once into feats.scp", _FBANK, run_fbank, prog="data fbank"
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="the Kaldi data directory")
    p.add_argument(
        "--config", help="training or model config whose fbank section to use (default: the built-in options)"
    )
    p.add_argument("--jobs", type=int, default=1, help="worker processes (default: 1)")
    p.add_argument("--chunk-size", type=int, default=1000, help="utterances per ark file (default: 1000)")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")

    p = add_command(
        group, "trim", "cut leading and trailing silence (stored features)", _TRIM, run_trim, prog="data trim"
    )
    p.add_argument("data_dir", metavar="DATA_DIR", help="a data directory with feats.scp")
    p.add_argument("out_dir", metavar="OUT_DIR", help="the trimmed directory (created)")
    p.add_argument(
        "--margin", type=float, default=0.1, help="seconds of silence kept at each end (default: 0.1)"
    )
    p.add_argument(
        "--floor-db",
        type=float,
        default=40.0,
        help="speech frames are within this many dB of the loudest frame (default: 40)",
    )
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")


def run_validate(args: argparse.Namespace) -> int:
    from asr.data.validate import ValidateConfig, validate_data_dir

    report = validate_data_dir(
        args.data_dir, ValidateConfig(no_text=args.no_text, no_wav=args.no_wav, check_audio=args.check_audio)
    )
    for p in report.warnings:
        print(f"cifst data validate: warning: {p}", file=sys.stderr)
    for p in report.errors:
        print(f"cifst data validate: error: {p}", file=sys.stderr)
    status = "OK" if report.ok else f"{len(report.errors)} error(s)"
    print(
        f"{args.data_dir}: {status}, {len(report.warnings)} warning(s); "
        f"{report.num_utts} utterances, {report.num_speakers} speakers"
    )
    return 0 if report.ok else 1


def run_fix(args: argparse.Namespace) -> int:
    from asr.data.validate import fix_data_dir

    report = fix_data_dir(args.data_dir, backup=not args.no_backup)
    for utt, reason in sorted(report.dropped.items(), key=lambda kv: kv[0].encode()):
        print(f"dropped {utt}: {reason}")
    for rec in report.dropped_recordings:
        print(f"dropped recording {rec}: no segment uses it")
    backup = f"; originals in {report.backup_dir}" if report.backup_dir else ""
    print(
        f"{args.data_dir}: kept {report.kept} utterances, dropped {len(report.dropped)}; "
        f"rewrote {' '.join(report.rewritten)}{backup}"
    )
    return 0


def run_combine(args: argparse.Namespace) -> int:
    from asr.data.combine import combine_data_dirs, parse_source
    from asr.data.validate import validate_data_dir

    report = combine_data_dirs(args.out_dir, [parse_source(s) for s in args.inputs])
    for name, lacking in report.left_out.items():
        print(
            f"cifst data combine: warning: left out {name}: missing in {', '.join(lacking)}", file=sys.stderr
        )
    check = validate_data_dir(args.out_dir)
    for p in check.errors:
        print(f"cifst data combine: error: {p}", file=sys.stderr)
    print(
        f"{args.out_dir}: {report.utterances} utterances, {report.speakers} speakers from {len(args.inputs)} "
        f"directories ({', '.join(report.written)})"
    )
    return 0 if check.ok else 1


def run_trim(args: argparse.Namespace) -> int:
    from asr.data.trim import trim_data_dir

    report = trim_data_dir(args.data_dir, args.out_dir, args.margin, args.floor_db, progress=args.progress)
    print(
        f"{args.out_dir}: {report.utterances} utterances, {report.frames_out} of {report.frames_in} frames kept "
        f"({100 * report.kept:.1f}%)"
    )
    return 0


def run_fbank(args: argparse.Namespace) -> int:
    from asr.data.feats import compute_feats
    from asr.errors import CifstError
    from asr.features.fbank import FbankConfig

    if args.jobs < 1 or args.chunk_size < 1:
        raise CifstError("--jobs and --chunk-size must be at least 1")
    config = FbankConfig()
    if args.config:
        from asr.models.config import load_config

        config = load_config(args.config).fbank
    report = compute_feats(args.data_dir, config, args.jobs, args.chunk_size, args.progress)
    resumed = f" ({report.resumed} of {report.chunks} chunks from an earlier run)" if report.resumed else ""
    failed = f"; {len(report.failed)} without features (run cifst data fix)" if report.failed else ""
    print(
        f"{args.data_dir}: fbank of {report.written} utterances, {report.frames} frames in feats.scp{resumed}{failed}"
    )
    return 0
