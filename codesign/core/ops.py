"""Op kinds and their traits, in one table (`OP_TRAITS`) that every stage reads.

What a node of a `LayerGraph` computes is an `OpKind`; everything the rest of codesign needs to
know about a kind is its `OpTraits` row: whether it has weights and a precision gene, how the
cost models price it, how its operands' storage width and pruned channels pass through it,
and how it runs as a loop nest on a spatial array. Cost models, the mapper, the channel plan,
the cost tables and the exporters ask the table; none keeps a list of kinds of its own
(`tests/core/test_ops.py` greps the package for one).

Adding a kind: a member of `OpKind`, its row in `OP_TRAITS` (a test checks every member has
one), and the extraction rule that produces it (`codesign/workload/extract.py`).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType


class OpKind(str, enum.Enum):
    """What a node of a `LayerGraph` computes (its traits: `OP_TRAITS`)."""

    INPUT = "input"
    CONV = "conv"
    DWCONV = "dwconv"  # depthwise: groups == in channels
    GCONV = "gconv"  # grouped, 1 < groups < in channels
    LINEAR = "linear"
    MAXPOOL = "maxpool"
    AVGPOOL = "avgpool"
    ADD = "add"
    MUL = "mul"
    CONCAT = "concat"
    RESHAPE = "reshape"  # flatten / view / reshape / transpose / slice: addressing only
    PAD = "pad"
    TCONV = "tconv"  # transposed convolution (ConvTranspose1d / 2d, groups = 1)
    MATMUL = "matmul"  # activation x activation (batched) matmul: q @ k^T, attn @ v
    NORM = "norm"  # LayerNorm / GroupNorm: statistics over the tensor, not foldable
    SOFTMAX = "softmax"  # softmax / log-softmax over a dimension
    ACT = "act"  # a non-linear activation (GELU, SiLU, ...) no conv / linear / matmul absorbs
    UPSAMPLE = "upsample"  # nearest / bilinear interpolation

    @property
    def traits(self) -> OpTraits:
        """This kind's row of `OP_TRAITS`."""
        return OP_TRAITS[self]

    @property
    def has_weights(self) -> bool:
        """True for the kinds whose weights are quantized and packed (conv, linear)."""
        return OP_TRAITS[self].has_weights

    @property
    def quantized(self) -> bool:
        """True for the kinds with a precision gene: the weighted kinds, and the matmul of two
        activations (both operands at the layer's activation bits, no weights)."""
        return OP_TRAITS[self].quantized


class Pricing(str, enum.Enum):
    """How a cost model prices a kind. A cost model refuses a pricing it does not know rather
    than pricing the layer at zero silently."""

    MAC = "mac"  # multiply-accumulates (`LayerSpec.macs`) at the layer's precision
    PER_ELEMENT = "per_element"  # element operations (`LayerSpec.ops`) on the other units
    FREE = "free"  # a view, a copy into place or address arithmetic: costs nothing


class Channels(str, enum.Enum):
    """How a node's output channels stay alive when upstream output channels are pruned
    (0 weight bits; `codesign.cost.channels`)."""

    OWN = "own"  # a weighted layer: its own kept channels; it reads its producer's alive ones
    FIXED = "fixed"  # every output channel kept, inputs read whole (a matmul of activations)
    SAME = "same"  # its one producer's (pooling, pad, upsample; a view that keeps dimension 1)
    UNION = "union"  # alive where any operand has it (add: x + 0 = x)
    INTERSECT = "intersect"  # alive where every operand has it (multiply: x * 0 = 0)
    CONCAT = "concat"  # the operands' channels one after another (a channel-wise concat)
    NONE = "none"  # every channel counts as alive (statistics across channels, or none read)

    @property
    def passes(self) -> bool:
        """True when the rule carries its producers' liveness through (same, union,
        intersect, concat)."""
        return self in _PASSING


_PASSING = frozenset({Channels.SAME, Channels.UNION, Channels.INTERSECT, Channels.CONCAT})


class LoopNest(str, enum.Enum):
    """How a MAC kind runs as the six-loop nest (K, C, OY, OX, FY, FX) that the mapper unrolls
    and tiles (`codesign.cost.nest.loop_bounds`) and the loop-nest exporters write."""

    NONE = "none"  # not a loop nest: priced per element, or free
    CONV = "conv"  # a window over the zero-padded input map, at the layer's stride
    GROUPED = "grouped"  # CONV whose groups run one after another in K: K indexes the input too
    DEPTHWISE = "depthwise"  # GROUPED with one input channel per group (C = 1)
    VECTORS = "vectors"  # a linear layer: its N input vectors along OX, a 1 x 1 window
    PRODUCTS = "products"  # N independent products, M rows along OX, operand 2 in W's place
    SUBPIXEL = "subpixel"  # a transposed conv: sy x sx stride-1 convs over the padded input

    @property
    def padded(self) -> bool:
        """True when the nest reads the layer's own input map through its stride and zero
        padding (`LayerSpec.padding`); otherwise the nest is a stride-1 one without padding
        whose input is exactly the window it sweeps (OY + FY - 1 by OX + FX - 1 of its
        bounds), and the exporters write that nest instead of the layer's own shape."""
        return self in (LoopNest.CONV, LoopNest.GROUPED, LoopNest.DEPTHWISE)

    @property
    def groups_in_k(self) -> bool:
        """True when the layer's groups run one after another in K, so K indexes the input."""
        return self in (LoopNest.GROUPED, LoopNest.DEPTHWISE)

    @property
    def unrolls_groups(self) -> bool:
        """True when the mapper may unroll the groups (K) where a dataflow unrolls input
        channels (C), which the layer has one of per group (`MapperSettings.group_unrolling`)."""
        return self is LoopNest.DEPTHWISE

    @property
    def repeats_over_n(self) -> bool:
        """True when N is a real loop around the nest: the nest runs once per independent
        product (batch x heads); elsewhere N is the batch of one image (or, for VECTORS,
        runs along OX)."""
        return self is LoopNest.PRODUCTS

    @property
    def scatters(self) -> bool:
        """True when each input pixel scatters into a window of outputs (a transposed conv:
        its MACs count input pixels, not output ones)."""
        return self is LoopNest.SUBPIXEL


@dataclass(frozen=True)
class OpTraits:
    """Everything codesign needs to know about one `OpKind`.

    - `has_weights`: weights quantized and packed (and prunable per output channel);
    - `quantized`: a precision gene (the weighted kinds and the matmul of two activations);
    - `pricing`: how cost models price it (`Pricing`);
    - `ops_per_element`: element operations per output element of a `PER_ELEMENT` kind
      (integer kernels: LayerNorm sums x and x^2, subtracts the mean, scales by 1/std and
      applies the affine, 5; softmax takes the row max, subtracts it and looks up exp, sums,
      scales by the reciprocal, 4; an activation is one table lookup or piecewise-linear step;
      an add or a multiply one; pooling one per window element, `per_window`; nearest
      upsampling copies one element, and `mode_ops` overrides it per `LayerSpec.mode`:
      bilinear blends four);
    - `storage`: passes storage width through: a tensor this kind reads is stored at the
      width of the quantized layers downstream of it (through further pass-through kinds),
      as an integer library stores the operands of a residual add or an upsampling at the
      activation width of their quantized readers (`codesign.cost.tables.tensor_readers`);
    - `channels`: how pruned channels pass through (`Channels`); every kind that passes
      liveness through passes storage width too (checked here);
    - `view`: addressing only: its output is the tensor it reads (liveness aliases the two,
      `LayerGraph.liveness`), and it keeps its producer's channels only where that tensor's
      dimension 1 stays dimension 1;
    - `nest`: how it runs as a loop nest on a spatial array (`LoopNest`);
    - `conv_linear`: a conv or a linear module, which the strategies that quantize modules in
      place (supernet, DNAS, CSQ) handle; not a transposed conv or a matmul of activations;
    - `network_input`: the data fed to the network; where no quantized layer reads it, it is
      stored at the hardware's widest activation width (any other tensor without a quantized
      reader stays at the accumulator width, `codesign.cost.tables.OUTPUT_BITS`).
    """

    has_weights: bool = False
    quantized: bool = False
    pricing: Pricing = Pricing.FREE
    ops_per_element: int = 0
    per_window: bool = False
    mode_ops: tuple[tuple[str, int], ...] = ()
    storage: bool = False
    channels: Channels = Channels.NONE
    view: bool = False
    nest: LoopNest = LoopNest.NONE
    conv_linear: bool = False
    network_input: bool = False

    def __post_init__(self) -> None:
        if self.has_weights and not self.quantized:
            raise ValueError("a kind with weights has a precision gene")
        if self.quantized != (self.pricing is Pricing.MAC):
            raise ValueError("the quantized kinds, and only they, are priced in MACs")
        if self.quantized == (self.nest is LoopNest.NONE):
            raise ValueError("the quantized kinds, and only they, run as loop nests")
        if (self.pricing is Pricing.PER_ELEMENT) != (self.ops_per_element > 0):
            raise ValueError("a kind priced per element counts its element operations")
        if self.channels.passes and not self.storage:
            raise ValueError("a kind that passes channel liveness through passes storage too")
        if (self.channels is Channels.OWN) != self.has_weights:
            raise ValueError("the weighted kinds, and only they, prune their own channels")
        if self.channels is Channels.FIXED and not self.quantized:
            raise ValueError("a kind that keeps its channels fixed has a precision gene")
        if self.quantized and self.storage:
            raise ValueError("a quantized kind reads its input at its own activation bits")

    def ops_for(self, mode: str) -> int:
        """Element operations per output (or window) element in upsampling mode `mode`."""
        return dict(self.mode_ops).get(mode, self.ops_per_element)


OP_TRAITS: Mapping[OpKind, OpTraits] = MappingProxyType(
    {
        OpKind.INPUT: OpTraits(network_input=True),
        OpKind.CONV: OpTraits(
            has_weights=True,
            quantized=True,
            pricing=Pricing.MAC,
            channels=Channels.OWN,
            nest=LoopNest.CONV,
            conv_linear=True,
        ),
        OpKind.DWCONV: OpTraits(
            has_weights=True,
            quantized=True,
            pricing=Pricing.MAC,
            channels=Channels.OWN,
            nest=LoopNest.DEPTHWISE,
            conv_linear=True,
        ),
        OpKind.GCONV: OpTraits(
            has_weights=True,
            quantized=True,
            pricing=Pricing.MAC,
            channels=Channels.OWN,
            nest=LoopNest.GROUPED,
            conv_linear=True,
        ),
        OpKind.LINEAR: OpTraits(
            has_weights=True,
            quantized=True,
            pricing=Pricing.MAC,
            channels=Channels.OWN,
            nest=LoopNest.VECTORS,
            conv_linear=True,
        ),
        OpKind.TCONV: OpTraits(
            has_weights=True,
            quantized=True,
            pricing=Pricing.MAC,
            channels=Channels.OWN,
            nest=LoopNest.SUBPIXEL,
        ),
        OpKind.MATMUL: OpTraits(
            quantized=True, pricing=Pricing.MAC, channels=Channels.FIXED, nest=LoopNest.PRODUCTS
        ),
        OpKind.MAXPOOL: OpTraits(
            pricing=Pricing.PER_ELEMENT,
            ops_per_element=1,
            per_window=True,
            storage=True,
            channels=Channels.SAME,
        ),
        OpKind.AVGPOOL: OpTraits(
            pricing=Pricing.PER_ELEMENT,
            ops_per_element=1,
            per_window=True,
            storage=True,
            channels=Channels.SAME,
        ),
        OpKind.UPSAMPLE: OpTraits(
            pricing=Pricing.PER_ELEMENT,
            ops_per_element=1,
            mode_ops=(("bilinear", 4),),
            storage=True,
            channels=Channels.SAME,
        ),
        OpKind.ADD: OpTraits(
            pricing=Pricing.PER_ELEMENT, ops_per_element=1, storage=True, channels=Channels.UNION
        ),
        OpKind.MUL: OpTraits(
            pricing=Pricing.PER_ELEMENT,
            ops_per_element=1,
            storage=True,
            channels=Channels.INTERSECT,
        ),
        OpKind.CONCAT: OpTraits(pricing=Pricing.FREE, storage=True, channels=Channels.CONCAT),
        OpKind.RESHAPE: OpTraits(
            pricing=Pricing.FREE, storage=True, channels=Channels.SAME, view=True
        ),
        OpKind.PAD: OpTraits(pricing=Pricing.FREE, storage=True, channels=Channels.SAME),
        # not pass-through: a tensor only these read finds no quantized reader and stays at
        # the accumulator width (`codesign.cost.tables.OUTPUT_BITS`), as before this table
        OpKind.NORM: OpTraits(pricing=Pricing.PER_ELEMENT, ops_per_element=5),
        OpKind.SOFTMAX: OpTraits(pricing=Pricing.PER_ELEMENT, ops_per_element=4),
        OpKind.ACT: OpTraits(pricing=Pricing.PER_ELEMENT, ops_per_element=1),
    }
)
