"""Export a chosen Pareto point of a run as a versioned config that `apply_config` reads."""

from __future__ import annotations

from pathlib import Path

from codesign.core.errors import RunError
from codesign.explore import FRONT_METRICS
from codesign.quant.config import LayerQuant, QuantConfig, save_config
from codesign.run import open_run


def export_config(
    run_dir: str | Path, pick: int, path: str | Path | None = None, fmt: str = "yaml"
) -> Path:
    """Write Pareto point `pick` (its ``#`` / ``rank``) of `run_dir` as a quant config.

    The file is YAML or JSON (`fmt`), by default ``<run_dir>/config-<pick>.<fmt>``. Each layer
    carries its bits, its hardware mapping and its predicted costs. Returns the path written.
    """
    run_dir = Path(run_dir)
    run = open_run(run_dir)
    front = run["pareto"]["candidates"]
    ranks = [p["rank"] for p in front]
    if pick not in ranks:
        raise RunError(f"--pick {pick}: {run_dir} has Pareto points #0..#{max(ranks)}")
    p = front[ranks.index(pick)]
    specs = {r["name"]: r for r in run["layers"]}
    hw = run["run"]["hardware"]
    layers = []
    for name in run["pareto"]["layers"]:
        s = specs[name]
        cost = p["per_layer"].get(name, {})
        if "mapping" in cost:  # spatial accelerator: dataflow, unrolling, tiling, loop order
            mapping = {"kind": "spatial", **cost["mapping"]}
        else:
            mapping = {
                "kind": "mcu-kernel",
                "kernel": "mixed-precision SIMD conv/linear, one call per weight bit-width",
                "l1_tiles": cost.get("l1_tiles", 1),
            }
        layers.append(
            LayerQuant(
                name=name,
                module=s["source"],
                kind=s["kind"],
                act_bits=int(p["act_bits"][name]),
                weight_bits=(int(p["weight_bits"][name]),) * int(s["K"]),
                mapping=mapping,
                cost={
                    k: cost[k]
                    for k in ("cycles", "latency_us", "energy_nj", "weight_bytes")
                    if k in cost
                },
            )
        )
    keys = ("est_accuracy", "finetuned_accuracy", *FRONT_METRICS)
    predicted = {k: p.get(k) for k in keys}
    config = QuantConfig(
        workload=run["pareto"]["workload"],
        layers=tuple(layers),
        hardware={"name": hw["name"], "family": hw["family"], "file": run["run"]["inputs"]["hw"]},
        candidate={"run": str(run_dir), "pareto_rank": pick, "id": p["id"], "predicted": predicted},
    )
    if fmt not in ("yaml", "json"):
        raise RunError(f"--format {fmt}: use yaml or json")
    out = Path(path) if path is not None else run_dir / f"config-{pick}.{fmt}"
    return save_config(config, out)
