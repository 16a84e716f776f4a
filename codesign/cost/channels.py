"""Which channels survive pruning: a 0-bit output channel removed through the whole graph.

A pruned output channel of a conv / linear layer is exactly zero after its bias and batch-norm
(the fake quantization masks it there), so every layer that reads it can drop it:

- a conv / linear (groups = 1) reads fewer input channels: its MACs and weights per output
  channel shrink by the fraction of input channels still alive;
- a depthwise conv's channel c reads only input channel c: when that is dead, channel c is
  dead too (its own weight bits are forced to 0, the *canonical* configuration);
- a grouped conv's output channel reads its group's inputs: it shrinks with the group's alive
  fraction, and dies with the whole group;
- pooling, padding, upsampling and reshapes that keep channels in dimension 1 pass liveness
  through; a matmul of two activations (no weights) keeps all its channels; an add
  (residual) keeps a channel alive when any operand has it, a multiply when every operand
  has it; a channel-wise concat concatenates its operands' channels. Where channels cannot
  be matched (broadcasts, a concat along another dimension) every channel counts as alive,
  which never under-prices.

Each kind's rule is its `Channels` trait (`codesign.core.ops.OP_TRAITS`), the table the storage
width walk (`codesign.cost.tables.tensor_readers`) reads too.

`ChannelPlan` holds these rules for one graph, node by node in execution order; `propagate`
applies them to a population (boolean arrays), `live_sets` to one configuration (Python sets,
an independent implementation the exact cost model uses and the tests compare against).
"""

from __future__ import annotations

import weakref
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from codesign.core.ops import Channels
from codesign.workload.graph import LayerGraph

ALL = "all"  # every channel alive (inputs, and what cannot be matched)
OWN = "own"  # a weighted layer: its own kept channels
SAME = "same"  # pass-through of the one producer (pool, pad, reshape)
UNION = "union"  # add
INTERSECT = "intersect"  # multiply
CONCAT = "concat"  # channel-wise concatenation of the producers, in order


@dataclass(frozen=True)
class NodePlan:
    """How one node's output channels stay alive.

    `inputs` are plan indices of the producers; `channels` the length of the node's liveness
    vector (0 when every channel counts as alive). For a weighted node, `layer` is its index
    among the quantizable layers, `groups` its convolution groups, `in_channels` its input
    channels (all groups), and `aligned` whether the producer's liveness vector lines up with
    those input channels (needed for depthwise and grouped convs; a plain conv / linear only
    uses the alive fraction).
    """

    name: str
    rule: str
    inputs: tuple[int, ...] = ()
    channels: int = 0
    layer: int = -1
    groups: int = 1
    in_channels: int = 0
    aligned: bool = False


@dataclass(frozen=True)
class ChannelPlan:
    """The liveness rules of every node of a graph, in execution order."""

    nodes: tuple[NodePlan, ...]
    index: Mapping[str, int]

    @property
    def layer_nodes(self) -> list[int]:
        """Plan indices of the weighted layers, in quantizable-layer order."""
        out = [(n.layer, i) for i, n in enumerate(self.nodes) if n.rule == OWN]
        return [i for _, i in sorted(out)]


_PLANS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def plan_of(graph: LayerGraph) -> ChannelPlan:
    """The `ChannelPlan` of `graph`, built once per graph object (exact pricing calls it for
    every candidate)."""
    plan = _PLANS.get(graph)
    if plan is None:
        plan = _PLANS[graph] = build_plan(graph)
    return plan


def build_plan(graph: LayerGraph) -> ChannelPlan:
    """The `ChannelPlan` of `graph`."""
    index = {n: i for i, n in enumerate(graph.order)}
    qindex = {s.name: i for i, s in enumerate(graph.quantizable)}
    nodes: list[NodePlan] = []
    for name in graph.order:
        spec = graph[name]
        t = spec.kind.traits
        preds = tuple(index[p] for p in graph.producers(name))
        if t.channels is Channels.FIXED:  # no weights: all its channels, its inputs unshrunk
            nodes.append(NodePlan(name, OWN, (), spec.K, qindex[name]))
            continue
        if t.channels is Channels.OWN:
            in_ch = spec.C * spec.groups
            src = nodes[preds[0]] if len(preds) == 1 else None
            aligned = src is not None and src.channels == in_ch
            nodes.append(
                NodePlan(
                    name,
                    OWN,
                    preds[:1] if len(preds) == 1 else (),
                    spec.K,
                    qindex[name],
                    spec.groups,
                    in_ch,
                    aligned,
                )
            )
            continue
        chans = [nodes[p].channels for p in preds]
        # a view keeps the channels where its input has them in dimension 1 (a flatten of a
        # map); after a transpose or a linear over tokens they cannot be matched
        passes = t.channels is Channels.SAME and (
            not t.view or chans[:1] == [_dim1(spec.input_shape)]
        )
        if passes and len(preds) == 1 and chans[0] > 0:
            nodes.append(NodePlan(name, SAME, preds, chans[0]))
        elif (
            t.channels in (Channels.UNION, Channels.INTERSECT)
            and preds
            and len(set(chans)) == 1
            and (chans[0] > 0 and chans[0] == _dim1(spec.output_shape))
        ):
            rule = UNION if t.channels is Channels.UNION else INTERSECT
            nodes.append(NodePlan(name, rule, preds, chans[0]))
        elif t.channels is Channels.CONCAT and preds and _channel_concat(graph, name, chans):
            nodes.append(NodePlan(name, CONCAT, preds, sum(chans)))
        else:
            nodes.append(NodePlan(name, ALL, preds, 0))
    return ChannelPlan(tuple(nodes), index)


def _dim1(shape: Sequence[int]) -> int:
    return int(shape[1]) if len(shape) > 1 else 0


def _channel_concat(graph: LayerGraph, name: str, chans: list[int]) -> bool:
    """True when `name` concatenates its producers along dimension 1 and each producer's
    liveness vector is that producer's dimension 1."""
    if any(c <= 0 for c in chans):
        return False
    prods = graph.producers(name)
    if any(c != _dim1(graph[p].output_shape) for p, c in zip(prods, chans)):
        return False
    return sum(chans) == _dim1(graph[name].output_shape)


# -- a population: boolean arrays -------------------------------------------------------------


@dataclass(frozen=True)
class Liveness:
    """What `propagate` returns for P candidates.

    ``keep[l]`` [P, K_l]: the canonical kept output channels of quantizable layer l;
    ``in_frac[l]`` [P, K_l]: the alive fraction of the input channels each output channel
    reads (its MACs and weights scale by it); ``node_frac`` [P, nodes]: the alive fraction of
    each node's output channels (1 where all count as alive).
    """

    keep: tuple[np.ndarray, ...]
    in_frac: tuple[np.ndarray, ...]
    node_frac: np.ndarray


def propagate(plan: ChannelPlan, kept: Sequence[np.ndarray]) -> Liveness:
    """Liveness of P candidates whose layer l keeps the output channels ``kept[l]`` [P, K_l]
    (bool, before canonicalisation)."""
    P = kept[0].shape[0] if kept else 0
    live: list[np.ndarray | None] = []
    node_frac = np.ones((P, len(plan.nodes)))
    keep_out: list[np.ndarray] = [np.empty(0)] * len(kept)
    frac_out: list[np.ndarray] = [np.empty(0)] * len(kept)
    for i, node in enumerate(plan.nodes):
        ins = [live[j] for j in node.inputs]
        if node.rule == OWN:
            own = np.asarray(kept[node.layer], dtype=bool)
            src = ins[0] if ins else None
            K = own.shape[1]
            if src is None:
                frac = np.ones((P, K))
            elif node.groups == 1 or not node.aligned:
                frac = np.repeat(src.mean(axis=1, keepdims=True), K, axis=1)
            else:
                g = node.groups
                per_group = src.reshape(P, g, -1).mean(axis=2)  # [P, g]
                frac = np.repeat(per_group, K // g, axis=1)
            k = own & (frac > 0)
            keep_out[node.layer], frac_out[node.layer] = k, frac
            live.append(k)
        elif node.rule == SAME:
            live.append(ins[0])
        elif node.rule in (UNION, INTERSECT):
            if any(x is None for x in ins):
                # an operand with every channel alive: the union is all alive; the
                # intersection is the other operands'
                known = [x for x in ins if x is not None]
                if node.rule == UNION or not known:
                    live.append(None)
                else:
                    live.append(np.logical_and.reduce(known))
            else:
                op = np.logical_or if node.rule == UNION else np.logical_and
                live.append(op.reduce(ins))
        elif node.rule == CONCAT:
            parts = [
                np.ones((P, plan.nodes[j].channels), dtype=bool) if x is None else x
                for j, x in zip(node.inputs, ins)
            ]
            live.append(np.concatenate(parts, axis=1))
        else:
            live.append(None)
        if live[-1] is not None:
            node_frac[:, i] = live[-1].mean(axis=1)
    return Liveness(tuple(keep_out), tuple(frac_out), node_frac)


# -- one configuration: Python sets --------------------------------------------------------------


def live_sets(
    plan: ChannelPlan, kept: Mapping[str, set[int]], channels: Mapping[str, int]
) -> tuple[dict[str, set[int]], dict[str, list[float]], dict[str, float]]:
    """Liveness of one configuration whose weighted layer `name` keeps the output channels
    ``kept[name]`` out of ``channels[name]``.

    Returns (canonical kept channels per weighted layer; per weighted layer the alive input
    fraction of each output channel; the alive fraction of every node's output).
    """
    alive: dict[str, set[int] | None] = {}
    width: dict[str, int] = {}
    keep: dict[str, set[int]] = {}
    in_frac: dict[str, list[float]] = {}
    frac: dict[str, float] = {}
    for node in plan.nodes:
        srcs = [plan.nodes[j].name for j in node.inputs]
        if node.rule == OWN:
            K = channels[node.name]
            src = alive.get(srcs[0]) if srcs else None
            if src is None:
                fr = [1.0] * K
            elif node.groups == 1 or not node.aligned:
                fr = [len(src) / width[srcs[0]]] * K
            else:
                per = node.in_channels // node.groups
                fr = []
                for k in range(K):
                    g = k // (K // node.groups)
                    fr.append(len({c for c in src if g * per <= c < (g + 1) * per}) / per)
            keep[node.name] = {k for k in kept[node.name] if fr[k] > 0}
            in_frac[node.name] = fr
            alive[node.name], width[node.name] = keep[node.name], K
        elif node.rule == SAME:
            alive[node.name], width[node.name] = alive[srcs[0]], node.channels
        elif node.rule in (UNION, INTERSECT):
            sets = [alive[s] for s in srcs]
            full = set(range(node.channels))
            sets = [full if s is None else s for s in sets]
            out = set.union(*sets) if node.rule == UNION else set.intersection(*sets)
            alive[node.name] = None if out == full else out
            width[node.name] = node.channels
        elif node.rule == CONCAT:
            out: set[int] = set()
            offset = 0
            for s in srcs:
                w = width[s]
                part = set(range(w)) if alive[s] is None else alive[s]
                out |= {offset + c for c in part}
                offset += w
            alive[node.name], width[node.name] = out, offset
        else:
            alive[node.name], width[node.name] = None, 0
        a = alive[node.name]
        frac[node.name] = 1.0 if a is None else len(a) / width[node.name]
    return keep, in_frac, frac
