"""Hardware spaces: loading (errors name file and field), points, area and energy scaling."""

from __future__ import annotations

import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from codesign.core.errors import HardwareModelError
from codesign.hw.components import load_components
from codesign.hw.load import bundled_hw_dir, load_hardware
from codesign.hw.space import load_hw_space

SPACE = bundled_hw_dir() / "spaces" / "eyeriss_space.yaml"
COMPONENTS = bundled_hw_dir() / "components" / "cacti_45nm.yaml"
EYERISS = bundled_hw_dir() / "eyeriss.yaml"


def _space(tmp_path: Path, body: str) -> Path:
    p = tmp_path / "space.yaml"
    p.write_text(f"version: 1\nname: s\nbase: {EYERISS}\n" + body)
    return p


def test_bundled_space_loads_with_the_base_at_its_own_values():
    s = load_hw_space(SPACE)
    assert s.base.name == "Eyeriss-like"
    assert s.size == math.prod(len(v) for v in s.values)
    # every base value is allowed, so the base point is the base file itself
    assert s.hardware(s.base_point) is s.base
    assert s.point_values(s.base_point)["glb_bits"] == 884736
    assert s.area_mm2(s.base_point) == pytest.approx(s.base_area_mm2)


def test_bundled_space_by_name():
    assert load_hw_space("eyeriss_space").name == "eyeriss-space"


@pytest.mark.parametrize(
    "body, field, words",
    [
        ("parameters: {pe_rows: [8]}\ncolour: red\n", "colour", "unknown key"),
        ("parameters: {pe_rowz: [8]}\n", "parameters.pe_rowz", "unknown parameter"),
        ("parameters: {pe_rows: [12.5]}\n", "parameters.pe_rows", "not a whole number"),
        ("parameters: {pe_rows: [8, 8]}\n", "parameters", "repeat"),
        ("parameters: {glb_bits: [-3]}\n", "parameters.glb_bits", "greater than"),
        ("parameters: {}\n", "parameters", "at least 1"),
        ("parameters: {pe_rows: [8]}\ncomponents: nowhere.yaml\n", "components", "no such"),
        ("parameters: {max_bits: [16]}\n", "parameters.max_bits", "wider than"),
    ],
)
def test_space_errors_name_the_file_and_the_field(tmp_path, body, field, words):
    p = _space(tmp_path, body)
    with pytest.raises(HardwareModelError) as e:
        load_hw_space(p)
    msg = str(e.value)
    assert str(p) in msg and f"'{field}" in msg and words in msg, msg


def test_space_refuses_a_base_that_cannot_be_sized(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text(
        f"version: 1\nname: s\nbase: {bundled_hw_dir() / 'mpic.yaml'}\n"
        "parameters: {pe_rows: [8]}\n"
    )
    with pytest.raises(HardwareModelError, match=r"field 'base'.*cannot be sized"):
        load_hw_space(p)


def test_space_refuses_a_parameter_the_base_has_not(tmp_path):
    # a register file shared by the operands has no per-operand capacity to size
    hw = tmp_path / "shared_rf.yaml"
    hw.write_text(EYERISS.read_text().replace("{W: 3584, I: 192, O: 384}", "{shared: 4160}"))
    assert load_hardware(hw).memories[0].shared
    p = tmp_path / "s.yaml"
    p.write_text(f"version: 1\nname: s\nbase: {hw}\nparameters: {{rf_W_bits: [1792]}}\n")
    with pytest.raises(HardwareModelError, match=r"s.yaml: field 'parameters.rf_W_bits'.*no such"):
        load_hw_space(p)


def test_a_point_rescales_energy_by_the_table_and_names_itself(tmp_path):
    s = load_hw_space(_space(tmp_path, "parameters: {glb_bits: [262144, 884736]}\n"))
    small = s.hardware((0,))
    assert small.memories[1].capacity_bits == (262144.0,) * 3
    assert small.memories[1].access_pj_per_bit < s.base.memories[1].access_pj_per_bit
    assert small.memories[0] == s.base.memories[0] and small.rows == s.base.rows
    assert "glb_bits=262144" in small.name
    assert s.area_mm2((0,)) < s.area_mm2((1,))


caps = st.floats(64, 2**24, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(a=caps, b=caps, width=st.sampled_from([16, 32, 64, 128]))
def test_table_area_and_energy_grow_with_capacity(a, b, width):
    t = load_components(COMPONENTS)
    lo, hi = sorted((a, b))
    assert t.sram_area_um2(lo, width) <= t.sram_area_um2(hi, width) * (1 + 1e-12)
    assert t.sram_pj_per_bit(lo, width) <= t.sram_pj_per_bit(hi, width) * (1 + 1e-12)


@settings(max_examples=30, deadline=None)
@given(
    a=st.integers(16, 2**21),
    b=st.integers(16, 2**21),
    which=st.sampled_from(["glb_bits", "rf_W_bits", "rf_I_bits", "rf_O_bits"]),
)
def test_hardware_area_and_access_energy_grow_with_capacity(a, b, which):
    s = load_hw_space(SPACE)
    fam, base, comps = s.family, s.base, s.components
    lo, hi = sorted((a, b))
    level = 1 if which == "glb_bits" else 0
    h_lo, h_hi = fam.vary(base, {which: lo}, comps), fam.vary(base, {which: hi}, comps)
    assert fam.area_mm2(h_lo, comps) <= fam.area_mm2(h_hi, comps) * (1 + 1e-12)
    e_lo = h_lo.memories[level].access_pj_per_bit
    assert e_lo <= h_hi.memories[level].access_pj_per_bit * (1 + 1e-12)


def test_mac_area_and_energy_grow_with_precision():
    t = load_components(COMPONENTS)
    macs = [t.mac(b, b, 2 * b) for b in (2, 4, 8, 16)]
    assert all(x[0] < y[0] and x[1] < y[1] for x, y in zip(macs, macs[1:]))


def test_table_against_published_eyeriss_energies():
    """[Chen16] Chen, Emer, Sze, ISCA 2016, Fig. 1: normalised energy per 16-bit access, RF
    1x, global buffer 6x, of a MAC 1x. The CACTI 7 / Aladdin table at 45 nm, on the
    eyeriss.yaml sizes (filter RF 224 words; 108 KB buffer in four 64-bit banks; the 8-bit
    MAC of eyeriss.yaml), lands within a factor of two of each ratio (measured: GLB / RF 4.9,
    RF / MAC 0.76). Aladdin's 16-bit MAC (Eyeriss v1's width) is 3.9 pJ, which puts RF / MAC
    at 0.20: the table's MAC figures size area only; the base file's MAC energies stay."""
    t = load_components(COMPONENTS)
    rf = t.sram_pj_per_bit(3584, 16) * 16
    glb = t.sram_pj_per_bit(884736 / 4, 64) * 16
    mac, _ = t.mac(8, 8, 16)
    assert 6 / 2 <= glb / rf <= 6 * 2
    assert 1 / 2 <= rf / mac <= 2
    assert t.technology_nm == 45 and "CACTI" in t.sram_tool and "hwcomponents" in t.sram_tool


def test_a_narrower_datapath_runs_fewer_bits_for_less_area_and_mac_energy(tmp_path):
    from dataclasses import replace

    import numpy as np

    from codesign.core.candidates import CandidateBatch
    from codesign.core.types import MapperSettings
    from codesign.families import build_tables
    from codesign.search.hwspace import SizedTables
    from codesign.workload import extract, get_workload

    s = load_hw_space(_space(tmp_path, "parameters: {max_bits: [4, 8]}\n"))
    four = s.hardware((0,))
    assert four.act_bits == (2, 4) and four.weight_bits == (2, 4)
    assert four.mac_energy_pj[0][0] < s.base.mac_energy_pj[0][0]
    assert s.area_mm2((0,)) < s.area_mm2((1,))
    wl = get_workload("resnet8")
    graph = extract(wl.build(), wl.example_input(), wl.name)
    ms = MapperSettings(samples=20, refine_rounds=0)
    tables = SizedTables(s, graph, build_tables(graph, s.base, ms), ms)
    L = tables.base.num_layers
    batch = CandidateBatch.layerwise(
        tables.layer_names,
        [sp.K for sp in graph.quantizable],
        np.array([[4] * L, [8] * L, [4] * L]),
        np.array([[4] * L, [4] * L, [4] * L]),
        np.zeros((3, L), dtype=np.int64),
    )
    sc = tables.score(replace(batch, hardware=np.array([[0], [0], [1]])))
    # a8 on the 4-bit point is not run: infeasible; w4a4 costs less on the 4-bit datapath
    assert sc.unsupported.tolist() == [False, True, False]
    assert sc.energy_j[0] < sc.energy_j[2]
