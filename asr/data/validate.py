"""A Kaldi data directory -> a list of problems (:func:`validate_data_dir`), or a repaired directory
(:func:`fix_data_dir`: files sorted, utterances missing from any file dropped and reported, ``spk2utt`` rebuilt).

Checks follow Kaldi's ``utils/validate_data_dir.sh``: required files present (``utt2spk``, ``spk2utt``, ``wav.scp``
unless ``no_wav`` or ``feats.scp`` is there, ``text`` unless ``no_text``); every file well formed (UTF-8, no empty
key, no duplicate key) and sorted in the C locale; ``text``, ``utt2spk``, ``segments`` (or ``wav.scp`` when there are
no segments) and the optional per-utterance files cover the same utterances; ``spk2utt`` is exactly the inverse of
``utt2spk``; ``segments`` refer to recordings of ``wav.scp``. The repair follows ``utils/fix_data_dir.sh``.
Reference: Kaldi ``egs/wsj/s5/utils/{validate,fix}_data_dir.sh`` and ``kaldi-asr.org/doc/data_prep.html``.
"""

from __future__ import annotations

import os
import shlex
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import (
    c_sorted,
    iter_kv_lines,
    read_kv,
    read_segments,
    read_spk2utt,
    read_text,
    read_utt2dur,
    read_utt2spk,
    read_wav_scp,
    utt2spk_to_spk2utt,
    write_kv,
    write_spk2utt,
)
from asr.errors import InputError

__all__ = [
    "Problem",
    "ValidateConfig",
    "ValidationReport",
    "FixReport",
    "validate_data_dir",
    "fix_data_dir",
]

# Optional per-utterance files kept consistent (Kaldi's fix_data_dir.sh list, minus the ones we never write).
UTT_FILES = ("text", "utt2spk", "utt2dur", "utt2num_frames", "feats.scp", "utt2lang", "utt2uniq")
SPK_FILES = ("spk2gender", "cmvn.scp")
# per-utterance notes that need not cover every utterance: filtered by ``fix``, never a reason to drop one
# (utt2aug: the synthetic corpus's augmentation per utterance)
NOTE_UTT_FILES = ("utt2aug",)
_EXAMPLES = 3


@dataclass(frozen=True)
class Problem:
    """One finding: the file, the 1-based line where known, and what is wrong (with the fix where there is one)."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        where = self.path if self.line is None else f"{self.path}:{self.line}"
        return f"{where}: {self.message}"


@dataclass
class ValidateConfig:
    """What :func:`validate_data_dir` requires.

    Attributes:
        no_text: ``text`` is optional (test sets without transcripts).
        no_wav: ``wav.scp`` is optional; it already is in a directory with ``feats.scp`` (features stand in
            for the audio, as in Kaldi's script).
        check_audio: Check that every audio path of ``wav.scp`` exists and that the program of a pipe entry
            (``cmd args |``) is on ``PATH``.
    """

    no_text: bool = False
    no_wav: bool = False
    check_audio: bool = False


@dataclass
class ValidationReport:
    """Result of :func:`validate_data_dir`.

    Attributes:
        errors: Problems that make the directory unusable for Kaldi-style tools.
        warnings: Problems worth knowing (empty transcripts, unused recordings...).
        num_utts: Utterances in ``utt2spk`` (0 when unreadable).
        num_speakers: Speakers in ``utt2spk``.
    """

    errors: list[Problem] = field(default_factory=list)
    warnings: list[Problem] = field(default_factory=list)
    num_utts: int = 0
    num_speakers: int = 0

    @property
    def ok(self) -> bool:
        return not self.errors


@dataclass
class FixReport:
    """Result of :func:`fix_data_dir`.

    Attributes:
        kept: Utterances kept.
        dropped: ``utt -> reason`` for every utterance removed (e.g. ``"not in text, wav.scp"``).
        dropped_recordings: Recordings removed from ``wav.scp`` (no segment uses them any more).
        rewritten: Files written (sorted) in the directory.
        backup_dir: Where the original files were copied, or ``None``.
    """

    kept: int = 0
    dropped: dict[str, str] = field(default_factory=dict)
    dropped_recordings: list[str] = field(default_factory=list)
    rewritten: list[str] = field(default_factory=list)
    backup_dir: str | None = None


def _examples(keys) -> str:
    keys = c_sorted(keys)
    more = f" and {len(keys) - _EXAMPLES} more" if len(keys) > _EXAMPLES else ""
    return ", ".join(f"'{k}'" for k in keys[:_EXAMPLES]) + more


def _first_unsorted(path: Path) -> tuple[int, str] | None:
    prev: bytes | None = None
    for lineno, key, _ in iter_kv_lines(path):
        kb = key.encode("utf-8")
        if prev is not None and kb < prev:
            return lineno, key
        prev = kb
    return None


def _read(report: ValidationReport, path: Path, reader: Callable, check_sorted: bool = True):
    """Read one file, turning its first error into a reported problem; ``None`` when unreadable."""
    try:
        data = reader(path)
    except InputError as e:
        report.errors.append(Problem(e.path or str(path), e.line, e.message))
        return None
    if check_sorted:
        bad = _first_unsorted(path)
        if bad is not None:
            report.errors.append(
                Problem(
                    str(path),
                    bad[0],
                    f"key '{bad[1]}' is out of order: not sorted in the C locale (cifst data fix)",
                )
            )
    return data


def _compare_keys(report: ValidationReport, ref_name: str, ref_keys: set, path: Path, keys: set) -> None:
    missing = ref_keys - keys
    extra = keys - ref_keys
    if missing:
        report.errors.append(
            Problem(
                str(path),
                None,
                f"{len(missing)} utterance(s) of {ref_name} are missing: {_examples(missing)}",
            )
        )
    if extra:
        report.errors.append(
            Problem(str(path), None, f"{len(extra)} utterance(s) are not in {ref_name}: {_examples(extra)}")
        )


def _check_wav_entry(report: ValidationReport, path: Path, lineno: int, key: str, value: str) -> None:
    if value.endswith("|"):
        try:
            prog = shlex.split(value[:-1])[0]
        except (ValueError, IndexError):
            report.errors.append(Problem(str(path), lineno, f"cannot parse the pipe command of '{key}'"))
            return
        if shutil.which(prog) is None and not Path(prog).exists():
            report.warnings.append(Problem(str(path), lineno, f"program '{prog}' of '{key}' is not on PATH"))
    elif not Path(value).exists():
        report.errors.append(Problem(str(path), lineno, f"audio file of '{key}' does not exist: {value}"))


def validate_data_dir(data_dir: str | os.PathLike, config: ValidateConfig | None = None) -> ValidationReport:
    """Check a Kaldi data directory (module docstring) and collect every problem found.

    Args:
        data_dir: The directory.
        config: Which files are optional and whether audio paths are checked.

    Returns:
        :class:`ValidationReport`; ``report.ok`` is true when there are no errors.

    Raises:
        InputError: ``data_dir`` does not exist or is not a directory.
    """
    config = config or ValidateConfig()
    d = Path(data_dir)
    if not d.is_dir():
        raise InputError(d, None, "data directory does not exist" if not d.exists() else "not a directory")
    report = ValidationReport()
    required = ["utt2spk", "spk2utt"]
    if not config.no_wav and not (d / "feats.scp").is_file():  # Kaldi: features stand in for the audio
        required.append("wav.scp")
    if not config.no_text:
        required.append("text")
    for name in required:
        if not (d / name).is_file():
            hint = " (cifst data fix creates it from utt2spk)" if name == "spk2utt" else ""
            report.errors.append(Problem(str(d / name), None, f"required file is missing{hint}"))

    utt2spk = _read(report, d / "utt2spk", read_utt2spk) if (d / "utt2spk").is_file() else None
    if utt2spk is None:
        return report
    utts = set(utt2spk)
    report.num_utts = len(utts)
    report.num_speakers = len(set(utt2spk.values()))
    if not utts:
        report.errors.append(Problem(str(d / "utt2spk"), None, "no utterances"))

    # Kaldi's tools assume sorting by utterance also sorts by speaker (speaker ids as prefixes of utterance ids).
    by_spk = sorted(utt2spk, key=lambda u: (utt2spk[u].encode(), u.encode()))
    if by_spk != c_sorted(utt2spk):
        report.warnings.append(
            Problem(
                str(d / "utt2spk"),
                None,
                "sorting by speaker does not give the same order as sorting by utterance; Kaldi's per-speaker "
                "tools need speaker ids as prefixes of utterance ids",
            )
        )

    if (d / "spk2utt").is_file():
        spk2utt = _read(report, d / "spk2utt", read_spk2utt)
        if spk2utt is not None:
            expected = {s: set(u) for s, u in utt2spk_to_spk2utt(utt2spk).items()}
            got = {s: set(u) for s, u in spk2utt.items()}
            bad = [s for s in set(expected) | set(got) if expected.get(s) != got.get(s)]
            if bad:
                report.errors.append(
                    Problem(
                        str(d / "spk2utt"),
                        None,
                        f"does not match utt2spk for {len(bad)} speaker(s): {_examples(bad)} "
                        "(cifst data fix rebuilds it)",
                    )
                )

    if (d / "text").is_file():
        text = _read(report, d / "text", read_text)
        if text is not None:
            _compare_keys(report, "utt2spk", utts, d / "text", set(text))
            empty = [k for k, v in text.items() if not v]
            if empty:
                report.warnings.append(
                    Problem(str(d / "text"), None, f"{len(empty)} empty transcript(s): {_examples(empty)}")
                )

    segments = None
    if (d / "segments").is_file():
        segments = _read(report, d / "segments", read_segments)
        if segments is not None:
            _compare_keys(report, "utt2spk", utts, d / "segments", set(segments))
    if (d / "wav.scp").is_file():
        wav = _read(report, d / "wav.scp", read_wav_scp)
        if wav is not None:
            if segments is not None:
                unknown = {u for u, s in segments.items() if s.recording not in wav}
                if unknown:
                    report.errors.append(
                        Problem(
                            str(d / "segments"),
                            None,
                            f"{len(unknown)} segment(s) refer to recordings missing from wav.scp: {_examples(unknown)}",
                        )
                    )
                unused = set(wav) - {s.recording for s in segments.values()}
                if unused:
                    report.warnings.append(
                        Problem(str(d / "wav.scp"), None, f"{len(unused)} recording(s) unused by segments")
                    )
            elif not (d / "segments").exists():
                _compare_keys(report, "utt2spk", utts, d / "wav.scp", set(wav))
            if config.check_audio:
                for lineno, key, value in iter_kv_lines(d / "wav.scp"):
                    _check_wav_entry(report, d / "wav.scp", lineno, key, value)

    if (d / "ctm").is_file():
        unknown = set()
        try:
            with open(d / "ctm", encoding="utf-8") as f:
                for line in f:
                    fields = line.split()
                    if fields and not line.startswith(";;") and fields[0] not in utts:
                        unknown.add(fields[0])
        except UnicodeDecodeError as e:
            report.errors.append(Problem(str(d / "ctm"), None, f"not valid UTF-8 (byte {e.start})"))
        if unknown:
            report.warnings.append(
                Problem(
                    str(d / "ctm"), None, f"{len(unknown)} utterance(s) not in utt2spk: {_examples(unknown)}"
                )
            )
    for name in ("utt2dur", "utt2num_frames", "feats.scp", "utt2lang", "utt2uniq"):
        p = d / name
        if not p.is_file():
            continue
        reader = read_utt2dur if name == "utt2dur" else (lambda q: read_kv(q, allow_empty_value=False))
        data = _read(report, p, reader)
        if data is None:
            continue
        _compare_keys(report, "utt2spk", utts, p, set(data))
        if name == "utt2dur":
            bad = [k for k, v in data.items() if v <= 0]
            if bad:
                report.errors.append(
                    Problem(str(p), None, f"{len(bad)} non-positive duration(s): {_examples(bad)}")
                )
    return report


def fix_data_dir(data_dir: str | os.PathLike, backup: bool = True) -> FixReport:
    """Repair a data directory in place, as Kaldi's ``fix_data_dir.sh``.

    Sorts every file in the C locale, keeps only utterances present in all per-utterance files (``text``,
    ``utt2spk``, ``segments`` or ``wav.scp``, and the optional ones), drops segments whose recording is missing and
    recordings no segment uses, filters speaker files to the remaining speakers, and per-utterance notes
    (``utt2aug``) and a reference ``ctm`` (word times, several lines per utterance) to the remaining utterances,
    and rebuilds ``spk2utt``.

    Args:
        data_dir: The directory.
        backup: Copy the original files to ``DATA_DIR/.backup/`` first.

    Returns:
        :class:`FixReport` naming every utterance dropped and why.

    Raises:
        InputError: no directory, no ``utt2spk``, or a file with an error sorting cannot fix (duplicate key,
            malformed line), naming the file and line.
    """
    d = Path(data_dir)
    if not d.is_dir():
        raise InputError(d, None, "data directory does not exist" if not d.exists() else "not a directory")
    if not (d / "utt2spk").is_file():
        raise InputError(
            d / "utt2spk", None, "required file is missing; cannot fix a directory without utt2spk"
        )
    report = FixReport()
    utt_data: dict[str, dict[str, str]] = {}
    for name in UTT_FILES:
        if (d / name).is_file():
            allow_empty = name == "text"
            utt_data[name] = read_kv(d / name, allow_empty_value=allow_empty)
    read_utt2spk(d / "utt2spk")  # one speaker per utterance, or an error naming the line
    segments = None
    seg_raw: dict[str, str] = {}
    if (d / "segments").is_file():
        segments = read_segments(d / "segments")
        seg_raw = read_kv(d / "segments", allow_empty_value=False)
    wav = read_wav_scp(d / "wav.scp") if (d / "wav.scp").is_file() else None
    if segments is not None:
        utt_data["segments"] = seg_raw
    elif wav is not None:
        utt_data["wav.scp"] = wav

    all_utts = set().union(*(set(v) for v in utt_data.values()))
    keep = set.intersection(*(set(v) for v in utt_data.values()))
    if segments is not None and wav is not None:
        no_rec = {u for u in keep if segments[u].recording not in wav}
        for u in no_rec:
            report.dropped[u] = f"recording '{segments[u].recording}' not in wav.scp"
        keep -= no_rec
    for u in all_utts - keep:
        if u not in report.dropped:
            missing = [name for name, data in utt_data.items() if u not in data]
            report.dropped[u] = "not in " + ", ".join(missing)
    report.kept = len(keep)

    names = [
        *utt_data,
        *(n for n in ("wav.scp", "spk2utt", "ctm", *SPK_FILES, *NOTE_UTT_FILES) if (d / n).is_file()),
    ]
    if backup:
        bdir = d / ".backup"
        bdir.mkdir(exist_ok=True)
        for name in dict.fromkeys(names):
            if (d / name).is_file():
                shutil.copy2(d / name, bdir / name)
        report.backup_dir = str(bdir)

    for name, data in utt_data.items():
        write_kv(d / name, {u: v for u, v in data.items() if u in keep})
        report.rewritten.append(name)
    for name in NOTE_UTT_FILES:
        if (d / name).is_file():
            data = read_kv(d / name, allow_empty_value=False)
            write_kv(d / name, {u: v for u, v in data.items() if u in keep})
            report.rewritten.append(name)
    if segments is not None and wav is not None:
        used = {segments[u].recording for u in keep}
        report.dropped_recordings = c_sorted(set(wav) - used)
        write_kv(d / "wav.scp", {r: v for r, v in wav.items() if r in used})
        report.rewritten.append("wav.scp")
    utt2spk = {u: s for u, s in utt_data["utt2spk"].items() if u in keep}
    write_spk2utt(d / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    report.rewritten.append("spk2utt")
    if (d / "ctm").is_file():  # reference word times, several lines per utterance
        lines = (d / "ctm").read_text(encoding="utf-8").splitlines(keepends=True)
        with atomic_write(d / "ctm") as f:
            f.writelines(ln for ln in lines if not ln.split() or ln.startswith(";;") or ln.split()[0] in keep)
        report.rewritten.append("ctm")
    speakers = set(utt2spk.values())
    for name in SPK_FILES:
        if (d / name).is_file():
            data = read_kv(d / name, allow_empty_value=False)
            write_kv(d / name, {s: v for s, v in data.items() if s in speakers})
            report.rewritten.append(name)
    return report
