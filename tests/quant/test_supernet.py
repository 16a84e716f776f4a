"""Switchable-precision supernet: switching, transitional BNs, training, scoring."""

from __future__ import annotations

import pytest
import torch

from codesign.core.errors import ConfigError
from codesign.quant.supernet import Supernet, SupernetSchedule, TransitionalBN, train_supernet
from codesign.quant.train import evaluate

from ..conftest import SN_RUN


def test_transitional_bn_per_pair_and_switching(trained):
    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (2, 4, 8))
    tbns = [mod for mod in sn.modules() if isinstance(mod, TransitionalBN)]
    assert len(tbns) == 4  # every conv but the final linear is followed by a BN
    assert all(len(t.bns) == 9 for t in tbns)
    n = len(g.quantizable)
    sn.set_config([4] * n, [2] * n)
    assert all(t.current == "a4_w2" for t in tbns)
    x = d.test.tensors[0][:32]
    sn.eval()
    out_42 = sn(x)
    sn.set_uniform(8, 8)
    assert not torch.allclose(out_42, sn(x))
    with pytest.raises(ConfigError, match=r"not a3/w\[8\]"):
        sn.set_config([3] * n, [8] * n)
    with pytest.raises(ConfigError, match="5 layers"):
        sn.set_config([8], [8])


def test_training_makes_low_bits_usable(trained):
    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (2, 4, 8))
    n = len(g.quantizable)
    before = sn.accuracy([2] * n, [2] * n, d.val)
    train_supernet(sn, d.train, SupernetSchedule(steps=250), seed=0)
    after_low = sn.accuracy([2] * n, [2] * n, d.val)
    after_high = sn.accuracy([8] * n, [8] * n, d.val)
    assert after_low > before + 10.0
    assert after_high > evaluate(m, d.val) - 3.0
    assert after_high >= after_low - 1.0


# the same workload, hardware, seed and supernet steps: a second run finds the checkpoint
def test_explore_with_supernet_estimator(supernet_run, results_dir, run_explore):
    import json

    info = json.loads((supernet_run.run_dir / "run.json").read_text())
    assert info["estimator"] == "supernet" and info["status"] == "complete"
    assert not info["supernet"]["cached"]
    front = supernet_run.front
    assert all(front.est_accuracy(c) is not None for c in front.candidates)
    # the supernet trained the steps asked for, not the default 2,000
    assert info["supernet"]["steps"] == SN_RUN["supernet_steps"] != 2000
    again = run_explore(**SN_RUN, finetune_top=0, out=results_dir / "sn-run2")
    info2 = json.loads((again.run_dir / "run.json").read_text())
    assert info2["supernet"]["cached"] and info2["supernet"]["path"] == info["supernet"]["path"]


def test_recalibration_measures_the_statistics_of_the_configuration_it_scores(trained):
    m, g, d = trained
    sn = Supernet(m, g, (2, 4, 8), (0, 2, 4, 8)).eval()
    n = len(g.quantizable)
    k0 = g.quantizable[0].K
    first = tuple([0] * (k0 // 2) + [4] * (k0 - k0 // 2))  # half of conv1's channels pruned
    act, wts = [4] * n, [first, *([2] * (n - 1))]
    x = d.train.tensors[0][:256]
    tbns = [mod for mod in sn.modules() if isinstance(mod, TransitionalBN)]
    running = [t.state_dict() for t in tbns]
    seen: list[torch.Tensor] = []
    hooks = [t.register_forward_hook(lambda mod, i, o: seen.append(i[0])) for t in tbns]
    sn.set_config(act, wts)
    sn.recalibrate(x)
    outs = []
    hooks += [t.register_forward_hook(lambda mod, i, o: outs.append(o)) for t in tbns]
    seen.clear()
    sn(x)
    for t, inp, out in zip(tbns, seen, outs):
        dims = [0, *range(2, inp.dim())]
        scale, shift = t.affine()
        # on the batch it was measured on, every channel comes out with the BN's own shift as
        # its mean and |scale| as its spread; a pruned channel is exactly 0
        assert torch.allclose(out.mean(dims), shift, atol=1e-4)
        live = scale != 0
        assert torch.allclose(out.std(dims, unbiased=False)[live], scale.abs()[live], rtol=1e-2)
    assert bool((outs[0][:, : k0 // 2] == 0).all())
    for h in hooks:
        h.remove()
    # the running statistics training learnt are untouched, and the next configuration starts
    # from them again
    assert all(
        torch.equal(a[k], b[k]) for t, a in zip(tbns, running) for b in [t.state_dict()] for k in a
    )
    sn.set_config(act, wts)
    assert all(t.stats is None for t in tbns)
    before = sn.accuracy(act, wts, d.val)
    recal = sn.accuracy(act, wts, d.val, calibration=x)
    assert sn.accuracy(act, wts, d.val) == before and 0.0 <= recal <= 100.0
