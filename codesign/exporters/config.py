"""`--format config` (YAML), `yaml` and `json`: the versioned quant config `apply_config` reads."""

from __future__ import annotations

from pathlib import Path

from codesign.core.errors import RunError
from codesign.exporters import ExportResult, register_exporter
from codesign.quant.config import LayerQuant, QuantConfig, save_config
from codesign.run import FRONT_METRICS, layer_cost_to_dict, open_run

_COST_KEYS = ("cycles", "latency_us", "energy_nj", "weight_bytes")


def export_config(
    run_dir: str | Path, pick: int, path: str | Path | None = None, fmt: str = "yaml"
) -> Path:
    """Write Pareto point `pick` (its ``#`` / rank) of `run_dir` as a quant config.

    The file is YAML or JSON (`fmt`), by default ``<run_dir>/config-<pick>.<fmt>``. Each layer
    carries its bits, how it runs on the hardware (its mapping) and its predicted costs.
    Returns the path written.
    """
    if fmt not in ("yaml", "json"):
        raise RunError(f"--format {fmt}: use yaml or json")
    run_dir = Path(run_dir)
    rd = open_run(run_dir)
    front = rd.load_front()
    if not 0 <= pick < len(front):
        raise RunError(f"--pick {pick}: {run_dir} has Pareto points #0..#{len(front) - 1}")
    c = front.candidates[pick]
    specs = {r["name"]: r for r in rd.read_json("layers.json")}
    info = rd.read_info()
    layers = []
    for name, p in zip(front.layers, c.precisions):
        s = specs[name]
        lc = c.cost.layers.get(name)
        figures = layer_cost_to_dict(lc) if lc is not None else {}
        mapping = figures.get("mapping", {})
        cost = {k: figures[k] for k in _COST_KEYS if k in figures}
        layers.append(
            LayerQuant(
                name=name,
                module=s["source"],
                kind=s["kind"],
                act_bits=p.act_bits,
                weight_bits=p.weight_bits,
                mapping=mapping,
                cost=cost,
                fused=tuple(s.get("fused", ())),
            )
        )
    predicted = {
        "est_accuracy": front.est_accuracy(c),
        "finetuned_accuracy": c.finetuned_accuracy,
        **{k: getattr(c, k) for k in FRONT_METRICS},
    }
    hw = info.get("hardware", {})
    config = QuantConfig(
        workload=front.workload,
        layers=tuple(layers),
        hardware={"name": front.hardware, "family": front.family, "file": hw.get("file")},
        candidate={
            "run": str(run_dir),
            "pareto_rank": pick,
            "id": c.id,
            "strategy": c.strategy,
            "predicted": predicted,
        },
    )
    out = Path(path) if path is not None else run_dir / f"config-{pick}.{fmt}"
    return save_config(config, out)


@register_exporter("config")
@register_exporter("yaml")
def export_yaml(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The point's bits, mapping and predicted costs per layer, as YAML."""
    return ExportResult((export_config(run_dir, pick, path, "yaml"),))


@register_exporter("json")
def export_json(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """The same config as JSON."""
    return ExportResult((export_config(run_dir, pick, path, "json"),))
