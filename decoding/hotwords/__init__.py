"""Hotword biasing: hotword files -> an Aho-Corasick context graph as tensors, walked by the search in lock-step
with each hypothesis (see ``docs/architecture/hotwords.md``).

The names below are imported lazily (PEP 562), so ``cifst --help`` can import ``decoding.hotwords.cli`` without
loading torch.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

__all__ = [
    "ContextGraph",
    "ContextGraphRef",
    "DEFAULT_HOTWORD_SCORE",
    "DEFAULT_HOTWORD_WEIGHT",
    "Hotword",
    "HotwordConfig",
    "HotwordList",
    "HotwordProblem",
    "TokenizedHotwords",
    "UttContexts",
    "build_context",
    "load_context",
    "load_context_scp",
    "parse_hotword_lines",
    "parse_hotwords",
    "read_hotwords_scp",
    "tokenize_hotwords",
]

_WHERE = {
    "DEFAULT_HOTWORD_SCORE": "config",
    "DEFAULT_HOTWORD_WEIGHT": "config",
    "HotwordConfig": "config",
    "ContextGraph": "context_graph",
    "ContextGraphRef": "reference",
    "Hotword": "parse",
    "HotwordList": "parse",
    "parse_hotword_lines": "parse",
    "parse_hotwords": "parse",
    "read_hotwords_scp": "parse",
}


def __getattr__(name: str) -> Any:
    if name not in __all__:
        raise AttributeError(f"module 'decoding.hotwords' has no attribute '{name}'")
    module = importlib.import_module(f"decoding.hotwords.{_WHERE.get(name, 'load')}")
    return getattr(module, name)


if TYPE_CHECKING:  # pragma: no cover
    from decoding.hotwords.config import DEFAULT_HOTWORD_SCORE, DEFAULT_HOTWORD_WEIGHT, HotwordConfig
    from decoding.hotwords.context_graph import ContextGraph
    from decoding.hotwords.load import (
        HotwordProblem,
        TokenizedHotwords,
        UttContexts,
        build_context,
        load_context,
        load_context_scp,
        tokenize_hotwords,
    )
    from decoding.hotwords.parse import (
        Hotword,
        HotwordList,
        parse_hotword_lines,
        parse_hotwords,
        read_hotwords_scp,
    )
    from decoding.hotwords.reference import ContextGraphRef
