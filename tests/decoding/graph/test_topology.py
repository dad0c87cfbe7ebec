"""topology.py: every short input string through T, against plain-Python definitions of CTC / compact CTC / CIF."""

from __future__ import annotations

import itertools

import pytest
from graph_test_helpers import linear_fst, output_strings

from decoding.graph.topology import TopologyConfig, make_topology_fst

V = 3  # <blk>, two tokens


def ctc_collapse(frames: tuple[int, ...]) -> tuple[int, ...]:
    """Graves et al.: merge repeats, then drop blanks (token ids; 0 = blank)."""
    out, prev = [], None
    for t in frames:
        if t != prev and t != 0:
            out.append(t)
        prev = t
    return tuple(out)


def compact_outputs(frames: tuple[int, ...]) -> set[tuple[int, ...]]:
    """Compact CTC: a run of r equal tokens (no blank between) may emit 1..r copies of the token."""
    choices = []
    for tok, run in itertools.groupby(frames):
        r = len(list(run))
        choices.append([()] if tok == 0 else [(tok,) * k for k in range(1, r + 1)])
    return {sum(c, ()) for c in itertools.product(*choices)}


def _run(T, frames):
    import pywrapfst as fst

    return output_strings(fst.compose(linear_fst([t + 1 for t in frames]), T))


def _all_inputs(max_len=5):
    for n in range(0, max_len + 1):
        yield from itertools.product(range(V), repeat=n)


def test_ctc_standard_equals_collapse():
    T = make_topology_fst(V, TopologyConfig(kind="ctc"))
    for frames in _all_inputs():
        assert _run(T, frames) == {ctc_collapse(frames): 0.0}, frames
    assert all(a.ilabel != 0 for s in T.states() for a in T.arcs(s))


def test_ctc_compact_equals_definition():
    T = make_topology_fst(V, TopologyConfig(kind="ctc-compact"))
    for frames in _all_inputs():
        assert set(_run(T, frames)) == compact_outputs(frames), frames
    assert T.num_states() == V and sum(T.num_arcs(s) for s in T.states()) == 1 + 3 * (V - 1)


@pytest.mark.parametrize("skip", [True, False])
def test_cif_one_token_per_row(skip):
    pen = 2.5
    T = make_topology_fst(V, TopologyConfig(kind="cif", cif_skip=skip, cif_skip_penalty=pen))
    for frames in _all_inputs(4):
        got = _run(T, frames)
        n_blank = frames.count(0)
        if n_blank and not skip:
            assert got == {}
        else:
            # no merging of repeats: each non-blank row is one token; each blank row a skipped slot
            assert got == {tuple(t for t in frames if t): pytest.approx(pen * n_blank)}, frames


def test_bad_topology():
    with pytest.raises(ValueError, match="unknown topology"):
        make_topology_fst(3, TopologyConfig(kind="hmm"))
    with pytest.raises(ValueError, match="at least"):
        make_topology_fst(1, TopologyConfig())
