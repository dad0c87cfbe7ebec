"""A synthetic speech corpus: sentences + voices -> Kaldi data directories ``train``, ``dev``, ``test_seen``,
``test_unseen`` (``wav.scp``, ``text``, ``utt2spk``, ``spk2utt``, ``utt2dur``, reference ``ctm``, ``utt2aug`` for
train) over 16 kHz mono wav files, plus ``local/`` files: the voice table, the LM text (all usable sentences except
dev/test ones) and the sentence lists.

Plan (seeded, deterministic): sentences are shuffled and cut into test, dev and train pools; voices are split by
identity into seen and unseen (:func:`asr.data.synth.voices.split_identities`); train takes train-pool sentences,
each read by the next seen voice in a shuffled round robin, until ``hours`` of estimated audio; dev reads dev-pool
sentences with seen voices; test_seen and test_unseen read the *same* held-out test sentences, with seen and unseen
voices, so the two WERs differ only by speaker. Synthesis runs in a process pool with a tqdm bar; finished
utterances are logged to ``<split>/.progress.jsonl`` so an interrupted run resumes where it stopped, and a split is
skipped when its ``.done`` stamp matches the plan. Reference layout: Kaldi ``egs/*/s5/data``.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing
import os
import random
import sys
from dataclasses import asdict, dataclass, field
from pathlib import Path

from asr.data.atomic import atomic_write
from asr.data.kaldi_dir import utt2spk_to_spk2utt, write_kv, write_spk2utt
from asr.data.synth.augment import Augmentation, choose_augmentation, render_wav
from asr.data.synth.engines import synthesize
from asr.data.synth.text import Sentence
from asr.data.synth.voices import Voice, split_identities
from asr.errors import CifstError

__all__ = ["CorpusConfig", "Utterance", "plan_corpus", "build_corpus", "SPLITS"]

SPLITS = ("train", "dev", "test_seen", "test_unseen")
_SECONDS_PER_WORD = 0.26  # measured over the voice mix (2.76 s for 8.8 words); used only to plan sizes
_SECONDS_PER_UTT = 0.5
# Bumped whenever synthesis changes what audio a plan gives, so old wav files are not reused.
SYNTH_VERSION = 2


@dataclass
class CorpusConfig:
    """Size and make-up of a synthetic corpus.

    Attributes:
        hours: audio in ``train`` (planned from word counts; the real figure is printed at the end).
        eval_fraction: utterances in dev and in each test set, as a share of train utterances.
        min_eval_utts: at least this many in each of dev / test_seen / test_unseen.
        max_eval_utts: at most this many.
        unseen_fraction: share of speaker identities held out for test_unseen.
        augment_probability: share of train utterances given one sox effect.
        rate_jitter: per-utterance speaking-rate factor drawn from ``[1 - j, 1 + j]``.
        seed: seed of every random choice.
        jobs: worker processes (0 = all cores).
        train_engines: read the train sentences only with the seen voices of these engines (``None``: all seen
            voices). The speaker split and the dev/test sentences are those of the full inventory, so a corpus made
            this way adds training speech of the named engines' voices to a corpus of the same seed.
    """

    hours: float = 3.0
    eval_fraction: float = 0.05
    min_eval_utts: int = 8
    max_eval_utts: int = 300
    unseen_fraction: float = 0.2
    augment_probability: float = 0.3
    rate_jitter: float = 0.1
    seed: int = 0
    jobs: int = 0
    train_engines: tuple[str, ...] | None = None


@dataclass
class Utterance:
    """One planned utterance."""

    key: str
    split: str
    voice: Voice
    sentence: Sentence
    aug: Augmentation = field(default_factory=Augmentation)
    rate_jitter: float = 1.0
    seed: int = 0


def _estimate_seconds(s: Sentence) -> float:
    return _SECONDS_PER_UTT + _SECONDS_PER_WORD * len(s.words.split())


def plan_corpus(
    sentences: list[Sentence], voices: list[Voice], config: CorpusConfig
) -> tuple[list[Utterance], dict[str, set[str]], list[Sentence]]:
    """Decide every utterance of every split (no audio yet).

    Args:
        sentences: normalized, de-duplicated sentences.
        voices: the voice inventory.
        config: sizes and seeds.

    Returns:
        ``(utterances, identities, lm_sentences)``: the plan; ``{"seen": ..., "unseen": ...}`` identities; the
        sentences free for LM training (everything not in dev or test).

    Raises:
        CifstError: too few sentences or voices for the requested sizes.
    """
    rng = random.Random(config.seed)
    seen_ids, unseen_ids = split_identities(voices, config.unseen_fraction, config.seed)
    seen = [v for v in voices if v.identity in seen_ids]
    unseen = [v for v in voices if v.identity in unseen_ids]
    if not seen or not unseen:
        raise CifstError(f"need voices on both sides of the speaker split, got {len(seen)} seen and {len(unseen)} "
                         "unseen: install more engines (tools/install.sh) or raise --unseen-fraction")  # fmt: skip
    pool = list(sentences)
    rng.shuffle(pool)
    mean_seconds = sum(_estimate_seconds(s) for s in pool[:2000]) / max(1, min(len(pool), 2000))
    n_train_est = max(1, round(config.hours * 3600 / mean_seconds))
    n_eval = max(config.min_eval_utts, min(config.max_eval_utts, round(n_train_est * config.eval_fraction)))
    if len(pool) < 2 * n_eval + 10:
        raise CifstError(f"only {len(pool)} usable sentences for {n_eval} dev and {n_eval} test utterances: "
                         "add text with --text or lower --hours")  # fmt: skip
    test_pool, dev_pool, train_pool = pool[:n_eval], pool[n_eval : 2 * n_eval], pool[2 * n_eval :]
    plan: list[Utterance] = []

    def add(split: str, idx: int, voice: Voice, sentence: Sentence, aug_p: float) -> None:
        aug = choose_augmentation(rng, aug_p)
        jitter = 1.0 + rng.uniform(-config.rate_jitter, config.rate_jitter)
        key = f"{voice.speaker_id}-{split[:2]}{idx:05d}"
        plan.append(Utterance(key, split, voice, sentence, aug, round(jitter, 3), rng.randrange(2**31)))

    def voice_cycle(vs: list[Voice]):
        while True:
            order = list(vs)
            rng.shuffle(order)
            yield from order

    train_voices = seen
    if config.train_engines is not None:
        train_voices = [v for v in seen if v.engine in config.train_engines]
        if not train_voices:
            raise CifstError(f"no seen voice of the train engines {','.join(config.train_engines)}: the seen voices "
                             f"are of {','.join(sorted({v.engine for v in seen}))}")  # fmt: skip
    cyc = voice_cycle(train_voices)
    total, idx = 0.0, 0
    while total < config.hours * 3600:
        sentence = train_pool[idx % len(train_pool)]  # wraps (new voices) only if the text runs out
        add("train", idx, next(cyc), sentence, config.augment_probability)
        total += _estimate_seconds(sentence)
        idx += 1
    if train_voices is not seen:
        cyc = voice_cycle(seen)
    for i, s in enumerate(dev_pool):
        add("dev", i, next(cyc), s, 0.0)
    for i, s in enumerate(test_pool):
        add("test_seen", i, next(cyc), s, 0.0)
    cyc_unseen = voice_cycle(unseen)
    for i, s in enumerate(test_pool):
        add("test_unseen", i, next(cyc_unseen), s, 0.0)
    return plan, {"seen": seen_ids, "unseen": unseen_ids}, train_pool


def _work(item: tuple[Utterance, str]) -> dict:
    utt, wav_dir = item
    n_words = len(utt.sentence.words.split())
    try:
        syn = synthesize(utt.voice, utt.sentence.spoken, n_words, utt.rate_jitter)
        path = Path(wav_dir, utt.split, utt.voice.speaker_id, f"{utt.key}.wav").resolve()
        dur = render_wav(syn.audio, syn.sample_rate, path, utt.aug, utt.seed)
    except CifstError as e:
        return {"key": utt.key, "fp": _fingerprint(utt), "error": str(e)}
    except (
        OSError,
        RuntimeError,
    ) as e:  # an engine's unreadable output, a full disk: counted like any failure
        return {
            "key": utt.key,
            "fp": _fingerprint(utt),
            "error": f"{utt.voice.engine}: {type(e).__name__}: {e}",
        }
    scale = utt.aug.time_scale
    words = utt.sentence.words.split()
    ctm = [(w, round(s * scale, 3), round((e - s) * scale, 3)) for w, (s, e) in zip(words, syn.word_times)]
    return {
        "key": utt.key,
        "fp": _fingerprint(utt),
        "wav": str(path),
        "dur": round(dur, 3),
        "ctm": ctm,
        "timing": syn.timing,
    }


def _fingerprint(u: Utterance) -> str:
    """Everything that decides an utterance's audio: a finished wav is reused only when this matches."""
    key = f"v{SYNTH_VERSION}|{u.key}|{u.sentence.spoken}|{u.aug}|{u.rate_jitter}|{u.voice}|{u.seed}"
    return hashlib.sha1(key.encode()).hexdigest()


def _plan_digest(utts: list[Utterance]) -> str:
    h = hashlib.sha1()
    for u in utts:
        h.update(_fingerprint(u).encode())
    return h.hexdigest()


def _write_split(out: Path, utts: list[Utterance], results: dict[str, dict]) -> tuple[int, float]:
    ok = [u for u in utts if u.key in results and "error" not in results[u.key]]
    write_kv(out / "wav.scp", {u.key: results[u.key]["wav"] for u in ok})
    write_kv(out / "text", {u.key: u.sentence.words for u in ok})
    utt2spk = {u.key: u.voice.speaker_id for u in ok}
    write_kv(out / "utt2spk", utt2spk)
    write_spk2utt(out / "spk2utt", utt2spk_to_spk2utt(utt2spk))
    write_kv(out / "utt2dur", {u.key: f"{results[u.key]['dur']:.3f}" for u in ok})
    if any(u.aug.kind != "clean" for u in utts):
        write_kv(out / "utt2aug", {u.key: u.aug.label for u in ok})
    lines = []
    for u in sorted(ok, key=lambda u: u.key.encode()):
        for w, start, dur in results[u.key]["ctm"]:
            lines.append(f"{u.key} 1 {start:.3f} {max(dur, 0.01):.3f} {w} 1.00")
    with atomic_write(out / "ctm") as f:
        f.write("".join(line + "\n" for line in lines))
    return len(ok), sum(results[u.key]["dur"] for u in ok)


def build_corpus(
    sentences: list[Sentence], voices: list[Voice], config: CorpusConfig, data_dir: str | Path,
    wav_dir: str | Path | None = None,
) -> dict[str, tuple[int, float]]:  # fmt: skip
    """Plan and synthesize the corpus into ``data_dir/{train,dev,test_seen,test_unseen}``.

    Args:
        sentences: normalized sentences (see :func:`asr.data.synth.text.collect_sentences`).
        voices: the voice inventory.
        config: sizes, seeds, jobs.
        data_dir: where the data directories and ``local/`` go.
        wav_dir: where wav files go (default ``data_dir/wav``).

    Returns:
        ``{split: (utterances, seconds)}``.

    Raises:
        CifstError: planning fails, or more than 2% of a split's utterances fail to synthesize.
    """
    from tqdm import tqdm

    data_dir = Path(data_dir)
    wav_dir = Path(wav_dir) if wav_dir else data_dir / "wav"
    plan, identities, lm_sentences = plan_corpus(sentences, voices, config)
    local = data_dir / "local"
    local.mkdir(parents=True, exist_ok=True)
    _write_local(local, voices, identities, plan, lm_sentences, config)
    jobs = config.jobs or os.cpu_count() or 1
    summary: dict[str, tuple[int, float]] = {}
    ctx = multiprocessing.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    for split in SPLITS:
        utts = [u for u in plan if u.split == split]
        out = data_dir / split
        out.mkdir(parents=True, exist_ok=True)
        digest = _plan_digest(utts)
        done = out / ".done"
        if done.exists() and done.read_text().strip() == digest:
            n = len((out / "text").read_text(encoding="utf-8").splitlines())
            dur = sum(float(line.split()[1]) for line in (out / "utt2dur").read_text().splitlines())
            summary[split] = (n, dur)
            print(f"synth: {split}: already done ({n} utterances), skipped", file=sys.stderr)
            continue
        progress = out / ".progress.jsonl"
        results: dict[str, dict] = {}
        if progress.exists():
            wanted = {_fingerprint(u) for u in utts}
            for line in progress.read_text(encoding="utf-8").splitlines():
                try:
                    r = json.loads(line)
                except json.JSONDecodeError:
                    continue  # a line cut by an interruption
                if "error" not in r and r.get("fp") in wanted and Path(r["wav"]).exists():
                    results[r["key"]] = r
        todo = [(u, str(wav_dir)) for u in utts if u.key not in results]
        with open(progress, "w", encoding="utf-8") as log:
            for r in results.values():
                log.write(json.dumps(r) + "\n")
            bar = tqdm(
                total=len(utts), initial=len(results), desc=f"synth {split}", unit="utt", file=sys.stderr
            )
            with ctx.Pool(jobs) as pool:
                for r in pool.imap_unordered(_work, todo, chunksize=4):
                    results[r["key"]] = r
                    log.write(json.dumps(r) + "\n")
                    log.flush()
                    bar.update(1)
            bar.close()
        errors = [r for r in results.values() if "error" in r]
        for r in errors[:5]:
            print(f"synth: warning: {r['key']}: {r['error']}", file=sys.stderr)
        if len(errors) > 0.02 * max(1, len(utts)):
            raise CifstError(f"{len(errors)} of {len(utts)} {split} utterances failed to synthesize (first: "
                             f"{errors[0]['error']}); see {progress}")  # fmt: skip
        summary[split] = _write_split(out, utts, results)
        done.write_text(digest + "\n")
    return summary


def _write_local(local: Path, voices: list[Voice], identities: dict[str, set[str]], plan: list[Utterance],
                 lm_sentences: list[Sentence], config: CorpusConfig) -> None:  # fmt: skip
    used = {u.voice.speaker_id for u in plan}
    with atomic_write(local / "voices.tsv") as f:
        f.write("speaker\tengine\tname\tidentity\tside\tpitch\trate\tused\n")
        for v in voices:
            side = "unseen" if v.identity in identities["unseen"] else "seen"
            f.write(f"{v.speaker_id}\t{v.engine}\t{v.name}\t{v.identity}\t{side}\t{v.pitch}\t{v.rate:g}\t"
                    f"{int(v.speaker_id in used)}\n")  # fmt: skip
    with atomic_write(local / "lm_text") as f:
        f.write("".join(s.words + "\n" for s in lm_sentences))
    with atomic_write(local / "corpus_config.json") as f:
        json.dump(asdict(config), f, indent=2)
