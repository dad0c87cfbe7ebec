"""Batched token-passing beam search over a TLG graph in CSR tensors.

Inputs: a :class:`~decoding.graph.csr.CsrGraph` (input label = token id + 1, blank = 1, output label = word id,
weights = natural-log costs), a padded batch of log-posteriors ``float32 [B, T, V]`` with lengths ``int64 [B]`` and,
optionally, a hotword :class:`ContextGraph` walked in lock-step. Output: for each utterance the best path as one arc
id per row, its total cost and whether it ended in a final state (plus up to ``nbest`` paths with distinct word
sequences).

Reference: Kaldi's ``FasterDecoder`` (``kaldi/src/decoder/faster-decoder.cc``, as packaged by kaldi-decoder): a
token is a graph state with its best cost; every row each surviving token follows every emitting arc (cost = graph
weight - log-posterior), tokens reaching the same state are recombined (Viterbi), and the set is pruned with
``GetCutoff`` (beam around the best, at most ``max_active``, at least ``min_active``, with the ``adaptive_beam``
used to prune the next expansion). Here the tokens of all utterances of a batch are flat tensors; a step is an
expansion pruned around each utterance's best candidate (for small token sets through a dense [state, label]
table of the cheapest arc and its arc range, so that whole label groups are dropped before their arcs are read;
otherwise arc by arc over ``row_ptr``), a minimum per destination key (a hash table of ``scatter_reduce``, or
``torch.unique`` for few candidates) and a per-utterance pruning, with no Python loop over states or arcs.
Backpointers (previous token, arc) are stored per row and traced back once at the end.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field

import numpy as np
import torch

from decoding.graph.csr import CsrGraph

__all__ = ["BeamSearchConfig", "PathResult", "UttSearchResult", "TlgBeamSearch"]

_INT64_HASH_MASK = (1 << 62) - 1
_HASH_MULT = 1_000_003
_HASH_MIN = 4096  # recombine by hashing from this many candidates on
_HASH_MIX = -7046029254386353131  # 0x9E3779B97F4A7C15 (Fibonacci hashing) as a signed int64


def _row_min(x: torch.Tensor) -> torch.Tensor:
    """float32 [N]: the minimum of each row of ``x`` [N, L], by halving the columns (``torch.minimum`` of two
    halves, log2(L) element-wise passes): on a CPU about twice as fast as ``amin(1)`` for a few dozen columns."""
    while x.shape[1] > 1:
        h = x.shape[1] // 2
        m = torch.minimum(x[:, :h], x[:, h : 2 * h])
        if x.shape[1] % 2:
            m[:, :1] = torch.minimum(m[:, :1], x[:, 2 * h :])
        x = m
    return x[:, 0]


_CHUNK = 1 << 22  # arcs per chunk of the one-off passes over a graph's arc arrays


def _chunk_bounds(n: int):
    """``(lo, hi)`` ranges covering ``0..n`` in steps of ``_CHUNK``."""
    return ((lo, min(n, lo + _CHUNK)) for lo in range(0, n, _CHUNK))


def _chunks(x: torch.Tensor):
    return (x[lo:hi] for lo, hi in _chunk_bounds(x.numel()))


def _sorted_by_label(g: CsrGraph, num_labels: int) -> bool:
    """Whether arcs sorted by source state are also sorted by input label within each state (chunk by chunk, the
    chunks overlapping by one arc)."""
    for lo, hi in _chunk_bounds(g.num_arcs):
        a = max(lo - 1, 0)
        key = g.src_range(a, hi).to(torch.int64) * (num_labels + 1) + g.ilabel[a:hi]
        if bool((key[1:] < key[:-1]).any()):
            return False
    return True


@dataclass
class BeamSearchConfig:
    """Options of the TLG beam search (the ``cifst decode`` options of the same names).

    Attributes:
        beam: Keep tokens whose cost is within ``beam`` of the best token of the utterance (Kaldi ``--beam``).
        max_active: At most this many tokens per utterance after each row (Kaldi ``--max-active``).
        min_active: At least this many tokens per utterance when the beam would keep fewer (Kaldi ``--min-active``).
        beam_delta: Kaldi's ``beam_delta``: slack added to the adaptive beam when ``max_active``/``min_active``
            decided the cutoff.
        acoustic_scale: Multiplies the log-posteriors: acoustic cost = ``-acoustic_scale * logpost``.
        lm_scale: Multiplies every graph weight and final cost (the G part dominates TLG weights; see the docs).
        blank_penalty: Added to the cost of every arc that reads blank (input label 1); > 0 discourages blank.
        nbest: Number of distinct word sequences to return per utterance; > 1 keeps up to ``nbest`` tokens per
            graph state with different word histories.
        row_type: ``"frame"`` (CTC frames: consecutive equal tokens are one emission, used by the hotword hook) or
            ``"cif"`` (one token slot per row, every non-blank row is a new token).
        cif_blank: With ``row_type="cif"``: the log-posterior the search uses for the blank column (input label
            1, the CIF topology's skip arc), ``0.0`` = log 1 (DESIGN: a Paraformer never trains a blank column, its
            values are ~-inf, so the skip would never be taken; the skip arc's weight is the whole cost of dropping
            an over-counted slot). ``None`` keeps the model's column.
        expand: How a row expands the tokens: ``"label"`` (a dense [state, label] table of the cheapest arc
            weight and the arc range per input label: the pruning test runs on whole label groups before any arc
            is read), ``"csr"`` (every arc of every token, then the test), or ``"auto"`` (``"label"`` when the
            table has at most 4 cells per arc, i.e. small token sets such as characters). Same results either way.
    """

    beam: float = 16.0
    max_active: int = 7000
    min_active: int = 20
    beam_delta: float = 0.5
    acoustic_scale: float = 1.0
    lm_scale: float = 1.0
    blank_penalty: float = 0.0
    nbest: int = 1
    row_type: str = "frame"
    cif_blank: float | None = 0.0
    expand: str = "auto"

    def validate(self) -> None:
        """Raise ``ValueError`` naming the option that is out of range."""
        if not self.beam > 0:
            raise ValueError(f"--beam must be > 0, got {self.beam}")
        if self.max_active < 2:
            raise ValueError(f"--max-active must be >= 2, got {self.max_active}")
        if not 0 <= self.min_active < self.max_active:
            raise ValueError(f"--min-active must be in [0, --max-active), got {self.min_active}")
        if self.nbest < 1:
            raise ValueError(f"--nbest must be >= 1, got {self.nbest}")
        if self.expand not in ("auto", "label", "csr"):
            raise ValueError(f"expand must be 'auto', 'label' or 'csr', got {self.expand!r}")
        if self.row_type not in ("frame", "cif"):
            raise ValueError(f"row type must be 'frame' or 'cif', got {self.row_type!r}")
        if not self.acoustic_scale > 0 or not self.lm_scale >= 0:
            raise ValueError("--acoustic-scale must be > 0 and --lm-scale >= 0")


@dataclass
class PathResult:
    """One path through the graph.

    Attributes:
        arcs: int64 [T] the arc id taken at each row (indices into the graph's arc arrays).
        cost: Total cost: scaled graph weights + final cost + acoustic costs + blank penalties - hotword bonuses.
        final: Whether the path ends in a final state (else the best non-final token, as Kaldi does).
    """

    arcs: np.ndarray
    cost: float
    final: bool


@dataclass
class UttSearchResult:
    """Search output for one utterance: ``best`` is None when no token survived (a dead end in the graph)."""

    best: PathResult | None
    nbest: list[PathResult] = field(default_factory=list)


class TlgBeamSearch:
    """A graph prepared for searching (scaled weights and out-degrees cached on the device).

    Args:
        graph: The TLG in CSR form; must have no input-epsilon arcs (``cifst graph build`` removes them).
        config: Search options.
        device: Where the search runs; the graph is copied there once.

    Raises:
        ValueError: the graph has input-epsilon arcs or the configuration is out of range.
    """

    def __init__(self, graph: CsrGraph, config: BeamSearchConfig, device: str | torch.device = "cpu"):
        config.validate()
        self.config = config
        self.device = torch.device(device)
        g = graph.to(self.device)
        self.start = g.start
        n_eps = sum(int((c == 0).sum()) for c in _chunks(g.ilabel))
        if n_eps:
            raise ValueError(
                f"the graph has {n_eps} input-epsilon arcs; the search needs an epsilon-free TLG "
                "(build it with `cifst graph build`, or remove epsilons with fstrmepsilon)"
            )
        if sys.byteorder != "little":  # the search reads the halves of packed arcs in place
            raise RuntimeError("the TLG search assumes a little-endian machine")
        self.num_states = S = g.num_states
        # LM-scaled arc weights in the original arc order; at scale 1 the graph's own (memory-mapped) tensor, read
        # only, instead of an arc-sized copy
        w0 = g.weight.to(torch.float32)
        self.weight = w0.contiguous() if config.lm_scale == 1.0 else (w0 * config.lm_scale).contiguous()
        fin = g.final.to(torch.float32)
        self.final = torch.where(torch.isfinite(fin), fin * config.lm_scale, fin)
        self.out_deg = (g.row_ptr[1:] - g.row_ptr[:-1]).contiguous()
        self.max_ilabel = L = int(g.ilabel.max()) if g.num_arcs else 0
        self._whash = config.nbest > 1
        # the search's own arc order: by (source state, input label), so that the arcs of one state reading one
        # label are a contiguous range; ``_perm`` maps back to the graph's arc ids (None when already in order)
        # (``cifst graph build`` writes that order: no copies then, and a memory-mapped TLG.pt stays shared)
        self._perm = None
        if g.num_arcs and not _sorted_by_label(g, L):
            self._perm = torch.argsort(g.src.to(torch.int64) * (L + 1) + g.ilabel, stable=True)
        p = self._perm
        self._ilabel = g.ilabel if p is None else g.ilabel[p]
        self._dst = g.dst if p is None else g.dst[p]
        self._olabel = g.olabel if p is None else g.olabel[p]
        w = self.weight if p is None else self.weight[p]
        # candidate-sized index arrays in int32 when the graph allows: half the memory traffic per pass
        self._idx = torch.int32 if g.num_arcs < 2**31 - 1 else torch.int64
        self._ar = torch.arange(1 << 16, device=self.device, dtype=self._idx)
        cells = S * (L + 1)
        mode = config.expand
        if mode == "auto":
            mode = "label" if 0 < cells <= 4 * max(1, g.num_arcs) and cells < 2**31 - 1 else "csr"
        self.expand_mode = mode
        if mode == "label":
            # [S, L]: the cheapest weight of the arcs of state s reading input label l + 1 (inf: no such arc);
            # [S, L + 1]: where that label's arc range starts (column L: the state's end), int32 when it fits.
            # Counting the arcs of each (state, input label) into columns 1..L of the second table and summing it
            # up in place leaves row_ptr[s] in column 0 and each range's end in the next column. Built over
            # chunks of arcs, so that no arc-sized int64 temporary exists (the recipe's BPE-2000 CTC graph has
            # 145M arcs)
            self._wmin = torch.full((S * L,), float("inf"), device=self.device)
            starts = torch.zeros(S * (L + 1), dtype=self._idx, device=self.device)
            for lo, hi in _chunk_bounds(g.num_arcs):
                src = g.src_range(lo, hi).to(torch.int64)
                il = self._ilabel[lo:hi].to(torch.int64)
                self._wmin.scatter_reduce_(0, src * L + (il - 1), w[lo:hi], "amin")
                starts.index_add_(
                    0, src * (L + 1) + il, torch.ones(hi - lo, dtype=self._idx, device=self.device)
                )
                del src, il
            self._wmin = self._wmin.view(S, L)
            self._gstart = starts.cumsum_(0)
            self._w = w
        else:
            # the two arc fields every candidate reads, in one int64: (float32 bits of the weight) << 32 | ilabel
            self.arc_pack = (w.view(torch.int32).to(torch.int64) << 32) | self._ilabel
            self._row_ptr = g.row_ptr.to(self._idx)

    def _arange(self, n: int) -> torch.Tensor:
        """``arange(n)`` from a cached buffer (one allocation instead of one per step)."""
        if n > self._ar.numel():
            self._ar = torch.arange(max(n, 2 * self._ar.numel()), device=self.device, dtype=self._idx)
        return self._ar[:n]

    # ------------------------------------------------------------------ pruning
    def _cutoff(
        self, cost: torch.Tensor, utt: torch.Tensor, num_utts: int
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Kaldi ``GetCutoff`` per utterance.

        Args:
            cost: float32 [N] token costs, grouped by utterance (non-decreasing ``utt``).
            utt: int64 [N] utterance index of each token.
            num_utts: B.

        Returns:
            (cutoff float32 [B], adaptive_beam float32 [B]); a token survives when ``cost < cutoff[utt]``.
        """
        cfg = self.config
        dev = cost.device
        inf = torch.tensor(float("inf"), device=dev)
        best = torch.full((num_utts,), float("inf"), device=dev).scatter_reduce(0, utt, cost, "amin")
        beam_cut = best + cfg.beam
        beam_t = torch.full_like(best, cfg.beam)
        if cfg.max_active >= 2**31 - 1 and cfg.min_active == 0:
            return beam_cut, beam_t
        ix = torch.index_select
        bc = ix(beam_cut, 0, utt)
        zeros = torch.zeros(num_utts, dtype=torch.int64, device=dev)
        within_lt = zeros.index_add(0, utt, (cost < bc).to(torch.int64))
        need_max = within_lt > cfg.max_active  # sorted[max_active] < beam_cut
        need_min = ~need_max
        if cfg.min_active > 0:
            within_le = zeros.index_add(0, utt, (cost <= bc).to(torch.int64))
            need_min &= within_le <= cfg.min_active  # sorted[min_active] > beam_cut (inf when too few tokens)
        else:
            need_min &= False
        any_max, any_min = (bool(x) for x in torch.stack([need_max.any(), need_min.any()]).tolist())
        cutoff, adaptive = beam_cut, beam_t
        if any_max or any_min:
            big = torch.full_like(best, float("inf"))
            kmax = self._kth_smallest(cost, utt, need_max, cfg.max_active + 1) if any_max else big
            kmin = self._kth_smallest(cost, utt, need_min, cfg.min_active + 1) if any_min else big
            cutoff = torch.where(need_max, kmax, torch.where(need_min, kmin, beam_cut))
            adaptive = torch.where(need_max | need_min, cutoff - best + cfg.beam_delta, beam_t)
            adaptive = torch.where(torch.isfinite(cutoff), adaptive, inf)
        return cutoff, adaptive

    @staticmethod
    def _kth_smallest(cost: torch.Tensor, utt: torch.Tensor, rows: torch.Tensor, k: int) -> torch.Tensor:
        """float32 [B]: the k-th smallest cost (1-based) of each utterance flagged in ``rows`` (inf when it has fewer
        than k tokens, and for unflagged utterances). Quickselect (``kthvalue``, like Kaldi's ``nth_element``) on a
        padded matrix of the flagged utterances only.

        Args:
            cost: float32 [N] grouped by utterance. utt: int64 [N]. rows: bool [B]. k: rank.
        """
        ix = torch.index_select
        dev = cost.device
        B = rows.numel()
        sel = torch.nonzero(ix(rows, 0, utt)).flatten()
        c, u = ix(cost, 0, sel), ix(utt, 0, sel)
        row_of = torch.cumsum(rows.to(torch.int64), 0) - 1  # utterance -> row of the padded matrix
        r = ix(row_of, 0, u)
        count = torch.bincount(r, minlength=int(rows.sum()))
        starts = torch.cumsum(count, 0) - count
        width = int(count.max())
        dense = torch.full((count.numel(), width + 1), float("inf"), device=dev)  # + 1: an inf column always
        dense[r, torch.arange(c.numel(), device=dev) - ix(starts, 0, r)] = c
        kth = torch.kthvalue(dense, min(k, width + 1), dim=1).values
        out = torch.full((B,), float("inf"), device=dev)
        out[rows] = kth
        return out

    # ------------------------------------------------------------------ search
    @torch.no_grad()
    def search(
        self,
        logprobs: torch.Tensor,
        lengths: torch.Tensor,
        context=None,
        context_start: torch.Tensor | None = None,
    ) -> list[UttSearchResult]:
        """Decode a padded batch.

        Args:
            logprobs: float32 [B, T, V] natural-log posteriors (column = token id); padding rows are ignored.
            lengths: int64 [B] number of valid rows per utterance (0 allowed: the empty path).
            context: Optional hotword ``ContextGraph`` (``num_states``, ``step``, ``finalize``).
            context_start: int64 [B] start state of each utterance in ``context`` (zeros when omitted).

        Returns:
            One :class:`UttSearchResult` per utterance, in batch order.

        Raises:
            ValueError: the posterior width cannot cover the graph's input labels.
        """
        cfg = self.config
        dev = self.device
        B, T, V = logprobs.shape
        if self.max_ilabel > V:
            raise ValueError(
                f"the graph reads token id {self.max_ilabel - 1} but the posteriors have only {V} columns"
            )
        lengths_cpu = lengths.to("cpu", torch.int64)
        # acoustic costs, row-major [T, B, V] so that row t is one contiguous [B * V] block
        ac = (logprobs.to(dev, torch.float32).transpose(0, 1) * (-cfg.acoustic_scale)).contiguous()
        if cfg.row_type == "cif" and cfg.cif_blank is not None:
            ac[:, :, 0] = -cfg.acoustic_scale * cfg.cif_blank
        if cfg.blank_penalty:
            ac[:, :, 0] += cfg.blank_penalty
        if self.expand_mode == "label" and V != self.max_ilabel:
            ac = ac[:, :, : self.max_ilabel].contiguous()  # column l = input label l + 1
        S = self.num_states
        use_ctx = context is not None
        C = int(context.num_states) if use_ctx else 1
        if use_ctx:
            context = context.to(dev)
            ctx0 = (
                torch.zeros(B, dtype=torch.int64, device=dev)
                if context_start is None
                else context_start.to(dev, torch.int64)
            )

        pend_of = getattr(context, "pending", None) if use_ctx else None
        key_space = B * S * C * ((V + 1) if use_ctx and cfg.row_type == "frame" else 1)
        if key_space >= 2**62:
            raise ValueError(
                f"recombination keys overflow int64 ({B} utterances x {S} graph states x {C} context states): "
                "use a smaller --batch-size or fewer hotwords"
            )
        # token set (flat): state, cost, utt, global index of this token's backpointer entry, [ctx, prev ilabel, whash]
        live = lengths_cpu > 0
        utt = torch.nonzero(live.to(dev)).flatten()
        h_state = torch.full_like(utt, self.start)
        h_cost = torch.zeros(utt.numel(), dtype=torch.float32, device=dev)
        h_bp = torch.full_like(utt, -1)
        h_ctx = ctx0[utt] if use_ctx else None
        h_prev = torch.zeros_like(utt)  # ilabel read at the previous row (0 = none yet)
        h_hash = torch.zeros_like(utt) if self._whash else None
        _, adaptive = self._cutoff(h_cost, utt, B)

        bp_prev: list[torch.Tensor] = []
        bp_arc: list[torch.Tensor] = []
        offset = 0
        finals: dict[int, list[tuple[int, float, bool]]] = {}  # utt -> [(global bp index, cost, final)]
        results: list[UttSearchResult] = [UttSearchResult(best=None) for _ in range(B)]
        for b in torch.nonzero(~live).flatten().tolist():
            fc = float(self.final[self.start])
            fin = np.isfinite(fc)
            if use_ctx:
                fc_ctx = float(context.finalize(ctx0[b : b + 1])[0])
                fc = (fc if fin else 0.0) - fc_ctx
            else:
                fc = fc if fin else 0.0
            empty = PathResult(np.zeros(0, np.int64), fc, bool(fin))
            results[b] = UttSearchResult(best=empty, nbest=[empty])

        ends_at = {}
        for b, n in enumerate(lengths_cpu.tolist()):
            if n > 0:
                ends_at.setdefault(n - 1, []).append(b)

        n_steps = int(lengths_cpu.max()) if B else 0
        ix = torch.index_select  # much faster than x[idx] on CPU
        for t in range(n_steps):
            if utt.numel() == 0:
                break
            # ---- expand every token along its arcs, pruned around the best candidate of each utterance
            ctx_in = (h_ctx, h_prev, context) if use_ctx else None
            if self.expand_mode == "label":
                exp = self._expand_label(ac[t], utt, h_state, h_cost, adaptive, B, ctx_in)
            else:
                exp = self._expand_csr(ac[t].view(-1), V, utt, h_state, h_cost, adaptive, B, ctx_in)
            if exp is None:
                utt = utt[:0]
                break
            src_tok, arc, local, il_kept, c_ctx = exp
            c_utt = ix(utt, 0, src_tok)
            cost = ix(h_cost, 0, src_tok) + local
            dst = ix(self._dst, 0, arc)
            key = c_utt * S + dst
            if use_ctx:
                key = key * C + c_ctx
                if cfg.row_type == "frame":
                    # CTC repeats: whether the next label is a new token depends on the label just read; a CTC
                    # topology's state already encodes it, but keep it in the key so any graph is searched exactly
                    key = key * (V + 1) + il_kept
            c_hash = None
            if self._whash:
                ol = ix(self._olabel, 0, arc)
                hh = ix(h_hash, 0, src_tok)
                c_hash = torch.where(ol > 0, (hh * _HASH_MULT + ol) & _INT64_HASH_MASK, hh)
            # ---- recombine tokens that reach the same (state, context state): indices ordered by key
            win = self._recombine(key, cost, c_hash)
            w_cost, w_utt = ix(cost, 0, win), ix(c_utt, 0, win)
            # ---- stage 2: Kaldi GetCutoff for the next row; utterances ending here keep everything. With hotwords
            # the cutoff is computed on costs with the unbanked partial-match bonus added back (the cost the
            # hypothesis would have if its match failed), while each hypothesis is tested with its biased cost:
            # a partial match still survives pruning thanks to its bonus, but cannot push the unbiased best path
            # out of the beam (which, with a large bonus, deleted the words after a false match).
            w_ref = w_cost
            if pend_of is not None:
                w_ref = w_cost + pend_of(ix(c_ctx, 0, win))
            cutoff, adaptive = self._cutoff(w_ref, w_utt, B)
            survive = w_cost < ix(cutoff, 0, w_utt)
            ending = ends_at.get(t, [])
            if ending:
                end_mask = torch.zeros(B, dtype=torch.bool, device=dev)
                end_mask[torch.tensor(ending, device=dev)] = True
                survive |= ix(end_mask, 0, w_utt)
            sel = ix(win, 0, torch.nonzero(survive).flatten())
            src_tok, arc, c_utt, cost, dst = (ix(x, 0, sel) for x in (src_tok, arc, c_utt, cost, dst))
            if use_ctx:
                c_ctx = ix(c_ctx, 0, sel)
            if self._whash:
                c_hash = ix(c_hash, 0, sel)
            bp_prev.append(ix(h_bp, 0, src_tok))
            bp_arc.append(arc)
            n_new = arc.numel()
            new_bp = torch.arange(offset, offset + n_new, device=dev)
            offset += n_new
            if ending:
                ends_tok = ix(end_mask, 0, c_utt)
                self._finish(
                    ends_tok, c_utt, dst, cost, new_bp, c_ctx if use_ctx else None, c_hash, context, finals
                )
                cont = torch.nonzero(~ends_tok).flatten()
                c_utt, dst, cost, new_bp, arc = (ix(x, 0, cont) for x in (c_utt, dst, cost, new_bp, arc))
                if use_ctx:
                    c_ctx = ix(c_ctx, 0, cont)
                if self._whash:
                    c_hash = ix(c_hash, 0, cont)
            utt, h_state, h_cost, h_bp = c_utt, dst, cost, new_bp
            if use_ctx:
                h_ctx = c_ctx
                h_prev = ix(self._ilabel, 0, arc)
            if self._whash:
                h_hash = c_hash

        self._traceback(bp_prev, bp_arc, finals, lengths_cpu, results)
        return results

    # ------------------------------------------------------------------ expansion (stage 1 pruning)
    # Both return the candidates that pass stage 1, in (token, arc) order: (src_tok [K] index dtype, arc [K]
    # internal arc ids, local float32 [K] = weight + acoustic cost - hotword bonus, input label int64 [K] (only
    # for frame rows with a context, else None), next context state int64 [K] or None), or None when no token
    # has an arc. Stage 1 keeps a candidate when token cost + local < best candidate of the utterance +
    # max(adaptive beam, beam): Kaldi prunes with a running bound that is never tighter than best +
    # adaptive_beam; when max_active made the adaptive beam narrower than --beam, Kaldi's bound is loose in
    # practice, so we use the wider of the two (anything outside best + beam is cut by stage 2 anyway).

    def _stage1_slack(self, tok_min, utt, h_cost, adaptive, B):
        """float32 [N]: per token, the largest ``local`` a candidate may have to pass stage 1."""
        best = torch.full((B,), float("inf"), device=self.device).scatter_reduce(
            0, utt, h_cost + tok_min, "amin"
        )
        return torch.index_select(best + torch.clamp(adaptive, min=self.config.beam), 0, utt) - h_cost

    def _expand_csr(self, ac_t, V, utt, h_state, h_cost, adaptive, B, ctx_in):
        """Every arc of every token (``ac_t``: float32 [B * V] acoustic costs of this row)."""
        ix = torch.index_select
        deg = ix(self.out_deg, 0, h_state)
        total = int(deg.sum())
        if total == 0:
            return None
        src_tok = torch.repeat_interleave(self._arange(deg.numel()), deg.to(self._idx), output_size=total)
        # arc = base[tok] + position in the candidate list
        base = (ix(self._row_ptr, 0, h_state) - (torch.cumsum(deg, 0) - deg)).to(self._idx)
        arc = ix(base, 0, src_tok) + self._arange(total)
        packed = ix(self.arc_pack, 0, arc)  # one 8-byte read per arc: weight bits | input label
        il32 = packed.view(torch.int32)[0::2]  # little-endian halves, read in place (no unpacking pass)
        # the arc's own cost (graph + acoustic); the token's cost is added after stage 1, on fewer candidates
        tok_ac = ix(ac_t, 0, ix((utt * V - 1).to(self._idx), 0, src_tok) + il32)
        local = packed.view(torch.float32)[1::2] + tok_ac
        c_ctx = None
        if ctx_in is not None:
            h_ctx, h_prev, context = ctx_in
            il = il32.to(torch.int64)
            c_ctx_in = ix(h_ctx, 0, src_tok)
            is_new = il != 1
            if self.config.row_type == "frame":
                is_new &= il != ix(h_prev, 0, src_tok)
            gate_lp = _token_logp(context, tok_ac, self.config.acoustic_scale)
            bonus, nxt = context.step(c_ctx_in, torch.where(is_new, il - 1, torch.ones_like(il)), gate_lp)
            local = local - torch.where(is_new, bonus.to(local.dtype), torch.zeros_like(local))
            c_ctx = torch.where(is_new, nxt.to(torch.int64), c_ctx_in)
        ref = _honest(local, c_ctx, ctx_in)
        tok_min = torch.segment_reduce(ref, "min", lengths=deg, initial=float("inf"))
        slack = self._stage1_slack(tok_min, utt, h_cost, adaptive, B)
        keep = torch.nonzero(local < ix(slack, 0, src_tok)).flatten()
        src_tok, arc, local = ix(src_tok, 0, keep), ix(arc, 0, keep), ix(local, 0, keep)
        il_kept = None
        if c_ctx is not None:
            c_ctx = ix(c_ctx, 0, keep)
            if self.config.row_type == "frame":
                il_kept = ix(il32, 0, keep).to(torch.int64)
        return src_tok, arc, local, il_kept, c_ctx

    def _expand_label(self, ac_t, utt, h_state, h_cost, adaptive, B, ctx_in):
        """Label groups first: the [N, L] matrix of (cheapest arc weight of each label + its acoustic cost) is
        tested against the stage-1 bound, and only the arcs of the groups that pass are read (``ac_t``: float32
        [B, L] acoustic costs of this row, column l = input label l + 1)."""
        ix = torch.index_select
        L = self.max_ilabel
        n_tok = h_state.numel()
        acr = ix(ac_t, 0, utt)  # [N, L]
        loc = ix(self._wmin, 0, h_state) + acr  # [N, L]: the cheapest candidate of each (token, label)
        bon = nxt_ctx = None
        if ctx_in is not None:
            h_ctx, h_prev, context = ctx_in
            lab = torch.arange(1, L + 1, device=self.device).expand(n_tok, L)
            is_new = lab != 1
            if self.config.row_type == "frame":
                is_new = is_new & (lab != h_prev[:, None])
            c_in = h_ctx[:, None].expand(n_tok, L)
            bonus, nxt = context.step(
                c_in.reshape(-1),
                torch.where(is_new, lab - 1, torch.ones_like(lab)).reshape(-1),
                _token_logp(context, acr.reshape(-1), self.config.acoustic_scale),
            )
            bon = torch.where(is_new, bonus.view(n_tok, L).to(loc.dtype), torch.zeros_like(loc))
            nxt_ctx = torch.where(is_new, nxt.view(n_tok, L).to(torch.int64), c_in)
            loc = loc - bon  # the arcs of a group share its label, so they share its bonus
        ref = _honest(loc, nxt_ctx, ctx_in)
        slack = self._stage1_slack(_row_min(ref), utt, h_cost, adaptive, B)
        gi = torch.nonzero((loc < slack[:, None]).view(-1)).flatten()  # passing groups, (token, label) order
        if gi.numel() == 0:  # no token has a usable arc: no path goes on (as with no arcs at all)
            return None
        gtok = torch.div(gi, L, rounding_mode="floor")
        glab = gi - gtok * L
        cell = (ix(h_state, 0, gtok) * (L + 1) + glab).to(self._idx)
        a0 = ix(self._gstart, 0, cell)
        cnt = ix(self._gstart, 0, cell + 1) - a0
        total = int(cnt.sum())
        gsrc = torch.repeat_interleave(self._arange(gi.numel()), cnt, output_size=total)
        base = a0 - (torch.cumsum(cnt, 0, dtype=self._idx) - cnt)
        arc = ix(base, 0, gsrc) + self._arange(total)
        local = ix(self._w, 0, arc) + ix(ix(acr.view(-1), 0, gi), 0, gsrc)
        if bon is not None:  # (weight + acoustic) - bonus: the same float32 operations as the CSR expansion
            local = local - ix(ix(bon.view(-1), 0, gi), 0, gsrc)
        keep = torch.nonzero(local < ix(ix(slack, 0, gtok), 0, gsrc)).flatten()
        ksrc = ix(gsrc, 0, keep)
        src_tok = ix(gtok.to(self._idx), 0, ksrc)
        arc, local = ix(arc, 0, keep), ix(local, 0, keep)
        il_kept = c_ctx = None
        if ctx_in is not None:
            kg = ix(gi, 0, ksrc.to(torch.int64))
            c_ctx = ix(nxt_ctx.reshape(-1), 0, kg)
            if self.config.row_type == "frame":
                il_kept = ix(glab, 0, ksrc.to(torch.int64)) + 1
        return src_tok, arc, local, il_kept, c_ctx

    def _recombine(self, key: torch.Tensor, cost: torch.Tensor, whash: torch.Tensor | None) -> torch.Tensor:
        """Indices of the tokens that survive recombination, ordered by key.

        With ``nbest == 1``: the lowest-cost token per key (ties: the lowest index). With ``nbest > 1``: the
        lowest-cost token per (key, word history), then at most ``nbest`` of those per key.
        """
        n = key.numel()
        dev = key.device
        idx = torch.arange(n, device=dev)
        if whash is not None:
            full = (key * _HASH_MULT) ^ whash
            first = self._segment_argmin(full, cost, idx)
            key, cost, sub = key[first], cost[first], first
            order = torch.argsort(cost, stable=True)
            order = order[torch.argsort(key[order], stable=True)]
            k_sorted = key[order]
            new_group = torch.ones_like(k_sorted, dtype=torch.bool)
            new_group[1:] = k_sorted[1:] != k_sorted[:-1]
            gstart = torch.cummax(
                torch.where(new_group, torch.arange(order.numel(), device=dev), 0), 0
            ).values
            rank = torch.arange(order.numel(), device=dev) - gstart
            return sub[order[rank < self.config.nbest]]
        return self._hash_argmin(key, cost, idx)

    def _hash_argmin(self, key: torch.Tensor, cost: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        """Indices (ascending) of the lowest-cost candidate of each key (ties: the lowest index), without a sort.

        Keys go to slots of a table of >= 4x the candidates (multiplicative hashing); ``scatter_`` leaves one key
        per slot, and the keys that own their slot are recombined there by two ``scatter_reduce`` (cost, then the
        lowest index at that cost). The few keys that lost their slot to another key go through the sort-based
        :meth:`_segment_argmin`. Which key owns a contested slot may differ between devices; the winners do not.
        Below ``_HASH_MIN`` candidates the sort-based method alone is faster; its winners are put in the same
        (candidate) order, so results do not depend on which method ran (nor on the batch composition).
        """
        n = key.numel()
        dev = key.device
        if n < _HASH_MIN:  # a few candidates (batch 1): one sort costs less than the dozen hash-table passes
            return torch.sort(self._segment_argmin(key, cost, idx)).values
        bits = max(6, (4 * n - 1).bit_length())
        slot = ((key * _HASH_MIX) >> (64 - bits)) & ((1 << bits) - 1)
        size = 1 << bits
        ix = torch.index_select
        owner = torch.full((size,), -1, dtype=torch.int64, device=dev).scatter_(0, slot, key)
        ok = ix(owner, 0, slot) == key
        inf = torch.full_like(cost, float("inf"))
        best = torch.full((size,), float("inf"), device=dev).scatter_reduce(
            0, slot, torch.where(ok, cost, inf), "amin"
        )
        at_min = ok & (cost == ix(best, 0, slot))
        first = torch.full((size,), n, dtype=torch.int64, device=dev).scatter_reduce(
            0, slot, torch.where(at_min, idx, torch.full_like(idx, n)), "amin"
        )
        win = at_min & (ix(first, 0, slot) == idx)
        lost = torch.nonzero(~ok).flatten()
        if lost.numel():
            sub = self._segment_argmin(ix(key, 0, lost), ix(cost, 0, lost), idx[: lost.numel()])
            win[ix(lost, 0, sub)] = True
        return torch.nonzero(win).flatten()

    @staticmethod
    def _segment_argmin(key: torch.Tensor, cost: torch.Tensor, idx: torch.Tensor) -> torch.Tensor:
        uniq, inv = torch.unique(key, sorted=True, return_inverse=True)
        g = uniq.numel()
        seg_min = torch.full((g,), float("inf"), device=key.device).scatter_reduce(0, inv, cost, "amin")
        big = idx.numel()
        cand = torch.where(cost == torch.index_select(seg_min, 0, inv), idx, torch.full_like(idx, big))
        return torch.full((g,), big, dtype=torch.int64, device=key.device).scatter_reduce(
            0, inv, cand, "amin"
        )

    def _finish(self, ends_tok, c_utt, dst, cost, bp, ctx, whash, context, finals) -> None:
        """Record the end tokens of utterances whose last row was this one (best final, else best overall)."""
        sel = torch.nonzero(ends_tok).flatten()
        u, s, c, i = c_utt[sel], dst[sel], cost[sel], bp[sel]
        fc = self.final[s]
        is_fin = torch.isfinite(fc)
        tot = c + torch.where(is_fin, fc, torch.zeros_like(fc))
        if ctx is not None:
            tot = tot - context.finalize(ctx[sel]).to(tot.dtype)
        # rank: final tokens first, then by total cost
        order = torch.argsort(tot, stable=True)
        order = order[torch.argsort((~is_fin[order]).to(torch.int8), stable=True)]
        order = order[torch.argsort(u[order], stable=True)]
        if whash is None:  # 1-best: the first token of each utterance's group is all we need
            us = u[order]
            first = torch.ones_like(us, dtype=torch.bool)
            first[1:] = us[1:] != us[:-1]
            order = order[first]
        u_l, i_l, tot_l, fin_l = (x.tolist() for x in (u[order], i[order], tot[order], is_fin[order]))
        h_l = whash[sel][order].tolist() if whash is not None else None
        for j, b in enumerate(u_l):
            lst = finals.setdefault(b, [])
            if lst and fin_l[j] != lst[0][2]:
                continue  # Kaldi: once a final token exists, only final tokens count
            if h_l is not None:
                if len(lst) >= self.config.nbest or any(h_l[j] == x[3] for x in lst):
                    continue
            elif lst:
                continue
            lst.append((i_l[j], tot_l[j], fin_l[j], h_l[j] if h_l is not None else 0))

    def _traceback(self, bp_prev, bp_arc, finals, lengths_cpu, results) -> None:
        if not bp_prev:
            return
        prev = torch.cat(bp_prev).cpu().numpy()
        arcs = torch.cat(bp_arc)
        if self._perm is not None:  # back to the graph's arc ids
            arcs = torch.index_select(self._perm, 0, arcs.to(torch.int64))
        arcs = arcs.cpu().numpy()
        # all paths of the batch walk back together: one numpy step per row
        entries = [(b, gi, tot, fin) for b, lst in finals.items() for gi, tot, fin, _ in lst]
        if not entries:
            return
        lens = np.array([int(lengths_cpu[b]) for b, *_ in entries], dtype=np.int64)
        idx = np.array([gi for _, gi, _, _ in entries], dtype=np.int64)
        out = np.zeros((len(entries), int(lens.max())), dtype=np.int64)
        for t in range(int(lens.max()) - 1, -1, -1):
            on = np.nonzero(lens > t)[0]
            out[on, t] = arcs[idx[on]]
            idx[on] = prev[idx[on]]
        by_utt: dict[int, list[PathResult]] = {}
        for k, (b, _, tot, fin) in enumerate(entries):
            by_utt.setdefault(b, []).append(PathResult(out[k, : lens[k]].copy(), float(tot), bool(fin)))
        for b, paths in by_utt.items():
            results[b] = UttSearchResult(best=paths[0], nbest=paths)


def _honest(cost: torch.Tensor, ctx_state: torch.Tensor | None, ctx_in) -> torch.Tensor:
    """Stage-1 reference costs: ``cost`` with the unbanked hotword bonus of ``ctx_state`` added back
    (``ContextGraph.pending``), or ``cost`` itself without a context (or one that has no ``pending``)."""
    pend_of = getattr(ctx_in[2], "pending", None) if ctx_in is not None else None
    return cost if pend_of is None or ctx_state is None else cost + pend_of(ctx_state)


def _token_logp(context, token_cost: torch.Tensor, acoustic_scale: float) -> torch.Tensor | None:
    """The log-posteriors behind acoustic costs ``-acoustic_scale * logp`` (float [N]), for the hotword acoustic
    gate; ``None`` (nothing computed) when the context has no gate."""
    if getattr(context, "gate_logp", None) is None or acoustic_scale == 0:
        return None
    return token_cost / -acoustic_scale
