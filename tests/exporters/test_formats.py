"""Exporters: one registry; ONNX QDQ reproduces the fine-tuned accuracy in onnxruntime."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from codesign.core.errors import CodesignError, RunError
from codesign.exporters import EXPORTERS, export

onnx = pytest.importorskip("onnx", reason="pip install 'codesign[onnx]'")
pytest.importorskip("onnxruntime", reason="pip install 'codesign[onnx]'")


def _tuned(front):
    return [i for i, c in enumerate(front.candidates) if c.finetuned_accuracy is not None]


def test_registry_names_every_format():
    assert {"config", "yaml", "json", "onnx-qdq"} <= set(EXPORTERS.names())
    with pytest.raises(CodesignError, match="--format: unknown export format 'tflite'"):
        export("nowhere", 0, "tflite")


def _check_qdq(path, res, cand):
    m = onnx.load(path)
    ops = [n.op_type for n in m.graph.node]
    assert ops.count("QuantizeLinear") >= 1 and ops.count("DequantizeLinear") >= 2
    int8 = [t for t in m.graph.initializer if t.data_type == onnx.TensorProto.INT8]
    assert int8, "weights are held as int8"
    assert res.checks["onnxruntime_accuracy"] == pytest.approx(res.checks["torch_accuracy"])
    assert res.checks["torch_accuracy"] == pytest.approx(cand.finetuned_accuracy, abs=1e-9)
    assert res.checks["max_logit_difference"] < 1e-3
    meta = {p.key: p.value for p in m.metadata_props}
    assert "codesign.layers" in meta


def test_onnx_qdq_of_a_layerwise_point_reproduces_its_accuracy(small_run, tmp_path):
    front = small_run.front
    for pick in _tuned(front):
        res = export(small_run.run_dir, pick, "onnx-qdq", tmp_path / f"p{pick}.onnx")
        _check_qdq(res.path, res, front.candidates[pick])


@pytest.fixture(scope="module")
def channel_run(run_explore, results_dir):
    from ..search.test_channelwise import CHANNEL_RUN

    return run_explore(**CHANNEL_RUN, out=results_dir / "channel-export")


def test_onnx_qdq_of_a_pruned_per_channel_point(channel_run, tmp_path):
    """Per-channel bit-widths (pruned channels included) go into one int8 tensor per layer with
    per-channel scales: each channel's integers stay in its own range, nothing is rounded."""
    res = channel_run
    front = res.front
    mixed = [
        i
        for i in _tuned(front)
        if any(len(set(p.weight_bits)) > 1 for p in front.candidates[i].precisions)
    ]
    assert mixed, "the channel run fine-tunes a point with mixed per-channel bits"
    pick = mixed[0]
    out = export(res.run_dir, pick, "onnx-qdq", tmp_path / "channel.onnx")
    _check_qdq(out.path, out, front.candidates[pick])
    m = onnx.load(out.path)
    from onnx import numpy_helper

    cand = front.candidates[pick]
    w = [numpy_helper.to_array(t) for t in m.graph.initializer if t.name.endswith("w_int")]
    assert len(w) == len(cand.precisions)
    for wi, p in zip(w, cand.precisions):
        bits = np.asarray(p.weight_bits)
        flat = wi.reshape(len(bits), -1).astype(int)
        lo = np.where(bits > 0, -(2.0 ** (bits - 1)), 0)
        hi = np.where(bits > 0, 2.0 ** (bits - 1) - 1, 0)
        assert (flat.min(1) >= lo).all() and (flat.max(1) <= hi).all()


def test_a_point_without_a_fine_tune_is_refused_with_the_ones_that_have_one(channel_run, tmp_path):
    front = channel_run.front
    untuned = [i for i in range(len(front)) if i not in _tuned(front)]
    assert untuned, "the channel run's front is larger than its fine-tunes"
    with pytest.raises(RunError, match=r"was not fine-tuned.*fine-tuned points: #"):
        export(channel_run.run_dir, untuned[0], "onnx-qdq", tmp_path / "x.onnx")


def test_cli_export_onnx_prints_the_checks(small_run, tmp_path):
    pick = _tuned(small_run.front)[0]
    out = tmp_path / "cli.onnx"
    res = subprocess.run(
        [sys.executable, "-m", "codesign.cli", "export", str(small_run.run_dir), "--pick",
         str(pick), "--format", "onnx-qdq", "-o", str(out)],
        capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-2000:]
    assert out.exists()
    assert "onnxruntime accuracy" in res.stdout and "max logit difference" in res.stdout


def test_qonnx_of_a_layerwise_point_reproduces_its_accuracy(small_run, tmp_path):
    pytest.importorskip("qonnx", reason="pip install qonnx")
    front = small_run.front
    pick = _tuned(front)[0]
    res = export(small_run.run_dir, pick, "qonnx", tmp_path / "p.qonnx.onnx")
    m = onnx.load(res.path)
    quants = [n for n in m.graph.node if n.op_type == "Quant"]
    assert len(quants) == 2 * len(front.layers)  # one on each input, one on each weight
    assert all(n.domain == "qonnx.custom_op.general" for n in quants)
    assert res.checks["qonnx_accuracy"] == pytest.approx(res.checks["torch_accuracy"])
    assert res.checks["torch_accuracy"] == pytest.approx(
        front.candidates[pick].finetuned_accuracy, abs=1e-9
    )
    assert res.checks["max_logit_difference"] < 1e-3


def test_qonnx_refuses_mixed_per_channel_bits_and_names_the_layer(channel_run, tmp_path):
    front = channel_run.front
    mixed = [
        i
        for i in _tuned(front)
        if any(len({b for b in p.weight_bits if b > 0}) > 1 for p in front.candidates[i].precisions)
    ]
    if not mixed:
        pytest.skip("no fine-tuned point of this run mixes non-zero bit-widths in a layer")
    with pytest.raises(CodesignError, match=r"--format qonnx: layer '.*' has channels at \["):
        export(channel_run.run_dir, mixed[0], "qonnx", tmp_path / "mixed.onnx")


def test_zigzag_and_timeloop_files_carry_each_layers_loops_and_precisions(small_run, tmp_path):
    import yaml

    front = small_run.front
    cand = front.candidates[0]
    res = export(small_run.run_dir, 0, "zigzag", tmp_path / "w.yaml")
    layers = yaml.safe_load(res.path.read_text())
    specs = {r["name"]: r for r in __import__("json").loads(
        (small_run.run_dir / "layers.json").read_text())}  # fmt: skip
    assert [entry["name"] for entry in layers] == list(front.layers)
    for entry, p in zip(layers, cand.precisions):
        s = specs[entry["name"]]
        dims = dict(zip(entry["loop_dims"], entry["loop_sizes"]))
        if "G" in dims:  # depthwise: one channel per group
            assert dims["G"] == s["groups"] == s["K"] and s["C"] == 1
        else:
            assert (dims["K"], dims["C"]) == (s["K"], s["C"])
        assert (dims["FY"], dims["FX"], dims["OY"]) == (s["FY"], s["FX"], s["OY"])
        assert entry["operand_precision"]["W"] == p.weight_bits[0]
        assert entry["operand_precision"]["I"] == p.act_bits
    # each layer reads the one before it
    assert [entry["operand_source"]["I"] for entry in layers][1:] == list(range(len(layers) - 1))
    tl = export(small_run.run_dir, 0, "timeloop", tmp_path / "tl")
    index = yaml.safe_load(tl.path.read_text())
    assert len(index["problems"]) == len(front.layers)
    first = yaml.safe_load((tl.path.parent / index["problems"][0]["file"]).read_text())
    assert first["problem"]["version"] == 0.4
    assert first["problem"]["instance"]["M"] == specs[front.layers[0]]["K"]
    assert first["variables"]["weight_bits"] == cand.precisions[0].weight_bits[0]


PYTHON_MODEL_RUN = """
import sys, torch
from torch import nn
from rich.console import Console
import codesign
model = nn.Sequential(nn.Conv2d(3, 8, 3, padding=1), nn.ReLU(), nn.Conv2d(8, 4, 1))
codesign.explore(model=(model, torch.zeros(1, 3, 16, 16)), hw="eyeriss", pop_size=8,
                 generations=1, results_dir=sys.argv[1], out=sys.argv[2],
                 console=Console(quiet=True))
"""


def test_a_run_of_a_python_model_exports_its_loop_nests(tmp_path):
    """The loop-nest exporters read the run's layers.json and hw.yaml: a model given from
    Python, which no other process can rebuild by name, exports all the same."""
    import yaml

    run = tmp_path / "run"
    subprocess.run(
        [sys.executable, "-c", PYTHON_MODEL_RUN, str(tmp_path / "res"), str(run)],
        check=True,
        timeout=300,
    )
    layers = yaml.safe_load(export(run, 0, "zigzag", tmp_path / "w.yaml").path.read_text())
    assert len(layers) == 2  # the two convolutions
    dims = dict(zip(layers[0]["loop_dims"], layers[0]["loop_sizes"]))
    assert (dims["K"], dims["C"], dims["OY"], dims["FY"]) == (8, 3, 16, 3)
    psum = layers[0]["operand_precision"]["O"]
    assert psum == yaml.safe_load((run / "hw.yaml").read_text())["psum_bits"]


def test_per_channel_layers_are_split_into_precision_groups(channel_run, tmp_path):
    import yaml

    front = channel_run.front
    pick = next(
        i
        for i, c in enumerate(front.candidates)
        if any(len({b for b in p.weight_bits if b > 0}) > 1 for p in c.precisions)
    )
    cand = front.candidates[pick]
    res = export(channel_run.run_dir, pick, "zigzag", tmp_path / "split.yaml")
    nests = yaml.safe_load(res.path.read_text())
    assert res.checks["layers_split_by_precision"] >= 1
    for name, p in zip(front.layers, cand.precisions):
        mine = [n for n in nests if n["name"] == name or n["name"].startswith(f"{name}@")]
        widths = sorted({b for b in p.weight_bits if b > 0})
        assert sorted(n["operand_precision"]["W"] for n in mine) == widths
        if len(widths) > 1:
            assert all(n["name"] == f"{name}@{n['operand_precision']['W']}b" for n in mine)
        sizes = [dict(zip(n["loop_dims"], n["loop_sizes"])) for n in mine]
        k = sum(d.get("K", 1) * d.get("G", 1) for d in sizes)
        assert k <= sum(b > 0 for b in p.weight_bits)  # pruned channels left out


@pytest.mark.slow
def test_the_zigzag_file_runs_in_zigzag(small_run, tmp_path):
    """Needs ZigZag in its own virtualenv (see benchmarks/bench_export_zigzag.py)."""
    import os

    py = os.environ.get("ZIGZAG_PYTHON", "/work/zz-venv/bin/python")
    if not os.path.exists(py):
        pytest.skip(f"no ZigZag virtualenv at {py}")
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]
    res = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "bench_export_zigzag.py"),
         "--out", str(tmp_path / "zz")],
        capture_output=True, text=True, timeout=1200,
    )  # fmt: skip
    assert res.returncode == 0, res.stderr[-3000:]
    assert "total: ZigZag" in res.stdout


def test_brevitas_of_a_layerwise_point_reproduces_its_accuracy(small_run, tmp_path):
    pytest.importorskip("brevitas", reason="pip install brevitas")
    from codesign.exporters.brevitas import load_brevitas

    front = small_run.front
    for pick in _tuned(front):
        res = export(small_run.run_dir, pick, "brevitas", tmp_path / f"p{pick}.pt")
        assert res.checks["brevitas_accuracy"] == pytest.approx(res.checks["torch_accuracy"])
        assert res.checks["torch_accuracy"] == pytest.approx(
            front.candidates[pick].finetuned_accuracy, abs=1e-9
        )
        assert res.checks["max_logit_difference"] < 1e-3
        import brevitas.nn as qnn

        m = load_brevitas(res.path)
        layers = [x for x in m.modules() if isinstance(x, qnn.QuantConv2d | qnn.QuantLinear)]
        cand = front.candidates[pick]
        assert [int(x.quant_weight().bit_width) for x in layers] == [
            max(p.weight_bits) for p in cand.precisions
        ]
