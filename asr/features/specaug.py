"""SpecAugment on a padded batch: features ``[B, T, D]`` + lengths ``[B]`` -> augmented ``[B, T, D]`` (same shape).

Three independent perturbations, all optional: time warping (a random point inside each utterance moved by up to
``time_warp_window`` frames, the two sides stretched to meet it by linear interpolation), ``num_freq_masks`` bands of
``0..freq_mask_width`` dimensions set to ``mask_value``, and ``num_time_masks`` spans of ``0..time_mask_width`` frames
(capped at ``time_mask_max_ratio`` of each utterance's length) set to ``mask_value``. Masks are drawn for every
utterance at once as tensors; time masks stay inside each utterance's valid frames, padding is left untouched.
With CMVN applied first, ``mask_value = 0`` is the mean.

Reference: Park et al., "SpecAugment", Interspeech 2019; ESPnet/FunASR ``SpecAug`` (time warp via interpolation,
mask-width ranges); FunASR's Paraformer applies it after LFR (``specaug_lfr``), as our :class:`Frontend` does.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["SpecAugConfig", "spec_augment", "time_warp", "mask_along_axis"]


@dataclass
class SpecAugConfig:
    """SpecAugment options (YAML section ``specaug``); defaults follow FunASR's Paraformer ``specaug_lfr``.

    Attributes:
        num_freq_masks: Frequency bands masked per utterance.
        freq_mask_width: Maximum band width in feature dims (width drawn uniformly in ``0..max``).
        num_time_masks: Time spans masked per utterance.
        time_mask_width: Maximum span width in frames.
        time_mask_max_ratio: A span is also at most this fraction of the utterance's length.
        time_warp_window: Maximum warp shift in frames; 0 disables time warping.
        mask_value: Value written into masked cells.
        lfr_aware_freq_mask: On LFR-stacked features (``Frontend``), draw a band of mel bins and mask it in each
            of the ``m`` stacked frames (FunASR ``SpecAugLFR``); ``freq_mask_width`` is then in mel bins.
    """

    num_freq_masks: int = 1
    freq_mask_width: int = 30
    num_time_masks: int = 1
    time_mask_width: int = 12
    time_mask_max_ratio: float = 0.2
    time_warp_window: int = 0
    mask_value: float = 0.0
    lfr_aware_freq_mask: bool = True


def mask_along_axis(
    feats,
    lens,
    num_masks: int,
    max_width,
    axis: int,
    mask_value: float = 0.0,
    generator=None,
    groups: int = 1,
):
    """Set ``num_masks`` random spans along ``axis`` of every utterance to ``mask_value``.

    Args:
        feats: float ``[B, T, D]``.
        lens: int64 ``[B]`` valid frames (spans along time stay inside them).
        num_masks: Spans per utterance.
        max_width: Maximum span width: an int, or an int64 ``[B]`` tensor (per utterance).
        axis: 1 for time masks, 2 for frequency masks.
        mask_value: Fill value.
        generator: Optional ``torch.Generator`` for reproducible masks.
        groups: Frequency masks only: ``D`` is ``groups`` stacked frames of ``D / groups`` bins (LFR); a band is
            drawn in ``0..D/groups`` and masked in every stacked frame, as FunASR's ``MaskAlongAxisLFR``.

    Returns:
        float ``[B, T, D]``: a new tensor (``feats`` is not modified).
    """
    import torch

    bsz, num, dim = feats.shape
    if num_masks <= 0:
        return feats
    device = feats.device
    if axis == 2 and (groups < 1 or dim % groups):
        raise ValueError(f"feature dim {dim} is not a multiple of the LFR stacking {groups}")
    size = num if axis == 1 else dim // groups
    extent = lens.to(device) if axis == 1 else torch.full((bsz,), size, device=device, dtype=torch.long)
    max_w = torch.as_tensor(max_width, device=device, dtype=torch.long).expand(bsz)
    max_w = torch.minimum(max_w, extent).clamp(min=0)
    # widths uniform in 0..max_w, starts uniform in 0..extent - width (all on the CPU generator, then moved)
    u_w = torch.rand((bsz, num_masks), generator=generator).to(device)
    u_s = torch.rand((bsz, num_masks), generator=generator).to(device)
    width = (u_w * (max_w[:, None] + 1).to(u_w.dtype)).long().clamp(max=max_w[:, None])
    room = (extent[:, None] - width).clamp(min=0)
    start = (u_s * (room + 1).to(u_s.dtype)).long().clamp(max=room)
    pos = torch.arange(size, device=device)
    hit = (pos[None, None, :] >= start[:, :, None]) & (pos[None, None, :] < (start + width)[:, :, None])
    hit = hit.any(dim=1)  # [B, size]
    if axis == 1:
        mask = hit[:, :, None]
    else:  # frequency bands cover the valid frames only, padding stays as it is
        hit = hit.repeat(1, groups) if axis == 2 else hit  # same band in every stacked frame
        valid = torch.arange(num, device=device)[None, :] < lens.to(device)[:, None]
        mask = hit[:, None, :] & valid[:, :, None]
    return feats.masked_fill(mask, mask_value)


def time_warp(feats, lens, window: int, generator=None):
    """Warp each utterance in time: a random centre ``c`` moves to ``c + w`` (``|w| < window``), each side is
    linearly resized to fit. Utterances shorter than ``2 * window + 1`` frames are left as they are.

    Args:
        feats: float ``[B, T, D]``.
        lens: int64 ``[B]``.
        window: Maximum shift in frames.
        generator: Optional ``torch.Generator``.

    Returns:
        float ``[B, T, D]`` (new tensor; valid lengths unchanged).
    """
    import torch
    import torch.nn.functional as F

    if window <= 0:
        return feats
    out = feats.clone()
    for b, n in enumerate(lens.tolist()):  # one interpolate per utterance (lengths differ)
        if n <= 2 * window + 1:
            continue
        centre = int(torch.randint(window, n - window, (1,), generator=generator))
        new = int(torch.randint(centre - window + 1, centre + window, (1,), generator=generator))
        x = feats[b, :n].t()[None]  # [1, D, n]
        left = F.interpolate(x[:, :, :centre], size=new, mode="linear", align_corners=False)
        right = F.interpolate(x[:, :, centre:], size=n - new, mode="linear", align_corners=False)
        out[b, :n] = torch.cat([left, right], dim=2)[0].t()
    return out


def spec_augment(feats, lens, config: SpecAugConfig | None = None, generator=None, groups: int = 1):
    """Apply time warp, frequency masks and time masks (in that order) to a padded batch.

    Args:
        feats: float ``[B, T, D]`` on any device.
        lens: int64 ``[B]`` valid frames.
        config: Options; default :class:`SpecAugConfig`.
        generator: Optional CPU ``torch.Generator`` for reproducibility.
        groups: Stacked frames per row (LFR ``m``) for LFR-aware frequency masks; 1 for plain features.

    Returns:
        float ``[B, T, D]``, a new tensor; frames beyond ``lens`` are unchanged.
    """
    import torch

    config = config or SpecAugConfig()
    lens = lens.to(device=feats.device, dtype=torch.long)
    out = time_warp(feats, lens, config.time_warp_window, generator)
    out = mask_along_axis(
        out, lens, config.num_freq_masks, config.freq_mask_width, 2, config.mask_value, generator, groups
    )
    tmax = torch.minimum(
        torch.full_like(lens, config.time_mask_width),
        (lens.to(torch.float32) * config.time_mask_max_ratio).long(),
    )
    out = mask_along_axis(out, lens, config.num_time_masks, tmax, 1, config.mask_value, generator)
    return out
