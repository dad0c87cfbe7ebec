"""Synthetic speech corpora from offline voices: text normalization, voice inventory, synthesis with word times,
sox augmentation, Kaldi data directories and lexicons. Entry point: ``python -m asr.data.synth --help``.
"""

from asr.data.synth.corpus import SPLITS, CorpusConfig, Utterance, build_corpus, plan_corpus
from asr.data.synth.text import Sentence, TextFilter, collect_sentences, normalize_sentence, number_to_words
from asr.data.synth.voices import Voice, VoiceConfig, english_inventory, mandarin_inventory, split_identities

__all__ = [
    "SPLITS",
    "CorpusConfig",
    "Utterance",
    "build_corpus",
    "plan_corpus",
    "Sentence",
    "TextFilter",
    "collect_sentences",
    "normalize_sentence",
    "number_to_words",
    "Voice",
    "VoiceConfig",
    "english_inventory",
    "mandarin_inventory",
    "split_identities",
]
