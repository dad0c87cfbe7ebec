"""Test helper: the total probability of every context of a model under ARPA back-off semantics."""

from __future__ import annotations


def context_sums(model) -> list[tuple[tuple[int, ...], float]]:
    """For the empty context and every n-gram that could be a context: (context ids, sum_w p(w | context))."""
    table = {}
    for n in range(1, model.order + 1):
        cols = model.columns(n)
        o = model.orders[n - 1]
        for row, lp, bo in zip(cols.tolist(), o.logprob, o.backoff):
            table[tuple(row)] = (lp, bo)
    vocab = model.vocab
    bos = vocab.index("<s>")
    targets = [i for i in range(len(vocab)) if i != bos]

    def logp(ctx: tuple[int, ...], w: int) -> float:
        if (*ctx, w) in table:
            return table[(*ctx, w)][0]
        if not ctx:
            raise AssertionError(f"word {vocab[w]} has no unigram")
        bo = table.get(ctx, (0.0, 0.0))[1]
        return bo + logp(ctx[1:], w)

    out = [((), sum(10 ** logp((), w) for w in targets))]
    for key in table:
        if len(key) < model.order and key[-1] != vocab.index("</s>"):
            out.append((key, sum(10 ** logp(key, w) for w in targets)))
    return out
