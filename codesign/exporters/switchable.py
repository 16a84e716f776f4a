"""`--format switchable`: one weight set and a table of operating modes (every Pareto point).

A deployed device moves along the Pareto front as its energy or latency budget changes by
switching the supernet's per-layer bit-widths; no second weight set is needed.

Folder layout (format ``codesign.switchable`` version 1)::

    weights.pt    the supernet state dict: shared weights, one LSQ step size per bit-width,
                  one transitional batch-norm per (input bits, weight bits) pair
    modes.yaml    format, version, workload, input_shape, hardware, act_set, weight_set,
                  layers (execution order), and modes: one per Pareto point with its per-layer
                  bits, mapping, and measured / predicted accuracy, latency, energy, memory
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
import yaml
from torch import Tensor, nn

from codesign.core.errors import ConfigError, RunError
from codesign.core.files import save_state_atomic, write_text_atomic
from codesign.core.imports import refuse_unnamed
from codesign.data import dataset_available, load_dataset
from codesign.exporters import ExportResult, register_exporter
from codesign.hw.load import load_hardware
from codesign.quant.supernet import Supernet
from codesign.run import open_run
from codesign.workload import extract, get_workload

FORMAT = "codesign.switchable"
VERSION = 1


def _supernet_for(
    workload: str, input_shape: tuple[int, ...], act_set: list[int], weight_set: list[int]
) -> Supernet:
    wl = get_workload(workload, input_shape)
    model = wl.build()
    graph = extract(model, wl.example_input(), wl.name)
    return Supernet(model, graph, act_set, weight_set)


def export_switchable(run_dir: str | Path, out_dir: str | Path | None = None) -> Path:
    """Write the switchable export of a run that used the supernet; returns the folder.

    Each mode's accuracy is measured again on the held-out test split (when the data is
    available) with the exported weights. Raises `RunError` when the run has no supernet.
    """
    run_dir = Path(run_dir)
    rd = open_run(run_dir)
    info = rd.read_info()
    front = rd.load_front()
    sn_info = info.get("supernet")
    if not sn_info:
        raise RunError(
            f"{run_dir}: no supernet in this run (estimator: {info.get('estimator', 'none')}); "
            "run `codesign explore ... --estimator supernet` to get one switchable weight set"
        )
    ckpt = Path(sn_info["path"])
    if not ckpt.exists():
        raise RunError(f"{run_dir}: the run's supernet checkpoint {ckpt} is gone")
    hw = load_hardware(run_dir / "hw.yaml")
    cfg = info["config"]
    wl = get_workload(
        cfg["workload"], tuple(cfg["input_shape"]) if cfg.get("input_shape") else None
    )
    input_shape = wl.input_shape
    act_set = list(hw.act_bits)
    weight_set = [b for b in hw.weight_bits if b > 0]
    sn = _supernet_for(cfg["workload"], input_shape, act_set, weight_set)
    sn.load_state_dict(torch.load(ckpt, map_location="cpu", weights_only=True))
    sn.eval()
    names = list(front.layers)
    test = None
    if dataset_available(wl.dataset, cfg.get("data")):
        test = load_dataset(wl.dataset, seed=0, path=cfg.get("data")).test
    modes = []
    for rank, c in enumerate(front.candidates):
        act = list(c.act_bits)
        # one int per layer, or one per output channel (0 = pruned) at channel granularity
        wts = [
            p.weight_bits[0] if len(set(p.weight_bits)) == 1 else list(p.weight_bits)
            for p in c.precisions
        ]
        acc = sn.accuracy(act, wts, test) if test is not None else None
        modes.append(
            {
                "mode": len(modes),
                "pareto_rank": rank,
                "act_bits": act,
                "weight_bits": wts,
                # how each layer runs on this hardware: the kernel on an MCU, the dataflow,
                # unrolling, tiling and loop order on a spatial accelerator
                "mapping": {
                    n: lc.mapping.to_dict()
                    for n, lc in c.cost.layers.items()
                    if lc.mapping is not None
                },
                "accuracy": acc,
                "finetuned_accuracy": c.finetuned_accuracy,
                "latency_ms": c.latency_ms,
                "energy_uj": c.energy_uj,
                "peak_kb": c.peak_kb,
            }
        )
    out = Path(out_dir) if out_dir is not None else run_dir / "switchable"
    save_state_atomic(sn.state_dict(), out / "weights.pt")
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "workload": cfg["workload"],
        "input_shape": list(input_shape),
        "hardware": {"name": hw.name, "family": front.family, "file": cfg["hw"]},
        "act_set": act_set,
        "weight_set": weight_set,
        "layers": names,
        "accuracy_split": "test" if test is not None else None,
        "modes": modes,
    }
    write_text_atomic(out / "modes.yaml", yaml.safe_dump(doc, sort_keys=False))
    return out


@register_exporter("switchable", needs_pick=False)
def export_switchable_run(run_dir: Path, pick: int | None, path: Path | None) -> ExportResult:
    """Every Pareto point of a supernet run as a mode of one weight set (`pick` is unused):
    the folder's weights.pt and modes.yaml."""
    out = export_switchable(run_dir, path)
    return ExportResult((out / "modes.yaml", out / "weights.pt"), {"modes": _modes(out)})


def _modes(folder: Path) -> int:
    return len(yaml.safe_load((folder / "modes.yaml").read_text())["modes"])


class SwitchableModel(nn.Module):
    """A loaded switchable export: call `set_mode(i)` to move to operating mode i."""

    def __init__(self, supernet: Supernet, doc: dict[str, Any]) -> None:
        super().__init__()
        self.supernet = supernet
        self.doc = doc
        self.modes: list[dict[str, Any]] = doc["modes"]
        self.mode = -1
        if self.modes:
            self.set_mode(0)

    def set_mode(self, mode: int) -> dict[str, Any]:
        """Switch every layer to mode `mode`'s bit-widths; returns that mode's table row."""
        if not 0 <= mode < len(self.modes):
            raise ConfigError(f"mode {mode}: this export has modes 0..{len(self.modes) - 1}")
        m = self.modes[mode]
        self.supernet.set_config(m["act_bits"], m["weight_bits"])
        self.mode = mode
        return m

    def best_within(self, key: str, budget: float) -> int:
        """The most accurate mode whose `key` (latency_ms, energy_uj, peak_kb) fits `budget`."""
        fits = [m for m in self.modes if m[key] <= budget]
        if not fits:
            raise ConfigError(f"no mode has {key} <= {budget}")
        best = max(fits, key=lambda m: (m["accuracy"] or 0.0, -m[key]))
        return best["mode"]

    def forward(self, x: Tensor) -> Tensor:
        """Run at the current mode."""
        return self.supernet(x)


def load_switchable(folder: str | Path, workload: str | None = None) -> SwitchableModel:
    """Load an export written by `export_switchable` (the model is rebuilt from its workload;
    one it names as ``package.module:function`` is imported only when `workload` names it
    too)."""
    folder = Path(folder)
    f = folder / "modes.yaml"
    if not f.exists():
        raise ConfigError(f"{folder}: no modes.yaml (not a switchable export)")
    doc = yaml.safe_load(f.read_text())
    if doc.get("format") != FORMAT or doc.get("version") != VERSION:
        raise ConfigError(f"{f}: field 'format'/'version': expected {FORMAT} version {VERSION}")
    refuse_unnamed(doc.get("workload"), workload, str(f), "workload=")
    sn = _supernet_for(
        doc["workload"], tuple(doc["input_shape"]), doc["act_set"], doc["weight_set"]
    )
    sn.load_state_dict(torch.load(folder / "weights.pt", map_location="cpu", weights_only=True))
    sn.eval()
    return SwitchableModel(sn, doc)
