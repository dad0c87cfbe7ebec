"""Hotword phrases as token-id sequences -> :class:`ContextGraph`, an Aho-Corasick automaton held in torch tensors
that advances every hypothesis of a batched beam search in one gather.

Reference: Aho & Corasick (1975), "Efficient string matching", trie + failure links + output links; the hotword
use follows icefall's ``icefall/context_graph.py`` (Wei Kang, 2023), whose API our plain-Python
:mod:`decoding.hotwords.reference` keeps and against which this module is tested.

Scoring (all values in the search's units: natural-log scores, higher = better; the search ADDS them):

* Each phrase ``h`` has ``L_h`` tokens, a whole-phrase weight ``w_h`` and a per-token score ``s_h`` =
  ``hotword_score`` when ``w_h >= 0`` and 0 for a penalized phrase (``w_h < 0``).
* A trie node ``n`` holds ``held(n)`` = sum along the root path of each node's token score (max ``s_h`` over the
  phrases through it). Its potential is ``pot(n) = held(n)``, except where a phrase ends: there
  ``pot(n) = pot(fail(n))`` (the finished match is banked, only a partial match the fallback state stands for is
  still held).
* ``reward(n)`` = sum over phrases ending at ``n`` or at any node on its output chain of ``w_h + L_h * s_h``.
* ``step(s, t)``: ``n = delta(s, t)`` (the goto edge, else follow failure links; from a root with no edge, stay),
  bonus ``pot(n) - pot(s) + reward(n)``. ``finalize(s) = -pot(s)``.

So each matched token adds ``s_h``; a failed match gives back what the abandoned prefix held net of what the
fallback state holds; an unfinished match is given back at the end; over a whole utterance the net bonus is exactly
``sum(w_h + L_h * s_h)`` over every occurrence of every phrase (overlaps included: 阳光保险 / 保定 on 阳光保定 fires
保定 through the failure link). Unlike icefall, a completed phrase is banked in the state's potential instead of
being paid twice and taken back on the next token, so the running score of a hypothesis never over-shoots.

Word-end check (``word_start`` given, i.e. a tokenizer whose words span several tokens): a completed phrase is
only paid when the word ends there, so ``cat`` does not fire on ``cats`` / ``catalog`` (``▁cat s``). Its reward
is deferred to the next step: the potential is ``held(n)`` everywhere (nothing banked on entry), and
``step(s, t)`` gives ``held(n) - held(s) + [t starts a word] * reward(s)``; ``finalize(s) = reward(s) - held(s)``.
When the word goes on (``t`` does not start a word) the pending completion is dropped and the token bonuses of
the match are taken back with it (unless the longer word is itself a hotword). The total is then the sum of
``w_h + L_h * s_h`` over the occurrences that END AT A WORD BOUNDARY.

Acoustic gate (``gate_logp`` set and the search passes ``token_logp``): a token whose log-posterior at its row is
below ``gate_logp`` cannot advance a match: the hypothesis falls back to its list's root (the held bonus is taken
back, a pending completion is still paid when the token starts a word), so the bonus never pushes the search onto
a token the acoustics do not support (the false-alarm control of sherpa-onnx / WeNet context biasing, here per
token).

Tensor form: states are numbered breadth-first (root 0); every hypothesis advances in one batched op, three layouts
chosen by size:

* ``dense``: the full automaton (failures resolved at build time) as an int32 table ``[S, V]``, one gather, when
  ``S * V <= dense_max_entries``;
* ``sparse``: the same automaton compressed: only the transitions ``delta(s, t)`` that differ from the root's
  ``delta(root, t)`` are kept, as sorted int64 keys ``s * V + t`` (row of ``s`` = its own edges + the row of
  ``fail(s)``, built level by level); a step gathers the root's transition from a dense ``[roots, V]`` table and
  runs one ``torch.searchsorted`` for the hypotheses whose state has a row, when the table has at most
  ``dfa_max_entries`` entries;
* ``trie``: the trie edges only, failure links followed in at most ``max_depth + 1`` batched rounds (pathological
  lists whose compressed table would be too large).

:meth:`ContextGraph.concat` joins several graphs (one per utterance's list) into one, each keeping its own root.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from decoding.hotwords.config import DENSE_MAX_ENTRIES, DFA_MAX_ENTRIES

__all__ = ["ContextGraph"]

_GATE_WARNED = False


def _warn_gate_ignored() -> None:
    global _GATE_WARNED
    _GATE_WARNED = True
    logging.getLogger("decoding.hotwords").warning(
        "hotword gate (--hotword-gate) ignored: this search does not pass the tokens' log-posteriors to "
        "ContextGraph.step (token_logp)"
    )


@dataclass
class ContextGraph:
    """An Aho-Corasick hotword automaton as tensors (see the module docstring for the scores).

    Attributes:
        vocab_size: V, number of token ids (columns of the posteriors); tokens are tokens.txt ids in ``[1, V)``.
        edge_src: int64 [E] trie edges, source state; edges sorted by ``edge_src * V + edge_token``.
        edge_token: int64 [E] token id of each edge.
        edge_dst: int64 [E] destination state.
        fail: int64 [S] failure link of each state (a root's is itself).
        depth: int32 [S] trie depth (0 for roots).
        potential: float32 [S] bonus held by the partial match a state stands for.
        reward: float32 [S] paid on entering a state: every phrase completed there (own + output links).
        num_matches: int32 [S] number of phrases completed on entering a state.
        is_root: bool [S] start state of one hotword list (several after :meth:`concat`).
        edge_key: int64 [E] sorted ``edge_src * V + edge_token`` (set by the constructors).
        dense: ``dense`` layout: int32 [S, V] full transition table, else ``None``.
        root_of: int64 [S] the root (start state) of each state's list.
        dfa_key: ``sparse`` layout: int64 [M] sorted keys ``s * V + t`` of the transitions that differ from the
            root's, else ``None``.
        dfa_dst: int64 [M] their destinations.
        row_len: ``sparse``: int32 [S] number of compressed transitions of each state (0: the root's apply).
        root_table: ``sparse``: int32 [R, V] each root's transitions (``None`` when ``R * V`` is too large).
        root_row: ``sparse``: int64 [S] the row of ``root_table`` for each state's root.
        held: float32 [S] bonus held by the partial match, nothing banked (the potential of the word-end mode).
        word_start: bool [V] tokens that begin a word (word-end check on), or ``None`` (completions paid at once).
        gate_logp: Acoustic gate: tokens whose ``token_logp`` is below it do not advance a match (``None``: off).
    """

    vocab_size: int
    edge_src: torch.Tensor
    edge_token: torch.Tensor
    edge_dst: torch.Tensor
    fail: torch.Tensor
    depth: torch.Tensor
    potential: torch.Tensor
    reward: torch.Tensor
    num_matches: torch.Tensor
    is_root: torch.Tensor
    edge_key: torch.Tensor | None = None
    dense: torch.Tensor | None = None
    root_of: torch.Tensor | None = None
    dfa_key: torch.Tensor | None = None
    dfa_dst: torch.Tensor | None = None
    row_len: torch.Tensor | None = None
    root_table: torch.Tensor | None = None
    root_row: torch.Tensor | None = None
    held: torch.Tensor | None = None
    word_start: torch.Tensor | None = None
    gate_logp: float | None = None

    # ---------------------------------------------------------------- construction

    @classmethod
    def build(
        cls,
        phrases: Sequence[Sequence[int]],
        weights: Sequence[float],
        hotword_score: float,
        vocab_size: int,
        dense_max_entries: int = DENSE_MAX_ENTRIES,
        dfa_max_entries: int = DFA_MAX_ENTRIES,
        word_start: Sequence[bool] | torch.Tensor | None = None,
        gate_logp: float | None = None,
    ) -> ContextGraph:
        """Build the automaton of one hotword list.

        Args:
            phrases: Token-id sequences (tokens.txt ids in ``[1, vocab_size)``), each non-empty.
            weights: Whole-phrase weight of each phrase (added on completion; negative = penalty).
            hotword_score: Per-token bonus for phrases with weight >= 0.
            vocab_size: V, the number of token ids.
            dense_max_entries: Use the dense ``[S, V]`` table when ``S * V`` is at most this.
            dfa_max_entries: Else use the compressed table when it has at most this many entries, else the trie.
            word_start: bool [V], True for tokens that begin a word (and for specials that end one): turns on the
                word-end check (see the module docstring). ``None``: a completed phrase is paid at once.
            gate_logp: Acoustic gate in natural-log posterior (e.g. ``-4.6`` = 1%); used when the search passes
                ``token_logp`` to :meth:`step`. ``None``: no gate.

        Raises:
            ValueError: an empty phrase, a token id out of range, or lengths that differ.
        """
        if word_start is not None:
            word_start = torch.as_tensor(word_start, dtype=torch.bool).flatten()
            if word_start.numel() != vocab_size:
                raise ValueError(f"word_start has {word_start.numel()} entries, vocab_size is {vocab_size}")
        if len(phrases) != len(weights):
            raise ValueError(f"{len(phrases)} phrases but {len(weights)} weights")
        children: list[dict[int, int]] = [{}]
        token_score = [0.0]
        own_reward = [0.0]
        own_count = [0]
        for idx, (tokens, w) in enumerate(zip(phrases, weights)):
            if len(tokens) == 0:
                raise ValueError(f"phrase {idx} is empty")
            w = float(w)
            per_token = float(hotword_score) if w >= 0 else 0.0
            node = 0
            for t in tokens:
                t = int(t)
                if not 0 < t < vocab_size:
                    raise ValueError(f"phrase {idx}: token id {t} outside [1, {vocab_size})")
                child = children[node].get(t)
                if child is None:
                    child = len(children)
                    children[node][t] = child
                    children.append({})
                    token_score.append(per_token)
                    own_reward.append(0.0)
                    own_count.append(0)
                else:
                    token_score[child] = max(token_score[child], per_token)
                node = child
            own_reward[node] += w + per_token * len(tokens)
            own_count[node] += 1

        # breadth-first renumbering, failure links and scores in that order
        n = len(children)
        order = [0]
        parent = [0] * n
        fail = [0] * n
        depth = [0] * n
        queue = deque([0])
        while queue:
            s = queue.popleft()
            for t, c in children[s].items():
                parent[c] = s
                depth[c] = depth[s] + 1
                if s == 0:
                    fail[c] = 0
                else:
                    f = fail[s]
                    while t not in children[f] and f != 0:
                        f = fail[f]
                    fail[c] = children[f].get(t, 0)
                order.append(c)
                queue.append(c)
        held = [0.0] * n
        pot = [0.0] * n
        reward = [0.0] * n
        count = [0] * n
        for s in order[1:]:
            held[s] = held[parent[s]] + token_score[s]
            f = fail[s]
            reward[s] = own_reward[s] + reward[f]
            count[s] = own_count[s] + count[f]
            pot[s] = pot[f] if own_count[s] else held[s]

        new_id = np.empty(n, dtype=np.int64)
        new_id[np.asarray(order, dtype=np.int64)] = np.arange(n, dtype=np.int64)
        src, tok, dst = [], [], []
        for s in range(n):
            for t, c in children[s].items():
                src.append(new_id[s])
                tok.append(t)
                dst.append(new_id[c])
        perm = np.asarray(order, dtype=np.int64)

        def by_new(values, dtype):
            return torch.from_numpy(np.asarray(values, dtype=dtype)[perm])

        return cls._assemble(
            vocab_size=vocab_size,
            edge_src=torch.tensor(src, dtype=torch.int64),
            edge_token=torch.tensor(tok, dtype=torch.int64),
            edge_dst=torch.tensor(dst, dtype=torch.int64),
            fail=torch.from_numpy(new_id[np.asarray(fail, dtype=np.int64)][perm]),
            depth=by_new(depth, np.int32),
            potential=by_new(pot, np.float64).float(),
            reward=by_new(reward, np.float64).float(),
            num_matches=by_new(count, np.int32),
            is_root=torch.arange(n) == 0,
            held=by_new(held, np.float64).float(),
            word_start=word_start,
            gate_logp=None if gate_logp is None else float(gate_logp),
            dense_max_entries=dense_max_entries,
            dfa_max_entries=dfa_max_entries,
        )

    @classmethod
    def empty(cls, vocab_size: int, **options) -> ContextGraph:
        """The graph of an empty list: one root state, every step gives 0 and stays there."""
        return cls.build([], [], 0.0, vocab_size, **options)

    @classmethod
    def _assemble(
        cls, dense_max_entries: int = DENSE_MAX_ENTRIES, dfa_max_entries: int = DFA_MAX_ENTRIES, **fields
    ) -> ContextGraph:
        v = fields["vocab_size"]
        key = fields["edge_src"] * v + fields["edge_token"]
        key, perm = torch.sort(key)
        for name in ("edge_src", "edge_token", "edge_dst"):
            fields[name] = fields[name][perm]
        graph = cls(**fields, edge_key=key)
        graph.root_of = graph._roots()
        if graph.num_states * v <= dense_max_entries:
            graph.dense = graph._dense_table()
        else:
            table = graph._compressed_table(dfa_max_entries)
            if table is not None:
                graph.dfa_key, graph.dfa_dst = table
                graph._index_rows(max(dense_max_entries, dfa_max_entries))
        return graph

    def _index_rows(self, max_cells: int) -> None:
        """Row lengths of the compressed table and, when small enough, the roots' transitions as a dense table."""
        v, s = self.vocab_size, self.num_states
        row_ptr = torch.searchsorted(self.dfa_key, torch.arange(s + 1, dtype=torch.int64) * v)
        self.row_len = (row_ptr[1:] - row_ptr[:-1]).to(torch.int32)
        roots = torch.nonzero(self.is_root)[:, 0]
        if roots.numel() * v <= max_cells:
            rank = torch.zeros(s, dtype=torch.int64)
            rank[roots] = torch.arange(roots.numel())
            table = roots[:, None].repeat(1, v)
            table[
                rank[self.edge_src[self.is_root[self.edge_src]]], self.edge_token[self.is_root[self.edge_src]]
            ] = self.edge_dst[self.is_root[self.edge_src]]
            self.root_table = table.to(torch.int32)
            self.root_row = rank[self.root_of]

    def _levels(self) -> list[np.ndarray]:
        depth = self.depth.numpy()
        order = np.argsort(depth, kind="stable")
        bounds = np.searchsorted(depth[order], np.arange(int(depth.max(initial=0)) + 2))
        return [order[bounds[d] : bounds[d + 1]] for d in range(len(bounds) - 1)]

    def _roots(self) -> torch.Tensor:
        """int64 [S] root of each state (a failure link never leaves its list and points to a shallower state)."""
        fail = self.fail.numpy()
        root_of = np.arange(self.num_states, dtype=np.int64)
        for states in self._levels()[1:]:
            root_of[states] = root_of[fail[states]]
        return torch.from_numpy(root_of)

    def _compressed_table(self, max_entries: int) -> tuple[torch.Tensor, torch.Tensor] | None:
        """Transitions that differ from the root's: row(s) = own edges + row(fail(s)), built level by level.

        Returns:
            ``(keys int64 [M] sorted, dst int64 [M])``, or ``None`` when ``M`` would exceed ``max_entries``.
        """
        v = self.vocab_size
        fail = self.fail.numpy()
        esrc, etok, edst = self.edge_src.numpy(), self.edge_token.numpy(), self.edge_dst.numpy()
        edepth = self.depth.numpy()[esrc]
        start = np.zeros(self.num_states, dtype=np.int64)
        length = np.zeros(self.num_states, dtype=np.int64)
        toks: list[np.ndarray] = []
        dsts: list[np.ndarray] = []
        srcs: list[np.ndarray] = []
        total = 0
        buf_tok = buf_dst = np.zeros(0, dtype=np.int64)
        for d, states in enumerate(self._levels()):
            if d == 0:
                continue  # roots: no entries (their edges are looked up separately)
            f = fail[states]
            n_inh = length[f]
            m = int(n_inh.sum())
            inh_state = np.repeat(states, n_inh)
            first = np.repeat(start[f] - (np.cumsum(n_inh) - n_inh), n_inh) + np.arange(m)
            sel = edepth == d
            s_all = np.concatenate([esrc[sel], inh_state])
            t_all = np.concatenate([etok[sel], buf_tok[first]])
            d_all = np.concatenate([edst[sel], buf_dst[first]])
            pri = np.concatenate([np.zeros(int(sel.sum()), np.int8), np.ones(m, np.int8)])
            order = np.lexsort((pri, t_all, s_all))
            s_all, t_all, d_all = s_all[order], t_all[order], d_all[order]
            keep = np.ones(len(s_all), dtype=bool)
            keep[1:] = (s_all[1:] != s_all[:-1]) | (t_all[1:] != t_all[:-1])
            s_all, t_all, d_all = s_all[keep], t_all[keep], d_all[keep]
            total += len(s_all)
            if total > max_entries:
                return None
            uniq, first_pos, counts = np.unique(s_all, return_index=True, return_counts=True)
            start[uniq] = len(buf_tok) + first_pos
            length[uniq] = counts
            buf_tok = np.concatenate([buf_tok, t_all])
            buf_dst = np.concatenate([buf_dst, d_all])
            srcs.append(s_all)
            toks.append(t_all)
            dsts.append(d_all)
        if not srcs:
            return torch.zeros(0, dtype=torch.int64), torch.zeros(0, dtype=torch.int64)
        keys = np.concatenate(srcs) * v + np.concatenate(toks)
        order = np.argsort(keys, kind="stable")
        return torch.from_numpy(keys[order]), torch.from_numpy(np.concatenate(dsts)[order])

    def _dense_table(self) -> torch.Tensor:
        """Full transition table int32 [S, V], failures resolved level by level (a failure target is shallower)."""
        s, v = self.num_states, self.vocab_size
        depth = self.depth.numpy()
        fail = self.fail.numpy()
        esrc, etok, edst = self.edge_src.numpy(), self.edge_token.numpy(), self.edge_dst.numpy()
        edepth = depth[esrc] if esrc.size else np.zeros(0, dtype=np.int32)
        table = np.empty((s, v), dtype=np.int32)
        for d in range(int(depth.max(initial=0)) + 1):
            states = np.nonzero(depth == d)[0]
            if d == 0:
                table[states] = states[:, None]
            else:
                table[states] = table[fail[states]]
            sel = edepth == d
            table[esrc[sel], etok[sel]] = edst[sel]
        return torch.from_numpy(table)

    @staticmethod
    def concat(
        graphs: Sequence[ContextGraph],
        dense_max_entries: int = DENSE_MAX_ENTRIES,
        dfa_max_entries: int = DFA_MAX_ENTRIES,
    ) -> tuple[ContextGraph, torch.Tensor]:
        """Join several graphs (e.g. one per utterance's hotword list) into one.

        Args:
            graphs: Graphs with the same ``vocab_size``.
            dense_max_entries: Layout choice of the joined graph, as in :meth:`build`.
            dfa_max_entries: Layout choice of the joined graph, as in :meth:`build`.

        Returns:
            ``(graph, start_states)``: the joined graph and int64 [G] the start state of each input graph in it.

        Raises:
            ValueError: no graphs, or vocabulary sizes that differ.
        """
        if not graphs:
            raise ValueError("concat needs at least one graph")
        v = graphs[0].vocab_size
        if any(g.vocab_size != v for g in graphs):
            raise ValueError(f"vocabulary sizes differ: {sorted({g.vocab_size for g in graphs})}")
        ws = [None if g.word_start is None else g.word_start.cpu() for g in graphs]
        if any((a is None) != (ws[0] is None) or (a is not None and not torch.equal(a, ws[0])) for a in ws):
            raise ValueError("graphs built with different word_start tables (different tokenizers?)")
        if len({g.gate_logp for g in graphs}) > 1:
            raise ValueError(
                f"graphs built with different gate_logp: {sorted({str(g.gate_logp) for g in graphs})}"
            )
        device = graphs[0].fail.device
        sizes = torch.tensor([g.num_states for g in graphs], dtype=torch.int64)
        offsets = torch.cumsum(sizes, 0) - sizes

        def cat(name, shift=False):
            parts = [getattr(g, name).cpu() for g in graphs]
            if shift:
                parts = [p + int(o) for p, o in zip(parts, offsets)]
            return torch.cat(parts)

        joined = ContextGraph._assemble(
            vocab_size=v,
            edge_src=cat("edge_src", True),
            edge_token=cat("edge_token"),
            edge_dst=cat("edge_dst", True),
            fail=cat("fail", True),
            depth=cat("depth"),
            potential=cat("potential"),
            reward=cat("reward"),
            num_matches=cat("num_matches"),
            is_root=cat("is_root"),
            held=cat("held"),
            word_start=graphs[0].word_start.cpu() if graphs[0].word_start is not None else None,
            gate_logp=graphs[0].gate_logp,
            dense_max_entries=dense_max_entries,
            dfa_max_entries=dfa_max_entries,
        )
        # state 0 of every graph (even one that is itself a concat) is its start state
        return joined.to(device), offsets.to(device)

    def to(self, device: torch.device | str) -> ContextGraph:
        """A copy with every tensor on ``device``."""
        moved = {
            name: (value.to(device) if isinstance(value, torch.Tensor) else value)
            for name, value in self.__dict__.items()
        }
        return ContextGraph(**moved)

    # ---------------------------------------------------------------- queries

    @property
    def num_states(self) -> int:
        return int(self.fail.numel())

    @property
    def num_edges(self) -> int:
        return int(self.edge_src.numel())

    @property
    def max_depth(self) -> int:
        return int(self.depth.max()) if self.num_states else 0

    @property
    def device(self) -> torch.device:
        return self.fail.device

    @property
    def mode(self) -> str:
        """``dense`` (one gather), ``sparse`` (two searchsorted) or ``trie`` (searchsorted + failure rounds)."""
        if self.dense is not None:
            return "dense"
        return "sparse" if self.dfa_key is not None else "trie"

    def nbytes(self) -> int:
        """Memory held by the tensors."""
        return sum(
            v.numel() * v.element_size() for v in self.__dict__.values() if isinstance(v, torch.Tensor)
        )

    def next_state(self, state: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        """The automaton's transition for a batch.

        Args:
            state: int64 [N] context states.
            token: int64 [N] tokens.txt ids in ``[1, V)`` (never blank).

        Returns:
            int64 [N] next states.
        """
        if self.dense is not None:
            return self.dense[state, token].long()
        if self.dfa_key is not None:
            return self._step_sparse(state, token)
        return self._step_trie(state, token)

    @staticmethod
    def _lookup(
        keys: torch.Tensor, values: torch.Tensor, query: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(found bool [N], value int64 [N])`` of ``query`` in sorted ``keys`` (value meaningless where not found)."""
        if keys.numel() == 0:
            return torch.zeros_like(query, dtype=torch.bool), query
        idx = torch.searchsorted(keys, query).clamp_(max=keys.numel() - 1)
        return keys[idx] == query, values[idx]

    def _step_sparse(self, state: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        v = self.vocab_size
        if self.root_table is not None:
            base = self.root_table[self.root_row[state], token].long()
        else:
            root = self.root_of[state]
            rhit, rdst = self._lookup(self.edge_key, self.edge_dst, root * v + token)
            base = torch.where(rhit, rdst, root)
        if self.dfa_key.numel() == 0:
            return base
        # only hypotheses whose state has a row of its own search it (most sit at a root or a leaf)
        has_row = self.row_len[state] > 0
        idx = torch.nonzero(has_row)[:, 0]
        if idx.numel() == 0:
            return base
        key = state[idx] * v + token[idx]
        hit, dst = self._lookup(self.dfa_key, self.dfa_dst, key)
        base[idx] = torch.where(hit, dst, base[idx])
        return base

    def _step_trie(self, state: torch.Tensor, token: torch.Tensor) -> torch.Tensor:
        v = self.vocab_size
        result = state.clone()
        if self.num_edges == 0:
            return result  # only roots: nothing ever matches
        keys = self.edge_key
        cur = state
        active = torch.ones_like(state, dtype=torch.bool)
        for _ in range(self.max_depth + 1):
            key = cur * v + token
            idx = torch.searchsorted(keys, key).clamp_(max=keys.numel() - 1)
            hit = keys[idx] == key
            root = self.is_root[cur]
            result = torch.where(active & hit, self.edge_dst[idx], result)
            result = torch.where(active & ~hit & root, cur, result)
            active = active & ~hit & ~root
            if not bool(active.any()):
                break
            cur = torch.where(active, self.fail[cur], cur)
        return result

    @property
    def word_end_check(self) -> bool:
        """True when completions are paid only at a word boundary (built with ``word_start``)."""
        return self.word_start is not None

    def step(
        self, state: torch.Tensor, token: torch.Tensor, token_logp: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Advance every hypothesis by one emitted token.

        Args:
            state: int64 [N] context states.
            token: int64 [N] tokens.txt ids (never blank: on blank or a CTC repeat the caller keeps the state and
                adds nothing).
            token_logp: Optional float [N] natural-log posterior of each token at its row (the acoustic score the
                search reads for it); with ``gate_logp`` set, a token below the gate does not advance a match.

        Returns:
            ``(bonus, next_state)``: float32 [N] score to ADD (negative when a failed match is taken back) and
            int64 [N] the new states.
        """
        nxt = self.next_state(state, token)
        if self.gate_logp is not None:
            if token_logp is not None:
                nxt = torch.where(token_logp.to(self.held.device) >= self.gate_logp, nxt, self.root_of[state])
            elif not _GATE_WARNED:
                _warn_gate_ignored()
        if self.word_start is None:
            return self.potential[nxt] - self.potential[state] + self.reward[nxt], nxt
        ends = self.word_start[token]
        bonus = self.held[nxt] - self.held[state] + torch.where(ends, self.reward[state], 0.0)
        return bonus, nxt

    def finalize(self, state: torch.Tensor) -> torch.Tensor:
        """float32 [N] score to add at utterance end: takes back the bonus of an unfinished partial match (and, with
        the word-end check, pays a completion pending at the last token: the utterance end is a word end)."""
        if self.word_start is None:
            return -self.potential[state]
        return self.reward[state] - self.held[state]

    def pending(self, state: torch.Tensor) -> torch.Tensor:
        """float32 [N] bonus a hypothesis in ``state`` holds but has not banked: what a failed match (or the utterance
        end) takes back. Never negative (phrases with a penalty hold nothing). The TLG search centres its beam on
        costs with this added back, so partial matches cannot push the unbiased hypotheses out of the beam."""
        held = self.potential if self.word_start is None else self.held
        return held[state].clamp(min=0.0)

    def matches(self, state: torch.Tensor) -> torch.Tensor:
        """int32 [N] number of phrases completed on entering ``state`` (for diagnostics and tests)."""
        return self.num_matches[state]

    def score_tokens(self, tokens: Sequence[int], start: int = 0) -> float:
        """Net bonus of one whole token sequence (steps + finalize), e.g. to rescore an n-best list."""
        state = torch.tensor([start], dtype=torch.int64, device=self.device)
        total = torch.zeros(1, device=self.device)
        for t in tokens:
            b, state = self.step(state, torch.tensor([int(t)], dtype=torch.int64, device=self.device))
            total += b
        return float(total + self.finalize(state))
