"""A :class:`~asr.scoring.score.ScoreResult` -> one self-contained HTML page: the totals, the per-speaker table,
three plots (error rate per speaker, error types, reference length vs errors per utterance) drawn with matplotlib
and embedded as base64 PNGs, the ranked confusions and the worst utterances with colour-coded alignments.

The page has no external resources, so it can be mailed or attached to an issue as one file.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Mapping

from asr.scoring.report import format_kaldi_line, format_ser_line
from asr.scoring.score import ScoreResult, UttScore

__all__ = ["render_html"]

_CSS = """
body{font-family:system-ui,sans-serif;margin:2em;color:#222;max-width:1200px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#f0f0f0}td.l,th.l{text-align:left}pre{background:#f7f7f7;padding:.6em}
.S{background:#ffd8a8}.D{background:#ffc9c9;text-decoration:line-through}.I{background:#b2f2bb}
.al span{padding:0 2px;margin:0 1px;display:inline-block}img{max-width:100%}
"""


_MAX_SPEAKERS_PLOTTED = 60


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def _plots(result: ScoreResult, utt2spk: Mapping[str, str] | None) -> list[tuple[str, str]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out: list[tuple[str, str]] = []
    m = result.metric
    if utt2spk:
        rows = result.by_speaker(utt2spk)
        title = f"{m} per speaker"
        if len(rows) > _MAX_SPEAKERS_PLOTTED:
            title += f" ({_MAX_SPEAKERS_PLOTTED} worst of {len(rows)})"
            rows = sorted(rows, key=lambda r: (-r.counts.rate, r.speaker))[:_MAX_SPEAKERS_PLOTTED]
        fig, ax = plt.subplots(figsize=(max(4, 0.35 * len(rows) + 2), 3.2))
        ax.bar(range(len(rows)), [100 * r.counts.rate for r in rows], color="#4c6ef5")
        ax.axhline(
            100 * result.error_rate,
            color="#e03131",
            ls="--",
            lw=1,
            label=f"all: {100 * result.error_rate:.2f}%",
        )
        ax.set_xticks(range(len(rows)))
        ax.set_xticklabels([r.speaker for r in rows], rotation=60, ha="right", fontsize=7)
        ax.set_ylabel(f"{m} (%)")
        ax.set_title(title)
        ax.legend(fontsize=8)
        out.append((f"{m} per speaker", _png(fig)))
        plt.close(fig)
    t = result.totals
    fig, ax = plt.subplots(figsize=(4, 3))
    vals = [t.subs, t.dels, t.ins]
    ax.bar(["substitution", "deletion", "insertion"], vals, color=["#f59f00", "#e03131", "#2f9e44"])
    for i, v in enumerate(vals):
        ax.text(i, v, str(v), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("count")
    ax.set_title("Error types")
    out.append(("Error types", _png(fig)))
    plt.close(fig)
    fig, ax = plt.subplots(figsize=(5, 3.4))
    lens = [u.counts.ref_len for u in result.utterances]
    errs = [u.counts.errors for u in result.utterances]
    ax.scatter(lens, errs, s=8, alpha=0.5, color="#1971c2")
    ax.set_xlabel("reference length (units)")
    ax.set_ylabel("errors")
    ax.set_title("Utterance length vs errors")
    out.append(("Utterance length vs errors", _png(fig)))
    plt.close(fig)
    return out


def _aligned_html(u: UttScore) -> str:
    ref_cells, hyp_cells = [], []
    for r, h in u.alignment():
        cls = "D" if h is None else "I" if r is None else ("" if r == h else "S")
        attr = f' class="{cls}"' if cls else ""
        ref_cells.append(f"<span{attr}>{html.escape(r if r is not None else '*')}</span>")
        hyp_cells.append(f"<span{attr}>{html.escape(h if h is not None else '*')}</span>")
    return f"<div class='al'>REF: {''.join(ref_cells)}<br>HYP: {''.join(hyp_cells)}</div>"


def render_html(
    result: ScoreResult,
    utt2spk: Mapping[str, str] | None = None,
    title: str = "cifst scoring report",
    max_utts: int = 200,
    max_ranked: int = 30,
    sections: Mapping[str, str] | None = None,
) -> str:
    """Render the report page.

    Args:
        result: The scores.
        utt2spk: Optional ``utt -> speaker`` for the per-speaker table and plot.
        title: Page title (e.g. the hypothesis path).
        max_utts: How many utterances with errors to show, worst (most errors) first.
        max_ranked: How many entries of each ranked confusion list to show.
        sections: Extra preformatted text blocks, heading -> text (e.g. the hotword metrics), shown after the
            totals.

    Returns:
        The HTML text.
    """
    esc = html.escape
    m = result.metric
    parts = [
        "<!DOCTYPE html><html><head><meta charset='utf-8'>",
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{esc(title)}</h1>",
        f"<pre>{esc(format_kaldi_line(result))}\n{esc(format_ser_line(result))}</pre>",
    ]
    if result.missing_keys:
        parts.append(
            f"<p>{len(result.missing_keys)} utterance(s) have no hypothesis and count as deletions: "
            f"{esc(' '.join(result.missing_keys[:50]))}{' ...' if len(result.missing_keys) > 50 else ''}</p>"
        )
    if result.extra_keys:
        parts.append(
            f"<p>{len(result.extra_keys)} hypothesis key(s) have no reference and were not scored: "
            f"{esc(' '.join(result.extra_keys[:50]))}{' ...' if len(result.extra_keys) > 50 else ''}</p>"
        )
    for heading, text in (sections or {}).items():
        parts.append(f"<h2>{esc(heading)}</h2><pre>{esc(text)}</pre>")
    if utt2spk:
        parts.append(
            f"<h2>Per speaker</h2><table><tr><th class='l'>speaker</th><th>sents</th><th>units</th><th>corr %</th>"
            f"<th>sub %</th><th>del %</th><th>ins %</th><th>{m} %</th><th>S.ERR %</th></tr>"
        )
        for s in result.by_speaker(utt2spk):
            c = s.counts
            n = max(c.ref_len, 1)
            parts.append(
                f"<tr><td class='l'>{esc(s.speaker)}</td><td>{s.sentences}</td><td>{c.ref_len}</td>"
                f"<td>{100 * c.hits / n:.2f}</td><td>{100 * c.subs / n:.2f}</td><td>{100 * c.dels / n:.2f}</td>"
                f"<td>{100 * c.ins / n:.2f}</td><td>{100 * c.rate:.2f}</td><td>{100 * s.ser:.2f}</td></tr>"
            )
        parts.append("</table>")
    parts.append("<h2>Plots</h2>")
    for name, png in _plots(result, utt2spk):
        parts.append(f"<figure><img alt='{esc(name)}' src='data:image/png;base64,{png}'></figure>")
    subs, dels, ins = result.confusions()
    parts.append(
        "<h2>Most frequent errors</h2><table><tr><th>substitutions</th><th>deletions</th><th>insertions</th></tr>"
    )
    s_l = [
        f"{n} {esc(r)} &rarr; {esc(h)}" for (r, h), n in sorted(subs.items(), key=lambda kv: (-kv[1], kv[0]))
    ]
    d_l = [f"{n} {esc(r)}" for r, n in sorted(dels.items(), key=lambda kv: (-kv[1], kv[0]))]
    i_l = [f"{n} {esc(h)}" for h, n in sorted(ins.items(), key=lambda kv: (-kv[1], kv[0]))]
    for k in range(min(max_ranked, max(len(s_l), len(d_l), len(i_l)))):
        cells = [lst[k] if k < len(lst) else "" for lst in (s_l, d_l, i_l)]
        parts.append("<tr>" + "".join(f"<td class='l'>{c}</td>" for c in cells) + "</tr>")
    parts.append("</table>")
    bad = sorted((u for u in result.utterances if not u.correct), key=lambda u: (-u.counts.errors, u.key))
    parts.append(f"<h2>Utterances with errors ({len(bad)}; worst {min(len(bad), max_utts)} shown)</h2>")
    for u in bad[:max_utts]:
        c = u.counts
        parts.append(
            f"<p><b>{esc(u.key)}</b> H={c.hits} S={c.subs} D={c.dels} I={c.ins}"
            f"{' (no hypothesis)' if u.hyp_missing else ''}</p>{_aligned_html(u)}"
        )
    parts.append("</body></html>")
    return "\n".join(parts)
