"""Checkpoint averaging: ``epoch_N.pt`` files of an experiment -> ``avg_N.pt`` whose every floating-point tensor is
the element-wise mean of the inputs' (integer buffers such as counters are taken from the newest).

Reference: the ``average_checkpoints`` of WeNet/ESPnet/icefall (uniform average of the last N epochs).
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import torch

from asr.errors import CifstError
from asr.train.checkpoint import load_model_state, save_model_file

__all__ = ["average_state_dicts", "list_epoch_checkpoints", "average_checkpoints"]


def average_state_dicts(states: list[dict]) -> dict:
    """Element-wise mean of floating-point tensors (accumulated in float64); other tensors from the last state.

    Raises:
        CifstError: the state dicts have different keys or shapes.
    """
    if not states:
        raise CifstError("nothing to average")
    keys = list(states[-1])
    out = {}
    for key in keys:
        tensors = []
        for i, s in enumerate(states):
            if key not in s or s[key].shape != states[-1][key].shape:
                raise CifstError(
                    f"checkpoint {i}: tensor '{key}' is missing or has another shape; average only "
                    "checkpoints of one experiment"
                )
            tensors.append(s[key])
        last = tensors[-1]
        if last.is_floating_point():
            acc = torch.zeros(last.shape, dtype=torch.float64)
            for t in tensors:
                acc += t.double()
            out[key] = (acc / len(tensors)).to(last.dtype)
        else:
            out[key] = last.clone()
    return out


def list_epoch_checkpoints(exp_dir: str | os.PathLike) -> list[Path]:
    """``epoch_N.pt`` files of ``exp_dir`` sorted by N."""
    found = []
    for p in Path(exp_dir).glob("epoch_*.pt"):
        m = re.fullmatch(r"epoch_(\d+)\.pt", p.name)
        if m:
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def average_checkpoints(exp_dir: str | os.PathLike, num: int, out: str | os.PathLike | None = None) -> Path:
    """Average the last ``num`` epoch checkpoints of ``exp_dir`` into ``avg_{num}.pt`` (or ``out``).

    Raises:
        CifstError: fewer than ``num`` epoch checkpoints exist (names how many there are).
    """
    exp_dir = Path(exp_dir)
    files = list_epoch_checkpoints(exp_dir)
    if num < 1:
        raise CifstError(f"--num {num}: must be at least 1")
    if len(files) < num:
        raise CifstError(
            f"{exp_dir}: {len(files)} epoch_N.pt checkpoints, cannot average the last {num}; "
            f"lower --num to at most {len(files)}"
        )
    chosen = files[-num:]
    states = [load_model_state(p)[0] for p in chosen]
    avg = average_state_dicts(states)
    target = Path(out) if out else exp_dir / f"avg_{num}.pt"
    save_model_file(target, avg, {"averaged": [p.name for p in chosen]})
    return target
