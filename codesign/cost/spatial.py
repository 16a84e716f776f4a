"""Analytical loop-nest cost model of spatial accelerators (Timeloop / ZigZag tradition).

For a layer, a mapping (`codesign.cost.nest.Mappings`) and a precision (activation bits a,
weight bits w) it counts the elements each memory level reads and writes for each operand
(W, I, O), from the reuse the mapping creates:

- a tile of operand X at level l spans the loops at levels <= l (and the spatial unrolling
  above the per-PE level); input tiles include the sliding-window halo;
- level l is refilled from level l+1 once per iteration of the loops above it, except that
  the innermost loops at level l+1 that do not index X reuse the resident tile;
- only real input elements are stored and moved: zero padding is made as the PEs read it;
- the global buffer multicasts: a spatial dimension that does not index X sends one copy;
- partial sums are written up when evicted and read back when accumulation goes on; what
  goes to DRAM is read out of the global buffer, and what comes back is written into it.

Energy = sum over levels and operands of bits moved x pJ per bit (packed words: a 4-bit
tensor moves half the bits of an 8-bit one) + MACs x MAC energy at (a, w). Latency = the
largest of compute cycles (padded iterations / MACs per PE per cycle) and each level's
transfer cycles (bits / port bandwidth), i.e. perfect double buffering. Capacity is checked
at the real bit-widths: per-PE tiles against each operand's register file, global-buffer
tiles against its size. It never beats the bounds: latency >= MACs / peak MACs per cycle,
and off-chip traffic >= every weight, used input and output once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from codesign.core.types import LayerSpec
from codesign.cost.nest import (
    CUTS,
    FX,
    FY,
    ORDER_ARRAY,
    OX,
    OY,
    C,
    K,
    Mappings,
    instances,
    layer_macs,
    loop_bounds,
    padded_macs,
)

if TYPE_CHECKING:  # the family's domain object; the family imports this module
    from codesign.families.spatial import SpatialHardware

W_, I_, O_ = range(3)


def _relevance(kg: int) -> np.ndarray:
    """[3, 6] bool: operand (W, I, O) is indexed by loop dim. `kg` > 0: the layer's groups
    run in K, `kg` output channels each (1 for depthwise), so K indexes the input too."""
    r = np.zeros((3, 6), dtype=bool)
    r[W_, [K, C, FY, FX]] = True
    r[I_, [C, OY, OX, FY, FX]] = True
    r[I_, K] = kg > 0
    r[O_, [K, OY, OX]] = True
    return r


def _group_k(spec: LayerSpec) -> int:
    """Output channels per group where the loop nest runs a layer's groups in K: 1 for a
    depthwise conv, K / groups for a grouped one, 0 for every other layer."""
    nest = spec.kind.traits.nest
    if not nest.groups_in_k:
        return 0
    return 1 if nest.unrolls_groups else spec.K // spec.groups


@dataclass(frozen=True)
class Traffic:
    """Precision-independent element counts of M mappings of one layer.

    ``rf_reads[M, 3]`` per operand (O counts read + write; once per register run where
    `input_registers`), ``register_run[M, 3]`` how many consecutive MACs of a PE use the
    same W and I element (a multiplier whose input registers keep the value reads it once per
    run; 1 for O, whose partial sum is read and written every MAC),
    ``rf_fills[M, 3]``,
    ``glb_reads[M, 3]``, ``glb_writes[M, 3]``, ``dram_reads[M, 3]``, ``dram_writes[M, 3]``,
    ``o_final[M]`` output elements written off-chip as finished values (the rest of the
    off-chip output traffic is partial sums), ``o_done_in_pe[M]`` whether the PEs finish
    every output they hold (no reduction loop runs above their output tile: outputs leave
    them, and sit in the global buffer, at the activation width), tiles ``pe_tile[M, 3]``
    and ``glb_tile[M, 3]`` in elements (the largest tile, which must fit), ``iterations[M]``
    padded loop iterations, ``active_pes[M]`` PEs the unrolling occupies, ``effective_pes[M]``
    the average number of them doing real work (less where an unrolled dimension does not
    divide the array: the last pass of that loop leaves PEs idle).

    Traffic counts use average tile extents: where a spatial factor does not divide its loop
    bound, the edge tiles are partial and move only real elements (as ZigZag's fractional
    unrolling does), so a padded channel or pixel is never moved or read.
    """

    rf_reads: np.ndarray
    register_run: np.ndarray
    rf_fills: np.ndarray
    glb_reads: np.ndarray
    glb_writes: np.ndarray
    dram_reads: np.ndarray
    dram_writes: np.ndarray
    o_final: np.ndarray
    o_done_in_pe: np.ndarray
    pe_tile: np.ndarray
    glb_tile: np.ndarray
    iterations: np.ndarray
    active_pes: np.ndarray
    effective_pes: np.ndarray
    macs: int
    input_registers: bool = False  # whether rf_reads count once per register run


def _tile_sizes(
    ext: np.ndarray,
    kg: int,
    sy: int,
    sx: int,
    in_hw: tuple[int, int],
    *,
    fy_max: int,
    fx_max: int,
    operand: int | None = None,
) -> np.ndarray:
    """Elements [M, 3] of the W, I, O tiles spanning extents ext[M, 6] of a layer whose
    filter is fy_max x fx_max (only `operand`'s, [M], when given). With groups in K (`kg`
    output channels per group, see `_relevance`) an input tile holds the C channels of
    every group its K extent spans."""
    ext = ext.astype(np.float64, copy=False)
    k, c, oy, ox, fy, fx = (ext[:, d] for d in range(6))
    if operand == W_:
        return k * c * fy * fx
    if operand == O_:
        return k * oy * ox
    # a window slides over contiguous rows; with a stride larger than the filter, the rows
    # between windows are never read
    iy = np.minimum((oy - 1) * sy + fy, in_hw[0]) if sy <= fy_max else oy * fy
    ix = np.minimum((ox - 1) * sx + fx, in_hw[1]) if sx <= fx_max else ox * fx
    groups = np.maximum(1.0, k / kg) if kg > 0 else 1.0
    i = c * groups * iy * ix
    if operand == I_:
        return i
    return np.stack([k * c * fy * fx, i, k * oy * ox], axis=1)


_POS = np.arange(6)[None, :]
_INV_ORDER = np.argsort(ORDER_ARRAY, axis=1)  # [orders, 6] position of each dim in each


@dataclass(frozen=True)
class _Loops:
    """One level's loops of M mappings in their order: ``dims[M, 6]`` innermost first,
    ``factors[M, 6]`` in that order, ``inverse[M, 6]`` the position of each dim."""

    dims: np.ndarray
    factors: np.ndarray
    inverse: np.ndarray


def _level_loops(f: np.ndarray, order_idx: np.ndarray) -> _Loops:
    """The loops f[M, 6] (factors by dim) of one level in the order `order_idx` [M]."""
    dims = ORDER_ARRAY[order_idx]
    return _Loops(dims, np.take_along_axis(f, dims, axis=1), _INV_ORDER[order_idx])


def _split_level(
    loops: _Loops, cut: np.ndarray, relevant: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Split one level's loops at an operand's cut[M] (loops innermost first).

    Returns (inner[M, 6] the factors, by dim, of the loops inside the operand's tile;
    refills[M] how often the tile is loaded: the product of the loops above the cut, less
    the innermost of them that do not index the operand (they reuse the resident tile);
    above[M, 6] the factors, by dim, of the loops above the cut).
    """
    fo = loops.factors
    inside = _POS < cut[:, None]
    fin = np.where(inside, fo, 1.0)
    rest = np.where(inside, 1.0, fo)
    # a loop of factor 1 never breaks the chain of reuse
    chain = np.logical_and.accumulate(~relevant[loops.dims] | (rest == 1), axis=1)
    reuse = np.where(chain, rest, 1.0).prod(axis=1)
    inner = np.take_along_axis(fin, loops.inverse, axis=1)  # back to dims
    return inner, rest.prod(axis=1) / reuse, np.take_along_axis(rest, loops.inverse, axis=1)


def _register_runs(levels: list[_Loops], rel: np.ndarray) -> np.ndarray:
    """[M, 3] consecutive MACs of one PE that use the same W and I element: the product of
    the innermost loops of the whole nest (`levels` 0, 1, 2, each in its order) that do not
    index the operand, up to the first loop that does (as ZigZag's "MAC-level stationary
    cycles"); 1 for O."""
    dims = np.concatenate([lv.dims for lv in levels], axis=1)  # [M, 18]
    f = np.concatenate([lv.factors for lv in levels], axis=1)
    # products of the innermost 0..18 loops
    upto = np.concatenate([np.ones((len(f), 1)), np.cumprod(f, axis=1)], axis=1)
    runs = np.ones((len(f), 3))
    for x in (W_, I_):
        # the first loop that indexes the operand and changes it (a factor-1 loop never does)
        breaks = rel[x][dims] & (f > 1)
        first = np.where(breaks.any(axis=1), np.argmax(breaks, axis=1), f.shape[1])
        runs[:, x] = np.take_along_axis(upto, first[:, None], axis=1)[:, 0]
    return runs


def _done_in_pe(
    above1: np.ndarray, t2: np.ndarray, rel_o: np.ndarray, o_skips_pe: np.ndarray
) -> np.ndarray:
    """[M] the PEs finish each output they hold: O does not skip the per-PE memory
    (o_skips_pe[M]), and no reduction loop (one that does not index O) with a factor > 1 runs
    above the per-PE output tile: the level-1 loops above its cut (factors by dim,
    above1[M, 6]) and every level-2 loop (t2[M, 6])."""
    return (np.prod(np.where(rel_o, 1.0, above1 * t2), axis=1) == 1.0) & ~o_skips_pe


def _padded_input_hw(spec: LayerSpec) -> tuple[int, int]:
    """(rows, columns) of the zero-padded input: 2-D maps, 1-D signals (one row); for a nest
    without the layer's padding (`LoopNest.padded`: a linear layer's N input vectors, a
    matmul's M rows, a transposed conv's sub-pixel convolutions) the window its stride-1 loop
    nest sweeps, halo included (one row of N or of M for the first two)."""
    if not spec.kind.traits.nest.padded:
        b, _, _, _ = loop_bounds(spec)
        return int(b[OY] + b[FY]) - 1, int(b[OX] + b[FX]) - 1
    shape = spec.input_shape
    if len(shape) == 4:
        return shape[2] + 2 * spec.padding[0], shape[3] + 2 * spec.padding[1]
    if len(shape) == 3:
        return 1, shape[2] + 2 * spec.padding[1]
    return 1, spec.N


def _tiler(spec: LayerSpec) -> tuple[np.ndarray, int, Callable[..., np.ndarray]]:
    """(loop bounds, output channels per group in K (`_group_k`), the function giving the
    W, I, O tile elements [M, 3] of extents [M, 6], or one operand's [M]) of layer `spec`."""
    bounds, sy, sx, _ = loop_bounds(spec)
    in_hw = _padded_input_hw(spec)
    fy, fx = int(bounds[FY]), int(bounds[FX])
    kg = _group_k(spec)

    def tiles(ext: np.ndarray, operand: int | None = None) -> np.ndarray:
        return _tile_sizes(ext, kg, sy, sx, in_hw, fy_max=fy, fx_max=fx, operand=operand)

    return bounds, kg, tiles


def _unpadded_fraction(spec: LayerSpec, ext: np.ndarray) -> np.ndarray:
    """[M] share of real input elements (not zero padding) among those that input tiles of
    extents ext[M, 6] hold over one pass through the layer. Memories store and move only
    these: a read outside the tensor returns zero (ZigZag, too, moves the unpadded tensor).

    Along an axis, the padding rows a pass touches (the leading ones, and the trailing ones the
    last window reaches) sit in its first and last tiles, so the share is
    1 - touched / (tiles x rows per tile); the axes multiply.
    """
    bounds, sy, sx, _ = loop_bounds(spec)
    in_hw = _padded_input_hw(spec)
    frac = np.ones(len(ext))
    if not spec.kind.traits.nest.padded:
        return frac  # no padding; a sub-pixel halo counts as moved (over-estimates, never under)
    axes = ((OY, FY, sy, spec.padding[0], 0), (OX, FX, sx, spec.padding[1], 1))
    rank = len(spec.input_shape)
    for o_d, f_d, stride, pad, ax in axes:
        if pad == 0 or rank < 3 or (rank == 3 and ax == 0):  # a 1-D signal pads only in x
            continue
        real = in_hw[ax] - 2 * pad
        used = (bounds[o_d] - 1) * stride + bounds[f_d]  # padded rows the windows reach
        touched = pad + max(0, used - pad - real)
        o, f = ext[:, o_d], ext[:, f_d]
        if stride <= bounds[f_d]:
            rows = np.minimum((o - 1) * stride + f, in_hw[ax])
        else:
            rows = o * f
        tiles = (bounds[o_d] / o) * (bounds[f_d] / f)
        frac *= np.clip(1.0 - touched / (tiles * rows), 0.0, 1.0)
    return frac


def _largest_fitting(fits: np.ndarray) -> np.ndarray:
    """Per row of fits[M, 7] (does the tile spanning c loops fit?), the largest c that fits
    (0 when none does)."""
    return np.where(fits.any(1), 6 - np.argmax(fits[:, ::-1], axis=1), 0)


@dataclass
class _OperandTiles:
    """Per-operand tiles of M mappings, in elements, and how often they load: ``pe`` per-PE
    tile (the largest, for capacity), ``arr`` what the whole array takes per PE-tile load,
    ``glb`` the global-buffer tile (average), ``glb_cap`` its largest, ``fills0`` PE-tile
    loads per PE, ``fills1`` buffer-tile loads from DRAM, all [M, 3]; input shares of real
    (not padding) elements ``real_pe``, ``real_arr``, ``real_glb``; distinct output tiles at
    the PEs ``distinct0`` and in the buffer ``distinct1``; ``done`` whether the PEs finish
    each output they hold; ``slide`` the share of the input buffer tiles' loads that DRAM
    really sends, once the rows (or columns) consecutive tiles share stay (`_sliding`), all
    [M]."""

    pe: np.ndarray
    arr: np.ndarray
    glb: np.ndarray
    glb_cap: np.ndarray
    fills0: np.ndarray
    fills1: np.ndarray
    real_pe: np.ndarray
    real_arr: np.ndarray
    real_glb: np.ndarray
    distinct0: np.ndarray
    distinct1: np.ndarray
    done: np.ndarray
    slide: np.ndarray
    slide_arr: np.ndarray
    slide_pe: np.ndarray


def _operand_tiles(
    spec: LayerSpec,
    m: Mappings,
    t: np.ndarray,
    s: np.ndarray,
    s_eff: np.ndarray,
    levels: list[_Loops],
) -> _OperandTiles:
    """The tiles of W, I, O of mappings `m` (temporal factors t[M, 6, 3], spatial s[M, 6] and
    their averages s_eff, the loops of each level `levels`)."""
    bounds, kg, tiles = _tiler(spec)
    rel = _relevance(kg)
    it2 = t[:, :, 2].prod(axis=1)
    cuts = m.cuts()
    n = len(t)
    pe, arr, glb, glb_cap, fills0, fills1 = (np.empty((n, 3)) for _ in range(6))
    for x in range(3):
        # per-PE tile: level 0 and the first cut[x] loops of level 1's order
        inner, refills, above1 = _split_level(levels[1], cuts[:, x], rel[x])
        ext_pe = t[:, :, 0] * inner
        pe[:, x] = tiles(np.minimum(ext_pe, bounds), x)  # a loop run past its end
        arr[:, x] = tiles(ext_pe * s_eff, x)
        # refills of the PE tiles forced by level-2 loops are all counted; the reuse at
        # level 1 only holds within one level-2 iteration
        fills0[:, x] = refills * it2
        # global-buffer tile: levels 0-1, the array, and the first cut[3 + x] loops of level 2
        inner2, fills1[:, x], above2 = _split_level(levels[2], cuts[:, 3 + x], rel[x])
        ext_glb = t[:, :, 0] * t[:, :, 1] * inner2
        glb[:, x] = tiles(ext_glb * s_eff, x)
        # the largest tile, for the capacity check: full spatial factors, but never more of
        # a loop than it has (a tile spanning all of OX = 14 on 12 columns holds 14, not 24)
        glb_cap[:, x] = tiles(np.minimum(ext_glb * s, bounds), x)
        if x == I_:
            real = [_unpadded_fraction(spec, e) for e in (ext_pe, ext_pe * s_eff, ext_glb * s_eff)]
            slide = _sliding(spec, levels[2], cuts[:, 3 + x], rel[x], ext_glb * s_eff, bounds)
            # the same at the register files: a line buffer kept across an output-row loop
            # just above the per-PE tile (AccelForge's reservation below that loop)
            slide_arr = _sliding(spec, levels[1], cuts[:, x], rel[x], ext_pe * s_eff, bounds)
            slide_pe = _sliding(spec, levels[1], cuts[:, x], rel[x], ext_pe, bounds)
        if x == O_:
            # distinct output tiles: the product of the O-relevant factors above the tile
            distinct0 = np.prod(np.where(rel[O_], above1 * t[:, :, 2], 1.0), axis=1)
            done = _done_in_pe(above1, t[:, :, 2], rel[O_], m.bypasses()[:, O_])
            distinct1 = np.prod(np.where(rel[O_], above2, 1.0), axis=1)
    return _OperandTiles(
        pe,
        arr,
        glb,
        glb_cap,
        fills0,
        fills1,
        *real,
        distinct0,
        distinct1,
        done,
        slide,
        slide_arr,
        slide_pe,
    )


def _sliding(
    spec: LayerSpec,
    loops: _Loops,
    cut: np.ndarray,
    rel_i: np.ndarray,
    ext: np.ndarray,
    bounds: np.ndarray,
) -> np.ndarray:
    """[M] share of the input buffer tile loads DRAM sends when consecutive tiles slide.

    When the loop that changes the buffer's input tile (the first input-relevant loop above
    its cut) runs over output rows (or columns) and the tile spans the whole filter along
    them, two consecutive tiles share FY - sy input rows. A rolling buffer keeps them (as
    Timeloop's and AccelForge's LoopTree model does), so after the first tile of each run of
    that loop only the sy x rows-per-tile new rows come from DRAM: the share is
    (R + (N - 1) r) / (N R) for a run of N tiles of R rows of which r are new. 1 elsewhere.
    """
    fo, dims = loops.factors, loops.dims
    above = (_POS >= cut[:, None]) & rel_i[dims] & (fo > 1)
    has = above.any(axis=1)
    first = np.argmax(above, axis=1)
    d = np.take_along_axis(dims, first[:, None], axis=1)[:, 0]
    n = np.take_along_axis(fo, first[:, None], axis=1)[:, 0]
    share = np.ones(len(fo))
    _, sy, sx, _ = loop_bounds(spec)
    in_hw = _padded_input_hw(spec)
    for o_d, f_d, stride, ax in ((OY, FY, sy, 0), (OX, FX, sx, 1)):
        f = int(bounds[f_d])
        if stride >= f:  # windows do not overlap
            continue
        ok = has & (d == o_d) & (ext[:, f_d] >= f)
        o = ext[:, o_d]
        rows = np.minimum((o - 1) * stride + f, in_hw[ax])
        new = np.minimum(o * stride, rows)
        share = np.where(ok, (rows + (n - 1) * new) / (n * rows), share)
    return share


def _skip_per_pe(
    spec: LayerSpec,
    m: Mappings,
    tl: _OperandTiles,
    t: np.ndarray,
    s_eff: np.ndarray,
    per_mac: np.ndarray,
) -> None:
    """Rework `tl` for the operands that skip the per-PE memory: they are fetched from the
    buffer at every MAC step (once per register run `per_mac`), the array taking one element
    per PE and step, shared where a spatial dimension does not index the operand."""
    b = m.bypasses()[:, :3]
    _, kg, tiles = _tiler(spec)
    steps = t.prod(axis=(1, 2))
    tl.pe[b] = 0.0
    tl.arr[b] = tiles(s_eff)[b]
    tl.fills0[b] = (steps[:, None] / per_mac)[b]
    tl.real_arr = np.where(b[:, I_], _unpadded_fraction(spec, s_eff), tl.real_arr)
    all_o = np.prod(np.where(_relevance(kg)[O_], t.prod(axis=2), 1.0), axis=1)
    tl.distinct0 = np.where(b[:, O_], all_o, tl.distinct0)


def traffic(spec: LayerSpec, m: Mappings, input_registers: bool = False) -> Traffic:
    """Element counts at every level for the mappings `m` of layer `spec`, on hardware whose
    multipliers keep a reused weight or input in an input register (`input_registers`, see
    `SpatialHardware`) or not."""
    bounds, kg, _ = _tiler(spec)
    rel = _relevance(kg)
    t = m.temporal.astype(np.float64)
    s = m.spatial.astype(np.float64)
    # average spatial factors: a factor that does not divide its bound leaves the last pass
    # partly idle, and the partial tiles move only real elements
    s_eff = np.minimum(s, bounds[None, :] / t.prod(axis=2))
    levels = [_level_loops(t[:, :, lv], m.order[:, lv]) for lv in range(3)]
    runs = _register_runs(levels, rel)
    per_mac = runs if input_registers else np.ones_like(runs)  # MACs served by one read
    tl = _operand_tiles(spec, m, t, s, s_eff, levels)
    byp = m.bypasses()
    if byp[:, :3].any():
        _skip_per_pe(spec, m, tl, t, s_eff, per_mac)
    pes_eff = s_eff.prod(axis=1)
    work = t.prod(axis=(1, 2)) * pes_eff  # iterations that do real work
    rf_reads = np.stack([work, work, 2.0 * work], axis=1) / per_mac
    rf_reads[byp[:, :3]] = 0.0
    rf_fills = tl.pe * tl.fills0 * pes_eff[:, None]
    glb_reads = tl.arr * tl.fills0
    glb_reads[:, O_] = tl.arr[:, O_] * np.maximum(tl.fills0[:, O_] - tl.distinct0, 0.0)
    glb_writes = tl.glb * tl.fills1
    glb_writes[:, O_] = tl.arr[:, O_] * tl.fills0[:, O_]
    dram_reads = tl.glb * tl.fills1
    # zero padding is made where the array reads it, never stored or moved
    rf_fills[:, I_] *= tl.real_pe * tl.slide_pe
    glb_reads[:, I_] *= tl.real_arr * tl.slide_arr
    glb_writes[:, I_] *= tl.real_glb * tl.slide
    dram_reads[:, I_] *= tl.real_glb * tl.slide
    dram_reads[:, O_] = tl.glb[:, O_] * np.maximum(tl.fills1[:, O_] - tl.distinct1, 0.0)
    dram_writes = np.zeros_like(dram_reads)
    dram_writes[:, O_] = tl.glb[:, O_] * tl.fills1[:, O_]
    o_final = tl.glb[:, O_] * tl.distinct1
    glb_cap = tl.glb_cap
    if byp[:, 3:].any():
        # an operand that skips the buffer moves between DRAM and the array directly
        b = byp[:, 3:]
        dram_reads[b] = glb_reads[b]
        dram_writes[:, O_] = np.where(b[:, O_], glb_writes[:, O_], dram_writes[:, O_])
        o_final = np.where(b[:, O_], tl.arr[:, O_] * tl.distinct0, o_final)
        glb_reads[b] = glb_writes[b] = glb_cap[b] = 0.0
    # outputs leave the buffer for DRAM by a buffer read, and partial sums coming back from
    # DRAM are written into it (unless outputs skip the buffer)
    in_glb = ~byp[:, 3 + O_]
    glb_reads[:, O_] += np.where(in_glb, dram_writes[:, O_], 0.0)
    glb_writes[:, O_] += np.where(in_glb, dram_reads[:, O_], 0.0)
    n = float(instances(spec))  # independent products run one after another
    return Traffic(
        rf_reads * n,
        runs,
        rf_fills * n,
        glb_reads * n,
        glb_writes * n,
        dram_reads * n,
        dram_writes * n,
        o_final * n,
        tl.done,
        tl.pe,
        glb_cap,
        padded_macs(m).astype(np.float64) * n,
        s.prod(axis=1),
        pes_eff,
        layer_macs(bounds) * int(n),
        input_registers,
    )


def fill_cuts(
    spec: LayerSpec,
    hw: SpatialHardware,
    m: Mappings,
    act_bits: int,
    weight_bits: int,
    first: tuple[int, int, int] = (W_, I_, O_),
) -> Mappings:
    """`m` with each operand's tiles grown greedily, as ZigZag's memory allocator does: the
    per-PE tile of W, I and O spans as many of level 1's innermost loops as its register
    file holds at (act_bits, weight_bits), then the global-buffer tiles span as many of
    level 2's loops as the buffer holds (in the order `first`: W, then I, then O unless
    told otherwise); outputs the PEs finish take the activation width there."""
    return fill_cuts_many(spec, hw, m, [(act_bits, weight_bits, first)])[0]


def fill_cuts_many(
    spec: LayerSpec,
    hw: SpatialHardware,
    m: Mappings,
    allocations: list[tuple[int, int, tuple[int, int, int]]],
) -> list[Mappings]:
    """`fill_cuts` of `m` for each (act_bits, weight_bits, first) of `allocations`, one
    Mappings each; the tiles' element counts at every cut, which do not depend on them, are
    counted once."""
    bounds, kg, tiles = _tiler(spec)
    t = m.temporal.astype(np.float64)
    s = m.spatial.astype(np.float64)
    rf, glb, _ = hw.memories
    n = len(t)
    rows = np.arange(n)
    byp = m.bypasses()
    rel_o = _relevance(kg)[O_]
    loops1 = _level_loops(t[:, :, 1], m.order[:, 1])
    elems = []  # per level 1, 2: elements [n, 7, 3] of the tiles spanning its first c loops
    for lv in (1, 2):
        ext = np.empty((n, 7, 6))
        ext[:, 0] = t[:, :, 0] if lv == 1 else t[:, :, 0] * t[:, :, 1] * s
        order = ORDER_ARRAY[m.order[:, lv]]  # [n, 6] dims, innermost first
        for c in range(6):
            ext[:, c + 1] = ext[:, c]
            ext[rows, c + 1, order[:, c]] *= t[rows, order[:, c], lv]
        # (a tile never holds more of a loop than it has)
        elems.append(tiles(np.minimum(ext.reshape(-1, 6), bounds)).reshape(n, 7, 3))
    out = []
    for act_bits, weight_bits, first in allocations:
        bits = np.array([weight_bits, act_bits, hw.psum_bits], dtype=np.float64)
        cut = np.empty((n, CUTS), dtype=np.int64)
        for lv in (1, 2):
            lo = 3 * (lv - 1)
            size = elems[lv - 1] * bits  # bits of each tile at each cut
            if lv == 2:
                _, _, above1 = _split_level(loops1, cut[:, O_], rel_o)
                done = _done_in_pe(above1, t[:, :, 2], rel_o, byp[:, O_])
                size[:, :, O_] *= np.where(done, act_bits / hw.psum_bits, 1.0)[:, None]
            size *= ~byp[:, None, lo : lo + 3]  # an operand that skips the level takes no room
            if lv == 1 and not rf.shared:
                for x in range(3):
                    cut[:, lo + x] = _largest_fitting(size[:, :, x] <= rf.capacity_bits[x])
                continue
            cap = rf.capacity_bits[0] if lv == 1 else glb.capacity_bits[0]
            used = size[:, 0, :].sum(1)
            for x in first:
                others = used - size[:, 0, x]
                cut[:, lo + x] = _largest_fitting(size[:, :, x] + others[:, None] <= cap)
                used = others + size[rows, cut[:, lo + x], x]
        cut[byp] = 0
        out.append(Mappings(m.spatial, m.temporal, m.order, m.dataflow, m.names, cut, byp))
    return out


@dataclass(frozen=True)
class SpatialCost:
    """Costs of M mappings at one precision: energy in pJ (total and per level), cycles, valid."""

    energy_pj: np.ndarray
    mac_pj: np.ndarray
    level_pj: np.ndarray  # [M, 3] per-PE, global, off-chip
    cycles: np.ndarray
    compute_cycles: np.ndarray
    dram_bits: np.ndarray
    utilization: np.ndarray
    valid: np.ndarray


def evaluate(
    spec: LayerSpec,
    hw: SpatialHardware,
    m: Mappings,
    act_bits: int,
    weight_bits: int,
    tr: Traffic | None = None,
) -> SpatialCost:
    """Energy, latency and capacity validity of mappings `m` of `spec` at (a, w) bits."""
    tr = tr if tr is not None else traffic(spec, m, hw.input_registers)
    if tr.input_registers != hw.input_registers:
        raise ValueError(
            f"traffic counted with input_registers={tr.input_registers}, but {hw.name} has "
            f"{hw.input_registers}"
        )
    ai = hw.act_bits.index(act_bits)
    wi = hw.weight_bits.index(weight_bits)
    bits = np.array([weight_bits, act_bits, hw.psum_bits], dtype=np.float64)
    rf, glb, dram = hw.memories
    rf_bits = (tr.rf_reads + tr.rf_fills) @ bits
    # outputs the PEs finish reach the global buffer at the activation width
    glb_o_bits = np.where(tr.o_done_in_pe, act_bits, hw.psum_bits)
    glb_moved = tr.glb_reads + tr.glb_writes
    glb_bits = glb_moved[:, :2] @ bits[:2] + glb_moved[:, O_] * glb_o_bits
    # finished outputs leave at the activation width, partial sums at the psum width
    dram_bits = (
        tr.dram_reads @ bits
        + tr.dram_writes[:, O_] * hw.psum_bits
        + tr.o_final * (act_bits - hw.psum_bits)
    )
    level_pj = np.stack(
        [
            rf_bits * rf.access_pj_per_bit,
            glb_bits * glb.access_pj_per_bit,
            dram_bits * dram.access_pj_per_bit,
        ],
        axis=1,
    )
    mac_pj = np.full(len(tr.iterations), tr.macs * hw.mac_energy_pj[ai][wi])
    energy = level_pj.sum(1) + mac_pj
    compute = tr.iterations / tr.active_pes / hw.macs_per_pe_per_cycle[ai][wi]
    cycles = np.maximum.reduce(
        [
            compute,
            rf_bits / tr.effective_pes / rf.bandwidth_bits_per_cycle,
            glb_bits / glb.bandwidth_bits_per_cycle,
            dram_bits / dram.bandwidth_bits_per_cycle,
        ]
    )
    if rf.shared:
        ok_pe = tr.pe_tile @ bits <= rf.capacity_bits[0]
    else:
        ok_pe = (tr.pe_tile * bits <= np.array(rf.capacity_bits)).all(1)
    ok_glb = tr.glb_tile[:, :2] @ bits[:2] + tr.glb_tile[:, O_] * glb_o_bits <= glb.capacity_bits[0]
    util = tr.macs / (cycles * hw.num_pes * hw.macs_per_pe_per_cycle[ai][wi])
    return SpatialCost(energy, mac_pj, level_pj, cycles, compute, dram_bits, util, ok_pe & ok_glb)


def compulsory_dram_bits(spec: LayerSpec, act_bits: int, weight_bits: int) -> float:
    """Off-chip bits no mapping can avoid: every weight, used (unpadded) input and output once."""
    bounds, _, tiles = _tiler(spec)
    whole = bounds[None, :].astype(np.float64)  # the whole layer as one tile
    w, i, o = tiles(whole)[0]
    i *= _unpadded_fraction(spec, whole)[0]
    return float(w * weight_bits + i * act_bits + o * act_bits) * instances(spec)


def peak_macs_per_cycle(hw: SpatialHardware, act_bits: int, weight_bits: int) -> float:
    """The array's peak MACs per cycle at (a, w)."""
    ai, wi = hw.act_bits.index(act_bits), hw.weight_bits.index(weight_bits)
    return hw.num_pes * hw.macs_per_pe_per_cycle[ai][wi]


__all__ = [
    "SpatialCost",
    "Traffic",
    "compulsory_dram_bits",
    "evaluate",
    "fill_cuts",
    "fill_cuts_many",
    "peak_macs_per_cycle",
    "traffic",
]
