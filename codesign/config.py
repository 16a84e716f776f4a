"""`ExploreConfig`: the one description of a run.

It is the single source of the `codesign explore` flags (each field is a flag, its description
the help), of `codesign.explore(...)`'s keyword arguments, of the ``config`` block of run.json
and of `--config FILE.yaml`; `ExploreConfig.from_run(dir)` reads back what a run ran with.
Frozen, versioned, and strict: an unknown key or a bad value is one `ConfigError` naming the
file (or flag) and the field.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from codesign.core.errors import ConfigError
from codesign.core.types import MapperSettings, Objective
from codesign.core.yamlio import load_yaml, validation_message

CONFIG_VERSION = 1
MAX_INPUT_RANK = 6  # batch + up to 5 dimensions (video, volumes)
MAX_INPUT_ELEMENTS = 2**28  # one traced input: 1 GiB of float32

# fields that act only on the accuracy axis: a cost-only run (a workload without data) ignores
# them, and says so when they were given
ACCURACY_FIELDS = (
    "estimator",
    "supernet_steps",
    "anchors",
    "finetune_top",
    "baselines",
    "rescore_per_gen",
    "finetune_steps",
    "recipe",
)

# fields that change what a run computes; a resume must match them (the others say where and
# how fast it runs)
_RESULT_FIELDS = (
    "hw",
    "hw_space",
    "max_area",
    "workload",
    "input_shape",
    "objectives",
    "strategy",
    "granularity",
    "regulariser",
    "seed",
    "pop_size",
    "generations",
    *ACCURACY_FIELDS,
    "data",
    "weights",
    "mapper_samples",
    "mapper_seed",
    "mapper_refine_rounds",
    "mapper_refine_top",
    "mapper_other_unrollings",
    "mapper_partial_unrollings",
)

# fields that say where work is sent and written; `--resume` takes them from its own command
# line (or their defaults), never from the run.json it reads
WHERE_FIELDS = ("workers", "scheduler", "dashboard", "threads", "out", "results_dir")

_ALIASES = {"accuracy": "accuracy_loss", "acc": "accuracy_loss", "mem": "memory"}


# supernet training steps by granularity (per channel, 30 MNIST-1D configurations ranked
# against fine-tunes at Kendall tau 0.78 after 2,000 steps, 0.85 after 4,000 and 0.87 after
# 8,000, BN re-measured: issue 24)
SUPERNET_STEPS = {"layer": 2000, "channel": 8000}
# the fine-tune recipe: distillation at lr 3e-3 fine-tuned MNIST-1D's w2a2 and low-bit channel
# points 6.5 points higher on average than qat at lr 1e-3, at 300 steps, seeds 0-2 (issue 24)
DEFAULT_RECIPE = "kd+lr=3e-3"
# fine-tuned anchors of a run that fine-tunes (`ExploreConfig.anchor_count`): against 30
# MNIST-1D configurations fine-tuned with the default recipe, 12 anchors instead of 8 brought
# the calibrated supernet's MAE from 2.14 to 1.68 pp per channel and from 1.10 to 0.70 per
# layer (benchmarks/bench_estimator_fidelity.py --anchors 8|12, seed 0); 16 did no better
DEFAULT_ANCHORS = 12


def default_threads() -> int:
    """Torch threads of the main process: half the cores (at least 1, at most 8), so that a
    run on a shared machine leaves room for the other half."""
    return max(1, min(8, (os.cpu_count() or 2) // 2))


def parse_objectives(spec: str | list[str] | tuple[Any, ...]) -> tuple[Objective, ...]:
    """Objectives from ``"accuracy_loss,latency"`` or a sequence; `ConfigError` when unknown."""
    if not isinstance(spec, str | list | tuple):
        raise ConfigError(
            f"--objectives: expected names such as accuracy_loss,latency, got {spec!r}"
        )
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for it in items:
        if not isinstance(it, str | Objective):
            raise ConfigError(f"--objectives: expected an objective's name, got {it!r}")
        name = it.value if isinstance(it, Objective) else _ALIASES.get(it.strip(), it.strip())
        try:
            out.append(Objective(name))
        except ValueError:
            known = ", ".join(o.value for o in Objective)
            raise ConfigError(
                f"--objectives: unknown objective '{it}'; choose among {known}"
            ) from None
    if len(out) < 2 or len(set(out)) != len(out):
        raise ConfigError("--objectives: give at least two distinct objectives")
    return tuple(out)


def parse_granularity(spec: str) -> tuple[str, int]:
    """('layer', 0), ('channel', 1) or ('group', G) from 'layer', 'channel' or 'group:G';
    `ValueError` otherwise."""
    if spec in ("layer", "channel"):
        return spec, 0 if spec == "layer" else 1
    kind, _, g = spec.partition(":")
    if kind == "group" and g.isdigit() and int(g) >= 1:
        return "group", int(g)
    raise ValueError(f"expected layer, channel or group:G (G >= 1 channels), got '{spec}'")


class ExploreConfig(BaseModel):
    """Everything `codesign explore` needs to run (and to resume) a search."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    version: Literal[1] = Field(1, description="config format version")
    hw: str = Field(
        "mpic",
        description="hardware YAML (e.g. hw_models/mpic.yaml) or a bundled name",
    )
    hw_space: str | None = Field(
        None,
        description="a hardware space YAML (e.g. hw_models/spaces/eyeriss_space.yaml) or a "
        "bundled space name: its base hardware replaces --hw, and the search sizes the "
        "hardware too (PE array, register files, global buffer, bandwidths), one gene per "
        "parameter beside the bit and mapping genes; adds the area objective",
    )
    max_area: float | None = Field(
        None,
        gt=0.0,
        description="with --hw-space: the largest area in mm2 a hardware point may take "
        "(its modelled compute and memories, from the component table)",
    )
    workload: str = Field(
        "mnist1d_cnn",
        description="registered workload (see `codesign workloads`) or package.module:function",
    )
    input_shape: tuple[int, ...] | None = Field(
        None, description="input shape incl. batch, e.g. 1,3,32,32 (for a user model)"
    )
    objectives: tuple[Objective, ...] | None = Field(
        None,
        description="comma-separated, among accuracy_loss, latency, energy, memory, area (area "
        "with --hw-space; default: accuracy_loss and the hardware family's costs, and area "
        "with --hw-space; the costs alone without data)",
    )
    strategy: str = Field(
        "nsga2",
        description="search strategy: nsga2, random, dnas or csq (gradient sweeps), hawq "
        "(HAWQ-V3: Hessian-trace sensitivities, one integer program per budget)",
    )
    granularity: str = Field(
        "layer",
        description="weight bits per layer, per channel (channel: per layer, how many channels "
        "at each bit-width, 0 = pruned, the least important channels lowest), or per group "
        "of G output channels (group:G)",
    )
    seed: int = Field(0, description="random seed (same seed, same front)")
    pop_size: int = Field(64, ge=8, description="candidates per generation")
    generations: int = Field(
        40,
        ge=1,
        description="generations of the search (dnas: cost weights in its sweep; csq and hawq: "
        "budgets)",
    )
    regulariser: Literal["size", "latency", "energy"] | None = Field(
        None,
        description="dnas / csq / hawq: the cost their regulariser weighs and csq's and hawq's "
        "budgets measure: size (weight bytes), latency (cycles) or energy, from the cost tables "
        "(default: csq size, as in its paper; dnas and hawq the run's first cost objective)",
    )
    estimator: str = Field(
        "supernet",
        description="accuracy estimator during the search: supernet (the best ranked against "
        "fine-tunes in benchmarks/bench_estimator_fidelity.py), proxy or finetune",
    )
    supernet_steps: int | None = Field(
        None,
        ge=1,
        description=f"supernet training steps (default {SUPERNET_STEPS['layer']} per layer, "
        f"{SUPERNET_STEPS['channel']} per channel or group: a larger space to cover)",
    )
    anchors: int | None = Field(
        None,
        ge=0,
        description="configurations fine-tuned before the search (on validation data) to "
        "calibrate the supernet or proxy estimate with a monotone map (0 = raw estimates; "
        f"default {DEFAULT_ANCHORS}, or 0 when finetune_top is 0)",
    )
    finetune_top: int = Field(
        6, ge=0, description="Pareto points re-scored by a short quantized fine-tune (0 = none)"
    )
    baselines: bool = Field(
        True,
        description="fine-tune the uniform baselines the search evaluated (every layer and "
        "channel at b bits, for each b the hardware offers for weights and activations) beside "
        "the front's points, and keep those no other fine-tuned point dominates, so the "
        "measured front reaches the accuracy of uniform w8a8 (false = the spread points only)",
    )
    rescore_per_gen: int = Field(
        0,
        ge=0,
        description="fine-tune up to K of each generation's new front candidates during the "
        "search, calibrate the estimator on them, and build the front from fine-tuned points "
        "only (finetune_top then bounds the unmeasured final-front points fine-tuned at the "
        "end; 0 = off, see README for what it costs and gains)",
    )
    finetune_steps: int = Field(300, ge=1, description="optimiser steps per fine-tune")
    recipe: str = Field(
        DEFAULT_RECIPE,
        description="fine-tune recipe: qat, or kd / progressive / stochastic joined with +, "
        "optionally with lr=RATE (default 1e-3); the default won on MNIST-1D's low-bit "
        "points (docs/benchmarks/finetune_recipes.md)",
    )
    data: str | None = Field(
        None,
        description="your data as package.module:function, a function of no arguments that "
        "returns (train, val, test) (see codesign/data/user.py), for any workload; or a local "
        "dataset folder for the bundled workloads whose data does not ship with codesign "
        "(resnet8: CIFAR-10 python batches; dscnn: Speech Commands). Without data a workload "
        "runs cost-only",
    )
    weights: str | None = Field(
        None,
        description="trained full-precision state dict (torch.save) to start from instead of "
        "training one here",
    )
    workers: int = Field(
        1, ge=1, description="Dask LocalCluster worker processes for fine-tunes (1 = in-process)"
    )
    scheduler: str | None = Field(
        None, description="address of an existing Dask scheduler, e.g. tcp://host:8786"
    )
    dashboard: str | None = Field(
        None,
        description="serve Dask's dashboard at this address, e.g. 127.0.0.1:8787 (default: no "
        "dashboard, and no worker opens an HTTP port)",
    )
    threads: int | None = Field(
        None,
        ge=1,
        description="torch threads of the main process (default: half the cores, at least 1); "
        "each Dask worker uses one",
    )
    mapper_samples: int = Field(
        1000, ge=1, description="mapper: random mappings sampled per layer (spatial hardware)"
    )
    mapper_seed: int = Field(0, description="mapper: seed of the sampled mappings")
    mapper_refine_rounds: int = Field(3, ge=0, description="mapper: rounds of local search")
    mapper_refine_top: int = Field(
        4, ge=1, description="mapper: mappings expanded per precision and objective each round"
    )
    mapper_other_unrollings: float = Field(
        0.5,
        ge=0.0,
        le=1.0,
        description="mapper: share of each dataflow's samples on unrollings other than its "
        "greedy fill of the array (its exact fill and sub-array ones; 0: always fill it)",
    )
    mapper_partial_unrollings: int = Field(
        4, ge=0, description="mapper: random sub-array unrollings tried per dataflow"
    )
    out: str | None = Field(None, description="run directory (default: results/<run-id>)")
    results_dir: str = Field(
        "results", description="parent of run directories, the model and mapping caches"
    )

    @field_validator("objectives", mode="before")
    @classmethod
    def _objectives(cls, v: Any) -> Any:
        if v is None:
            return None
        try:
            return parse_objectives(v)
        except ConfigError as exc:  # as a field error, so the message names the file
            raise ValueError(str(exc).removeprefix("--objectives: ")) from None

    @field_validator("granularity", mode="before")
    @classmethod
    def _granularity(cls, v: Any) -> Any:
        parse_granularity(str(v))
        return str(v)

    @field_validator("input_shape", mode="before")
    @classmethod
    def _shape(cls, v: Any) -> Any:
        if isinstance(v, str):
            try:
                return tuple(int(x) for x in v.split(","))
            except ValueError:
                raise ValueError(f"expected comma-separated integers, got '{v}'") from None
        return v

    @field_validator("input_shape")
    @classmethod
    def _shape_plausible(cls, v: tuple[int, ...] | None) -> tuple[int, ...] | None:
        if v is None:
            return v
        shown = ",".join(map(str, v))
        if not 2 <= len(v) <= MAX_INPUT_RANK:
            raise ValueError(
                f"{shown}: give the batch and 1 to {MAX_INPUT_RANK - 1} more dimensions, "
                "e.g. 1,3,32,32"
            )
        if min(v) < 1:
            raise ValueError(f"{shown}: every dimension must be at least 1")
        if math.prod(v) > MAX_INPUT_ELEMENTS:
            raise ValueError(
                f"{shown}: {math.prod(v):,} values per input, more than the "
                f"{MAX_INPUT_ELEMENTS:,} codesign traces"
            )
        return v

    @field_validator("scheduler")
    @classmethod
    def _scheduler(cls, v: str | None) -> str | None:
        if v is not None and not re.match(r"^(tcp|tls|ucx|ws|wss)://[^\s/]+:\d{1,5}/?$", v):
            raise ValueError(
                f"expected a Dask scheduler address such as tcp://host:8786, got '{v}'"
            )
        return v

    @field_validator("hw", "hw_space", "data", "weights", "out", "results_dir", mode="before")
    @classmethod
    def _path(cls, v: Any) -> Any:
        return str(v) if isinstance(v, Path) else v

    @property
    def mapper(self) -> MapperSettings:
        """The mapper settings of this run."""
        return MapperSettings(
            samples=self.mapper_samples,
            seed=self.mapper_seed,
            refine_rounds=self.mapper_refine_rounds,
            refine_top=self.mapper_refine_top,
            other_unrollings=self.mapper_other_unrollings,
            partial_unrollings=self.mapper_partial_unrollings,
        )

    @property
    def supernet_step_count(self) -> int:
        """`supernet_steps`, or the default of the run's granularity (`SUPERNET_STEPS`)."""
        if self.supernet_steps is not None:
            return self.supernet_steps
        return SUPERNET_STEPS["layer" if self.granularity == "layer" else "channel"]

    @property
    def anchor_count(self) -> int:
        """Anchors the estimator is calibrated on: `anchors`, or by default `DEFAULT_ANCHORS`
        in a run that fine-tunes its front and none in one that does not (finetune_top 0)."""
        if self.anchors is not None:
            return self.anchors
        return DEFAULT_ANCHORS if self.finetune_top > 0 else 0

    @property
    def torch_threads(self) -> int:
        """`threads`, or the default."""
        return self.threads if self.threads is not None else default_threads()

    # ---- building and reading back ---------------------------------------------------------

    @classmethod
    def build(cls, source: str = "arguments", **values: Any) -> ExploreConfig:
        """Validate `values` (None values are dropped); `ConfigError` naming `source`."""
        try:
            return cls.model_validate({k: v for k, v in values.items() if v is not None})
        except ValidationError as exc:
            raise ConfigError(validation_message(Path(source), exc)) from None

    @classmethod
    def from_file(cls, path: str | Path, **overrides: Any) -> ExploreConfig:
        """A config from a YAML (or JSON) file; `overrides` (not None) replace its values."""
        p = Path(path)
        data = load_yaml(p, ConfigError, "config file")
        if data is None:
            data = {}
        if not isinstance(data, dict):
            raise ConfigError(f"{p}: top level must be a mapping of config fields")
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
        return cls.build(str(p), **data)

    @classmethod
    def from_run(cls, run_dir: str | Path) -> ExploreConfig:
        """The config a run ran with (from its run.json)."""
        f = Path(run_dir) / "run.json"
        if not f.exists():
            from codesign.core.errors import RunError

            raise RunError(f"{run_dir}: no run.json (not a run directory)")
        try:
            doc = json.loads(f.read_text())
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{f}: corrupt JSON: {exc}") from None
        if "config" not in doc:
            raise ConfigError(f"{f}: no 'config' (written by an older codesign; rerun it)")
        return cls.build(f"{f}: config", **doc["config"])

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready values of every field (what run.json and a config file hold)."""
        d = self.model_dump(mode="json")
        if d.get("objectives") is not None:
            d["objectives"] = [str(o) for o in d["objectives"]]
        return d

    def differences(self, other: ExploreConfig) -> list[str]:
        """The result-changing fields where `other` differs, as 'field: this -> other'."""
        a, b = self.to_dict(), other.to_dict()
        return [f"{k}: {a[k]!r} -> {b[k]!r}" for k in _RESULT_FIELDS if a.get(k) != b.get(k)]


def cli_fields() -> dict[str, Any]:
    """The fields that become `codesign explore` flags (all but `version`), with their info."""
    return {k: f for k, f in ExploreConfig.model_fields.items() if k != "version"}
