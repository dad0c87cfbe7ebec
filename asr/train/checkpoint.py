"""Checkpoint files of an experiment directory: training state (``checkpoint.pt``: model, optimizer, scheduler,
AMP scaler, loop position and every rank's RNG states) and model-only files (``epoch_N.pt``, ``final.pt``,
``avg_N.pt``: ``{"model": state_dict, "meta": {...}}``). All are written atomically and load with
``torch.load(weights_only=True)``: RNG states are stored as tensors and plain lists, never pickled objects.

Reference: the checkpoint layout of WeNet/icefall (model-only epoch files next to a resumable training state).
"""

from __future__ import annotations

import os
import random
from pathlib import Path

import numpy as np
import torch

from asr.data.atomic import atomic_path
from asr.errors import CifstError

__all__ = [
    "save_checkpoint",
    "load_checkpoint",
    "save_model_file",
    "load_model_state",
    "load_state_strict",
    "rng_state",
    "set_rng_state",
]


def rng_state() -> dict:
    """This process's Python, numpy and torch (CPU and CUDA) RNG states as weights-only-loadable values."""
    np_state = np.random.get_state()
    py_state = random.getstate()
    state = {
        "python": [py_state[0], list(py_state[1]), py_state[2]],
        "numpy": [np_state[0], torch.from_numpy(np_state[1].astype(np.int64)), *map(float, np_state[2:])],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict) -> None:
    """Restore states saved by :func:`rng_state`."""
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), int(pos), int(has_gauss), float(cached)))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_checkpoint(path: str | os.PathLike, payload: dict) -> None:
    """Write a training-state checkpoint atomically (a kill mid-write leaves the previous one intact)."""
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)


def load_checkpoint(path: str | os.PathLike, map_location="cpu") -> dict:
    """Load ``checkpoint.pt`` (weights only)."""
    return torch.load(path, map_location=map_location, weights_only=True)


def save_model_file(path: str | os.PathLike, state_dict: dict, meta: dict) -> None:
    """Write a model-only file ``{"model": state_dict, "meta": meta}`` atomically (tensors moved to CPU)."""
    cpu = {k: v.detach().cpu() for k, v in state_dict.items()}
    with atomic_path(path) as tmp:
        torch.save({"model": cpu, "meta": meta}, tmp)


def load_model_state(path: str | os.PathLike, mmap: bool = False) -> tuple[dict, dict]:
    """Read a model-only file (or the model of a ``checkpoint.pt``) with ``weights_only=True``; ``mmap``: map the
    tensors instead of reading them (for a caller that only wants the meta).

    Returns:
        ``(state_dict, meta)``.

    Raises:
        CifstError: the file is not a cifst checkpoint.
    """
    path = Path(path)
    try:
        data = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except FileNotFoundError:
        raise
    except Exception as e:  # unpickling error, truncated file
        raise CifstError(
            f"{path}: cannot load as a weights-only checkpoint ({type(e).__name__}: {e})"
        ) from None
    if not isinstance(data, dict) or "model" not in data:
        raise CifstError(
            f"{path}: not a cifst checkpoint (no 'model' entry); expected epoch_N.pt, final.pt or avg_N.pt"
        )
    return data["model"], data.get("meta", {})


def load_state_strict(model: torch.nn.Module, state: dict, path: str | os.PathLike) -> None:
    """Load ``state`` into ``model``, failing with a message that names the first mismatched tensor.

    Raises:
        CifstError: a missing/unexpected key or a tensor of another shape (names the key, both shapes, and says
            that the checkpoint belongs to another config.yaml).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state]
    unexpected = [k for k in state if k not in own]
    hint = "the checkpoint was trained with another model config; use the config.yaml it was trained with"
    for key in own:
        if key in state and tuple(state[key].shape) != tuple(own[key].shape):
            raise CifstError(
                f"{path}: tensor '{key}' has shape {tuple(state[key].shape)} in the checkpoint but "
                f"{tuple(own[key].shape)} in the model; {hint}"
            )
    if missing:
        raise CifstError(
            f"{path}: tensor '{missing[0]}' (and {len(missing) - 1} more) missing from the checkpoint; {hint}"
        )
    if unexpected:
        raise CifstError(f"{path}: unexpected tensor '{unexpected[0]}' in the checkpoint; {hint}")
    model.load_state_dict(state)
