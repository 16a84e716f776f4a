"""`explore`: the main job. Extract, price, search, re-score, report; everything saved on the way."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import codesign
from codesign.core.errors import CodesignError
from codesign.core.types import Objective, Precision
from codesign.cost.mpic import build_tables, price_network
from codesign.data import DataSplits, load_dataset
from codesign.hw.load import load_hardware, resolve_hw_path
from codesign.quant.config import LayerQuant, QuantConfig
from codesign.quant.proxy import SensitivityProxy, measure_sensitivity
from codesign.quant.train import FINETUNE_RECIPE, FP_RECIPE, TrainRecipe, evaluate, finetune, train_full_precision
from codesign.run import RunDir, package_versions
from codesign.search.nsga2 import BitWidthProblem, Evaluated, pareto_mask, run_nsga2
from codesign.workload import extract, get_workload
from codesign.workload.graph import LayerGraph

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
            raise CodesignError(f"--objectives: unknown objective '{it}'; choose among {known}") from None
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
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    torch.save(model.state_dict(), tmp)
    os.replace(tmp, path)
    console.print(f"full-precision model: trained and cached in [dim]{path}[/]")
    return model, path, False


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
    finetune_steps: int = FINETUNE_RECIPE.steps,
    out: str | Path | None = None,
    results_dir: str | Path = "results",
    input_shape: tuple[int, ...] | None = None,
    console: Console | None = None,
) -> RunResult:
    """Search per-layer weight / activation bit-widths of `workload` on the hardware `hw`.

    Returns a `RunResult`; the run directory (``results_dir/<run-id>`` or `out`) holds
    run.json, candidates.csv, pareto.csv / .json and pareto.html. Accuracy figures are in
    percent on the held-out test split; latency in ms, energy in uJ, memory in kB.
    Raises `CodesignError` (with one clear message) on bad input.
    """
    console = console or Console(stderr=True)
    hw_path = resolve_hw_path(hw)
    hardware = load_hardware(hw_path)
    wl = get_workload(workload, input_shape)
    has_data = wl.dataset is not None
    if objectives is None:
        objs = DEFAULT_OBJECTIVES if has_data else (Objective.LATENCY, Objective.MEMORY)
        if not has_data:
            console.print(
                f"[yellow]workload '{wl.name}' has no dataset on this machine: searching "
                "latency and memory only (no accuracy axis)[/]"
            )
    else:
        objs = parse_objectives(objectives)
    if Objective.ACCURACY_LOSS in objs and not has_data:
        raise CodesignError(
            f"--objectives: accuracy_loss needs data, and workload '{wl.name}' has no dataset "
            "here; choose among latency, energy, memory"
        )
    if pop_size < 8 or generations < 1:
        raise CodesignError("--pop-size must be >= 8 and --generations >= 1")

    results_dir = Path(results_dir)
    run_path = Path(out) if out is not None else results_dir / RunDir.new_id(wl.name, hardware.name)
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
            "finetune_steps": finetune_steps,
        },
        "hardware": {"name": hardware.name, "family": hardware.family},
        "versions": package_versions(),
    }
    run.write_json("run.json", info)
    run.copy_in(hw_path, "hw.yaml")
    console.print(f"run directory: [bold]{run_path}[/]")

    try:
        return _explore(run, info, hardware, wl, objs, seed, pop_size, generations,
                        finetune_top, finetune_steps, results_dir, console)
    except BaseException as exc:
        info["status"] = "interrupted" if isinstance(exc, KeyboardInterrupt) else "failed"
        info["error"] = f"{type(exc).__name__}: {exc}"
        run.write_json("run.json", info)
        raise
    finally:
        run.close()


def _explore(run, info, hardware, wl, objs, seed, pop_size, generations,  # noqa: ANN001, ANN202, PLR0913
             finetune_top, finetune_steps, results_dir, console):
    torch.manual_seed(seed)
    data = load_dataset(wl.dataset, seed=0) if wl.dataset else None
    if data is not None:
        model, cache_path, cached = _fp_model(wl, data, seed, results_dir / "cache", console)
        fp_test = evaluate(model, data.test)
        info["fp_model"] = {"cache": str(cache_path), "cached": cached, "test_accuracy": fp_test}
    else:
        model = wl.build()
        fp_test = None
    graph = extract(model, wl.example_input(), wl.name)
    run.write_json("layers.json", graph.to_records())
    console.print(graph.summary())
    tables = build_tables(graph, hardware)
    names = tables.layer_names

    proxy: SensitivityProxy | None = None
    with _progress(console) as prog:
        if data is not None:
            n = len(names) * (len(tables.weight_bits) + len(tables.act_bits))
            task = prog.add_task("layer sensitivity", total=n)
            proxy = measure_sensitivity(
                model, graph.quantizable, tables.act_bits, tables.weight_bits, data.train,
                data.val, wl.name, progress=lambda: prog.advance(task),
            )
            run.write_json("sensitivity.json", {
                "layers": list(names), "act_bits": list(tables.act_bits),
                "weight_bits": list(tables.weight_bits),
                "weight_drop_pp": proxy.weight_drop.tolist(), "act_drop_pp": proxy.act_drop.tolist(),
                "fp_val_accuracy": proxy.fp_accuracy,
            })

        # -- search: every evaluated genome is archived and appended to candidates.csv ------
        seen: dict[bytes, int] = {}
        archive: list[dict[str, Any]] = []
        header = ["id", "generation", "feasible", "est_accuracy_loss_pp", "latency_ms",
                  "energy_uj", "peak_kb", "weight_kb"]
        header += [f"w:{n}" for n in names] + [f"a:{n}" for n in names]

        def record(ev: Evaluated) -> None:
            rows = []
            for i in range(len(ev.weight_idx)):
                key = np.concatenate([ev.weight_idx[i], ev.act_idx[i]]).astype(np.int16).tobytes()
                if key in seen:
                    continue
                cid = len(archive)
                seen[key] = cid
                wb = [tables.weight_bits[j] for j in ev.weight_idx[i]]
                ab = [tables.act_bits[j] for j in ev.act_idx[i]]
                c = {
                    "id": cid, "generation": ev.generation, "feasible": bool(ev.violation[i] <= 0),
                    "est_accuracy_loss_pp": float(ev.accuracy_loss[i]),
                    "latency_ms": float(ev.scores.latency_s[i] * 1e3),
                    "energy_uj": float(ev.scores.energy_j[i] * 1e6),
                    "peak_kb": float(ev.scores.peak_bytes[i] / 1e3),
                    "weight_kb": float(ev.scores.weight_bytes[i] / 1e3),
                    "weight_bits": wb, "act_bits": ab, "F": ev.objectives[i].copy(),
                }
                archive.append(c)
                rows.append([cid, ev.generation, c["feasible"], round(c["est_accuracy_loss_pp"], 4),
                             c["latency_ms"], c["energy_uj"], c["peak_kb"], c["weight_kb"], *wb, *ab])
            run.append_rows("candidates.csv", header, rows)

        problem = BitWidthProblem(tables, objs, proxy, on_evaluate=record)
        task = prog.add_task("NSGA-II search", total=generations)
        run_nsga2(problem, pop_size, generations, seed, on_generation=lambda g: prog.update(task, completed=g))

        F = np.stack([c["F"] for c in archive])
        feasible = np.array([c["feasible"] for c in archive])
        if not feasible.any():
            raise CodesignError(
                f"no evaluated configuration of {wl.name} fits in {hardware.name}'s memory "
                f"({tables.memory_limit_bytes / 1e3:.0f} kB); smallest peak seen: "
                f"{min(c['peak_kb'] for c in archive):.1f} kB"
            )
        mask = pareto_mask(F, feasible)
        sort_col = next(i for i, o in enumerate(objs) if o != Objective.ACCURACY_LOSS)
        front_ids = np.flatnonzero(mask)
        front_ids = front_ids[np.lexsort((F[front_ids, 0], F[front_ids, sort_col]))]

        # -- price the front exactly, per layer; fine-tune the picked points ----------------
        front = []
        for rank, cid in enumerate(front_ids):
            c = archive[int(cid)]
            assign = {n: Precision.uniform(a, w, graph[n].K)
                      for n, a, w in zip(names, c["act_bits"], c["weight_bits"])}
            nc = price_network(graph, hardware, assign)
            per_layer = {
                n: {"cycles": lc.cycles, "latency_us": lc.latency_s * 1e6,
                    "energy_nj": lc.energy_j * 1e9, "weight_bytes": lc.weight_bytes,
                    "act_bytes": lc.act_bytes, "l1_tiles": int(lc.extra.get("l1_tiles", 1))}
                for n, lc in nc.layers.items()
            }
            est = None if fp_test is None else fp_test - c["est_accuracy_loss_pp"]
            front.append({
                "rank": rank, "id": c["id"], "generation": c["generation"],
                "act_bits": dict(zip(names, c["act_bits"])),
                "weight_bits": dict(zip(names, c["weight_bits"])),
                "latency_ms": c["latency_ms"], "energy_uj": c["energy_uj"],
                "peak_kb": c["peak_kb"], "weight_kb": c["weight_kb"],
                "est_accuracy_loss_pp": None if proxy is None else c["est_accuracy_loss_pp"],
                "est_accuracy": est, "finetuned_accuracy": None, "ptq_accuracy": None,
                "finetune_status": "not run", "per_layer": per_layer,
            })

        if data is not None and finetune_top > 0:
            picks = _pick_spread(np.arange(len(front)), finetune_top)
            recipe = TrainRecipe(steps=finetune_steps, lr=FINETUNE_RECIPE.lr,
                                 batch_size=FINETUNE_RECIPE.batch_size)
            task = prog.add_task(f"fine-tuning {len(picks)} Pareto points", total=len(picks))
            for r in picks:
                p = front[r]
                cfg = _layer_config(graph, names, [p["act_bits"][n] for n in names],
                                    [p["weight_bits"][n] for n in names], wl.name)
                try:
                    res = finetune(model, cfg, data.train, data.test, recipe, seed=seed)
                    if not np.isfinite(res.final_loss):
                        raise FloatingPointError("loss diverged to NaN")
                    p.update(finetuned_accuracy=res.accuracy, ptq_accuracy=res.ptq_accuracy,
                             finetune_status="ok")
                except (FloatingPointError, RuntimeError) as exc:
                    p.update(finetune_status=f"failed: {exc}")
                run.append_rows("finetune.csv", ["rank", "id", "status", "ptq_accuracy", "finetuned_accuracy", "steps"],
                                [[r, p["id"], p["finetune_status"], p["ptq_accuracy"], p["finetuned_accuracy"], finetune_steps]])
                prog.advance(task)

    pareto_doc = {
        "workload": wl.name, "hardware": hardware.name, "objectives": [o.value for o in objs],
        "layers": list(names), "fp_accuracy": fp_test, "memory_limit_kb": tables.memory_limit_bytes / 1e3,
        "candidates": front,
    }
    run.write_json("pareto.json", pareto_doc)
    _write_pareto_csv(run, front, names)
    from codesign.report.html import write_report

    write_report(run.path)
    info["status"] = "complete"
    info["summary"] = {"evaluated": len(archive), "pareto": len(front), "fp_test_accuracy": fp_test}
    run.write_json("run.json", info)
    return RunResult(run.path, front, fp_test, len(archive), tuple(objs), info["summary"])


def _write_pareto_csv(run: RunDir, front: list[dict[str, Any]], names: Sequence[str]) -> None:
    header = ["rank", "id", "est_accuracy", "finetuned_accuracy", "latency_ms", "energy_uj",
              "peak_kb", "weight_kb"] + [f"w:{n}" for n in names] + [f"a:{n}" for n in names]
    rows = [[p["rank"], p["id"], p["est_accuracy"], p["finetuned_accuracy"], p["latency_ms"],
             p["energy_uj"], p["peak_kb"], p["weight_kb"],
             *[p["weight_bits"][n] for n in names], *[p["act_bits"][n] for n in names]]
            for p in front]
    run.append_rows("pareto.csv", header, rows)
