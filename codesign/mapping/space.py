"""The mapspace of a layer on a spatial array, sampled as arrays (one row per mapping).

A mapping fixes, for the six loop dimensions (K, C, OY, OX, FY, FX):
- the spatial unrolling: dimensions over the array rows and over the columns (the dataflow
  decides which), with factors whose product fits each side; the array need not be full
  (`unrollings`, `array_sides`);
- temporal tiling factors at the three memory levels (0: per-PE, 1: global buffer,
  2: off-chip), whose product with the spatial factor covers the (padded) loop bound;
- the loop order at each level, one of eight stationarity orders (W, I or O stays
  resident while the innermost loops, irrelevant to it, run); at the per-PE level it decides
  which operand the MAC's registers keep across consecutive MACs.

Named dataflows are constraints on that space: the dimensions unrolled spatially and the
dimensions allowed to iterate inside a PE (level 0).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable

import numpy as np

from codesign.cost.nest import (
    CUTS,
    FX,
    FY,
    LEVELS,
    ORDERS,
    OX,
    OY,
    C,
    K,
    Mappings,
)

# (dims unrolled over rows, dims over columns, dims allowed at the per-PE level); the first
# dim of a side takes as much of the array as it can, the next fills what is left
DATAFLOWS: dict[str, tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]] = {
    "row_stationary": ((FY, C), (OY, K), (FX, C)),  # Eyeriss: filter rows x output rows
    "weight_stationary": ((C, FY, FX), (K,), (OX, OY)),  # TPU: weights pinned
    "output_stationary": ((OX, OY), (K,), (C, FY, FX)),  # psums pinned
    "input_stationary": ((C,), (OX, OY), (K,)),
}

# "unconstrained": no stationarity rule (any loop may iterate inside a PE), over four
# spatial unrollings; what ZigZag's free search explores. "C|C" reduces partial sums over the
# whole array (an adder tree across rows and columns, which ZigZag assumes free). A hardware
# file opts in by listing "unconstrained".
_ALL = (K, C, OY, OX, FY, FX)
UNCONSTRAINED = {
    "unconstrained C,FY,FX|K": ((C, FY, FX), (K,), _ALL),
    "unconstrained FY,C|OY,K": ((FY, C), (OY, K), _ALL),
    "unconstrained OX,OY|K": ((OX, OY), (K,), _ALL),
    "unconstrained C|C": ((C,), (C,), _ALL),
}
DATAFLOWS.update(UNCONSTRAINED)
# "unconstrained" is four unrollings: each is sampled at this share of a named dataflow's
# count (the beam refines the best of each), so opting in costs about two named dataflows
UNCONSTRAINED_SHARE = 0.5


def expand_dataflows(names: tuple[str, ...]) -> tuple[str, ...]:
    """The hardware's dataflow names with "unconstrained" expanded into its unrollings."""
    out: list[str] = []
    for n in names:
        out.extend(UNCONSTRAINED if n == "unconstrained" else [n])
    return tuple(dict.fromkeys(out))


# loop orders at each level, innermost first; named by the operand they keep resident, each
# with the output columns (OX) or the output rows (OY) inner: rows inner lets a tile be a
# column strip that spans the whole height (a halo is then fetched once per strip, not per row)
def dataflow_dims(
    name: str, groups: bool = False
) -> tuple[tuple[int, ...], tuple[int, ...], tuple[int, ...]]:
    """(dims over rows, dims over columns, dims at the per-PE level) of dataflow `name`; with
    `groups` (a depthwise layer: one input channel per group, its groups in K), K takes C's
    place wherever C appears, so the array fills with channels where it would reduce inputs
    (ZigZag and AccelForge unroll a depthwise layer's groups the same way)."""
    dims = DATAFLOWS[name]
    if not groups:
        return dims
    return tuple(  # type: ignore[return-value]
        tuple(dict.fromkeys(K if d == C else d for d in side)) for side in dims
    )


def unrolling(
    name: str, bounds: np.ndarray, rows: int, cols: int, groups: bool = False
) -> tuple[dict[int, int], dict[int, int]]:
    """Spatial factors {dim: factor} over the rows and over the columns of dataflow `name`:
    the first dim of a side takes as much of it as the loop allows, the next fill what is
    left (a dim on both sides splits its loop between them). `groups`: see `dataflow_dims`."""
    rdims, cdims, _ = dataflow_dims(name, groups)
    taken = np.ones(6, dtype=np.int64)
    sides: list[dict[int, int]] = []
    for dims, size in ((rdims, rows), (cdims, cols)):
        side, left = {}, size
        for d in dims:
            f = int(min(left, -(-bounds[d] // taken[d])))
            if f > 1:
                side[d] = f
                taken[d] *= f
                left //= f
        sides.append(side)
    return sides[0], sides[1]


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _fill(
    name: str,
    bounds: np.ndarray,
    rows: int,
    cols: int,
    groups: bool,
    pick: Callable[[list[int]], int],
) -> np.ndarray:
    """Spatial factors [6] of dataflow `name` where each dim of a side, in the dataflow's
    order, takes `pick(divisors of what is left of its loop that fit what is left of the
    side)`, so the factors divide the loops exactly."""
    rdims, cdims, _ = dataflow_dims(name, groups)
    s = np.ones(6, dtype=np.int64)
    for dims, size in ((rdims, rows), (cdims, cols)):
        left = size
        for d in dims:
            rest = int(bounds[d]) // int(s[d]) if bounds[d] % s[d] == 0 else 1
            f = pick([x for x in _divisors(rest) if x <= left])
            s[d] *= f
            left //= f
    return s


def unrollings(
    name: str,
    bounds: np.ndarray,
    rows: int,
    cols: int,
    groups: bool = False,
    *,
    rng: np.random.Generator | None = None,
    partial: int = 0,
) -> list[np.ndarray]:
    """Distinct spatial factor vectors [6] of dataflow `name`: the greedy fill (`unrolling`),
    the exact fill (each dim the largest divisor of its loop that fits, no idle last pass),
    then up to `partial` random sub-array unrollings (each dim a random divisor of its loop
    that fits), drawn with `rng`. A smaller unrolling holds smaller tiles per step, which can
    keep a whole operand in the global buffer (AccelForge's optimum for ResNet-18's conv4_1
    on Eyeriss uses 8 PEs); latency pays for it, which the min-latency pick sees."""
    greedy = np.ones(6, dtype=np.int64)
    for side in unrolling(name, bounds, rows, cols, groups):
        for d, f in side.items():
            greedy[d] *= f
    out = [greedy, _fill(name, bounds, rows, cols, groups, max)]
    if rng is not None:
        for _ in range(partial):
            out.append(_fill(name, bounds, rows, cols, groups, lambda xs: int(rng.choice(xs))))
    distinct: dict[bytes, np.ndarray] = {}
    for v in out:
        distinct.setdefault(v.tobytes(), v)
    return list(distinct.values())


def array_sides(
    name: str, spatial: np.ndarray, rows: int, cols: int, groups: bool = False
) -> tuple[dict[int, int], dict[int, int]] | None:
    """Spatial factors [6] of a mapping of dataflow `name` split over the array's rows and
    columns ({dim: factor} each), or None when they do not fit it (a factor on a dim the
    dataflow does not unroll, or more than a side holds). A dim on both sides splits with
    the largest part that fits on the rows."""
    rdims, cdims, _ = dataflow_dims(name, groups)
    used = [d for d in range(6) if spatial[d] > 1]
    if any(d not in rdims and d not in cdims for d in used):
        return None
    r = {d: int(spatial[d]) for d in used if d in rdims and d not in cdims}
    c = {d: int(spatial[d]) for d in used if d in cdims and d not in rdims}
    pr, pc = math.prod(r.values()), math.prod(c.values())
    for d in (d for d in used if d in rdims and d in cdims):
        f = int(spatial[d])
        a = max((x for x in _divisors(f) if pr * x <= rows and pc * (f // x) <= cols), default=0)
        if a == 0:
            return None
        if a > 1:
            r[d] = a
        if f // a > 1:
            c[d] = f // a
        pr, pc = pr * a, pc * (f // a)
    if pr > rows or pc > cols:
        return None
    return r, c


# imperfect factorisation (as Timeloop allows): a channel loop of awkward length (37 = 512 /
# 14, a prime) may also run to a rounder length up to this factor longer, its last pass
# partly idle
PAD_SLACK = 1.3


def _padded_options(p: int) -> list[int]:
    """Loop lengths a mapping may tile for a loop of `p` iterations: `p` first, then the
    multiples of 2, 4, 8 and 16 above it within `PAD_SLACK`."""
    out = {p}
    for m in (2, 4, 8, 16):
        q = -(-p // m) * m
        if p < q <= PAD_SLACK * p:
            out.add(q)
    return sorted(out)


@functools.lru_cache(maxsize=4096)
def _splits(p: int, allow_level0: bool) -> np.ndarray:
    """All (t0, t1, t2) with t0 * t1 * t2 == p (t0 == 1 unless allowed), as an [n, 3] array
    (shared between calls: read it, never write it)."""
    divs = [d for d in range(1, p + 1) if p % d == 0]
    out = []
    for t0 in divs if allow_level0 else [1]:
        for t1 in divs:
            if (p // t0) % t1 == 0 and t1 * t0 <= p:
                out.append((t0, t1, p // (t0 * t1)))
    arr = np.array(out, dtype=np.int64)
    arr.setflags(write=False)
    return arr


def _sample_temporal(
    padded: np.ndarray, n: int, pe_dims: tuple[int, ...], rng: np.random.Generator
) -> np.ndarray:
    """Temporal factors [n, 6, 3] covering the loops `padded` [6] (what the array leaves of
    each), level 0 only for `pe_dims`, with the two structured corners first (everything
    streamed from DRAM; everything held in the global buffer) when n allows."""
    t = np.empty((n, 6, LEVELS), dtype=np.int64)
    half = n // 2
    for d in range(6):
        exact = _splits(int(padded[d]), d in pe_dims)
        # (only the channel loops: a tile's size is linear in them, so the idle part of
        # the last pass averages out exactly; row, column and filter loops shape windows)
        longer = _padded_options(int(padded[d]))[1:] if d in (K, C) else []
        rounder = [_splits(q, d in pe_dims) for q in longer]
        splits = np.concatenate([exact, *rounder])
        # the exact length and the rounder ones are drawn equally often
        share = np.full(len(splits), 1.0 / len(exact))
        if rounder:
            share[len(exact) :] = 1.0 / (len(splits) - len(exact))
        # half uniform over the splits, half biased to keep data on chip (small DRAM
        # factors), where the good mappings usually are
        on_chip = share / splits[:, 2].astype(np.float64) ** 2
        choice = rng.choice(len(splits), n, p=share / share.sum())
        choice[half:] = rng.choice(len(splits), n - half, p=on_chip / on_chip.sum())
        t[:, d, :] = splits[choice]
    if n >= 8:
        t[0, :, :] = 1
        t[0, :, 2] = padded  # everything streamed from DRAM
        t[1, :, :] = 1
        t[1, :, 1] = padded  # everything held in the global buffer
    return t


def sample_mappings(
    bounds: np.ndarray,
    rows: int,
    cols: int,
    dataflows: tuple[str, ...],
    per_dataflow: int = 2000,
    seed: int = 0,
    *,
    bypass_ok: np.ndarray | None = None,
    bypass_forced: np.ndarray | None = None,
    groups: bool = False,
    other_unrollings: float = 0.0,
    partial: int = 0,
) -> Mappings:
    """Random mappings of a layer, `per_dataflow` for each allowed dataflow (less for the
    unconstrained unrollings, `UNCONSTRAINED_SHARE`), plus the
    extremes (everything at DRAM level; as much as possible at the global buffer).

    A dataflow's samples use its greedy unrolling (`unrolling`), but for the share
    `other_unrollings` of them, spread evenly over its exact fill and up to `partial` random
    sub-array unrollings (`unrollings`). `bypass_forced[6]` (per-PE W, I, O, then buffer W,
    I, O) are always set; the optional `bypass_ok[6]` are set at random in half the samples.
    `groups`: a depthwise layer whose channels unroll in C's place (`dataflow_dims`)."""
    rng = np.random.default_rng(seed)
    dataflows = expand_dataflows(tuple(dataflows))
    sp_all, t_all, o_all, df_all, cut_all, byp_all = [], [], [], [], [], []
    ok = np.zeros(CUTS, dtype=bool) if bypass_ok is None else np.asarray(bypass_ok, bool)
    forced = np.zeros(CUTS, dtype=bool) if bypass_forced is None else np.asarray(bypass_forced)
    for di, name in enumerate(dataflows):
        pe_dims = dataflow_dims(name, groups)[2]
        n = int(per_dataflow * UNCONSTRAINED_SHARE) if name in UNCONSTRAINED else per_dataflow
        if other_unrollings > 0:
            variants = unrollings(name, bounds, rows, cols, groups, rng=rng, partial=partial)
        else:
            variants = unrollings(name, bounds, rows, cols, groups)[:1]
        others = round(n * other_unrollings) if len(variants) > 1 else 0
        counts = [n - others] + [
            others // (len(variants) - 1) + (i < others % (len(variants) - 1))
            for i in range(len(variants) - 1)
        ]
        for s, nv in zip(variants, counts):
            if nv == 0:
                continue
            padded = -(-bounds // s)  # ceil
            t_all.append(_sample_temporal(padded, nv, pe_dims, rng))
            sp_all.append(np.broadcast_to(s, (nv, 6)))
            cut = rng.integers(0, 7, (nv, CUTS))
            cut[: nv // 2] = 0
            cut[: 3 * nv // 4, 3:] = 0
            cut_all.append(cut)
            byp = np.zeros((nv, CUTS), dtype=bool)
            if ok.any():
                byp[nv // 2 :] = (rng.random((nv - nv // 2, CUTS)) < 0.5) & ok
            byp_all.append(byp | forced)
            o_all.append(rng.integers(0, len(ORDERS), (nv, LEVELS)))
            df_all.append(np.full(nv, di))
    return Mappings(
        np.concatenate(sp_all).astype(np.int64),
        np.concatenate(t_all),
        np.concatenate(o_all),
        np.concatenate(df_all),
        tuple(dataflows),
        np.concatenate(cut_all),
        np.concatenate(byp_all),
    )


def _prime_factors(n: int) -> list[int]:
    out, p = [], 2
    while p * p <= n:
        while n % p == 0:
            out.append(p)
            n //= p
        p += 1
    if n > 1:
        out.append(n)
    return sorted(set(out))


def _allowed(
    m: Mappings,
    groups: bool,
    pick: Callable[[tuple[int, ...], tuple[int, ...], tuple[int, ...]], set[int]],
) -> np.ndarray:
    """[M, 6] bool: the dims `pick(rows dims, columns dims, per-PE dims)` of each mapping's
    dataflow (`dataflow_dims`) allows."""
    ok = np.zeros((len(m), 6), dtype=bool)
    for di, name in enumerate(m.names):
        ok[np.ix_(m.dataflow == di, sorted(pick(*dataflow_dims(name, groups))))] = True
    return ok


def _spatial_moves(
    base: Mappings, primes: list[int], array: tuple[int, int], bounds: np.ndarray, groups: bool
) -> list[Mappings]:
    """`base` with a prime factor of one loop moved between the array and level 1 (out of
    the unrolling, or into it where the dataflow unrolls that dim and the array has room).

    A factor moved out of an unrolling whose last pass was partly idle (14 output columns on
    12 PEs, 2 passes) would make the temporal loops run past the loop's end (24 of 14); level 1
    then runs just what is left: the temporal loops cover ceil(bound / unrolling) exactly, and
    a move for which no whole level-1 factor does that is dropped."""
    sp_ok = _allowed(base, groups, lambda rdims, cdims, _: {*rdims, *cdims})
    fits = _fits_array(base.names, array, groups)
    sp, t1 = base.spatial, base.temporal[:, :, 1]
    # the factor each move takes [M, 6, primes + 1]: a prime, or (last) the whole unrolled
    # factor out of the array at once
    f = np.empty((*sp.shape, len(primes) + 1), dtype=np.int64)
    f[:, :, :-1] = np.array(primes, dtype=np.int64)
    f[:, :, -1] = np.where(sp > 1, sp, 0)
    divides = f > 1
    ok_out = divides & (sp[:, :, None] % np.maximum(f, 1) == 0) & sp_ok[:, :, None]
    ok_out[:, :, -1] &= ~np.isin(sp, primes)  # a prime factor moves out above
    ok_in = divides & (t1[:, :, None] % np.maximum(f, 1) == 0) & sp_ok[:, :, None]
    ok_in[:, :, -1] = False
    # ordered by dim, factor, out before in, row
    d, j, into, r = np.nonzero(np.stack([ok_out, ok_in], axis=3).transpose(1, 2, 3, 0))
    nb = base.take(r)
    i, fac = np.arange(len(r)), f[r, d, j]
    keep = np.ones(len(r), dtype=bool)
    inward = into.astype(bool)
    o, n = ~inward, inward
    io, do_ = i[o], d[o]
    nb.spatial[io, do_] //= fac[o]
    need = -(-bounds[do_].astype(np.int64) // nb.spatial[io, do_])
    rest = nb.temporal[io, do_, 0] * nb.temporal[io, do_, 2]
    nb.temporal[io, do_, 1] = need // rest
    keep[o] = need % rest == 0  # (a smaller unrolling still fits the array)
    nb.spatial[i[n], d[n]] *= fac[n]
    nb.temporal[i[n], d[n], 1] //= fac[n]
    keep[n] = fits(nb.dataflow[n], nb.spatial[n])  # a larger one may not
    return [nb.take(np.flatnonzero(keep))]


def _fits_array(
    names: tuple[str, ...], array: tuple[int, int], groups: bool
) -> Callable[[np.ndarray, np.ndarray], np.ndarray]:
    """A function of (dataflow[M], spatial[M, 6]) giving [M] bool: the unrolling fits the
    `array` (`array_sides`), each distinct (dataflow, unrolling) checked once per call of
    this function (a key packs the dataflow and six factors below 2**8 each into an int)."""
    memo: dict[int, bool] = {}
    weights = 1 << (8 * np.arange(7, dtype=np.int64))

    def fits(dataflow: np.ndarray, spatial: np.ndarray) -> np.ndarray:
        if spatial.max(initial=0) >= 256 or len(names) >= 256:  # no packing: check each
            return np.array(
                [array_sides(names[int(d)], sp, *array, groups) is not None
                 for d, sp in zip(dataflow, spatial)],
                dtype=bool,
            )  # fmt: skip
        keys = np.concatenate([spatial, dataflow[:, None]], axis=1).astype(np.int64) @ weights
        uniq, first, inv = np.unique(keys, return_index=True, return_inverse=True)
        for k, row in zip(uniq.tolist(), first.tolist()):
            if k not in memo:
                memo[k] = (
                    array_sides(names[int(dataflow[row])], spatial[row], *array, groups) is not None
                )
        return np.array([memo[k] for k in uniq.tolist()], dtype=bool)[inv.reshape(-1)]

    return fits


_STEPS = ((0, 1), (1, 0), (1, 2), (2, 1))  # (from, to) level of a temporal factor's move


def _temporal_moves(base: Mappings, primes: list[int], pe_ok: np.ndarray) -> Mappings:
    """`base` with a prime factor of one loop moved to an adjacent level (into the per-PE
    level only where `pe_ok[M, 6]`), all at once: ordered by dim, then step (`_STEPS`), then
    prime, then row."""
    t = base.temporal
    src = np.stack([t[:, :, a] for a, _ in _STEPS], axis=2)  # [M, 6, steps]
    ps = np.array(primes, dtype=np.int64)
    ok = src[..., None] % ps == 0  # [M, 6, steps, primes]
    into_pe = np.array([b == 0 for _, b in _STEPS])
    ok &= ~into_pe[None, None, :, None] | pe_ok[:, :, None, None]
    d, k, j, r = np.nonzero(ok.transpose(1, 2, 3, 0))
    nb = base.take(r)
    i = np.arange(len(r))
    a = np.array([x for x, _ in _STEPS])[k]
    b = np.array([y for _, y in _STEPS])[k]
    nb.temporal[i, d, a] //= ps[j]
    nb.temporal[i, d, b] *= ps[j]
    return nb


def neighbours(
    m: Mappings,
    rows: np.ndarray,
    bypass_ok: np.ndarray | None = None,
    groups: bool = False,
    array: tuple[int, int] | None = None,
    bounds: np.ndarray | None = None,
) -> Mappings:
    """Mappings one step away from each of `rows`: a prime factor of one loop moved to an
    adjacent memory level (into the per-PE level only where the dataflow allows it), or
    between the array and level 1 (given the `array`'s rows and columns), the
    loop order of one level changed, one operand's cut moved by one loop, or one of the
    optional bypasses `bypass_ok[6]` toggled. Moves through the array need the layer's loop
    `bounds` [6] too."""
    rows = np.asarray(rows, dtype=np.intp)
    base = m.take(rows)
    cuts = base.cuts()
    # which dims may iterate inside a PE, per row
    pe_ok = _allowed(base, groups, lambda _r, _c, pe: set(pe))
    moves: list[Mappings] = []  # each a copy of some base rows with one thing changed
    primes = sorted({p for v in np.unique(base.temporal) for p in _prime_factors(int(v))})
    if primes:
        moves.append(_temporal_moves(base, primes, pe_ok))
    if array is not None:
        if bounds is None:
            raise ValueError("moves through the array need the layer's loop bounds")
        sp_primes = {p for v in np.unique(base.spatial) for p in _prime_factors(int(v))}
        moves += _spatial_moves(base, sorted(set(primes) | sp_primes), array, bounds, groups)
    # another loop order at one level (ordered by level, order, row)
    orders = np.arange(len(ORDERS))
    lv, o, r = np.nonzero(base.order.T[:, None, :] != orders[None, :, None])
    nb = base.take(r)
    nb.order[np.arange(len(r)), lv] = o
    moves.append(nb)
    # one operand's cut one loop further in or out (ordered by cut, step, row)
    steps = np.array([-1, 1])
    moved = cuts.T[:, None, :] + steps[None, :, None]  # [cuts, 2, M]
    x, k, r = np.nonzero((moved >= 0) & (moved <= 6))
    nb = base.take(r)
    nb.cut[np.arange(len(r)), x] += steps[k]
    moves.append(nb)
    for x in np.flatnonzero(np.zeros(CUTS, bool) if bypass_ok is None else bypass_ok):
        nb = base.take(np.arange(len(rows)))
        nb.bypass[:, x] = ~nb.bypass[:, x]
        moves.append(nb)
    return concat(*moves) if moves else m.take(np.zeros(0, dtype=np.intp))


def concat(*parts: Mappings) -> Mappings:
    """The mappings of `parts`, one after another (all of one layer's dataflow names)."""
    return Mappings(
        np.concatenate([p.spatial for p in parts]),
        np.concatenate([p.temporal for p in parts]),
        np.concatenate([p.order for p in parts]),
        np.concatenate([p.dataflow for p in parts]),
        parts[0].names,
        np.concatenate([p.cuts() for p in parts]),
        np.concatenate([p.bypasses() for p in parts]),
    )
