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

import ast
import importlib
import importlib.util
from pathlib import Path

_EXPORTS = {
    "asr.scoring.align": ["BatchAlignment", "align_batch", "align_ids"],
    "asr.scoring.compare": [
        "BootstrapCI",
        "Comparison",
        "bootstrap_ci",
        "compare_systems",
        "mapsswe",
        "matched_pairs_z",
    ],
    "asr.scoring.frequency": [
        "DEFAULT_EDGES",
        "FrequencyBucket",
        "check_edges",
        "count_units",
        "errors_by_frequency",
        "format_frequency_table",
    ],
    "asr.scoring.normalize": ["NormalizeConfig", "Normalizer", "read_mapping", "split_units"],
    "asr.scoring.report": ["format_kaldi_line", "format_ser_line", "write_details", "write_speaker_table"],
    "asr.scoring.html_report": ["render_html"],
    "asr.scoring.timestamps": ["TimedWord", "TimestampScore", "read_ctm", "score_timestamps"],
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


def _names_of(module: str) -> list[str]:
    """The ``__all__`` of a module, read from its source without importing it (keeps this package light)."""
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.origin:
        return []
    tree = ast.parse(Path(spec.origin).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in node.targets):
            return list(ast.literal_eval(node.value))
    return []


# Hotword metrics live in hotword_metrics.py (owned by the hotwords area): exported when that file is present.
_EXPORTS["asr.scoring.hotword_metrics"] = _names_of("asr.scoring.hotword_metrics")
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
