"""`--strategy dnas`: differentiable precision search, per channel, pruning included.

The method of Risso et al. (channel-wise mixed precision, as in PLiNIO's MPS): every weight
gene of the search space (a layer, a group of channels, or one channel) holds a softmax over
its bit-widths, 0 (pruned) included where the layer may prune, and every layer's input a
softmax over the activation bit-widths. In training the layer runs one hard Gumbel-softmax
draw per gene with straight-through gradients (PLiNIO's hard-softmax option) of its
fake-quantized weights (LSQ step sizes per bit-width and channel; 0 bits = no weight) and of
its fake-quantized inputs: a soft mixture lets the batch-norms rescale a half-pruned channel
back, which made pruning look free and collapsed every layer in our first trials. A pruned
channel's bias and batch-norm output are 0. Weights, step sizes and logits train together on

    cross-entropy + lambda * expected cost / cost at the widest bits,

the expected cost taken from the cost tables under the precision probabilities (cycles for the
latency objective, joules for energy, weight bytes for memory; input channels shrink by their
producer's expected keep share). Each generation is one lambda of a geometric sweep over
`LAMBDA_RANGE`, warm-started from the previous one; it proposes the argmax configuration (a
layer whose every channel would be pruned keeps its likeliest channel) and
``pop_size - 1`` draws from the softmaxes, which the run then scores, prices exactly and
fine-tunes like any strategy's candidates.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from codesign.core.errors import ConfigError
from codesign.core.types import Objective
from codesign.cost.channels import OWN, SAME
from codesign.cost.tables import CHANNEL_PARAM_BITS, CostTables
from codesign.quant.fakequant import _grad_scale, conv_or_linear, fake_quant, mse_step, weight_range
from codesign.quant.train import _batches
from codesign.search.registry import register_strategy
from codesign.workload.graph import LayerGraph

STEPS_PER_WEIGHT = 250  # training steps per cost weight of the sweep
LAMBDA_RANGE = (1e-4, 3e-2)  # the sweep's cost weights (cost normalised to 1 at the widest bits)
ALPHA_LR, WEIGHT_LR = 1e-2, 1e-3  # Adam learning rates of the logits and of the weights


@dataclass
class DnasProblem:
    """What DNAS trains on: the base model, its graph, training data, tables and the run's
    first cost objective."""

    model: nn.Module
    graph: LayerGraph
    data: TensorDataset
    tables: CostTables
    objective: Objective


REGULARISERS = {"size": Objective.MEMORY, "latency": Objective.LATENCY, "energy": Objective.ENERGY}


def gradient_problem(ctx: Any, config: Any, default: Objective | None = None) -> DnasProblem:
    """The `DnasProblem` of a run (`ctx`, a stages `Context`; `config`, its `ExploreConfig`):
    the base model, graph, training split and tables, and the cost the regulariser weighs:
    `--regulariser`, else the strategy's `default`, else the run's first cost objective
    (MEMORY stands for weight bytes). `ConfigError` when the workload has no data here."""
    if ctx.data is None:
        raise ConfigError(
            f"--strategy {config.strategy} trains the network on its data, and workload "
            f"'{ctx.workload.name}' has none here"
        )
    if config.regulariser is not None:
        objective = REGULARISERS[config.regulariser]
    elif default is not None:
        objective = default
    else:
        objective = next(o for o in ctx.objectives if o != Objective.ACCURACY_LOSS)
    return DnasProblem(ctx.model, ctx.graph, ctx.data.train, ctx.tables, objective)


def gene_granularity(granularity: str) -> str:
    """The genome a gradient strategy searches for `--granularity`: per channel it trains a
    softmax per channel (one gene each, ``group:1``), never the ranked cut points."""
    return "group:1" if granularity == "channel" else granularity


class _GeneLayout:
    """Which genes of the space set each layer's weight and activation bits."""

    def __init__(self, space: Any, tables: CostTables, strategy: str = "dnas") -> None:
        L = tables.num_layers
        if hasattr(space, "sizes"):  # GroupSpace
            self.levels = [np.asarray(lv) for lv in space.levels]
            self.sizes = [tuple(s) for s in space.sizes]
            self.offsets = list(space.offsets)
            self.act_offset = space.act_offset
        elif hasattr(space, "ranking"):
            raise ConfigError(
                f"--strategy {strategy} searches one gene per channel group: use --granularity "
                f"group:G or layer (with --granularity channel, {strategy} runs as group:1)"
            )
        else:  # LayerwiseSpace: genes w_0..w_{L-1}, a_0..a_{L-1}
            self.levels = [np.asarray(tables.weight_bits)] * L
            self.sizes = [(int(k),) for k in tables.channels]
            self.offsets = list(range(L))
            self.act_offset = L
        self.L = L


class DnasLayer(nn.Module):
    """A conv / linear layer running the softmax mixture of its precisions."""

    def __init__(
        self, inner: nn.Module, act_bits: tuple[int, ...], levels: np.ndarray, sizes: tuple
    ) -> None:
        super().__init__()
        self.inner = inner
        self.act_set = act_bits
        self.levels = tuple(int(b) for b in levels)
        self.nonzero = [j for j, b in enumerate(self.levels) if b > 0]  # levels with weights
        self.register_buffer(
            "group_of", torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        )
        self.alpha_w = nn.Parameter(torch.zeros(len(sizes), len(self.levels)))
        self.alpha_a = nn.Parameter(torch.zeros(len(act_bits)))
        with torch.no_grad():  # start at the widest bits, as PLiNIO initialises
            self.alpha_w[:, -1] = 1.0
            self.alpha_a[-1] = 1.0
        w = inner.weight.detach()
        self.w_steps = nn.ParameterDict()
        for b in self.levels:
            if b > 0:
                qmin, qmax = weight_range(torch.full((w.shape[0],), b))
                self.w_steps[str(b)] = nn.Parameter(mse_step(w, qmin, qmax, dim=0).clamp(min=1e-8))
        self.a_steps = nn.ParameterDict({str(a): nn.Parameter(torch.ones(())) for a in act_bits})
        self.register_buffer("ready", torch.zeros((), dtype=torch.bool))
        self.register_buffer("signed", torch.zeros((), dtype=torch.bool))
        self.current_keep: Tensor | None = None
        self._grid: tuple | None = None

    def probs(self) -> tuple[Tensor, Tensor]:
        """(activation probabilities [A], weight probabilities per channel [K, levels])."""
        return F.softmax(self.alpha_a, 0), F.softmax(self.alpha_w, 1)[self.group_of]

    def keep(self) -> Tensor:
        """Expected keep share of each output channel (1 - P(0 bits))."""
        pw = self.probs()[1]
        return 1.0 - pw[:, 0] if self.levels[0] == 0 else torch.ones(pw.shape[0])

    def _arange(self, a: int) -> tuple[float, float]:
        if bool(self.signed):
            return float(-(2 ** (a - 1))), float(2 ** (a - 1) - 1)
        return 0.0, float(2**a - 1)

    def forward(self, x: Tensor) -> Tensor:
        """The probability-weighted mixture of quantized inputs and weights.

        Every bit-width is fake-quantized in one broadcast call (bit-widths on a leading axis),
        then weighted by the draw: the same values and straight-through gradients as a loop
        over the bit-widths, in fewer, larger kernels."""
        if not bool(self.ready):
            with torch.no_grad():
                self.signed.fill_(bool((x < 0).any()))
                for a in self.act_set:
                    lo, hi = self._arange(a)
                    self.a_steps[str(a)].copy_(mse_step(x, lo, hi, dim=None)[0].clamp(min=1e-8))
                self.ready.fill_(True)
        lo_a, hi_a, his, nz, qmin, qmax, g_w = self._grids()
        pa, pw = self.sample()
        self.current_keep = 1.0 - pw[:, 0] if self.levels[0] == 0 else None
        g_a = [1.0 / float(x[0].numel() * hi) ** 0.5 for hi in his]
        xview = (-1,) + (1,) * x.dim()
        a_steps = torch.stack(
            [_grad_scale(self.a_steps[str(a)], g) for a, g in zip(self.act_set, g_a)]
        )
        a_steps = a_steps.abs().clamp(min=1e-8).reshape(xview)
        xq = fake_quant(x.unsqueeze(0), a_steps, lo_a.reshape(xview), hi_a.reshape(xview))
        xs = (pa.reshape(xview) * xq).sum(0)
        w = self.inner.weight
        wview = (len(nz), -1) + (1,) * (w.dim() - 1)
        w_steps = torch.stack(
            [_grad_scale(self.w_steps[str(self.levels[j])], g) for j, g in zip(nz, g_w)]
        )
        w_steps = w_steps.abs().clamp(min=1e-8).reshape(wview)
        bview = (len(nz),) + (1,) * w.dim()
        wq_all = fake_quant(w.unsqueeze(0), w_steps, qmin.reshape(bview), qmax.reshape(bview))
        wq = (pw[:, nz].T.reshape(wview) * wq_all).sum(0)
        bias = self.inner.bias
        if bias is not None and self.current_keep is not None:
            bias = bias * self.current_keep
        return conv_or_linear(self.inner, xs, wq, bias)

    def _grids(self) -> tuple:
        """The integer ranges and LSQ gradient scales of every weight bit-width, and the
        integer ranges of every activation bit-width: computed once (after the first batch
        has fixed whether the inputs are signed, or a restore has loaded it)."""
        key = bool(self.signed)
        if self._grid is None or self._grid[0] != key:
            w = self.inner.weight
            ranges = [self._arange(a) for a in self.act_set]
            lo_a = torch.tensor([lo for lo, _ in ranges])
            hi_a = torch.tensor([hi for _, hi in ranges])
            nz = self.nonzero
            qmin, qmax = weight_range(torch.tensor([self.levels[j] for j in nz]))
            g_w = [1.0 / float(w[0].numel() * max(1.0, float(q))) ** 0.5 for q in qmax]
            self._grid = (key, lo_a, hi_a, [hi for _, hi in ranges], nz, qmin, qmax, g_w)
        return self._grid[1:]

    def sample(self) -> tuple[Tensor, Tensor]:
        """The precisions this forward pass runs: in training a hard Gumbel-softmax draw per
        gene with straight-through gradients (so the loss sees really pruned channels, which
        the batch-norms that follow cannot rescale back), in evaluation the argmax."""
        if self.training:
            pa = F.gumbel_softmax(self.alpha_a, tau=1.0, hard=True)
            pw = F.gumbel_softmax(self.alpha_w, tau=1.0, hard=True, dim=1)[self.group_of]
            return pa, pw
        pa = F.one_hot(self.alpha_a.argmax(), len(self.act_set)).float()
        pw = F.one_hot(self.alpha_w.argmax(1), len(self.levels)).float()[self.group_of]
        return pa, pw


class _SoftNorm(nn.Module):
    """The batch-norm after a `DnasLayer`, masked by the layer's current draw."""

    def __init__(self, bn: nn.Module, layer: DnasLayer) -> None:
        super().__init__()
        self.bn = bn
        object.__setattr__(self, "_layer", layer)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise, then zero the channels the layer's current draw prunes."""
        y = self.bn(x)
        keep = self._layer.current_keep
        return y if keep is None else y * keep.reshape(1, -1, *([1] * (y.dim() - 2)))


def _set(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


def build_dnas_model(problem: DnasProblem, layout: _GeneLayout) -> tuple[nn.Module, list]:
    """A copy of the model with every quantizable layer a `DnasLayer` (and its batch-norm
    scaled by the keep probabilities); returns (model, layers in quantizable order)."""
    model = copy.deepcopy(problem.model)
    layers = []
    problem.graph.require_conv_linear("--strategy dnas")
    for li, spec in enumerate(problem.graph.quantizable):
        layer = DnasLayer(
            model.get_submodule(spec.source),
            problem.tables.act_bits,
            layout.levels[li],
            layout.sizes[li],
        )
        _set(model, spec.source, layer)
        for p in spec.fused:
            m = model.get_submodule(p)
            if isinstance(m, nn.modules.batchnorm._BatchNorm):
                _set(model, p, _SoftNorm(m, layer))
        layers.append(layer)
    return model, layers


def _input_layers(tables: CostTables) -> list[int | None]:
    """Per quantizable layer, the quantizable layer whose channels it reads (through pooling,
    padding and reshapes), when it is a plain conv / linear (groups = 1); else None."""
    plan = tables.plan
    if plan is None:  # tables without a channel plan price whole layers: nothing shrinks
        return [None] * tables.num_layers
    out: list[int | None] = []
    for i in plan.layer_nodes:
        node = plan.nodes[i]
        src = node.inputs[0] if node.inputs and node.groups == 1 else None
        while src is not None and plan.nodes[src].rule == SAME:
            src = plan.nodes[src].inputs[0]
        out.append(
            plan.nodes[src].layer if src is not None and plan.nodes[src].rule == OWN else None
        )
    return out


def cost_terms(layers: list[DnasLayer], tables: CostTables, objective: Objective) -> list:
    """Per layer, what `expected_cost` reads of the cost tables: the nonzero weight levels and
    either their bits (memory) or the table slice [activation bits, nonzero weight bits]
    (latency, energy), as tensors; gathered once per search, not at every step."""
    out = []
    for li, layer in enumerate(layers):
        nz = layer.nonzero
        if objective == Objective.MEMORY:
            bits = torch.tensor([float(layer.levels[j]) for j in nz])
            out.append((nz, bits, float(tables.weights_per_channel[li])))
            continue
        widx = [tables.weight_bits.index(layer.levels[j]) for j in nz]
        table = tables.energy_j if objective == Objective.ENERGY else tables.cycles
        out.append((nz, torch.as_tensor(table[li][:, widx, 0], dtype=torch.float32), None))
    return out


def expected_cost(
    layers: list[DnasLayer],
    tables: CostTables,
    objective: Objective,
    inputs: list[int | None],
    terms: list | None = None,
) -> Tensor:
    """The expected cost of the mixture (see the module docstring), differentiable; `terms`
    are `cost_terms` of the same layers, tables and objective (gathered here when None)."""
    terms = cost_terms(layers, tables, objective) if terms is None else terms
    total = torch.zeros(())
    keeps = [layer.keep() for layer in layers]
    for li, layer in enumerate(layers):
        pa, pw = layer.probs()
        K = pw.shape[0]
        frac = keeps[inputs[li]].mean() if inputs[li] is not None else torch.ones(())
        nz, t, wpc = terms[li]
        pnz = pw[:, nz]  # [K, W']
        if wpc is not None:  # memory: t holds the bits of the nonzero levels
            per_ch = (pnz * (wpc * frac * t + CHANNEL_PARAM_BITS)).sum(1) / 8.0
            total = total + per_ch.sum()
            continue
        total = total + frac * (pa[:, None] * (pnz.sum(0)[None, :] / K) * t).sum()
    return total


@register_strategy("dnas")
class DnasStrategy:
    """Differentiable search: one cost weight of the sweep per generation (see module)."""

    name = "dnas"

    def __init__(
        self,
        pop_size: int = 64,
        generations: int = 40,
        problem: DnasProblem | None = None,
        steps: int = STEPS_PER_WEIGHT,
        granularity: str = "layer",
    ) -> None:
        if problem is None:
            raise ConfigError("--strategy dnas trains the network: it needs data and a model")
        self.pop_size = pop_size
        self.generations = generations
        self.problem = problem
        self.steps = steps
        self.granularity = gene_granularity(granularity)
        self._gen = 0

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> DnasStrategy:
        """The strategy of a run: its sweep length, problem and granularity."""
        return cls(
            pop_size=config.pop_size,
            generations=config.generations,
            problem=gradient_problem(ctx, config),
            granularity=config.granularity,
        )

    @property
    def generation(self) -> int:
        """Cost weights trained and told so far."""
        return self._gen

    def lambdas(self) -> np.ndarray:
        """The sweep of cost weights, smallest first."""
        n = self.generations
        return np.geomspace(LAMBDA_RANGE[0], LAMBDA_RANGE[1], n) if n > 1 else np.array([0.1])

    def setup(self, space: Any, n_obj: int, seed: int) -> None:
        """Build the mixture model over `space`'s genes."""
        self.space = space
        self.layout = _GeneLayout(space, self.problem.tables)
        torch.manual_seed(seed)
        self.model, self.layers = build_dnas_model(self.problem, self.layout)
        self.inputs = _input_layers(self.problem.tables)
        self.terms = cost_terms(self.layers, self.problem.tables, self.problem.objective)
        alphas = [
            p for n, p in self.model.named_parameters() if n.rsplit(".", 1)[-1].startswith("alpha_")
        ]
        ids = {id(p) for p in alphas}
        rest = [p for p in self.model.parameters() if id(p) not in ids]
        self.opt = torch.optim.Adam(
            [{"params": alphas, "lr": ALPHA_LR}, {"params": rest, "lr": WEIGHT_LR}]
        )
        self.rng = np.random.default_rng(seed)
        self.seed = seed
        self._gen = 0
        self.model.eval()
        with torch.no_grad():
            self.model(self.problem.data.tensors[0][:256])  # initialise activation steps
            self.norm = float(
                expected_cost(self.layers, self.problem.tables, self.problem.objective, self.inputs)
            )

    def _train(self, lam: float) -> None:
        self.model.train()
        batches = _batches(self.problem.data, 64, self.seed + self._gen)
        for _ in range(self.steps):
            x, y = next(batches)
            cost = expected_cost(
                self.layers, self.problem.tables, self.problem.objective, self.inputs, self.terms
            )
            loss = F.cross_entropy(self.model(x), y) + lam * cost / max(self.norm, 1e-30)
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
        self.model.eval()

    def ask(self) -> np.ndarray | None:
        """Train at the next cost weight; the argmax genome and draws from the softmaxes."""
        if self._gen >= self.generations:
            return None
        self._train(float(self.lambdas()[self._gen]))
        lay = self.layout
        X = np.zeros((self.pop_size, self.space.n_var))
        with torch.no_grad():
            for li, layer in enumerate(self.layers):
                pa = F.softmax(layer.alpha_a, 0).numpy()
                pw = F.softmax(layer.alpha_w, 1).numpy()  # [groups, levels]
                o, G = lay.offsets[li], pw.shape[0]
                best = pw.argmax(1)
                if layer.levels[0] == 0 and (best == 0).all():  # keep the likeliest group
                    g = int(pw[:, 0].argmin())
                    best[g] = 1 + int(pw[g, 1:].argmax())
                X[0, o : o + G] = best
                X[0, lay.act_offset + li] = pa.argmax()
                cum = np.cumsum(pw, axis=1)
                u = self.rng.random((self.pop_size - 1, G, 1))
                X[1:, o : o + G] = (u > cum[None]).sum(2).clip(0, pw.shape[1] - 1)
                X[1:, lay.act_offset + li] = self.rng.choice(len(pa), self.pop_size - 1, p=pa)
        return X

    def tell(self, X: np.ndarray, F_: np.ndarray, G: np.ndarray) -> None:
        """DNAS learns from its own loss, not from the scores; counts the generation."""
        self._gen += 1

    def state(self) -> dict[str, Any]:
        """Weights, logits, optimiser, generation and random generators."""
        return {
            "generation": self._gen,
            "model": copy.deepcopy(self.model.state_dict()),
            "opt": copy.deepcopy(self.opt.state_dict()),
            "rng": self.rng.bit_generator.state,
            "torch_rng": torch.get_rng_state(),  # the Gumbel draws of the next generation
            "norm": self.norm,
        }

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state()` snapshot (after `setup`)."""
        self._gen = int(state["generation"])
        self.model.load_state_dict(state["model"])
        self.opt.load_state_dict(state["opt"])
        self.rng.bit_generator.state = state["rng"]
        torch.set_rng_state(state["torch_rng"])
        self.norm = float(state["norm"])
