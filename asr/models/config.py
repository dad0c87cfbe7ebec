"""Typed experiment configuration: YAML file -> nested dataclasses (model, frontend, training), one-to-one.

Every YAML key maps to a dataclass field of the same name; an unknown key, a wrong type or a bad value raises
:class:`asr.errors.InputError` naming the YAML file, the dotted key and the fix. Defaults follow FunASR's
Paraformer recipes (``paraformer_conformer_12e_6d_2048_256.yaml`` and Paraformer-large) scaled down where noted.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from asr.data.dataset import DatasetConfig
from asr.errors import InputError
from asr.features.fbank import FbankConfig
from asr.features.frontend import FrontendConfig

__all__ = [
    "EncoderConfig",
    "PredictorConfig",
    "DecoderConfig",
    "TimestampConfig",
    "ModelConfig",
    "TrainConfig",
    "ExperimentConfig",
    "load_config",
    "save_config",
    "validate_config",
    "config_from_dict",
    "config_to_dict",
]


@dataclass
class EncoderConfig:
    """Acoustic encoder over LFR features [B, T', input_dim].

    Attributes:
        kind: ``san_m`` (self-attention + FSMN memory, Paraformer's encoder) or ``conformer``.
        input_dim: Feature size after LFR stacking (80 mel x m=7 = 560).
        d_model: Model width, shared with the predictor and decoder.
        num_heads: Attention heads.
        num_layers: Encoder blocks.
        ffn_dim: Feed-forward inner size.
        fsmn_kernel: SAN-M memory block kernel (frames, centred).
        conv_kernel: Conformer depthwise convolution kernel.
        dropout: Dropout in residual branches.
        attn_dropout: Dropout on attention probabilities.
        scale_input: Multiply the projected, layer-normed input by sqrt(d_model) (the transformer's embedding
            scaling). Off by default: after the LayerNorm it makes the residual stream ~sqrt(D) times larger than
            what the blocks add (on a 6-epoch comparison learning speed was the same either way). Linear input only.
        input_layer: ``linear`` (a projection of the stacked frame to D) or ``freq_conv`` (two strided
            convolutions along the mel axis of each stacked frame, then the projection:
            :class:`asr.models.san_m.FreqConvInput`).
        input_bins: Mel bins per stacked fbank frame (``frontend.input_dim``), for ``freq_conv``.
        input_channels: Output channels of ``freq_conv``'s two convolutions.
    """

    kind: Literal["san_m", "conformer"] = "san_m"
    input_dim: int = 560
    d_model: int = 256
    num_heads: int = 4
    num_layers: int = 12
    ffn_dim: int = 1024
    fsmn_kernel: int = 11
    conv_kernel: int = 15
    dropout: float = 0.1
    attn_dropout: float = 0.1
    scale_input: bool = False
    input_layer: Literal["linear", "freq_conv"] = "linear"
    input_bins: int = 80
    input_channels: list[int] = field(default_factory=lambda: [16, 32])


@dataclass
class PredictorConfig:
    """CIF predictor (weights from a depthwise conv layer + sigmoid).

    Attributes:
        l_order: Left context of the depthwise conv.
        r_order: Right context of the depthwise conv.
        threshold: Firing threshold (1.0 in every published Paraformer).
        tail_threshold: Weight appended after the last frame at inference so a nearly complete last token fires.
        smooth_factor: Weights are ``relu(alpha * smooth_factor - noise_threshold)``.
        noise_threshold: See ``smooth_factor``.
        dropout: Dropout before the weight projection.
    """

    l_order: int = 1
    r_order: int = 1
    threshold: float = 1.0
    tail_threshold: float = 0.45
    smooth_factor: float = 1.0
    noise_threshold: float = 0.0
    dropout: float = 0.1


@dataclass
class DecoderConfig:
    """Paraformer non-autoregressive decoder (FSMN self-memory + cross-attention + FFN per block).

    Attributes:
        num_layers: Decoder blocks.
        num_heads: Cross-attention heads.
        ffn_dim: Feed-forward inner size.
        fsmn_kernel: Memory-block kernel over token slots.
        dropout: Residual dropout.
        attn_dropout: Attention-probability dropout.
        glm_sampling_ratio: Glancing sampler: fraction of the first pass's wrong slots replaced by target
            embeddings in training (0 turns the sampler off).
    """

    num_layers: int = 6
    num_heads: int = 4
    ffn_dim: int = 1024
    fsmn_kernel: int = 11
    dropout: float = 0.1
    attn_dropout: float = 0.1
    glm_sampling_ratio: float = 0.75


@dataclass
class TimestampConfig:
    """Upsampled-CIF timestamp predictor (as in FunASR's Paraformer-large timestamp model).

    Attributes:
        enabled: Train and run the timestamp head; otherwise times come from the main CIF fire positions.
        upsample: Upsampling factor of encoder frames (3 -> 20 ms resolution on 60 ms LFR frames).
        kernel: Conv kernel after the transposed-conv upsampling.
        loss_weight: Weight of its quantity (MAE) loss.
    """

    enabled: bool = True
    upsample: int = 3
    kernel: int = 3
    loss_weight: float = 1.0


@dataclass
class ModelConfig:
    """The Paraformer model.

    Attributes:
        encoder: Encoder settings.
        predictor: CIF predictor settings.
        decoder: Decoder settings.
        timestamp: Timestamp head settings.
        ctc_weight: Weight of the optional CTC loss on the encoder (0 = no CTC head).
        interctc_layers: Encoder blocks (1-based, below the last) whose output also goes through the CTC head for
            an intermediate CTC loss (Lee and Watanabe, "Intermediate loss regularization for CTC-based speech
            recognition", ICASSP 2021; ESPnet's ``interctc_layer_idx``). Empty: none.
        interctc_weight: Share of the CTC loss given to the mean of the intermediate ones: ``ctc = (1 - w) *
            final + w * mean(intermediate)``.
        interctc_conditioning: Self-conditioned CTC (Nozaki and Komatsu, Interspeech 2021): each intermediate
            block's output gets ``Linear(V -> D)`` of its CTC posteriors added before the next block, in training
            and inference alike.
        interctc_vocab: 0: the intermediate CTC shares the final CTC head and its vocabulary. N > 0: hierarchical
            conditional CTC (Higuchi et al., ICASSP 2022): the intermediate blocks get their own head over an
            N-symbol subword vocabulary derived from tokens.txt (its characters and first BPE merges,
            ``asr/models/interctc.py``), targets spelled in it; a smaller head and conditioning projection.
        interctc_vocabs: One derived vocabulary size per entry of ``interctc_layers`` (in that order; each at least
            3), so the levels of the hierarchy can grow with depth (e.g. ``[128, 256, 512]``); each block then has
            its own head and conditioning projection. Empty: ``interctc_vocab`` for all (one shared head).
        interctc_phone_layers: Entries of ``interctc_layers`` whose intermediate CTC predicts the phones of the
            target words from a pronunciation lexicon (``cifst train --phone-lexicon``) instead of derived subwords
            (hierarchical multitask CTC, phones below subwords: Krishna et al., SLT 2018; Sanabria and Metze, SLT
            2018). Needs ``interctc_vocabs``; the block's entry there is the phone vocabulary's size (the
            lexicon's phones + ``<blk>`` + ``<unk>``), checked against the lexicon when training starts.
        predictor_weight: Weight of the quantity (MAE) loss.
        lsm_weight: Label smoothing of the decoder CE loss.
    """

    encoder: EncoderConfig = field(default_factory=EncoderConfig)
    predictor: PredictorConfig = field(default_factory=PredictorConfig)
    decoder: DecoderConfig = field(default_factory=DecoderConfig)
    timestamp: TimestampConfig = field(default_factory=TimestampConfig)
    ctc_weight: float = 0.0
    interctc_layers: list[int] = field(default_factory=list)
    interctc_weight: float = 0.5
    interctc_conditioning: bool = False
    interctc_vocab: int = 0
    interctc_vocabs: list[int] = field(default_factory=list)
    interctc_phone_layers: list[int] = field(default_factory=list)
    predictor_weight: float = 1.0
    lsm_weight: float = 0.1


@dataclass
class TrainConfig:
    """Training loop settings.

    Attributes:
        epochs: Number of epochs.
        lr: Peak learning rate (Adam).
        weight_decay: AdamW weight decay (decoupled: each update shrinks a weight by ``lr * weight_decay`` of
            itself).
        weight_decay_from_epoch: First epoch (1-based) whose updates apply ``weight_decay``; earlier epochs use
            none. A short budget learns fastest undecayed: decay from epoch 1 slowed the recipe's epochs 2-4
            (docs/benchmarks/models.md, seventeenth session).
        weight_decay_1d: Apply weight decay to the 1-D parameters too (biases, norm gains and shifts), PyTorch's
            default; ``false`` exempts them, the usual practice.
        warmup_steps: Linear warmup steps to ``lr``.
        lr_schedule: After the warmup: ``noam`` (inverse-square-root decay, open-ended) or ``cosine`` (half a cosine
            from ``lr`` down to ``lr * min_lr_ratio`` at the last update of the last epoch; best when the number of
            epochs is fixed in advance, as in a time budget).
        min_lr_ratio: Floor of the cosine schedule as a fraction of ``lr``.
        max_frames: Fbank frames per batch (length-bucketed batches).
        accum_grad: Gradient accumulation steps.
        grad_clip: Gradient-norm clip.
        seed: Seed of parameters, sampler order and augmentation.
        num_workers: DataLoader workers (0 keeps resume bit-exact; see docs).
        save_every_steps: Mid-epoch checkpoint interval (for resume after a kill); 0 = only at epoch ends.
        keep_epochs: Keep this many newest ``epoch_N.pt`` (0 keeps all).
        amp: Mixed precision on CUDA (ignored on CPU).
        log_every_steps: Interval of train.log / losses.tsv / TensorBoard lines.
        speed_perturb: Speed perturbation in training (factors in ``dataset.speed_perturb.factors``).
        cache_features: Keep each training utterance's fbank in memory after its first use when nothing makes it
            random (``fbank.dither`` 0 and no speed perturbation): later epochs skip audio decoding and fbank.
        cache_max_gb: Cap on that cache per process, in GB of feature tensors (``null``: no cap). Utterances past
            the cap are decoded and computed on every use; 33 hours of 80-bin fbank take 4.8 GB.
        specaug_from_epoch: First epoch (1-based) whose batches get the front end's SpecAugment
            (``frontend.specaug``); earlier epochs train on clean features. A short budget learns fastest unmasked
            and masks only once the model starts to fit its training utterances better than dev.
        ctc_only_epochs: Epochs (1-based) whose updates train the encoder and its CTC head alone, on the CTC loss:
            the predictor, the decoder and the timestamp head are not run and their weights do not change (no
            gradient, no weight decay). An update then costs ~25% less (the tiny model, BPE 2000), an epoch of two
            DDP processes ~30% less. Needs ``model.ctc_weight`` > 0. Dev validation still reports every loss.
        sync_batch_lengths: Under DDP, give the ranks batches of the same length range at each step
            (``BucketBatchSampler(sync_ranks=True)``), so that no rank waits at the gradient all-reduce for a
            slower batch; the batches and the shuffle of the steps are otherwise unchanged. Off by default: on
            the 2-core CPU recipe the straggler cost is ~3% of an update (halved by this in
            ``tools/bench/ddp_batches.py``) and real 2-process runs showed no difference within their ~5% noise
            (docs/benchmarks/models.md). No effect on one process.
        bpe_dropout: BPE-dropout of the training targets (Provilkov et al. 2020): every use of a training
            utterance re-segments its transcript into the same BPE vocabulary, each pair dropped with this
            probability when its turn to merge comes (sentencepiece's ``alpha``), so the model also learns words
            from their smaller pieces (0: the canonical segmentation; needs a ``bpe`` tokenizer, or ``mixed``
            over BPE; dev and inference are unchanged).
            At 0.05 the targets of the recipe's BPE-2000 vocabulary are ~14% longer, at 0.1 ~28%.
        ema_decay: Keep an exponential moving average of the weights with this decay per update (0: off; e.g.
            0.9995 averages over the last ~2,000 updates) and write it to ``EXP_DIR/ema.pt`` at every epoch end,
            another checkpoint to decode besides ``avg_N.pt``; training itself is unchanged.
    """

    epochs: int = 30
    lr: float = 1e-3
    weight_decay: float = 1e-6
    weight_decay_from_epoch: int = 1
    weight_decay_1d: bool = True
    warmup_steps: int = 1000
    lr_schedule: str = "noam"
    min_lr_ratio: float = 0.02
    max_frames: int = 20000
    accum_grad: int = 1
    grad_clip: float = 5.0
    seed: int = 777
    num_workers: int = 0
    save_every_steps: int = 200
    keep_epochs: int = 0
    amp: bool = True
    log_every_steps: int = 10
    speed_perturb: bool = False
    cache_features: bool = True
    cache_max_gb: float | None = 8.0
    specaug_from_epoch: int = 1
    ctc_only_epochs: list[int] = field(default_factory=list)
    sync_batch_lengths: bool = False
    bpe_dropout: float = 0.0
    ema_decay: float = 0.0


@dataclass
class ExperimentConfig:
    """The whole ``config.yaml``: ``model``, ``fbank``/``frontend``/``dataset`` (the features and data packages'
    own configs) and ``train``."""

    model: ModelConfig = field(default_factory=ModelConfig)
    fbank: FbankConfig = field(default_factory=FbankConfig)
    frontend: FrontendConfig = field(default_factory=FrontendConfig)
    dataset: DatasetConfig = field(default_factory=DatasetConfig)
    train: TrainConfig = field(default_factory=TrainConfig)


def _check_value(value: Any, tp: Any, where: str, path: str | None) -> Any:
    """Check one scalar against its annotated type; ints are accepted for floats."""
    origin = typing.get_origin(tp)
    if origin is Literal:
        if value not in typing.get_args(tp):
            raise InputError(path, None, f"{where}: {value!r} is not one of {list(typing.get_args(tp))}")
        return value
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        if value is None:
            return None
        if dataclasses.is_dataclass(args[0]):
            return config_from_dict(args[0], value, path, prefix=where + ".")
        return _check_value(value, args[0], where, path)
    if origin is list:
        if not isinstance(value, list):
            raise InputError(path, None, f"{where}: expected a list, got {value!r}")
        (item,) = typing.get_args(tp)
        return [_check_value(v, item, f"{where}[{i}]", path) for i, v in enumerate(value)]
    if tp is bool:
        if not isinstance(value, bool):
            raise InputError(path, None, f"{where}: expected true/false, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise InputError(path, None, f"{where}: expected a number, got {value!r}")
        return float(value)
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise InputError(path, None, f"{where}: expected an integer, got {value!r}")
        return value
    if tp is str:
        if not isinstance(value, str):
            raise InputError(path, None, f"{where}: expected a string, got {value!r}")
        return value
    return value


def config_from_dict(cls: type, data: dict | None, path: str | os.PathLike | None = None, prefix: str = ""):
    """Build dataclass ``cls`` from a (YAML) dict; missing keys keep their defaults.

    Raises:
        InputError: unknown key, wrong type, or a value outside a ``Literal`` choice (names ``path`` and the key).
    """
    path = None if path is None else str(path)
    data = data or {}
    if not isinstance(data, dict):
        raise InputError(
            path, None, f"{prefix or 'top level'}: expected a mapping, got {type(data).__name__}"
        )
    hints = typing.get_type_hints(cls)
    names = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - names)
    if unknown:
        raise InputError(path, None, f"unknown key '{prefix}{unknown[0]}'; known keys here: {sorted(names)}")
    kwargs = {}
    for name, value in data.items():
        tp = hints[name]
        where = f"{prefix}{name}"
        if dataclasses.is_dataclass(tp):
            kwargs[name] = config_from_dict(tp, value, path, prefix=where + ".")
        else:
            kwargs[name] = _check_value(value, tp, where, path)
    return cls(**kwargs)


def config_to_dict(cfg) -> dict:
    """Dataclass -> plain dict (YAML-ready)."""
    return dataclasses.asdict(cfg)


def _merge(base: dict, over: dict) -> dict:
    """Deep merge of two YAML dicts: mappings merge key by key, anything else in ``over`` replaces ``base``'s."""
    out = dict(base)
    for k, v in over.items():
        out[k] = _merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def _read_yaml(path: Path) -> dict:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as e:
        raise InputError(path, None, f"cannot read the config: {e.strerror or e}") from None
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        line = mark.line + 1 if mark is not None else None
        raise InputError(path, line, f"not valid YAML: {getattr(e, 'problem', e)}") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError(path, None, f"top level: expected a mapping, got {type(data).__name__}")
    return data


SHIPPED_CONFIGS = Path(__file__).resolve().parent / "configs"


def builtin_config_path(name: str) -> Path:
    """Path of a config shipped in ``asr/models/configs`` (``tiny``, ``small``, ``large``)."""
    return SHIPPED_CONFIGS / f"{name}.yaml"


def resolve_config_dict(path: str | os.PathLike, _seen: tuple[Path, ...] = ()) -> dict:
    """Read a config YAML and apply its ``base:`` chain: ``base`` names a shipped config (``tiny``, ``small``,
    ``large``) or a YAML path relative to the file; the file's other keys override the base's, mapping by mapping.

    Raises:
        InputError: unreadable/invalid YAML, a base that does not exist, or a cycle of bases (names the files).
    """
    path = Path(path).resolve()
    if path in _seen:
        chain = " -> ".join(str(p) for p in (*_seen, path))
        raise InputError(path, None, f"config bases form a cycle: {chain}")
    data = _read_yaml(path)
    base = data.pop("base", None)
    if base is None:
        return data
    if not isinstance(base, str) or not base:
        raise InputError(path, None, f"base: expected a config name or a path, got {base!r}")
    candidate = (path.parent / base) if base.endswith((".yaml", ".yml")) else builtin_config_path(base)
    if not candidate.exists():
        shipped = sorted(p.stem for p in SHIPPED_CONFIGS.glob("*.yaml"))
        raise InputError(
            path,
            None,
            f"base: {base!r} is neither a shipped config {shipped} nor an existing YAML file ({candidate})",
        )
    return _merge(resolve_config_dict(candidate, (*_seen, path)), data)


def load_config(path: str | os.PathLike) -> ExperimentConfig:
    """Read ``config.yaml`` into an :class:`ExperimentConfig` (after applying its ``base:`` chain, see
    :func:`resolve_config_dict`).

    Raises:
        InputError: unreadable YAML or a bad key/value (names the file).
    """
    path = Path(path)
    data = resolve_config_dict(path)
    cfg = config_from_dict(ExperimentConfig, data, path)
    validate_config(cfg, path)
    return cfg


def validate_config(cfg: ExperimentConfig, path: str | os.PathLike | None = None) -> None:
    """Check values that the types alone do not (positive sizes, divisibility).

    Raises:
        InputError: naming the key and the fix.
    """
    enc = cfg.model.encoder
    if enc.d_model % enc.num_heads:
        raise InputError(
            path, None, f"model.encoder.d_model={enc.d_model} is not divisible by num_heads={enc.num_heads}"
        )
    if enc.d_model % cfg.model.decoder.num_heads:
        raise InputError(
            path,
            None,
            f"model.decoder.num_heads={cfg.model.decoder.num_heads} must divide d_model={enc.d_model}",
        )
    if cfg.frontend.input_dim != cfg.fbank.num_mel_bins:
        raise InputError(
            path,
            None,
            f"frontend.input_dim={cfg.frontend.input_dim} but fbank.num_mel_bins={cfg.fbank.num_mel_bins}; make them equal",
        )
    if enc.input_dim != cfg.frontend.output_dim:
        raise InputError(
            path,
            None,
            f"model.encoder.input_dim={enc.input_dim} but the front end gives input_dim*lfr.m="
            f"{cfg.frontend.output_dim}; set model.encoder.input_dim to that",
        )
    ucmvn = cfg.frontend.utterance_cmvn
    if ucmvn is not None and ucmvn.floor_db is not None and ucmvn.floor_db <= 0:
        raise InputError(
            path,
            None,
            f"frontend.utterance_cmvn.floor_db={ucmvn.floor_db} must be > 0 (or null to use every frame)",
        )
    if enc.input_layer == "freq_conv":
        if enc.input_bins != cfg.frontend.input_dim:
            raise InputError(
                path,
                None,
                f"model.encoder.input_bins={enc.input_bins} but frontend.input_dim={cfg.frontend.input_dim}: "
                "freq_conv convolves the mel bins of each stacked frame; make them equal",
            )
        if len(enc.input_channels) != 2 or min(enc.input_channels) < 1:
            raise InputError(
                path,
                None,
                f"model.encoder.input_channels={enc.input_channels}: two positive channel counts (one per convolution)",
            )
        if enc.scale_input:
            raise InputError(path, None, "model.encoder.scale_input applies to input_layer: linear only")
    for key, value in [
        ("train.epochs", cfg.train.epochs),
        ("train.max_frames", cfg.train.max_frames),
        ("train.accum_grad", cfg.train.accum_grad),
        ("model.encoder.num_layers", enc.num_layers),
        ("model.decoder.num_layers", cfg.model.decoder.num_layers),
    ]:
        if value < 1:
            raise InputError(path, None, f"{key}={value} must be at least 1")
    if cfg.train.lr_schedule not in ("noam", "cosine"):
        raise InputError(path, None, f"train.lr_schedule={cfg.train.lr_schedule!r}: use 'noam' or 'cosine'")
    if cfg.train.specaug_from_epoch < 1:
        raise InputError(path, None, f"train.specaug_from_epoch={cfg.train.specaug_from_epoch} must be >= 1")
    if cfg.train.weight_decay_from_epoch < 1:
        raise InputError(
            path, None, f"train.weight_decay_from_epoch={cfg.train.weight_decay_from_epoch} must be >= 1"
        )
    if cfg.train.weight_decay < 0:
        raise InputError(path, None, f"train.weight_decay={cfg.train.weight_decay} must be >= 0")
    for e in cfg.train.ctc_only_epochs:
        if not 1 <= e <= cfg.train.epochs:
            raise InputError(
                path, None, f"train.ctc_only_epochs: epoch {e} is outside 1..train.epochs={cfg.train.epochs}"
            )
    if cfg.train.ctc_only_epochs and cfg.model.ctc_weight <= 0:
        raise InputError(path, None, "train.ctc_only_epochs needs the CTC head: set model.ctc_weight > 0")
    if not 0.0 <= cfg.train.ema_decay < 1.0:
        raise InputError(path, None, f"train.ema_decay={cfg.train.ema_decay} must be in [0, 1)")
    if not 0.0 <= cfg.train.bpe_dropout <= 1.0:
        raise InputError(path, None, f"train.bpe_dropout={cfg.train.bpe_dropout} must be in [0, 1]")
    if not 0.0 <= cfg.train.min_lr_ratio <= 1.0:
        raise InputError(path, None, f"train.min_lr_ratio={cfg.train.min_lr_ratio} must be in [0, 1]")
    if cfg.train.cache_max_gb is not None and cfg.train.cache_max_gb <= 0:
        raise InputError(
            path, None, f"train.cache_max_gb={cfg.train.cache_max_gb} must be positive (null: no cap)"
        )
    if not 0.0 <= cfg.model.ctc_weight < 1.0:
        raise InputError(path, None, f"model.ctc_weight={cfg.model.ctc_weight} must be in [0, 1)")
    m = cfg.model
    if m.interctc_layers:
        if m.ctc_weight <= 0:
            raise InputError(path, None, "model.interctc_layers needs the CTC head: set model.ctc_weight > 0")
        n = m.encoder.num_layers
        if len(set(m.interctc_layers)) != len(m.interctc_layers) or not all(
            1 <= i < n for i in m.interctc_layers
        ):
            raise InputError(
                path,
                None,
                f"model.interctc_layers={m.interctc_layers}: distinct blocks in 1..{n - 1} "
                f"(model.encoder.num_layers={n}; the last block's output is the final CTC's)",
            )
        if not 0.0 < m.interctc_weight < 1.0:
            raise InputError(path, None, f"model.interctc_weight={m.interctc_weight} must be in (0, 1)")
        if m.interctc_vocab != 0 and m.interctc_vocab < 3:
            raise InputError(
                path, None, f"model.interctc_vocab={m.interctc_vocab}: 0 (share the CTC head) or at least 3"
            )
        if m.interctc_vocabs:
            if m.interctc_vocab:
                raise InputError(
                    path, None, "model.interctc_vocab and model.interctc_vocabs: set one of them"
                )
            if len(m.interctc_vocabs) != len(m.interctc_layers) or min(m.interctc_vocabs) < 3:
                raise InputError(
                    path,
                    None,
                    f"model.interctc_vocabs={m.interctc_vocabs}: one size of at least 3 per entry of "
                    f"model.interctc_layers={m.interctc_layers}",
                )
        if m.interctc_phone_layers and (
            not m.interctc_vocabs or not set(m.interctc_phone_layers) <= set(m.interctc_layers)
        ):
            raise InputError(
                path,
                None,
                f"model.interctc_phone_layers={m.interctc_phone_layers}: entries of model.interctc_layers="
                f"{m.interctc_layers}, with model.interctc_vocabs giving each block's vocabulary size",
            )
    elif m.interctc_conditioning:
        raise InputError(path, None, "model.interctc_conditioning needs model.interctc_layers")
    elif m.interctc_vocab or m.interctc_vocabs or m.interctc_phone_layers:
        given = {"interctc_vocab": m.interctc_vocab, "interctc_vocabs": m.interctc_vocabs}
        key = next((k for k, v in given.items() if v), "interctc_phone_layers")
        raise InputError(path, None, f"model.{key} needs model.interctc_layers")


def save_config(cfg: ExperimentConfig, path: str | os.PathLike) -> None:
    """Write ``cfg`` as YAML atomically (keys in dataclass order)."""
    import yaml

    from asr.data.atomic import atomic_write

    with atomic_write(path) as f:
        yaml.safe_dump(config_to_dict(cfg), f, sort_keys=False)
