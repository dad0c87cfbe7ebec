"""End to end on a tiny synthetic data dir: `cifst train` -> `cifst average` -> `cifst infer`; outputs readable by
kaldiio and consistent with post.yaml and text; bad checkpoints fail with clear errors."""

from __future__ import annotations

import logging
import re
import sys
from pathlib import Path

import kaldiio
import numpy as np
import pytest
import soundfile as sf
import yaml

from asr.cli import main
from asr.models.config import load_config, save_config
from asr.text.tokenizer import load_tokenizer, train_tokenizer

sys.path.insert(0, str(Path(__file__).parent / "train"))

from fakes import tiny_config  # noqa: E402

WORDS = ["abc", "cab", "bad", "dab", "ace", "bead"]


def make_data(root: Path, n: int, seed: int) -> Path:
    """Utterances of 2-3 'words'; each letter is a 0.12 s tone of its own pitch."""
    rng = np.random.default_rng(seed)
    d = root / f"data{seed}"
    (d / "wav").mkdir(parents=True)
    pitch = {c: 300.0 + 180.0 * i for i, c in enumerate("abcde")}
    lines, scp = [], []
    for i in range(n):
        words = [WORDS[j] for j in rng.integers(0, len(WORDS), size=rng.integers(2, 4))]
        t = np.arange(int(0.12 * 16000)) / 16000
        parts = []
        for w in words:
            parts += [0.3 * np.sin(2 * np.pi * pitch[c] * t) for c in w]
            parts.append(np.zeros(1600))
        wave = np.concatenate(parts) + 0.003 * rng.standard_normal(sum(len(p) for p in parts))
        key = f"utt{i:03d}"
        sf.write(d / "wav" / f"{key}.wav", wave.astype(np.float32), 16000)
        lines.append(f"{key} {' '.join(words)}")
        scp.append(f"{key} {d / 'wav' / f'{key}.wav'}")
    (d / "text").write_text("\n".join(lines) + "\n")
    (d / "wav.scp").write_text("\n".join(scp) + "\n")
    return d


@pytest.fixture(scope="module")
def exp(tmp_path_factory):
    root = tmp_path_factory.mktemp("e2e")
    train = make_data(root, 12, 0)
    # bad input must cost one warning each, never the run: a corrupt wav and an empty transcript
    (train / "wav" / "zbad.wav").write_bytes(b"RIFF\x00garbage")
    (train / "wav.scp").write_text(
        (train / "wav.scp").read_text() + f"zbad {train / 'wav' / 'zbad.wav'}\n"
        f"zempty {train / 'wav' / 'utt000.wav'}\n"
    )
    (train / "text").write_text((train / "text").read_text() + "zbad abc\nzempty\n")
    dev = make_data(root, 3, 1)
    train_tokenizer(
        "char",
        [line.split(" ", 1)[1] for line in (train / "text").read_text().splitlines() if " " in line],
        0,
        root / "lang",
    )
    cfg = tiny_config()
    cfg.train.max_frames = 1500
    cfg.train.epochs = 2
    save_config(cfg, root / "conf.yaml")
    exp = root / "exp"
    code = main(
        [
            "train",
            "--config",
            str(root / "conf.yaml"),
            "--train-data",
            str(train),
            "--dev-data",
            str(dev),
            "--tokenizer",
            str(root / "lang"),
            "--device",
            "cpu",
            "--no-progress",
            str(exp),
        ]
    )
    assert code == 0
    return root, exp, dev


def test_train_writes_a_model_dir(exp):
    _, exp_dir, _ = exp
    for name in (
        "config.yaml",
        "tokens.txt",
        "tokenizer.yaml",
        "cmvn.json",
        "epoch_1.pt",
        "epoch_2.pt",
        "final.pt",
        "checkpoint.pt",
        "losses.tsv",
        "train.log",
    ):
        assert (exp_dir / name).exists(), name


def test_average_then_infer_outputs_are_consistent(exp, capsys):
    root, exp_dir, dev = exp
    assert main(["average", str(exp_dir), "--num", "2"]) == 0
    out = root / "infer"
    assert (
        main(
            [
                "infer",
                str(exp_dir),
                str(dev),
                str(out),
                "--checkpoint",
                "avg_2.pt",
                "--device",
                "cpu",
                "--batch-size",
                "2",
                "--no-progress",
            ]
        )
        == 0
    )
    assert "RTF" in capsys.readouterr().out
    meta = yaml.safe_load((out / "post.yaml").read_text())
    assert meta["row_type"] == "cif" and meta["frame_shift"] == pytest.approx(0.06)
    tokens = load_tokenizer(exp_dir).symbols
    assert (out / meta["tokens"]).read_text() == (exp_dir / "tokens.txt").read_text()
    post = dict(kaldiio.load_scp_sequential(str(out / "posteriors.scp")))
    times = dict(kaldiio.load_scp_sequential(str(out / "times.scp")))
    keys = [line.split()[0] for line in (dev / "text").read_text().splitlines()]
    assert sorted(post) == sorted(times) == keys
    text = dict(
        line.split(" ", 1) if " " in line else (line, "") for line in (out / "text").read_text().splitlines()
    )
    tok = load_tokenizer(exp_dir)
    dur = {k: sf.info(str(dev / "wav" / f"{k}.wav")).duration for k in keys}
    for key in keys:
        lp, tm = post[key], times[key]
        assert lp.dtype == np.float32 and tm.dtype == np.float32
        assert lp.shape[1] == len(tokens) and tm.shape == (lp.shape[0], 2)
        np.testing.assert_allclose(np.exp(lp).sum(1), 1.0, rtol=1e-4)
        assert (tm[:, 0] <= tm[:, 1]).all() and (tm >= 0).all() and (tm[:, 1] <= dur[key] + 0.06).all()
        ids = [int(i) for i in lp.argmax(1) if int(i) not in (0, tokens["<sos/eos>"])]
        assert text[key].strip() == tok.decode(ids).strip()


def test_checkpoint_of_another_shape_names_the_tensor(exp, tmp_path, capsys):
    _, exp_dir, dev = exp
    other = tmp_path / "other"
    other.mkdir()
    for name in ("tokens.txt", "tokenizer.yaml", "cmvn.json", "final.pt"):
        (other / name).write_bytes((exp_dir / name).read_bytes())
    cfg = load_config(exp_dir / "config.yaml")
    cfg.model.encoder.ffn_dim = 48
    save_config(cfg, other / "config.yaml")
    assert main(["infer", str(other), str(dev), str(tmp_path / "o"), "--device", "cpu", "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert "encoder.layers.0.ffn.w1.weight" in err and "(64, 32)" in err and "(48, 32)" in err
    (other / "bad.pt").write_bytes(b"not a checkpoint")
    assert (
        main(["infer", str(other), str(dev), str(tmp_path / "o"), "--checkpoint", "bad.pt", "--no-progress"])
        == 1
    )
    assert "weights-only" in capsys.readouterr().err
    assert (
        main(
            ["infer", str(other), str(dev), str(tmp_path / "o"), "--checkpoint", "avg_9.pt", "--no-progress"]
        )
        == 1
    )
    assert "no such checkpoint" in capsys.readouterr().err


def test_ctc_head_writes_frame_posteriors_and_the_ctc_best_path(exp, tmp_path, capsys):
    """--head ctc: one row per encoder frame, equal to the model's own CTC head, greedy text = the collapsed best path;
    a model without a CTC head gets a clear error."""
    import torch

    from asr.infer import ctc_rows, load_experiment
    from asr.train.checkpoint import load_model_state, save_model_file

    _, exp_dir, dev = exp
    out = tmp_path / "ctc"
    args = [
        "infer",
        str(exp_dir),
        str(dev),
        str(out),
        "--device",
        "cpu",
        "--batch-size",
        "2",
        "--no-progress",
    ]
    assert main(args + ["--head", "ctc"]) == 0
    meta = yaml.safe_load((out / "post.yaml").read_text())
    assert (
        meta["row_type"] == "frame" and meta["head"] == "ctc" and meta["frame_shift"] == pytest.approx(0.06)
    )
    post = dict(kaldiio.load_scp_sequential(str(out / "posteriors.scp")))
    times = dict(kaldiio.load_scp_sequential(str(out / "times.scp")))
    text = dict(
        line.split(" ", 1) if " " in line else (line, "") for line in (out / "text").read_text().splitlines()
    )
    model, frontend, tok, cfg = load_experiment(exp_dir, "final.pt")
    from asr.data.dataset import AsrDataset, DatasetConfig, collate_asr

    ds = AsrDataset(dev, None, cfg.fbank, train=False, config=DatasetConfig(max_duration=1e9), progress=False)
    blank, eos = 0, tok.symbols["<sos/eos>"]
    for i in range(len(ds)):
        batch = collate_asr([ds[i]])
        key = batch["keys"][0]
        with torch.no_grad():
            x, x_lens = frontend(batch["feats"], batch["feats_lens"])
            lp, lens, _ = ctc_rows(model, x, x_lens)
        ref = lp[0, : int(lens[0])].numpy()
        # one row per LFR frame: ceil(fbank frames / 6)
        assert post[key].shape == ref.shape and ref.shape[0] == -(-int(batch["feats_lens"][0]) // 6)
        np.testing.assert_allclose(post[key], ref, atol=1e-4)
        np.testing.assert_allclose(times[key][:, 1] - times[key][:, 0], 0.06, atol=1e-5)
        best = ref.argmax(1)
        ids = [int(b) for j, b in enumerate(best) if (j == 0 or b != best[j - 1]) and b not in (blank, eos)]
        assert text[key].strip() == tok.decode(ids).strip()
    # a model trained without CTC: same files minus the ctc.* tensors, ctc_weight 0
    other = tmp_path / "noctc"
    other.mkdir()
    for name in ("tokens.txt", "tokenizer.yaml", "cmvn.json"):
        (other / name).write_bytes((exp_dir / name).read_bytes())
    cfg.model.ctc_weight = 0.0
    save_config(cfg, other / "config.yaml")
    state, m = load_model_state(exp_dir / "final.pt")
    save_model_file(other / "final.pt", {k: v for k, v in state.items() if not k.startswith("ctc.")}, m)
    args[1] = str(other)
    assert main(args + ["--head", "cif"]) == 0
    capsys.readouterr()
    assert main(args + ["--head", "ctc"]) == 1
    assert "ctc_weight" in capsys.readouterr().err


def _train_args(conf: Path, data: Path, lang: Path) -> list[str]:
    """`cifst train` arguments on the CPU without progress bars; the experiment dir goes last."""
    args = ["train", "--config", str(conf), "--train-data", str(data), "--tokenizer", str(lang)]
    return args + ["--device", "cpu", "--no-progress"]


def test_hierarchical_interctc_trains_writes_its_vocabulary_and_infers(exp, tmp_path, capsys):
    """``model.interctc_vocab``: `cifst train` derives the intermediate vocabulary from the tokenizer and writes it
    to interctc_tokens.txt; `cifst infer` runs the conditioned encoder without it; a size tokens.txt cannot provide
    is an error naming config.yaml and tokens.txt, not a traceback. The same with ``model.interctc_vocabs``."""
    root, _, dev = exp
    cfg = tiny_config()
    cfg.model.encoder.num_layers = 2
    cfg.model.interctc_layers = [1]
    cfg.model.interctc_conditioning = True
    cfg.model.interctc_vocab = 5
    cfg.train.epochs = 1
    save_config(cfg, tmp_path / "conf.yaml")
    plain = [s for s in load_tokenizer(exp[1]).symbols.symbols[1:] if not s.startswith("<")]
    args = _train_args(tmp_path / "conf.yaml", root / "data0", root / "lang")
    assert main(args + [str(tmp_path / "hc")]) == 0
    lines = (tmp_path / "hc" / "interctc_tokens.txt").read_text().splitlines()
    assert lines == [f"{s} {j}" for j, s in enumerate(["<blk>", "<unk>", *plain[:3]])]
    out = tmp_path / "infer"
    assert main(["infer", str(tmp_path / "hc"), str(dev), str(out), "--head", "ctc", "--no-progress"]) == 0
    assert len((out / "text").read_text().splitlines()) == 3
    cfg.model.interctc_vocab = 3 + len(plain)
    save_config(cfg, tmp_path / "conf.yaml")
    capsys.readouterr()
    assert main(args + [str(tmp_path / "hc2")]) == 1
    err = capsys.readouterr().err
    assert "hc2/config.yaml: model.interctc_vocab" in err and "tokens.txt" in err and "must be in 3.." in err
    assert "Traceback" not in err
    # a vocabulary per block (model.interctc_vocabs): one file per size
    cfg.model.encoder.num_layers = 3
    cfg.model.interctc_layers = [1, 2]
    cfg.model.interctc_vocab = 0
    cfg.model.interctc_vocabs = [4, 5]
    save_config(cfg, tmp_path / "conf.yaml")
    assert main(args + [str(tmp_path / "hc3")]) == 0
    for k in (4, 5):
        lines = (tmp_path / "hc3" / f"interctc_tokens_{k}.txt").read_text().splitlines()
        assert lines == [f"{s} {j}" for j, s in enumerate(["<blk>", "<unk>", *plain[: k - 2]])]
    assert not (tmp_path / "hc3" / "interctc_tokens.txt").exists()
    out = tmp_path / "infer3"
    assert main(["infer", str(tmp_path / "hc3"), str(dev), str(out), "--head", "ctc", "--no-progress"]) == 0
    cfg.model.interctc_vocabs = [4, 3 + len(plain)]
    save_config(cfg, tmp_path / "conf.yaml")
    capsys.readouterr()
    assert main(args + [str(tmp_path / "hc4")]) == 1
    err = capsys.readouterr().err
    assert (
        "hc4/config.yaml: model.interctc_vocabs" in err and "must be in 3.." in err and "Traceback" not in err
    )


def test_bpe_dropout_trains_and_needs_a_bpe_tokenizer(exp, tmp_path, capsys, caplog):
    """``train.bpe_dropout``: `cifst train` with a BPE tokenizer logs how much longer the drawn targets are and
    trains; with the character tokenizer it stops with an error naming config.yaml and tokenizer.yaml."""
    root, _, _ = exp
    texts = [ln.split(" ", 1)[1] for ln in (root / "data0" / "text").read_text().splitlines() if " " in ln]
    train_tokenizer("bpe", texts * 20, 14, tmp_path / "lang_bpe")
    cfg = tiny_config()
    cfg.train.epochs = 1
    cfg.train.max_frames = 1500
    cfg.train.bpe_dropout = 0.5
    save_config(cfg, tmp_path / "conf.yaml")
    with caplog.at_level(logging.INFO, logger="cifst.train"):
        args = _train_args(tmp_path / "conf.yaml", root / "data0", tmp_path / "lang_bpe")
        assert main(args + [str(tmp_path / "bd")]) == 0
    log = caplog.text
    m = re.search(r"BPE-dropout 0\.500: .*?([0-9.]+)% more tokens", log)
    assert m and float(m.group(1)) > 5.0, log
    capsys.readouterr()
    char_args = _train_args(tmp_path / "conf.yaml", root / "data0", root / "lang")
    assert main(char_args + [str(tmp_path / "bd_char")]) == 1
    err = capsys.readouterr().err
    assert (
        "bd_char/config.yaml: train.bpe_dropout=0.5 needs a BPE tokenizer" in err and "tokenizer.yaml" in err
    )
    assert "Traceback" not in err


def test_phone_level_interctc_trains_with_a_lexicon(exp, tmp_path, capsys, caplog):
    """``model.interctc_phone_layers`` with `cifst train --phone-lexicon`: the lexicon is copied into the exp dir
    (where a resume finds it), its phones go to interctc_phones.txt, the log counts training words it lacks, and the
    model infers without it. Errors name the file: no lexicon, a lexicon without phone layers, a bad lexicon line,
    a phone head of the wrong size."""
    root, _, dev = exp
    texts = [ln.split(" ", 1)[1] for ln in (root / "data0" / "text").read_text().splitlines() if " " in ln]
    train_tokenizer("bpe", texts * 20, 14, tmp_path / "lang_bpe")
    # a letter "pronunciation" per word; "bead" left out
    lexicon = tmp_path / "lexicon.txt"
    # with CRLF line ends: the copy keeps them, so a resume given the same file again is accepted
    lexicon.write_bytes("".join(f"{w} {' '.join(w.upper())}\r\n" for w in WORDS if w != "bead").encode())
    cfg = tiny_config()
    cfg.model.encoder.num_layers = 2
    cfg.model.interctc_layers = [1]
    cfg.model.interctc_vocabs = [7]  # A B C D E + <blk> <unk>
    cfg.model.interctc_phone_layers = [1]
    cfg.model.interctc_conditioning = True
    cfg.train.epochs = 1
    save_config(cfg, tmp_path / "conf.yaml")
    args = _train_args(tmp_path / "conf.yaml", root / "data0", tmp_path / "lang_bpe")
    with caplog.at_level(logging.INFO, logger="cifst.train"):
        assert main(args + ["--phone-lexicon", str(lexicon), str(tmp_path / "ph")]) == 0
    kept = [ln.split(" ", 1)[1] for ln in (root / "data0" / "text").read_text().splitlines() if ln[0] != "z"]
    n_bead = sum(t.split().count("bead") for t in kept)  # the z* utterances are the fixture's unusable ones
    n_words = sum(len(t.split()) for t in kept)
    assert n_bead > 0
    assert f"phone lexicon: {n_bead} of {n_words} training words (1 distinct;" in caplog.text
    assert (tmp_path / "ph" / "phone_lexicon.txt").read_text() == lexicon.read_text()
    lines = (tmp_path / "ph" / "interctc_phones.txt").read_text().splitlines()
    assert lines == [f"{s} {j}" for j, s in enumerate(["<blk>", "<unk>", "A", "B", "C", "D", "E"])]
    out = tmp_path / "infer"
    assert main(["infer", str(tmp_path / "ph"), str(dev), str(out), "--head", "ctc", "--no-progress"]) == 0
    assert len((out / "text").read_text().splitlines()) == 3
    # a resume (here: one more epoch) reads EXP_DIR's copy when --phone-lexicon is not given again
    cfg.train.epochs = 2
    save_config(cfg, tmp_path / "ph" / "config.yaml")
    assert main(args + ["--resume", str(tmp_path / "ph")]) == 0
    assert (tmp_path / "ph" / "epoch_2.pt").exists()
    assert main(args + ["--resume", "--phone-lexicon", str(lexicon), str(tmp_path / "ph")]) == 0
    assert (tmp_path / "ph" / "phone_lexicon.txt").read_bytes() == lexicon.read_bytes()
    capsys.readouterr()
    # resuming with another lexicon would change the phone ids under a trained head
    other = tmp_path / "other_lexicon.txt"
    other.write_text(lexicon.read_text() + "bead B E A D\n")
    assert main(args + ["--resume", "--phone-lexicon", str(other), str(tmp_path / "ph")]) == 1
    err = capsys.readouterr().err
    assert (
        "other_lexicon.txt differs from" in err and "ph/phone_lexicon.txt" in err and "Traceback" not in err
    )
    assert (tmp_path / "ph" / "phone_lexicon.txt").read_text() == lexicon.read_text()
    assert main(args + [str(tmp_path / "ph_none")]) == 1
    err = capsys.readouterr().err
    assert "ph_none/config.yaml: model.interctc_phone_layers needs a pronunciation lexicon" in err
    bad = tmp_path / "bad_lexicon.txt"
    bad.write_text("abc A B C\ncab\n")
    assert main(args + ["--phone-lexicon", str(bad), str(tmp_path / "ph_bad")]) == 1
    assert "bad_lexicon.txt:2: word 'cab' has no phones" in capsys.readouterr().err
    cfg.model.interctc_vocabs = [9]
    save_config(cfg, tmp_path / "conf.yaml")
    assert main(args + ["--phone-lexicon", str(lexicon), str(tmp_path / "ph_size")]) == 1
    err = capsys.readouterr().err
    assert "ph_size/config.yaml: model.interctc_phone_layers" in err and "set it to 7" in err
    cfg.model.interctc_phone_layers = []
    save_config(cfg, tmp_path / "conf.yaml")
    assert main(args + ["--phone-lexicon", str(lexicon), str(tmp_path / "ph_unused")]) == 1
    err = capsys.readouterr().err
    assert "--phone-lexicon" in err and "no model.interctc_phone_layers" in err and "Traceback" not in err
