"""Fine-tune recipes, batch-norm re-estimation, switching a quantized model's bits in place."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from codesign.quant import apply_config
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.fakequant import quant_layers, reestimate_bn
from codesign.quant.train import (
    FinetuneRecipe,
    _progressive_phases,
    evaluate,
    finetune,
)


def _uniform(g, a, w):
    return QuantConfig(
        "digits_cnn",
        tuple(LayerQuant(s.name, s.source, s.kind.value, a, (w,) * s.K) for s in g.quantizable),
    )


def test_recipe_parsing():
    r = FinetuneRecipe.parse("kd+progressive", steps=50)
    assert r.distill and r.progressive and r.stochastic == 0 and r.steps == 50
    assert r.name == "kd+progressive"
    assert FinetuneRecipe.parse("qat").name == "qat"
    with pytest.raises(ValueError, match="distil"):
        FinetuneRecipe.parse("kd+distil")


def test_a_recipe_names_its_learning_rate():
    r = FinetuneRecipe.parse("kd+lr=3e-3", steps=50)
    assert r.distill and r.lr == 3e-3 and r.name == "kd+lr=0.003"
    assert FinetuneRecipe.parse("lr=0.01").name == "lr=0.01"
    assert FinetuneRecipe.parse(FinetuneRecipe.parse("kd+lr=3e-3").name).lr == 3e-3
    for bad, match in (("kd+lr=fast", "not a number"), ("lr=0", r"\(0, 1\)"), ("lr=nan", "1")):
        with pytest.raises(ValueError, match=match):
            FinetuneRecipe.parse(bad)


def test_progressive_phases_lower_bits_stepwise(trained):
    _, g, _ = trained
    cfg = _uniform(g, 2, 2)
    phases = _progressive_phases(cfg, 120)
    starts = [s for s, _ in phases]
    assert starts == sorted(starts) and starts[0] == 0
    first = next(iter(phases[0][1].values()))
    last = next(iter(phases[-1][1].values()))
    assert first.act_bits is None and set(first.weight_bits) == {8}  # weights first, from 8
    assert last.act_bits == 2 and set(last.weight_bits) == {2}
    wbits = [max(next(iter(ph.values())).weight_bits) for _, ph in phases]
    assert wbits[: wbits.index(2) + 1] == [8, 4, 2]  # lowered stepwise


@pytest.mark.parametrize("recipe", ["qat", "kd", "kd+progressive", "stochastic"])
def test_every_recipe_recovers_a_w4a4_model(trained, recipe):
    m, g, d = trained
    fp = evaluate(m, d.test)
    res = finetune(m, _uniform(g, 4, 4), d.train, d.test, FinetuneRecipe.parse(recipe, 80))
    assert res.accuracy > fp - 8.0, (recipe, res, fp)


def test_finetune_beats_ptq_at_two_bits(trained):
    m, g, d = trained
    res = finetune(m, _uniform(g, 2, 2), d.train, d.test, FinetuneRecipe(steps=150, distill=True))
    assert res.accuracy > res.ptq_accuracy + 5.0


def test_bn_reestimation_matches_batch_statistics():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Conv2d(1, 3, 3), nn.BatchNorm2d(3))
    x = torch.randn(64, 1, 6, 6) * 3 + 1
    reestimate_bn(model, x, batch_size=16)
    y = model[0](x)
    bn = model[1]
    assert torch.allclose(bn.running_mean, y.mean(dim=(0, 2, 3)), atol=1e-4)
    assert torch.allclose(bn.running_var, y.var(dim=(0, 2, 3), unbiased=True), rtol=0.05)
    assert not model.training and bn.momentum == 0.1


def test_apply_config_switches_in_place(trained):
    m, g, d = trained
    q = apply_config(m, _uniform(g, 8, 8))
    ids = {n: id(layer) for n, layer in quant_layers(q).items()}
    inner_w = {n: layer.inner.weight.data_ptr() for n, layer in quant_layers(q).items()}
    same = apply_config(q, _uniform(g, 2, 4), inplace=True)
    assert same is q
    after = quant_layers(q)
    assert {n: id(layer) for n, layer in after.items()} == ids  # nothing rebuilt
    assert {n: layer.inner.weight.data_ptr() for n, layer in after.items()} == inner_w
    assert all(
        layer.act_bits == 2 and set(layer.weight_bits.tolist()) == {4} for layer in after.values()
    )
    first = g.quantizable[0]
    apply_config(
        q,
        {first.source: LayerQuant(first.name, first.source, "conv", 8, (8,) * first.K)},
        inplace=True,
    )
    assert after[first.source].act_bits == 8
    assert all(
        layer.act_bits is None and not layer.quantize_weights
        for n, layer in after.items()
        if n != first.source
    )
