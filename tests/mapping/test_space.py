"""The mapspace's spatial unrollings: the greedy fill, exact and sub-array unrollings, and the
beam's moves of loop factors into and out of the array."""

from __future__ import annotations

import dataclasses

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.core.types import LayerSpec, MapperSettings
from codesign.cost.nest import Mappings, loop_bounds
from codesign.cost.spatial import evaluate, fill_cuts
from codesign.hw import load_hardware
from codesign.mapping.mapper import ENERGY_TIE_FAST, map_layer
from codesign.mapping.space import (
    DATAFLOWS,
    array_sides,
    expand_dataflows,
    neighbours,
    sample_mappings,
    unrolling,
    unrollings,
)

from ..strategies import conv_layers

NAMES = sorted(DATAFLOWS)
ARRAYS = st.sampled_from([(12, 14), (16, 16), (8, 8), (4, 32)])


@settings(max_examples=60, deadline=None)
@given(
    spec=conv_layers(),
    name=st.sampled_from(NAMES),
    array=ARRAYS,
    seed=st.integers(0, 99),
    groups=st.booleans(),
)
def test_unrollings_fit_the_array(spec, name, array, seed, groups):
    bounds, _, _, _ = loop_bounds(spec)
    rows, cols = array
    got = unrollings(name, bounds, rows, cols, groups, rng=np.random.default_rng(seed), partial=4)
    greedy = np.ones(6, dtype=np.int64)
    for side in unrolling(name, bounds, rows, cols, groups):
        for d, f in side.items():
            greedy[d] *= f
    assert (got[0] == greedy).all()  # the greedy fill comes first
    assert 1 <= len(got) <= 6
    assert len({v.tobytes() for v in got}) == len(got)  # distinct
    for v in got:
        sides = array_sides(name, v, rows, cols, groups)
        assert sides is not None, (name, v)
        r, c = sides
        assert np.prod(list(r.values()) or [1]) <= rows
        assert np.prod(list(c.values()) or [1]) <= cols
        merged = np.ones(6, dtype=np.int64)
        for side in sides:
            for d, f in side.items():
                merged[d] *= f
        assert (merged == v).all()  # the split multiplies back to the unrolling
    for v in got[1:]:  # all but the greedy fill divide their loops exactly
        assert (bounds % v == 0).all(), (bounds, v)


def test_array_sides_refuses_what_does_not_fit():
    s = np.array([1, 8, 1, 1, 1, 1])  # C8
    assert array_sides("unconstrained C|C", s, 12, 14) == ({1: 8}, {})
    assert array_sides("unconstrained C|C", np.array([1, 132, 1, 1, 1, 1]), 12, 14) == (
        {1: 12},
        {1: 11},
    )
    assert array_sides("unconstrained C|C", np.array([1, 13 * 13, 1, 1, 1, 1]), 12, 14) is None
    assert array_sides("weight_stationary", np.array([1, 1, 2, 1, 1, 1]), 12, 14) is None  # OY
    assert array_sides("weight_stationary", np.array([15, 1, 1, 1, 1, 1]), 12, 14) is None


@settings(max_examples=30, deadline=None)
@given(spec=conv_layers(), seed=st.integers(0, 99))
def test_spatial_moves_keep_every_loop_covered_and_fit(spec, seed):
    hw = load_hardware("eyeriss")
    bounds, _, _, _ = loop_bounds(spec)
    names = (*hw.dataflows, "unconstrained")
    m = sample_mappings(bounds, hw.rows, hw.cols, names, 20, seed, other_unrollings=0.5, partial=4)
    rows = np.arange(0, len(m), 7)
    plain = neighbours(m, rows)
    moved = neighbours(m, rows, array=(hw.rows, hw.cols), bounds=bounds)
    assert len(moved) >= len(plain)
    covered = moved.spatial * moved.temporal.prod(axis=2)
    assert (covered >= bounds).all()  # a move never drops part of a loop
    # nor runs a temporal loop past the loop's end: rows, columns and filter taps exactly
    # what the unrolling leaves, channels at most the 1.3x of imperfect factorisation
    need = -(-bounds // moved.spatial)
    steps = moved.temporal.prod(axis=2)
    assert (steps[:, 2:] == need[:, 2:]).all()
    assert (steps[:, :2] <= np.ceil(1.3 * need[:, :2])).all()
    for i in range(len(moved)):
        name = moved.names[int(moved.dataflow[i])]
        assert array_sides(name, moved.spatial[i], hw.rows, hw.cols) is not None
    # some moved mapping has an unrolling none of its base rows had
    base = {(int(d), s.tobytes()) for d, s in zip(m.dataflow[rows], m.spatial[rows])}
    new = {(int(d), s.tobytes()) for d, s in zip(moved.dataflow, moved.spatial)}
    assert new - base or (bounds == 1).all()


def test_other_unrollings_off_is_the_greedy_mapspace():
    hw = load_hardware("eyeriss")
    spec = LayerSpec.square_conv("c", 256, 128, out=14, filt=3, stride=2, pad=1, inp=28)
    bounds, _, _, _ = loop_bounds(spec)
    off = sample_mappings(bounds, hw.rows, hw.cols, hw.dataflows, 100, 0)
    on = sample_mappings(
        bounds, hw.rows, hw.cols, hw.dataflows, 100, 0, other_unrollings=0.5, partial=4
    )
    assert len(off) == len(on) == 300  # the same number of samples either way
    for d in range(3):
        assert len(np.unique(off.spatial[off.dataflow == d], axis=0)) == 1
        variants = np.unique(on.spatial[on.dataflow == d], axis=0)
        assert len(variants) >= 2
        # half the samples keep the greedy fill
        greedy = off.spatial[off.dataflow == d][0]
        assert (on.spatial[on.dataflow == d] == greedy).all(axis=1).sum() == 50


def _accelforge_conv4_1(names: tuple[str, ...]) -> Mappings:
    """AccelForge's energy-optimal mapping of ResNet-18's conv4_1 on Eyeriss at w8a8 (see
    benchmarks/bench_accelforge.py) in codesign's terms: input channels 8 over the rows only;
    per PE a 3x3 window, with 32 output channels x the 14 x 14 outputs run in it at level 1
    (the weights of 32 filters stay); 8 filter groups x 16 channel groups from DRAM."""
    sp = np.array([[1, 8, 1, 1, 1, 1]])
    t = np.ones((1, 6, 3), dtype=np.int64)
    t[0, 4, 0] = t[0, 5, 0] = 3
    t[0, 0, 1], t[0, 2, 1], t[0, 3, 1] = 32, 14, 14
    t[0, 0, 2], t[0, 1, 2] = 8, 16
    order = np.array([[5, 5, 2]])  # I-stationary, rows inner; the same; I-stationary (K inner)
    df = np.array([names.index("unconstrained C|C")])
    return Mappings(sp, t, order, df, names)


def test_output_first_allocation_keeps_all_partial_sums_on_chip():
    hw = dataclasses.replace(load_hardware("eyeriss"), input_registers=False)
    spec = LayerSpec.square_conv("conv4_1", 256, 128, out=14, filt=3, stride=2, pad=1, inp=28)
    m = _accelforge_conv4_1(expand_dataflows(("unconstrained",)))
    w_first = fill_cuts(spec, hw, m, 8, 8)
    o_first = fill_cuts(spec, hw, m, 8, 8, (2, 1, 0))
    # weights first: they take the buffer, the partial sums go back to DRAM per channel group
    # outputs first: all 256 x 14 x 14 partial sums (16 bits, 803 kbit) stay in the 864 kbit
    # buffer across the 16 channel groups (their cut spans both DRAM loops: K8 and C16)
    assert w_first.cuts()[0, 5] < 4 <= o_first.cuts()[0, 5]
    e_w, e_o = (evaluate(spec, hw, x, 8, 8) for x in (w_first, o_first))
    assert e_o.valid[0] and e_w.valid[0]
    assert e_o.energy_pj[0] < 0.95 * e_w.energy_pj[0]
    # DRAM moves each weight and input once and writes each output once
    compulsory = (256 * 128 * 9 + 128 * 28 * 28 + 256 * 14 * 14) * 8
    assert e_o.dram_bits[0] == compulsory


# AccelForge 1.0.467's optimum for conv4_1 at w8a8 on Eyeriss without input registers
# (`python benchmarks/bench_accelforge.py --layers conv4_1 --precisions 8x8`), in uJ
ACCELFORGE_CONV4_1_W8A8_UJ = 203.78


def test_mapper_reaches_accelforge_optimum_where_few_pes_win():
    hw = dataclasses.replace(load_hardware("eyeriss"), input_registers=False)
    spec = LayerSpec.square_conv("conv4_1", 256, 128, out=14, filt=3, stride=2, pad=1, inp=28)
    a8, w8 = hw.act_bits.index(8), hw.weight_bits.index(8)
    full = map_layer(spec, hw, MapperSettings(other_unrollings=0.0, partial_unrollings=0))
    lm = map_layer(spec, hw)
    assert lm.energy_pj[a8, w8, 0] <= 1.01 * ACCELFORGE_CONV4_1_W8A8_UJ * 1e6
    # the least energy of all mappings the mapper priced leaves PEs idle to keep tiles small
    c = evaluate(spec, hw, lm.mappings, 8, 8)
    e = np.where(c.valid, c.energy_pj, np.inf)
    least = int(np.argmin(e))
    assert e[least] <= 1.005 * ACCELFORGE_CONV4_1_W8A8_UJ * 1e6
    assert lm.mappings.spatial[least].prod() < hw.num_pes
    # the kept min-energy pick may trade a near-tie of it for speed (`ENERGY_TIE_FAST`)
    assert lm.energy_pj[a8, w8, 0] <= e[least] * (1 + ENERGY_TIE_FAST)
    # the latency pick still fills the array
    fast = lm.mappings.spatial[lm.index[a8, w8, 1]].prod()
    assert lm.cycles[a8, w8, 1] <= full.cycles[a8, w8, 1] * 1.001
    assert fast >= 0.9 * hw.num_pes


def test_patch_embedding_maps_with_nonnegative_costs():
    # ViT's patch embedding: 16x16 filters at stride 16 over 224 x 224 (14 x 14 outputs, which
    # the output-stationary dataflow unrolls 12 wide, its last pass partly idle); moving that
    # unrolling out of the array once ran the column loop to 24 and priced negative traffic
    hw = load_hardware("eyeriss")
    spec = LayerSpec.square_conv("patch", 192, 3, out=14, filt=16, stride=16, pad=0, inp=224)
    lm = map_layer(spec, hw)
    assert np.isfinite(lm.energy_pj).all() and (lm.energy_pj > 0).all()
    assert np.isfinite(lm.cycles).all() and (lm.cycles > 0).all()
    c = evaluate(spec, hw, lm.mappings, 8, 8)
    assert (c.energy_pj[c.valid] > 0).all()


def test_run_config_carries_the_unrolling_settings():
    from codesign.config import ExploreConfig

    cfg = ExploreConfig(hw="eyeriss", mapper_other_unrollings=0.0, mapper_partial_unrollings=8)
    assert cfg.mapper == MapperSettings(other_unrollings=0.0, partial_unrollings=8)
    assert ExploreConfig(hw="eyeriss").mapper == MapperSettings()
