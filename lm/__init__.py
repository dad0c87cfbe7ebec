"""cifst n-gram language models: counting, smoothing (modified Kneser-Ney as lmplz and others), pruning, ARPA I/O,
perplexity. Submodules are imported lazily so ``import lm`` stays cheap."""

from __future__ import annotations

from lm.arpa import ArpaEntry, ArpaWriter, iter_arpa, read_arpa, read_arpa_header, write_arpa

__all__ = ["ArpaEntry", "ArpaWriter", "iter_arpa", "read_arpa", "read_arpa_header", "write_arpa"]
