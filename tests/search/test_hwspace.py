"""Sizing runs (`--hw-space`): a one-value space is the plain run; a real one searches the
hardware too, keeps to --max-area, resumes to the same front, and exports hardware files that
price each point again to the same figures."""

from __future__ import annotations

import shutil
from pathlib import Path

from codesign.core.types import MapperSettings
from codesign.families import price_network
from codesign.hw.load import bundled_hw_dir, load_hardware
from codesign.run import RunDir
from codesign.workload.graph import LayerGraph

from ..test_resume import _cli

EYERISS = bundled_hw_dir() / "eyeriss.yaml"
FAST_MAPPER = dict(mapper_samples=50, mapper_refine_rounds=0)


def _front(run_dir: Path) -> list[tuple]:
    f = RunDir(run_dir).load_front()
    return [(c.precisions, c.mapping, c.latency_ms, c.energy_uj, c.hardware) for c in f.candidates]


def test_a_one_value_space_reproduces_the_plain_run(tmp_path, run_explore):
    space = tmp_path / "one.yaml"
    space.write_text(f"version: 1\nname: one\nbase: {EYERISS}\nparameters: {{pe_rows: [12]}}\n")
    common = dict(
        workload="resnet8",
        objectives="energy,latency",
        pop_size=16,
        generations=3,
        seed=4,
        **FAST_MAPPER,
    )
    plain = run_explore(hw=str(EYERISS), out=tmp_path / "plain", **common)
    sized = run_explore(hw_space=str(space), out=tmp_path / "sized", **common)
    a, b = _front(plain.run_dir), _front(sized.run_dir)
    assert len(a) > 1
    assert [x[:4] for x in a] == [x[:4] for x in b]
    assert all(x[4] == (("pe_rows", 12.0),) for x in b)
    assert plain.front.evaluated == sized.front.evaluated


def _space(tmp_path: Path) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(
        f"version: 1\nname: small\nbase: {EYERISS}\nparameters:\n"
        "  pe_rows: [8, 12, 16]\n  glb_bits: [262144, 884736]\n  glb_bandwidth: [128, 256]\n"
        "  max_bits: [4, 8]\n"
    )
    return p


def test_sizing_run_resumes_trades_area_and_exports_hardware_that_prices_the_same(tmp_path):
    space = _space(tmp_path)
    max_area = 0.9  # mm2: eyeriss.yaml's sizes take 0.764, 16 rows with 256-bit banks more
    args = [
        "explore", "--hw-space", str(space), "--workload", "resnet8", "--seed", "2",
        "--pop-size", "16", "--generations", "4", "--mapper-samples", "50",
        "--mapper-refine-rounds", "0", "--objectives", "energy,latency,area",
        "--max-area", str(max_area), "--threads", "1",
    ]  # fmt: skip
    killed, whole = tmp_path / "res-k", tmp_path / "res-w"
    run = killed / "run"
    p = _cli(*args, "--results-dir", str(killed), "--out", str(run), kill="search:2")
    assert p.returncode == -9, p.stderr[-2000:]
    p = _cli("explore", "--resume", str(run))
    assert p.returncode == 0, p.stderr[-2000:]
    assert "resuming the search after generation 2 of 4" in p.stderr
    shutil.copytree(killed / "cache", whole / "cache")
    p = _cli(*args, "--results-dir", str(whole), "--out", str(whole / "run"))
    assert p.returncode == 0, p.stderr[-2000:]
    assert _front(run) == _front(whole / "run")
    assert (run / "candidates.csv").read_text() == (whole / "run" / "candidates.csv").read_text()

    front = RunDir(run).load_front()
    points = {c.hardware for c in front.candidates}
    assert len(points) > 1  # the front spans several hardware points
    areas = [c.area_mm2 for c in front.candidates]
    assert max(areas) <= max_area and max(areas) > min(areas)
    assert "area_mm2" in (run / "pareto.csv").read_text().splitlines()[0]
    assert "Hardware of this point" in (run / "pareto.html").read_text()

    graph = LayerGraph.from_records(RunDir(run).read_json("layers.json"), front.workload)
    mapper = MapperSettings(samples=50, refine_rounds=0)
    for pick in (0, len(front) - 1):
        out = tmp_path / f"hw-{pick}.yaml"
        p = _cli("export", str(run), "--pick", str(pick), "--format", "hw", "-o", str(out))
        assert p.returncode == 0, p.stderr[-2000:]
        c = front.candidates[pick]
        hw = load_hardware(out)
        again = price_network(graph, hw, c.configuration(front.layers), mapper, None)
        assert again.energy_j == c.cost.energy_j and again.cycles == c.cost.cycles
        assert hw.rows == dict(c.hardware)["pe_rows"]


def test_area_objective_and_max_area_need_a_space(tmp_path, run_explore):
    import pytest

    from codesign.core.errors import CodesignError

    with pytest.raises(CodesignError, match="needs a hardware space"):
        run_explore(hw=str(EYERISS), workload="resnet8", objectives="energy,area")
    with pytest.raises(CodesignError, match="--max-area"):
        run_explore(hw=str(EYERISS), workload="resnet8", max_area=1.0)
