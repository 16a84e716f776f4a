"""`LayerGraph`: the network as a DAG of frozen `LayerSpec` nodes; edges are activations."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict

import networkx as nx
import numpy as np

from codesign.core.errors import ConfigError
from codesign.core.types import LayerSpec, OpKind


class LayerGraph:
    """A networkx DiGraph of layers in execution order.

    Node attribute ``spec`` holds the `LayerSpec`; edge attribute ``elems`` holds the number of
    elements of the activation tensor that flows from producer to consumer.
    """

    def __init__(self, graph: nx.DiGraph, order: list[str], name: str = "model") -> None:
        if set(order) != set(graph.nodes):
            raise ValueError("order must list every node of the graph exactly once")
        self.graph = graph
        self.order = list(order)
        self.name = name

    # -- access -----------------------------------------------------------------------------
    def __getitem__(self, name: str) -> LayerSpec:
        return self.graph.nodes[name]["spec"]

    def __iter__(self) -> Iterator[LayerSpec]:
        return iter(self.layers)

    def __len__(self) -> int:
        return len(self.order)

    @property
    def layers(self) -> list[LayerSpec]:
        """Every layer, in execution (topological) order."""
        return [self.graph.nodes[n]["spec"] for n in self.order]

    @property
    def quantizable(self) -> list[LayerSpec]:
        """The layers with a precision gene, in execution order: those with weights (conv,
        depthwise / grouped / transposed conv, linear) and matmuls of two activations."""
        return [s for s in self.layers if s.kind.quantized]

    @property
    def total_macs(self) -> int:
        """Multiply-accumulates per inference of all conv / linear / matmul layers."""
        return sum(s.macs for s in self.layers)

    @property
    def total_weights(self) -> int:
        """Weights of all conv / linear layers (biases excluded)."""
        return sum(s.weight_count for s in self.layers)

    def require_conv_linear(self, what: str, matmul_ok: bool = False) -> None:
        """`ConfigError` naming the first matmul of two activations (unless `matmul_ok`) or
        transposed conv, for a part of codesign (`what`) that quantizes conv / linear layers
        only."""
        for s in self.quantizable:
            t = s.kind.traits
            if not t.conv_linear and not (matmul_ok and not t.has_weights):
                raise ConfigError(
                    f"{what} handles conv and linear layers; layer '{s.name}' is a "
                    f"{s.kind.value}. Use --strategy nsga2 or random with --estimator "
                    "finetune or proxy"
                )

    def consumers(self, name: str) -> list[str]:
        """Names of the layers that read the output of `name`, in execution order."""
        pos = {n: i for i, n in enumerate(self.order)}
        return sorted(self.graph.successors(name), key=pos.__getitem__)

    def producers(self, name: str) -> list[str]:
        """Names of the layers whose outputs `name` reads."""
        return list(self.graph.predecessors(name))

    # -- memory liveness ----------------------------------------------------------------------
    def liveness(self) -> tuple[list[str], np.ndarray]:
        """Which activation tensors are resident while each layer runs.

        Returns ``(tensors, live)``: `tensors` names the producing layer of each tensor (the
        tensor is that layer's output) and ``live[t, j]`` is True when tensor j must be held
        in memory while layer t (in `order`) executes: it was produced at or before t and
        is read at or after t. Reshape layers alias their input, so they neither produce a
        new tensor nor end the life of the one they read (`OpTraits.view`).
        """
        alias = {}
        for name in self.order:
            spec = self[name]
            preds = self.producers(name)
            if spec.kind.traits.view and len(preds) == 1:
                alias[name] = alias.get(preds[0], preds[0])
        tensors = [n for n in self.order if n not in alias]
        index = {n: i for i, n in enumerate(tensors)}
        pos = {n: i for i, n in enumerate(self.order)}
        live = np.zeros((len(self.order), len(tensors)), dtype=bool)
        for name in self.order:
            if name in alias:
                continue
            start = pos[name]
            readers = list(self.graph.successors(name))
            # follow reshape aliases to the layers that really read the data
            stack = list(readers)
            ends = [start]
            while stack:
                r = stack.pop()
                ends.append(pos[r])
                if r in alias:
                    stack.extend(self.graph.successors(r))
            live[start : max(ends) + 1, index[name]] = True
        return tensors, live

    def tensor_elems(self, name: str) -> int:
        """Elements of the output tensor of layer `name` (batch included)."""
        return self[name].output_elems

    # -- export -------------------------------------------------------------------------------
    def to_records(self) -> list[dict]:
        """Every layer as a plain dict (JSON-ready), with its MACs, weights and inputs."""
        rows = []
        for spec in self.layers:
            row = asdict(spec)
            row["kind"] = spec.kind.value
            row["macs"] = spec.macs
            row["weight_count"] = spec.weight_count
            row["inputs"] = self.producers(spec.name)
            rows.append(row)
        return rows

    @classmethod
    def from_records(cls, records: list[dict], name: str = "model") -> LayerGraph:
        """The graph `to_records` wrote (layers.json of a run)."""
        from dataclasses import fields

        keys = {f.name for f in fields(LayerSpec)}
        g = nx.DiGraph()
        order = []
        for r in records:
            spec = {k: v for k, v in r.items() if k in keys}
            spec["kind"] = OpKind(spec["kind"])
            for k in ("stride", "padding", "input_shape", "output_shape", "fused"):
                if k in spec:
                    spec[k] = tuple(spec[k])
            g.add_node(r["name"], spec=LayerSpec(**spec))
            order.append(r["name"])
        for r in records:
            for src in r.get("inputs", []):
                g.add_edge(src, r["name"], elems=g.nodes[src]["spec"].output_elems)
        return cls(g, order, name)

    def summary(self) -> str:
        """A one-line description: name, layer count, MACs, weights."""
        return (
            f"{self.name}: {len(self.quantizable)} quantizable of {len(self)} layers, "
            f"{self.total_macs:,} MACs, {self.total_weights:,} weights"
        )
