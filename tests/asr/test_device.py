"""asr.device.resolve_device: the one place a --device option becomes a torch.device."""

import pytest
import torch

from asr.device import resolve_device
from asr.errors import CifstError


def test_auto_and_none_pick_cuda_only_when_present(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert resolve_device("auto") == torch.device("cpu")
    assert resolve_device(None) == torch.device("cpu")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert resolve_device("auto") == torch.device("cuda")


def test_cuda_without_cuda_is_a_user_error(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    with pytest.raises(CifstError, match="--device cuda:1: CUDA is not available"):
        resolve_device("cuda:1")


def test_explicit_cpu_and_bad_names():
    assert resolve_device("cpu") == torch.device("cpu")
    with pytest.raises(CifstError, match="not a device name"):
        resolve_device("tpu0")
