"""The Paraformer model: LFR features float [B, T, 560] + lengths (+ token targets in training) -> named losses
(training) or token-slot log-posteriors float [B, U, V] with token times (inference).

encoder (SAN-M or Conformer) -> CIF predictor (token count + acoustic embeddings) -> NAR decoder (one pass; in
training a second pass after the glancing sampler) -> logits. Losses: decoder CE with label smoothing, quantity
(MAE) loss of the predictor, optional CTC on the encoder, MAE of the timestamp head. Reference: Gao et al.,
"Paraformer" (Interspeech 2022), FunASR ``funasr/models/paraformer/model.py`` and WeNet
``wenet/models/paraformer/paraformer.py``.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from asr.models.cif import token_spans
from asr.models.config import ModelConfig
from asr.models.conformer import ConformerEncoder
from asr.models.ctc import CtcHead
from asr.models.decoder import ParaformerDecoder, glancing_sample
from asr.models.interctc import PhoneMap, SubwordMap
from asr.models.predictor import CifPredictor
from asr.models.san_m import SanmEncoder
from asr.models.timestamp import TimestampPredictor

__all__ = ["Recognition", "Paraformer", "count_parameters"]


@dataclass
class Recognition:
    """Inference output for a batch.

    Attributes:
        log_probs: float32 [B, U, V] natural-log posteriors per token slot (rows beyond token_lens are padding).
        token_lens: int64 [B] token slots per utterance.
        spans: float32 [B, U, 2] (start, end) in encoder frames (fractional when from the upsampled head).
    """

    log_probs: Tensor
    token_lens: Tensor
    spans: Tensor


class Paraformer(nn.Module):
    """Paraformer built from a :class:`ModelConfig`.

    Args:
        cfg: Model configuration.
        vocab_size: V, the size of tokens.txt (id 0 = ``<blk>``, never a target).
    """

    def __init__(self, cfg: ModelConfig, vocab_size: int):
        super().__init__()
        self.cfg = cfg
        self.vocab_size = vocab_size
        enc = cfg.encoder
        self.encoder = SanmEncoder(enc) if enc.kind == "san_m" else ConformerEncoder(enc)
        d = enc.d_model
        self.predictor = CifPredictor(d, cfg.predictor)
        self.decoder = ParaformerDecoder(vocab_size, d, cfg.decoder)
        self.ctc = CtcHead(d, vocab_size) if cfg.ctc_weight > 0 else None
        self.timestamp = TimestampPredictor(d, cfg.timestamp) if cfg.timestamp.enabled else None
        self.interctc_layers = frozenset(cfg.interctc_layers) if self.ctc is not None else frozenset()
        # hierarchical conditional CTC: the intermediate blocks' own head over a derived, smaller vocabulary,
        # one shared (interctc_vocab) or one per block (interctc_vocabs)
        aux = cfg.interctc_vocab if self.interctc_layers else 0
        self.interctc_head = CtcHead(d, aux) if aux > 0 else None
        vocabs = list(cfg.interctc_vocabs) if self.interctc_layers else []
        self.interctc_heads = nn.ModuleList(CtcHead(d, k) for k in vocabs) if vocabs else None
        # self-conditioned CTC: intermediate posteriors back into the encoder's width
        cond = bool(self.interctc_layers) and cfg.interctc_conditioning
        self.interctc_cond = nn.Linear(aux or vocab_size, d) if cond and not vocabs else None
        self.interctc_conds = nn.ModuleList(nn.Linear(k, d) for k in vocabs) if cond and vocabs else None
        # each intermediate block, in block order -> (its CTC head, its conditioning or None, its level = position
        # in model.interctc_layers); the shared modules repeat
        levels = {b: k for k, b in enumerate(cfg.interctc_layers)}
        n = len(levels)
        heads = list(self.interctc_heads) if vocabs else [self.interctc_head or self.ctc] * n
        conds = list(self.interctc_conds) if self.interctc_conds is not None else [self.interctc_cond] * n
        self._inter = {
            b: (heads[levels[b]], conds[levels[b]], levels[b]) for b in sorted(self.interctc_layers)
        }
        # the targets' spelling in each level's vocabulary (the shared one repeated): set by bind_symbols, which
        # training needs
        self.interctc_maps: list[SubwordMap | PhoneMap] | None = None

    @property
    def interctc_map(self) -> SubwordMap | None:
        """The shared derived vocabulary's map (``model.interctc_vocab``), else None."""
        return self.interctc_maps[0] if self.interctc_maps and self.interctc_head is not None else None

    def bind_symbols(
        self, symbols: list[str], phone_lexicon: tuple[dict[str, list[str]], list[str]] | None = None
    ) -> None:
        """Give the model tokens.txt's symbols, from which the intermediate heads' vocabularies and the spelling of
        targets in them are derived (``model.interctc_vocab(s)``; :mod:`asr.models.interctc`), and for
        ``model.interctc_phone_layers`` the pronunciation lexicon (``read_phone_lexicon``'s ``(lexicon, phones)``).
        Training needs it, and only then; inference does not. No-op without such heads.

        Raises:
            ValueError: ``len(symbols)`` is not the model's vocabulary, or cannot provide a derived size; phone
                layers without a lexicon, or a phone head whose size is not the lexicon's phones + 2.
        """
        if len(symbols) != self.vocab_size:
            raise ValueError(f"{len(symbols)} symbols for a model of vocabulary {self.vocab_size}")
        if self.interctc_head is None and self.interctc_heads is None:
            return
        sizes = self.cfg.interctc_vocabs or [self.cfg.interctc_vocab] * len(self._inter)
        phone_levels = {
            k for k, b in enumerate(self.cfg.interctc_layers) if b in self.cfg.interctc_phone_layers
        }
        phone_map = None
        if phone_levels:
            if phone_lexicon is None:
                raise ValueError(
                    "model.interctc_phone_layers needs a pronunciation lexicon (--phone-lexicon)"
                )
            lexicon, phones = phone_lexicon
            for k in sorted(phone_levels):
                if sizes[k] != len(phones) + 2:
                    raise ValueError(
                        f"the phone head of block {self.cfg.interctc_layers[k]} has {sizes[k]} symbols "
                        f"(model.interctc_vocabs[{k}]), the lexicon {len(phones)} phones: set it to "
                        f"{len(phones) + 2} (with <blk> and <unk>)"
                    )
            phone_map = PhoneMap(symbols, lexicon, phones)
        by_size = {
            k: SubwordMap(symbols, k)
            for k in dict.fromkeys(s for j, s in enumerate(sizes) if j not in phone_levels)
        }
        self.interctc_maps = [phone_map if j in phone_levels else by_size[k] for j, k in enumerate(sizes)]

    def encode(self, feats: Tensor, feats_lens: Tensor) -> tuple[Tensor, Tensor]:
        """float [B, T, input_dim], int64 [B] -> encoder states float [B, T, D], lengths int64 [B]."""
        hidden, lens, _ = self.encode_intermediate(feats, feats_lens)
        return hidden, lens

    def encode_intermediate(self, feats: Tensor, feats_lens: Tensor) -> tuple[Tensor, Tensor, list[Tensor]]:
        """:meth:`encode`, plus the CTC head's log-probs float [B, T, V] at each of ``model.interctc_layers`` (in
        block order; empty without them). With ``interctc_conditioning`` their posteriors condition the next
        block, so inference must come through here too (``encode`` does)."""
        inter: list[Tensor] = []
        if not self.interctc_layers:
            hidden, lens = self.encoder(feats, feats_lens)
            return hidden, lens, inter

        def after_block(i: int, x: Tensor) -> Tensor:
            if i not in self.interctc_layers:
                return x
            head, cond, _ = self._inter[i]
            log_probs = head(self.encoder.intermediate_norm(x))
            inter.append(log_probs)
            if cond is not None:
                x = x + cond(log_probs.exp().to(x.dtype))
            return x

        hidden, lens = self.encoder(feats, feats_lens, after_block)
        return hidden, lens, inter

    def ctc_loss(
        self, hidden: Tensor, lens: Tensor, inter: list[Tensor], tokens: Tensor, tokens_lens: Tensor
    ) -> tuple[Tensor, Tensor]:
        """(the CTC loss to train on, the final block's CTC loss): with intermediate CTC the first is ``(1 - w) *
        final + w * mean(intermediate)``, ``w = model.interctc_weight``; without, both are the final one. With
        ``model.interctc_vocab`` the intermediate losses are against the targets spelled in the derived vocabulary."""
        final = self.ctc.loss(hidden, lens, tokens, tokens_lens)
        if not inter:
            return final, final
        hierarchical = self.interctc_head is not None or self.interctc_heads is not None
        if hierarchical and self.interctc_maps is None:
            raise RuntimeError(
                "model.interctc_vocab(s): call bind_symbols(tokens.txt symbols) before training"
            )
        mapped: dict[int, tuple[Tensor, Tensor]] = {}  # targets spelled once per derived vocabulary
        losses = []
        for (head, _, level), lp in zip(self._inter.values(), inter, strict=True):  # both in block order
            targets, targets_lens = tokens, tokens_lens
            if hierarchical:
                smap = self.interctc_maps[level]
                if id(smap) not in mapped:
                    mapped[id(smap)] = smap(tokens, tokens_lens)
                targets, targets_lens = mapped[id(smap)]
            losses.append(head.loss_from_log_probs(lp, lens, targets, targets_lens))
        mid = torch.stack(losses).mean()
        w = self.cfg.interctc_weight
        return (1 - w) * final + w * mid, final

    def forward(
        self, feats: Tensor, feats_lens: Tensor, tokens: Tensor, tokens_lens: Tensor, ctc_only: bool = False
    ) -> dict[str, Tensor]:
        """Training losses.

        Args:
            feats: float [B, T, input_dim] LFR+CMVN features.
            feats_lens: int64 [B].
            tokens: int64 [B, U] target ids, padded with -1.
            tokens_lens: int64 [B].
            ctc_only: Run the encoder and the CTC head alone (``train.ctc_only_epochs``).

        Returns:
            ``loss`` (the weighted total to back-propagate), ``ce``, ``mae``, ``ctc`` (when enabled), ``mae_ts``
            (when the timestamp head is enabled), ``acc`` (decoder token accuracy, no gradient), all scalars. In
            eval mode the glancing sampler is off, so ``acc`` is the accuracy on acoustic embeddings alone.
            With ``ctc_only``: ``loss`` = the CTC loss only. ``ctc`` is always the final block's CTC loss; with
            ``model.interctc_layers`` the loss trained on mixes in the intermediate ones (:meth:`ctc_loss`).
        """
        cfg = self.cfg
        hidden, lens, inter = self.encode_intermediate(feats, feats_lens)
        if ctc_only:
            if self.ctc is None:
                raise ValueError("ctc_only needs the CTC head (model.ctc_weight > 0)")
            ctc, final = self.ctc_loss(hidden, lens, inter, tokens, tokens_lens)
            return {"ctc": final, "loss": ctc}
        pred = self.predictor(hidden, lens, tokens_lens)
        u = pred.embeds.shape[1]
        targets = tokens[:, :u]
        if targets.shape[1] < u:
            targets = F.pad(targets, (0, u - targets.shape[1]), value=-1)
        # the glancing sampler is a training device: validation measures the decoder on acoustic embeddings alone
        ratio = cfg.decoder.glm_sampling_ratio if self.training else 0.0
        embeds = glancing_sample(self.decoder, pred.embeds, tokens_lens, hidden, lens, targets, ratio)
        logits = self.decoder(embeds, tokens_lens, hidden, lens).float()
        n_tokens = (targets >= 0).sum().clamp(min=1)
        ce = (
            F.cross_entropy(
                logits.reshape(-1, self.vocab_size),
                targets.reshape(-1),
                ignore_index=-1,
                label_smoothing=cfg.lsm_weight,
                reduction="sum",
            )
            / n_tokens
        )
        mae = (pred.quantity - tokens_lens.float()).abs().mean()
        losses = {"ce": ce, "mae": mae}
        total = ce + cfg.predictor_weight * mae
        if self.ctc is not None:
            ctc, losses["ctc"] = self.ctc_loss(hidden, lens, inter, tokens, tokens_lens)
            total = (1 - cfg.ctc_weight) * total + cfg.ctc_weight * ctc
        if self.timestamp is not None:
            ts_alphas, _ = self.timestamp(hidden, lens)
            mae_ts = (ts_alphas.sum(-1) - tokens_lens.float()).abs().mean()
            losses["mae_ts"] = mae_ts
            total = total + cfg.timestamp.loss_weight * mae_ts
        with torch.no_grad():
            valid = targets >= 0
            losses["acc"] = ((logits.argmax(-1) == targets) & valid).sum().float() / n_tokens
        losses["loss"] = total
        return losses

    @torch.no_grad()
    def recognize(self, feats: Tensor, feats_lens: Tensor) -> Recognition:
        """One decoder pass over the predicted token slots.

        Args:
            feats: float [B, T, input_dim]; feats_lens int64 [B].

        Returns:
            :class:`Recognition` (spans in encoder frames).
        """
        hidden, lens = self.encode(feats, feats_lens)
        pred = self.predictor(hidden, lens, None)
        u = pred.embeds.shape[1]
        b = feats.shape[0]
        if u == 0:
            empty = feats.new_zeros(b, 0, self.vocab_size, dtype=torch.float32)
            return Recognition(empty, pred.token_lens, feats.new_zeros(b, 0, 2, dtype=torch.float32))
        logits = self.decoder(pred.embeds, pred.token_lens, hidden, lens)
        log_probs = F.log_softmax(logits.float(), dim=-1)
        if self.timestamp is not None:
            ts_alphas, _ = self.timestamp(hidden, lens)
            start, end = self.timestamp.spans(ts_alphas, pred.token_lens, self.cfg.predictor.threshold)
            scale = 1.0 / self.timestamp.u
        else:
            start, end = token_spans(pred.weights, pred.fires)
            scale = 1.0
        spans = torch.stack([start, end], -1).float() * scale
        # the tail frame added at inference lies past the audio: clamp to the real length
        spans = torch.minimum(spans, lens[:, None, None].float())
        return Recognition(log_probs, pred.token_lens, spans)


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)
