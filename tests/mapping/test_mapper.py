"""The mapper: kept mappings per precision, caching, and their use in a search."""

from __future__ import annotations

import numpy as np
import pytest

from codesign.core.types import Configuration, Precision
from codesign.families import build_tables, price_network
from codesign.hw import load_hardware
from codesign.mapping.mapper import ENERGY_TIE, ENERGY_TIE_FAST, FAST_GAIN, KEEP, map_layer

from ..conftest import ROOT


def test_kept_mappings_are_best_for_their_objective(graphs):
    hw = load_hardware("eyeriss")
    spec = graphs("resnet8")["stack2.conv2"]
    lm = map_layer(spec, hw)
    assert lm is map_layer(spec, hw)  # remembered in the process
    e, c = lm.energy_pj, lm.cycles
    # "min energy" is the least energy, or a near-tie that runs faster
    assert (e[..., 0] <= e.min(axis=-1) * (1 + ENERGY_TIE_FAST) + 1e-9).all()
    assert (c[..., 1] <= c.min(axis=-1) + 1e-9).all()  # "min latency" the least cycles
    edp = e * c
    assert (edp[..., 2] <= edp.min(axis=-1) * (1 + 1e-12)).all()
    # at 2 bits the best energy is lower than at 8 (less traffic)
    assert e[0, 0, 0] < e[2, 2, 0]
    names = {lm.mappings.describe(int(i))["dataflow"] for i in lm.index[2, 2]}
    assert len(names) >= 2  # the fourth choice comes from another dataflow


def test_tables_and_exact_pricing_agree(graphs):
    hw = load_hardware("eyeriss")
    g = graphs("resnet8")
    t = build_tables(g, hw)
    assert t.num_mappings == len(KEEP)
    L = t.num_layers
    rng = np.random.default_rng(0)
    a, w, m = (rng.integers(0, 3, (4, L)) for _ in range(3))
    s = t.score_indices(a, w, m)
    for p in range(4):
        assign = {
            n: Precision.uniform(t.act_bits[a[p, i]], t.weight_bits[w[p, i]], g[n].K)
            for i, n in enumerate(t.layer_names)
        }
        nc = price_network(g, hw, Configuration(assign, dict(zip(t.layer_names, m[p]))))
        assert nc.cycles == pytest.approx(s.cycles[p])
        assert nc.energy_j == pytest.approx(s.energy_j[p])
        assert nc.peak_act_bytes == pytest.approx(s.peak_act_bytes[p])
        for n in t.layer_names:
            assert nc.layers[n].mapping.get("dataflow") in hw.dataflows


def test_explore_on_eyeriss_names_mappings(results_dir, tmp_path, run_explore):
    from codesign.exporters.config import export_config
    from codesign.quant import load_config

    res = run_explore(
        hw=ROOT / "hw_models" / "eyeriss.yaml",
        estimator="proxy",
        pop_size=16,
        generations=3,
        finetune_top=1,
        finetune_steps=20,
        out=tmp_path / "ey",
    )
    assert [o.value for o in res.objectives] == ["accuracy_loss", "energy", "latency"]
    p = res.front.candidates[0]
    assert p.mapping is not None and len(p.mapping) == len(res.front.layers)
    cfg = load_config(export_config(res.run_dir, 0, tmp_path / "c.yaml"))
    for lq in cfg.layers:
        assert lq.mapping["kind"] == "spatial"
        assert lq.mapping["dataflow"] in (
            "row_stationary",
            "weight_stationary",
            "output_stationary",
        )
        assert lq.mapping["tiling"].keys() == {"PE", "GLB", "DRAM"}
    html = (res.run_dir / "pareto.html").read_text()
    assert "_stationary" in html
    # and each Pareto point's mappings in full in its drill-down: tiling and loop order per level
    # the drill-down's JSON escapes < and > (codesign.report.html.script_json); JSON decodes it
    html = html.replace("\\u003c", "<").replace("\\u003e", ">")
    assert html.count('"mapping": "<table>') == len(res.front)
    assert "<th>tiling</th>" in html and "<th>loop order</th>" in html
    assert "<th>utilisation</th>" in html
    assert "GLB: " in html and "-stationary" in html


def test_unconstrained_dataflow_lets_any_loop_run_inside_a_pe(graphs):
    import dataclasses

    from codesign.mapping.space import expand_dataflows

    assert len(expand_dataflows(("row_stationary", "unconstrained"))) == 5
    hw = dataclasses.replace(load_hardware("eyeriss"), dataflows=("unconstrained",))
    lm = map_layer(graphs("resnet8")["stack3.conv2"], hw)
    m = lm.mappings
    assert all(n.startswith("unconstrained") for n in m.names)
    # a row-stationary PE may only iterate FX and C; here K, OY, OX and FY also appear
    inner = {d for d in range(6) if (m.temporal[:, d, 0] > 1).any()}
    assert inner >= {0, 2, 3}
    assert np.isfinite(lm.energy_pj).all()


def test_a_kept_mapping_prices_the_same_alone(graphs):
    from codesign.cost.spatial import evaluate

    hw = load_hardware("eyeriss")
    spec = graphs("resnet8")["stack2.shortcut"]
    lm = map_layer(spec, hw)
    for k in range(len(KEEP)):
        i = int(lm.index[2, 2, k])
        alone = evaluate(spec, hw, lm.mappings.take(np.array([i])), 8, 8)
        assert alone.energy_pj[0] == pytest.approx(lm.energy_pj[2, 2, k])
        assert alone.cycles[0] == pytest.approx(lm.cycles[2, 2, k])


def test_mapper_results_are_cached_on_disk(graphs, tmp_path):
    from codesign.core.types import MapperSettings
    from codesign.mapping import mapper

    hw = load_hardware("eyeriss")
    spec = graphs("resnet8")["stack2.conv2"]
    settings = MapperSettings(samples=200, refine_rounds=1)
    mapper.clear_memory_cache()
    before = mapper.MapperStats.mapped
    first = map_layer(spec, hw, settings, tmp_path)
    assert mapper.MapperStats.mapped == before + 1
    assert len(list((tmp_path / "mappings").glob("*.npz"))) == 1
    mapper.clear_memory_cache()
    disk = mapper.MapperStats.from_disk
    again = map_layer(spec, hw, settings, tmp_path)
    assert mapper.MapperStats.mapped == before + 1 and mapper.MapperStats.from_disk == disk + 1
    assert np.array_equal(first.energy_pj, again.energy_pj)
    assert np.array_equal(first.index, again.index)
    # other settings are another key: mapped again, not confused with the first
    other = map_layer(spec, hw, MapperSettings(samples=100, refine_rounds=1), tmp_path)
    assert mapper.MapperStats.mapped == before + 2
    assert len(list((tmp_path / "mappings").glob("*.npz"))) == 2
    assert other.energy_pj.shape == first.energy_pj.shape


def test_no_import_cycle_between_cost_model_and_mapper():
    import ast

    def imports(path):
        """Modules imported at run time (type-only `if TYPE_CHECKING:` blocks left out)."""
        tree = ast.parse(path.read_text())
        for n in list(ast.walk(tree)):
            if isinstance(n, ast.If) and getattr(n.test, "id", None) == "TYPE_CHECKING":
                n.body = []
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module} | {
            a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names
        }

    pkg = ROOT / "codesign"
    # the loop-nest model never imports the mapper or the network tables' builders
    assert not {m for m in imports(pkg / "cost" / "spatial.py") if "mapper" in m or "families" in m}
    # the mapper never imports the network cost tables or the families
    assert not {
        m
        for m in imports(pkg / "mapping" / "mapper.py")
        if m.startswith(("codesign.cost.tables", "codesign.families", "codesign.search"))
    }
    # no module below the stages imports the stages, explore or the CLI
    for sub in ("core", "hw", "workload", "cost", "mapping", "quant", "search", "families"):
        for f in (pkg / sub).glob("*.py"):
            bad = {
                m
                for m in imports(f)
                if m.startswith(("codesign.stages", "codesign.explore", "codesign.cli"))
            }
            assert not bad, f"{f} imports {bad}"


def test_depthwise_layers_unroll_their_channels_where_inputs_would_reduce():
    import dataclasses

    from codesign.core.types import LayerSpec, MapperSettings, OpKind

    # Eyeriss's own dataflow only (output stationary fills the array with output columns
    # either way)
    hw = dataclasses.replace(load_hardware("eyeriss"), dataflows=("row_stationary",))
    spec = LayerSpec.square_conv("dw", 128, 1, out=56, filt=3, stride=1, pad=1, inp=56, groups=128)
    assert spec.kind == OpKind.DWCONV
    # the mapspace before issue 16: no group unrolling, the dataflow fills the array greedily
    before = map_layer(
        spec, hw, MapperSettings(group_unrolling=False, other_unrollings=0.0, partial_unrollings=0)
    )
    after = map_layer(spec, hw, MapperSettings())
    a8, w8 = hw.act_bits.index(8), hw.weight_bits.index(8)
    pes = [int(lm.mappings.spatial[lm.index[a8, w8, 1]].prod()) for lm in (before, after)]
    # row stationary had 3 filter rows x 14 output rows (42 PEs) and nothing for C = 1; now
    # channels fill the rows
    assert pes[0] <= 42 < pes[1]
    from codesign.cost.spatial import compulsory_dram_bits, evaluate

    costs = [evaluate(spec, hw, lm.mappings, 8, 8) for lm in (before, after)]
    compute = [c.compute_cycles[c.valid].min() for c in costs]
    assert compute[1] < 0.3 * compute[0]  # the array's share of the latency: 4x shorter
    # what is left is the 64-bit DRAM bus: a depthwise layer streams its whole input and
    # output, and the latency now sits at that floor
    floor = compulsory_dram_bits(spec, 8, 8) / hw.memories[2].bandwidth_bits_per_cycle
    assert after.cycles[a8, w8, 1] <= before.cycles[a8, w8, 1]
    assert after.cycles[a8, w8, 1] <= floor * 1.01
    assert after.energy_pj[a8, w8, 0] <= before.energy_pj[a8, w8, 0] * 1.02


def test_min_energy_pick_breaks_near_ties_for_latency():
    from codesign.mapping.mapper import _min_energy

    e = np.array([100.0, 100.3, 101.5, 100.1])
    cy = np.array([1000.0, 400.0, 100.0, 900.0])
    # within 0.5 %: the fastest of them (100.3 at 400 cycles), and 101.5 (within 2 %) runs
    # 4x faster still, so it is the pick
    assert _min_energy(e, cy) == 2
    cy[2] = 250.0  # only 1.6x faster than the 0.5 % pick: that one stays
    assert _min_energy(e, cy) == 1
    e[1:] += 1.0  # nothing within 0.5 % but the least itself; 102.5 is over 2 %
    cy[1] = 600.0  # and 101.3 (within 2 %) is not twice as fast as it
    assert _min_energy(e, cy) == 0
    cy[1] = 500.0  # now it is
    assert _min_energy(e, cy) == 1
    assert (ENERGY_TIE, ENERGY_TIE_FAST, FAST_GAIN) == (0.005, 0.02, 2.0)  # as documented


@pytest.mark.parametrize("name,k,c,hw_in", [
    ("pw1", 16, 32, 112), ("pw2", 96, 16, 112), ("pw3", 24, 96, 56), ("pw4", 144, 24, 56),
])  # fmt: skip
def test_min_energy_pick_uses_the_array_on_mobilenetv2_pointwise_layers(name, k, c, hw_in):
    """MobileNetV2's 1x1 layers (Sandler et al. 2018): the kept min-energy mapping, at every
    precision pair, runs at most 2x the min-latency mapping's cycles (its least-energy
    mappings leave most PEs idle for well under 2 % less energy)."""
    from codesign.core.types import LayerSpec

    spec = LayerSpec.square_conv(name, k, c, out=hw_in, filt=1, stride=1, pad=0, inp=hw_in)
    lm = map_layer(spec, load_hardware("eyeriss"))
    assert (lm.cycles[..., 0] <= 2.0 * lm.cycles[..., 1]).all()
    assert (lm.energy_pj[..., 0] <= lm.energy_pj.min(axis=-1) * (1 + ENERGY_TIE_FAST)).all()
