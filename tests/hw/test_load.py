"""Hardware YAML loading: the MPIC figures, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import pytest

from codesign.core.errors import HardwareModelError
from codesign.hw import load_hardware

from ..conftest import MPIC


def test_mpic_figures(mpic):
    assert mpic.clock_hz == 250e6
    assert mpic.power_w == pytest.approx(5.38e-3)
    assert mpic.act_bits == (2, 4, 8) and mpic.weight_bits == (0, 2, 4, 8)
    # Risso et al. 2022: rows activation bits, columns weight bits 2/4/8
    assert mpic.throughput(2, 2) == 6.5 and mpic.throughput(2, 8) == 2.2
    assert mpic.throughput(4, 4) == 3.5 and mpic.throughput(8, 2) == 2.5
    assert mpic.throughput(8, 8) == 2.1 and mpic.throughput(4, 0) == float("inf")
    assert mpic.l2_bytes == 512 * 1024


@pytest.mark.parametrize("path", sorted((MPIC.parent).glob("*.yaml")), ids=lambda p: p.name)
def test_every_number_in_every_hardware_file_has_a_comment_nearby(path):
    """A figure is sourced when a comment sits on its line or in the 6 lines above it."""
    lines = path.read_text().splitlines()
    for i, line in enumerate(lines):
        code = line.split("#")[0]
        if any(ch.isdigit() for ch in code) and not code.strip().startswith("version"):
            window = lines[max(0, i - 6) : i + 1]
            assert any("#" in w for w in window), f"{path.name}:{i + 1}: {line.strip()}"


def test_every_figure_cites_a_source():
    text = MPIC.read_text()
    for key in (
        "clock_hz",
        "power_mw",
        "l1_bytes",
        "l2_bytes",
        "macs_per_cycle",
        "other_ops_per_cycle",
    ):
        line = next(i for i, ln in enumerate(text.splitlines()) if ln.strip().startswith(key))
        window = "\n".join(text.splitlines()[max(0, line - 4) : line + 1])
        assert "#" in window, f"{key} has no source comment"


def _variant(tmp_path: Path, old: str, new: str) -> Path:
    text = MPIC.read_text()
    assert old in text
    p = tmp_path / "bad.yaml"
    p.write_text(text.replace(old, new, 1))
    return p


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        (
            "clock_hz: 250.0e+6",
            "clock_hz: 250.0e+6\nclock_hz: 100.0e+6",
            r"duplicate key 'clock_hz'",
        ),
        (
            "power_mw: 5.38",
            "power_mW: 5.38",
            r"field 'power_mW': unknown key \(did you mean 'power_mw'\?\)",
        ),
        ("power_mw: 5.38", "power_mw: -1", r"field 'power_mw'.*greater than"),
        (
            "  4: {2: 3.9, 4: 3.5, 8: 2.1}\n",
            "",
            r"field 'macs_per_cycle'.*no row for activation bits 4",
        ),
        (
            "  8: {2: 2.5, 4: 2.3, 8: 2.1}",
            "  8: {2: 2.5, 4: 2.3}",
            r"field 'macs_per_cycle.8': no entry for weight bits 8",
        ),
        (
            "activation: [2, 4, 8]",
            "activation: [2, 4, 8, 33]",
            r"field 'bits.activation': bit-width 33 is outside",
        ),
        ("version: 1", "version: 7", r"field 'version': expected 1"),
        ("family: mcu", "family: gpu", r"field 'family'"),
        ("l2_bytes: 524288", "l2_bytes: lots", r"field 'memory.l2_bytes'"),
        ("name: MPIC\n", "", r"field 'name': required field is missing"),
        ("macs_per_cycle:\n", "macs_per_cycle: [\n", r"bad.yaml:\d+:\d+"),
    ],
)
def test_bad_file_names_file_and_field(tmp_path, old, new, match):
    path = _variant(tmp_path, old, new)
    with pytest.raises(HardwareModelError, match=match) as info:
        load_hardware(path)
    assert str(path) in str(info.value)
    assert "\n" not in str(info.value)


def test_missing_file(tmp_path):
    with pytest.raises(HardwareModelError, match="no such hardware file"):
        load_hardware(tmp_path / "nope.yaml")


def test_bundled_name_resolves():
    assert load_hardware("mpic").name == "MPIC"


EYERISS = MPIC.parent / "eyeriss.yaml"


@pytest.mark.parametrize(
    ("old", "new", "match"),
    [
        ("dataflows: [row_stationary,", "dataflows: [diagonal_stationary,", r"field 'dataflows.0'"),
        (
            "    2: {2: 0.25, 4: 0.25, 8: 0.25}\n",
            "    2: {2: 0.25, 4: 0.25}\n",
            r"field 'mac.energy_pj.2': no entry for weight bits 8",
        ),
        ("    per_pe: true\n", "    per_pe: false\n", r"field 'memories': need \[per-PE"),
        (
            "capacity_bits: {W: 3584, I: 192, O: 384}",
            "capacity_bits: {W: 3584, X: 192}",
            r"field 'memories.0.capacity_bits': use 'shared' or some of W, I, O",
        ),
        (
            "pe_array: {rows: 12, cols: 14}",
            "pe_array: {rows: 12, colums: 14}",
            r"field 'pe_array.colums': unknown key",
        ),
        ("input_registers: true", "input_registers: yes please", r"field 'mac.input_registers'"),
        (
            "    bandwidth_bits_per_cycle: 64                 # [Chen17] 64-bit off-chip bus",
            "    bandwidth_bits_per_cycle: 64\n    bypass: [W]",
            r"field 'memories.2': the off-chip level holds every operand",
        ),
        (
            "    bandwidth_bits_per_cycle: 256 ",
            "    bypass: [X]\n    bandwidth_bits_per_cycle: 256 ",
            r"field 'memories.1.bypass.0'",
        ),
    ],
)
def test_bad_spatial_file_names_file_and_field(tmp_path, old, new, match):
    text = EYERISS.read_text()
    assert old in text
    path = tmp_path / "bad.yaml"
    path.write_text(text.replace(old, new, 1))
    with pytest.raises(HardwareModelError, match=match) as info:
        load_hardware(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


def test_the_readme_examples_load(tmp_path):
    """The hardware files hw_models/README.md shows are valid (its bypass snippet replaces
    the spatial example's buffer), and so is its hardware space (its base relative to the
    bundled files)."""
    import re

    from codesign.hw.space import load_hw_space

    text = (MPIC.parent / "README.md").read_text()
    mcu, spatial, bypass, space = re.findall(r"```yaml\n(.*?)```", text, re.S)
    (tmp_path / "spaces").mkdir()
    (tmp_path / "spaces" / "s.yaml").write_text(space.replace("../", f"{MPIC.parent}/"))
    assert load_hw_space(tmp_path / "spaces" / "s.yaml").base.name.startswith("Simba")
    for name, body in (("mcu", mcu), ("spatial", spatial)):
        (tmp_path / f"{name}.yaml").write_text(body)
        assert load_hardware(tmp_path / f"{name}.yaml").name
    glb = re.search(r"  - \{name: GLB.*?\}\n", spatial, re.S).group(0)
    (tmp_path / "bypass.yaml").write_text(spatial.replace(glb, bypass))
    hw = load_hardware(tmp_path / "bypass.yaml")
    assert hw.memories[1].bypass == (True, False, False) and hw.input_registers
