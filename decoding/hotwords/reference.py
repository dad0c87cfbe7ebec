"""Plain-Python reference of the hotword automaton: token-id phrases + weights -> :class:`ContextGraphRef` with
``forward_one_step(state, token) -> (bonus, next_state, matched)`` and ``finalize(state)``.

It is the specification the batched tensor :class:`decoding.hotwords.context_graph.ContextGraph` is tested against
on random inputs: node objects, failure links followed at step time (no precomputed transition table), one
hypothesis at a time. Not used for decoding.

Follows the API of icefall's ``icefall/context_graph.py`` (Aho-Corasick trie with failure and output links,
``forward_one_step`` / ``finalize``), with our scoring (see ``context_graph`` module docstring): each node holds a
potential (bonus given so far for the partial match it stands for), a step gives the change in potential plus the
reward of every hotword completed by the step, and the potential of a node where a hotword ends is that of its
failure node, so a completed hotword keeps its bonus when the search moves on.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field

__all__ = ["ContextGraphRef", "RefNode"]


@dataclass(eq=False)
class RefNode:
    """One trie node: the partial match ``tokens[:depth]`` of one or more phrases."""

    id: int
    token: int
    depth: int
    parent: RefNode | None = None
    next: dict[int, RefNode] = field(default_factory=dict)
    token_score: float = 0.0  # bonus for entering this node from its parent
    held: float = 0.0  # sum of token_score from the root: the partial-match bonus
    ends: list[int] = field(default_factory=list)  # phrase indices ending exactly here
    fail: RefNode | None = None
    output: RefNode | None = None  # nearest node on the failure chain where a phrase ends
    potential: float = 0.0
    reward: float = (
        0.0  # paid when the automaton enters this node: all phrases ending here or via output links
    )


class ContextGraphRef:
    """Reference Aho-Corasick hotword automaton.

    Args:
        phrases: Token-id sequences (tokens.txt ids, no blank), one per hotword; duplicates allowed (both count).
        weights: Whole-phrase weight of each phrase, added when it completes (negative = penalty).
        hotword_score: Incremental bonus per matched token for phrases with weight >= 0 (0 for penalized phrases).
        word_start: Per token id, whether it begins a word: completions are then paid only at a word boundary
            (when the next token starts a word, or at :meth:`finalize`), and a match whose word goes on is dropped.
        gate_logp: Acoustic gate: a token whose ``token_logp`` is below it sends the automaton back to the root.
    """

    def __init__(
        self,
        phrases: Sequence[Sequence[int]],
        weights: Sequence[float],
        hotword_score: float,
        word_start: Sequence[bool] | None = None,
        gate_logp: float | None = None,
    ):
        self.hotword_score = float(hotword_score)
        self.word_start = None if word_start is None else [bool(x) for x in word_start]
        self.gate_logp = gate_logp
        self.root = RefNode(id=0, token=-1, depth=0)
        self.nodes = [self.root]
        self.phrases = [list(p) for p in phrases]
        self.weights = [float(w) for w in weights]
        for idx, (tokens, w) in enumerate(zip(self.phrases, self.weights)):
            per_token = hotword_score if w >= 0 else 0.0
            node = self.root
            for t in tokens:
                child = node.next.get(t)
                if child is None:
                    child = RefNode(id=len(self.nodes), token=t, depth=node.depth + 1, parent=node)
                    child.token_score = per_token
                    node.next[t] = child
                    self.nodes.append(child)
                else:
                    child.token_score = max(child.token_score, per_token)
                node = child
            if tokens:
                node.ends.append(idx)
        self._link()

    def _phrase_reward(self, idx: int) -> float:
        """What a completed phrase keeps: its weight plus, unless penalized, its per-token bonuses."""
        w = self.weights[idx]
        return w + (self.hotword_score * len(self.phrases[idx]) if w >= 0 else 0.0)

    def _link(self) -> None:
        queue = deque()
        for child in self.root.next.values():
            child.fail = self.root
            queue.append(child)
        order = []
        while queue:
            node = queue.popleft()
            order.append(node)
            for t, child in node.next.items():
                f = node.fail
                while t not in f.next and f is not self.root:
                    f = f.fail
                child.fail = f.next[t] if t in f.next else self.root
                queue.append(child)
        # scores in BFS order: a node's parent and failure node come first
        for node in order:
            node.held = node.parent.held + node.token_score
        for node in order:
            f = node.fail
            node.output = f if f.ends else f.output
            own = sum(self._phrase_reward(i) for i in node.ends)
            node.reward = own + f.reward
            node.potential = f.potential if node.ends else node.held

    @property
    def num_nodes(self) -> int:
        return len(self.nodes)

    def forward_one_step(
        self, state: RefNode, token: int, token_logp: float | None = None
    ) -> tuple[float, RefNode, list[int]]:
        """Advance one matched token.

        Args:
            state: Current node (start at :attr:`root`).
            token: tokens.txt id of the emitted token (never blank: on blank the caller keeps the state).
            token_logp: The token's log-posterior at its row (only used with ``gate_logp``).

        Returns:
            ``(bonus, next_state, matched)``: the score to add, the new node, and the indices of the phrases
            completed by this token (longest first, then along output links; with the word-end check these are
            only candidates: they are paid on the next word start).
        """
        node = state
        while token not in node.next and node is not self.root:
            node = node.fail
        nxt = node.next.get(token, self.root)
        if self.gate_logp is not None and token_logp is not None and token_logp < self.gate_logp:
            nxt = self.root
        if self.word_start is None:
            bonus = nxt.potential - state.potential + nxt.reward
        else:
            bonus = nxt.held - state.held + (state.reward if self.word_start[token] else 0.0)
        matched = []
        m = nxt if nxt.ends else nxt.output
        while m is not None:
            matched.extend(m.ends)
            m = m.output
        return bonus, nxt, matched

    def finalize(self, state: RefNode) -> float:
        """Score to add at the end of the utterance: takes back the bonus held by an unfinished partial match (and
        pays a completion pending a word end)."""
        if self.word_start is None:
            return -state.potential
        return state.reward - state.held

    def score_sequence(self, tokens: Sequence[int]) -> tuple[float, list[int]]:
        """Total bonus (including :meth:`finalize`) and completed phrase indices for a whole token sequence."""
        state, total, matched = self.root, 0.0, []
        for t in tokens:
            b, state, m = self.forward_one_step(state, t)
            total += b
            matched.extend(m)
        return total + self.finalize(state), matched
