"""WFST decoding: ``decoding.graph`` (TLG compilation and the CSR graph), ``decoding.search`` (batched beam
search), ``decoding.hotwords`` (Aho-Corasick context biasing)."""

__all__ = ["graph", "search", "hotwords"]
