"""A :class:`~asr.scoring.score.ScoreResult` -> text reports: the Kaldi ``%WER`` and ``%SER`` lines, the detailed
per-utterance report, the per-speaker table and a JSON summary.

The detailed report follows the shape Chinese ASR teams parse (FunASR/WeNet ``compute-wer.py`` lineage): per
utterance ``KEY:``, ``REF:`` and ``HYP:`` aligned unit by unit (columns padded to the same display width, CJK
characters counting double, ``*`` filling gaps), ``CNT: H(n) S(n) D(n) I(n)`` and the ``SUB: (ref) --> (hyp)``,
``DEL: (ref)`` and ``INS: (hyp)`` lines of that utterance; then substitutions, deletions and insertions ranked by
count; then the summary lines ``WER: x%``, ``WORDS: n  SUB: x%  DEL: x%  INS: x%``, ``ACC_UTT: x%  SENTS: n`` and
WeNet's ``Overall -> x % N=n C=h S=s D=d I=i``.
References: Kaldi ``compute-wer`` (``%WER`` line), NIST sclite (per-speaker table), WeNet ``tools/compute-wer.py``.
"""

from __future__ import annotations

import functools
import json
import unicodedata
from collections.abc import Mapping
from typing import IO

from asr.scoring.score import ScoreResult, SpeakerScore, UttScore

__all__ = [
    "display_width",
    "format_kaldi_line",
    "format_ser_line",
    "format_scored_line",
    "format_summary_lines",
    "format_utterance",
    "write_details",
    "write_speaker_table",
    "summary_dict",
    "write_summary_json",
    "write_utterance_table",
]

GAP = "*"
_PROGRESS_UTTS = 50_000  # show a progress bar while writing reports longer than this


@functools.lru_cache(maxsize=1 << 16)
def display_width(s: str) -> int:
    """Terminal columns ``s`` takes: wide/fullwidth (CJK) characters count 2, combining marks 0."""
    if s.isascii():
        return len(s)
    w = 0
    for c in s:
        if unicodedata.combining(c):
            continue
        w += 2 if unicodedata.east_asian_width(c) in "WF" else 1
    return w


def _pct(num: float, den: float) -> float:
    if den:
        return 100.0 * num / den
    return 0.0 if num == 0 else 100.0


def format_kaldi_line(result: ScoreResult) -> str:
    """``%WER 12.34 [ 123 / 1000, 10 ins, 20 del, 93 sub ]`` (``%CER`` for character scoring)."""
    t = result.totals
    return (
        f"%{result.metric} {100.0 * result.error_rate:.2f} [ {t.errors} / {t.ref_len}, "
        f"{t.ins} ins, {t.dels} del, {t.subs} sub ]"
    )


def format_ser_line(result: ScoreResult) -> str:
    """``%SER 45.00 [ 45 / 100 ]``."""
    return f"%SER {100.0 * result.ser:.2f} [ {result.sentence_errors} / {result.sentences} ]"


def format_scored_line(result: ScoreResult) -> str:
    """``Scored 100 sentences, 2 not present in hyp, 1 not present in ref.``"""
    return (
        f"Scored {result.sentences} sentences, {len(result.missing_keys)} not present in hyp, "
        f"{len(result.extra_keys)} not present in ref."
    )


def format_utterance(u: UttScore) -> list[str]:
    """The report block of one :class:`~asr.scoring.score.UttScore` (no trailing blank line)."""
    ref_cells: list[str] = []
    hyp_cells: list[str] = []
    sub_l: list[str] = []
    del_l: list[str] = []
    ins_l: list[str] = []
    width = display_width
    for r, h in u.alignment():
        if r is None:
            ins_l.append(f"({h})")
            r = GAP
        elif h is None:
            del_l.append(f"({r})")
            h = GAP
        elif r != h:
            sub_l.append(f"({r}) --> ({h})")
        wr, wh = width(r), width(h)
        if wr < wh:
            r += " " * (wh - wr)
        elif wh < wr:
            h += " " * (wr - wh)
        ref_cells.append(r)
        hyp_cells.append(h)
    c = u.counts
    key = u.key + ("  (no hypothesis)" if u.hyp_missing else "")
    lines = [
        f"KEY: {key}",
        "REF: " + " ".join(ref_cells).rstrip(),
        "HYP: " + " ".join(hyp_cells).rstrip(),
        f"CNT: H({c.hits}) S({c.subs}) D({c.dels}) I({c.ins})",
    ]
    if sub_l:
        lines.append("SUB: " + " ".join(sub_l))
    if del_l:
        lines.append("DEL: " + " ".join(del_l))
    if ins_l:
        lines.append("INS: " + " ".join(ins_l))
    return lines


def format_summary_lines(result: ScoreResult) -> list[str]:
    """``WER: x%``, ``WORDS: n  SUB: x%  DEL: x%  INS: x%``, ``ACC_UTT: x%  SENTS: n``, and WeNet's
    ``Overall -> x % N=n C=h S=s D=d I=i``."""
    t = result.totals
    n = t.ref_len
    return [
        f"{result.metric}: {100.0 * result.error_rate:.2f}%",
        f"WORDS: {n}  SUB: {_pct(t.subs, n):.2f}%  DEL: {_pct(t.dels, n):.2f}%  INS: {_pct(t.ins, n):.2f}%",
        f"ACC_UTT: {100.0 - 100.0 * result.ser:.2f}%  SENTS: {result.sentences}",
        # WeNet tools/compute-wer.py's summary line, for scripts that grep it
        f"Overall -> {100.0 * result.error_rate:.2f} % N={n} C={t.hits} S={t.subs} D={t.dels} I={t.ins}",
    ]


def write_details(result: ScoreResult, f: IO[str], max_ranked: int | None = None) -> None:
    """Write the detailed report (module docstring) to the text stream ``f``.

    Args:
        result: The scores.
        f: An open text stream.
        max_ranked: Keep only the most frequent N entries of each ranked list (``None``: all).
    """
    f.write(format_kaldi_line(result) + "\n")
    f.write(format_ser_line(result) + "\n")
    f.write(format_scored_line(result) + "\n")
    if result.missing_keys:
        f.write(f"Missing from the hypothesis (scored as deletions): {' '.join(result.missing_keys)}\n")
    if result.extra_keys:
        f.write(f"Only in the hypothesis (not scored): {' '.join(result.extra_keys)}\n")
    f.write("\n")
    from tqdm import tqdm

    quiet = len(result.utterances) < _PROGRESS_UTTS
    for u in tqdm(result.utterances, desc="details", unit="utt", disable=quiet, leave=False):
        f.write("\n".join(format_utterance(u)) + "\n\n")
    subs, dels, ins = result.confusions()
    f.write(f"SUBSTITUTIONS: {sum(subs.values())} total, ranked by count (count  ref --> hyp)\n")
    for (r, h), n in sorted(subs.items(), key=lambda kv: (-kv[1], kv[0]))[:max_ranked]:
        f.write(f"{n:6d}  {r} --> {h}\n")
    f.write(f"\nDELETIONS: {sum(dels.values())} total, ranked by count (count  ref)\n")
    for r, n in sorted(dels.items(), key=lambda kv: (-kv[1], kv[0]))[:max_ranked]:
        f.write(f"{n:6d}  {r}\n")
    f.write(f"\nINSERTIONS: {sum(ins.values())} total, ranked by count (count  hyp)\n")
    for h, n in sorted(ins.items(), key=lambda kv: (-kv[1], kv[0]))[:max_ranked]:
        f.write(f"{n:6d}  {h}\n")
    f.write("\n" + "\n".join(format_summary_lines(result)) + "\n")


def write_speaker_table(result: ScoreResult, utt2spk: Mapping[str, str], f: IO[str]) -> None:
    """The sclite-style per-speaker table: sentences, words, then %correct/sub/del/ins/err and sentence error.

    Args:
        result: The scores.
        utt2spk: ``utt -> speaker``.
        f: Open text stream.
    """
    rows = result.by_speaker(utt2spk)
    total = SpeakerScore("Sum", result.sentences, result.sentence_errors, result.totals)
    name_w = max([display_width(r.speaker) for r in rows] + [7])
    head = f"{'SPEAKER':<{name_w}}  {'SENTS':>6} {'WORDS':>7} {'CORR':>6} {'SUB':>6} {'DEL':>6} {'INS':>6} "
    head += f"{result.metric:>6} {'S.ERR':>6}"
    f.write(head + "\n")
    f.write("-" * len(head) + "\n")
    for r in [*rows, total]:
        if r is total:
            f.write("-" * len(head) + "\n")
        c = r.counts
        n = c.ref_len
        pad = " " * (name_w - display_width(r.speaker))
        f.write(
            f"{r.speaker}{pad}  {r.sentences:>6d} {n:>7d} {_pct(c.hits, n):>6.2f} {_pct(c.subs, n):>6.2f} "
            f"{_pct(c.dels, n):>6.2f} {_pct(c.ins, n):>6.2f} {100.0 * c.rate:>6.2f} {100.0 * r.ser:>6.2f}\n"
        )


def summary_dict(result: ScoreResult, utt2spk: Mapping[str, str] | None = None) -> dict:
    """A JSON-ready summary: totals, rates (in %), missing/extra keys, and per-speaker totals when given."""
    t = result.totals
    out = {
        "metric": result.metric,
        "error_rate": round(100.0 * result.error_rate, 4),
        "ref_units": t.ref_len,
        "hits": t.hits,
        "substitutions": t.subs,
        "deletions": t.dels,
        "insertions": t.ins,
        "sentences": result.sentences,
        "sentence_errors": result.sentence_errors,
        "ser": round(100.0 * result.ser, 4),
        "missing_keys": result.missing_keys,
        "extra_keys": result.extra_keys,
    }
    if utt2spk is not None:
        out["speakers"] = {
            s.speaker: {
                "sentences": s.sentences,
                "ref_units": s.counts.ref_len,
                "hits": s.counts.hits,
                "substitutions": s.counts.subs,
                "deletions": s.counts.dels,
                "insertions": s.counts.ins,
                "error_rate": round(100.0 * s.counts.rate, 4),
                "ser": round(100.0 * s.ser, 4),
            }
            for s in result.by_speaker(utt2spk)
        }
    return out


def write_summary_json(result: ScoreResult, f: IO[str], utt2spk: Mapping[str, str] | None = None) -> None:
    """Write :func:`summary_dict` as indented UTF-8 JSON to the text stream ``f``."""
    json.dump(summary_dict(result, utt2spk), f, ensure_ascii=False, indent=2)
    f.write("\n")


def write_utterance_table(result: ScoreResult, f: IO[str], utt2spk: Mapping[str, str] | None = None) -> None:
    """One tab-separated line per utterance for spreadsheets and pandas: ``key speaker ref_units hits subs dels
    ins errors rate hyp_missing`` (rate in %, speaker ``-`` without ``utt2spk``).

    Args:
        result: The scores.
        f: Open text stream.
        utt2spk: Optional ``utt -> speaker``.
    """
    f.write("key\tspeaker\tref_units\thits\tsubs\tdels\tins\terrors\trate\thyp_missing\n")
    spk = utt2spk or {}
    for u in result.utterances:
        c = u.counts
        f.write(
            f"{u.key}\t{spk.get(u.key, '-')}\t{c.ref_len}\t{c.hits}\t{c.subs}\t{c.dels}\t{c.ins}\t{c.errors}\t"
            f"{100.0 * c.rate:.2f}\t{int(u.hyp_missing)}\n"
        )
