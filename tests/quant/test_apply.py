"""apply_config and the exported config format: round trip through a real run."""

from __future__ import annotations

import json

import pytest
import torch
from torch import nn

from codesign.core.errors import ConfigError, RunError
from codesign.exporters.config import export_config
from codesign.quant import QuantLayer, apply_config, load_config
from codesign.quant.config import LayerQuant, QuantConfig, config_from_dict, save_config
from codesign.workload import get_workload


def test_export_round_trip(small_run, tmp_path):
    run = small_run.run_dir
    for pick, fmt in ((0, "yaml"), (len(small_run.front) - 1, "json")):
        path = export_config(run, pick, tmp_path / f"c{pick}.{fmt}", fmt)
        cfg = load_config(path)
        point = small_run.front.candidates[pick]
        bits = dict(zip(small_run.front.layers, point.precisions))
        assert cfg.candidate["pareto_rank"] == pick
        assert cfg.hardware["name"] == "MPIC"
        for lq in cfg.layers:
            assert lq.weight_bits == bits[lq.name].weight_bits
            assert lq.act_bits == bits[lq.name].act_bits
            assert lq.mapping["kind"] == "mcu-kernel" and lq.cost["cycles"] > 0
        model = get_workload("digits_cnn").build()
        qmodel = apply_config(model, path)
        qlayers = {n: m for n, m in qmodel.named_modules() if isinstance(m, QuantLayer)}
        assert set(qlayers) == {lq.module for lq in cfg.layers}
        for lq in cfg.layers:
            assert qlayers[lq.module].weight_bits.tolist() == list(lq.weight_bits)
            assert qlayers[lq.module].act_bits == lq.act_bits
        assert not any(isinstance(m, QuantLayer) for m in model.modules())  # original untouched
        assert qmodel(torch.rand(4, 1, 8, 8)).shape == (4, 10)
        # saving the loaded config again gives the same file content
        again = save_config(cfg, tmp_path / f"again{pick}.{fmt}")
        assert load_config(again) == cfg


def test_export_errors(small_run, tmp_path):
    with pytest.raises(RunError, match="--pick 999"):
        export_config(small_run.run_dir, 999)
    with pytest.raises(RunError, match="not a run directory"):
        export_config(tmp_path / "missing", 0)


def test_apply_config_errors():
    model = nn.Sequential(nn.Conv2d(1, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4, 2))
    bad_module = {"7": LayerQuant("7", "7", "conv", 8, (8,) * 4)}
    with pytest.raises(ConfigError, match="no module '7'"):
        apply_config(model, bad_module)
    with pytest.raises(ConfigError, match="is ReLU, not conv"):
        apply_config(model, {"1": LayerQuant("1", "1", "conv", 8, (8,) * 4)})
    with pytest.raises(ConfigError, match="config has 3 channels"):
        apply_config(model, {"0": LayerQuant("0", "0", "conv", 8, (8,) * 3)})


def test_config_file_validation(tmp_path):
    cfg = QuantConfig("w", (LayerQuant("0", "0", "conv", 4, (2, 0, 4, 8)),))
    data = cfg.to_dict()
    assert data["layers"][0]["weight_bits"] == [2, 0, 4, 8]
    data["layers"][0]["weight_bits"] = [2, 4]
    with pytest.raises(ConfigError, match="field 'layers.0.weight_bits': 2 entries for 4 channels"):
        config_from_dict(data, "x.json")
    data = cfg.to_dict() | {"colour": "red"}
    with pytest.raises(ConfigError, match="field 'colour': unknown key"):
        config_from_dict(data, "x.json")
    (tmp_path / "v2.json").write_text(json.dumps(cfg.to_dict() | {"version": 2}))
    with pytest.raises(ConfigError, match="v2.json: field 'version'"):
        load_config(tmp_path / "v2.json")
