"""Every benchmark at a tiny size: it runs to the end and prints its table and the command that
reproduces it, so an API change that breaks one fails here (issue 25).

Each runs in this process (``main(argv)``, one import of torch for all), from a temporary
working directory, with every output and cache folder under tmp_path; the pipeline benchmarks
start from untrained digits_cnn weights (``--weights``), so none trains a base model; the
peer benchmarks run codesign's side only (``--without-zigzag`` / ``--without-accelforge``).
"""

from __future__ import annotations

import importlib
import os
import re
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "benchmarks"
SCRIPTS = sorted(p.stem for p in BENCH.glob("bench_*.py")) + ["shot_report"]

ROW = r"│"  # rich's column separator in a table's body (its header uses ┃)
N = r"\d[\d,]*\.\d+"  # a number with decimals
# the pipeline options every pipeline benchmark takes: untrained weights, tiny supernets
PIPE = ["--weights", "{weights}", "--results-dir", "{results}"]
SN = ["--supernet-steps", "2"]

# name -> [(case id, argv, a fragment of the table's title or header, a regex of one row)]
CASES: dict[str, list[tuple[str, list[str], str, str]]] = {
    "bench_accelforge": [
        (
            "",
            ["--without-accelforge", "--layers", "conv3_ds", "--precisions", "8x8"]
            + ["--cache", "{tmp}/cache"],
            "min-energy mapping per layer",
            rf"{ROW} conv3_ds {ROW} 8x8 {ROW}\s+{N} {ROW}\s+{N} {ROW}\s+not run",
        )
    ],
    "bench_channel_genomes": [
        (
            "",
            ["--workloads", "digits_cnn", "--spaces", "channel,group:4,layer", "--seeds", "0"]
            + ["--generations", "2", "--pop-size", "8", *PIPE],
            "NSGA-II per genome on MPIC",
            rf"{ROW} digits_cnn {ROW}\s+channel {ROW}\s+\d+ {ROW}\s+{N} {ROW}",
        )
    ],
    "bench_channelwise": [
        (
            "",
            ["--workloads", "digits_cnn", "--seeds", "0", "--generations", "1"]
            + ["--pop-size", "8", "--finetune-top", "2", "--out", "{tmp}/out", *PIPE, *SN]
            # enough steps that a fine-tune beats the untrained base model: rows with numbers
            + ["--finetune-steps", "30"],
            "cheapest fine-tuned points",
            rf"{ROW} digits_cnn {ROW}\s+2\.0 {ROW}\s+layer {ROW}\s+1 {ROW}\s+{N} {ROW}",
        )
    ],
    "bench_dask_speedup": [
        (
            "",
            ["--tasks", "1", "--steps", "1", "--workers", "1", "--threads-only", *PIPE],
            "digits fine-tunes",
            rf"{ROW}\s+1 {ROW}\s+{N} {ROW}\s+{N} {ROW}\s+{N} {ROW}\s+1\.00x {ROW}",
        )
    ],
    "bench_depthwise": [
        (
            "",
            ["--without-zigzag", "--layers", "dw9", "--cache", "{tmp}/cache"],
            "3x3 depthwise layers of MobileNet-V1",
            rf"{ROW} dw9\s+{ROW}\s+452 {ROW}\s+\d+ {ROW}\s+\d+ {ROW}\s+{N} {ROW}",
        )
    ],
    "bench_estimator_fidelity": [
        (
            "",
            ["--configs", "3", "--steps", "1", "--anchors", "2", "--workers", "1", *PIPE, *SN],
            "random MPIC configurations of digits_cnn",
            rf"{ROW} proxy \+ 2 fine-tuned anchors\s+{ROW}\s+\S+ {ROW}\s+{N} {ROW}\s+{N}",
        ),
        (
            "channel",
            ["--granularity", "channel", "--configs", "3", "--steps", "1", "--workers", "1"]
            + ["--anchors", "0", *PIPE, *SN],
            "of digits_cnn, per channel",
            rf"{ROW} supernet, BN re-measured per config \(256 train inputs\)\s+{ROW}\s+\S+ "
            rf"{ROW}\s+{N} {ROW}\s+{N}",
        ),
    ],
    "bench_export_zigzag": [
        (
            "",
            ["--without-zigzag", "--out", "{tmp}/out", "--finetune-top", "0", *PIPE, *SN],
            "codesign's price only",
            rf"{ROW}\s+\w+ {ROW}\s+- {ROW}\s+- {ROW}\s+- {ROW}\s+{N} {ROW}\s+[1-9]\d* {ROW}",
        )
    ],
    "bench_finetune_recipes": [
        (
            "",
            [
                "--workload",
                "digits_cnn",
                "--steps",
                "1",
                "--seeds",
                "0",
                "--recipes",
                "qat,lr=3e-3",
                "--channel-points",
                "1",
                *PIPE,
            ],  # fmt: skip
            "digits_cnn fine-tuned held-out accuracy",
            rf"{ROW} lr=3e-3\s+{ROW}\s+{N} \({N}\) {ROW}.*{N}\s+{ROW}",
        )
    ],
    "bench_hw_sizing": [
        (
            "",
            ["--workloads", "digits_cnn", "--data-workload", "digits_cnn", "--pop-size", "8"]
            + ["--generations", "1", "--mapper-samples", "20", "--mapper-refine-rounds", "0"]
            + ["--finetune-top", "1", "--finetune-steps", "1", "--compare-outer", "digits_cnn"]
            + ["--inner-generations", "1", *PIPE, *SN],
            "Best EDP on the Eyeriss space",
            rf"{ROW} digits_cnn {ROW} \(a\) sizing only\s+{ROW}\s+[\d.e+-]+ {ROW}\s+{N} {ROW}",
        )
    ],
    "bench_hypervolume": [
        (
            "",
            ["--runs", "{run}", "--against", "{run}"],
            "| A | B | evaluated A / B |",
            rf"\| run \| run \| \d+ / \d+ \| \d+ / \d+ \| {N} \| {N} \| 1\.000 \|",
        )
    ],
    "bench_mapping_vs_bits": [
        (
            "",
            ["--hw", "eyeriss", "--workloads", "digits_cnn"],
            "min-energy mapping at w8a8 reused at w2a2",
            rf"{ROW} Eyeriss-like {ROW} digits_cnn {ROW}\s+5 {ROW}\s+\d {ROW}\s+{N} %",
        )
    ],
    "bench_mpic_scoring": [
        (
            "",
            ["--population", "200", "--repeats", "1", "--workloads", "digits_cnn"],
            "MPIC cost-table scoring",
            rf"{ROW} digits_cnn {ROW}\s+5 {ROW}\s+\d+ {ROW}\s+[\d,]+ {ROW}\s+[\d,]+ {ROW}",
        )
    ],
    "bench_scale": [
        (
            "",
            ["--networks", "digits_cnn", "--hw", "mpic:layer", "--generations", "2"]
            + ["--pop-sizes", "8"],
            "scale: NSGA-II x 2 generations",
            rf"{ROW}\s+digits_cnn {ROW}\s+mpic {ROW}\s+layer {ROW}\s+5 {ROW}\s+\d+ "
            rf"{ROW}\s+10 {ROW}\s+8 {ROW}",
        )
    ],
    "bench_search_quality": [
        (
            "exhaustive",
            ["--hw", "{mpic_small}", "--skip-eyeriss", "--seeds", "0", "--budgets", "1"]
            + ["--pop-size", "8", "--out", "{tmp}/out", *PIPE, *SN],
            "Hypervolume / exhaustive",
            rf"{ROW}\s+nsga2 {ROW}\s+1 {ROW}\s+\d+ {ROW}\s+{N} {ROW}\s+{N} {ROW}",
        ),
        (
            "eyeriss",
            ["--eyeriss-only", "--seeds", "0", "--budgets", "1", "--pop-size", "8"]
            + ["--out", "{tmp}/out", *PIPE, *SN],
            "joint against sequential",
            rf"{ROW}\s+sequential {ROW}\s+{N} {ROW}\s+{N} {ROW}\s+{N} {ROW}",
        ),
    ],
    "bench_peers": [
        (
            "",
            ["--workloads", "digits_cnn", "--strategies", "hawq", "--hawq-budgets", "2"]
            + ["--finetune-top", "1", "--threads", "1", "--out", "{tmp}/out", *PIPE, *SN]
            # PLiNIO runs two steps where it is installed (else its row says why not); NNCF
            # and AIMET are left out for time
            + ["--peers", "plinio", "--plinio-steps", "2", "--plinio-strengths", "1"]
            + ["--finetune-steps", "1"],
            "codesign's strategies and the peers",
            rf"{ROW} digits_cnn {ROW} codesign hawq\s+{ROW}\s+\d+ {ROW}",
        )
    ],
    "bench_strategies": [
        (
            "",
            ["--workload", "digits_cnn", "--seeds", "0", "--k", "1", "--generations", "1"]
            + ["--gradient-generations", "1", "--pop-size", "8", "--finetune-top", "1"]
            # dnas is left out for time (tests/stages and tests/search run it); csq stands for
            # the gradient strategies
            + ["--strategies", "nsga2,random,csq,inloop"]
            + ["--threads", "1", "--out", "{tmp}/out", *PIPE, *SN, "--finetune-steps", "1"],
            "digits_cnn on MPIC, per layer",
            rf"{ROW}\s+nsga2 {ROW}\s+{N} {ROW}\s+\d+ {ROW}\s+\d+ {ROW}\s+\d+ {ROW}\s+\d+ {ROW}",
        ),
        (
            "channel",
            ["--workload", "digits_cnn", "--granularity", "channel", "--seeds", "0"]
            + ["--generations", "1", "--pop-size", "8", "--finetune-top", "1"]
            + ["--strategies", "random", "--threads", "1", "--out", "{tmp}/out", *PIPE, *SN]
            + ["--finetune-steps", "1"],
            "digits_cnn on MPIC, per channel",
            rf"{ROW}\s+random {ROW}\s+{N} {ROW}",
        ),
    ],
    "bench_supernet_scoring": [
        (
            "",
            ["--configs", "3", "--workloads", "digits_cnn", *PIPE, *SN],
            "supernet estimator, one core",
            rf"{ROW} digits_cnn {ROW}\s+[\d,]+ {ROW}\s+{N} {ROW}\s+{N} {ROW}\s+{N} {ROW}",
        )
    ],
    "bench_zigzag": [
        (
            "",
            ["--without-zigzag", "--layers", "conv3_ds", "--repeats", "1"],
            "(a) fixed mappings",
            rf"{ROW} conv3_ds {ROW}\s+{N} {ROW}\s+not run {ROW}",
        ),
        (
            "mobilenetv2",
            ["--without-zigzag", "--net", "mobilenetv2", "--layers", "mbv2_dw2_s2,mbv2_pw1"]
            + ["--repeats", "1"],
            "(e) codesign's kept mappings",
            rf"{ROW} mbv2_dw2_s2\s+{ROW}\s+{N} {ROW}\s+{N} {ROW}\s+\d+ {ROW}",
        ),
    ],
    "shot_report": [
        ("", ["{run}", "{tmp}/shot.png", "--pick", "0"], "wrote", r"wrote .*shot\.png")
    ],
}

PARAMS = [
    pytest.param(name, i, id=f"{name}-{case[0]}" if case[0] else name)
    for name in SCRIPTS
    for i, case in enumerate(CASES.get(name, [("", [], "", "")]))
]


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Inputs shared by the smoke runs: untrained digits_cnn weights, a results folder whose
    cache (supernets, mapper results) they share, and MPIC with fewer bit-widths (8-bit
    activations, 2- and 8-bit weights: 32 configurations of digits_cnn to enumerate)."""
    from codesign.hw.load import resolve_hw_path
    from codesign.workload import get_workload

    d = tmp_path_factory.mktemp("bench")
    torch.manual_seed(0)
    torch.save(get_workload("digits_cnn").build().state_dict(), d / "digits_cnn.pt")
    doc = yaml.safe_load(resolve_hw_path("mpic").read_text())
    doc["bits"] = {"activation": [8], "weight": [0, 2, 8]}
    doc["macs_per_cycle"] = {8: {b: doc["macs_per_cycle"][8][b] for b in (2, 8)}}
    (d / "mpic_small.yaml").write_text(yaml.safe_dump(doc))
    return {
        "weights": d / "digits_cnn.pt",
        "results": d / "results",
        "mpic_small": d / "mpic_small.yaml",
    }


@pytest.fixture(scope="module")
def run_dir(work: dict[str, Path]) -> Path:
    """A small complete run (for the benchmarks that read runs)."""
    from rich.console import Console

    from codesign.explore import explore

    out = work["results"].parent / "run"
    explore(
        hw="mpic",
        workload="digits_cnn",
        weights=str(work["weights"]),
        results_dir=str(work["results"]),
        supernet_steps=2,
        generations=1,
        pop_size=8,
        finetune_top=0,
        threads=1,
        out=str(out),
        console=Console(quiet=True),
    )
    return out


@pytest.fixture
def isolated(monkeypatch: pytest.MonkeyPatch, tmp_path: Path):
    """benchmarks/ importable, a temporary working directory (a relative default path lands
    there), wide tables, and this process's thread settings restored afterwards."""
    from threadpoolctl import threadpool_limits

    monkeypatch.syspath_prepend(str(BENCH))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "250")
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        monkeypatch.setenv(var, os.environ.get(var, "1"))  # restored when the test ends
    threads, blas = torch.get_num_threads(), threadpool_limits(limits=None)
    yield tmp_path
    torch.set_num_threads(threads)
    blas.restore_original_limits()


def _snapshot() -> set[str]:
    """What the checkout's results/ folder holds (benchmark folders and the shared cache)."""
    res = ROOT / "results"
    return {str(p.relative_to(res)) for p in res.glob("*")} | {
        str(p.relative_to(res)) for p in res.glob("cache/*")
    }


@pytest.mark.parametrize(("name", "case"), PARAMS)
def test_benchmark_smoke(name, case, work, isolated, request, capsys) -> None:
    """The benchmark exits cleanly and prints its table (title, a row of figures) and the
    command that reproduces it, writing nothing into the checkout's results/."""
    assert name in CASES, f"benchmarks/{name}.py has no smoke case: add one to CASES"
    _, argv, header, row = CASES[name][case]
    if name == "shot_report":
        from codesign.report.browser import find_chromium

        if find_chromium() is None:
            pytest.skip("shot_report needs a Chromium (Debian's chromium): none here")
    values = {k: str(v) for k, v in work.items()} | {"tmp": str(isolated)}
    if any("{run}" in a for a in argv):
        values["run"] = str(request.getfixturevalue("run_dir"))
    argv = [a.format(**values) for a in argv]
    before = _snapshot()
    module = importlib.import_module(name)
    try:
        module.main(argv)
    except SystemExit as exc:  # a benchmark that gives up says why
        if exc.code not in (None, 0):
            pytest.fail(f"{name} exited with {exc.code!r}")
    out = capsys.readouterr().out
    assert header in out, out[-3000:]
    assert re.search(row, out, re.MULTILINE), out[-3000:]
    assert f"reproduce: python benchmarks/{name}.py" in out
    assert _snapshot() <= before, "a smoke run wrote into the checkout's results/"
