"""WER/CER scoring: Levenshtein alignment (numba), normalization, reports (Kaldi ``%WER`` line, detailed report,
per-speaker table, HTML), and two-system comparison (bootstrap CIs, matched-pairs tests).

Library use, in the jiwer style::

    from asr.scoring import process
    result = process({"u1": "今天 天气 好"}, {"u1": "今天 天 好"})
    result.error_rate, result.totals.subs, result.utterances[0].alignment()

Names are imported lazily (PEP 562) so that ``cifst --help``, which imports :mod:`asr.scoring.cli`, does not load
numpy and numba.
"""

from __future__ import annotations

import importlib
import importlib.util

_EXPORTS = {
    "asr.scoring.align": ["BatchAlignment", "align_batch", "align_ids"],
    "asr.scoring.compare": [
        "BootstrapCI",
        "Comparison",
        "bootstrap_ci",
        "compare_systems",
        "matched_pairs_z",
    ],
    "asr.scoring.normalize": ["NormalizeConfig", "Normalizer", "read_mapping", "split_units"],
    "asr.scoring.report": ["format_kaldi_line", "format_ser_line", "write_details", "write_speaker_table"],
    "asr.scoring.html_report": ["render_html"],
    "asr.scoring.score": [
        "ErrorCounts",
        "ScoreConfig",
        "ScoreResult",
        "SpeakerScore",
        "UttScore",
        "error_rate",
        "process",
        "process_units",
        "score_files",
    ],
}

# Hotword metrics live in hotword_metrics.py (owned by the hotwords area): exported when that file is present.
_HOTWORDS = "asr.scoring.hotword_metrics"
if (
    importlib.util.find_spec(_HOTWORDS) is not None
):  # pragma: no branch - depends on the other area's progress
    _EXPORTS[_HOTWORDS] = list(getattr(importlib.import_module(_HOTWORDS), "__all__", []))

_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str):
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'asr.scoring' has no attribute '{name}'")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
