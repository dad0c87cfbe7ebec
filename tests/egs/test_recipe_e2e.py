"""The whole synth_en recipe at a tiny size: every stage from synthesis to the WER report must join up. It runs in
CI (about 70 s on two idle cores), so every commit proves the pipeline joins up."""

from __future__ import annotations

import re
import shutil

import numpy as np
import pytest

from asr.data.dataset import AsrDataset, compute_cmvn
from asr.features.cmvn import GlobalCmvn
from asr.models.config import load_config
from asr.text.tokenizer import load_tokenizer

pytestmark = [
    pytest.mark.skipif(
        shutil.which("espeak-ng") is None or shutil.which("sox") is None, reason="espeak-ng, sox"
    ),
]


def test_synth_en_end_to_end(tmp_path, recipes):
    recipe = recipes.copy("synth_en", tmp_path)
    conf = (recipe / "conf" / "train.yaml").read_text()
    conf = re.sub(r"(?m)^  epochs: .*$", "  epochs: 2\n  ema_decay: 0.99", conf)
    # an intermediate CTC on the 39 stress-free CMUdict phones of stage 2's lexicon (--phone-lexicon)
    conf += "model:\n  interctc_layers: [1]\n  interctc_vocabs: [41]\n  interctc_phone_layers: [1]\n"
    (recipe / "conf" / "tiny_test.yaml").write_text(conf)
    # training goes through torchrun (--train-procs 2), as the one-hour model's did, reading stored fbank
    args = ["--hours", "0.02", "--nj", "2", "--vocab-size", "80", "--train-config", "conf/tiny_test.yaml",
            "--avg-num", "1", "--num-hotwords", "10", "--beam", "8", "--max-active", "200",
            "--train-procs", "2", "--extra-text-sources", "wordnet wordnet-glosses", "--extra-hours", "0.01 0.01",
            "--extra-tag", "wn gl", "--precompute-fbank", "true", "--trim-silence", "true",
            "--phone-lexicon", "data/lang_bpe80/lexicon_phones_nostress.txt"]  # fmt: skip
    proc = recipes.run(recipe, *args, timeout=3000)
    assert proc.returncode == 0, proc.stderr[-4000:]
    exp = recipe / "exp" / "paraformer_tiny"
    # the extra corpora (WordNet sentences, WordNet definitions) joined data/train under their tags, with no dev/test
    # sentence in them
    train = dict(ln.split(" ", 1) for ln in (recipe / "data" / "train" / "text").read_text().splitlines())
    base = (recipe / "data" / "train_base" / "text").read_text().splitlines()
    assert (
        len(base) < len(train)
        and any(k.endswith("-wn") for k in train)
        and any(k.endswith("-gl") for k in train)
    )
    assert len(train) == len(base) + sum(
        len((recipe / "data" / f"extra_{tag}" / "train" / "text").read_text().splitlines())
        for tag in ("wn", "gl")
    )
    heldout = {
        ln.split(" ", 1)[1]
        for s in ("dev", "test_seen")
        for ln in (recipe / "data" / s / "text").read_text().splitlines()
    }
    assert not heldout & set(train.values())
    results = (exp / "RESULTS.txt").read_text()
    for test_set in ("test_seen", "test_unseen"):
        for kind in ("greedy", "tlg", "tlg_hotwords", "greedy_ctc", "tlg_ctc", "tlg_hotwords_ctc"):
            assert re.search(rf"(?m)^{test_set} +{kind} +%WER [0-9.]+ \[", results), results
            assert (exp / f"decode_{kind}_{test_set}" / "report" / "report.html").is_file()
    # every report splits the errors by the training count of the reference words
    table = (exp / "decode_greedy_test_seen" / "report" / "frequency.txt").read_text()
    assert table.startswith("words by count in data/train/text") and "unseen (0)" in table
    assert "results (" in proc.stderr and "report.html" in proc.stderr  # the run ends by saying where to look
    # a second run has nothing left to do and says so quickly
    again = recipes.run(recipe, *args, "--stage", "3", timeout=600)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "epoch" not in again.stderr
    assert "starting: 2 rank(s)" in (exp / "train.log").read_text()
    # stage 3 stored the train and dev fbank (cifst data fbank) and training read it
    for x in ("train", "dev"):
        stored = (recipe / "data" / x / "feats.scp").read_text().splitlines()
        assert len(stored) == len((recipe / "data" / x / "text").read_text().splitlines())
    # training read data/train_trim (cifst data trim): fewer frames, as many utterances
    trim = recipe / "data" / "train_trim"
    kept = [int(v.split()[1]) for v in (trim / "utt2num_frames").read_text().splitlines()]
    full = [
        int(v.split()[1]) for v in (recipe / "data" / "train" / "utt2num_frames").read_text().splitlines()
    ]
    assert len(kept) == len(full) and sum(kept) < sum(full) and (trim / "segments").is_file()
    assert "data/train_trim" in (exp / "log" / "train.log").read_text()
    # stage 2 wrote the stress-free phone lexicon and stage 3 trained the phone level with it
    lexicon = (recipe / "data" / "lang_bpe80" / "lexicon_phones_nostress.txt").read_text()
    assert (exp / "phone_lexicon.txt").read_text() == lexicon
    assert len((exp / "interctc_phones.txt").read_text().splitlines()) == 41
    assert re.search(r"phone lexicon: \d+ of \d+ training words", (exp / "log" / "train.log").read_text())
    # the two ranks each computed CMVN stats over half the training set (from the stored, trimmed fbank); merged,
    # they are the whole set's, computed from the audio the trimmed directory's segments point at
    cfg = load_config(exp / "config.yaml")
    cfg.dataset.use_feats = False
    ds = AsrDataset(trim, load_tokenizer(exp), cfg.fbank, train=True, config=cfg.dataset, progress=False)
    whole = compute_cmvn(ds, cfg.frontend.lfr.m, cfg.frontend.lfr.n, progress=False)
    saved = GlobalCmvn.load(exp / "cmvn.json")
    assert saved.frames == whole.frames
    np.testing.assert_allclose(saved.mean, whole.mean, rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(saved.std, whole.std, rtol=1e-4, atol=1e-4)
    # --checkpoint ema decodes the weight EMA (train.ema_decay) into decode dirs and a RESULTS file of its own name
    before = results
    ema = recipes.run(
        recipe, *args, "--stage", "4", "--checkpoint", "ema", "--eval-sets", "test_seen", "--heads", "ctc",
        timeout=600,
    )  # fmt: skip
    assert ema.returncode == 0, ema.stderr[-3000:]
    assert (exp / "ema.pt").is_file() and (exp / "infer_test_seen_ema_ctc" / "posteriors.scp").is_file()
    ema_results = (exp / "RESULTS_ema.txt").read_text()
    for kind in ("greedy_ctc", "tlg_ctc", "tlg_hotwords_ctc"):
        assert re.search(rf"(?m)^test_seen +{kind} +%WER [0-9.]+ \[", ema_results), ema_results
        assert (exp / f"decode_{kind}_ema_test_seen" / "report" / "report.html").is_file()
    assert (exp / "RESULTS.txt").read_text() == before
    missing = recipes.run(recipe, *args, "--stage", "4", "--stop-stage", "4", "--checkpoint", "epoch_9.pt")
    assert missing.returncode != 0 and "epoch_9.pt" in missing.stderr
