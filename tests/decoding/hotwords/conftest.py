"""Fixtures of the hotword tests."""

from __future__ import annotations

import pytest
from hotword_fakes import FakeTokenizer


@pytest.fixture
def tokenizer() -> FakeTokenizer:
    return FakeTokenizer()
