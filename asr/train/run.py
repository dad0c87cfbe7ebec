"""``cifst train`` as a library call: config YAML + training/dev Kaldi data dirs + tokenizer dir -> a complete
experiment directory (``config.yaml``, tokenizer files, ``cmvn.json``, checkpoints, logs).

Steps: read and check the config; copy it and the tokenizer into EXP_DIR (on ``--resume`` the EXP_DIR copy wins);
build the datasets (per-utterance warnings for bad items); compute global CMVN over the training set's LFR
features on rank 0 (skipped when ``cmvn.json`` exists); build model and front end; run :class:`Trainer`.
Reference: WeNet ``wenet/bin/train.py`` (config -> model, data, executor) with icefall-style resume.
"""

from __future__ import annotations

import logging
import os
import random
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from asr.errors import CifstError

__all__ = ["TrainRequest", "train_experiment", "build_frontend", "TOKENIZER_FILES"]

LOG = logging.getLogger("cifst.train")

TOKENIZER_FILES = ("tokens.txt", "tokenizer.yaml", "bpe.model")
PHONE_LEXICON = "phone_lexicon.txt"  # EXP_DIR's copy of --phone-lexicon


@dataclass
class TrainRequest:
    """Arguments of ``cifst train``.

    Attributes:
        config: YAML config path (ignored on resume when EXP_DIR already holds ``config.yaml``).
        train_data: Training Kaldi data dir.
        dev_data: Validation data dir, or ``None``.
        tokenizer: Tokenizer directory (``tokens.txt``, ``tokenizer.yaml``, optional ``bpe.model``).
        exp_dir: Experiment directory.
        resume: Continue from ``checkpoint.pt``.
        start_epoch: Start this epoch from ``EXP_DIR/epoch_{N-1}.pt`` (model and LR schedule; fresh optimizer).
        device: ``cpu``, ``cuda``, ``cuda:N`` or ``auto``.
        max_steps: Stop after this many updates (tests).
        progress: Show progress bars.
        phone_lexicon: Pronunciation lexicon (``word PH1 PH2 ...``) for ``model.interctc_phone_layers``; copied to
            ``EXP_DIR/phone_lexicon.txt``, which a resume reads when this is not given.
    """

    config: str | None
    train_data: str
    dev_data: str | None
    tokenizer: str
    exp_dir: str
    resume: bool = False
    start_epoch: int | None = None
    device: str = "auto"
    max_steps: int | None = None
    progress: bool = True
    phone_lexicon: str | None = None


def build_frontend(cfg, cmvn_path: str | os.PathLike | None):
    """The ``asr.features.Frontend`` of a config, with ``cmvn.json`` loaded when given."""
    from asr.features.cmvn import GlobalCmvn
    from asr.features.frontend import Frontend

    cmvn = GlobalCmvn.load(cmvn_path) if cmvn_path is not None else None
    return Frontend(cfg.frontend, cmvn)


def _setup_console_logging(is_main: bool) -> None:
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        root.addHandler(handler)
    root.setLevel(logging.INFO if is_main else logging.WARNING)


def _prepare_exp_dir(req: TrainRequest, is_main: bool):
    from asr.models.config import load_config, save_config

    exp = Path(req.exp_dir)
    exp_cfg = exp / "config.yaml"
    if req.resume and exp_cfg.exists():
        cfg = load_config(exp_cfg)
        if req.config and Path(req.config).resolve() != exp_cfg.resolve():
            new = load_config(req.config)
            if new != cfg:
                LOG.warning("--resume: using %s; %s differs and is ignored", exp_cfg, req.config)
    else:
        if not req.config:
            raise CifstError("--config is required for a new experiment")
        cfg = load_config(req.config)
        if is_main and (exp / "checkpoint.pt").exists() and not req.resume and req.start_epoch is None:
            raise CifstError(
                f"{exp} already holds a training run (checkpoint.pt); pass --resume to continue it or choose a "
                "new EXP_DIR"
            )
    tok_dir = Path(req.tokenizer)
    if not (tok_dir / "tokens.txt").exists():
        raise CifstError(
            f"{tok_dir}/tokens.txt: missing; --tokenizer must be a directory from `cifst tokenizer train`"
        )
    if req.phone_lexicon and not cfg.model.interctc_phone_layers:
        raise CifstError(
            f"--phone-lexicon {req.phone_lexicon}: the config has no model.interctc_phone_layers to train with it"
        )
    lexicon_bytes = None  # the --phone-lexicon file's bytes, to copy into EXP_DIR (None: nothing to copy)
    copy = exp / PHONE_LEXICON
    if is_main and req.phone_lexicon and Path(req.phone_lexicon).resolve() != copy.resolve():
        from asr.models.interctc import read_phone_lexicon

        read_phone_lexicon(req.phone_lexicon)  # errors name the user's file, not the copy
        lexicon_bytes = Path(req.phone_lexicon).read_bytes()
        trained = (exp / "checkpoint.pt").exists() or req.start_epoch is not None
        if trained and copy.exists() and copy.read_bytes() != lexicon_bytes:
            raise CifstError(
                f"--phone-lexicon {req.phone_lexicon} differs from {copy}, the lexicon this run was trained with "
                "(its phone ids); leave --phone-lexicon out to continue with that one, or start a new EXP_DIR"
            )
    if is_main:
        exp.mkdir(parents=True, exist_ok=True)
        save_config(cfg, exp_cfg)
        if lexicon_bytes is not None:
            from asr.data.atomic import atomic_write

            # byte for byte, so that the resume check above compares like with like (a text copy would turn the
            # file's CRLF line ends into LF and a resume with the same file would look like a different lexicon)
            with atomic_write(copy, "wb", encoding=None) as f:
                f.write(lexicon_bytes)
        for name in TOKENIZER_FILES:
            src = tok_dir / name
            if src.exists() and src.resolve() != (exp / name).resolve():
                shutil.copyfile(src, exp / name)
    return cfg


def _ensure_cmvn(cmvn_path: Path, train_set, cfg, dist_info, device, progress: bool, items=None) -> None:
    """Write ``cmvn.json`` unless it exists; under DDP every rank computes the stats of its share of the set
    (``device``: this rank's device, where nccl needs the exchanged tensors; ``items``: the fbank cache to read
    through and fill)."""
    import torch
    import torch.distributed as dist

    from asr.data.dataset import cmvn_stats
    from asr.features.cmvn import CmvnAccumulator

    world = dist_info.world_size
    # nccl (CUDA DDP) only moves CUDA tensors; gloo takes CPU ones
    comm = device if world > 1 and dist.get_backend() == "nccl" else torch.device("cpu")
    need = torch.tensor([0 if cmvn_path.exists() else 1], dtype=torch.int64, device=comm)
    if world > 1:
        dist.broadcast(need, 0)  # rank 0's view of the file decides for everyone
    if need.item():
        if dist_info.is_main:
            LOG.info("computing global CMVN over %d training utterances (%d ranks)", len(train_set), world)
        lfr = cfg.frontend.lfr
        acc = cmvn_stats(
            train_set, lfr.m, lfr.n, progress=progress, shard=(dist_info.rank, world), items=items
        )
        if world > 1:
            stats = torch.from_numpy(acc.to_array()).to(comm)
            dist.all_reduce(stats)
            acc = CmvnAccumulator.from_array(stats.cpu().numpy())
        if dist_info.is_main:
            acc.finish().save(cmvn_path)
    if world > 1:
        dist.barrier()


def _bind_symbols(model, symbols: list[str], exp: Path, is_main: bool) -> None:
    """Derive the intermediate CTC vocabularies of ``model.interctc_vocab(s)`` from tokens.txt, with
    ``EXP_DIR/phone_lexicon.txt`` for ``model.interctc_phone_layers`` (a clear error when it cannot) and, on the
    main rank, write them for inspection: ``EXP_DIR/interctc_tokens.txt`` for the shared one,
    ``EXP_DIR/interctc_tokens_K.txt`` for each size K of ``interctc_vocabs``, ``EXP_DIR/interctc_phones.txt`` for
    the phones."""
    from asr.data.atomic import atomic_write
    from asr.models.interctc import PhoneMap, read_phone_lexicon

    key = "interctc_vocabs" if model.cfg.interctc_vocabs else "interctc_vocab"
    lexicon = None
    if model.cfg.interctc_phone_layers:
        key = "interctc_phone_layers"
        if not (exp / PHONE_LEXICON).exists():
            raise CifstError(
                f"{exp / 'config.yaml'}: model.interctc_phone_layers needs a pronunciation lexicon: pass "
                f"--phone-lexicon FILE (word PH1 PH2 ... per line)"
            )
        lexicon = read_phone_lexicon(exp / PHONE_LEXICON)
    try:
        model.bind_symbols(symbols, lexicon)
    except ValueError as e:
        what = f"{exp / 'tokens.txt'}" + (f" and {exp / PHONE_LEXICON}" if lexicon else "")
        raise CifstError(f"{exp / 'config.yaml'}: model.{key} with {what}: {e}") from None
    if model.interctc_maps is None or not is_main:
        return
    shared = model.interctc_map is not None
    for smap in {id(m): m for m in model.interctc_maps}.values():
        if isinstance(smap, PhoneMap):
            name = "interctc_phones.txt"
        else:
            name = "interctc_tokens.txt" if shared else f"interctc_tokens_{len(smap.symbols)}.txt"
        with atomic_write(exp / name) as f:
            for j, sym in enumerate(smap.symbols):
                f.write(f"{sym} {j}\n")


def _log_phone_coverage(model, train_set) -> None:
    """Log how many training words the phone lexicon lacks (they train as one ``<unk>`` phone each)."""
    from asr.models.interctc import PhoneMap

    pmap = next((m for m in model.interctc_maps or [] if isinstance(m, PhoneMap)), None)
    if pmap is None:
        return
    words = missing = utts = 0
    seen_missing: set[str] = set()
    for i in range(len(train_set)):
        ws = pmap.words(train_set.token_ids(i))
        lacking = [w for w in ws if pmap.pronunciation(w) is None]
        words += len(ws)
        missing += len(lacking)
        utts += bool(lacking)
        seen_missing.update(w for w in lacking if w)
    LOG.info(
        "phone lexicon: %d of %d training words (%d distinct; %d utterances) have no pronunciation, trained as <unk>",
        missing,
        words,
        len(seen_missing),
        utts,
    )


def _bpe_dropout(tokenizer, p: float, exp: Path):
    """The ``train.bpe_dropout`` resampler of the training targets; only a BPE vocabulary has merges to drop."""
    from asr.text.bpe_dropout import BpeDropout

    kind = tokenizer.kind
    if not (kind == "bpe" or (kind == "mixed" and tokenizer.config.sp_model_type == "bpe")):
        what = f"mixed/{tokenizer.config.sp_model_type}" if kind == "mixed" else kind
        raise CifstError(
            f"{exp / 'config.yaml'}: train.bpe_dropout={p} needs a BPE tokenizer, but {exp / 'tokenizer.yaml'} is "
            f"kind '{what}' (set train.bpe_dropout: 0, or train a --kind bpe tokenizer)"
        )
    return BpeDropout(tokenizer.symbols.symbols, p)


def train_experiment(req: TrainRequest) -> int:
    """Run a whole training job (one rank of it under torchrun). Returns the exit code."""
    import torch
    import torch.distributed as dist

    from asr.data.dataset import AsrDataset, collate_asr
    from asr.data.sampler import BucketBatchSampler
    from asr.device import resolve_device
    from asr.models.paraformer import Paraformer, count_parameters
    from asr.text.tokenizer import load_tokenizer
    from asr.train.data import CachedDataset, LoaderSource, TokenResampler
    from asr.train.loop import Trainer, init_distributed

    dist_info, dev = init_distributed(str(resolve_device(req.device)))
    _setup_console_logging(dist_info.is_main)
    cfg = _prepare_exp_dir(req, dist_info.is_main)
    if dist_info.world_size > 1:
        dist.barrier()
    exp = Path(req.exp_dir)
    tcfg = cfg.train
    torch.manual_seed(tcfg.seed)
    tokenizer = load_tokenizer(exp)
    # checked before the dataset and CMVN passes, which take minutes on a large corpus
    resample = _bpe_dropout(tokenizer, tcfg.bpe_dropout, exp) if tcfg.bpe_dropout > 0 else None
    progress = req.progress and dist_info.is_main
    train_set = AsrDataset(
        req.train_data,
        tokenizer,
        cfg.fbank,
        train=True,
        speed_perturb=tcfg.speed_perturb,
        config=cfg.dataset,
        seed=tcfg.seed,
        progress=progress,
    )
    if len(train_set) == 0:
        raise CifstError(f"{req.train_data}: no usable training utterances (see the warnings above)")
    deterministic = cfg.fbank.dither == 0 and not tcfg.speed_perturb
    max_bytes = None if tcfg.cache_max_gb is None else int(tcfg.cache_max_gb * 1e9)
    cached = tcfg.cache_features and deterministic
    items = CachedDataset(train_set, max_bytes) if cached else train_set
    cmvn_path = exp / "cmvn.json"
    # with the cache, the CMVN pass reads (and so caches) exactly the items this rank will train on
    _ensure_cmvn(cmvn_path, train_set, cfg, dist_info, dev, progress, items if cached else None)
    sampler = BucketBatchSampler(
        train_set.num_frames,
        tcfg.max_frames,
        shuffle=True,
        seed=tcfg.seed,
        num_replicas=dist_info.world_size,
        rank=dist_info.rank,
        shard_items=cached,  # each rank caches its own share, not the whole corpus (same split as the CMVN pass)
        sync_ranks=tcfg.sync_batch_lengths,
    )
    if resample is not None:
        items = TokenResampler(items, resample, seed=tcfg.seed)
        if dist_info.is_main:
            sample = [train_set.token_ids(i) for i in range(min(1000, len(train_set)))]
            drawn = sum(len(resample(t, random.Random(i))) for i, t in enumerate(sample))
            LOG.info(
                "BPE-dropout %.3f: training targets re-segmented at every use, %.1f%% more tokens than the "
                "canonical BPE (first %d utterances)",
                tcfg.bpe_dropout,
                100.0 * (drawn / max(1, sum(len(t) for t in sample)) - 1.0),
                len(sample),
            )
    train_src = LoaderSource(items, sampler, collate_asr, tcfg.num_workers, seed=tcfg.seed + dist_info.rank)
    dev_src = None
    if req.dev_data and dist_info.is_main:
        dev_set = AsrDataset(
            req.dev_data, tokenizer, cfg.fbank, train=False, config=cfg.dataset, progress=progress
        )
        dev_items = CachedDataset(dev_set) if tcfg.cache_features else dev_set
        dev_sampler = BucketBatchSampler(dev_set.num_frames, tcfg.max_frames, shuffle=False)
        dev_src = LoaderSource(dev_items, dev_sampler, collate_asr, tcfg.num_workers)
    vocab = len(tokenizer.symbols)
    model = Paraformer(cfg.model, vocab)
    _bind_symbols(model, tokenizer.symbols.symbols, exp, dist_info.is_main)
    if dist_info.is_main:
        _log_phone_coverage(model, train_set)
    frontend = build_frontend(cfg, cmvn_path)
    if dist_info.is_main:
        LOG.info(
            "model: %.2f M parameters, vocabulary %d; %d training utterances, %d batches per epoch per rank",
            count_parameters(model) / 1e6,
            vocab,
            len(train_set),
            len(sampler),
        )
    trainer = Trainer(model, frontend, tcfg, exp, train_src, dev_src, dev, dist_info, progress=req.progress)
    trainer.fit(resume=req.resume, max_steps=req.max_steps, start_epoch=req.start_epoch)
    if dist_info.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()
    return 0
