"""`CostTables`: every layer priced once at every precision; a population scored by gathers."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from codesign.core.candidates import CandidateBatch, NetworkScores, index_of
from codesign.core.errors import ConfigError
from codesign.cost.channels import ChannelPlan, build_plan, propagate


@dataclass(frozen=True)
class CostTables:
    """Per-layer cost arrays of one (network, hardware) pair.

    Index conventions: l over the L quantizable layers (`layer_names`), a over `act_bits`,
    w over `weight_bits` (searchable, non-zero), j over activation tensors, t over execution steps.

    - ``cycles[l, a, w, m]`` and ``energy_j[l, a, w, m]``: layer l with every output channel
      at (a, w) and mapping m (M = 1 where the hardware has no mapping choice)
    - ``weight_bytes[l, w]``: packed weights + per-channel parameters of layer l at w
    - ``fixed_cycles``, ``fixed_energy_j``: the layers without weights (pooling, add)
    - ``tensor_elems[j]`` and ``tensor_readers[j]``: elements of tensor j and the quantizable
      layers whose activation bits set its storage width (the widest reader wins; readers
      through pass-through kinds count, `tensor_readers`); ``tensor_default_bits[j]`` where
      no quantizable layer reads it (network input: the widest activation bits; else
      `OUTPUT_BITS`)
    - ``live[t, j]``: tensor j resident while step t runs

    Per-channel weight bits (0 = pruned) are scored where the family's cost is linear in a
    layer's channels (MCU cores: one kernel call per bit-width): then `plan` says how pruned
    channels propagate (`codesign.cost.channels`), ``channels[l]`` and
    ``weights_per_channel[l]`` size each layer, ``node_fixed_*[n]`` price each weightless node
    of the plan at full width (scaled by its alive channels), ``tensor_nodes[j]`` is the plan
    node that produces tensor j, and ``prunable[l]`` says whether layer l may drop channels
    (not the layers whose outputs are the network's outputs). Otherwise `plan` is None and
    `channel_refusal` says why.
    """

    layer_names: tuple[str, ...]
    act_bits: tuple[int, ...]
    weight_bits: tuple[int, ...]
    cycles: np.ndarray
    energy_j: np.ndarray
    weight_bytes: np.ndarray
    fixed_cycles: float
    fixed_energy_j: float
    tensor_names: tuple[str, ...]
    tensor_elems: np.ndarray
    tensor_readers: tuple[tuple[int, ...], ...]
    tensor_default_bits: np.ndarray
    live: np.ndarray
    clock_hz: float
    memory_limit_bytes: float
    mapping_names: tuple[str, ...] = ("fixed kernel",)
    channels: np.ndarray | None = None
    weights_per_channel: np.ndarray | None = None
    plan: ChannelPlan | None = None
    node_fixed_cycles: np.ndarray | None = None
    node_fixed_energy_j: np.ndarray | None = None
    tensor_nodes: np.ndarray | None = None
    prunable: tuple[bool, ...] = ()
    channel_refusal: str = "these cost tables price one weight bit-width per layer"
    tied: tuple[bool, ...] = ()

    def is_tied(self, li: int) -> bool:
        """True when layer `li` multiplies two activations: its second operand (the "weight"
        axis of these tables) is an activation at the layer's activation bits."""
        return bool(self.tied) and self.tied[li]

    def tie(self, batch: CandidateBatch) -> CandidateBatch:
        """`batch` with the weight bits of every tied layer (`tied`) set to its activation
        bits: what the search spaces decode to, and the only precisions these layers take."""
        if not any(self.tied):
            return batch
        weights = list(batch.weight_bits)
        for li, t in enumerate(self.tied):
            if t:
                w = weights[li]
                weights[li] = np.broadcast_to(batch.act_bits[:, li : li + 1], w.shape).astype(
                    w.dtype
                )
        return CandidateBatch(
            batch.layer_names, batch.act_bits, tuple(weights), batch.group_sizes, batch.mapping
        )

    @property
    def num_mappings(self) -> int:
        """Mapping choices per layer and precision (the mapping gene's values)."""
        return int(self.cycles.shape[3])

    @property
    def num_layers(self) -> int:
        """Number of quantizable layers (genes per bit-width kind)."""
        return len(self.layer_names)

    def tensor_bits(self, act_idx: np.ndarray) -> np.ndarray:
        """Storage bits [P, J] of every activation tensor for act-bit indices [P, L]."""
        bits = np.asarray(self.act_bits, dtype=np.float64)[act_idx]
        out = np.empty((act_idx.shape[0], len(self.tensor_names)), dtype=np.float64)
        for j, readers in enumerate(self.tensor_readers):
            out[:, j] = (
                bits[:, list(readers)].max(axis=1) if readers else self.tensor_default_bits[j]
            )
        return out

    @property
    def channelwise(self) -> bool:
        """True when these tables price per-channel weight bits (see `channel_refusal`)."""
        return self.plan is not None

    def indices(self, batch: CandidateBatch) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
        """(act, weight, mapping) indices [P, L] into these tables of a layer-wise batch.

        Raises `ConfigError` for a bit-width the tables do not hold, or for per-channel-group
        weight bits (these tables price one weight bit-width per layer).
        """
        if batch.layer_names != self.layer_names:
            raise ConfigError("candidate batch and cost tables name different layers")
        try:
            w = batch.layer_weight_bits()
        except ValueError as exc:
            raise ConfigError(f"cost tables: {exc}") from None
        a = index_of(batch.act_bits, self.act_bits, "activation")
        return a, index_of(w, self.weight_bits, "weight"), batch.mapping

    def score(self, batch: CandidateBatch) -> NetworkScores:
        """Score a batch of P candidate networks (vectorised: gathers and sums).

        A batch with one weight bit-width per layer is three gathers; per-channel weight bits
        (0 = pruned) go through `score_channels`.
        """
        if batch.is_layerwise and (
            not batch.weight_bits or min(int(w.min(initial=1)) for w in batch.weight_bits) > 0
        ):
            return self.score_indices(*self.indices(batch))
        return self.score_channels(batch)

    def score_channels(self, batch: CandidateBatch) -> NetworkScores:
        """Score P candidates with per-channel weight bits, pruned channels propagated.

        Per layer l with activation index a and channel k at weight bits w_k alive on a
        fraction f_k of its inputs: cycles = sum_k f_k * cycles[l, a, w_k] / K_l (0 bits: 0);
        weight bytes = sum over kept k of (wpc_l * f_k * w_k + 64) / 8; every weightless node
        and activation tensor scales by its alive channels. Equal to the family's exact
        `price` on every candidate (tested).
        """
        if self.plan is None:
            raise ConfigError(self.channel_refusal)
        if batch.layer_names != self.layer_names:
            raise ConfigError("candidate batch and cost tables name different layers")
        P = len(batch)
        a = index_of(batch.act_bits, self.act_bits, "activation")
        m = np.zeros_like(a) if batch.mapping is None else np.asarray(batch.mapping, np.intp)
        bits = [self.channel_bits(batch, li) for li in range(self.num_layers)]
        lv = propagate(self.plan, [b > 0 for b in bits])
        severed = np.array([~k.any(axis=1) for k in lv.keep]).any(axis=0)
        for li, b in enumerate(bits):  # (a cut network zeroes everything after the cut)
            if not self.prunable[li] and ((b == 0).any(axis=1) & ~severed).any():
                raise ConfigError(
                    f"layer '{self.layer_names[li]}': its outputs are the network's outputs "
                    "or the hardware has no 0-bit weights; its channels cannot be pruned"
                )
        lut = np.zeros(max(max(self.weight_bits), max(int(b.max()) for b in bits)) + 1, np.intp)
        lut[list(self.weight_bits)] = np.arange(len(self.weight_bits))
        bad = {int(v) for b in bits for v in np.unique(b) if v and v not in self.weight_bits}
        if bad:
            raise ConfigError(f"weight bits {sorted(bad)} not among {[0, *self.weight_bits]}")
        cycles = np.zeros(P)
        energy = np.zeros(P)
        wbytes = np.zeros(P)
        for li in range(self.num_layers):
            K = int(self.channels[li])
            keep, frac, b = lv.keep[li], lv.in_frac[li], bits[li]
            w = lut[b]  # [P, K]
            al = a[:, li][:, None]
            ml = m[:, li][:, None]
            share = np.where(keep, frac, 0.0) / K
            cycles += (self.cycles[li][al, w, ml] * share).sum(axis=1)
            energy += (self.energy_j[li][al, w, ml] * share).sum(axis=1)
            if not self.is_tied(li):  # a matmul of two activations stores no weights
                wbytes += (
                    np.where(
                        keep, self.weights_per_channel[li] * frac * b + CHANNEL_PARAM_BITS, 0.0
                    )
                ).sum(axis=1) / 8.0
        cycles += lv.node_frac @ self.node_fixed_cycles
        energy += lv.node_frac @ self.node_fixed_energy_j
        tfrac = lv.node_frac[:, self.tensor_nodes]
        tbytes = self.tensor_bits(a) * self.tensor_elems * tfrac / 8.0
        peak_act = (tbytes @ self.live.T.astype(np.float64)).max(axis=1)
        return NetworkScores(
            cycles=cycles,
            latency_s=cycles / self.clock_hz,
            energy_j=energy,
            weight_bytes=wbytes,
            peak_act_bytes=peak_act,
            severed=severed,
        )

    def canonical(self, batch: CandidateBatch) -> CandidateBatch:
        """`batch` with one weight bit-width per channel, and 0 on every channel pruning
        upstream leaves without input (a depthwise channel whose input channel is pruned, a
        grouped conv's group with every input pruned): the configuration the exported model
        computes and the cost tables price."""
        if self.plan is None:
            raise ConfigError(self.channel_refusal)
        bits = [self.channel_bits(batch, li) for li in range(self.num_layers)]
        lv = propagate(self.plan, [b > 0 for b in bits])
        return CandidateBatch(
            batch.layer_names,
            batch.act_bits,
            tuple(np.where(k, b, 0) for k, b in zip(lv.keep, bits)),
            tuple((1,) * int(k) for k in self.channels),
            batch.mapping,
        )

    def channel_bits(self, batch: CandidateBatch, li: int) -> np.ndarray:
        """Weight bits [P, K_l] of every output channel of layer `li` (groups expanded)."""
        sizes = np.asarray(batch.group_sizes[li], dtype=np.intp)
        if int(sizes.sum()) != int(self.channels[li]):
            raise ConfigError(
                f"layer '{self.layer_names[li]}': channel groups cover {int(sizes.sum())} "
                f"channels, the layer has {int(self.channels[li])}"
            )
        w = np.asarray(batch.weight_bits[li], dtype=np.int64)
        return w if len(sizes) == sizes.sum() else np.repeat(w, sizes, axis=1)

    def expected_cost(
        self, act_probs: Any, weight_probs: Any, map_probs: Any | None = None
    ) -> dict[str, Any]:
        """Expected cycles, energy (J) and weight bytes of the network under independent
        per-layer probabilities ``act_probs[L, A]``, ``weight_probs[L, W]`` and
        ``map_probs[L, M]`` (uniform over M when None). Differentiable: torch tensors in,
        torch tensors out (numpy in, numpy out); for gradient-based strategies.
        """
        try:
            import torch

            is_torch = isinstance(act_probs, torch.Tensor)
        except ImportError:  # pragma: no cover - torch is a dependency
            is_torch = False

        def arr(x: np.ndarray) -> Any:
            return torch.as_tensor(x, dtype=act_probs.dtype) if is_torch else x

        M = self.num_mappings
        mp = arr(np.full((self.num_layers, M), 1.0 / M)) if map_probs is None else map_probs
        out = {}
        for name, table, fixed in (
            ("cycles", self.cycles, self.fixed_cycles),
            ("energy_j", self.energy_j, self.fixed_energy_j),
        ):
            t = arr(table)  # [L, A, W, M]
            per_layer = (
                t
                * act_probs[:, :, None, None]
                * weight_probs[:, None, :, None]
                * mp[:, None, None, :]
            ).sum(axis=(1, 2, 3))
            out[name] = per_layer.sum() + fixed
        out["weight_bytes"] = (arr(self.weight_bytes) * weight_probs).sum()
        return out

    def score_indices(
        self, act_idx: np.ndarray, weight_idx: np.ndarray, map_idx: np.ndarray | None = None
    ) -> NetworkScores:
        """Score P networks from per-layer indices into `act_bits`, `weight_bits` and the
        mapping choices ([P, L] each; mapping 0 when `map_idx` is None).

        Vectorised over the population: gathers from the tables and sums over layers.
        """
        act_idx = np.asarray(act_idx, dtype=np.intp)
        weight_idx = np.asarray(weight_idx, dtype=np.intp)
        map_idx = np.zeros_like(act_idx) if map_idx is None else np.asarray(map_idx, np.intp)
        layers = np.arange(self.num_layers)
        cycles = self.cycles[layers, act_idx, weight_idx, map_idx].sum(axis=1) + self.fixed_cycles
        energy = self.energy_j[layers, act_idx, weight_idx, map_idx].sum(axis=1)
        energy = energy + self.fixed_energy_j
        wbytes = self.weight_bytes[layers, weight_idx].sum(axis=1)
        tbytes = self.tensor_bits(act_idx) * self.tensor_elems / 8.0
        peak_act = (tbytes @ self.live.T.astype(np.float64)).max(axis=1)
        latency = cycles / self.clock_hz
        return NetworkScores(
            cycles=cycles,
            latency_s=latency,
            energy_j=energy,
            weight_bytes=wbytes,
            peak_act_bytes=peak_act,
        )


CHANNEL_PARAM_BITS = 64  # int32 bias + int32 requantisation multiplier per kept channel


def check_tied(graph, hw) -> None:  # noqa: ANN001
    """`ConfigError` unless every activation bit-width of `hw` is also a weight bit-width,
    when `graph` multiplies two activations (both operands take the activation bits)."""
    mm = [s.name for s in graph.quantizable if not s.kind.has_weights]
    missing = sorted(set(hw.act_bits) - set(hw.weight_bits))
    if mm and missing:
        raise ConfigError(
            f"layer '{mm[0]}' multiplies two activations, both at the activation bits, but "
            f"{hw.name} ({hw.source}) has no {missing}-bit second operand: bits.weight must "
            f"include every bits.activation"
        )


# a tensor no quantized layer reads, even through pass-through kinds (the logits; the input
# of a norm, softmax or activation), stays at accumulator width
OUTPUT_BITS = 32


def tensor_readers(graph, tensors: list[str], qindex: dict[str, int]) -> list[tuple[int, ...]]:  # noqa: ANN001
    """For each tensor, the quantizable layers (indices in `qindex`) that read it, directly
    or through kinds that pass storage width through (`OpTraits.storage`: reshapes, pad,
    pooling, upsampling, add, multiply, concat): an integer kernel of such a kind reads and
    writes its operands at the activation width of the quantized layers downstream, so a
    residual branch or an upsampling's input is stored at that width. The widest of them
    sets the tensor's storage width."""
    out = []
    for t in tensors:
        readers: set[int] = set()
        stack = list(graph.graph.successors(t))
        seen = set()
        while stack:
            r = stack.pop()
            if r in seen:
                continue
            seen.add(r)
            if r in qindex:
                readers.add(qindex[r])
            elif graph[r].kind.traits.storage:
                stack.extend(graph.graph.successors(r))  # same storage width passes through
        out.append(tuple(sorted(readers)))
    return out


def memory_fields(graph, act_bits: tuple[int, ...], weight_bits: tuple[int, ...]) -> dict:  # noqa: ANN001
    """The memory part of `CostTables` (weight bytes per layer and bit-width, tensor liveness)."""
    q = graph.quantizable
    qindex = {s.name: i for i, s in enumerate(q)}
    wpc = np.array([s.weights_per_channel for s in q], dtype=np.float64)
    k = np.array([s.K for s in q], dtype=np.float64)
    wbits = np.asarray(weight_bits, dtype=np.float64)
    weighted = np.array([s.kind.has_weights for s in q], dtype=np.float64)
    weight_bytes = (
        weighted[:, None] * k[:, None] * (wpc[:, None] * wbits[None, :] + CHANNEL_PARAM_BITS) / 8.0
    )
    tensors, live = graph.liveness()
    elems = np.array([graph.tensor_elems(t) for t in tensors], dtype=np.float64)
    default_bits = np.array(
        [max(act_bits) if graph[t].kind.traits.network_input else OUTPUT_BITS for t in tensors],
        dtype=np.float64,
    )
    return {
        "tied": tuple(not s.kind.has_weights for s in q),
        "channels": k.astype(np.int64),
        "weights_per_channel": wpc,
        "weight_bytes": weight_bytes,
        "tensor_names": tuple(tensors),
        "tensor_elems": elems,
        "tensor_readers": tuple(tensor_readers(graph, tensors, qindex)),
        "tensor_default_bits": default_bits,
        "live": live,
    }


def channel_fields(
    graph,  # noqa: ANN001
    node_cycles: dict[str, float],
    cycles_to_joules: float,
    can_prune: bool,
) -> dict:
    """The per-channel part of `CostTables` for a family whose layer cost is linear in its
    channels: the pruning plan, each weightless node's cycles (`node_cycles`, at full width)
    and energy (cycles x `cycles_to_joules`), and which layers may prune (none unless
    `can_prune`: the hardware file lists 0 among its weight bits)."""
    q = graph.quantizable
    plan = build_plan(graph)
    tensors, _ = graph.liveness()
    fixed = np.array([node_cycles.get(n.name, 0.0) for n in plan.nodes], dtype=np.float64)
    outputs = {n for n in graph.order if not graph.consumers(n)}
    return {
        "plan": plan,
        "node_fixed_cycles": fixed,
        "node_fixed_energy_j": fixed * cycles_to_joules,
        "tensor_nodes": np.array([plan.index[t] for t in tensors], dtype=np.intp),
        "prunable": tuple(
            can_prune and s.kind.has_weights and _feeds_only_layers(graph, s.name, outputs)
            for s in q
        ),
    }


def _feeds_only_layers(graph, name: str, outputs: set[str]) -> bool:  # noqa: ANN001
    """False when the output of `name` reaches a network output through pass-through nodes
    only (its channels are the network's outputs, which pruning must not remove)."""
    stack, seen = [name], set()
    while stack:
        n = stack.pop()
        if n in seen:
            continue
        seen.add(n)
        if n in outputs:
            return False
        for c in graph.consumers(n):
            if not graph[c].kind.quantized:
                stack.append(c)
    return True


def activation_storage(
    graph,  # noqa: ANN001
    act_bits: dict[str, int],
    input_bits: int,
    alive: Mapping[str, float] | None = None,
) -> tuple[dict, float]:
    """Exact activation memory of one configuration.

    `act_bits` gives each quantizable layer's input bits; `alive` the fraction of each
    node's output channels that pruning leaves (1 when absent). Returns (storage bits of every
    layer's output tensor, keyed by layer, reshapes sharing their input's; the peak bytes of
    activation tensors resident at once). A tensor is stored at the widest bits of the
    quantizable layers that read it, through pass-through kinds (`tensor_readers`); the network
    input with none at `input_bits`, any other tensor with none at `OUTPUT_BITS`.
    """
    qindex = {s.name: i for i, s in enumerate(graph.quantizable)}
    qnames = list(qindex)
    tensors, live = graph.liveness()
    bits: dict[str, int] = {}
    for t, rd in zip(tensors, tensor_readers(graph, tensors, qindex)):
        if rd:
            bits[t] = max(act_bits[qnames[i]] for i in rd)
        else:
            bits[t] = input_bits if graph[t].kind.traits.network_input else OUTPUT_BITS
    for n in graph.order:  # reshapes alias the tensor they read
        if n not in bits:
            bits[n] = bits[graph.producers(n)[0]]
    alive = alive or {}
    tbytes = np.array([graph.tensor_elems(t) * bits[t] * alive.get(t, 1.0) / 8.0 for t in tensors])
    return bits, float((live.astype(np.float64) @ tbytes).max())


def activation_timeline(
    graph,  # noqa: ANN001
    act_bits: dict[str, int],
    input_bits: int,
    alive: Mapping[str, float] | None = None,
) -> np.ndarray:
    """Bytes of activation tensors resident while each layer (in execution order) runs, for
    one configuration, with the storage rules of `activation_storage` (its max is that peak)."""
    bits, _ = activation_storage(graph, act_bits, input_bits, alive)
    tensors, live = graph.liveness()
    alive = alive or {}
    tbytes = np.array([graph.tensor_elems(t) * bits[t] * alive.get(t, 1.0) / 8.0 for t in tensors])
    return live.astype(np.float64) @ tbytes
