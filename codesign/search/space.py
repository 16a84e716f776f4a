"""Search spaces: the genome a strategy varies and how it decodes into candidates.

`make_space` picks one from `--granularity`: `LayerwiseSpace` (layer), `ChannelCountSpace`
(channel) or `GroupSpace` (group:G).

`LayerwiseSpace` (one weight and one activation bit-width per layer, and on hardware with a
mapping choice one mapping per layer): genome ``[w_0 .. w_{L-1}, a_0 .. a_{L-1}, m_0 .. m_{L-1}]``.
Bit genes are ordered integers (indices into the sorted bit-widths the tables hold); mapping
genes are unordered choices among the kept mappings (`choice`), which the operators treat as
categories, never as numbers to interpolate.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from codesign.config import parse_granularity
from codesign.core.candidates import CandidateBatch
from codesign.core.errors import ConfigError
from codesign.cost.tables import CostTables


class LayerwiseSpace:
    """Per-layer weight bits, activation bits and (where the hardware offers one) mapping."""

    name = "layer"

    def __init__(self, tables: CostTables, channels: tuple[int, ...]) -> None:
        self.tables = tables
        self.channels = tuple(channels)
        L = tables.num_layers
        self.num_layers = L
        self.has_mapping = tables.num_mappings > 1
        # a layer that multiplies two activations has no weight gene of its own (its second
        # operand takes its activation bits): that gene holds one value
        w_top = len(tables.weight_bits) - 1
        xu = [0 if tables.is_tied(li) else w_top for li in range(L)]
        xu += [len(tables.act_bits) - 1] * L
        choice = [False] * (2 * L)
        if self.has_mapping:
            xu += [tables.num_mappings - 1] * L
            choice += [True] * L
        self.xu = np.array(xu, dtype=np.int64)
        self.xl = np.zeros_like(self.xu)
        self.choice = np.array(choice, dtype=bool)
        self.n_var = len(xu)
        self._w = np.asarray(tables.weight_bits, dtype=np.int64)
        self._a = np.asarray(tables.act_bits, dtype=np.int64)

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates from genomes ``X[P, n_var]`` (rounded to integers)."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        L = self.num_layers
        m = X[:, 2 * L : 3 * L] if self.has_mapping else None
        return self.tables.tie(
            CandidateBatch.layerwise(
                self.tables.layer_names,
                self.channels,
                self._a[X[:, L : 2 * L]],
                self._w[X[:, :L]],
                m,
            )
        )

    def seeds(self) -> np.ndarray:
        """One genome per (weight bits, act bits[, mapping]) with every layer alike."""
        L = self.num_layers
        maps = range(self.tables.num_mappings) if self.has_mapping else [None]
        tied = [self.tables.is_tied(li) for li in range(L)]
        rows = [
            [0 if t else wi for t in tied] + [ai] * L + ([] if mi is None else [mi] * L)
            for mi in maps
            for wi in range(len(self.tables.weight_bits))
            for ai in range(len(self.tables.act_bits))
        ]
        return np.asarray(rows, dtype=np.float64).reshape(-1, self.n_var)

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` genomes drawn uniformly from the space."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var)).astype(np.float64)


def _levels(tables: CostTables) -> list[np.ndarray]:
    """Per layer, the weight bit-widths a channel may take, ascending: 0 (pruned) first where
    the layer may prune (the hardware lists 0 and its outputs are not the network's); one
    placeholder for a tied layer (a matmul of two activations)."""
    out = []
    for li in range(tables.num_layers):
        if tables.is_tied(li):  # its bits follow its activation gene (`CostTables.tie`)
            out.append(np.asarray([min(tables.weight_bits)], dtype=np.int64))
            continue
        lv = ([0] if tables.prunable[li] else []) + sorted(tables.weight_bits)
        out.append(np.asarray(lv, dtype=np.int64))
    return out


def _level_index(levels: np.ndarray, bits: int) -> int:
    """Index of `bits` among a layer's `levels` (0 for a tied layer's placeholder)."""
    hit = np.flatnonzero(levels == bits)
    return int(hit[0]) if len(hit) else 0


LAYERWISE_SHARE = 0.5  # of a per-channel search's first population (`initial`)


def _add_act_genes(space, tables: CostTables, xu: list[int]) -> None:  # noqa: ANN001
    """Append one activation gene per layer to the weight genes' upper bounds `xu` and set the
    bounds, gene kinds (all ordered) and sizes of a per-channel `space`."""
    space.act_offset = len(xu)
    xu = xu + [len(tables.act_bits) - 1] * tables.num_layers
    space.xu = np.array(xu, dtype=np.int64)
    space.xl = np.zeros_like(space.xu)
    space.choice = np.zeros(len(xu), dtype=bool)
    space.n_var = len(xu)
    space.num_layers = tables.num_layers
    space._a = np.asarray(tables.act_bits, dtype=np.int64)


class ChannelCountSpace:
    """Per-channel weight bits as, per layer, how many channels sit at each bit-width.

    Each layer's channels are ranked once by importance (`ranking[l]`: channel indices from
    least to most important, e.g. by the norm of their batch-norm-folded weights); layer l has
    ``len(levels) - 1`` cut genes in [0, K_l], sorted at decoding: the channels ranked below the
    first cut take the lowest level (0 bits = pruned where allowed), those between the first
    and second cut the next, and so on. Then one activation gene per layer. The genome has
    a handful of genes per layer however many channels there are, every genome is a valid
    configuration, and neighbouring gene values are neighbouring configurations, which is
    what SBX and polynomial mutation need. At least one channel per layer stays (the first
    cut is at most K_l - 1).
    """

    name = "channel"
    has_mapping = False

    def __init__(self, tables: CostTables, ranking: Sequence[np.ndarray]) -> None:
        if not tables.channelwise:
            raise ConfigError(tables.channel_refusal)
        self.tables = tables
        self.levels = _levels(tables)
        self.ranking = [np.asarray(r, dtype=np.intp) for r in ranking]
        K = [int(k) for k in tables.channels]
        for li, r in enumerate(self.ranking):
            if sorted(r.tolist()) != list(range(K[li])):
                raise ConfigError(
                    f"layer '{tables.layer_names[li]}': the channel ranking is not a "
                    f"permutation of its {K[li]} channels"
                )
        xu: list[int] = []
        self.offsets = []
        for li, lv in enumerate(self.levels):
            self.offsets.append(len(xu))
            cuts = [K[li]] * (len(lv) - 1)
            if lv[0] == 0:
                cuts[0] = K[li] - 1
            xu += cuts
        _add_act_genes(self, tables, xu)

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates from genomes ``X[P, n_var]`` (rounded), canonical per channel."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        P = X.shape[0]
        weights = []
        for li, lv in enumerate(self.levels):
            n = len(lv) - 1
            cuts = np.sort(X[:, self.offsets[li] : self.offsets[li] + n], axis=1)
            K = len(self.ranking[li])
            level = (np.arange(K)[None, :, None] >= cuts[:, None, :]).sum(axis=2)
            bits = np.empty((P, K), dtype=np.int64)
            bits[:, self.ranking[li]] = lv[level]
            weights.append(bits)
        act = self._a[X[:, self.act_offset : self.act_offset + self.num_layers]]
        batch = CandidateBatch(
            self.tables.layer_names,
            act,
            tuple(weights),
            tuple((1,) * len(r) for r in self.ranking),
        )
        return self.tables.tie(self.tables.canonical(batch))

    def encode_uniform(self, level_bits: int, act_index: int) -> np.ndarray:
        """The genome with every channel of every layer at `level_bits` (non-zero) and every
        activation at ``act_bits[act_index]``."""
        row = np.zeros(self.n_var)
        for li, lv in enumerate(self.levels):
            i = _level_index(lv, level_bits)
            n = len(lv) - 1
            K = len(self.ranking[li])
            row[self.offsets[li] : self.offsets[li] + n] = [0] * i + [K] * (n - i)
        row[self.act_offset :] = act_index
        return row

    def encode_layerwise(self, level_index: np.ndarray, act_index: np.ndarray) -> np.ndarray:
        """The genome with every channel of layer l at ``levels[l][level_index[l]]`` (a
        non-zero level) and its activation at ``act_bits[act_index[l]]``: a layer-wise
        configuration, which this space holds too."""
        row = np.zeros(self.n_var)
        for li, lv in enumerate(self.levels):
            n = len(lv) - 1
            i = int(level_index[li])
            K = len(self.ranking[li])
            row[self.offsets[li] : self.offsets[li] + n] = [0] * i + [K] * (n - i)
        row[self.act_offset :] = act_index
        return row

    def seeds(self) -> np.ndarray:
        """The uniform configurations (every channel of every layer alike)."""
        return np.asarray(
            [
                self.encode_uniform(w, ai)
                for w in self.tables.weight_bits
                for ai in range(len(self.tables.act_bits))
            ]
        )

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """A first population of `n` genomes: `LAYERWISE_SHARE` of them layer-wise (each
        layer at one random non-zero level, random activations), the rest drawn uniformly."""
        k = int(round(LAYERWISE_SHARE * n))
        lo = np.array([1 if lv[0] == 0 and len(lv) > 1 else 0 for lv in self.levels])
        hi = np.array([len(lv) for lv in self.levels])
        levels = rng.integers(lo, hi, size=(k, self.num_layers))
        acts = rng.integers(0, len(self.tables.act_bits), size=(k, self.num_layers))
        rows = [self.encode_layerwise(lv, a) for lv, a in zip(levels, acts)]
        return np.vstack([np.reshape(rows, (k, self.n_var)), self.random(n - k, rng)])

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` genomes drawn uniformly from the space."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var)).astype(np.float64)


class GroupSpace:
    """One weight bit-width gene per group of `G` consecutive output channels (the last group
    of a layer may be smaller), 0 (pruned) among its values where allowed, then one activation
    gene per layer. Genes grow with the channels: the baseline `ChannelCountSpace` is measured
    against (benchmarks/bench_channelwise.py)."""

    name = "group"
    has_mapping = False

    def __init__(self, tables: CostTables, group: int) -> None:
        if not tables.channelwise:
            raise ConfigError(tables.channel_refusal)
        self.tables = tables
        self.group = group
        self.levels = _levels(tables)
        self.sizes = []
        xu: list[int] = []
        self.offsets = []
        for li, lv in enumerate(self.levels):
            K = int(tables.channels[li])
            sizes = [group] * (K // group) + ([K % group] if K % group else [])
            self.sizes.append(tuple(sizes))
            self.offsets.append(len(xu))
            xu += [len(lv) - 1] * len(sizes)
        _add_act_genes(self, tables, xu)

    def decode(self, X: np.ndarray) -> CandidateBatch:
        """Candidates from genomes ``X[P, n_var]`` (rounded), canonical per channel."""
        X = np.rint(np.asarray(X, dtype=np.float64)).astype(np.intp)
        weights = tuple(
            lv[X[:, self.offsets[li] : self.offsets[li] + len(self.sizes[li])]]
            for li, lv in enumerate(self.levels)
        )
        act = self._a[X[:, self.act_offset : self.act_offset + self.num_layers]]
        batch = CandidateBatch(self.tables.layer_names, act, weights, tuple(self.sizes))
        return self.tables.tie(self.tables.canonical(batch))

    def seeds(self) -> np.ndarray:
        """The uniform configurations (every group of every layer alike)."""
        rows = []
        for w in self.tables.weight_bits:
            for ai in range(len(self.tables.act_bits)):
                row = np.zeros(self.n_var)
                for li, lv in enumerate(self.levels):
                    o = self.offsets[li]
                    row[o : o + len(self.sizes[li])] = _level_index(lv, w)
                row[self.act_offset :] = ai
                rows.append(row)
        return np.asarray(rows)

    def initial(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """A first population of `n` genomes: `LAYERWISE_SHARE` of them layer-wise (every
        group of a layer at one random non-zero level, random activations), the rest drawn
        uniformly."""
        k = int(round(LAYERWISE_SHARE * n))
        lo = np.array([1 if lv[0] == 0 and len(lv) > 1 else 0 for lv in self.levels])
        hi = np.array([len(lv) for lv in self.levels])
        levels = rng.integers(lo, hi, size=(k, self.num_layers))
        rows = np.zeros((k, self.n_var))
        for li in range(self.num_layers):
            o = self.offsets[li]
            rows[:, o : o + len(self.sizes[li])] = levels[:, li : li + 1]
        rows[:, self.act_offset :] = rng.integers(
            0, len(self.tables.act_bits), size=(k, self.num_layers)
        )
        return np.vstack([rows, self.random(n - k, rng)])

    def random(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` genomes drawn uniformly from the space."""
        return rng.integers(0, self.xu + 1, size=(n, self.n_var)).astype(np.float64)


def make_space(
    tables: CostTables,
    channels: Sequence[int],
    granularity: str = "layer",
    ranking: Sequence[np.ndarray] | None = None,
):  # noqa: ANN201
    """The search space of `--granularity`: 'layer', 'channel' or 'group:G'. `ranking`
    (channel space) orders each layer's channels from least to most important; identity when
    None."""
    kind, g = parse_granularity(granularity)
    if kind == "layer":
        return LayerwiseSpace(tables, tuple(channels))
    if kind == "channel":
        if ranking is None:
            ranking = [np.arange(int(k)) for k in channels]
        return ChannelCountSpace(tables, ranking)
    return GroupSpace(tables, g)
