"""``cifst score REF HYP``: reference and hypothesis Kaldi ``text`` files -> the ``%WER`` line on stdout, and with
``--out REPORT_DIR`` the detailed report, per-speaker table, JSON summary and HTML page; ``--compare`` scores two
systems with bootstrap intervals and matched-pairs tests. A thin layer over :mod:`asr.scoring`.
"""

from __future__ import annotations

import argparse
import sys

from asr.cli import add_command

__all__ = ["register"]

_DESCRIPTION = """\
Score hypotheses against references (both Kaldi 'text' files: key<TAB or space>text).

Prints the Kaldi line '%WER 12.34 [ 123 / 1000, 10 ins, 20 del, 93 sub ]' and '%SER' on stdout.
--mode wer: words, with each CJK character a word of its own (mixed Chinese-English);
--mode cer: every non-space character; --mode auto: like wer, reported as CER when most
reference units are CJK characters. Utterances missing from HYP count as all deletions;
keys only in HYP are reported and not scored.

With --out REPORT_DIR, writes REPORT_DIR/wer (the two lines), details.txt (per-utterance
KEY/REF/HYP/CNT/SUB/DEL/INS, ranked errors, summary), speakers.txt (with --utt2spk),
summary.json, utterances.tsv (one row per utterance) and report.html (with plots).
--train-text adds a table of reference words by how often the training transcripts have
them (unseen, 1-4, 5-49, 50+) with the share substituted or deleted (frequency.txt).

Examples:
  cifst score data/test/text exp/decode/text --out exp/decode/report
  cifst score egs/samples/score/ref egs/samples/score/hyp --utt2spk egs/samples/score/utt2spk
  cifst score ref hyp --mode cer --normalize --mapping conf/glm.txt
  cifst score data/test/text exp/A/text --compare exp/B/text
  cifst score data/test/text exp/decode_hw/text --hotwords data/test/hotwords.txt
  cifst score data/test/text exp/decode/text --train-text data/train/text
  sed 's/<unk>//g' exp/decode/text | cifst score data/test/text -
"""


_TIMES = """\
Timestamp accuracy of hypothesis word times (CTM: utt channel start duration word [conf])
against reference word times (forced alignment, or a synthesizer's word times).

Each utterance's words are aligned (Levenshtein); for the correctly recognized words the
accumulated average shift is AAS = mean((|start_hyp - start_ref| + |end_hyp - end_ref|) / 2),
in seconds (Shi et al. 2023). Also prints mean start/end shifts, the median shift, and the
share of words whose start and end are both within each --tolerance.

Example:
  cifst score-times data/test/ctm exp/decode/ctm --tolerance 0.05 0.1 0.2
"""


def register(sub) -> None:
    p = add_command(
        sub, "score", "WER/CER scoring, detailed and HTML reports, system comparison", _DESCRIPTION, run
    )
    p.add_argument("ref", metavar="REF", help="reference text file (key text)")
    p.add_argument(
        "hyp", metavar="HYP", nargs="?", help="hypothesis text file (key text); - reads standard input"
    )
    p.add_argument("--mode", choices=["wer", "cer", "auto"], default="auto", help="scoring units (see above)")
    p.add_argument(
        "--out", metavar="REPORT_DIR", help="directory for the detailed, per-speaker and HTML reports"
    )
    p.add_argument("--utt2spk", metavar="FILE", help="utt2spk file for the per-speaker table")
    p.add_argument(
        "--compare",
        metavar="HYP_B",
        nargs="+",
        help="compare two systems: 'REF HYP --compare HYP_B' or 'REF --compare HYP_A HYP_B'",
    )
    p.add_argument(
        "--bootstrap", type=int, default=10000, metavar="N", help="bootstrap resamples for --compare"
    )
    p.add_argument("--seed", type=int, default=0, help="random seed of the bootstrap")
    g = p.add_argument_group("normalization (applied to REF and HYP alike)")
    g.add_argument("--lower-case", action="store_true", help="compare case-insensitively")
    g.add_argument("--strip-special", action="store_true", help="drop <s> </s> <unk> <blk> <eps> <sos/eos>")
    g.add_argument(
        "--strip-bpe", action="store_true", help="join BPE pieces: '@@ ' markers and sentencepiece '▁'"
    )
    g.add_argument(
        "--strip-punct", action="store_true", help="remove punctuation (keeps apostrophes inside words)"
    )
    g.add_argument(
        "--nfkc", action="store_true", help="Unicode NFKC first (full-width ＡＢＣ１２３ -> ABC123)"
    )
    g.add_argument("--normalize", action="store_true", help="all five options above")
    g.add_argument(
        "--mapping",
        metavar="FILE",
        help="word mapping file: 'word replacement...' per line (no replacement = drop)",
    )
    p.add_argument(
        "--policy",
        choices=["kaldi", "jiwer"],
        default="kaldi",
        help="tie-breaking between equally short alignments (changes the S/D/I split, never the total)",
    )
    p.add_argument("--strict-keys", action="store_true", help="fail when REF and HYP keys differ at all")
    p.add_argument(
        "--hotwords",
        metavar="FILE",
        help="hotword list (phrase [weight] per line): adds recall, precision, false alarms, biased/unbiased WER",
    )
    p.add_argument(
        "--max-ranked", type=int, default=None, metavar="N", help="keep N entries per ranked error list"
    )
    p.add_argument(
        "--train-text",
        metavar="FILE",
        help="training transcripts (Kaldi text): adds the error rate of reference words by their training count",
    )
    p.add_argument(
        "--count-edges",
        type=int,
        nargs="+",
        metavar="N",
        help="bucket boundaries of --train-text (default 1 5 50: unseen, 1-4, 5-49, 50+)",
    )

    p = add_command(
        sub,
        "score-times",
        "timestamp accuracy (AAS) of a hypothesis ctm against a reference ctm",
        _TIMES,
        run_times,
    )
    p.add_argument("ref_ctm", metavar="REF_CTM", help="reference word times")
    p.add_argument("hyp_ctm", metavar="HYP_CTM", help="hypothesis word times (e.g. the decoder's ctm)")
    p.add_argument("--lower-case", action="store_true", help="match words case-insensitively")
    p.add_argument(
        "--tolerance",
        type=float,
        nargs="+",
        default=[0.05, 0.1, 0.2],
        metavar="SEC",
        help="tolerances (seconds)",
    )


def _config(args):
    from asr.scoring.normalize import NormalizeConfig, read_mapping
    from asr.scoring.score import ScoreConfig

    lower = args.lower_case or args.normalize
    mapping = read_mapping(args.mapping, lower_case=lower) if args.mapping else {}
    norm = NormalizeConfig(
        mode=args.mode,
        lower_case=lower,
        strip_special=args.strip_special or args.normalize,
        strip_bpe=args.strip_bpe or args.normalize,
        strip_punct=args.strip_punct or args.normalize,
        nfkc=args.nfkc or args.normalize,
        mapping=mapping,
    )
    return ScoreConfig(normalize=norm, policy=args.policy)


def _warn_keys(result, hyp_path: str) -> None:
    if result.missing_keys:
        print(
            f"cifst score: warning: {len(result.missing_keys)} utterance(s) missing from {hyp_path}, scored as "
            f"deletions (e.g. '{result.missing_keys[0]}')",
            file=sys.stderr,
        )
    if result.extra_keys:
        print(
            f"cifst score: warning: {len(result.extra_keys)} key(s) of {hyp_path} have no reference and were not "
            f"scored (e.g. '{result.extra_keys[0]}')",
            file=sys.stderr,
        )


def _read_hotwords(path: str | None) -> list[str] | None:
    if not path:
        return None
    from asr.scoring.hotword_metrics import read_hotword_phrases

    return read_hotword_phrases(path)


def _hotword_report(result, config, phrases: list[str] | None) -> str | None:
    """The hotword metrics block (asr.scoring.hotword_metrics, owned by the hotwords area) or None."""
    if phrases is None:
        return None
    from asr.scoring.hotword_metrics import format_hotword_report, hotword_metrics

    return format_hotword_report(hotword_metrics(result, None, phrases, config))


def _frequency_report(result, args) -> str | None:
    """The errors-by-training-count table (asr.scoring.frequency) or None without --train-text."""
    if not args.train_text:
        return None
    from asr.scoring.frequency import errors_by_frequency, format_frequency_table

    buckets = errors_by_frequency(result, args.train_counts, args.count_edges)
    unit = "character" if result.metric == "CER" else "word"
    return format_frequency_table(buckets, result.totals.ins, args.train_text, unit)


def _write_reports(
    result,
    out_dir,
    utt2spk,
    title: str,
    max_ranked,
    hotwords: str | None = None,
    frequency: str | None = None,
) -> None:
    from pathlib import Path

    from asr.data.atomic import atomic_write
    from asr.scoring.html_report import render_html
    from asr.scoring.report import (
        format_kaldi_line,
        format_ser_line,
        write_details,
        write_speaker_table,
        write_summary_json,
        write_utterance_table,
    )

    out = Path(out_dir)
    with atomic_write(out / "wer") as f:
        f.write(format_kaldi_line(result) + "\n" + format_ser_line(result) + "\n")
    with atomic_write(out / "details.txt") as f:
        write_details(result, f, max_ranked=max_ranked)
    if utt2spk is not None:
        with atomic_write(out / "speakers.txt") as f:
            write_speaker_table(result, utt2spk, f)
    with atomic_write(out / "summary.json") as f:
        write_summary_json(result, f, utt2spk)
    with atomic_write(out / "utterances.tsv") as f:
        write_utterance_table(result, f, utt2spk)
    extra = {"Hotwords": (hotwords, "hotwords.txt"), "Errors by training count": (frequency, "frequency.txt")}
    extra = {name: v for name, v in extra.items() if v[0] is not None}
    with atomic_write(out / "report.html") as f:
        sections = {name: text for name, (text, _) in extra.items()} or None
        f.write(render_html(result, utt2spk, title=title, sections=sections))
    for text, filename in extra.values():
        with atomic_write(out / filename) as f:
            f.write(text + "\n")


def run(args: argparse.Namespace) -> int:
    from asr.data.kaldi_dir import read_utt2spk
    from asr.errors import CifstError
    from asr.scoring.report import format_kaldi_line, format_ser_line, write_speaker_table
    from asr.scoring.score import score_files

    if args.bootstrap < 1:
        raise CifstError(f"--bootstrap must be >= 1, got {args.bootstrap}")
    if args.max_ranked is not None and args.max_ranked < 0:
        raise CifstError(f"--max-ranked must be >= 0, got {args.max_ranked}")
    config = _config(args)
    utt2spk = read_utt2spk(args.utt2spk) if args.utt2spk else None
    args.hotword_phrases = _read_hotwords(args.hotwords)  # read first: a bad list fails before any output
    if args.train_text:
        from asr.scoring.frequency import DEFAULT_EDGES, check_edges, count_units
        from asr.scoring.normalize import Normalizer

        # a bad option fails before any output
        args.count_edges = check_edges(DEFAULT_EDGES if args.count_edges is None else args.count_edges)
        args.train_counts = count_units(args.train_text, Normalizer(config.normalize))

    if args.compare:
        hyps = ([args.hyp] if args.hyp else []) + list(args.compare)
        if len(hyps) != 2:
            raise CifstError(
                f"--compare needs exactly two systems ('REF HYP --compare HYP_B' or 'REF --compare HYP_A HYP_B'), "
                f"got {len(hyps)}: {' '.join(hyps)}"
            )
        return _run_compare(args, config, hyps, utt2spk)
    if not args.hyp:
        raise CifstError("give the hypothesis file: cifst score REF HYP")

    result = score_files(args.ref, args.hyp, config, strict_keys=args.strict_keys)
    _warn_keys(result, args.hyp)
    print(format_kaldi_line(result))
    print(format_ser_line(result))
    hotwords = _hotword_report(result, config, args.hotword_phrases)
    if hotwords is not None:
        print(hotwords)
    frequency = _frequency_report(result, args)
    if frequency is not None:
        print(frequency)
    if utt2spk is not None and not args.out:
        write_speaker_table(result, utt2spk, sys.stdout)
    if args.out:
        title = f"{args.hyp} vs {args.ref}"
        _write_reports(result, args.out, utt2spk, title, args.max_ranked, hotwords, frequency)
        print(f"cifst score: reports written to {args.out}", file=sys.stderr)
    return 0


def _run_compare(args, config, hyps: list[str], utt2spk) -> int:
    from pathlib import Path

    from asr.data.atomic import atomic_write
    from asr.scoring.compare import compare_systems, format_comparison
    from asr.scoring.report import format_kaldi_line
    from asr.scoring.score import score_files

    results = []
    for h in hyps:
        r = score_files(args.ref, h, config, strict_keys=args.strict_keys)
        _warn_keys(r, h)
        results.append(r)
    hotwords = [_hotword_report(r, config, args.hotword_phrases) for r in results]
    frequency = [_frequency_report(r, args) for r in results]
    for name, r, hw, fr in zip("AB", results, hotwords, frequency):
        print(f"{name}: {format_kaldi_line(r)}")
        for block in (hw, fr):
            if block is not None:
                print("\n".join(f"{name}: {line}" for line in block.splitlines()))
    cmp = compare_systems(results[0], results[1], replications=args.bootstrap, seed=args.seed)
    text = format_comparison(cmp, hyps[0], hyps[1], results[0].metric)
    print(text)
    if args.out:
        out = Path(args.out)
        for name, r, h, hw, fr in zip("AB", results, hyps, hotwords, frequency):
            _write_reports(r, out / name, utt2spk, f"{h} vs {args.ref}", args.max_ranked, hw, fr)
        with atomic_write(out / "compare.txt") as f:
            f.write(text + "\n")
        print(f"cifst score: reports written to {args.out}", file=sys.stderr)
    return 0


def run_times(args: argparse.Namespace) -> int:
    from asr.errors import CifstError, InputError
    from asr.scoring.timestamps import format_timestamp_score, read_ctm, score_timestamps

    ref = read_ctm(args.ref_ctm)
    hyp = read_ctm(args.hyp_ctm)
    if ref and hyp and not any(k in ref for k in hyp):
        raise InputError(args.hyp_ctm, None, f"no utterance is shared with {args.ref_ctm}: wrong file pair?")
    if not ref:
        raise CifstError(f"{args.ref_ctm} has no words: nothing to score")
    s = score_timestamps(ref, hyp, lower_case=args.lower_case, tolerances=args.tolerance)
    for keys, what in (
        (s.missing_keys, f"missing from {args.hyp_ctm}"),
        (s.extra_keys, f"not in {args.ref_ctm}"),
    ):
        if keys:
            print(
                f"cifst score-times: warning: {len(keys)} utterance(s) {what}, not scored (e.g. '{keys[0]}')",
                file=sys.stderr,
            )
    print(format_timestamp_score(s))
    return 0
