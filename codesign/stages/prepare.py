"""Stage 1, `prepare(cfg)`: everything a search needs, built once and checked.

Loads the hardware and the workload, the data when there is some, the full-precision base model
(the user's weights, or trained once and cached), extracts the layer graph and builds the cost
tables. Returns a `Context`; every later stage reads it and none changes it.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import replace
from pathlib import Path
from typing import Any, NamedTuple

import torch
from rich.console import Console
from torch import nn

from codesign._version import __version__
from codesign.cache import weights_hash
from codesign.config import ACCURACY_FIELDS, ExploreConfig
from codesign.core.errors import CodesignError, DataError
from codesign.core.files import save_state_atomic
from codesign.core.types import Objective
from codesign.data import (
    DataSplits,
    dataset_available,
    dataset_needs_path,
    how_to_get,
    is_data_function,
    load_dataset,
)
from codesign.data.user import check_against_model
from codesign.families import build_tables
from codesign.hw.family import HardwareFamily, family_of
from codesign.hw.load import load_hardware, resolve_hw_path
from codesign.hw.space import HardwareSpace, load_hw_space
from codesign.quant.evaluate import state_bytes
from codesign.quant.importance import channel_ranking
from codesign.quant.train import FP_RECIPE, FinetuneRecipe, evaluate, train_full_precision
from codesign.run import RunDir
from codesign.search.registry import STRATEGIES
from codesign.stages.context import Context
from codesign.stages.estimators import ESTIMATORS
from codesign.workload import Workload, extract, get_workload


def resolve_objectives(
    cfg: ExploreConfig, family: HardwareFamily, wl: Workload, has_data: bool, console: Console
) -> tuple[Objective, ...]:
    """The run's objectives: the config's, or accuracy loss and the family's cost objectives
    (the costs alone without data). `CodesignError` when accuracy is asked without data."""
    if not has_data:
        _warn_accuracy_flags(cfg, wl, console)
    sized = cfg.hw_space is not None
    if cfg.objectives is None:
        objs = family.default_objectives + ((Objective.AREA,) if sized else ())
        if has_data:
            return (Objective.ACCURACY_LOSS, *objs)
        console.print(
            f"[yellow]cost-only run: workload '{wl.name}' has no data here (its dataset, "
            f"{wl.dataset or 'none'}: {how_to_get(wl.dataset)}), so it searches "
            f"{', '.join(o.value for o in objs)} only; with no accuracy axis the lowest "
            "bit-widths win (give --data for an accuracy axis)[/]"
        )
        return objs
    if Objective.AREA in cfg.objectives and not sized:
        raise CodesignError(
            "--objectives area: the area axis needs a hardware space to size (--hw-space, "
            "e.g. hw_models/spaces/eyeriss_space.yaml); one fixed hardware has one area"
        )
    if Objective.ACCURACY_LOSS in cfg.objectives and not has_data:
        raise CodesignError(
            f"--objectives: accuracy_loss needs data, and workload '{wl.name}' has none here "
            f"(dataset: {wl.dataset or 'none'}: {how_to_get(wl.dataset)}); choose among latency, "
            "energy, memory"
        )
    return cfg.objectives


def _warn_accuracy_flags(cfg: ExploreConfig, wl: Workload, console: Console) -> None:
    """Name every accuracy-only field the user set (to a value other than its default) on a
    cost-only run: they are ignored there, and saying so beats a silent no-op."""
    given = [
        k
        for k in ACCURACY_FIELDS
        if k in cfg.model_fields_set and getattr(cfg, k) != type(cfg).model_fields[k].default
    ]
    if given:
        flags = ", ".join(f"--{k.replace('_', '-')} {getattr(cfg, k)}" for k in given)
        console.print(
            f"[yellow]cost-only run (workload '{wl.name}' has no data here): {flags} "
            f"{'is' if len(given) == 1 else 'are'} ignored: there is no accuracy to estimate "
            "or fine-tune; give --data package.module:function (or a dataset folder) to use "
            f"{'it' if len(given) == 1 else 'them'}[/]"
        )


def check_config(cfg: ExploreConfig) -> FinetuneRecipe:
    """Checks that need the registries; returns the parsed fine-tune recipe."""
    ESTIMATORS.get(cfg.estimator, "--estimator")
    STRATEGIES.get(cfg.strategy, "--strategy")
    try:
        return FinetuneRecipe.parse(cfg.recipe, steps=cfg.finetune_steps)
    except ValueError as exc:
        raise CodesignError(f"--recipe {cfg.recipe}: {exc}") from None


def _fp_model(
    workload: Workload, data: DataSplits, seed: int, cache_dir: Path, console: Console
) -> tuple[nn.Module, Path, bool]:
    """Train the full-precision model once; later runs load it from the cache."""
    doc = {
        "workload": workload.name,
        "data": data.name,
        "seed": seed,
        "recipe": FP_RECIPE.__dict__,
        "torch": torch.__version__,
        "codesign": __version__,
    }
    if any(":" in n or n.startswith("python-") for n in (workload.name, data.name)):
        # user code may change under the same name
        torch.manual_seed(seed)
        doc["init"] = weights_hash(workload.build())
        doc["data_hash"] = hashlib.sha1(
            b"".join(t.numpy().tobytes() for t in data.train.tensors)
        ).hexdigest()[:16]
    key = json.dumps(doc, sort_keys=True)
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


def load_weights(workload: Workload, path: str) -> nn.Module:
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
    bad = [
        k for k, t in model.state_dict().items() if t.is_floating_point() and not t.isfinite().all()
    ]
    if bad:
        more = f" (and {len(bad) - 1} more)" if len(bad) > 1 else ""
        raise CodesignError(f"--weights {path}: '{bad[0]}'{more} holds NaN or infinite values")
    return model.eval()


def base_model(
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
        model = load_weights(workload, weights)
        console.print(f"full-precision model: weights from [dim]{weights}[/]")
        return model, {"weights": weights}
    if workload.pretrained:  # an ONNX file brings its trained weights
        console.print(f"full-precision model: weights from [dim]{workload.name}[/]")
        return workload.build().eval(), {"weights": workload.name}
    if data is None:
        torch.manual_seed(seed)
        return workload.build(), {}
    model, cache_path, cached = _fp_model(workload, data, seed, cache_dir, console)
    return model, {"cache": str(cache_path), "cached": cached}


def _sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:16]


class Inputs(NamedTuple):
    """What a config names, loaded and checked: the hardware, its file, the workload,
    whether the workload's data is here, and the hardware space (None without one; its base
    is then `hardware`)."""

    hardware: Any
    hw_path: Path
    workload: Workload
    has_data: bool
    hw_space: HardwareSpace | None = None


SIZED_STRATEGIES = ("nsga2", "random")  # the strategies that carry hardware genes


def load_inputs(cfg: ExploreConfig) -> Inputs:
    """The `Inputs` of `cfg`, checked before any work (once per run: a user's workload
    function is called here first, and again each time the seeded run builds the model)."""
    space = None
    if cfg.hw_space is not None:
        if cfg.strategy not in SIZED_STRATEGIES or cfg.granularity != "layer":
            raise CodesignError(
                f"--hw-space: sizing the hardware searches with {' or '.join(SIZED_STRATEGIES)} "
                f"at --granularity layer (got --strategy {cfg.strategy}, --granularity "
                f"{cfg.granularity})"
            )
        space = load_hw_space(cfg.hw_space)
        hardware, hw_path = space.base, space.base_path
    else:
        if cfg.max_area is not None:
            raise CodesignError("--max-area: bounds a hardware space's points; give --hw-space")
        hw_path = resolve_hw_path(cfg.hw)
        hardware = load_hardware(hw_path)
    wl = get_workload(cfg.workload, cfg.input_shape)
    if is_data_function(cfg.data):  # the user's data function (or a registered dataset)
        return Inputs(hardware, hw_path, replace(wl, dataset=cfg.data), True, space)
    if cfg.data is not None and not Path(cfg.data).exists():
        raise DataError(
            f"--data {cfg.data}: no such file or directory (a data function is given as "
            "package.module:function)"
        )
    if cfg.data is not None and not dataset_needs_path(wl.dataset):
        raise CodesignError(
            f"--data: workload '{wl.name}' does not read a dataset from a folder (its data: "
            f"{wl.dataset or 'none'}); give your own as --data package.module:function"
        )
    return Inputs(hardware, hw_path, wl, dataset_available(wl.dataset, cfg.data), space)


def prepare(
    cfg: ExploreConfig,
    run: RunDir,
    console: Console,
    inputs: Inputs | None = None,
) -> Context:
    """Build the `Context` of a run (see the module docstring); `inputs` when the caller
    loaded them already. Notes the base model, the hardware and the objectives in run.json."""
    recipe = check_config(cfg)
    hardware, hw_path, wl, has_data, hw_space = inputs or load_inputs(cfg)
    if hw_space is not None and cfg.hw != type(cfg).model_fields["hw"].default:
        console.print(
            f"[yellow]--hw {cfg.hw} is ignored: the hardware space's base, {hw_path}, is the "
            "hardware a sizing run starts from[/]"
        )
    family = family_of(hardware)
    objectives = resolve_objectives(cfg, family, wl, has_data, console)
    torch.manual_seed(cfg.seed)
    data = load_dataset(wl.dataset, seed=0, path=cfg.data) if has_data else None
    if data is not None and is_data_function(wl.dataset):  # checked before any training
        check_against_model(data, wl.build(), wl.input_shape)
    model, origin = base_model(
        wl, data, cfg.seed, Path(cfg.results_dir) / "cache", cfg.weights, console
    )
    fp_accuracy = evaluate(model, data.test) if data is not None and origin else None
    if origin:
        run.note(fp_model={**origin, "test_accuracy": fp_accuracy})
    graph = extract(model, wl.example_input(), wl.name)
    records = graph.to_records()
    run.write_json("layers.json", records)
    console.print(graph.summary())
    cache_dir = Path(cfg.results_dir) / "cache"
    with console.status(f"pricing every layer on {hardware.name}"):
        tables = build_tables(graph, hardware, cfg.mapper, cache_dir)
    ranking = None
    if cfg.granularity != "layer":
        if not tables.channelwise:
            raise CodesignError(f"--granularity {cfg.granularity}: {tables.channel_refusal}")
        if cfg.granularity == "channel":
            ranking = channel_ranking(model, graph)
            run.write_json(
                "channel_ranking.json",
                {
                    "criterion": "L2 norm of the batch-norm-folded weights, least important first",
                    "layers": {n: r.tolist() for n, r in zip(tables.layer_names, ranking)},
                },
            )
    base = (weights_hash(model), state_bytes(model))
    fingerprint = {
        "hardware": _sha(hw_path.read_bytes()),
        "workload": _sha(json.dumps(records, sort_keys=True, default=str).encode()),
        "weights": base[0],
    }
    if hw_space is not None:
        fingerprint["hw_space"] = _sha(hw_space.source.read_bytes())
        run.note(
            hw_space={
                "name": hw_space.name,
                "file": str(hw_space.source),
                "components": hw_space.components.name,
                "parameters": dict(zip(hw_space.names, map(list, hw_space.values))),
                "points": hw_space.size,
                "base_area_mm2": hw_space.base_area_mm2,
            }
        )
    run.note(
        hardware={"name": hardware.name, "family": family.name, "file": str(hw_path)},
        objectives=[o.value for o in objectives],
    )
    return Context(
        config=cfg,
        run=run,
        console=console,
        hardware=hardware,
        family=family,
        hw_path=hw_path,
        workload=wl,
        graph=graph,
        tables=tables,
        objectives=objectives,
        recipe=recipe,
        data=data,
        model=model,
        fp_accuracy=fp_accuracy,
        base=base,
        fingerprint=fingerprint,
        ranking=ranking,
        hw_space=hw_space,
    )
