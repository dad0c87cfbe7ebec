"""Training: the resumable single-process/DDP loop, batch sources, checkpoint files and averaging.

Names are imported on first use, so ``asr.train.cli`` (registered with ``cifst``) does not load torch at
``cifst --help`` time.
"""

from __future__ import annotations

import importlib

__all__ = [
    "BatchSource",
    "DistInfo",
    "LoopState",
    "Trainer",
    "average_checkpoints",
    "average_state_dicts",
    "load_model_state",
    "load_state_strict",
    "save_model_file",
    "warmup_decay",
]

_LAZY = {
    "average_checkpoints": "asr.train.average",
    "average_state_dicts": "asr.train.average",
    "load_model_state": "asr.train.checkpoint",
    "load_state_strict": "asr.train.checkpoint",
    "save_model_file": "asr.train.checkpoint",
    "BatchSource": "asr.train.loop",
    "DistInfo": "asr.train.loop",
    "LoopState": "asr.train.loop",
    "Trainer": "asr.train.loop",
    "warmup_decay": "asr.train.loop",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'asr.train' has no attribute {name!r}")
