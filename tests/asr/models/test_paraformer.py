"""Paraformer: shapes and gradients of every part, decreasing loss on a tiny batch it can overfit, the glancing
sampler's counts, config round trips and errors."""

from __future__ import annotations

import pytest
import torch

from asr.errors import InputError
from asr.models import ExperimentConfig, Paraformer, count_parameters, load_config, save_config
from asr.models.config import DecoderConfig, config_from_dict, config_to_dict
from asr.models.decoder import ParaformerDecoder, glancing_sample
from asr.models.interctc import SubwordMap, subword_hierarchy
from asr.models.masks import lengths_to_mask

V = 30


def small_cfg(kind="san_m", ctc=0.0, ts=True):
    cfg = ExperimentConfig()
    m = cfg.model
    m.encoder.kind = kind
    m.encoder.d_model, m.encoder.num_layers, m.encoder.ffn_dim, m.encoder.num_heads = 64, 2, 128, 4
    m.decoder.num_layers, m.decoder.ffn_dim = 1, 128
    m.ctc_weight = ctc
    m.timestamp.enabled = ts
    return cfg


def batch(g):
    feats = torch.randn(3, 24, 560, generator=g)
    lens = torch.tensor([24, 18, 9])
    tokens = torch.randint(1, V, (3, 6), generator=g)
    tlens = torch.tensor([6, 4, 2])
    tokens[1, 4:] = -1
    tokens[2, 2:] = -1
    return feats, lens, tokens, tlens


@pytest.mark.parametrize(
    "kind,ctc,ts", [("san_m", 0.0, True), ("conformer", 0.3, False), ("san_m", 0.3, True)]
)
def test_forward_backward_and_recognize_shapes(kind, ctc, ts):
    torch.manual_seed(0)
    model = Paraformer(small_cfg(kind, ctc, ts).model, V)
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(0))
    losses = model(feats, lens, tokens, tlens)
    assert {"loss", "ce", "mae", "acc"} <= set(losses)
    assert ("ctc" in losses) == (ctc > 0) and ("mae_ts" in losses) == ts
    assert all(v.dim() == 0 and torch.isfinite(v) for v in losses.values())
    losses["loss"].backward()
    no_grad = [n for n, p in model.named_parameters() if p.grad is None]
    assert no_grad == []
    model.eval()
    rec = model.recognize(feats, lens)
    u = int(rec.token_lens.max())
    assert rec.log_probs.shape == (3, u, V) and rec.spans.shape == (3, u, 2)
    torch.testing.assert_close(rec.log_probs.exp().sum(-1), torch.ones(3, u))
    for i in range(3):
        n = int(rec.token_lens[i])
        s = rec.spans[i, :n]
        assert (s[:, 0] <= s[:, 1]).all() and (s[:, 1] <= lens[i]).all() and (s[:, 0] >= 0).all()


def test_padding_does_not_change_an_utterance():
    torch.manual_seed(0)
    model = Paraformer(small_cfg().model, V).eval()
    g = torch.Generator().manual_seed(3)
    feats = torch.randn(1, 15, 560, generator=g)
    alone = model.recognize(feats, torch.tensor([15]))
    padded = torch.cat([feats, torch.randn(1, 9, 560, generator=g)], dim=1)
    both = model.recognize(torch.cat([padded, torch.randn(1, 24, 560, generator=g)]), torch.tensor([15, 24]))
    n = int(alone.token_lens[0])
    assert int(both.token_lens[0]) == n
    torch.testing.assert_close(both.log_probs[0, :n], alone.log_probs[0, :n], atol=1e-4, rtol=1e-4)


def test_loss_decreases_on_a_tiny_batch():
    torch.manual_seed(0)
    cfg = small_cfg()
    cfg.model.encoder.dropout = cfg.model.decoder.dropout = cfg.model.predictor.dropout = 0.0
    model = Paraformer(cfg.model, V)
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(1))
    opt = torch.optim.Adam(model.parameters(), lr=2e-3)
    first = None
    for _ in range(60):
        losses = model(feats, lens, tokens, tlens)
        opt.zero_grad()
        losses["loss"].backward()
        opt.step()
        first = first if first is not None else {k: float(v.detach()) for k, v in losses.items()}
    last = {k: float(v.detach()) for k, v in model(feats, lens, tokens, tlens).items()}
    assert last["ce"] < 0.3 * first["ce"] and last["mae"] < 0.5 * first["mae"]
    model.eval()
    rec = model.recognize(feats, lens)
    assert rec.token_lens.tolist() == tlens.tolist()  # the predictor learned the counts
    hyp = rec.log_probs.argmax(-1)
    assert all(hyp[i, : tlens[i]].tolist() == tokens[i, : tlens[i]].tolist() for i in range(3))


def test_glancing_sampler_counts():
    torch.manual_seed(0)
    dec = ParaformerDecoder(V, 16, DecoderConfig(num_layers=1, num_heads=2, ffn_dim=32))
    embeds = torch.randn(2, 5, 16)
    targets = torch.tensor([[1, 2, 3, 4, 5], [6, 7, -1, -1, -1]])
    tlens = torch.tensor([5, 2])
    memory, mlens = torch.randn(2, 7, 16), torch.tensor([7, 4])
    with torch.no_grad():
        pred = dec(embeds, tlens, memory, mlens).argmax(-1)
    wrong = ((pred != targets) & (targets >= 0)).sum(-1)
    mixed = glancing_sample(dec, embeds, tlens, memory, mlens, targets, 1.0)
    replaced = (mixed != embeds).any(-1)
    assert replaced.sum(-1).tolist() == wrong.tolist()
    assert not replaced[1, 2:].any()  # padding never sampled
    tgt = dec.embed(targets.clamp(min=0))
    torch.testing.assert_close(mixed[replaced], tgt[replaced])
    assert torch.equal(glancing_sample(dec, embeds, tlens, memory, mlens, targets, 0.0), embeds)


def test_config_round_trip_and_errors(tmp_path):
    cfg = load_config("asr/models/configs/tiny.yaml")
    assert 1e6 < count_parameters(Paraformer(cfg.model, 500)) < 5e6
    save_config(cfg, tmp_path / "c.yaml")
    assert load_config(tmp_path / "c.yaml") == cfg
    d = config_to_dict(cfg)
    d["model"]["encoder"]["d_modle"] = 3
    with pytest.raises(InputError, match="model.encoder.d_modle"):
        config_from_dict(ExperimentConfig, d, "x.yaml")
    (tmp_path / "bad.yaml").write_text("model:\n  encoder:\n    kind: lstm\n")
    with pytest.raises(InputError, match="bad.yaml.*model.encoder.kind"):
        load_config(tmp_path / "bad.yaml")
    (tmp_path / "bad2.yaml").write_text("model:\n  encoder:\n    input_dim: 80\n")
    with pytest.raises(InputError, match="input_dim"):
        load_config(tmp_path / "bad2.yaml")
    (tmp_path / "bad3.yaml").write_text("train:\n  epochs: ten\n")
    with pytest.raises(InputError, match="train.epochs"):
        load_config(tmp_path / "bad3.yaml")
    (tmp_path / "bad4.yaml").write_text("train:\n  cache_max_gb: 0\n")
    with pytest.raises(InputError, match="bad4.yaml.*train.cache_max_gb"):
        load_config(tmp_path / "bad4.yaml")
    (tmp_path / "nocap.yaml").write_text("train:\n  cache_max_gb: null\n")
    assert load_config(tmp_path / "nocap.yaml").train.cache_max_gb is None
    (tmp_path / "bad5.yaml").write_text("train:\n  bpe_dropout: 1.5\n")
    with pytest.raises(InputError, match="bad5.yaml.*train.bpe_dropout=1.5 must be in"):
        load_config(tmp_path / "bad5.yaml")


def test_eval_forward_has_no_glancing():
    torch.manual_seed(0)
    model = Paraformer(small_cfg().model, V).eval()
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(0))
    a = model(feats, lens, tokens, tlens)
    b = model(feats, lens, tokens, tlens)  # glancing would draw new random slots
    assert all(torch.equal(a[k], b[k]) for k in a)
    pred = model.predictor(model.encode(feats, lens)[0], lens, tlens)
    hidden, hlens = model.encode(feats, lens)
    logits = model.decoder(pred.embeds, tlens, hidden, hlens)
    valid = tokens >= 0
    acc = ((logits.argmax(-1) == tokens) & valid).sum() / valid.sum()
    torch.testing.assert_close(a["acc"], acc.float())


def test_config_base_chain_overrides_and_errors(tmp_path):
    """``base:`` takes a shipped config or a YAML file; the file's keys override it mapping by mapping."""
    tiny = load_config("asr/models/configs/tiny.yaml")
    (tmp_path / "a.yaml").write_text(
        "base: tiny\ntrain:\n  epochs: 3\nmodel:\n  encoder:\n    num_layers: 2\n"
    )
    a = load_config(tmp_path / "a.yaml")
    assert a.train.epochs == 3 and a.model.encoder.num_layers == 2
    assert a.train.lr == tiny.train.lr and a.model.encoder.d_model == tiny.model.encoder.d_model
    (tmp_path / "b.yaml").write_text("base: a.yaml\ntrain: {lr: 0.01}\n")  # a chain, relative to the file
    b = load_config(tmp_path / "b.yaml")
    assert (b.train.epochs, b.train.lr, b.model.encoder.num_layers) == (3, 0.01, 2)
    (tmp_path / "c.yaml").write_text("base: d.yaml\n")
    (tmp_path / "d.yaml").write_text("base: c.yaml\n")
    with pytest.raises(InputError, match="cycle"):
        load_config(tmp_path / "c.yaml")
    (tmp_path / "e.yaml").write_text("base: tinyy\n")
    with pytest.raises(InputError, match=r"e\.yaml.*'tinyy' is neither a shipped config"):
        load_config(tmp_path / "e.yaml")


def test_recipe_configs_resolve():
    """Every recipe config (conf/*.yaml) loads through its base."""
    from pathlib import Path

    confs = sorted(Path("egs").glob("*/asr/conf/*.yaml"))
    assert len(confs) >= 4
    for conf in confs:
        load_config(conf)


def finish_blocks(model, kind, x, mask, feats, lens, tokens, tlens):
    """From the last block's output ``x`` of a block-by-block run: the encoder output (checked against
    ``encode``), the final CTC loss, and the model's CTC-only losses (their ``ctc`` checked to be that loss)."""
    hidden = (model.encoder.norm(x) if kind == "san_m" else x) * mask[:, :, None]
    torch.testing.assert_close(model.encode(feats, lens)[0], hidden)
    final = model.ctc.loss(hidden, lens, tokens, tlens)
    out = model(feats, lens, tokens, tlens, ctc_only=True)
    torch.testing.assert_close(out["ctc"], final)
    return final, out


def run_blocks(model, kind, feats, lens, tokens, tlens, after):
    """Run the encoder block by block, ``x = after(i, x)`` after each block below the last, then
    :func:`finish_blocks`."""
    enc = model.encoder
    mask = lengths_to_mask(lens, feats.shape[1])
    x = enc.input(feats)
    for i, layer in enumerate(enc.layers, start=1):
        x = layer(x, mask)
        if i < len(enc.layers):
            x = after(i, x)
    return finish_blocks(model, kind, x, mask, feats, lens, tokens, tlens)


def interctc_model(kind, conditioning, seed=0):
    cfg = small_cfg(kind, ctc=0.5)
    cfg.model.encoder.num_layers = 3
    cfg.model.interctc_layers = [1, 2]
    cfg.model.interctc_weight = 0.4
    cfg.model.interctc_conditioning = conditioning
    torch.manual_seed(seed)
    return Paraformer(cfg.model, V).eval()


@pytest.mark.parametrize("kind", ["conformer", "san_m"])
@pytest.mark.parametrize("conditioning", [False, True])
def test_intermediate_ctc_loss_and_self_conditioning(kind, conditioning):
    """The intermediate CTC losses are the CTC head on blocks 1 and 2 (run here block by block), mixed as
    (1 - w) * final + w * mean; with self-conditioning their posteriors, projected, join the next block's input,
    and ``encode`` (what inference calls) applies it too."""
    model = interctc_model(kind, conditioning)
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(2))
    mids = []

    def after(i, x):
        lp = model.ctc(model.encoder.intermediate_norm(x))
        mids.append(model.ctc.loss_from_log_probs(lp, lens, tokens, tlens))
        return x + model.interctc_cond(lp.exp()) if conditioning else x

    final, out = run_blocks(model, kind, feats, lens, tokens, tlens, after)
    torch.testing.assert_close(out["loss"], 0.6 * final + 0.4 * (mids[0] + mids[1]) / 2)
    assert (model.interctc_cond is not None) == conditioning
    # without conditioning the intermediate CTC changes the loss, not the encoder's output
    plain = Paraformer(small_cfg(kind, ctc=0.5).model, V)
    assert "interctc_cond.weight" not in plain.state_dict()


def test_intermediate_ctc_config_errors(tmp_path):
    bad = {
        "a.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [4]\n",
            r"interctc_layers=\[4\]: distinct blocks",
        ),
        "b.yaml": ("model:\n  ctc_weight: 0.5\n  interctc_layers: [2, 2]\n", "distinct blocks in 1..3"),
        "c.yaml": ("model:\n  ctc_weight: 0.0\n  interctc_layers: [2]\n", "needs the CTC head"),
        "d.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_conditioning: true\n",
            "needs model.interctc_layers",
        ),
        "e.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [2]\n  interctc_weight: 1.0\n",
            r"in \(0, 1\)",
        ),
        "f.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_vocab: 100\n",
            "interctc_vocab needs model.interctc_layers",
        ),
        "g.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [2]\n  interctc_vocab: 2\n",
            "interctc_vocab=2: 0 .share the CTC head. or at least 3",
        ),
        "h.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [1, 2]\n  interctc_vocabs: [20]\n",
            r"interctc_vocabs=\[20\]: one size of at least 3 per entry of model.interctc_layers=\[1, 2\]",
        ),
        "i.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [1, 2]\n  interctc_vocabs: [20, 2]\n",
            "one size of at least 3 per entry",
        ),
        "j.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [1]\n  interctc_vocab: 9\n  interctc_vocabs: [20]\n",
            "set one of them",
        ),
        "k.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_vocabs: [20]\n",
            "interctc_vocabs needs model.interctc_layers",
        ),
        "l.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [1]\n  interctc_vocabs: [20]\n"
            "  interctc_phone_layers: [2]\n",
            r"interctc_phone_layers=\[2\]: entries of model.interctc_layers=\[1\]",
        ),
        "m.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_layers: [1]\n  interctc_phone_layers: [1]\n",
            "with model.interctc_vocabs giving each block",
        ),
        "n.yaml": (
            "model:\n  ctc_weight: 0.5\n  interctc_phone_layers: [1]\n",
            "interctc_phone_layers needs model.interctc_layers",
        ),
    }
    for name, (text, message) in bad.items():
        (tmp_path / name).write_text("base: tiny\n" + text)
        with pytest.raises(InputError, match=f"{name}.*{message}"):
            load_config(tmp_path / name)


# a tokens.txt of V = 30 symbols: specials, merged pieces, characters
HC_SYMBOLS = [
    "<blk>",
    "<sos/eos>",
    "<unk>",
    "▁t",
    "▁a",
    "he",
    "▁the",
    "in",
    "▁in",
    "er",
    "▁s",
    "on",
    "▁c",
    "at",
]
HC_SYMBOLS += ["▁", "e", "t", "a", "o", "i", "n", "r", "s", "h", "l", "d", "c", "u", "m", "f"]


@pytest.mark.parametrize("kind", ["conformer", "san_m"])
def test_hierarchical_conditional_ctc(kind):
    """With ``model.interctc_vocab`` the intermediate blocks have their own smaller head, trained against the
    targets spelled in the derived vocabulary, and condition the next block through ``Linear(K -> D)``; inference
    needs no symbols."""
    assert len(HC_SYMBOLS) == V
    cfg = small_cfg(kind, ctc=0.5)
    cfg.model.encoder.num_layers = 3
    cfg.model.interctc_layers = [1]
    cfg.model.interctc_weight = 0.25
    cfg.model.interctc_conditioning = True
    cfg.model.interctc_vocab = 20
    torch.manual_seed(0)
    model = Paraformer(cfg.model, V).eval()
    assert model.interctc_head.proj.out_features == 20 and model.interctc_cond.in_features == 20
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(2))
    tokens = tokens.clamp(min=3)  # no specials
    tokens[1, 4:] = -1
    tokens[2, 2:] = -1
    with pytest.raises(RuntimeError, match="bind_symbols"):
        model(feats, lens, tokens, tlens, ctc_only=True)
    with pytest.raises(ValueError, match="29 symbols for a model of vocabulary 30"):
        model.bind_symbols(HC_SYMBOLS[:-1])
    model.bind_symbols(HC_SYMBOLS)
    aux, spelling = subword_hierarchy(HC_SYMBOLS, 20)
    assert model.interctc_map.symbols == aux
    # block by block
    mids = []

    def after(i, x):
        if i != 1:
            return x
        lp = model.interctc_head(model.encoder.intermediate_norm(x))
        assert lp.shape[-1] == 20
        spelled = [[j for v in tokens[b, : tlens[b]].tolist() for j in spelling[v]] for b in range(3)]
        aux_t = torch.full((3, max(map(len, spelled))), -1)
        for b, sp in enumerate(spelled):
            aux_t[b, : len(sp)] = torch.tensor(sp)
        aux_l = torch.tensor([len(sp) for sp in spelled])
        assert (aux_l > tlens).any()  # some tokens are spelled in several pieces
        mids.append(model.interctc_head.loss_from_log_probs(lp, lens, aux_t, aux_l))
        return x + model.interctc_cond(lp.exp())

    final, out = run_blocks(model, kind, feats, lens, tokens, tlens, after)
    torch.testing.assert_close(out["loss"], 0.75 * final + 0.25 * mids[0])
    # trains end to end, the intermediate head included
    model.train()
    out = model(feats, lens, tokens, tlens)
    out["loss"].backward()
    assert model.interctc_head.proj.weight.grad.abs().sum() > 0
    # a fresh model of the same config loads the weights and recognizes without symbols
    fresh = Paraformer(cfg.model, V).eval()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.encode(feats, lens)[0], model.eval().encode(feats, lens)[0])
    assert fresh.recognize(feats, lens).log_probs.shape[0] == 3


@pytest.mark.parametrize("kind", ["conformer", "san_m"])
def test_hierarchical_ctc_with_a_vocabulary_per_block(kind):
    """``model.interctc_vocabs``: each intermediate block has its own head and conditioning over its own derived
    vocabulary, paired with ``interctc_layers`` in the order listed (here block 2 gets 20 symbols, block 1 gets
    12), the targets spelled in each; the loss mixes their mean in."""
    cfg = small_cfg(kind, ctc=0.5)
    cfg.model.encoder.num_layers = 3
    cfg.model.interctc_layers = [2, 1]
    cfg.model.interctc_vocabs = [20, 12]
    cfg.model.interctc_weight = 0.4
    cfg.model.interctc_conditioning = True
    torch.manual_seed(0)
    model = Paraformer(cfg.model, V).eval()
    assert model.interctc_head is None and model.interctc_cond is None and model.interctc_map is None
    assert [h.proj.out_features for h in model.interctc_heads] == [20, 12]
    assert [c.in_features for c in model.interctc_conds] == [20, 12]
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(2))
    tokens = tokens.clamp(min=3)
    tokens[1, 4:] = -1
    with pytest.raises(RuntimeError, match="bind_symbols"):
        model(feats, lens, tokens, tlens, ctc_only=True)
    model.bind_symbols(HC_SYMBOLS)
    assert [len(m.symbols) for m in model.interctc_maps] == [20, 12]

    def spelled(size):
        _, spelling = subword_hierarchy(HC_SYMBOLS, size)
        rows = [[j for v in tokens[b, : tlens[b]].tolist() for j in spelling[v]] for b in range(3)]
        out = torch.full((3, max(map(len, rows))), -1)
        for b, r in enumerate(rows):
            out[b, : len(r)] = torch.tensor(r)
        return out, torch.tensor([len(r) for r in rows])

    mids = []

    def after(i, x):
        level = 1 if i == 1 else 0  # block 1 is listed second
        lp = model.interctc_heads[level](model.encoder.intermediate_norm(x))
        assert lp.shape[-1] == (12 if i == 1 else 20)
        mids.append(model.interctc_heads[level].loss_from_log_probs(lp, lens, *spelled(lp.shape[-1])))
        return x + model.interctc_conds[level](lp.exp())

    final, out = run_blocks(model, kind, feats, lens, tokens, tlens, after)
    torch.testing.assert_close(out["loss"], 0.6 * final + 0.4 * (mids[0] + mids[1]) / 2)
    model.train()
    model(feats, lens, tokens, tlens)["loss"].backward()
    assert all(h.proj.weight.grad.abs().sum() > 0 for h in model.interctc_heads)
    fresh = Paraformer(cfg.model, V).eval()
    fresh.load_state_dict(model.state_dict())
    torch.testing.assert_close(fresh.encode(feats, lens)[0], model.eval().encode(feats, lens)[0])


def test_phone_level_intermediate_ctc():
    """``model.interctc_phone_layers``: the listed block's intermediate CTC is trained on the phones of the target
    words (``PhoneMap``), the other block on its derived subwords; the phone head's size must be the lexicon's
    phones + 2, and a phone layer needs the lexicon."""
    from asr.models.interctc import PhoneMap

    cfg = small_cfg("conformer", ctc=0.5)
    cfg.model.encoder.num_layers = 3
    cfg.model.interctc_layers = [1, 2]
    cfg.model.interctc_vocabs = [6, 20]
    cfg.model.interctc_phone_layers = [1]
    cfg.model.interctc_weight = 0.4
    cfg.model.interctc_conditioning = True
    torch.manual_seed(0)
    model = Paraformer(cfg.model, V).eval()
    with pytest.raises(ValueError, match="needs a pronunciation lexicon"):
        model.bind_symbols(HC_SYMBOLS)
    words = ["t", "a", "the", "in", "s", "c", "he", "er", "on", "at"]
    lexicon = {w: [["P", "Q", "R", "S"][(i + j) % 4] for j in range(1 + i % 3)] for i, w in enumerate(words)}
    with pytest.raises(ValueError, match="has 6 symbols .* the lexicon 3 phones: set it to 5"):
        model.bind_symbols(HC_SYMBOLS, (lexicon, ["P", "Q", "R"]))
    model.bind_symbols(HC_SYMBOLS, (lexicon, ["P", "Q", "R", "S"]))
    assert isinstance(model.interctc_maps[0], PhoneMap) and isinstance(model.interctc_maps[1], SubwordMap)
    # targets: word-start pieces, each followed by a continuation piece or not
    tokens = torch.tensor([[6, 4, 8, 11, 3, 5], [10, 12, 3, -1, -1, -1], [4, 9, -1, -1, -1, -1]])
    tlens = torch.tensor([6, 3, 2])
    feats, lens, _, _ = batch(torch.Generator().manual_seed(2))
    pmap = model.interctc_maps[0]
    assert [pmap.words(tokens[b, : tlens[b]].tolist()) for b in range(3)] == [
        ["the", "a", "inon", "the"],
        ["s", "c", "t"],
        ["aer"],
    ]
    phones = {p: j for j, p in enumerate(["<blk>", "<unk>", "P", "Q", "R", "S"])}
    rows = [
        [phones[p] for p in lexicon["the"]]
        + [phones[p] for p in lexicon["a"]]
        + [1]
        + [phones[p] for p in lexicon["the"]],
        [phones[p] for w in ("s", "c", "t") for p in lexicon[w]],
        [1],
    ]
    ph_targets = torch.full((3, max(map(len, rows))), -1)
    for b, r in enumerate(rows):
        ph_targets[b, : len(r)] = torch.tensor(r)
    ph_lens = torch.tensor([len(r) for r in rows])
    _, spelling = subword_hierarchy(HC_SYMBOLS, 20)
    sub_rows = [[j for v in tokens[b, : tlens[b]].tolist() for j in spelling[v]] for b in range(3)]
    sub = torch.full((3, max(map(len, sub_rows))), -1)
    for b, r in enumerate(sub_rows):
        sub[b, : len(r)] = torch.tensor(r)
    sub_lens = torch.tensor([len(r) for r in sub_rows])
    mids = []

    def after(i, x):
        lp = model.interctc_heads[i - 1](model.encoder.intermediate_norm(x))
        assert lp.shape[-1] == (6 if i == 1 else 20)
        targets = (ph_targets, ph_lens) if i == 1 else (sub, sub_lens)
        mids.append(model.interctc_heads[i - 1].loss_from_log_probs(lp, lens, *targets))
        return x + model.interctc_conds[i - 1](lp.exp())

    final, out = run_blocks(model, "conformer", feats, lens, tokens, tlens, after)
    torch.testing.assert_close(out["loss"], 0.6 * final + 0.4 * (mids[0] + mids[1]) / 2)


def test_freq_conv_input_is_two_mel_axis_convolutions():
    """FreqConvInput (unfold + matmul) against the same two convolutions computed by F.conv1d over the mel axis,
    the 7 stacked frames as input channels."""
    import torch.nn.functional as F

    from asr.models.masks import sinusoidal_positions
    from asr.models.san_m import FreqConvInput

    torch.manual_seed(0)
    layer = FreqConvInput(7 * 80, 80, [6, 5], 32, 0.0)
    x = torch.randn(2, 9, 7 * 80)
    h = x.reshape(18, 7, 80)
    h = F.silu(F.conv1d(h, layer.conv1.weight.reshape(6, 7, 5), layer.conv1.bias, stride=2, padding=2))
    assert h.shape == (18, 6, 40)
    h = F.silu(F.conv1d(h, layer.conv2.weight.reshape(5, 6, 3), layer.conv2.bias, stride=2, padding=1))
    assert h.shape == (18, 5, 20)
    want = layer.norm(layer.linear(h.transpose(1, 2).reshape(2, 9, 100)))
    want = want + sinusoidal_positions(9, 32, x.device, x.dtype)[None]
    torch.testing.assert_close(layer(x), want)
    # an odd bin count keeps ceil(bins / 4) bins
    odd = FreqConvInput(5 * 23, 23, [2, 3], 8, 0.0)
    assert odd.linear.in_features == 3 * 6 and odd(torch.randn(1, 4, 115)).shape == (1, 4, 8)


@pytest.mark.parametrize("kind", ["san_m", "conformer"])
def test_freq_conv_encoder_trains_and_keeps_padding_exact(kind):
    torch.manual_seed(0)
    cfg = small_cfg(kind, ctc=0.3)
    cfg.model.encoder.input_layer = "freq_conv"
    cfg.model.encoder.input_channels = [4, 8]
    model = Paraformer(cfg.model, V)
    assert {"encoder.input.conv1.weight", "encoder.input.conv2.weight"} <= set(model.state_dict())
    feats, lens, tokens, tlens = batch(torch.Generator().manual_seed(0))
    losses = model(feats, lens, tokens, tlens)
    losses["loss"].backward()
    assert [n for n, p in model.named_parameters() if p.grad is None] == []
    assert model.encoder.input.conv1.weight.grad.abs().sum() > 0
    model.eval()
    alone, _ = model.encode(feats[2:, :9], lens[2:])
    padded, _ = model.encode(feats, lens)
    torch.testing.assert_close(padded[2, :9], alone[0], atol=1e-5, rtol=1e-5)
    # a linear-input checkpoint does not load into it
    plain = Paraformer(small_cfg(kind, ctc=0.3).model, V)
    with pytest.raises(RuntimeError, match="encoder.input.conv1"):
        plain.load_state_dict(model.state_dict())


def test_freq_conv_config_errors(tmp_path):
    bad = {
        "a.yaml": (
            "model:\n  encoder:\n    input_layer: freq_conv\n    input_bins: 40\n",
            "input_bins=40 but frontend.input_dim=80",
        ),
        "b.yaml": (
            "model:\n  encoder:\n    input_layer: freq_conv\n    input_channels: [8]\n",
            r"input_channels=\[8\]: two positive channel counts",
        ),
        "c.yaml": (
            "model:\n  encoder:\n    input_layer: freq_conv\n    scale_input: true\n",
            "scale_input applies to input_layer: linear only",
        ),
        "d.yaml": ("model:\n  encoder:\n    input_layer: conv2d\n", "model.encoder.input_layer"),
    }
    for name, (text, match) in bad.items():
        (tmp_path / name).write_text(text)
        with pytest.raises(InputError, match=f"{name}.*{match}"):
            load_config(tmp_path / name)
    (tmp_path / "ok.yaml").write_text("model:\n  encoder:\n    input_layer: freq_conv\n")
    assert load_config(tmp_path / "ok.yaml").model.encoder.input_channels == [16, 32]
