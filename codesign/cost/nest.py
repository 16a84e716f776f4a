"""What a mapping of a layer onto a spatial array is, as arrays: the loop nest of a layer
(`loop_bounds`), its six dimensions, three memory levels and eight loop orders, and M mappings
of it (`Mappings`). The loop-nest cost model (`cost.spatial`) prices them; the mapper
(`codesign.mapping`) searches them. Neither the model nor this module imports the mapper.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from codesign.core.ops import LoopNest
from codesign.core.types import LayerSpec

DIMS = ("K", "C", "OY", "OX", "FY", "FX")
K, C, OY, OX, FY, FX = range(6)
LEVELS = 3
CUTS = 6  # per-operand cuts: (W, I, O) at level 1, then (W, I, O) at level 2

ORDERS = (
    ("W-stationary", (OX, OY, FX, FY, C, K)),  # W-irrelevant OX, OY innermost
    ("O-stationary", (FX, FY, C, OX, OY, K)),  # O-irrelevant C, FY, FX innermost
    ("I-stationary", (K, FX, FY, C, OX, OY)),  # I-irrelevant K innermost
    ("W-stationary, rows inner", (OY, OX, FX, FY, C, K)),
    ("O-stationary, rows inner", (FX, FY, C, OY, OX, K)),
    ("I-stationary, rows inner", (K, FX, FY, C, OY, OX)),
    # O-irrelevant C, FY, FX innermost, then the I-irrelevant K: outputs stay while the input
    # channels reduce into them, then the input tile stays across a block of output channels
    # inside the output-row loop (AccelForge 1.0.467's optimum for ResNet-18's conv3_x on
    # Eyeriss keeps its buffer's inputs and outputs so, `benchmarks/bench_accelforge.py`)
    ("O-stationary, K next", (FX, FY, C, K, OX, OY)),
    ("O-stationary, K next, rows inner", (FX, FY, C, K, OY, OX)),
)
ORDER_ARRAY = np.array([o for _, o in ORDERS], dtype=np.intp)  # [orders, 6]


def loop_bounds(spec: LayerSpec) -> tuple[np.ndarray, int, int, bool]:
    """(bounds [6] of K, C, OY, OX, FY, FX; stride y; stride x; depthwise) of a conv / linear.

    A linear layer's N input vectors run along OX; a matmul of two activations is one of its
    N independent products (`instances`), its M rows along OX, its second operand in the
    weight's place. A transposed convolution runs as its sub-pixel equivalent (Shi et al.
    CVPR 2016): sy x sx stride-1 convolutions over the zero-padded input, each with a
    ceil(F / s) filter making ceil(O / s) rows and columns of its phase of the output, i.e.
    K x sy x sx output channels (exact where the strides divide the filter and the output;
    otherwise the phases' shorter filters and edges are padded with zeros, which only adds).
    """
    nest = spec.kind.traits.nest
    if nest is LoopNest.VECTORS:
        return np.array([spec.K, spec.C, 1, spec.N, 1, 1]), 1, 1, False
    if nest is LoopNest.PRODUCTS:
        return np.array([spec.K, spec.C, 1, spec.OY, 1, 1]), 1, 1, False
    if nest is LoopNest.SUBPIXEL:
        sy, sx = spec.stride
        fy, fx = -(-spec.FY // sy), -(-spec.FX // sx)
        oy, ox = -(-spec.OY // sy), -(-spec.OX // sx)
        return np.array([spec.K * sy * sx, spec.C, oy, ox, fy, fx]), 1, 1, False
    if not nest.padded:
        raise ValueError(f"layer '{spec.name}' ({spec.kind.value}) is not a loop nest")
    # grouped: the groups run one after another, folded into K (C counts per group);
    # depthwise: one input channel per group
    dw = nest.unrolls_groups
    b = np.array([spec.K, 1 if dw else spec.C, spec.OY, spec.OX, spec.FY, spec.FX])
    return b, spec.stride[0], spec.stride[1], dw


def instances(spec: LayerSpec) -> int:
    """How many times the loop nest of `loop_bounds` runs: the N independent products of a
    matmul of two activations (batch x heads), else 1."""
    return int(spec.N) if spec.kind.traits.nest.repeats_over_n else 1


@dataclass(frozen=True)
class Mappings:
    """M mappings of one layer as arrays.

    ``spatial[M, 6]`` factors (1 where not unrolled), ``temporal[M, 6, 3]`` factors per level,
    ``order[M, 3]`` index into `ORDERS` for levels 0 (per PE), 1 and 2, ``dataflow[M]`` index into
    `names`, the dataflow names. ``cut[M, 6]`` is the per-operand allocation (as ZigZag's):
    columns 0-2 let the per-PE tile of W, I, O also span the first `cut` loops of level 1's
    order (a PE can hold a large weight tile while its input tile stays small); columns 3-5
    let the global-buffer tile of W, I, O span the first `cut` loops of level 2's order (the
    buffer keeps all of a layer's weights while inputs stream from DRAM, say).
    ``bypass[M, 6]`` (bool, same layout) lets W, I, O skip the per-PE memory (the MACs read it
    from the global buffer) or the global buffer (it moves between DRAM and the PEs).
    """

    spatial: np.ndarray
    temporal: np.ndarray
    order: np.ndarray
    dataflow: np.ndarray
    names: tuple[str, ...]
    cut: np.ndarray | None = None  # [M, 6]: level-1 then level-2 loops each operand's tile spans
    bypass: np.ndarray | None = None  # [M, 6] bool: W, I, O skip the per-PE level, the buffer

    def cuts(self) -> np.ndarray:
        """Per-operand cuts [M, 6] (zeros when none were given; a [M, 3] cut is level 1's)."""
        out = np.zeros((len(self.dataflow), CUTS), dtype=np.int64)
        if self.cut is not None:
            out[:, : self.cut.shape[1]] = self.cut
        return out

    def bypasses(self) -> np.ndarray:
        """Per-operand bypass [M, 6] bool (none when not given)."""
        if self.bypass is None:
            return np.zeros((len(self.dataflow), CUTS), dtype=bool)
        return self.bypass.astype(bool, copy=False)

    def __len__(self) -> int:
        return len(self.dataflow)

    def take(self, idx: np.ndarray) -> Mappings:
        """The mappings at `idx`."""
        return Mappings(
            self.spatial[idx],
            self.temporal[idx],
            self.order[idx],
            self.dataflow[idx],
            self.names,
            self.cuts()[idx],
            self.bypasses()[idx],
        )

    def describe(self, i: int) -> dict[str, object]:
        """Mapping i in words: dataflow, spatial unrolling, tiling and loop order per level."""
        sp = {DIMS[d]: int(self.spatial[i, d]) for d in range(6) if self.spatial[i, d] > 1}
        levels = ["PE", "GLB", "DRAM"]
        tiles = {
            levels[lv]: {
                DIMS[d]: int(self.temporal[i, d, lv])
                for d in range(6)
                if self.temporal[i, d, lv] > 1
            }
            for lv in range(LEVELS)
        }
        orders = {levels[lv]: ORDERS[int(self.order[i, lv])][0] for lv in range(LEVELS)}
        out = {
            "dataflow": self.names[int(self.dataflow[i])],
            "spatial": sp,
            "tiling": tiles,
            "loop_order": orders,
        }
        cut = self.cuts()[i]
        for lv, key in ((1, "pe_tile_extra"), (2, "glb_tile_extra")):
            order = ORDERS[int(self.order[i, lv])][1]
            extra = {
                op: [
                    f"{DIMS[d]}{int(self.temporal[i, d, lv])}"
                    for d in order[: int(c)]
                    if self.temporal[i, d, lv] > 1
                ]
                for op, c in zip("WIO", cut[3 * (lv - 1) : 3 * lv])
            }
            extra = {op: loops for op, loops in extra.items() if loops}
            if extra:
                out[key] = extra
        byp = self.bypasses()[i]
        skipped = {
            lv: [op for op, b in zip("WIO", byp[3 * j : 3 * j + 3]) if b]
            for j, lv in enumerate(("PE", "GLB"))
        }
        skipped = {lv: ops for lv, ops in skipped.items() if ops}
        if skipped:
            out["bypass"] = skipped
        return out


def padded_macs(m: Mappings) -> np.ndarray:
    """Iterations of the padded loop nest [M] (>= the layer's MACs)."""
    return m.spatial.prod(axis=1) * m.temporal.prod(axis=(1, 2))


def layer_macs(bounds: np.ndarray) -> int:
    """MACs of the layer (the product of its loop bounds)."""
    return math.prod(int(b) for b in bounds)
