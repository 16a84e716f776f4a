"""`--strategy csq`: Continuous Sparsification Quantization (Xiao et al., DAC 2023).

Every weight is held as bit planes: ``w = s_k * sum_b (sigma(beta p_b) - sigma(beta n_b))
* 2^b / (2^N - 1) * gate_b``, with a positive and a negative continuous bit per plane (so each
plane holds -1, 0 or +1), ``N`` = the widest weight bit-width minus the sign, and a per-channel
scale ``s_k``. That is the paper's first level. The second level gates each plane of each gene
(a layer, or a group of output channels with `--granularity group:G`) with ``gate_b =
sigma(beta m_b)``: the layer's (or group's) precision is the number of planes left open, plus
the sign. Both levels are sigmoids whose temperature ``beta`` grows exponentially over
`BETA_RANGE` during training, so at the end every bit and every gate is exactly 0 or 1 in float
arithmetic: no straight-through estimator anywhere (the share still undecided is logged).

The budget-aware regulariser adds ``lambda * push * C_soft / C_max`` to the cross-entropy:
``C_soft`` is the cost under the open gates (differentiable), ``C_max`` the cost at the widest
bits, and ``push = clip((C_hard / C_max - B) / BUDGET_BAND, -1, 1)`` compares the cost of the
configuration the gates decide now with the budget ``B``. Above the budget the gates are pushed
shut, below it they may grow back open (the paper's growing scheme); near it the push fades, which
tracked budgets better than the paper's plain sign in our trials (mean gap 0.040 against 0.065 of
the 8-bit size over 8 budgets on digits).

The cost is the model size in weight bits, as in the paper, or (`--regulariser latency|energy`)
our cycles or joules from the cost tables at the widest activation bits, interpolated linearly
in the number of open planes between the bit-widths the hardware offers (exact at them). Where
a layer may prune, a gene with no plane open is pruned (cost 0); its bias and the batch-norm
output after it are gated too.

Each generation is one budget of a sweep (`budgets`), trained from the base weights with a
fresh temperature schedule (so the sweep's budgets are independent and a resumed run retrains
only the budget it lost). It proposes the configuration the gates decided, its bit-widths
rounded up to the nearest the hardware offers, paired with every uniform activation bit-width
(CSQ searches weights; activations stay in float while it trains), which the run then scores,
prices exactly and fine-tunes like every strategy's candidates. On hardware with a mapping
choice each layer takes its cheapest kept mapping at its precision.
"""

from __future__ import annotations

import copy
import time
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codesign.core.errors import ConfigError
from codesign.core.types import Objective
from codesign.cost.tables import CHANNEL_PARAM_BITS, CostTables
from codesign.quant.fakequant import conv_or_linear
from codesign.quant.train import _batches
from codesign.search.dnas import (
    DnasProblem,
    _GeneLayout,
    _input_layers,
    _set,
    _SoftNorm,
    gene_granularity,
    gradient_problem,
)
from codesign.search.registry import register_strategy

STEPS_PER_BUDGET = 300  # training steps per budget of the sweep
BETA_RANGE = (2.0, 200.0)  # temperature at the start and at the end of each budget's schedule
INIT_LOGIT = 1.0  # |p|, |n| and the gates' logits at the start (sigma(2) = 0.88)
REG_WEIGHT = 10.0  # lambda of the budget-aware regulariser (cost normalised to 1 at widest)
BUDGET_BAND = 0.05  # the push is full beyond this distance from the budget, proportional within
BIT_LR, GATE_LR, WEIGHT_LR = 1e-2, 5e-2, 1e-3  # Adam: bit logits, gate logits, the rest
BATCH = 64


def _interp(x: Tensor, xp: Tensor, fp: Tensor) -> Tensor:
    """Piecewise-linear interpolation of ``(xp, fp)`` at `x` (xp ascending), differentiable."""
    i = torch.searchsorted(xp, x.detach().clamp(xp[0], xp[-1]), right=True).clamp(1, len(xp) - 1)
    x0, x1, f0, f1 = xp[i - 1], xp[i], fp[i - 1], fp[i]
    return f0 + (f1 - f0) * (x - x0) / (x1 - x0)


class CsqLayer(nn.Module):
    """A conv / linear layer whose weights are gated bit planes (see the module docstring)."""

    def __init__(
        self, inner: nn.Module, planes: int, sizes: tuple[int, ...], prunable: bool
    ) -> None:
        super().__init__()
        self.inner = inner
        self.planes = planes
        self.prunable = prunable
        self.beta = BETA_RANGE[0]
        w = inner.weight.detach()
        K = w.shape[0]
        self.view = (K,) + (1,) * (w.dim() - 1)
        s = w.abs().reshape(K, -1).amax(1).clamp(min=1e-8)
        q = torch.round(w.abs() / s.reshape(self.view) * (2**planes - 1)).long()
        bits = (q[..., None] >> torch.arange(planes)) & 1  # [K, ..., N], least significant first
        on = torch.full(bits.shape, INIT_LOGIT)
        pos, neg = (w > 0)[..., None] & (bits > 0), (w < 0)[..., None] & (bits > 0)
        self.p = nn.Parameter(torch.where(pos, on, -on))
        self.n = nn.Parameter(torch.where(neg, on, -on))
        self.mask = nn.Parameter(torch.full((len(sizes), planes), INIT_LOGIT))
        b0 = torch.tensor(BETA_RANGE[0] * INIT_LOGIT)
        shrink = float((torch.sigmoid(b0) - torch.sigmoid(-b0)) * torch.sigmoid(b0))
        self.scale = nn.Parameter(s / shrink)  # so the layer starts at its quantized weights
        self.register_buffer("exps", 2.0 ** torch.arange(planes) / (2**planes - 1))
        self.register_buffer(
            "group_of", torch.repeat_interleave(torch.arange(len(sizes)), torch.tensor(sizes))
        )
        self.current_keep: Tensor | None = None

    def gates(self) -> Tensor:
        """Each gene's plane gates ``[G, N]`` at the current temperature."""
        return torch.sigmoid(self.beta * self.mask)

    def open_planes(self) -> Tensor:
        """Each gene's number of open planes (soft) ``[G]``."""
        return self.gates().sum(1)

    def keep(self) -> Tensor:
        """Each gene's share alive ``[G]``: 1 - P(every plane shut) (1 where it may not prune)."""
        g = self.gates()
        return 1.0 - torch.prod(1.0 - g, dim=1) if self.prunable else torch.ones(g.shape[0])

    def weight(self) -> Tensor:
        """The weights the gates and bits make now."""
        d = torch.sigmoid(self.beta * self.p) - torch.sigmoid(self.beta * self.n)
        coef = (self.gates() * self.exps)[self.group_of]  # [K, N]
        w = (d * coef.reshape(*self.view, self.planes)).sum(-1)
        return w * self.scale.reshape(self.view)

    def forward(self, x: Tensor) -> Tensor:
        """Run the layer on its bit-plane weights; pruned channels output 0."""
        keep = self.keep()[self.group_of] if self.prunable else None
        self.current_keep = keep
        bias = self.inner.bias
        if bias is not None and keep is not None:
            bias = bias * keep
        return conv_or_linear(self.inner, x, self.weight(), bias)

    @torch.no_grad()
    def undecided(self) -> tuple[int, int]:
        """(bits and gates whose sigmoid is not yet exactly 0 or 1, all of them)."""
        n = 0
        for t in (self.p, self.n, self.mask):
            s = torch.sigmoid(self.beta * t)
            n += int(((s > 0) & (s < 1)).sum())
        return n, self.p.numel() + self.n.numel() + self.mask.numel()


class _Costs:
    """Per layer, the regulariser's cost as a function of a gene's open planes (knots at the
    hardware's bit-widths), and the exact cost of decided configurations."""

    def __init__(self, tables: CostTables, layout: _GeneLayout, objective: Objective) -> None:
        a = len(tables.act_bits) - 1  # the widest activations
        self.knots: list[tuple[Tensor, Tensor]] = []
        self.levels = layout.levels
        self.sizes = [torch.tensor(s, dtype=torch.float32) for s in layout.sizes]
        for li, levels in enumerate(layout.levels):
            K = float(tables.channels[li])
            per_channel = []
            for b in levels:
                b = int(b)
                if b == 0:
                    per_channel.append(0.0)
                elif objective == Objective.MEMORY:  # model size in bytes
                    wpc = float(tables.weights_per_channel[li])
                    per_channel.append((wpc * b + CHANNEL_PARAM_BITS) / 8.0)
                else:
                    t = tables.energy_j if objective == Objective.ENERGY else tables.cycles
                    per_channel.append(float(t[li, a, tables.weight_bits.index(b)].min()) / K)
            xs = [0.0 if int(b) == 0 else float(b) - 1.0 for b in levels]
            if int(levels[0]) != 0:  # no pruning: no plane open costs what the fewest bits do
                xs, per_channel = [0.0, *xs], [per_channel[0], *per_channel]
            self.knots.append(
                (
                    torch.tensor(xs, dtype=torch.float32),
                    torch.tensor(per_channel, dtype=torch.float32),
                )
            )

    def soft(self, layers: list[CsqLayer], inputs: list[int | None]) -> Tensor:
        """The expected cost under the open gates (differentiable)."""
        keeps = [layer.keep() for layer in layers]
        total = torch.zeros(())
        for li, layer in enumerate(layers):
            xp, fp = self.knots[li]
            per_gene = _interp(layer.open_planes(), xp, fp) * self.sizes[li]
            j = inputs[li]
            frac = (keeps[j] * self.sizes[j]).sum() / self.sizes[j].sum() if j is not None else 1.0
            total = total + frac * per_gene.sum()
        return total

    def bits(self, layers: list[CsqLayer]) -> list[np.ndarray]:
        """Per layer, each gene's decided bit-width: open planes + sign, rounded up to the
        nearest level (0 where no plane is open and the layer may prune); a layer left with no
        channel keeps its gene with the most planes at its fewest bits."""
        out = []
        with torch.no_grad():
            for li, layer in enumerate(layers):
                levels = self.levels[li]
                opened = (layer.mask > 0).sum(1).numpy()
                nz = levels[levels > 0]
                need = np.minimum(opened + 1, nz[-1])  # open planes + the sign
                b = nz[np.searchsorted(nz, need)].astype(np.int64)
                if levels[0] == 0:
                    b[opened == 0] = 0
                if (b == 0).all():
                    g = int(layer.mask.sum(1).argmax())
                    b[g] = int(nz[0])
                out.append(b)
        return out

    def hard(self, bits: list[np.ndarray]) -> float:
        """The regulariser's cost of decided bit-widths (without the input-channel shrink)."""
        total = 0.0
        for li, b in enumerate(bits):
            xp, fp = self.knots[li]
            x = torch.tensor([0.0 if v == 0 else v - 1.0 for v in b])
            total += float((_interp(x, xp, fp) * self.sizes[li]).sum())
        return total


def build_csq_model(problem: DnasProblem, layout: _GeneLayout) -> tuple[nn.Module, list]:
    """A copy of the model with every quantizable layer a `CsqLayer` (and its batch-norm gated
    by the layer's alive channels); returns (model, layers in quantizable order)."""
    model = copy.deepcopy(problem.model)
    planes = max(int(lv.max()) for lv in layout.levels) - 1
    layers = []
    problem.graph.require_conv_linear("--strategy csq")
    for li, spec in enumerate(problem.graph.quantizable):
        prunable = int(layout.levels[li][0]) == 0
        layer = CsqLayer(model.get_submodule(spec.source), planes, layout.sizes[li], prunable)
        _set(model, spec.source, layer)
        if prunable:
            for path in spec.fused:
                m = model.get_submodule(path)
                if isinstance(m, nn.modules.batchnorm._BatchNorm):
                    _set(model, path, _SoftNorm(m, layer))
        layers.append(layer)
    for p in model.parameters():
        p.requires_grad_(True)
    return model, layers


@register_strategy("csq")
class CsqStrategy:
    """Continuous sparsification of bit planes under a sweep of budgets (see module)."""

    name = "csq"
    default_regulariser = Objective.MEMORY  # model size, as in the paper

    def __init__(
        self,
        pop_size: int = 64,
        generations: int = 40,
        problem: DnasProblem | None = None,
        steps: int = STEPS_PER_BUDGET,
        granularity: str = "layer",
    ) -> None:
        if problem is None:
            raise ConfigError("--strategy csq trains the network: it needs data and a model")
        self.generations = generations
        self.problem = problem
        self.steps = steps
        self.granularity = gene_granularity(granularity)
        self._gen = 0
        self.log: list[dict[str, Any]] = []

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> CsqStrategy:
        """The strategy of a run: its budget sweep, problem (model size by default, as in the
        paper) and granularity."""
        return cls(
            pop_size=config.pop_size,
            generations=config.generations,
            problem=gradient_problem(ctx, config, cls.default_regulariser),
            granularity=config.granularity,
        )

    @property
    def generation(self) -> int:
        """Budgets trained and told so far."""
        return self._gen

    def setup(self, space: Any, n_obj: int, seed: int) -> None:
        """Lay out the genes and the costs; each budget builds its own model in `ask`."""
        self.space = space
        self.layout = _GeneLayout(space, self.problem.tables, "csq")
        self.costs = _Costs(self.problem.tables, self.layout, self.problem.objective)
        self.inputs = _input_layers(self.problem.tables)
        self.seed = seed
        self._gen = 0
        self.log = []
        t = self.problem.tables
        lo = [
            np.array([lv[lv > 0].min()] * len(s))
            for lv, s in zip(self.layout.levels, self.layout.sizes)
        ]
        hi = [np.array([lv.max()] * len(s)) for lv, s in zip(self.layout.levels, self.layout.sizes)]
        self.c_max = self.costs.hard(hi)
        floor = self.costs.hard(lo) / self.c_max
        n = self.generations
        self.budgets = np.geomspace(floor, 1.0, n + 2)[1:-1]
        self._mapping = t.num_mappings > 1

    def train(self, budget: float) -> tuple[nn.Module, list[CsqLayer], dict[str, Any]]:
        """One budget's CSQ training from the base weights; returns the model, its layers and
        what the run logs of it."""
        t0 = time.perf_counter()
        model, layers = build_csq_model(self.problem, self.layout)
        groups: dict[str, list] = {"bits": [], "gates": [], "rest": []}
        for name, p in model.named_parameters():
            leaf = name.rsplit(".", 1)[-1]
            groups["bits" if leaf in ("p", "n") else "gates" if leaf == "mask" else "rest"].append(
                p
            )
        opt = torch.optim.Adam(
            [
                {"params": groups["bits"], "lr": BIT_LR},
                {"params": groups["gates"], "lr": GATE_LR},
                {"params": groups["rest"], "lr": WEIGHT_LR},
            ]
        )
        batches = _batches(self.problem.data, BATCH, self.seed * 1000 + self._gen)
        b0, b1 = BETA_RANGE
        model.train()
        ce = float("nan")
        for step in range(self.steps):
            beta = b0 * (b1 / b0) ** (step / max(1, self.steps - 1))
            for layer in layers:
                layer.beta = beta
            x, y = next(batches)
            hard = self.costs.hard(self.costs.bits(layers)) / self.c_max
            push = float(np.clip((hard - budget) / BUDGET_BAND, -1.0, 1.0))
            soft = self.costs.soft(layers, self.inputs) / self.c_max
            loss_ce = F.cross_entropy(model(x), y)
            loss = loss_ce + REG_WEIGHT * push * soft
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            ce = float(loss_ce.detach())
        model.eval()
        und = [layer.undecided() for layer in layers]
        bits = self.costs.bits(layers)
        info = {
            "generation": self._gen,
            "budget": round(float(budget), 6),
            "achieved": round(self.costs.hard(bits) / self.c_max, 6),
            "train_loss": round(ce, 6),
            "undecided": sum(u[0] for u in und),
            "binary_of": sum(u[1] for u in und),
            "seconds": round(time.perf_counter() - t0, 3),
        }
        return model, layers, info

    def ask(self) -> np.ndarray | None:
        """Train at the next budget; its decided weight bits with every uniform activation."""
        if self._gen >= self.generations:
            return None
        _, layers, info = self.train(float(self.budgets[self._gen]))
        self.log.append(info)
        bits = self.costs.bits(layers)
        t, lay = self.problem.tables, self.layout
        A = len(t.act_bits)
        X = np.zeros((A, self.space.n_var))
        for li, b in enumerate(bits):
            o = lay.offsets[li]
            X[:, o : o + len(b)] = np.searchsorted(lay.levels[li], b)
        for ai in range(A):
            X[ai, lay.act_offset : lay.act_offset + lay.L] = ai
        if self._mapping:  # each layer its cheapest kept mapping at its precision
            table = t.energy_j if self.problem.objective == Objective.ENERGY else t.cycles
            L = lay.L
            for ai in range(A):
                for li, b in enumerate(bits):
                    wi = t.weight_bits.index(int(b.max()))
                    X[ai, 2 * L + li] = int(table[li, ai, wi].argmin())
        return X

    def tell(self, X: np.ndarray, F_: np.ndarray, G: np.ndarray) -> None:
        """CSQ learns from its own loss, not from the scores; counts the budget."""
        self._gen += 1

    def state(self) -> dict[str, Any]:
        """The generation and the log (each budget trains from the base weights)."""
        return {"generation": self._gen, "log": copy.deepcopy(self.log)}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state()` snapshot (after `setup`)."""
        self._gen = int(state["generation"])
        self.log = list(state["log"])
