"""Combine Kaldi data directories into one, as Kaldi's ``utils/combine_data.sh`` does.

Per-utterance files (``text``, ``utt2spk``, ``wav.scp`` or ``segments``, ``utt2dur``, ``utt2aug``, ...) present in
every input are merged and written sorted; a file missing from some input is left out of the result with a warning
(Kaldi's behaviour). Speaker files (``spk2gender``, ...) are merged when speakers agree; ``spk2utt`` is rebuilt; a
reference ``ctm`` (several lines per utterance) is concatenated. Utterance keys must be unique across the inputs:
an input given as ``DIR:TAG`` has ``-TAG`` appended to its utterance keys (and to its recording keys when it has
``segments``), so two corpora that reuse key numbers can be combined; keys keep their speaker-id prefix, so the
C-locale order of ``utt2spk`` and ``spk2utt`` still agrees.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import (
    iter_kv_lines,
    read_kv,
    read_utt2spk,
    utt2spk_to_spk2utt,
    write_kv,
    write_spk2utt,
)
from asr.data.validate import NOTE_UTT_FILES, SPK_FILES, UTT_FILES
from asr.errors import InputError

__all__ = ["CombineReport", "combine_data_dirs", "parse_source"]

log = logging.getLogger(__name__)

# every per-utterance key-value file combine knows
COMBINED_UTT_FILES = (*UTT_FILES, "wav.scp", "segments", *NOTE_UTT_FILES)


@dataclass
class CombineReport:
    """What :func:`combine_data_dirs` wrote."""

    utterances: int = 0
    speakers: int = 0
    written: list[str] = field(default_factory=list)
    left_out: dict[str, list[str]] = field(default_factory=dict)  # file -> inputs that lack it


def parse_source(spec: str) -> tuple[Path, str]:
    """``DIR`` or ``DIR:TAG`` -> (directory, tag or "")."""
    path, sep, tag = spec.rpartition(":")
    if not sep or not tag or "/" in tag or not path:
        return Path(spec), ""
    if any(c.isspace() for c in tag):
        raise InputError(spec, None, f"tag '{tag}' contains whitespace")
    return Path(path), tag


def _tagged(key: str, tag: str) -> str:
    return f"{key}-{tag}" if tag else key


def combine_data_dirs(out_dir: str | os.PathLike, sources: list[tuple[Path, str]]) -> CombineReport:
    """Write the union of ``sources`` (``(dir, tag)`` pairs) to ``out_dir``.

    Raises:
        InputError: a missing input directory or ``utt2spk``, an input with neither ``wav.scp`` nor ``segments``,
            an utterance (or recording, or speaker-file entry) in two inputs with no tag to tell them apart,
            naming both inputs; or any read error of an input file (file and line).
    """
    if not sources:
        raise InputError(out_dir, None, "nothing to combine: give at least one input directory")
    out = Path(out_dir)
    for d, _ in sources:
        if not (d / "utt2spk").is_file():
            raise InputError(d / "utt2spk", None, "input data directory has no utt2spk")
        if not (d / "wav.scp").is_file() and not (d / "segments").is_file():
            raise InputError(d, None, "input data directory has neither wav.scp nor segments")
    if any(out.resolve() == d.resolve() for d, _ in sources):
        raise InputError(out, None, "the output directory must not be one of the inputs")
    report = CombineReport()
    with_segments = any((d / "segments").is_file() for d, _ in sources)
    names = [n for n in COMBINED_UTT_FILES if any((d / n).is_file() for d, _ in sources)]
    if with_segments:
        names = [n for n in names if n != "wav.scp"]  # recordings, handled below
    merged: dict[str, dict[str, str]] = {}
    origin: dict[str, Path] = {}  # utterance -> the file it came from (for duplicate errors)
    for name in names:
        lacking = [str(d) for d, _ in sources if not (d / name).is_file()]
        if lacking:
            report.left_out[name] = lacking
            log.warning("combine: leaving out %s: missing in %s", name, ", ".join(lacking))
            continue
        data: dict[str, str] = {}
        for d, tag in sources:
            for lineno, key, value in iter_kv_lines(d / name, allow_empty_value=name == "text"):
                new_key = _tagged(key, tag)
                if name == "segments" and tag:
                    rec, _, times = value.partition(" ")
                    value = f"{_tagged(rec, tag)} {times}"
                if new_key in data:
                    raise InputError(
                        d / name,
                        lineno,
                        f"utterance '{new_key}' is already in {origin[new_key]}: give one input a tag "
                        "(DIR:TAG appends -TAG to its utterance keys)",
                    )
                data[new_key] = value
                origin.setdefault(new_key, d / name)
        merged[name] = data
    for d, _ in sources:
        read_utt2spk(d / "utt2spk")  # one speaker per utterance, or an error naming the line
    spk_files: dict[str, dict[str, str]] = {}
    for name in SPK_FILES:
        for d, _ in sources:
            if (d / name).is_file():
                values = spk_files.setdefault(name, {})
                for spk, value in read_kv(d / name, allow_empty_value=False).items():
                    if values.get(spk, value) != value:
                        raise InputError(
                            d / name, None, f"speaker '{spk}' has a different value in another input"
                        )
                    values[spk] = value
    recordings: dict[str, str] | None = None
    if with_segments:
        recordings = {}
        for d, tag in sources:
            if not (d / "wav.scp").is_file():
                continue
            for lineno, key, value in iter_kv_lines(d / "wav.scp", allow_empty_value=False):
                new_key = _tagged(key, tag)
                if recordings.get(new_key, value) != value:
                    raise InputError(d / "wav.scp", lineno, f"recording '{new_key}' differs between inputs")
                recordings[new_key] = value
    out.mkdir(parents=True, exist_ok=True)  # every input read and checked: nothing half-written on an error
    if recordings is not None:
        write_kv(out / "wav.scp", recordings)
        report.written.append("wav.scp")
    for name, data in merged.items():
        write_kv(out / name, data)
        report.written.append(name)
    utt2spk = merged["utt2spk"]
    write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    report.written.append("spk2utt")
    for name, values in spk_files.items():
        write_kv(out / name, values)
        report.written.append(name)
    if all((d / "ctm").is_file() for d, _ in sources):
        with atomic_write(out / "ctm") as f:
            for d, tag in sources:
                for line in (d / "ctm").read_text(encoding="utf-8").splitlines():
                    parts = line.split(maxsplit=1)
                    if parts and not line.startswith(";;"):
                        line = " ".join([_tagged(parts[0], tag), *parts[1:]])
                    f.write(line + "\n")
        report.written.append("ctm")
    elif any((d / "ctm").is_file() for d, _ in sources):
        report.left_out["ctm"] = [str(d) for d, _ in sources if not (d / "ctm").is_file()]
    if "feats.scp" in merged:
        # the fbank options of stored features (cifst data fbank) travel with them when every input agrees
        options = {(d / "feats.json").read_text(encoding="utf-8") if (d / "feats.json").is_file() else None
                   for d, _ in sources}  # fmt: skip
        if len(options) == 1 and None not in options:
            with atomic_write(out / "feats.json") as f:
                f.write(options.pop())
            report.written.append("feats.json")
        else:
            report.left_out["feats.json"] = [str(d) for d, _ in sources]
            log.warning(
                "combine: leaving out feats.json: the inputs' fbank options differ or are not all known"
            )
    report.utterances = len(utt2spk)
    report.speakers = len(set(utt2spk.values()))
    return report
