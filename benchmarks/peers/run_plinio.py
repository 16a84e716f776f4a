"""Run PLiNIO's MPS (Risso et al.) on one network, for a sweep of cost strengths.

Usage (inside PLiNIO's own environment): python run_plinio.py IN.json OUT.json

IN.json: {"spec", "state", "arrays": {"train_x", "train_y"}, "input_shape", "w_bits",
"a_bits", "strengths", "steps", "batch", "seed", "search"} (see benchmarks/bench_peers.py).
For each strength s, from the full-precision weights: MPS(model, cost=mpic_latency,
per-layer or per-channel weight search), trained for `steps` Adam steps on cross-entropy +
s * cost / cost at the start (so `s` is a share of the loss whatever the network's size), as
PLiNIO's README trains it. OUT.json: per strength, each conv / linear layer's chosen input
and weight bits (per channel: the widest of its channels, and the count per bit-width), the
seconds and CPU seconds it took, and PLiNIO's own cost at the end.
"""

from __future__ import annotations

import copy
import json
import sys
import time
from pathlib import Path

import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent))
from netspec import load_inputs, quantizable  # noqa: E402


def _bits(v) -> list[int]:  # noqa: ANN001
    t = torch.as_tensor(v).reshape(-1)
    return [int(x) for x in t.tolist()]


def main(src: str, dst: str) -> None:
    """Read IN.json, search at every strength, write OUT.json."""
    from plinio.cost import mpic_latency
    from plinio.methods import MPS
    from plinio.methods.mps import MPSType, get_default_qinfo

    cfg = json.loads(Path(src).read_text())
    torch.set_num_threads(1)
    base, arr = load_inputs(cfg)
    x, y = arr["train_x"].float(), arr["train_y"].long()
    names = quantizable(cfg["spec"])
    search = MPSType.PER_CHANNEL if cfg.get("search") == "channel" else MPSType.PER_LAYER
    qinfo = get_default_qinfo(w_precision=tuple(cfg["w_bits"]), a_precision=tuple(cfg["a_bits"]))
    results = []
    for strength in cfg["strengths"]:
        t0, c0 = time.perf_counter(), time.process_time()
        torch.manual_seed(cfg["seed"])
        model = MPS(
            copy.deepcopy(base),
            input_shape=tuple(cfg["input_shape"]),
            qinfo=copy.deepcopy(qinfo),
            w_search_type=search,
            cost=mpic_latency,
        )
        model.train()
        nas = [p for _, p in model.named_nas_parameters()]
        net = [p for _, p in model.named_net_parameters()]
        opt = torch.optim.Adam([{"params": net, "lr": 1e-3}, {"params": nas, "lr": 1e-2}])
        with torch.no_grad():
            norm = float(model.cost)
        g = torch.Generator().manual_seed(cfg["seed"])
        for _ in range(cfg["steps"]):
            idx = torch.randint(0, len(x), (cfg["batch"],), generator=g)
            loss = F.cross_entropy(model(x[idx]), y[idx]) + strength * model.cost / norm
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
        model.eval()
        summary = model.summary()  # the input quantizer too: kept are the conv / linear layers
        missing = [n for n in names if "w_precision" not in summary.get(n, {})]
        if missing:
            raise SystemExit(f"PLiNIO's summary has no weight precision for layers {missing}")
        layers = {}
        for name in names:
            s = summary[name]
            w = _bits(s["w_precision"])
            counts = {str(b): w.count(b) for b in sorted(set(w))}
            layers[name] = {"a": _bits(s["in_precision"])[0], "w": max(w), "w_counts": counts}
        results.append(
            {
                "strength": strength,
                "layers": layers,
                "plinio_cost": float(model.cost),
                "cost_at_start": norm,
                "seconds": time.perf_counter() - t0,
                "cpu_seconds": time.process_time() - c0,
            }
        )
    Path(dst).write_text(json.dumps({"tool": "plinio", "results": results}))


if __name__ == "__main__":
    main(*sys.argv[1:3])
