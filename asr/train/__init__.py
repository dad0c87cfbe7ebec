"""Training: the resumable single-process/DDP loop, batch sources, checkpoint files and averaging."""

from asr.train.average import average_checkpoints, average_state_dicts
from asr.train.checkpoint import load_model_state, load_state_strict, save_model_file
from asr.train.loop import BatchSource, DistInfo, LoopState, Trainer, warmup_decay

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
