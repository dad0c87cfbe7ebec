"""cifst n-gram language models: counting, smoothing (modified Kneser-Ney exactly as kenlm's lmplz, and others),
pruning (count, vocabulary, relative entropy), ARPA I/O, perplexity.

Every name is imported on first use, so ``import lm`` (and ``cifst --help``, which imports ``lm.cli``) loads
neither numpy nor numba.
"""

from __future__ import annotations

import importlib

__all__ = [
    "ArpaEntry",
    "ArpaWriter",
    "iter_arpa",
    "read_arpa",
    "read_arpa_header",
    "write_arpa",
    "LmBuildConfig",
    "build_lm",
    "build_arpa",
    "NgramModel",
    "read_model_arpa",
    "write_model_arpa",
    "perplexity",
    "perplexity_file",
    "relative_entropy_prune",
    "intermediate_to_arpa",
    "read_intermediate",
]

_LAZY = {
    "ArpaEntry": "lm.arpa",
    "ArpaWriter": "lm.arpa",
    "iter_arpa": "lm.arpa",
    "read_arpa": "lm.arpa",
    "read_arpa_header": "lm.arpa",
    "write_arpa": "lm.arpa",
    "LmBuildConfig": "lm.build",
    "build_lm": "lm.build",
    "build_arpa": "lm.build",
    "NgramModel": "lm.model",
    "read_model_arpa": "lm.model",
    "write_model_arpa": "lm.model",
    "perplexity": "lm.ppl",
    "perplexity_file": "lm.ppl",
    "relative_entropy_prune": "lm.prune",
    "intermediate_to_arpa": "lm.intermediate",
    "read_intermediate": "lm.intermediate",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'lm' has no attribute {name!r}")
