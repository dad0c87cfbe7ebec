"""Batched search over posteriors: the TLG beam search (:mod:`beam`), graph-less greedy and prefix beam search
(:mod:`nograph`), results and word times (:mod:`results`), resumable I/O (:mod:`io`) and ``cifst decode``
(:mod:`pipeline`, :mod:`cli`). Names are imported lazily so ``cifst --help`` does not load torch.
"""

from __future__ import annotations

import importlib
from typing import Any

__all__ = [
    "BeamSearchConfig",
    "TlgBeamSearch",
    "PathResult",
    "UttSearchResult",
    "greedy_search",
    "prefix_beam_search",
    "prefix_beam_search_batch",
    "PrefixHyp",
    "UttResult",
    "WordSpan",
    "DecodeOptions",
    "BatchDecoder",
    "run_decode",
    "force_align",
]

_WHERE = {
    "BeamSearchConfig": "beam",
    "TlgBeamSearch": "beam",
    "PathResult": "beam",
    "UttSearchResult": "beam",
    "greedy_search": "nograph",
    "prefix_beam_search": "nograph",
    "prefix_beam_search_batch": "nograph",
    "PrefixHyp": "nograph",
    "UttResult": "results",
    "WordSpan": "results",
    "DecodeOptions": "pipeline",
    "BatchDecoder": "pipeline",
    "run_decode": "pipeline",
    "force_align": "pipeline",
}


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module 'decoding.search' has no attribute '{name}'")
    return getattr(importlib.import_module(f"decoding.search.{_WHERE[name]}"), name)
