"""A tiny synthetic corpus end to end: Kaldi data dirs that read back, the split rules, real durations, CTMs that
match the transcripts, and reruns that skip or resume."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import soundfile

from asr.data.kaldi_dir import read_spk2utt, read_text, read_utt2dur, read_utt2spk, read_wav_scp
from asr.data.synth.corpus import SPLITS, CorpusConfig, build_corpus, plan_corpus
from asr.data.synth.lexicon import make_hotword_list
from asr.data.synth.text import Sentence
from asr.data.synth.voices import Voice
from asr.errors import CifstError

pytestmark = pytest.mark.skipif(shutil.which("espeak-ng") is None or shutil.which("sox") is None,
                                reason="espeak-ng and sox needed")  # fmt: skip

WORDS = ("apple banana cherry dog eagle fox grape horse island jungle kettle lemon mango night ocean piano queen "
         "river sugar table").split()  # fmt: skip


def _sentences(n: int = 60) -> list[Sentence]:
    out = []
    for i in range(n):
        ws = [WORDS[(i * 7 + k * 3) % len(WORDS)] for k in range(3 + i % 4)] + [f"{WORDS[i % len(WORDS)]}"]
        out.append(Sentence(" ".join(ws), " ".join(ws) + ".", "fake"))
    return list({s.words: s for s in out}.values())


def _voices() -> list[Voice]:
    out = [Voice("espeak", f"en-us+{v}", f"espeak-{v}", rate=190) for v in ("m1", "m2", "f1", "f2", "m3")]
    if shutil.which("flite"):
        out += [Voice("flite", "slt", "slt"), Voice("flite", "kal", "kal"), Voice("flite", "awb", "awb")]
    return out


CONFIG = CorpusConfig(
    hours=0.012, min_eval_utts=4, unseen_fraction=0.3, augment_probability=0.5, jobs=2, seed=1
)


def test_plan_respects_the_split_rules():
    plan, ids, lm = plan_corpus(_sentences(), _voices(), CONFIG)
    by = {s: [u for u in plan if u.split == s] for s in SPLITS}
    assert all(by[s] for s in SPLITS)
    train_ids = {u.voice.identity for u in by["train"]}
    assert train_ids <= ids["seen"]
    assert {u.voice.identity for u in by["test_unseen"]} <= ids["unseen"]
    assert {u.voice.identity for u in by["test_seen"]} <= ids["seen"]
    test_text = {u.sentence.words for u in by["test_seen"]}
    assert test_text == {u.sentence.words for u in by["test_unseen"]}  # same sentences, other speakers
    held_out = test_text | {u.sentence.words for u in by["dev"]}
    assert held_out.isdisjoint(u.sentence.words for u in by["train"])
    assert held_out.isdisjoint(s.words for s in lm)
    assert all(u.aug.kind == "clean" for s in ("dev", "test_seen", "test_unseen") for u in by[s])
    keys = [u.key for u in plan]
    assert len(set(keys)) == len(keys)
    assert all(u.key.startswith(u.voice.speaker_id + "-") for u in plan)


def test_train_engines_choose_who_reads_train_and_keep_the_split():
    voices = [Voice("espeak", f"en-us+{v}", f"espeak-{v}") for v in ("m1", "m2", "f1", "f2", "m3")]
    voices += [Voice("flite", n, n) for n in ("slt", "kal", "awb", "rms")]
    full, ids, _ = plan_corpus(_sentences(), voices, CONFIG)
    flite_only = dataclasses.replace(CONFIG, train_engines=("flite",))
    only, ids_only, _ = plan_corpus(_sentences(), voices, flite_only)
    assert ids_only == ids  # the same seen/unseen identities
    train = [u for u in only if u.split == "train"]
    assert train and {u.voice.engine for u in train} == {"flite"}
    flite_ids = {v.identity for v in voices if v.engine == "flite"}
    assert {u.voice.identity for u in train} == flite_ids & ids["seen"]
    assert {u.voice.engine for u in full if u.split == "train"} == {"espeak", "flite"}
    for split in ("dev", "test_seen", "test_unseen"):  # held-out sentences unchanged
        sentences = [u.sentence for u in full if u.split == split]
        assert [u.sentence for u in only if u.split == split] == sentences
    with pytest.raises(CifstError, match="no seen voice of the train engines pico"):
        plan_corpus(_sentences(), voices, dataclasses.replace(CONFIG, train_engines=("pico",)))


def test_an_engine_failure_is_counted_not_raised(tmp_path, monkeypatch):
    import asr.data.synth.corpus as corpus_mod

    def broken(*args, **kwargs):
        raise soundfile.LibsndfileError(0, "Error opening '/tmp/x.wav': ")  # what a half-written wav gives

    monkeypatch.setattr(corpus_mod, "synthesize", broken)
    plan, _, _ = plan_corpus(_sentences(), _voices(), CONFIG)
    r = corpus_mod._work((plan[0], str(tmp_path)))
    assert r["key"] == plan[0].key and "LibsndfileError" in r["error"] and "wav" not in r


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> Path:
    data = tmp_path_factory.mktemp("synth") / "data"
    build_corpus(_sentences(), _voices(), CONFIG, data)
    return data


def test_data_dirs_read_back_sorted_and_consistent(corpus):
    for split in SPLITS:
        d = corpus / split
        wav = read_wav_scp(d / "wav.scp", require_sorted=True)
        text = read_text(d / "text", require_sorted=True)
        utt2spk = read_utt2spk(d / "utt2spk", require_sorted=True)
        spk2utt = read_spk2utt(d / "spk2utt")
        dur = read_utt2dur(d / "utt2dur")
        assert set(wav) == set(text) == set(utt2spk) == set(dur)
        assert sorted(u for us in spk2utt.values() for u in us) == sorted(utt2spk)
        for utt, path in wav.items():
            info = soundfile.info(path)
            assert info.samplerate == 16000 and info.channels == 1 and info.subtype == "PCM_16"
            assert info.frames / 16000 == pytest.approx(dur[utt], abs=1e-3)
            assert 0.3 < dur[utt] < 15
        # reference CTM: the transcript's words in order, times inside the audio and non-decreasing
        ctm: dict[str, list[tuple[float, float, str]]] = {}
        for line in (d / "ctm").read_text().splitlines():
            utt, _, start, length, word, _ = line.split()
            ctm.setdefault(utt, []).append((float(start), float(length), word))
        assert set(ctm) == set(text)
        for utt, entries in ctm.items():
            assert [w for _, _, w in entries] == text[utt].split()
            starts = [s for s, _, _ in entries]
            assert starts == sorted(starts)
            assert all(0 <= s and s + n <= dur[utt] + 0.05 for s, n, _ in entries)
    aug = (corpus / "train" / "utt2aug").read_text().split()
    assert "clean" in aug and len(set(aug)) > 1
    assert (corpus / "local" / "voices.tsv").read_text().count("\tunseen\t") >= 2


def test_rerun_skips_and_resumes(corpus, capsys):
    build_corpus(_sentences(), _voices(), CONFIG, corpus)
    assert "already done" in capsys.readouterr().err
    victim_split = corpus / "dev"
    wav = read_wav_scp(victim_split / "wav.scp")
    first = next(iter(wav.values()))
    Path(first).unlink()
    (victim_split / ".done").unlink()
    before = {p: Path(p).stat().st_mtime_ns for p in list(wav.values())[1:]}
    build_corpus(_sentences(), _voices(), CONFIG, corpus)
    assert Path(first).exists()  # the missing file was made again
    assert {p: Path(p).stat().st_mtime_ns for p in before} == before  # the others were reused, not rewritten


def test_hotword_list_has_test_words_and_distractors(corpus, tmp_path):
    out = tmp_path / "hotwords.txt"
    # every word of the toy LM text is "rare" (each sentence is used once), so both kinds exist
    n = make_hotword_list(corpus / "test_seen" / "text", corpus / "local" / "lm_text", out, num=10, seed=0)
    items = out.read_text().splitlines()
    assert n == len(items) > 0
    test_words = {w for t in read_text(corpus / "test_seen" / "text").values() for w in t.split()}
    assert any(all(w in test_words for w in h.split()) for h in items)
