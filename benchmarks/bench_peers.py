"""What users would pick instead, side by side (issue 28): PLiNIO's MPS, NNCF's HAWQ precision
initialisation and AIMET's AMP against codesign's strategies, on the same chips and the same
fine-tune.

Per workload (mnist1d_cnn, digits_cnn; per layer):

- codesign: one `codesign explore` run per strategy on hw_models/mpic.yaml, objectives accuracy
  loss and latency: nsga2 (its defaults: 64 x 40, supernet), random (the same budget), hawq
  (`--hawq-budgets` budgets); each fine-tunes `--finetune-top` front points.
- peers, each in a virtual environment of its own and driven by our runner in
  benchmarks/peers/ (JSON in, JSON out; the network goes over as a layer list, its weights as a
  state dict and the data as arrays, so no pickled code crosses): PLiNIO's MPS per layer with
  its MPIC latency model, for a sweep of cost strengths; NNCF and AIMET where they install
  and run here, else the table says why.

Every configuration (codesign's fine-tuned front points and every peer's pick) is priced by
codesign's MPIC model (latency) and its Eyeriss model (energy, each layer its cheapest kept
mapping), and fine-tuned by codesign's recipe (explore's default, 300 steps, the same base
weights, scored on the test split), so the only difference is the choice. Per row: the best
fine-tuned accuracy within MPIC latency budgets (shares of the w8a8 latency) and an Eyeriss
energy budget, the hypervolume of the fine-tuned points (test accuracy loss x latency, and x
energy, normalised over every row of the workload, reference 1.1), and wall and CPU seconds
(search plus its fine-tunes). Peer results are cached under --results-dir/cache/peers, keyed by
the runner's source, its inputs and the interpreter; codesign runs are cached in --out.

Reproduce:  python benchmarks/bench_peers.py [--workloads mnist1d_cnn,digits_cnn]
            [--strategies nsga2,hawq,random] [--peers plinio,nncf,aimet] [--threads 1]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import resource
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _common import (
    BENCH,
    Peer,
    add_pipeline_args,
    command,
    console,
    front_of,
    hypervolumes,
    parse,
    pipeline,
    pipeline_argv,
    pipeline_options,
    set_threads,
    show,
)
from rich.table import Table

from codesign.core.candidates import CandidateBatch
from codesign.explore import explore
from codesign.families import build_tables
from codesign.hw import load_hardware
from codesign.run import RunDir, effective_status

PEERS_DIR = BENCH / "peers"
PEERS = {
    "plinio": Peer(
        "PLiNIO",
        "plinio",
        "PLINIO_PYTHON",
        "/work/peers/plinio/bin/python",
        "python3.11 -m venv /work/peers/plinio; pip install torch==2.13.0 numpy tdigest "
        "networkx, then the eml-eda/plinio repository (not on PyPI)",
    ),
    "nncf": Peer(
        "NNCF",
        "nncf",
        "NNCF_PYTHON",
        "/work/peers/nncf/bin/python",
        "python3.11 -m venv /work/peers/nncf; pip install torch==2.13.0 nncf",
    ),
    "aimet": Peer(
        "AIMET",
        "aimet",
        "AIMET_PYTHON",
        "/work/peers/aimet/bin/python",
        "python3.11 -m venv /work/peers/aimet; pip install torch==2.13.0 aimet-torch",
    ),
}
STRATEGIES = "nsga2,hawq,random"
BUDGETS = (0.35, 0.5, 1.0)  # MPIC latency budgets, shares of the w8a8 latency (w2a2: 0.32)
ENERGY_BUDGET = 0.5  # the Eyeriss budget, a share of the w8a8 energy


def _cpu() -> float:
    """CPU seconds of this process and its children so far."""
    s, c = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return s.ru_utime + s.ru_stime + c.ru_utime + c.ru_stime


def _sha(*parts: bytes) -> str:
    h = hashlib.sha256()
    for p in parts:
        h.update(hashlib.sha256(p).digest())
    return h.hexdigest()[:20]


class Pricing:
    """Layer-wise configurations priced on MPIC (latency, ms) and Eyeriss (energy, uJ, each
    layer its cheapest kept mapping)."""

    def __init__(self, ctx: Any, eyeriss: Any) -> None:
        self.mpic, self.eyeriss = ctx.tables, eyeriss
        self.names = ctx.tables.layer_names
        self.channels = [s.K for s in ctx.graph.quantizable]

    def price(self, act: list[int], weight: list[int]) -> tuple[float, float]:
        """(MPIC latency ms, Eyeriss energy uJ) of per-layer activation and weight bits."""
        out = []
        for t in (self.mpic, self.eyeriss):
            a = np.array([[t.act_bits.index(int(b)) for b in act]])
            w = np.array([[t.weight_bits.index(int(b)) for b in weight]])
            L = np.arange(t.num_layers)
            m = t.energy_j[L, a[0], w[0]].argmin(axis=1)[None]
            s = t.score_indices(a, w, m if t.num_mappings > 1 else None)
            out.append(s.latency_s[0] * 1e3 if t is self.mpic else s.energy_j[0] * 1e6)
        return out[0], out[1]

    def batch(self, act: list[int], weight: list[int]) -> CandidateBatch:
        """The one-candidate batch of a configuration (for its fine-tune)."""
        return CandidateBatch.layerwise(self.names, self.channels, [act], [weight])


def run_codesign(name: str, workload: str, args: Any) -> Path:
    """The run directory of one codesign strategy: cached in --out, or explored now (its wall
    and CPU seconds saved beside it)."""
    d = Path(args.out) / f"{workload}-{name}"
    done = (d / "pareto.json").exists() and (d / "bench.json").exists()
    if done and effective_status(RunDir(d).read_info()) == "complete":
        return d
    sizes = {"generations": args.hawq_budgets} if name == "hawq" else {}
    if name != "hawq":
        sizes = {"pop_size": args.pop_size, "generations": args.generations}
    t0, c0 = time.perf_counter(), _cpu()
    explore(
        hw="mpic",
        workload=workload,
        strategy=name,
        objectives="accuracy_loss,latency",
        finetune_top=args.finetune_top,
        threads=args.threads,
        out=str(d),
        resume=d if (d / "run.json").exists() else None,
        **pipeline_options(args),
        **sizes,
    )
    (d / "bench.json").write_text(
        json.dumps({"wall_s": time.perf_counter() - t0, "cpu_s": _cpu() - c0})
    )
    return d


def codesign_points(d: Path, pricing: Pricing) -> dict[str, Any]:
    """A run's fine-tuned points: [test accuracy %, MPIC ms, Eyeriss uJ] rows, and its times."""
    front = RunDir(d).load_front()
    rows = []
    for c in front.candidates:
        if c.finetuned_accuracy is None:
            continue
        act = [p.act_bits for p in c.precisions]
        w = [max(p.weight_bits) for p in c.precisions]
        rows.append([c.finetuned_accuracy, *pricing.price(act, w)])
    bench = json.loads((d / "bench.json").read_text())
    return {
        "points": np.array(rows).reshape(-1, 3),
        "wall_s": bench["wall_s"],
        "cpu_s": bench["cpu_s"],
        "picks": len(rows),
        "note": f"{front.evaluated} evaluated",
    }


def peer_inputs(ctx: Any, tmp: Path) -> tuple[dict[str, Any], str]:
    """The network, weights and training data a peer runner reads (written under `tmp`),
    and the hash of their content (for the cache key)."""
    import torch
    from peers.netspec import spec_of

    spec = spec_of(ctx.model)
    state = tmp / "state.pt"
    torch.save({k: v.detach().clone() for k, v in ctx.model.state_dict().items()}, state)
    arrays = {}
    parts = [json.dumps(spec).encode(), state.read_bytes()]
    d = ctx.data
    for key, t in (
        ("train_x", d.train.tensors[0]),
        ("train_y", d.train.tensors[1]),
        ("val_x", d.val.tensors[0]),  # what a peer that measures accuracy scores on
        ("val_y", d.val.tensors[1]),
    ):
        p = tmp / f"{key}.npy"
        np.save(p, t.numpy(), allow_pickle=False)
        arrays[key] = str(p)
        parts.append(p.read_bytes())
    cfg = {
        "spec": spec,
        "state": str(state),
        "arrays": arrays,
        "input_shape": list(ctx.workload.input_shape[1:]),
        "w_bits": [b for b in ctx.tables.weight_bits if b > 0],
        "a_bits": list(ctx.tables.act_bits),
    }
    return cfg, _sha(*parts)


def run_peer(key: str, peer: Peer, python: str, cfg: dict, data_hash: str, args: Any) -> dict:
    """A peer's runner output, from the cache (keyed by its runner's and netspec's sources,
    the inputs' content and settings, and the interpreter) or run now."""
    runner = PEERS_DIR / f"run_{key}.py"
    settings = {k: v for k, v in cfg.items() if k not in ("spec", "state", "arrays")}
    digest = _sha(
        runner.read_bytes(),
        (PEERS_DIR / "netspec.py").read_bytes(),
        json.dumps(settings, sort_keys=True).encode(),
        data_hash.encode(),
        python.encode(),
    )
    cache = Path(args.results_dir) / "cache" / "peers" / f"{key}-{digest}.json"
    if cache.exists():
        return json.loads(cache.read_text())
    c0 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out, wall = peer.run_json(python, runner, cfg, timeout_s=args.peer_timeout)
    c1 = resource.getrusage(resource.RUSAGE_CHILDREN)
    out["wall_s"] = wall
    out["cpu_s"] = (c1.ru_utime + c1.ru_stime) - (c0.ru_utime + c0.ru_stime)
    if "error" not in out:
        cache.parent.mkdir(parents=True, exist_ok=True)
        cache.write_text(json.dumps(out))
    return out


def finetune_configs(p: Any, pricing: Pricing, configs: list[tuple[list, list]]) -> tuple:
    """Fine-tune each (act, weight) configuration with the run's recipe (cache first); returns
    ([accuracy %, MPIC ms, Eyeriss uJ] rows, the fine-tunes' summed seconds)."""
    from codesign.stages.estimators import finetune_task

    tasks, priced = [], {}
    for act, w in configs:
        t = finetune_task(p.ctx, pricing.batch(act, w).precisions(0), "test")
        if t.key not in priced:
            tasks.append(t)
            priced[t.key] = pricing.price(act, w)
    rows, secs = [], [0.0]

    def done(t: Any, res: dict[str, Any], cached: bool) -> None:
        if res.get("status") == "ok":
            rows.append([res["accuracy"], *priced[t.key]])
            secs[0] += float(res.get("seconds") or 0.0)

    p.evaluator.run(tasks, done)
    return np.array(rows).reshape(-1, 3), secs[0]


def peer_rows(p: Any, pricing: Pricing, args: Any, con: Any) -> dict[str, dict]:
    """Every requested peer's fine-tuned picks on this workload (or why it has none)."""
    out: dict[str, dict] = {}
    with tempfile.TemporaryDirectory(prefix="codesign-peers-") as tmp:
        base, data_hash = peer_inputs(p.ctx, Path(tmp))
        for key in [k for k in args.peers.split(",") if k]:
            peer = PEERS[key]
            label = f"{peer.name} ({PEER_METHOD[key]})"
            python = peer.python(args, con, required=False)
            if python is None:
                out[label] = {"why": _absent(key, args)}
                continue
            if not (PEERS_DIR / f"run_{key}.py").exists():
                out[label] = {"why": WHY_NOT.get(key, "no runner")}
                continue
            cfg = {**base, **PEER_SETTINGS[key](args)}
            res = run_peer(key, peer, python, cfg, data_hash, args)
            if "error" in res:
                out[label] = {"why": _why(res["error"])}
                continue
            configs = []
            for r in res["results"]:
                layers = [r["layers"][s.source] for s in p.ctx.graph.quantizable]
                configs.append(([lay["a"] for lay in layers], [lay["w"] for lay in layers]))
            points, ft_s = finetune_configs(p, pricing, configs)
            out[label] = {
                "points": points,
                "wall_s": res["wall_s"] + ft_s,
                "cpu_s": res["cpu_s"] + ft_s,
                "picks": len({(tuple(a), tuple(w)) for a, w in configs}),
                "note": f"{len(res['results'])} settings",
            }
    return out


PEER_METHOD = {"plinio": "MPS", "nncf": "HAWQ init", "aimet": "AMP"}
PEER_SETTINGS = {
    "plinio": lambda a: {
        "strengths": [float(s) for s in a.plinio_strengths.split(",")],
        "steps": a.plinio_steps,
        "batch": 64,
        "seed": 0,
        "search": "layer",
    },
    "nncf": lambda a: {
        "ratios": [float(r) for r in a.nncf_ratios.split(",")],
        "samples": 256,
        "seed": 0,
    },
    "aimet": lambda a: {
        "drops": [float(r) for r in a.aimet_drops.split(",")],
        "samples": 256,
        "seed": 0,
    },
}
# peers that have no runner here, and why (measured in this environment; README says so too)
WHY_NOT: dict[str, str] = {}


def _why(error: str) -> str:
    """A runner's failure in one line: the exception and the peer's frame that raised it."""
    lines = [ln.strip() for ln in error.strip().splitlines() if ln.strip()]
    frames = [ln for ln in lines if ln.startswith('File "')]
    where = ""
    if frames:  # 'File ".../site-packages/nncf/x/y.py", line 52, in f' -> nncf/x/y.py:52 f
        path, _, rest = frames[-1][6:].partition('", line ')
        path = path.split("site-packages/")[-1]
        line, _, func = rest.partition(", in ")
        where = f" in {path}:{line} ({func})"
    return f"runner failed: {lines[-1][:160] if lines else 'no output'}{where}"


def _absent(key: str, args: Any) -> str:
    if getattr(args, f"without_{key}"):
        return f"--without-{key}"
    return f"not installed at {getattr(args, f'{key}_python')} ({PEERS[key].install})"


def budget_best(points: np.ndarray, col: int, limit: float) -> str:
    """The best fine-tuned accuracy among `points` whose column `col` is within `limit`."""
    ok = points[:, col] <= limit * (1 + 1e-9)
    return f"{points[ok, 0].max():.2f}" if ok.any() else "-"


def plot(per_workload: dict[str, dict[str, dict]], path: Path) -> bool:
    """Fine-tuned accuracy against MPIC latency, one panel per workload; False without
    matplotlib."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    fig, axes = plt.subplots(1, len(per_workload), figsize=(6 * len(per_workload), 4.2), dpi=110)
    axes = np.atleast_1d(axes)
    colours = ["#0072B2", "#E69F00", "#009E73", "#D55E00", "#CC79A7", "#56B4E9", "#000000"]
    markers = "osD^vP*X"
    for ax, (w, rows) in zip(axes, per_workload.items()):
        i = 0
        for name, r in rows.items():
            P = r.get("points")
            if P is None or not len(P):
                continue
            c, m = colours[i % len(colours)], markers[i % len(markers)]
            i += 1
            ax.scatter(P[:, 1], P[:, 0], color=c, marker=m, s=22, alpha=0.75, label=name)
            nd = front_of(np.c_[-P[:, 0], P[:, 1]])
            nd = nd[np.argsort(nd[:, 1])]
            ax.step(nd[:, 1], -nd[:, 0], where="post", color=c, lw=1.0)
        ax.set_xscale("log")
        ax.set_xlabel("latency on MPIC (ms, log)")
        ax.set_ylabel("fine-tuned test accuracy (%)")
        ax.set_title(f"{w}, per layer, same 300-step fine-tune", fontsize=9)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=7, loc="lower right")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return True


def main(argv: list[str] | None = None) -> None:
    """Run (or read back) codesign's strategies and the peers; print the table, draw the plot."""
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--workloads", default="mnist1d_cnn,digits_cnn")
    ap.add_argument("--strategies", default=STRATEGIES, help="codesign strategies (rows)")
    ap.add_argument("--peers", default="plinio,nncf,aimet", help="peers (rows); '' for none")
    ap.add_argument("--pop-size", type=int, default=64, help="nsga2 / random population")
    ap.add_argument("--generations", type=int, default=40, help="nsga2 / random generations")
    ap.add_argument("--hawq-budgets", type=int, default=12, help="hawq's budgets")
    ap.add_argument("--finetune-top", type=int, default=8, help="fine-tuned points per run")
    ap.add_argument("--plinio-strengths", default="0.03,0.1,0.3,1,3,10")
    ap.add_argument("--plinio-steps", type=int, default=500, help="MPS steps per strength")
    ap.add_argument(
        "--nncf-ratios",
        default="1.5,2,2.5,3,3.5,4",
        help="HAWQ compression ratios (NNCF takes 1-4 here)",
    )
    ap.add_argument(
        "--aimet-drops", default="0.5,2,8,16,32", help="AMP's allowed accuracy drops (pp)"
    )
    ap.add_argument("--peer-timeout", type=float, default=3600.0, help="seconds per peer run")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--out", default="results/bench_peers", help="codesign's run folders")
    ap.add_argument("--plot", default=None, help="where to draw the plot (default: --out)")
    for peer in PEERS.values():
        peer.add_arguments(ap)
    add_pipeline_args(ap, supernet=True, finetune=True)
    args, _ = parse(ap, argv)
    set_threads(args.threads)
    con = console(200)
    Path(args.out).mkdir(parents=True, exist_ok=True)
    eyeriss_hw = load_hardware(Path(__file__).resolve().parents[1] / "hw_models" / "eyeriss.yaml")
    per_workload: dict[str, dict[str, dict]] = {}
    table = Table(
        title="codesign's strategies and the peers, per layer, the same 300-step fine-tune: best "
        "fine-tuned test accuracy (%) within each budget (a share of the w8a8 latency on MPIC, "
        "of the w8a8 energy on Eyeriss), hypervolume of the fine-tuned points"
    )
    cols = ["workload", "method", "points", *(f"MPIC <= {b:g}" for b in BUDGETS)]
    cols += [f"Eyeriss <= {ENERGY_BUDGET:g}", "HV MPIC", "HV Eyeriss"]
    cols += ["wall s", "CPU s", "notes"]
    for c in cols:
        table.add_column(c, justify="left" if c in ("workload", "method", "notes") else "right")
    for w in args.workloads.split(","):
        runs = {s: run_codesign(s, w, args) for s in args.strategies.split(",") if s}
        rows: dict[str, dict] = {}
        opts = {"workload": w, "hw": "mpic", "objectives": "accuracy_loss,latency"}
        with pipeline(con, **opts, **pipeline_options(args)) as p:
            pricing = Pricing(p.ctx, build_tables(p.ctx.graph, eyeriss_hw))
            for s, d in runs.items():
                rows[f"codesign {s}"] = codesign_points(d, pricing)
            rows.update(peer_rows(p, pricing, args, con))
            top = [max(pricing.mpic.act_bits)] * len(pricing.names)
            ref_ms, ref_uj = pricing.price(top, [max(pricing.mpic.weight_bits)] * len(top))
            fp = p.ctx.fp_accuracy
        per_workload[w] = rows
        measured = [r for r in rows.values() if "points" in r and len(r["points"])]
        every = np.vstack([r["points"] for r in measured]) if measured else np.zeros((0, 3))
        for name, r in rows.items():
            if "points" not in r:
                table.add_row(w, name, "0", *["-"] * (len(cols) - 6), "-", "-", r["why"])
                continue
            P = r["points"]
            hv = ["-", "-"]
            if len(P):
                for j, col in enumerate((1, 2)):
                    loss = np.c_[fp - P[:, 0], P[:, col]]
                    allp = np.c_[fp - every[:, 0], every[:, col]]
                    hv[j] = f"{hypervolumes([front_of(loss)], over=allp)[0]:.4f}"
            table.add_row(
                w,
                name,
                str(len(P)),
                *(budget_best(P, 1, b * ref_ms) for b in BUDGETS),
                budget_best(P, 2, ENERGY_BUDGET * ref_uj),
                *hv,
                f"{r['wall_s']:.0f}",
                f"{r['cpu_s']:.0f}",
                r["note"],
            )
    png = Path(args.plot) if args.plot else Path(args.out) / "peers.png"
    reproduce = [
        *(["--workloads", args.workloads] if args.workloads != "mnist1d_cnn,digits_cnn" else []),
        *(["--strategies", args.strategies] if args.strategies != STRATEGIES else []),
        *(["--peers", args.peers] if args.peers != "plinio,nncf,aimet" else []),
        *("--pop-size", str(args.pop_size), "--generations", str(args.generations)),
        *("--hawq-budgets", str(args.hawq_budgets), "--finetune-top", str(args.finetune_top)),
        *("--plinio-steps", str(args.plinio_steps), "--threads", str(args.threads)),
        *pipeline_argv(args),
    ]
    show(con, table, reproduce=command("bench_peers.py", reproduce), page="peers")
    if plot(per_workload, png):
        con.print(f"plot: {png}")


if __name__ == "__main__":
    main()
