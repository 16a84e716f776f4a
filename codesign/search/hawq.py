"""`--strategy hawq`: HAWQ-V3's Hessian-aware integer program (Yao et al., ICML 2021).

Sensitivity: for every weight gene of the space (a layer, or a group of output channels with
`--granularity group:G`; ``channel`` runs as ``group:1``) and every bit-width the hardware
offers, ``Omega = Tr(H) / n * ||Q(W) - W||^2`` with the Hessian trace from Hutchinson's
estimator (`codesign.quant.hessian`), and the same for every layer's input activations at each
activation bit-width (HAWQ-V2's activation trace). A configuration's sensitivity is the sum
over its genes, HAWQ's additive assumption.

Budgets: the run's cost (`--regulariser`, else its first cost objective: cycles, joules, or
weight bytes for memory) ranges from the cheapest configuration to the one at the widest bits;
each generation takes the next budget of a geometric sweep over that range (`generations`
budgets, both ends included) and solves, exactly, the integer linear program

    minimise  sum Omega  subject to  cost <= budget,  one bit-width per gene and per layer,

with `scipy.optimize.milp` (HiGHS branch and bound). The layer's activation bits and its genes'
weight bits are chosen jointly: one binary per (gene, weight bits, activation bits), tied to
one activation choice per layer, so the cost, which multiplies the two on MCU cores, stays
linear and the program exact. Costs come from the cost tables (exact for every configuration
without pruned channels: HAWQ chooses bit-widths, it never prunes); on hardware with a mapping
choice each layer takes its cheapest kept mapping for the budget's cost. The one configuration
each budget yields is scored, priced and fine-tuned like every strategy's candidates.
Deterministic: the Rademacher draws are seeded by the run's seed and HiGHS is deterministic.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

from codesign.core.errors import ConfigError
from codesign.core.types import Objective
from codesign.cost.tables import CHANNEL_PARAM_BITS
from codesign.quant.hessian import (
    HESSIAN_SAMPLES,
    HUTCHINSON_DRAWS,
    act_perturbation,
    capture_inputs,
    hutchinson_traces,
    weight_perturbation,
)
from codesign.search.dnas import DnasProblem, _GeneLayout, gene_granularity, gradient_problem
from codesign.search.registry import register_strategy

ILP_TIME_LIMIT_S = 120.0  # per solve; the programs of our workloads solve in well under a second
MIP_GAP = 1e-9  # relative optimality gap at which HiGHS stops: exact, to rounding
TIE_BREAK = 1e-6  # of the largest sensitivity, times the relative cost: the cheaper of equals


class HawqProgram:
    """The integer program of one (space, tables, sensitivities, cost): built once, solved at
    any budget (`solve`).

    ``omega_w[l]`` [G_l, W_l] and ``omega_a[l]`` [A] are the genes' and activations'
    sensitivities; ``cost[l]`` [A, W_l] a whole layer's cost at (activation, weight level);
    ``levels[l]`` the non-zero weight levels; ``share[l]`` [G_l] each gene's share of the
    layer's channels (or for memory its channels, priced per channel); `fixed` the cost of
    everything without weights.
    """

    def __init__(
        self,
        omega_w: list[np.ndarray],
        omega_a: list[np.ndarray],
        cost: list[np.ndarray],
        share: list[np.ndarray],
        fixed: float,
    ) -> None:
        self.omega_w, self.omega_a, self.cost, self.share = omega_w, omega_a, cost, share
        self.fixed = float(fixed)
        A = len(omega_a[0])
        obj, budget_row = [], []
        rows, cols, vals, rhs = [], [], [], []
        self.index: list[tuple[int, np.ndarray]] = []  # per layer: y offset, z offsets [G, W, A]
        n, r = 0, 0
        top = max(max(float(o.max(initial=0)) for o in omega_w), float(np.max(omega_a)), 1e-30)
        c_hi = sum(float(c.max() * s.sum()) for c, s in zip(cost, share)) or 1.0
        for ow, oa, c, s in zip(omega_w, omega_a, cost, share):
            G, W = ow.shape
            y0 = n
            z = n + A + np.arange(G * W * A).reshape(G, W, A)
            n += A + G * W * A
            self.index.append((y0, z))
            # objective: activation sensitivity on y, weight sensitivity (+ a tie-break) on z
            obj += [*(oa / top).tolist()]
            zc = s[:, None, None] * c.T[None, :, :]  # [G, W, A] cost of each choice
            zo = ow[:, :, None] + np.zeros(A)[None, None, :]
            obj += (zo / top + TIE_BREAK * zc / c_hi).reshape(-1).tolist()
            budget_row += [0.0] * A + (zc / c_hi).reshape(-1).tolist()
            rows += [r] * A  # one activation width per layer
            cols += list(range(y0, y0 + A))
            vals += [1.0] * A
            rhs.append(1.0)
            r += 1
            for g in range(G):  # each gene takes one weight width, at the layer's activation
                for a in range(A):
                    rows += [r] * (W + 1)
                    cols += [*z[g, :, a].tolist(), y0 + a]
                    vals += [1.0] * W + [-1.0]
                    rhs.append(0.0)
                    r += 1
        self.n_var = n
        self.c = np.asarray(obj)  # both rows scaled to about 1: HiGHS's tolerances are absolute
        self.scale = c_hi
        self.budget_row = np.asarray(budget_row)
        self.eq = coo_matrix((vals, (rows, cols)), shape=(r, n)).tocsr()
        self.eq_rhs = np.asarray(rhs)
        # every gene of a layer shares its activation width: the cheapest takes the layer's
        # cheapest (activation, weight) pair everywhere
        self.cheapest = self.fixed + sum(float(c.min() * s.sum()) for c, s in zip(cost, share))

    def choice_cost(self, act: list[int], weight: list[np.ndarray]) -> float:
        """The program's cost of a choice: activation index per layer, weight level index per
        gene."""
        return self.fixed + sum(
            float((c[a, w] * s).sum()) for c, s, a, w in zip(self.cost, self.share, act, weight)
        )

    def sensitivity(self, act: list[int], weight: list[np.ndarray]) -> float:
        """The summed sensitivity of a choice (as `choice_cost`)."""
        return sum(
            float(oa[a] + ow[np.arange(len(w)), w].sum())
            for ow, oa, a, w in zip(self.omega_w, self.omega_a, act, weight)
        )

    def solve(self, budget: float) -> tuple[list[int], list[np.ndarray], dict[str, Any]]:
        """The least sensitive choice whose cost is at most `budget`: (activation index per
        layer, weight level index per gene, what the solver said). `ConfigError` when no
        choice fits."""
        t0 = time.perf_counter()
        cap = (budget - self.fixed) / self.scale
        res = milp(
            self.c,
            constraints=[
                LinearConstraint(self.eq, self.eq_rhs, self.eq_rhs),
                LinearConstraint(self.budget_row[None, :], -np.inf, cap + 1e-9 * abs(cap)),
            ],
            integrality=np.ones(self.n_var),
            bounds=Bounds(0, 1),
            options={"time_limit": ILP_TIME_LIMIT_S, "mip_rel_gap": MIP_GAP},
        )
        if res.x is None:
            raise ConfigError(
                f"--strategy hawq: no configuration costs at most {budget:.6g} "
                f"(the cheapest costs {self.cheapest:.6g}): {res.message}"
            )
        x = np.rint(res.x)
        act, weight = [], []
        for (y0, z), oa in zip(self.index, self.omega_a):
            a = int(np.argmax(x[y0 : y0 + len(oa)]))
            act.append(a)
            weight.append(np.argmax(x[z[:, :, a]], axis=1).astype(np.int64))
        info = {
            "status": int(res.status),
            "optimal": bool(res.status == 0),
            "solve_seconds": round(time.perf_counter() - t0, 4),
        }
        return act, weight, info


def _layer_costs(
    problem: DnasProblem, layout: _GeneLayout, grouped: bool
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Per layer the cost [A, W_l] of the whole layer at each (activation, non-zero weight
    level) for the problem's objective, and each gene's multiplier [G_l]."""
    t = problem.tables
    cost, share = [], []
    for li, levels in enumerate(layout.levels):
        nz = [int(b) for b in levels if b > 0]
        wi = [t.weight_bits.index(b) for b in nz]
        K = float(sum(layout.sizes[li]))
        sizes = np.asarray(layout.sizes[li], dtype=np.float64)
        if problem.objective == Objective.MEMORY:
            if grouped:  # per kept channel, as the tables price channel-wise candidates
                wpc = float(t.weights_per_channel[li])
                per = np.array([(wpc * b + CHANNEL_PARAM_BITS) / 8.0 for b in nz])
                cost.append(np.tile(per, (len(t.act_bits), 1)))
                share.append(sizes)
            else:
                cost.append(np.tile(t.weight_bytes[li, wi], (len(t.act_bits), 1)))
                share.append(sizes / K)
            continue
        table = t.energy_j if problem.objective == Objective.ENERGY else t.cycles
        cost.append(table[li][:, wi, :].min(axis=2))
        share.append(sizes / K)
    return cost, share


@register_strategy("hawq")
class HawqStrategy:
    """Hessian-trace sensitivities and one exact integer program per budget (see module)."""

    name = "hawq"

    def __init__(
        self,
        generations: int = 40,
        problem: DnasProblem | None = None,
        granularity: str = "layer",
        draws: int = HUTCHINSON_DRAWS,
        samples: int = HESSIAN_SAMPLES,
    ) -> None:
        if problem is None:
            raise ConfigError(
                "--strategy hawq takes the Hessian of the loss: it needs data and a model"
            )
        self.generations = generations
        self.problem = problem
        self.granularity = gene_granularity(granularity)
        self.draws = draws
        self.samples = samples
        self._gen = 0
        self.log: list[dict[str, Any]] = []

    @classmethod
    def from_context(cls, ctx: Any, config: Any) -> HawqStrategy:
        """The strategy of a run: its budget count, problem (the cost its budgets measure)
        and granularity."""
        return cls(
            generations=config.generations,
            problem=gradient_problem(ctx, config),
            granularity=config.granularity,
        )

    @property
    def generation(self) -> int:
        """Budgets solved and told so far."""
        return self._gen

    def sensitivities(self, seed: int) -> tuple[list[np.ndarray], list[np.ndarray], dict]:
        """Per layer the genes' weight sensitivities [G, W_l] at each non-zero level and the
        activations' [A]; and what the run logs of the Hessian."""
        p, lay = self.problem, self.layout
        p.graph.require_conv_linear("--strategy hawq")
        modules = [p.model.get_submodule(s.source) for s in p.graph.quantizable]
        x, y = p.data.tensors[0][: self.samples], p.data.tensors[1][: self.samples]
        t0 = time.perf_counter()
        tr = hutchinson_traces(p.model, modules, x, y, draws=self.draws, seed=seed)
        acts = capture_inputs(p.model, modules, x)
        omega_w, omega_a = [], []
        for li, m in enumerate(modules):
            trace = np.maximum(tr.weight[li], 0.0)  # a negative estimate: noise, not a gain
            nz = [int(b) for b in lay.levels[li] if b > 0]
            pert = np.stack([weight_perturbation(m.weight, b) for b in nz], axis=1)  # [K, W]
            bounds = np.cumsum((0, *lay.sizes[li]))
            rows = []
            for g0, g1 in zip(bounds[:-1], bounds[1:]):
                n = tr.weight_count[li] * (g1 - g0)
                rows.append(trace[g0:g1].sum() / n * pert[g0:g1].sum(0))
            omega_w.append(np.asarray(rows))
            a_tr = max(float(tr.act[li]), 0.0) / tr.act_count[li]
            omega_a.append(
                np.array([a_tr * act_perturbation(acts[li], a) for a in p.tables.act_bits])
            )
        info = {
            "hessian_seconds": round(time.perf_counter() - t0, 3),
            "hessian_samples": tr.samples,
            "hutchinson_draws": tr.draws,
            "weight_trace": [round(float(t.sum()), 6) for t in tr.weight],
            "act_trace": [round(float(a), 6) for a in tr.act],
        }
        return omega_w, omega_a, info

    def setup(self, space: Any, n_obj: int, seed: int) -> None:
        """Estimate the sensitivities, build the program and the sweep of budgets."""
        self.space = space
        self.layout = _GeneLayout(space, self.problem.tables, "hawq")
        omega_w, omega_a, self.hessian = self.sensitivities(seed)
        grouped = hasattr(space, "sizes")
        cost, share = _layer_costs(self.problem, self.layout, grouped)
        self._nz = [np.flatnonzero(np.asarray(lv) > 0) for lv in self.layout.levels]
        # the cost without weights: the exact price of the cheapest choice less its linear part
        prog = HawqProgram(omega_w, omega_a, cost, share, 0.0)
        lo = [int(np.argmin(c.min(1))) for c in cost]
        lw = [np.full(len(s), int(np.argmin(c[a]))) for c, s, a in zip(cost, share, lo)]
        fixed = self.exact_cost(self.genome(lo, lw)) - prog.choice_cost(lo, lw)
        self.program = HawqProgram(omega_w, omega_a, cost, share, fixed)
        A = len(self.problem.tables.act_bits)
        hi_w = [np.full(len(s), c.shape[1] - 1) for c, s in zip(cost, share)]
        c_hi = self.program.choice_cost([A - 1] * len(cost), hi_w)
        c_lo = self.program.cheapest
        n = self.generations
        self.budgets = np.geomspace(c_lo, c_hi, n) if n > 1 else np.array([np.sqrt(c_lo * c_hi)])
        self._gen = 0
        self.log = []

    def genome(self, act: list[int], weight: list[np.ndarray]) -> np.ndarray:
        """The space's genome [1, n_var] of a choice (weight level indices among the non-zero
        levels); each layer its cheapest kept mapping for the budget's cost."""
        lay, t = self.layout, self.problem.tables
        X = np.zeros((1, self.space.n_var))
        for li, (a, w) in enumerate(zip(act, weight)):
            X[0, lay.offsets[li] : lay.offsets[li] + len(w)] = self._nz[li][w]
            X[0, lay.act_offset + li] = a
        if getattr(self.space, "has_mapping", False):
            table = t.energy_j if self.problem.objective == Objective.ENERGY else t.cycles
            L = lay.L
            for li, (a, w) in enumerate(zip(act, weight)):
                wi = t.weight_bits.index(int(lay.levels[li][self._nz[li][int(w.max())]]))
                X[0, 2 * L + li] = int(table[li, a, wi].argmin())
        return X

    def exact_cost(self, X: np.ndarray) -> float:
        """The cost tables' price of genome `X` [1, n_var] in the budget's unit (cycles,
        joules, weight bytes)."""
        s = self.problem.tables.score(self.space.decode(X))
        o = self.problem.objective
        v = (
            s.weight_bytes
            if o == Objective.MEMORY
            else s.energy_j
            if o == Objective.ENERGY
            else s.cycles
        )
        return float(v[0])

    def ask(self) -> np.ndarray | None:
        """Solve the next budget's program; its configuration as one genome."""
        if self._gen >= self.generations:
            return None
        budget = float(self.budgets[self._gen])
        act, weight, info = self.program.solve(budget)
        X = self.genome(act, weight)
        entry = {
            "generation": self._gen,
            "budget": budget,
            "cost": self.exact_cost(X),
            "sensitivity": self.program.sensitivity(act, weight),
            **info,
        }
        if self._gen == 0:
            entry.update(self.hessian)
        self.log.append(entry)
        return X

    def tell(self, X: np.ndarray, F_: np.ndarray, G: np.ndarray) -> None:
        """The program does not learn from the scores; counts the budget."""
        self._gen += 1

    def state(self) -> dict[str, Any]:
        """The generation and the log (the sensitivities are recomputed, deterministically)."""
        return {"generation": self._gen, "log": [dict(e) for e in self.log]}

    def restore(self, state: dict[str, Any]) -> None:
        """Continue from a `state()` snapshot (after `setup`)."""
        self._gen = int(state["generation"])
        self.log = [dict(e) for e in state["log"]]
