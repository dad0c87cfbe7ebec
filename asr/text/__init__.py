"""Text: symbol tables (``tokens.txt``/``words.txt``), normalization and the tokenizers (char, sentencepiece BPE or
unigram, mixed CJK + sentencepiece) behind one interface."""

from asr.text.normalize import NormalizeConfig, is_cjk, join_units, normalize_text, split_cjk
from asr.text.symbol_table import SymbolTable
from asr.text.tokenizer import (
    CharTokenizer,
    MixedTokenizer,
    SentencePieceTokenizer,
    Tokenizer,
    TokenizerConfig,
    load_tokenizer,
    train_tokenizer,
)

__all__ = [
    "SymbolTable",
    "NormalizeConfig",
    "normalize_text",
    "is_cjk",
    "split_cjk",
    "join_units",
    "Tokenizer",
    "TokenizerConfig",
    "CharTokenizer",
    "SentencePieceTokenizer",
    "MixedTokenizer",
    "load_tokenizer",
    "train_tokenizer",
]
