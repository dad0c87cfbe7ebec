from __future__ import annotations

import argparse

import pytest

from asr.cli import main
from decoding.hotwords.cli import add_hotword_options, config_from_args, context_from_args


@pytest.fixture
def tok_dir(tmp_path):
    tk = pytest.importorskip("asr.text.tokenizer")
    texts = ["the cat sat on the mat", "new york is big", "我们在北京 天气很好"] * 10
    tk.train_tokenizer("char", texts, 0, tmp_path / "tok")
    return tmp_path / "tok"


def test_check_reports_bad_lines_duplicates_and_graph_size(tmp_path, tok_dir, capsys):
    f = tmp_path / "hw.txt"
    f.write_text("# list\nnew york 2\nzeta\nnew york :3\n北京\n" + "我们" * 20 + "\n", encoding="utf-8")
    code = main(["hotwords", "check", str(f), "--tokenizer", str(tok_dir), "--show-tokens"])
    out = capsys.readouterr().out
    assert code == 1
    zeta_line = next(line for line in out.splitlines() if line.startswith(f"{f}:3: 'zeta': "))
    assert "'z'" in zeta_line and "spell the phrase with characters the model knows" in zeta_line
    assert f"{f}:6: '" in out and "40 tokens long" in out
    assert f"{f}: lines 2, 4: merged duplicates ['new york']" in out
    assert "▁n e w ▁y o r k\tweight=3" in out
    assert "2 hotwords usable, 2 problem(s), 1 duplicate(s) merged; context graph" in out
    f.write_text("new york\n北京 20\n", encoding="utf-8")
    assert main(["hotwords", "check", str(f), "--tokenizer", str(tok_dir)]) == 0
    out = capsys.readouterr().out
    assert "2 hotwords usable, 0 problem(s)" in out
    assert f"note: {f}:2: '北京': weight 20 is large" in out


def test_missing_file_is_one_line_error(tmp_path, tok_dir, capsys):
    code = main(["hotwords", "check", str(tmp_path / "nope.txt"), "--tokenizer", str(tok_dir)])
    assert code == 1
    assert "cifst hotwords check: error:" in capsys.readouterr().err


def test_decode_options_build_the_context(tmp_path, tok_dir):
    p = argparse.ArgumentParser()
    add_hotword_options(p)
    args = p.parse_args([])
    assert context_from_args(args, tok_dir) is None
    (tmp_path / "hw.txt").write_text("北京\n", encoding="utf-8")
    args = p.parse_args(
        ["--hotwords", str(tmp_path / "hw.txt"), "--hotword-score", "2", "--hotword-weight", "1"]
    )
    cfg = config_from_args(args)
    assert (cfg.score, cfg.weight, cfg.style) == (2.0, 1.0, "auto")
    ctx = context_from_args(args, tok_dir)
    assert ctx.start_states(["a", "b"]).tolist() == [0, 0]
    assert ctx.graph.num_states == 3


def test_graph_dir_without_tokenizer_yaml_falls_back_to_the_model(tmp_path, tok_dir, caplog):
    from decoding.hotwords.cli import resolve_tokenizer_dir

    graph = tmp_path / "graph"
    graph.mkdir()
    (graph / "tokens.txt").write_text((tok_dir / "tokens.txt").read_text())
    post = tmp_path / "infer"
    post.mkdir()
    (post / "posteriors.scp").write_text("")
    (post / "post.yaml").write_text(f"tokens: tokens.txt\nrow_type: cif\nmodel: {tok_dir}\n")
    paths = [str(graph), str(post / "posteriors.scp"), str(tmp_path / "out")]
    assert resolve_tokenizer_dir(str(graph), paths) == str(tok_dir)
    assert resolve_tokenizer_dir(str(tok_dir), paths) == str(tok_dir)
    (post / "post.yaml").write_text("tokens: tokens.txt\nrow_type: cif\n")
    assert resolve_tokenizer_dir(str(graph), paths) == str(graph)
    assert "has no tokenizer.yaml" in caplog.text


def test_model_tokenizer_of_post_yaml_is_the_default(tmp_path, tok_dir):
    """Without --tokenizer the model named by post.yaml spells the phrases, even when GRAPH_DIR has a tokenizer of
    its own; an explicit --tokenizer wins."""
    tk = pytest.importorskip("asr.text.tokenizer")
    from decoding.hotwords.cli import resolve_tokenizer_dir

    other = tmp_path / "graph"
    tk.train_tokenizer("char", ["completely different text"] * 5, 0, other)
    post = tmp_path / "infer"
    post.mkdir()
    (post / "posteriors.scp").write_text("")
    (post / "post.yaml").write_text(f"tokens: tokens.txt\nrow_type: cif\nmodel: {tok_dir}\n")
    paths = [str(other), str(post / "posteriors.scp"), str(tmp_path / "out")]
    assert resolve_tokenizer_dir(str(other), paths, prefer_model=True) == str(tok_dir)
    assert resolve_tokenizer_dir(str(other), paths, prefer_model=False) == str(other)
    # through the decode options: no --tokenizer -> the model's; --tokenizer given -> that one
    (tmp_path / "hw.txt").write_text("new york\n", encoding="utf-8")
    p = argparse.ArgumentParser()
    p.add_argument("paths", nargs="*")
    p.add_argument("--tokenizer")
    add_hotword_options(p)
    args = p.parse_args([*paths, "--hotwords", str(tmp_path / "hw.txt")])
    ctx = context_from_args(args, str(other))  # "other" cannot spell "york": only the model's tokenizer works
    assert ctx.graph.num_states == len(tk.load_tokenizer(tok_dir).encode("new york")) + 1
    args = p.parse_args([*paths, "--hotwords", str(tmp_path / "hw.txt"), "--tokenizer", str(other)])
    with pytest.raises(Exception, match="york"):
        context_from_args(args, str(other))


def test_gate_and_word_end_options():
    p = argparse.ArgumentParser()
    add_hotword_options(p)
    cfg = config_from_args(p.parse_args([]))
    assert cfg.word_end and cfg.gate is None
    cfg = config_from_args(p.parse_args(["--hotword-gate", "-4.6", "--hotword-no-word-end"]))
    assert cfg.gate == pytest.approx(-4.6) and not cfg.word_end


def test_default_bonus_follows_the_row_type():
    """Without --hotword-score the bonus is picked by post.yaml's row_type (CTC frames need more than CIF slots,
    docs/benchmarks/hotwords.md); an explicit value always wins."""
    p = argparse.ArgumentParser()
    add_hotword_options(p)
    unset = p.parse_args(["--hotwords", "x.txt"])
    assert config_from_args(unset, "cif").score == 1.0
    assert config_from_args(unset, "frame").score == 2.5
    assert config_from_args(unset).score == 1.0
    given = p.parse_args(["--hotwords", "x.txt", "--hotword-score", "0.5"])
    assert config_from_args(given, "frame").score == 0.5
