"""Batched inference: an experiment directory (config.yaml, tokenizer, cmvn.json, a checkpoint) and a Kaldi data
dir -> ``posteriors.ark/scp`` (float32 [U, V] natural-log posteriors per CIF token slot), ``times.ark/scp``
(float32 [U, 2] start/end seconds per slot), ``post.yaml`` (``tokens``, ``row_type: cif``, ``frame_shift``),
``tokens.txt`` and the greedy transcript ``text``.

With ``head="ctc"`` (models trained with ``ctc_weight > 0``) the rows are the CTC head's per-frame posteriors over the
encoder frames instead (``row_type: frame``, one row per 60 ms LFR frame, times ``[t, t+1] * frame_shift``) and the
greedy text is the CTC best path (repeats merged, blanks dropped). On small training budgets the CTC head is the
more accurate of the two (docs/benchmarks/models.md); decode its rows with a ``--topo ctc`` graph.

Utterances are sorted by length and batched (``batch_size`` utterances, at most ``max_frames`` padded fbank frames
per batch); each batch runs through the front end (LFR + CMVN) and :meth:`Paraformer.recognize` on CPU or CUDA.
Outputs are written to temporary files and renamed at the end, so a killed run leaves no half-written set.
Checkpoints load with ``torch.load(weights_only=True)``; a checkpoint of another shape fails naming the tensor.
Reference: FunASR's Paraformer ``inference`` (greedy argmax over CIF slots) and the Kaldi ark/scp conventions.
"""

from __future__ import annotations

import logging
import os
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from asr.errors import CifstError

__all__ = ["InferConfig", "InferResult", "load_experiment", "infer_data_dir", "greedy_ids"]

LOG = logging.getLogger("cifst.infer")


@dataclass
class InferConfig:
    """Inference options.

    Attributes:
        checkpoint: File name inside EXP_DIR (or a path): ``final.pt``, ``avg_5.pt``, ``epoch_3.pt``.
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        batch_size: Utterances per batch.
        max_frames: Cap on padded fbank frames per batch.
        progress: tqdm progress bar.
        head: ``cif`` (the Paraformer decoder over CIF token slots) or ``ctc`` (the encoder's CTC head, per frame).
    """

    checkpoint: str = "final.pt"
    device: str = "auto"
    batch_size: int = 16
    max_frames: int = 40000
    progress: bool = True
    head: str = "cif"


@dataclass
class InferResult:
    """Summary of a run: utterances written, audio seconds, wall seconds, real-time factor, skipped keys."""

    utterances: int
    audio_seconds: float
    wall_seconds: float
    skipped: dict[str, str] = field(default_factory=dict)

    @property
    def rtf(self) -> float:
        return self.wall_seconds / self.audio_seconds if self.audio_seconds else float("nan")


def _resolve_checkpoint(exp_dir: Path, name: str) -> Path:
    p = Path(name)
    if not p.is_absolute() and not p.exists():
        p = exp_dir / name
    if not p.exists():
        have = sorted(x.name for x in exp_dir.glob("*.pt") if x.name != "checkpoint.pt")
        raise CifstError(
            f"{p}: no such checkpoint; {exp_dir} has: {', '.join(have) or 'none'} "
            "(run `cifst average` for avg_N.pt)"
        )
    return p


def load_experiment(
    exp_dir: str | os.PathLike, checkpoint: str = "final.pt", device: str | torch.device = "cpu"
):
    """Model, front end, tokenizer and config of an experiment directory, in eval mode on ``device``.

    Returns:
        ``(model, frontend, tokenizer, cfg)``.

    Raises:
        CifstError / InputError: a missing file, or a checkpoint that does not fit the config (names the tensor).
    """
    from asr.models.config import load_config
    from asr.models.paraformer import Paraformer
    from asr.text.tokenizer import load_tokenizer
    from asr.train.checkpoint import load_model_state, load_state_strict
    from asr.train.run import build_frontend

    exp_dir = Path(exp_dir)
    for name in ("config.yaml", "tokens.txt", "cmvn.json"):
        if not (exp_dir / name).exists():
            raise CifstError(
                f"{exp_dir / name}: missing; EXP_DIR must be a directory written by `cifst train`"
            )
    cfg = load_config(exp_dir / "config.yaml")
    tokenizer = load_tokenizer(exp_dir)
    model = Paraformer(cfg.model, len(tokenizer.symbols))
    path = _resolve_checkpoint(exp_dir, checkpoint)
    state, _ = load_model_state(path)
    load_state_strict(model, state, path)
    frontend = build_frontend(cfg, exp_dir / "cmvn.json")
    return model.to(device).eval(), frontend.to(device).eval(), tokenizer, cfg


def greedy_ids(log_probs: np.ndarray, skip_ids: set[int], collapse: bool = False) -> list[int]:
    """Argmax per row, dropping ``skip_ids`` (blank, ``<sos/eos>``). log_probs float32 [U, V].

    ``collapse=True`` (CTC frame rows) first merges runs of the same label, so ``a a <blk> a`` gives ``a a``.
    """
    if log_probs.shape[0] == 0:
        return []
    best = log_probs.argmax(-1)
    if collapse:
        keep = np.ones(len(best), dtype=bool)
        keep[1:] = best[1:] != best[:-1]
        best = best[keep]
    return [int(i) for i in best if int(i) not in skip_ids]


def ctc_rows(model, x: torch.Tensor, x_lens: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The CTC head's natural-log posteriors float32 [B, T, V], row counts int64 [B] and per-row spans float32
    [B, T, 2] in encoder frames (``[t, t+1]``)."""
    hidden, lens = model.encode(x, x_lens)
    log_probs = model.ctc(hidden)
    t = torch.arange(log_probs.shape[1], device=log_probs.device, dtype=torch.float32)
    spans = torch.stack([t, t + 1], -1).unsqueeze(0).expand(log_probs.shape[0], -1, -1)
    return log_probs, lens, spans


def _write_scp(scp_path: Path, final_ark: Path, entries: list[tuple[str, int]]) -> None:
    from asr.data.atomic import atomic_write

    with atomic_write(scp_path) as f:
        for key, offset in entries:
            f.write(f"{key} {final_ark}:{offset}\n")


def infer_data_dir(
    exp_dir: str | os.PathLike, data_dir: str | os.PathLike, out_dir: str | os.PathLike, config: InferConfig
) -> InferResult:
    """Run the model over every utterance of ``data_dir`` and write the outputs into ``out_dir``.

    Returns:
        :class:`InferResult` (RTF = wall time of feature extraction + model / audio duration; with a ``feats.scp``
        in ``data_dir`` the stored fbank is read instead of computed, which the log says).
    """
    import kaldiio
    import yaml
    from tqdm import tqdm

    from asr.data.atomic import atomic_write
    from asr.data.dataset import AsrDataset, DatasetConfig, collate_asr
    from asr.data.sampler import BucketBatchSampler
    from asr.device import resolve_device

    if config.head not in ("cif", "ctc"):
        raise CifstError(f"--head must be 'cif' or 'ctc', got {config.head!r}")
    device = resolve_device(config.device)
    exp_dir, out_dir = Path(exp_dir), Path(out_dir)
    model, frontend, tokenizer, cfg = load_experiment(exp_dir, config.checkpoint, device)
    use_ctc = config.head == "ctc"
    if use_ctc and model.ctc is None:
        raise CifstError(
            f"{exp_dir / 'config.yaml'}: --head ctc needs a model trained with a CTC head (model.ctc_weight > 0); "
            "this one has none: use --head cif"
        )
    # inference keeps every utterance it can read: no duration limit
    dcfg = DatasetConfig(max_duration=float("inf"), min_duration=0.0, bad_text=cfg.dataset.bad_text)
    dataset = AsrDataset(data_dir, None, cfg.fbank, train=False, config=dcfg, progress=config.progress)
    if dataset.feats is not None:
        LOG.info("%s: reading the stored fbank of feats.scp (the RTF leaves out its extraction)", data_dir)
    sampler = BucketBatchSampler(
        dataset.num_frames, config.max_frames, shuffle=False, max_batch=config.batch_size
    )
    symbols = tokenizer.symbols
    skip = {0}
    for special in ("<sos/eos>", "<s>", "</s>"):
        if special in symbols:
            skip.add(symbols[special])
    shift = cfg.fbank.frame_shift_ms / 1000.0 * cfg.frontend.lfr.n  # seconds per encoder frame
    out_dir.mkdir(parents=True, exist_ok=True)
    post_ark, times_ark = out_dir / "posteriors.ark", out_dir / "times.ark"
    tmp_post, tmp_times = out_dir / ".posteriors.ark.tmp", out_dir / ".times.ark.tmp"
    post_entries: list[tuple[str, int]] = []
    time_entries: list[tuple[str, int]] = []
    texts: dict[str, str] = {}
    start = time.time()
    audio = 0.0
    skipped = dict(dataset.skipped)
    with open(tmp_post, "wb") as fp, open(tmp_times, "wb") as ft, torch.inference_mode():
        bar = tqdm(total=len(dataset), desc="infer", unit="utt", disable=not config.progress)
        for indices in sampler:
            batch = collate_asr([dataset[i] for i in indices])
            loaded = set(batch["keys"])
            for i in indices:
                if dataset.keys[i] not in loaded:
                    skipped[dataset.keys[i]] = "audio could not be read (see warning)"
            bar.update(len(indices))
            if not batch["keys"]:
                continue
            feats = batch["feats"].to(device)
            x, x_lens = frontend(feats, batch["feats_lens"].to(device))
            if use_ctc:
                lp_t, row_lens, spans_t = ctc_rows(model, x, x_lens)
            else:
                rec = model.recognize(x, x_lens)
                lp_t, row_lens, spans_t = rec.log_probs, rec.token_lens, rec.spans
            log_probs = lp_t.cpu().numpy()
            spans = (spans_t.cpu().numpy() * shift).astype(np.float32)
            for b, key in enumerate(batch["keys"]):
                n = int(row_lens[b])
                lp = np.ascontiguousarray(log_probs[b, :n], dtype=np.float32)
                tm = np.ascontiguousarray(spans[b, :n], dtype=np.float32)
                for f, arr, entries in ((fp, lp, post_entries), (ft, tm, time_entries)):
                    f.write((key + " ").encode("utf-8"))
                    entries.append((key, f.tell()))
                    kaldiio.matio.write_array(f, arr)
                texts[key] = tokenizer.decode(greedy_ids(lp, skip, collapse=use_ctc))
                audio += float(batch["feats_lens"][b]) * cfg.fbank.frame_shift_ms / 1000.0
        bar.close()
        fp.flush()
        ft.flush()
        os.fsync(fp.fileno())
        os.fsync(ft.fileno())
    os.replace(tmp_post, post_ark)
    os.replace(tmp_times, times_ark)
    order = sorted(texts, key=lambda k: k.encode("utf-8"))
    rank = {k: i for i, k in enumerate(order)}
    post_entries.sort(key=lambda e: rank[e[0]])
    time_entries.sort(key=lambda e: rank[e[0]])
    _write_scp(out_dir / "posteriors.scp", post_ark.resolve(), post_entries)
    _write_scp(out_dir / "times.scp", times_ark.resolve(), time_entries)
    with atomic_write(out_dir / "text") as f:
        for key in order:
            f.write(f"{key} {texts[key]}".rstrip() + "\n")
    shutil.copyfile(exp_dir / "tokens.txt", out_dir / ".tokens.txt.tmp")
    os.replace(out_dir / ".tokens.txt.tmp", out_dir / "tokens.txt")
    meta = {
        "tokens": "tokens.txt",
        "row_type": "frame" if use_ctc else "cif",
        "frame_shift": round(shift, 6),
        "model": str(exp_dir.resolve()),
        "checkpoint": config.checkpoint,
        "head": config.head,
    }
    with atomic_write(out_dir / "post.yaml") as f:
        yaml.safe_dump(meta, f, sort_keys=False)
    wall = time.time() - start
    if skipped:
        LOG.warning(
            "%d utterance(s) had no output: %s",
            len(skipped),
            "; ".join(f"{k}: {v}" for k, v in list(skipped.items())[:5]),
        )
    return InferResult(len(texts), audio, wall, skipped)
