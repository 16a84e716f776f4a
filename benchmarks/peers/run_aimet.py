"""Run AIMET's Automatic Mixed Precision (AMP) on one network, for a sweep of allowed accuracy
drops.

Usage (inside AIMET's own environment): python run_aimet.py IN.json OUT.json

IN.json: {"spec", "state", "arrays": {"train_x", "train_y", "val_x", "val_y"},
"input_shape", "w_bits", "a_bits", "drops", "samples", "seed"} (see benchmarks/bench_peers.py).
A `QuantizationSimModel` at 8 bits, encodings from `samples` training inputs; candidates
(a, w) = (b, b) for each bit-width b offered by both axes; AMP's phase 1 (each quantizer
group's accuracy at each candidate, on `samples` validation inputs) is computed once and
cached, phase 2 (the greedy Pareto walk, on the whole validation split) runs for each
allowed drop (percentage points). OUT.json: per drop, each conv / linear layer's weight bits
and input bits (from the quantizer on its input, else the fewest bits that hold the distinct
values its input takes), with seconds and CPU seconds.
"""

from __future__ import annotations

import copy
import json
import sys
import tempfile
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netspec import input_bits, load_inputs, quantizable  # noqa: E402


def _accuracy(model: torch.nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    """Top-1 accuracy in [0, 1] (AMP's drops are in the same unit as this callback's)."""
    model.eval()
    with torch.no_grad():
        return float((model(x).argmax(1) == y).float().mean())


def _bits(sim_model: torch.nn.Module, names: list[str], x: torch.Tensor, a_bits: list[int]):  # noqa: ANN202
    """Per layer (weight bits, input bits) of the sim's current state."""
    mods = dict(sim_model.named_modules())
    out, unquantized = {}, {}
    for name in names:
        m = mods[name]
        wq = m.param_quantizers["weight"]
        iq = m.input_quantizers[0] if getattr(m, "input_quantizers", None) else None
        out[name] = {"w": int(wq.bitwidth) if wq is not None else 32}
        if iq is not None:
            out[name]["a"] = int(iq.bitwidth)
        else:
            unquantized[name] = m
    for name, bits in input_bits(sim_model, unquantized, x, a_bits).items():
        out[name]["a"] = bits
    return out


def main(src: str, dst: str) -> None:
    """Read IN.json, run AMP at every allowed drop, write OUT.json."""
    from aimet_torch.common.defs import CallbackFunc, QuantizationDataType
    from aimet_torch.mixed_precision import choose_mixed_precision
    from aimet_torch.quantsim import QuantizationSimModel

    cfg = json.loads(Path(src).read_text())
    torch.set_num_threads(1)
    torch.manual_seed(cfg["seed"])
    base, arr = load_inputs(cfg)
    base.eval()
    x, vx, vy = arr["train_x"].float(), arr["val_x"].float(), arr["val_y"].long()
    n = min(cfg["samples"], len(x))
    names = quantizable(cfg["spec"])
    dummy = x[:1]
    common = sorted(set(cfg["w_bits"]) & set(cfg["a_bits"]))
    cands = [((b, QuantizationDataType.int), (b, QuantizationDataType.int)) for b in common]
    results = []
    with tempfile.TemporaryDirectory() as cache:
        for i, drop in enumerate(cfg["drops"]):
            t0, c0 = time.perf_counter(), time.process_time()
            sim = QuantizationSimModel(
                copy.deepcopy(base), dummy, default_output_bw=8, default_param_bw=8
            )

            def forward(model, _args=None):  # noqa: ANN001, ANN202
                with torch.no_grad():
                    model(x[:n])

            sim.compute_encodings(forward, None)
            choose_mixed_precision(
                sim,
                dummy,
                cands,
                lambda m: _accuracy(m, vx[:n], vy[:n]),
                lambda m: _accuracy(m, vx, vy),
                allowed_accuracy_drop=drop / 100.0,
                results_dir=cache,
                clean_start=i == 0,
                forward_pass_callback=CallbackFunc(forward, None),
            )
            layers = _bits(sim.model, names, x[:256], cfg["a_bits"])
            results.append(
                {
                    "drop_pp": drop,
                    "layers": layers,
                    "seconds": time.perf_counter() - t0,
                    "cpu_seconds": time.process_time() - c0,
                }
            )
    Path(dst).write_text(json.dumps({"tool": "aimet", "results": results}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
