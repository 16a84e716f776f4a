"""bench_zigzag's translation between codesign's loop nest and ZigZag's, depthwise included."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from codesign.core.types import LayerSpec
from codesign.cost.nest import DIMS
from codesign.hw import load_hardware

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture
def bz(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.syspath_prepend(str(BENCH))
    import bench_zigzag

    yield bench_zigzag
    sys.modules.pop("bench_zigzag", None)


def _depthwise() -> LayerSpec:
    # MobileNetV2's 96-channel depthwise layer at stride 2 (112 -> 56)
    return LayerSpec.square_conv("dw", 96, 1, out=56, filt=3, stride=2, pad=1, inp=112, groups=96)


def test_a_depthwise_layer_is_zigzags_groups(bz):
    layer = bz.zigzag_layer(_depthwise())
    assert (layer["G"], layer["K"], layer["C"]) == (96, 1, 1)
    assert (layer["OY"], layer["FY"], layer["stride"], layer["IX"]) == (56, 3, 2, 112)
    plain = bz.zigzag_layer(
        LayerSpec.square_conv("c", 64, 32, out=28, filt=3, stride=1, pad=1, inp=28)
    )
    assert "G" not in plain and (plain["K"], plain["C"]) == (64, 32)


def test_from_zigzag_reads_groups_as_codesigns_k(bz):
    """ZigZag's chosen mapping of a depthwise layer names its channels G (it raised
    ValueError: tuple.index(x): x not in tuple before); they land in codesign's K loop."""
    spec, hw = _depthwise(), load_hardware("eyeriss")
    zz = {
        "spatial": {"D1": "G:12", "D2": "OX:14"},
        "temporal": {
            op: {"rf": "FX3 FY3", "glb": "OX4 G8", "dram": "OY56 B1"} for op in ("W", "I", "O")
        },
        "loop_order_innermost_first": "FX3 FY3 OX4 G8 OY56 B1",
    }
    m = bz.from_zigzag(spec, hw, zz)
    k, ox, oy = DIMS.index("K"), DIMS.index("OX"), DIMS.index("OY")
    assert (m.spatial[:, k] == 12).all() and (m.spatial[:, ox] == 14).all()
    assert (m.temporal[:, k, 1] == 8).all() and (m.temporal[:, ox, 1] == 4).all()
    assert (m.temporal[:, oy, 2] == 56).all()
    # the loop nest covers the layer: 12 x 8 = 96 channels, 14 x 4 = 56 columns
    assert (m.spatial * m.temporal.prod(axis=2)).prod(axis=1).min() == 96 * 56 * 56 * 9
    with pytest.raises(ValueError, match="no counterpart"):
        bz.from_zigzag(spec, hw, {**zz, "loop_order_innermost_first": "FX3 FY3 Q4"})


def test_a_pinned_depthwise_mapping_names_groups(bz):
    from codesign.mapping import mapper

    spec, hw = _depthwise(), load_hardware("eyeriss")
    lm = mapper.map_layer(spec, hw)
    i, note = bz.pinned(spec, lm, 2, 2)
    doc = bz.zigzag_mapping(spec, hw, lm.mappings, i)
    names = {d for side in doc["spatial"].values() for d, _ in side}
    names |= {d for d, _ in doc["temporal_ordering"]}
    assert "K" not in names and "G" in names
    assert (
        np.prod([f for d, f in doc["temporal_ordering"] if d == "G"])
        * np.prod([f for side in doc["spatial"].values() for d, f in side if d == "G"])
        >= 96
    )
