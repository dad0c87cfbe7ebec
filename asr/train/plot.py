"""``losses.tsv`` -> ``losses.png``: the training curves of an experiment, redrawn at every epoch end (as ESPnet's
``images/loss.png``), so a run can be judged at a glance without TensorBoard.

One panel per loss the model reports (``loss``, ``ctc``, ``ce``, ``mae``, ``mae_ts``, ...): the train rows as a
running mean over the logged steps, the dev value of each epoch as points joined by a line; then the dev token
error rate and the learning rate, all against the update step. Epoch ends are marked.
"""

from __future__ import annotations

import csv
import logging
import math
import os
from pathlib import Path

from asr.data.atomic import atomic_path

__all__ = ["read_losses", "loss_panels", "plot_losses"]

LOG = logging.getLogger(__name__)

_SKIP = {"split", "epoch", "step", "lr", "grad_norm", "acc", "token_error_rate"}


def read_losses(path: str | os.PathLike) -> dict[str, list[dict[str, float]]]:
    """``losses.tsv`` -> ``{"train": rows, "dev": rows}``, each row ``column -> float`` (empty cells left out)."""
    out: dict[str, list[dict[str, float]]] = {"train": [], "dev": []}
    with open(path, encoding="utf-8", newline="") as f:
        for row in csv.DictReader(f, delimiter="\t"):
            values = {}
            for k, v in row.items():
                if k == "split" or k is None or v in (None, ""):
                    continue
                try:
                    values[k] = float(v)
                except ValueError:
                    continue
            out.setdefault(row.get("split") or "", []).append(values)
    return out


def _running_mean(values: list[float], window: int) -> list[float]:
    out, total, q = [], 0.0, []
    for v in values:
        q.append(v)
        total += v
        if len(q) > window:
            total -= q.pop(0)
        out.append(total / len(q))
    return out


def loss_panels(rows: dict[str, list[dict[str, float]]]) -> list[str]:
    """The panels :func:`plot_losses` draws for ``rows`` (from :func:`read_losses`): each loss column, in log order,
    then ``token_error_rate`` (dev) and ``lr`` (train) when logged."""
    train, dev = rows.get("train", []), rows.get("dev", [])
    names = [k for k in dict.fromkeys(k for r in train + dev for k in r) if k not in _SKIP]
    return names + [k for k, src in (("token_error_rate", dev), ("lr", train)) if any(k in r for r in src)]


def plot_losses(tsv: str | os.PathLike, png: str | os.PathLike, title: str | None = None) -> Path | None:
    """Draw ``tsv`` into ``png`` (written atomically). Returns the path, or None when there is nothing to draw yet."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = read_losses(tsv)
    train, dev = rows["train"], rows["dev"]
    panels = loss_panels(rows)
    if not panels:
        return None
    cols = min(3, len(panels))
    nrows = math.ceil(len(panels) / cols)
    fig, axes = plt.subplots(nrows, cols, figsize=(4.2 * cols, 2.8 * nrows), squeeze=False)
    epoch_ends = [r["step"] for r in dev if "step" in r]
    window = max(1, len(train) // 50)
    for ax, name in zip(axes.flat, panels):
        pts = [(r["step"], r[name]) for r in train if name in r and "step" in r]
        if pts:  # token_error_rate is a dev column: no train points
            xs, ys = zip(*pts)
            ys = ys if name == "lr" else _running_mean(list(ys), window)
            ax.plot(xs, ys, lw=1, color="tab:blue", label="train" if name != "lr" else None)
        dpts = [(r["step"], r[name]) for r in dev if name in r and "step" in r]
        if dpts and name != "lr":
            xs, ys = zip(*dpts)
            ax.plot(xs, ys, "o-", ms=3, lw=1, color="tab:orange", label="dev")
        for x in epoch_ends:
            ax.axvline(x, color="0.85", lw=0.6, zorder=0)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("step", fontsize=8)
        ax.tick_params(labelsize=7)
        positive = [y for line in ax.get_lines() for y in line.get_ydata() if y > 0]
        if name != "lr" and positive and max(positive) / min(positive) > 50:
            ax.set_yscale("log")
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=7)
    for ax in list(axes.flat)[len(panels) :]:
        ax.axis("off")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    with atomic_path(png) as tmp:
        fig.savefig(tmp, format="png", dpi=90)
    plt.close(fig)
    return Path(png)
