"""Exponential moving average (EMA) of a model's weights during training (``train.ema_decay``).

After every optimizer update the shadow copy moves towards the live weights: ``shadow = d * shadow + (1 - d) *
weights``, with ``d = min(decay, (1 + n) / (10 + n))`` at the n-th update (the usual warm-up, so the first updates'
random weights fade fast). The shadow covers every floating-point tensor of the state dict (parameters and float
buffers); integer buffers are taken from the live model when the average is written. It changes nothing in
training: it is a second set of weights read at the end (``EXP_DIR/ema.pt``), an average over the last ~1 / (1 - d)
updates where ``cifst average`` averages whole epochs.
"""

from __future__ import annotations

import torch
from torch import nn


def ema_factor(decay: float, updates: int) -> float:
    """The weight ``d`` of the old shadow at the ``updates``-th update (1-based)."""
    return min(decay, (1.0 + updates) / (10.0 + updates))


class WeightEma:
    """A shadow copy of ``model``'s floating-point state, updated in place with :meth:`update`.

    Args:
        model: The (unwrapped) model; its state-dict tensors are read after each update (they share storage with
            the parameters, so in-place optimizer steps and ``load_state_dict`` are seen).
        decay: The long-run ``d`` in (0, 1).
    """

    def __init__(self, model: nn.Module, decay: float):
        if not 0.0 < decay < 1.0:
            raise ValueError(f"EMA decay {decay} must be in (0, 1)")
        self.decay = decay
        self.model = model
        state = model.state_dict()
        self.names = [k for k, v in state.items() if v.is_floating_point()]
        self._live = [state[k] for k in self.names]
        self.reset()

    def reset(self) -> None:
        """Start the average afresh from the model's current weights."""
        self.updates = 0
        with torch.no_grad():
            self.shadow = [t.detach().clone() for t in self._live]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        weight = 1.0 - ema_factor(self.decay, self.updates)
        torch._foreach_lerp_(self.shadow, self._live, weight)

    def model_state(self) -> dict[str, torch.Tensor]:
        """A full state dict of the model with the averaged floating-point tensors (loads like ``final.pt``)."""
        state = dict(self.model.state_dict())
        state.update(zip(self.names, self.shadow))
        return state

    def state_dict(self) -> dict:
        return {"updates": self.updates, "shadow": dict(zip(self.names, self.shadow))}

    def load_state_dict(self, state: dict) -> None:
        shadow = state["shadow"]
        if sorted(shadow) != sorted(self.names):
            raise ValueError("the saved EMA does not cover this model's tensors")
        with torch.no_grad():
            for mine, name in zip(self.shadow, self.names):
                mine.copy_(shadow[name])
        self.updates = int(state["updates"])
