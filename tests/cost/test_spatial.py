"""Spatial accelerator cost model: physical bounds, monotonicity in bits, hand-checked reuse."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.core.types import LayerSpec, OpKind
from codesign.cost.nest import Mappings, loop_bounds
from codesign.cost.spatial import (
    compulsory_dram_bits,
    evaluate,
    fill_cuts,
    peak_macs_per_cycle,
    traffic,
)
from codesign.hw import load_hardware
from codesign.mapping.mapper import bypass_options
from codesign.mapping.space import sample_mappings

from ..strategies import conv_layers

HW = {n: load_hardware(n) for n in ("eyeriss", "tpu_like", "simba_like", "bitfusion")}
# every unrolling ZigZag's free search may pick, C over the whole array included
HW["eyeriss unconstrained"] = dataclasses.replace(
    HW["eyeriss"], dataflows=(*HW["eyeriss"].dataflows, "unconstrained")
)
HW["simba registers"] = dataclasses.replace(HW["simba_like"], input_registers=True)
# every operand may skip the per-PE memory and the buffer
HW["eyeriss bypass"] = dataclasses.replace(
    HW["eyeriss"],
    memories=tuple(
        dataclasses.replace(mem, bypass=(True, True, True)) if i < 2 else mem
        for i, mem in enumerate(HW["eyeriss"].memories)
    ),
)


def _with_input(spec: LayerSpec) -> LayerSpec:
    if spec.kind == OpKind.LINEAR:
        return spec
    return dataclasses.replace(
        spec,
        padding=(spec.FY // 2, spec.FX // 2),
        input_shape=(1, spec.input_shape[1], spec.OY, spec.OX),
    )


def _sampled(spec: LayerSpec, hw_name: str, seed: int, n: int):
    """(the layer with its input, the hardware, `n` sampled mappings per dataflow)."""
    spec = _with_input(spec)
    hw = HW[hw_name]
    bounds, _, _, _ = loop_bounds(spec)
    ok, forced = bypass_options(hw)
    # the greedy unrolling, its exact fill and random sub-array unrollings
    m = sample_mappings(
        bounds,
        hw.rows,
        hw.cols,
        hw.dataflows,
        n,
        seed,
        bypass_ok=ok,
        bypass_forced=forced,
        other_unrollings=0.5,
        partial=4,
    )
    return spec, hw, m


@settings(max_examples=40, deadline=None)
@given(spec=conv_layers(), hw_name=st.sampled_from(sorted(HW)), seed=st.integers(0, 99))
def test_physical_bounds_and_monotonicity(spec, hw_name, seed):
    spec, hw, m = _sampled(spec, hw_name, seed, 60)
    tr = traffic(spec, m, hw.input_registers)
    prev = None
    for bits in (8, 4, 2):  # fewer bits, same mappings
        c = evaluate(spec, hw, m, bits, bits, tr)
        for v in (c.energy_pj, c.cycles, c.dram_bits, c.level_pj):
            assert np.isfinite(v).all() and (v >= 0).all()
        # never faster than the array's peak, never less off-chip traffic than compulsory
        assert (c.cycles >= spec.macs / peak_macs_per_cycle(hw, bits, bits) * (1 - 1e-9)).all()
        assert (c.dram_bits >= compulsory_dram_bits(spec, bits, bits) * (1 - 1e-9)).all()
        assert (c.utilization <= 1 + 1e-9).all()
        if prev is not None:
            assert (c.energy_pj <= prev.energy_pj * (1 + 1e-12)).all()
            assert (c.dram_bits <= prev.dram_bits * (1 + 1e-12)).all()
            assert (c.cycles <= prev.cycles * (1 + 1e-12)).all()
            assert (c.valid >= prev.valid).all()  # what fits at 8 bits fits at fewer
        prev = c


@settings(max_examples=25, deadline=None)
@given(spec=conv_layers(), hw_name=st.sampled_from(sorted(HW)), seed=st.integers(0, 99))
def test_greedy_cuts_fit_and_never_move_more(spec, hw_name, seed):
    # growing each operand's tiles as far as the memories hold them (ZigZag's allocation)
    # keeps a fitting mapping fitting and never adds traffic at any level
    spec, hw, m = _sampled(spec, hw_name, seed, 40)
    m0 = Mappings(m.spatial, m.temporal, m.order, m.dataflow, m.names)  # no cuts
    a, w = max(hw.act_bits), max(hw.weight_bits)
    g = fill_cuts(spec, hw, m0, a, w)
    c0, cg = evaluate(spec, hw, m0, a, w), evaluate(spec, hw, g, a, w)
    assert (cg.valid >= c0.valid).all()
    ok = c0.valid
    assert (cg.level_pj[ok] <= c0.level_pj[ok] * (1 + 1e-9) + 1e-9).all()
    assert (cg.dram_bits[ok] <= c0.dram_bits[ok] * (1 + 1e-9)).all()
    assert (g.cuts()[ok] >= 0).all() and (g.cuts() <= 6).all()


def _one(spatial, temporal, order=(0, 0, 0), dataflow=0):
    return Mappings(
        np.array([spatial]),
        np.array([temporal]),
        np.array([order]),
        np.array([dataflow]),
        ("weight_stationary",),
    )


def test_hand_computed_reuse():
    # 1x1 conv K=4, C=2, 2x2 output, nothing unrolled, everything streamed at DRAM level
    spec = LayerSpec(
        "l", OpKind.CONV, K=4, C=2, OY=2, OX=2, input_shape=(1, 2, 2, 2), output_shape=(1, 4, 2, 2)
    )
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 2] = [4, 2, 2, 2, 1, 1]  # K, C, OY, OX at DRAM level
    # loop order "W-stationary" at DRAM: OX, OY innermost (W irrelevant) then FX, FY, C, K
    m = _one([1] * 6, t, order=(0, 0, 0))
    tr = traffic(spec, m)
    macs = 4 * 2 * 2 * 2
    assert tr.iterations[0] == macs
    # W: tile of one weight, reused across the 4 innermost OX x OY iterations -> read once each
    assert tr.dram_reads[0, 0] == 4 * 2
    # I: one input element per iteration, reused across nothing (K is outermost) -> K x inputs
    assert tr.dram_reads[0, 1] == macs
    # O: C is outside OY/OX, so each output is written twice (once partial), read back once
    assert tr.dram_writes[0, 2] == 2 * 4 * 2 * 2
    assert tr.dram_reads[0, 2] == 4 * 2 * 2
    assert tr.o_final[0] == 4 * 2 * 2
    # every output written to DRAM is first read out of the buffer, and every partial sum
    # read back from DRAM is written into it, on top of the PE-side traffic
    assert tr.glb_reads[0, 2] == tr.dram_writes[0, 2] + 4 * 2 * 2  # + read-backs to the PEs
    assert tr.glb_writes[0, 2] == tr.dram_reads[0, 2] + macs  # + every MAC's psum written up


def test_glb_cut_holds_whole_operands_on_chip():
    # the same layer and loop nest; now each operand's global-buffer tile spans all six
    # level-2 loops (per-operand allocation): every tensor crosses the chip boundary once
    spec = LayerSpec(
        "l", OpKind.CONV, K=4, C=2, OY=2, OX=2, input_shape=(1, 2, 2, 2), output_shape=(1, 4, 2, 2)
    )
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 2] = [4, 2, 2, 2, 1, 1]
    base = _one([1] * 6, t, order=(0, 0, 0))
    m = Mappings(
        base.spatial,
        base.temporal,
        base.order,
        base.dataflow,
        base.names,
        np.array([[0, 0, 0, 6, 6, 6]]),
    )
    tr = traffic(spec, m)
    assert tr.dram_reads[0, 0] == 4 * 2  # every weight once
    assert tr.dram_reads[0, 1] == 2 * 2 * 2  # every input once, instead of K times
    assert tr.dram_writes[0, 2] == 4 * 2 * 2 and tr.dram_reads[0, 2] == 0  # no psum spills
    assert tr.o_final[0] == 4 * 2 * 2
    assert tuple(tr.glb_tile[0]) == (8, 8, 16)
    # only the input's cut: the weights and outputs move as before
    m_i = Mappings(
        base.spatial,
        base.temporal,
        base.order,
        base.dataflow,
        base.names,
        np.array([[0, 0, 0, 0, 6, 0]]),
    )
    tr_i, tr0 = traffic(spec, m_i), traffic(spec, base)
    assert tr_i.dram_reads[0, 1] == 8 and tr0.dram_reads[0, 1] == 32
    assert tr_i.dram_reads[0, 0] == tr0.dram_reads[0, 0]
    assert tr_i.dram_writes[0, 2] == tr0.dram_writes[0, 2]


def test_quantization_lets_bigger_tiles_fit():
    # the interaction the tool exists for: at 2 bits a tiling fits the buffer that 8 bits does not
    hw = HW["eyeriss"]
    spec = LayerSpec(
        "l",
        OpKind.CONV,
        K=128,
        C=64,
        OY=14,
        OX=14,
        FY=3,
        FX=3,
        padding=(1, 1),
        input_shape=(1, 64, 14, 14),
        output_shape=(1, 128, 14, 14),
    )
    t = np.ones((6, 3), dtype=np.int64)
    s = [1] * 6
    s[4], s[2] = 3, 14  # FY x OY over the array
    t[0, 1], t[1, 1], t[3, 1] = 128, 64, 14  # K, C, OX held in the global buffer
    t[5, 0] = 3
    m = _one(s, t)
    # global-buffer tile: 73,728 weights + 16,384 inputs + 25,088 16-bit psums
    assert not evaluate(spec, hw, m, 8, 8).valid[0]  # 1,122,304 bits > 884,736
    assert evaluate(spec, hw, m, 2, 2).valid[0]  # 581,632 bits


def _small_conv(k=4, c=2, o=2, f=1, pad=0):
    return LayerSpec.square_conv(
        "l", k, c, out=o, filt=f, stride=1, pad=pad, inp=o + f - 1 - 2 * pad
    )


def test_input_registers_read_a_reused_value_once_per_run():
    # 1x1 conv K=4, C=2, 2x2 output, the whole loop nest inside one PE
    spec = _small_conv()
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 0] = [4, 2, 2, 2, 1, 1]
    macs = 32
    # PE order W-stationary: OX, OY innermost, so one weight serves 4 consecutive MACs; the
    # next loop (C) changes the weight. Inputs change every MAC.
    tr = traffic(spec, _one([1] * 6, t, order=(0, 0, 0)))
    assert tuple(tr.register_run[0]) == (4, 1, 1)
    # I-stationary: K innermost, one input serves 4 MACs; the weight changes every MAC
    tr_i = traffic(spec, _one([1] * 6, t, order=(2, 0, 0)))
    assert tuple(tr_i.register_run[0]) == (1, 4, 1)
    # the register-file energy drops by exactly the skipped weight reads
    hw = HW["eyeriss"]
    on, off = (dataclasses.replace(hw, input_registers=r) for r in (True, False))
    m = _one([1] * 6, t, order=(0, 0, 0))
    saved = evaluate(spec, off, m, 8, 8).level_pj[0, 0] - evaluate(spec, on, m, 8, 8).level_pj[0, 0]
    assert saved == pytest.approx((macs - macs / 4) * 8 * hw.memories[0].access_pj_per_bit)
    # a run continues into the next level when the whole PE level leaves the value alone
    t2 = np.ones((6, 3), dtype=np.int64)
    t2[:, 0] = [1, 1, 2, 1, 1, 1]  # OY inside the PE
    t2[:, 1] = [4, 2, 1, 2, 1, 1]  # then OX innermost at the buffer level (W-stationary)
    assert traffic(spec, _one([1] * 6, t2, order=(0, 0, 0))).register_run[0, 0] == 4


@settings(max_examples=25, deadline=None)
@given(spec=conv_layers(), seed=st.integers(0, 99))
def test_input_registers_never_cost_more(spec, seed):
    spec, hw, m = _sampled(spec, "eyeriss unconstrained", seed, 30)
    on, off = (dataclasses.replace(hw, input_registers=r) for r in (True, False))
    tr = traffic(spec, m, True)
    assert (tr.register_run >= 1).all() and (tr.register_run[:, 2] == 1).all()
    c_on, c_off = evaluate(spec, on, m, 8, 8, tr), evaluate(spec, off, m, 8, 8)
    assert (c_on.energy_pj <= c_off.energy_pj * (1 + 1e-12)).all()
    assert (c_on.level_pj[:, 1:] == c_off.level_pj[:, 1:]).all()  # only the RF reads change


def _bypassing(m, bits):
    return Mappings(m.spatial, m.temporal, m.order, m.dataflow, m.names, None, np.array([bits]))


def test_bypass_moves_an_operand_around_a_level():
    # the hand-checked nest of test_hand_computed_reuse: K, C, OY, OX all at DRAM level
    spec = _small_conv()
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 2] = [4, 2, 2, 2, 1, 1]
    base = _one([1] * 6, t)
    tr0 = traffic(spec, base)
    # weights skip the global buffer: DRAM sends the array what the buffer would have sent
    # (a weight per step: 32 reads, not 8), and the buffer holds and moves no weight
    tr = traffic(spec, _bypassing(base, [0, 0, 0, 1, 0, 0]))
    assert tr0.dram_reads[0, 0] == 8 and tr.dram_reads[0, 0] == tr0.glb_reads[0, 0] == 32
    assert tr.glb_reads[0, 0] == tr.glb_writes[0, 0] == tr.glb_tile[0, 0] == 0
    assert tr.dram_reads[0, 1] == tr0.dram_reads[0, 1]  # inputs move as before
    # inputs skip the register file: every MAC reads its input from the buffer, none from RF
    tr = traffic(spec, _bypassing(base, [0, 1, 0, 0, 0, 0]))
    assert tr.rf_reads[0, 1] == tr.rf_fills[0, 1] == tr.pe_tile[0, 1] == 0
    assert tr.glb_reads[0, 1] == 32
    # outputs skip both: each MAC reads and writes its partial sum in DRAM; 16 outputs, each
    # finished once
    tr = traffic(spec, _bypassing(base, [0, 0, 1, 0, 0, 1]))
    assert tr.dram_writes[0, 2] == 32 and tr.dram_reads[0, 2] == 32 - 16
    assert tr.o_final[0] == 16 and tr.rf_reads[0, 2] == tr.glb_writes[0, 2] == 0


def test_an_operand_a_level_does_not_hold_always_skips_it():
    # a per-PE memory with room for weights and inputs only: partial sums live in the buffer
    hw = HW["eyeriss"]
    rf = dataclasses.replace(hw.memories[0], capacity_bits=(3584.0, 192.0, 0.0))
    no_psum_rf = dataclasses.replace(hw, memories=(rf, *hw.memories[1:]))
    assert rf.must_bypass == (False, False, True)
    from codesign.mapping.mapper import map_layer

    spec = _small_conv(k=16, c=8, o=4, f=3, pad=1)
    lm = map_layer(spec, no_psum_rf)
    assert np.isfinite(lm.energy_pj).all()
    assert lm.mappings.bypasses()[:, 2].all()  # every mapping skips the RF for O
    assert lm.mappings.describe(int(lm.index[2, 2, 0]))["bypass"]["PE"] == ["O"]


def test_register_file_input_windows_slide():
    # 3x3 conv without padding, 6x6 input: a PE holds one output row's window (3 x 6 inputs)
    # and the output rows (OY = 4) run just above it: each next row brings one new input row
    spec = _small_conv(k=1, c=1, o=4, f=3, pad=0)
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 0] = [1, 1, 1, 4, 3, 3]
    t[2, 1] = 4
    tr = traffic(spec, _one([1] * 6, t))
    assert tr.pe_tile[0, 1] == 18  # the window the register file holds
    assert tr.rf_fills[0, 1] == pytest.approx(18 + 3 * 6)  # not 4 x 18
    assert tr.glb_reads[0, 1] == pytest.approx(36)


def test_grouped_conv_inputs_are_per_group():
    # 4 groups of 8 -> 8 channels: every group reads its own 8 input channels, so the input
    # crosses the chip boundary as all 32 channels, and a K tile of one group holds 8
    spec = LayerSpec.square_conv("g", 32, 8, out=4, filt=1, stride=1, pad=0, inp=4, groups=4)
    assert spec.kind == OpKind.GCONV and spec.input_shape == (1, 32, 4, 4)
    assert compulsory_dram_bits(spec, 8, 8) == pytest.approx((32 * 8 + 32 * 16 + 32 * 16) * 8)
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 1] = [8, 8, 4, 4, 1, 1]  # one group's K and C in the buffer tile
    t[0, 2] = 4  # the groups one after another from DRAM
    tr = traffic(spec, _one([1] * 6, t))
    assert tr.glb_tile[0, 1] == 8 * 16  # one group's inputs
    assert tr.dram_reads[0, 1] == 32 * 16  # each group's once: all inputs once


def test_zero_padding_is_never_moved():
    # 3x3 conv, padding 1, one 4x4 channel in and out
    spec = _small_conv(k=1, c=1, o=4, f=3, pad=1)
    assert compulsory_dram_bits(spec, 8, 8) == pytest.approx((9 + 16 + 16) * 8)  # not 6x6
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 1] = [1, 1, 4, 4, 3, 3]  # the whole layer in one global-buffer tile
    tr = traffic(spec, _one([1] * 6, t))
    assert tr.dram_reads[0, 1] == pytest.approx(16)
    # two tiles of 2 output rows: padded rows 0-3 and 2-5 hold real rows 0-2 and 1-3; the
    # second keeps the two rows they share (sliding window), so DRAM sends less than the
    # 6 x 4 of two whole tiles, never less than the 16 real elements (the padding share of
    # a slid tile is approximated by the whole tiles')
    t[2, 1], t[2, 2] = 2, 2
    tr = traffic(spec, _one([1] * 6, t))
    assert 16 <= tr.dram_reads[0, 1] < 6 * 4


def test_consecutive_input_tiles_slide():
    # 3x3 conv without padding: 6x6 input, 4x4 output, the buffer tile 2 output rows
    # (4 input rows) of the whole width, OY's 2 tiles at DRAM level
    spec = _small_conv(k=1, c=1, o=4, f=3, pad=0)
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 1] = [1, 1, 2, 4, 3, 3]
    t[2, 2] = 2
    tr = traffic(spec, _one([1] * 6, t))
    # the second tile shares rows 2-3 with the first and fetches rows 4-5 only: the input
    # crosses the chip boundary once (36), not 2 x 4 x 6 = 48 times
    assert tr.dram_reads[0, 1] == pytest.approx(36)
    assert tr.glb_writes[0, 1] == pytest.approx(36)
    # with K above OY the rows are fetched again for each of K's 2 passes, sliding in each
    spec2 = _small_conv(k=2, c=1, o=4, f=3, pad=0)
    t[0, 2] = 2
    tr = traffic(spec2, _one([1] * 6, t, order=(0, 0, 0)))  # OY inner to K at DRAM level
    assert tr.dram_reads[0, 1] == pytest.approx(72)
    # a filter split across tiles (FY at DRAM level) cannot slide: whole tiles
    t = np.ones((6, 3), dtype=np.int64)
    t[:, 1] = [1, 1, 2, 4, 1, 3]
    t[2, 2], t[4, 2] = 2, 3
    tr = traffic(spec, _one([1] * 6, t, order=(1, 1, 1)))
    assert tr.dram_reads[0, 1] > 36


@pytest.mark.parametrize("name", sorted(HW))
def test_bundled_accelerators_load(name):
    hw = HW[name]
    assert hw.family == "spatial" and hw.num_pes > 1 and len(hw.memories) == 3
    assert hw.memories[0].per_pe and not hw.memories[1].per_pe


def test_bitfusion_throughput_scales_with_both_bitwidths():
    hw = HW["bitfusion"]
    assert peak_macs_per_cycle(hw, 2, 2) == 16 * peak_macs_per_cycle(hw, 8, 8)
    assert peak_macs_per_cycle(hw, 8, 2) == 4 * peak_macs_per_cycle(hw, 8, 8)
