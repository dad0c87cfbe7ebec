"""losses.tsv -> losses.png: every loss column gets a panel with its train curve and dev points, the dev token error
rate and the learning rate get theirs; an empty log draws nothing; the PNG is written atomically."""

from __future__ import annotations

import matplotlib.image as mpimg
import pytest

from asr.train.plot import loss_panels, plot_losses, read_losses

HEADER = "split\tepoch\tstep\tlr\tloss\tce\tctc\tacc\tgrad_norm\ttoken_error_rate\n"


def _tsv(tmp_path, epochs=3, steps=20):
    lines = [HEADER]
    for e in range(1, epochs + 1):
        for s in range((e - 1) * steps + 1, e * steps + 1):
            loss = 100.0 / s
            lines.append(f"train\t{e}\t{s}\t0.001\t{loss}\t{loss / 2}\t{loss * 2}\t0.5\t3.0\t\n")
        lines.append(f"dev\t{e}\t{e * steps}\t0.001\t{5.0 / e}\t{2.0 / e}\t{8.0 / e}\t0.6\t\t{0.5 / e}\n")
    path = tmp_path / "losses.tsv"
    path.write_text("".join(lines), encoding="utf-8")
    return path


def test_read_losses_splits_rows_and_drops_empty_cells(tmp_path):
    rows = read_losses(_tsv(tmp_path))
    assert len(rows["train"]) == 60 and len(rows["dev"]) == 3
    assert "token_error_rate" not in rows["train"][0] and rows["dev"][2]["token_error_rate"] == pytest.approx(
        0.5 / 3
    )
    assert "grad_norm" not in rows["dev"][0]


def test_plot_draws_one_panel_per_curve(tmp_path):
    tsv = _tsv(tmp_path)
    assert loss_panels(read_losses(tsv)) == ["loss", "ce", "ctc", "token_error_rate", "lr"]
    png = plot_losses(tsv, tmp_path / "losses.png", title="exp")
    img = mpimg.imread(png)
    # 5 panels in a 3-column grid of 2 rows at 90 dpi
    assert img.shape[0] == pytest.approx(2 * 2.8 * 90, abs=2) and img.shape[1] == pytest.approx(
        3 * 4.2 * 90, abs=2
    )
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left


def test_nothing_to_draw(tmp_path):
    path = tmp_path / "losses.tsv"
    path.write_text(HEADER, encoding="utf-8")
    assert plot_losses(path, tmp_path / "losses.png") is None
    assert not (tmp_path / "losses.png").exists()
