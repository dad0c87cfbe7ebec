"""Precomputed features for a Kaldi data directory, as Kaldi's ``steps/make_fbank.sh``: every utterance's fbank is
computed once (no dither) and stored in ark files, indexed by ``feats.scp`` (``key ark_path:offset``) with
``utt2num_frames``, so training and inference read matrices instead of decoding audio and computing fbank again.

Layout written by :func:`compute_feats` into ``DATA_DIR``::

    feats.scp          key -> /abs/DATA_DIR/fbank/feats.C.ark:offset   (C-sorted)
    utt2num_frames     key -> fbank frames
    feats.json         the fbank options the matrices were made with (checked against the model's config)
    fbank/feats.C.ark  float32 matrices of chunk C (CHUNK utterances each, in key order)
    fbank/chunk.C.json the chunk's index (offsets, frames, unreadable utterances): written last, atomically, so a
                       killed run resumes at the first chunk without one
    fbank/plan.json    options, chunk size and a digest of the utterance list: a changed directory or option
                       starts over instead of mixing old and new chunks

Unreadable audio is left out of ``feats.scp`` with a warning naming the utterance; ``cifst data fix`` then drops
the utterance from the directory, as ``utils/fix_data_dir.sh`` does after ``make_fbank.sh``.

:class:`FeatsIndex` is the reading side (used by :class:`asr.data.dataset.AsrDataset`): it checks ``feats.json``
against the fbank options of the model and names every difference.

Reference: Kaldi ``steps/make_fbank.sh``, ``compute-fbank-feats`` and ``copy-feats``; lhotse's feature manifests.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import multiprocessing
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import c_sorted, read_kv
from asr.errors import CifstError, InputError
from asr.features.fbank import FbankConfig

__all__ = [
    "FeatsReport",
    "FeatsIndex",
    "compute_feats",
    "read_feats_options",
    "stored_fbank_config",
    "FEATS_OPTIONS_FILE",
]

log = logging.getLogger(__name__)

FEATS_OPTIONS_FILE = "feats.json"
# options that change the matrices (dither is 0 in every precomputed matrix; training dither is not applied to them)
_CHECKED = tuple(f.name for f in dataclasses.fields(FbankConfig) if f.name != "dither")


@dataclass
class FeatsReport:
    """What :func:`compute_feats` did.

    Attributes:
        written: Utterances in ``feats.scp``.
        failed: ``key -> reason`` for utterances whose audio could not be read (left out of ``feats.scp``).
        chunks: Chunks in the plan; ``resumed`` of them were already done by an earlier run.
        frames: Total fbank frames written.
    """

    written: int = 0
    failed: dict[str, str] = field(default_factory=dict)
    chunks: int = 0
    resumed: int = 0
    frames: int = 0


def _options(config: FbankConfig) -> dict:
    return {name: getattr(config, name) for name in _CHECKED}


def _chunk_job(args) -> dict:
    """Worker: fbank of one chunk -> ``fbank/feats.C.ark`` + ``fbank/chunk.C.json`` (returned too)."""
    import kaldiio

    from asr.data.audio import AudioError, load_audio
    from asr.features.fbank import compute_fbank

    chunk, utts, options, out_dir = args
    config = FbankConfig(**options, dither=0.0)
    out_dir = Path(out_dir)
    ark = out_dir / f"feats.{chunk}.ark"
    tmp = out_dir / f".feats.{chunk}.ark.tmp"
    entries, failed = [], {}
    with open(tmp, "wb") as f:
        for key, spec, start, end in utts:
            try:
                wave, rate = load_audio(spec, config.sample_rate, start, end)
                mat = compute_fbank(wave, rate, config, 0.0)
            except AudioError as e:
                failed[key] = str(e)
                continue
            if mat.shape[0] == 0:
                failed[key] = f"'{spec}' is shorter than one fbank window"
                continue
            f.write((key + " ").encode("utf-8"))
            entries.append([key, f.tell(), int(mat.shape[0])])
            kaldiio.matio.write_array(f, np.ascontiguousarray(mat, dtype=np.float32))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, ark)
    index = {"ark": str(ark.resolve()), "entries": entries, "failed": failed}
    with atomic_write(out_dir / f"chunk.{chunk}.json") as f:
        json.dump(index, f)
    return index


def compute_feats(
    data_dir: str | os.PathLike,
    config: FbankConfig | None = None,
    jobs: int = 1,
    chunk_size: int = 1000,
    progress: bool = True,
) -> FeatsReport:
    """Compute the fbank of every utterance of ``data_dir`` into ark files and write ``feats.scp``,
    ``utt2num_frames`` and ``feats.json`` there (see the module docstring). Resumes a killed run.

    Args:
        data_dir: Kaldi data directory (``wav.scp``, optional ``segments``).
        config: Fbank options (a model config's ``fbank`` section); dither is never applied.
        jobs: Worker processes.
        chunk_size: Utterances per ark file (the unit of resumption).
        progress: Show a progress bar.

    Raises:
        InputError: a malformed ``wav.scp``/``segments``.
    """
    from tqdm import tqdm

    from asr.data.dataset import utterance_sources

    data_dir = Path(data_dir)
    options = _options(config or FbankConfig())
    sources, failed = utterance_sources(data_dir)  # every utterance the directory lists, whatever its length
    utts = [(k, *sources[k][:3]) for k in c_sorted(sources)]
    chunks = [utts[i : i + chunk_size] for i in range(0, len(utts), chunk_size)]
    out_dir = data_dir / "fbank"
    out_dir.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256("\n".join(f"{k} {s} {a} {b}" for k, s, a, b in utts).encode("utf-8")).hexdigest()
    plan = {"fbank": options, "chunk_size": chunk_size, "utterances": len(utts), "digest": digest}
    plan_path = out_dir / "plan.json"
    try:
        old_plan = json.loads(plan_path.read_text(encoding="utf-8")) if plan_path.is_file() else None
    except (json.JSONDecodeError, UnicodeDecodeError):
        old_plan = {}  # unreadable: start over
    if old_plan != plan:
        if old_plan is not None:
            log.info(
                "%s: the directory or the fbank options changed since the last run: starting over", out_dir
            )
        for p in out_dir.glob("chunk.*.json"):
            p.unlink()
        for p in out_dir.glob("feats.*.ark"):
            p.unlink()
        with atomic_write(plan_path) as f:
            json.dump(plan, f, indent=1)
    report = FeatsReport(chunks=len(chunks))
    indexes: dict[int, dict] = {}
    todo = []
    for c, part in enumerate(chunks):
        done = out_dir / f"chunk.{c}.json"
        if done.is_file() and (out_dir / f"feats.{c}.ark").is_file():
            indexes[c] = json.loads(done.read_text())
            report.resumed += 1
        else:
            todo.append((c, part, options, str(out_dir)))
    if report.resumed:
        log.info("%s: %d of %d chunks already done, resuming", out_dir, report.resumed, len(chunks))
    bar = tqdm(
        total=sum(len(t[1]) for t in todo), desc=f"fbank of {data_dir.name}", unit="utt", disable=not progress
    )
    try:
        if jobs > 1 and len(todo) > 1:
            ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
            with ctx.Pool(min(jobs, len(todo))) as pool:
                for (c, part, _, _), index in zip(todo, pool.imap(_chunk_job, todo)):
                    indexes[c] = index
                    bar.update(len(part))
        else:
            for job in todo:
                indexes[job[0]] = _chunk_job(job)
                bar.update(len(job[1]))
    except OSError as e:  # a full disk, a read-only directory
        raise CifstError(
            f"{out_dir}: cannot write the features ({e}); the {len(indexes)} finished chunks are kept: "
            "rerun to resume"
        ) from None
    finally:
        bar.close()
    scp, frames = {}, {}
    for c in sorted(indexes):
        index = indexes[c]
        for key, offset, n in index["entries"]:
            scp[key] = f"{index['ark']}:{offset}"
            frames[key] = n
        failed.update(index["failed"])
    for key, reason in sorted(failed.items()):
        log.warning("%s: no features for utterance '%s': %s", data_dir, key, reason)
    with atomic_write(data_dir / "feats.scp") as f:
        f.writelines(f"{k} {scp[k]}\n" for k in c_sorted(scp))
    with atomic_write(data_dir / "utt2num_frames") as f:
        f.writelines(f"{k} {frames[k]}\n" for k in c_sorted(frames))
    with atomic_write(data_dir / FEATS_OPTIONS_FILE) as f:
        json.dump({"kind": "fbank", "dither": 0.0, **options}, f, indent=1)
        f.write("\n")
    report.written, report.failed, report.frames = len(scp), failed, sum(frames.values())
    return report


def read_feats_options(data_dir: str | os.PathLike) -> dict | None:
    """The fbank options ``DATA_DIR/feats.json`` records, or None without that file (a Kaldi ``feats.scp``).

    Raises:
        InputError: ``feats.json`` is not valid JSON.
    """
    path = Path(data_dir) / FEATS_OPTIONS_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise InputError(path, None, f"not valid JSON: {e}") from None


def stored_fbank_config(data_dir: str | os.PathLike) -> FbankConfig:
    """The :class:`FbankConfig` the features of ``data_dir`` were made with (``feats.json``; the defaults without
    it), for reading them back without a model config."""
    stored = read_feats_options(data_dir) or {}
    names = {f.name for f in dataclasses.fields(FbankConfig)}
    return FbankConfig(**{k: v for k, v in stored.items() if k in names})


class FeatsIndex:
    """The ``feats.scp`` of a data directory, checked against the fbank options of the model that will read it.

    Args:
        data_dir: The directory holding ``feats.scp`` (and ``feats.json``, ``utt2num_frames``).
        config: The model's fbank options.

    Attributes:
        specs: ``key -> "ark:offset"``.
        num_frames: ``key -> frames`` from ``utt2num_frames`` (empty when that file is absent).

    Raises:
        InputError: ``feats.json`` disagrees with ``config`` (every differing option named), or a malformed
            ``feats.scp``/``utt2num_frames``.
    """

    def __init__(self, data_dir: str | os.PathLike, config: FbankConfig):
        d = Path(data_dir)
        self.path = d / "feats.scp"
        self.config = config
        self.specs = read_kv(self.path, allow_empty_value=False)
        opts_path = d / FEATS_OPTIONS_FILE
        stored = read_feats_options(d)
        if stored is not None:
            want = _options(config)
            diff = [
                f"{k}: {stored.get(k)!r} here, {v!r} in the model's fbank config"
                for k, v in want.items()
                if stored.get(k) != v
            ]
            if diff:
                raise InputError(
                    opts_path,
                    None,
                    "the features in feats.scp were made with other fbank options ("
                    + "; ".join(diff)
                    + "): recompute them with `cifst data fbank --config CONFIG "
                    + f"{d}` or delete feats.scp to read the audio",
                )
        else:
            log.warning(
                "%s: no %s beside it, so its fbank options cannot be checked against the model's; the feature "
                "dimension is checked on reading",
                self.path,
                FEATS_OPTIONS_FILE,
            )
        frames_path = d / "utt2num_frames"
        self.num_frames: dict[str, int] = {}
        if frames_path.is_file():
            for key, value in read_kv(frames_path, allow_empty_value=False).items():
                try:
                    self.num_frames[key] = int(value)
                except ValueError:
                    raise InputError(
                        frames_path, None, f"utterance '{key}': '{value}' is not a frame count"
                    ) from None

    def __contains__(self, key: str) -> bool:
        return key in self.specs

    def load(self, key: str) -> np.ndarray:
        """The stored matrix of ``key``: float32 ``[T, num_mel_bins]``.

        Raises:
            InputError: the ark entry cannot be read or has the wrong dimension.
        """
        import kaldiio

        spec = self.specs[key]
        try:
            mat = kaldiio.load_mat(spec)
        except Exception as e:  # kaldiio raises assorted errors on bad paths and offsets
            raise InputError(self.path, None, f"utterance '{key}': cannot read '{spec}': {e}") from None
        mat = np.array(mat, dtype=np.float32)  # a writable copy (kaldiio hands out read-only buffers)
        if mat.ndim != 2 or mat.shape[1] != self.config.num_mel_bins:
            raise InputError(
                self.path,
                None,
                f"utterance '{key}': '{spec}' holds a {mat.shape} matrix, the model wants "
                f"[frames, {self.config.num_mel_bins}]",
            )
        return mat
