"""Small stand-ins for the data pipeline (random fbank-like features and token targets) shared by the training
tests and the DDP worker script."""

from __future__ import annotations

import csv
from pathlib import Path

import torch

from asr.models import ExperimentConfig

V = 20


class FakeSource:
    """Deterministic batches: ``n_utts`` utterances with token sequences whose features carry the tokens (each
    token id sets a feature band for ~9 frames), shuffled per epoch and split across ranks like the real sampler."""

    def __init__(self, n_utts=12, batch=3, seed=0, rank=0, world=1):
        g = torch.Generator().manual_seed(seed)
        self.items = []
        for _ in range(n_utts):
            u = int(torch.randint(2, 6, (1,), generator=g))
            toks = torch.randint(3, V, (u,), generator=g)
            frames = []
            for t in toks.tolist():
                f = torch.randn(9, 80, generator=g) * 0.3
                f[:, (t * 4) % 80 : (t * 4) % 80 + 4] += 3.0
                frames.append(f)
            self.items.append((torch.cat(frames), toks))
        self.batch, self.seed, self.rank, self.world = batch, seed, rank, world
        self.epoch = 0

    def set_epoch(self, epoch):
        self.epoch = epoch

    def _batches(self):
        order = torch.randperm(
            len(self.items), generator=torch.Generator().manual_seed(self.seed + self.epoch)
        )
        all_b = [order[i : i + self.batch].tolist() for i in range(0, len(order), self.batch)]
        return all_b[self.rank :: self.world]

    def num_batches(self):
        return len(self._batches())

    def iterate(self, skip=0):
        for idx in self._batches()[skip:]:
            feats = [self.items[i][0] for i in idx]
            toks = [self.items[i][1] for i in idx]
            yield {
                "feats": torch.nn.utils.rnn.pad_sequence(feats, batch_first=True),
                "feats_lens": torch.tensor([f.shape[0] for f in feats]),
                "tokens": torch.nn.utils.rnn.pad_sequence(toks, batch_first=True, padding_value=-1),
                "tokens_lens": torch.tensor([t.numel() for t in toks]),
            }


def tiny_config() -> ExperimentConfig:
    cfg = ExperimentConfig()
    m = cfg.model
    m.encoder.d_model, m.encoder.num_layers, m.encoder.ffn_dim = 32, 1, 64
    m.decoder.num_layers, m.decoder.ffn_dim = 1, 64
    m.ctc_weight = 0.3
    t = cfg.train
    t.epochs, t.lr, t.warmup_steps, t.log_every_steps, t.save_every_steps = 2, 2e-3, 4, 1, 3
    return cfg


def make_model_and_frontend(cfg, seed=0):
    from asr.features.frontend import Frontend
    from asr.models import Paraformer

    torch.manual_seed(seed)
    return Paraformer(cfg.model, V), Frontend(cfg.frontend)


def rows(exp: Path, split="train"):
    """The ``losses.tsv`` rows of one split as dicts."""
    with open(exp / "losses.tsv", encoding="utf-8") as f:
        return [r for r in csv.DictReader(f, delimiter="\t") if r["split"] == split]


def deterministic_config():
    """tiny_config() with a deterministic forward pass (no dropout, glancing or SpecAugment), no mid-epoch saves."""
    cfg = tiny_config()
    for m in (cfg.model.encoder, cfg.model.decoder):
        m.dropout = m.attn_dropout = 0.0
    cfg.model.predictor.dropout = 0.0
    cfg.model.decoder.glm_sampling_ratio = 0.0
    cfg.frontend.specaug = None
    cfg.train.save_every_steps = 0
    return cfg


def make_trainer(exp, cfg, seed=0):
    """A single-process CPU :class:`Trainer` of a fresh model (``seed``) on ``FakeSource`` batches, 4 dev
    utterances, no progress bars; the model is ``trainer.model``."""
    from asr.train.loop import Trainer

    model, frontend = make_model_and_frontend(cfg, seed)
    return Trainer(
        model, frontend, cfg.train, exp, FakeSource(), FakeSource(n_utts=4, seed=9), "cpu", progress=False
    )
