"""Paraformer/CIF acoustic models: configs, encoders (SAN-M, Conformer), CIF predictor, NAR decoder, CTC and
timestamp heads. ``Paraformer(cfg.model, vocab_size)`` is the model; ``load_config`` reads ``config.yaml``."""

from asr.models.cif import CifOutput, add_tail, cif, count_tokens, fire_frames, scale_weights, token_spans
from asr.models.config import (
    DecoderConfig,
    EncoderConfig,
    ExperimentConfig,
    ModelConfig,
    PredictorConfig,
    TimestampConfig,
    TrainConfig,
    load_config,
    save_config,
)
from asr.models.paraformer import Paraformer, Recognition, count_parameters
from asr.models.predictor import CifPredictor, PredictorOutput

__all__ = [
    "CifOutput",
    "CifPredictor",
    "DecoderConfig",
    "EncoderConfig",
    "ExperimentConfig",
    "ModelConfig",
    "Paraformer",
    "PredictorConfig",
    "PredictorOutput",
    "Recognition",
    "TimestampConfig",
    "TrainConfig",
    "add_tail",
    "cif",
    "count_parameters",
    "count_tokens",
    "fire_frames",
    "load_config",
    "save_config",
    "scale_weights",
    "token_spans",
]
