"""Decoding graphs: lexicon L, grammar G from ARPA, token topology T, det(L o G) as lexicon tries (or OpenFst
composition + determinization), TLG with pywrapfst, extra (hotword) words, and the torch CSR form the batched
search walks. Public names are imported lazily so ``cifst --help`` does not load torch.
"""

from __future__ import annotations

import importlib

__all__ = [
    "CsrGraph",
    "GraphBuildConfig",
    "GraphBuildResult",
    "build_graph",
    "load_graph",
    "convert_fst",
    "Lexicon",
    "Pronunciation",
    "read_lexicon",
    "lexicon_from_tokenizer",
    "add_disambig",
    "make_word_table",
    "make_lexicon_fst",
    "make_grammar_fst",
    "GrammarStats",
    "TopologyConfig",
    "make_topology_fst",
    "TOPOLOGIES",
    "compose_lg",
    "determinize_capped",
    "minimize_encoded",
    "remove_disambig",
    "remove_input_epsilons",
    "compose_tlg",
    "apply_topology",
    "DeterminizeBlowup",
    "FstArrays",
    "fst_to_arrays",
    "arrays_to_fst",
    "TrieLg",
    "trie_lg",
    "det_state_counts",
    "read_extra_words",
    "add_extra_pronunciations",
    "add_unigrams",
    "find_ngram_lines",
]

_WHERE = {
    "CsrGraph": "csr",
    "GraphBuildConfig": "build",
    "GraphBuildResult": "build",
    "build_graph": "build",
    "load_graph": "load",
    "convert_fst": "load",
    "Lexicon": "lexicon",
    "Pronunciation": "lexicon",
    "read_lexicon": "lexicon",
    "lexicon_from_tokenizer": "lexicon",
    "add_disambig": "lexicon",
    "make_word_table": "lexicon",
    "make_lexicon_fst": "lexicon",
    "make_grammar_fst": "grammar",
    "GrammarStats": "grammar",
    "TopologyConfig": "topology",
    "make_topology_fst": "topology",
    "TOPOLOGIES": "topology",
    "compose_lg": "compose",
    "determinize_capped": "compose",
    "minimize_encoded": "compose",
    "remove_disambig": "compose",
    "remove_input_epsilons": "compose",
    "compose_tlg": "compose",
    "apply_topology": "expand",
    "DeterminizeBlowup": "compose",
    "FstArrays": "fst_arrays",
    "fst_to_arrays": "fst_arrays",
    "arrays_to_fst": "fst_arrays",
    "TrieLg": "trie_lg",
    "trie_lg": "trie_lg",
    "det_state_counts": "trie_lg",
    "read_extra_words": "extra_words",
    "add_extra_pronunciations": "extra_words",
    "add_unigrams": "extra_words",
    "find_ngram_lines": "grammar",
}


def __getattr__(name: str):
    if name in _WHERE:
        return getattr(importlib.import_module(f"{__name__}.{_WHERE[name]}"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
