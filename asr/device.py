"""Choosing the torch device from a ``--device`` option: ``auto`` (CUDA when present, else CPU), ``cpu``, ``cuda``
or ``cuda:N``; asking for CUDA where there is none is a user error, not a traceback.
"""

from __future__ import annotations

from asr.errors import CifstError

__all__ = ["resolve_device"]


def resolve_device(name: str | None):
    """Return the ``torch.device`` for a ``--device`` value (``None`` or ``"auto"`` picks CUDA when available).

    Raises:
        CifstError: CUDA was asked for but is not available.
    """
    import torch

    if name is None or name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise CifstError(f"--device {name}: CUDA is not available here; use --device cpu (or auto)")
    try:
        return torch.device(name)
    except RuntimeError as e:
        raise CifstError(f"--device {name}: not a device name ({e}); use cpu, cuda, cuda:N or auto") from None
