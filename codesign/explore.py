"""`explore`, the main job: extract, price, search, re-score, report; all saved on the way."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from torch import nn

import codesign
from codesign.cache import EvalCache, weights_hash
from codesign.core.errors import CodesignError
from codesign.core.protocols import AccuracyEstimator
from codesign.core.types import Objective, Precision
from codesign.cost import build_tables, price_network
from codesign.cost.tables import CostTables
from codesign.data import (
    DataSplits,
    dataset_available,
    dataset_needs_path,
    how_to_get,
    load_dataset,
)
from codesign.distributed import DaskEvaluator
from codesign.hw.load import load_hardware, resolve_hw_path
from codesign.hw.model import McuHardware
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.estimators import ESTIMATORS, FinetuneEstimator, SupernetEstimator
from codesign.quant.evaluate import FinetuneTask, make_task, state_bytes
from codesign.quant.proxy import SensitivityProxy, measure_sensitivity
from codesign.quant.supernet import Supernet, SupernetSchedule, load_or_train_supernet
from codesign.quant.train import FP_RECIPE, FinetuneRecipe, evaluate, train_full_precision
from codesign.report.html import write_report
from codesign.run import RunDir, package_versions, save_state_atomic
from codesign.search.archive import Archive, pareto_order
from codesign.search.nsga2 import BitWidthProblem, pareto_mask, run_nsga2
from codesign.workload import Workload, extract, get_workload
from codesign.workload.graph import LayerGraph

FRONT_METRICS = ("latency_ms", "energy_uj", "peak_kb", "weight_kb")
# The estimator the search uses by default: the one whose ranking agreed best with fine-tuned
# accuracy in benchmarks/bench_estimator_fidelity.py (see README, "Estimator fidelity").
DEFAULT_ESTIMATOR = "supernet"
DEFAULT_OBJECTIVES = (Objective.ACCURACY_LOSS, Objective.LATENCY, Objective.MEMORY)


@dataclass
class RunResult:
    """What `explore` produced: the run directory and its Pareto front (one dict per point)."""

    run_dir: Path
    front: list[dict[str, Any]]
    fp_accuracy: float | None
    evaluated: int
    objectives: tuple[Objective, ...]
    summary: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Settings:
    """Search and re-scoring settings of one run (validated by `explore`)."""

    objectives: tuple[Objective, ...]
    seed: int
    pop_size: int
    generations: int
    finetune_top: int
    recipe: FinetuneRecipe
    results_dir: Path
    workers: int = 1
    scheduler: str | None = None
    data_path: str | None = None
    weights: str | None = None
    estimator: str = "proxy"
    supernet_steps: int = 2000


def parse_objectives(spec: str | Sequence[str | Objective]) -> tuple[Objective, ...]:
    """Objectives from ``"accuracy_loss,latency"`` or a sequence; raises `CodesignError`."""
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    aliases = {"accuracy": "accuracy_loss", "acc": "accuracy_loss", "mem": "memory"}
    for it in items:
        name = it.value if isinstance(it, Objective) else aliases.get(it.strip(), it.strip())
        try:
            out.append(Objective(name))
        except ValueError:
            known = ", ".join(o.value for o in Objective)
            raise CodesignError(
                f"--objectives: unknown objective '{it}'; choose among {known}"
            ) from None
    if len(out) < 2 or len(set(out)) != len(out):
        raise CodesignError("--objectives: give at least two distinct objectives")
    return tuple(out)


def _progress(console: Console) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def _fp_model(workload, data: DataSplits, seed: int, cache_dir: Path, console: Console):  # noqa: ANN001, ANN202
    """Train the full-precision model once; later runs load it from the cache."""
    key = json.dumps(
        {
            "workload": workload.name,
            "data": data.name,
            "seed": seed,
            "recipe": FP_RECIPE.__dict__,
            "torch": torch.__version__,
            "codesign": codesign.__version__,
        },
        sort_keys=True,
    )
    digest = hashlib.sha1(key.encode()).hexdigest()[:12]
    path = cache_dir / f"fp-{workload.name}-{digest}.pt"
    torch.manual_seed(seed)
    model = workload.build()
    if path.exists():
        try:
            model.load_state_dict(torch.load(path, weights_only=True))
            model.eval()
            console.print(f"full-precision model: loaded from cache [dim]{path}[/]")
            return model, path, True
        except Exception as exc:  # a corrupt cache entry is retrained, not fatal
            console.print(f"[yellow]cache entry {path} unreadable ({exc}); retraining[/]")
    with console.status(f"training the full-precision {workload.name} ({FP_RECIPE.steps} steps)"):
        train_full_precision(model, data.train, FP_RECIPE, seed=seed)
    save_state_atomic(model.state_dict(), path)
    console.print(f"full-precision model: trained and cached in [dim]{path}[/]")
    return model, path, False


def _layer_costs(lc) -> dict[str, Any]:  # noqa: ANN001
    """A layer's `Cost` as JSON-ready figures (and its mapping, on spatial accelerators)."""
    out = {
        "cycles": lc.cycles,
        "latency_us": lc.latency_s * 1e6,
        "energy_nj": lc.energy_j * 1e9,
        "weight_bytes": lc.weight_bytes,
        "act_bytes": lc.act_bytes,
    }
    if "l1_tiles" in lc.extra:
        out["l1_tiles"] = int(lc.extra["l1_tiles"])
    if "mapping" in lc.extra:
        out["mapping"] = lc.extra["mapping"]
        out["utilization"] = lc.extra["utilization"]
    return out


def _base_model(
    workload: Workload,
    data: DataSplits | None,
    seed: int,
    cache_dir: Path,
    weights: str | None,
    console: Console,
) -> tuple[nn.Module, dict[str, Any]]:
    """The full-precision model a run starts from, and where it came from.

    The user's `weights` when given; else, with data, trained once and cached under
    `cache_dir`; else the workload's fresh initialisation (no accuracy axis then).
    """
    if weights is not None:
        model = _load_weights(workload, weights)
        console.print(f"full-precision model: weights from [dim]{weights}[/]")
        return model, {"weights": weights}
    if data is None:
        return workload.build(), {}
    model, cache_path, cached = _fp_model(workload, data, seed, cache_dir, console)
    return model, {"cache": str(cache_path), "cached": cached}


def _load_weights(workload: Workload, path: str) -> nn.Module:
    """The workload's model with a state dict from `path`; `CodesignError` when it does not fit."""
    model = workload.build()
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except FileNotFoundError:
        raise CodesignError(f"--weights {path}: no such file") from None
    except Exception as exc:  # torch raises several types for a bad file
        raise CodesignError(
            f"--weights {path}: not a torch state dict: {exc}".splitlines()[0]
        ) from None
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    try:
        model.load_state_dict(state)
    except (RuntimeError, TypeError, AttributeError) as exc:
        first = str(exc).splitlines()[0]
        raise CodesignError(f"--weights {path}: does not fit {workload.name}: {first}") from None
    return model.eval()


def _layer_config(
    graph: LayerGraph, names: Sequence[str], act: Sequence[int], wts: Sequence[int], workload: str
) -> QuantConfig:
    layers = []
    for n, a, w in zip(names, act, wts):
        s = graph[n]
        layers.append(LayerQuant(n, s.source, s.kind.value, int(a), (int(w),) * s.K))
    return QuantConfig(workload, tuple(layers))


def _pick_spread(order: np.ndarray, n: int) -> list[int]:
    if len(order) <= n:
        return list(order)
    pos = np.unique(np.linspace(0, len(order) - 1, n).round().astype(int))
    return [int(order[p]) for p in pos]


def explore(
    hw: str | Path = "hw_models/mpic.yaml",
    workload: str = "digits_cnn",
    objectives: str | Sequence[str | Objective] | None = None,
    seed: int = 0,
    pop_size: int = 64,
    generations: int = 40,
    finetune_top: int = 6,
    finetune_steps: int = 300,
    recipe: str | FinetuneRecipe = "qat",
    workers: int = 1,
    scheduler: str | None = None,
    data: str | Path | None = None,
    weights: str | Path | None = None,
    estimator: str | None = None,
    supernet_steps: int = 2000,
    out: str | Path | None = None,
    results_dir: str | Path = "results",
    input_shape: tuple[int, ...] | None = None,
    console: Console | None = None,
) -> RunResult:
    """Search per-layer weight / activation bit-widths of `workload` on the hardware `hw`.

    Returns a `RunResult`; the run directory (``results_dir/<run-id>`` or `out`) holds
    run.json, candidates.csv, pareto.csv / .json and pareto.html. Accuracy figures are in
    percent on the held-out test split; latency in ms, energy in uJ, memory in kB.
    Fine-tunes (`finetune_top` points, `recipe` with `finetune_steps` steps) run through
    Dask: in-process, a LocalCluster of `workers` processes, or the cluster at `scheduler`;
    results are cached in ``results_dir/evals.sqlite``. `data` is the local folder of a
    dataset that does not ship with codesign (CIFAR-10, Speech Commands); `weights` a trained
    state dict to start from instead of training the full-precision model here.
    Raises `CodesignError` (with one clear message) on bad input.
    """
    console = console or Console(stderr=True)
    hw_path = resolve_hw_path(hw)
    hardware = load_hardware(hw_path)
    wl = get_workload(workload, input_shape)
    data_path = None if data is None else str(data)
    if data_path is not None and not Path(data_path).exists():
        raise CodesignError(f"--data {data_path}: no such file or directory")
    has_data = dataset_available(wl.dataset, data_path)
    if data_path is not None and not dataset_needs_path(wl.dataset):
        raise CodesignError(
            f"--data: workload '{wl.name}' does not read a dataset from a path "
            f"(its data: {wl.dataset or 'none'})"
        )
    if objectives is None:
        costs = (
            (Objective.ENERGY, Objective.LATENCY)
            if hardware.family == "spatial"
            else (Objective.LATENCY, Objective.MEMORY)
        )
        objs = (Objective.ACCURACY_LOSS, *costs) if has_data else costs
        if not has_data:
            console.print(
                f"[yellow]workload '{wl.name}' has no data here (its dataset, "
                f"{wl.dataset or 'none'}: {how_to_get(wl.dataset)}): searching the costs "
                "only; with no accuracy axis the lowest bit-widths win[/]"
            )
    else:
        objs = parse_objectives(objectives)
    if Objective.ACCURACY_LOSS in objs and not has_data:
        raise CodesignError(
            f"--objectives: accuracy_loss needs data, and workload '{wl.name}' has none here "
            f"(dataset: {wl.dataset or 'none'}: {how_to_get(wl.dataset)}); choose among latency, "
            "energy, memory"
        )
    if pop_size < 8 or generations < 1 or finetune_top < 0 or finetune_steps < 1:
        raise CodesignError(
            "--pop-size must be >= 8, --generations >= 1, --finetune-top >= 0, "
            "--finetune-steps >= 1"
        )
    if isinstance(recipe, str):
        try:
            recipe = FinetuneRecipe.parse(recipe, steps=finetune_steps)
        except ValueError as exc:
            raise CodesignError(f"--recipe {recipe}: {exc}") from None
    if workers < 1:
        raise CodesignError("--workers must be >= 1")
    estimator = estimator or DEFAULT_ESTIMATOR
    if estimator not in ESTIMATORS:
        raise CodesignError(f"--estimator {estimator}: choose among {', '.join(ESTIMATORS)}")
    settings = Settings(
        objs,
        seed,
        pop_size,
        generations,
        finetune_top,
        recipe,
        Path(results_dir),
        workers,
        scheduler,
        data_path,
        None if weights is None else str(weights),
        estimator,
        supernet_steps,
    )
    run_path = (
        Path(out)
        if out is not None
        else settings.results_dir / RunDir.new_id(wl.name, hardware.name)
    )
    run = RunDir(run_path)
    info: dict[str, Any] = {
        "status": "running",
        "command": "explore",
        "inputs": {
            "hw": str(hw_path),
            "workload": wl.name,
            "input_shape": list(wl.input_shape),
            "objectives": [o.value for o in objs],
            "seed": seed,
            "pop_size": pop_size,
            "generations": generations,
            "finetune_top": finetune_top,
            "finetune_steps": recipe.steps,
            "recipe": recipe.name,
            "workers": workers,
            "scheduler": scheduler,
            "data": data_path,
            "weights": None if weights is None else str(weights),
            "estimator": estimator,
            "supernet_steps": supernet_steps,
        },
        "hardware": {"name": hardware.name, "family": hardware.family},
        "versions": package_versions(),
    }
    run.write_json("run.json", info)
    run.copy_in(hw_path, "hw.yaml")
    console.print(f"run directory: [bold]{run_path}[/]")
    try:
        return _Explorer(run, info, hardware, wl, settings, console).run()
    except BaseException as exc:
        info["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        info["error"] = f"{type(exc).__name__}: {exc}"
        run.write_json("run.json", info)
        raise
    finally:
        run.close()


class _Explorer:
    """The stages of one run; each writes its results into the run directory as it ends."""

    def __init__(
        self,
        run: RunDir,
        info: dict[str, Any],
        hardware: McuHardware,
        wl: Workload,
        settings: Settings,
        console: Console,
    ) -> None:
        self.run_dir = run
        self.info = info
        self.hw = hardware
        self.wl = wl
        self.s = settings
        self.console = console

    def run(self) -> RunResult:
        s = self.s
        torch.manual_seed(s.seed)
        data = (
            load_dataset(self.wl.dataset, seed=0, path=s.data_path)
            if dataset_available(self.wl.dataset, s.data_path)
            else None
        )
        model, fp_test = self._model(data)
        graph = extract(model, self.wl.example_input(), self.wl.name)
        self.run_dir.write_json("layers.json", graph.to_records())
        self.console.print(graph.summary())
        tables = build_tables(graph, self.hw)
        cache = EvalCache(s.results_dir / "evals.sqlite")
        self._base = (weights_hash(model), state_bytes(model))
        try:
            with (
                DaskEvaluator(cache, s.workers, s.scheduler) as ev,
                _progress(self.console) as prog,
            ):
                self._ev = ev
                estimator = self._estimator(model, graph, tables, data, prog) if data else None
                archive = Archive(
                    tables, lambda h, rows: self.run_dir.append_rows("candidates.csv", h, rows)
                )
                problem = BitWidthProblem(
                    tables, s.objectives, estimator, on_evaluate=archive.record
                )
                task = prog.add_task("NSGA-II search", total=s.generations)
                run_nsga2(
                    problem,
                    s.pop_size,
                    s.generations,
                    s.seed,
                    on_generation=lambda g: prog.update(task, completed=g),
                )
                front = self._front(archive, graph, tables, fp_test, estimator is not None)
                if data is not None and s.finetune_top > 0:
                    self._finetune(front, graph, tables, prog)
        finally:
            cache.close()
        names = list(tables.layer_names)
        self.run_dir.write_json(
            "pareto.json",
            {
                "workload": self.wl.name,
                "hardware": self.hw.name,
                "objectives": [o.value for o in s.objectives],
                "layers": names,
                "fp_accuracy": fp_test,
                "memory_limit_kb": tables.memory_limit_bytes / 1e3,
                "candidates": front,
            },
        )
        _write_pareto_csv(self.run_dir, front, names)
        write_report(self.run_dir.path)
        summary = {"evaluated": len(archive), "pareto": len(front), "fp_test_accuracy": fp_test}
        self.info.update(status="complete", summary=summary)
        self.run_dir.write_json("run.json", self.info)
        return RunResult(self.run_dir.path, front, fp_test, len(archive), s.objectives, summary)

    def _model(self, data: DataSplits | None) -> tuple[nn.Module, float | None]:
        s = self.s
        model, origin = _base_model(
            self.wl, data, s.seed, s.results_dir / "cache", s.weights, self.console
        )
        if not origin:
            return model, None
        fp_test = evaluate(model, data.test) if data is not None else None
        self.info["fp_model"] = {**origin, "test_accuracy": fp_test}
        return model, fp_test

    def _estimator(
        self,
        model: nn.Module,
        graph: LayerGraph,
        tables: CostTables,
        data: DataSplits,
        prog: Progress,
    ) -> AccuracyEstimator:
        """The accuracy estimator the search uses (`--estimator`)."""
        s = self.s
        self.info["estimator"] = s.estimator
        if s.estimator == "proxy":
            return self._sensitivity(model, graph, tables, data, prog)
        fp_val = evaluate(model, data.val)
        if s.estimator == "supernet":
            sn = self._supernet(model, graph, tables, data, prog)
            return SupernetEstimator(sn, data.val, fp_val, tables.act_bits, tables.weight_bits)
        names = tables.layer_names

        def run_batch(configs: list[tuple[list[int], list[int]]]) -> list[float]:
            tasks = [self._task(graph, names, a, w, "val") for a, w in configs]
            res = self._ev.run(tasks)
            return [
                float("nan") if res[t.key].get("status") != "ok" else res[t.key]["accuracy"]
                for t in tasks
            ]

        self.console.print(
            "[yellow]--estimator finetune fine-tunes every distinct candidate the search "
            f"visits ({s.recipe.steps} steps each); expect a long run[/]"
        )
        return FinetuneEstimator(run_batch, fp_val, tables.act_bits, tables.weight_bits)

    def _supernet(
        self,
        model: nn.Module,
        graph: LayerGraph,
        tables: CostTables,
        data: DataSplits,
        prog: Progress,
    ) -> Supernet:
        """Load the supernet of this workload and hardware from the cache, or train it once."""
        sn, path, cached = load_or_train_supernet(
            model,
            graph,
            self.wl.name,
            self.hw.name,
            tables.act_bits,
            tables.weight_bits,
            data.train,
            self.s.results_dir / "cache",
            self._base[0],
            SupernetSchedule(),
            self.s.seed,
            prog,
        )
        self.info["supernet"] = {"path": str(path), "cached": cached}
        self.console.print(
            f"supernet: {'loaded from' if cached else 'trained and cached in'} [dim]{path}[/]"
        )
        return sn

    def _task(
        self,
        graph: LayerGraph,
        names: Sequence[str],
        act: Sequence[int],
        wts: Sequence[int],
        split: str,
    ) -> FinetuneTask:
        """A fine-tune task for one configuration, scored on `split` ('val' or 'test')."""
        cfg = _layer_config(graph, names, act, wts, self.wl.name)
        return make_task(
            self.wl, self._base, cfg, self.s.recipe, self.s.seed, split, self.s.data_path
        )

    def _sensitivity(
        self,
        model: nn.Module,
        graph: LayerGraph,
        tables: CostTables,
        data: DataSplits,
        prog: Progress,
    ) -> SensitivityProxy:
        names = tables.layer_names
        n = len(names) * (len(tables.weight_bits) + len(tables.act_bits))
        task = prog.add_task("layer sensitivity", total=n)
        proxy = measure_sensitivity(
            model,
            graph.quantizable,
            tables.act_bits,
            tables.weight_bits,
            data.train,
            data.val,
            self.wl.name,
            progress=lambda: prog.advance(task),
        )
        self.run_dir.write_json(
            "sensitivity.json",
            {
                "layers": list(names),
                "act_bits": list(tables.act_bits),
                "weight_bits": list(tables.weight_bits),
                "weight_drop_pp": proxy.weight_drop.tolist(),
                "act_drop_pp": proxy.act_drop.tolist(),
                "fp_val_accuracy": proxy.fp_accuracy,
            },
        )
        return proxy

    def _front(
        self,
        archive: Archive,
        graph: LayerGraph,
        tables: CostTables,
        fp_test: float | None,
        has_proxy: bool,
    ) -> list[dict[str, Any]]:
        """The feasible non-dominated candidates, priced exactly per layer, sorted by cost."""
        F, feasible = archive.objectives(), archive.feasible()
        if not feasible.any():
            smallest = min(c["peak_kb"] for c in archive.candidates)
            raise CodesignError(
                f"no evaluated configuration of {self.wl.name} fits in {self.hw.name}'s memory "
                f"({tables.memory_limit_bytes / 1e3:.0f} kB); smallest peak seen: "
                f"{smallest:.1f} kB"
            )
        objs = self.s.objectives
        cost_cols = [i for i, o in enumerate(objs) if o != Objective.ACCURACY_LOSS]
        other = [i for i in range(len(objs)) if i not in cost_cols]
        ids = pareto_order(F, np.flatnonzero(pareto_mask(F, feasible)), cost_cols + other)
        names = tables.layer_names
        front = []
        for rank, cid in enumerate(ids):
            c = archive.candidates[int(cid)]
            assign = {
                n: Precision.uniform(a, w, graph[n].K)
                for n, a, w in zip(names, c["act_bits"], c["weight_bits"])
            }
            maps = dict(zip(names, c["mapping"])) if c["mapping"] else None
            nc = price_network(graph, self.hw, assign, maps)
            per_layer = {n: _layer_costs(lc) for n, lc in nc.layers.items()}
            loss = c["est_accuracy_loss_pp"] if has_proxy else None
            front.append(
                {
                    "rank": rank,
                    "id": c["id"],
                    "generation": c["generation"],
                    "act_bits": dict(zip(names, c["act_bits"])),
                    "weight_bits": dict(zip(names, c["weight_bits"])),
                    "mapping_choice": dict(zip(names, c["mapping"])) if c["mapping"] else None,
                    **{k: c[k] for k in ("latency_ms", "energy_uj", "peak_kb", "weight_kb")},
                    "est_accuracy_loss_pp": loss,
                    "est_accuracy": None if fp_test is None or loss is None else fp_test - loss,
                    "finetuned_accuracy": None,
                    "ptq_accuracy": None,
                    "finetune_status": "not run",
                    "per_layer": per_layer,
                }
            )
        return front

    def _finetune(
        self,
        front: list[dict[str, Any]],
        graph: LayerGraph,
        tables: CostTables,
        prog: Progress,
    ) -> None:
        """Fine-tune points spread along the front through Dask, the SQLite cache first.

        Each result is appended to finetune.csv as it arrives.
        """
        s = self.s
        names = tables.layer_names
        picks = _pick_spread(np.arange(len(front)), s.finetune_top)
        tasks, rank_of = [], {}
        for r in picks:
            p = front[r]
            t = self._task(
                graph,
                names,
                [p["act_bits"][n] for n in names],
                [p["weight_bits"][n] for n in names],
                "test",
            )
            tasks.append(t)
            rank_of[t.key] = r
        header = [
            "rank",
            "id",
            "status",
            "ptq_accuracy",
            "finetuned_accuracy",
            "recipe",
            "steps",
            "cached",
            "seconds",
            "reason",
        ]
        task = prog.add_task(
            f"fine-tuning {len(picks)} Pareto points ({s.recipe.name})", total=len(picks)
        )

        def done(t: FinetuneTask, res: dict[str, Any], cached: bool) -> None:
            r = rank_of[t.key]
            p = front[r]
            ok = res.get("status") == "ok"
            p.update(
                finetuned_accuracy=res.get("accuracy") if ok else None,
                ptq_accuracy=res.get("ptq_accuracy"),
                finetune_status="ok" if ok else f"failed: {res.get('reason')}",
                finetune_cached=cached,
            )
            self.run_dir.append_rows(
                "finetune.csv",
                header,
                [
                    [
                        r,
                        p["id"],
                        res.get("status"),
                        res.get("ptq_accuracy"),
                        p["finetuned_accuracy"],
                        s.recipe.name,
                        s.recipe.steps,
                        cached,
                        res.get("seconds"),
                        res.get("reason"),
                    ]
                ],
            )
            prog.advance(task)

        ev = self._ev
        hits0, computed0, failed0 = ev.cache_hits, ev.computed, ev.failed
        ev.run(tasks, done)
        hits, computed = ev.cache_hits - hits0, ev.computed - computed0
        failed = ev.failed - failed0
        cache_path = ev.cache.path if ev.cache is not None else None
        self.info["finetune"] = {
            "recipe": s.recipe.name,
            "steps": s.recipe.steps,
            "requested": len(tasks),
            "from_cache": hits,
            "computed": computed,
            "failed": failed,
            "executor": ev.describe(),
            "cache": str(cache_path),
        }
        if computed == 0 and tasks:
            self.console.print(
                f"no new fine-tunes: all {len(tasks)} results came from the cache {cache_path}"
            )
        else:
            self.console.print(
                f"fine-tunes on {ev.describe()}: {computed} computed ({failed} failed), "
                f"{hits} from the cache {cache_path}"
            )


def _write_pareto_csv(run: RunDir, front: list[dict[str, Any]], names: Sequence[str]) -> None:
    keys = ["rank", "id", "est_accuracy", "finetuned_accuracy", *FRONT_METRICS]
    header = keys + [f"w:{n}" for n in names] + [f"a:{n}" for n in names]
    rows = [
        [p[k] for k in keys]
        + [p["weight_bits"][n] for n in names]
        + [p["act_bits"][n] for n in names]
        for p in front
    ]
    run.append_rows("pareto.csv", header, rows)


def supernet_train(
    hw: str | Path,
    workload: str = "digits_cnn",
    steps: int = 2000,
    seed: int = 0,
    data: str | Path | None = None,
    weights: str | Path | None = None,
    results_dir: str | Path = "results",
    input_shape: tuple[int, ...] | None = None,
    console: Console | None = None,
) -> dict[str, Any]:
    """Train (or find in the cache) the switchable-precision supernet of `workload` on `hw`.

    Later `explore --estimator supernet` runs with the same workload, hardware, base weights
    and seed find it again. Returns its checkpoint path, whether it was cached, and the held-out
    accuracy (percent) of every uniform (activation, weight) setting.
    """
    console = console or Console(stderr=True)
    hardware = load_hardware(resolve_hw_path(hw))
    wl = get_workload(workload, input_shape)
    data_path = None if data is None else str(data)
    if not dataset_available(wl.dataset, data_path):
        raise CodesignError(
            f"supernet train: workload '{wl.name}' has no data here (dataset: "
            f"{wl.dataset or 'none'}): {how_to_get(wl.dataset)}"
        )
    splits = load_dataset(wl.dataset, seed=0, path=data_path)
    results_dir = Path(results_dir)
    model, _ = _base_model(
        wl, splits, seed, results_dir / "cache", None if weights is None else str(weights), console
    )
    graph = extract(model, wl.example_input(), wl.name)
    tables = build_tables(graph, hardware)
    with _progress(console) as prog:
        sn, path, cached = load_or_train_supernet(
            model,
            graph,
            wl.name,
            hardware.name,
            tables.act_bits,
            tables.weight_bits,
            splits.train,
            results_dir / "cache",
            weights_hash(model),
            SupernetSchedule(steps=steps),
            seed,
            prog,
        )
    n = tables.num_layers
    uniform = [
        {"act_bits": a, "weight_bits": w, "accuracy": sn.accuracy([a] * n, [w] * n, splits.test)}
        for a in tables.act_bits
        for w in tables.weight_bits
    ]
    return {
        "path": path,
        "cached": cached,
        "fp_accuracy": evaluate(model, splits.test),
        "uniform": uniform,
    }
