"""`--format onnx-qdq`: the fine-tuned point as ONNX with QuantizeLinear / DequantizeLinear.

Built from the model its fine-tune kept (weights, learned LSQ step sizes), never retrained:

- each quantized layer's input: a ``Clip`` to its grid's range, then ``QuantizeLinear`` /
  ``DequantizeLinear`` with its step size as the scale (zero point 0); int8 when the
  activation is signed, uint8 otherwise. Below 8 bits the values sit in the 8-bit type and the
  ``Clip`` holds them to the b-bit range (``[0, 2^b - 1]`` or ``[-2^(b-1), 2^(b-1) - 1]``);
- each quantized layer's weights: int8 integers with a per-output-channel scale (``axis=0``)
  and a ``DequantizeLinear``. A per-channel bit-width assignment is exported exactly: every
  channel's integers lie in its own b-bit range (pruned channels are 0), which one int8 tensor
  with per-channel scales expresses without rounding anything; each layer's bit-widths per
  channel are also written to the model's metadata (``codesign.layers``);
- everything else (batch-norm, pooling, activations, the zeroing of pruned channels) as the
  float operators torch exports.

The file is checked with onnxruntime against the fake-quantized torch model on the held-out
test split: both accuracies and the largest logit difference are reported (`checks`).
"""

from __future__ import annotations

import copy
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn
from torch.ao.quantization.fx import _decomposed  # noqa: F401  (registers quantized_decomposed)

from codesign.config import ExploreConfig
from codesign.core.errors import CodesignError, RunError
from codesign.core.files import write_bytes_atomic
from codesign.core.imports import names_module
from codesign.exporters import ExportResult, conv_linear_only, register_exporter
from codesign.quant.evaluate import load_artefact, load_finetuned
from codesign.quant.fakequant import PrunedNorm, QuantLayer, conv_or_linear
from codesign.run import open_run

_QD = torch.ops.quantized_decomposed  # QuantizeLinear / DequantizeLinear in ONNX

INSTALL = "pip install 'codesign[onnx]' (onnx, onnxscript, onnxruntime)"


def finetuned_point(run_dir: Path, pick: int) -> tuple[Any, Any, dict[str, Any], ExploreConfig]:
    """(front, candidate, kept artefact, run config) of a fine-tuned Pareto point; `RunError`
    naming what is missing otherwise."""
    rd = open_run(run_dir)
    front = rd.load_front()
    if not 0 <= pick < len(front):
        raise RunError(f"--pick {pick}: {run_dir} has Pareto points #0..#{len(front) - 1}")
    c = front.candidates[pick]
    tuned = [i for i, x in enumerate(front.candidates) if x.finetuned_accuracy is not None]
    if c.finetuned is None or not c.finetuned.ok:
        have = ", ".join(f"#{i}" for i in tuned) or "none"
        raise RunError(
            f"--pick {pick}: point #{pick} of {run_dir} was not fine-tuned, so there is no "
            f"trained quantized model to export (fine-tuned points: {have}; a larger "
            "--finetune-top fine-tunes more)"
        )
    cfg = ExploreConfig.from_run(run_dir)
    for folder in (Path(cfg.results_dir) / "cache", run_dir.parent / "cache"):
        doc = load_artefact(folder / "artefacts", c.finetuned.key)
        if doc is not None:
            foreign_data = names_module(doc.get("dataset")) and doc.get("dataset") != cfg.data
            if doc.get("workload") != cfg.workload or foreign_data:
                raise RunError(
                    f"--pick {pick}: the kept model of point #{pick} names workload "
                    f"{doc.get('workload')!r} and dataset {doc.get('dataset')!r}, not the run's "
                    f"{cfg.workload!r}"
                )
            return front, c, doc, cfg
    raise RunError(
        f"--pick {pick}: the fine-tuned model of point #{pick} is not kept (fine-tuned by an "
        "older codesign, or the cache was moved); run the same `codesign explore` again: it "
        "fine-tunes that point once more and keeps its model"
    )


class QdqLayer(nn.Module):
    """A `QuantLayer` frozen for export: its grids as explicit quantize / dequantize ops."""

    def __init__(self, ql: QuantLayer, name: str = "") -> None:
        super().__init__()
        self.inner = copy.deepcopy(ql.inner)
        self.act: tuple[float, float, float, bool] | None = None
        if ql.act_bits is not None:
            lo, hi = ql._act_range()
            s = float(ql.a_step.detach().abs().clamp(min=1e-8))
            self.act = (s, lo, hi, bool(ql.a_signed))
        self.quantized = bool(ql.quantize_weights)
        bias = ql.inner.bias.detach() if ql.inner.bias is not None else None
        if self.quantized:
            q, s = ql.integer_weights()
            keep = ql.keep.detach()
            self.register_buffer("w_int", q.to(torch.int8))
            self.register_buffer("w_scale", torch.where(keep > 0, s, torch.ones_like(s)))
            self.register_buffer("w_zero", torch.zeros(len(s), dtype=torch.int64))
            if bias is not None:
                bias = bias * keep
        self.register_buffer("bias", bias)
        self.bits = {
            "act_bits": ql.act_bits,
            "act_signed": bool(ql.a_signed),
            "weight_bits": ql.weight_bits.tolist() if self.quantized else None,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Quantize-dequantize the input and the weights, then run the layer."""
        if self.act is not None:
            s, lo, hi, signed = self.act
            x = torch.clamp(x, lo * s, hi * s)
            lim, dtype = ((-128, 127), torch.int8) if signed else ((0, 255), torch.uint8)
            x = _QD.dequantize_per_tensor(
                _QD.quantize_per_tensor(x, s, 0, *lim, dtype), s, 0, *lim, dtype
            )
        if self.quantized:
            w = _QD.dequantize_per_channel(
                self.w_int, self.w_scale, self.w_zero, 0, -128, 127, torch.int8
            )
        else:
            w = self.inner.weight
        return conv_or_linear(self.inner, x, w, self.bias)


class _MaskedNorm(nn.Module):
    """A batch-norm whose pruned channels are multiplied by 0 (a constant mask)."""

    def __init__(self, bn: nn.Module, keep: Tensor) -> None:
        super().__init__()
        self.bn = bn
        self.register_buffer("keep", keep.clone())

    def forward(self, x: Tensor) -> Tensor:
        """Normalise, then zero the pruned channels."""
        return self.bn(x) * self.keep.reshape(1, -1, *([1] * (x.dim() - 2)))


def export_model(q: nn.Module, make: Any = None) -> tuple[nn.Module, dict[str, Any]]:
    """A copy of fine-tuned model `q` with every `QuantLayer` replaced by ``make(layer, path)``
    (a `QdqLayer` by default), pruned channels masked by constants; and each layer's bits by
    module path."""
    make = make or QdqLayer
    m = copy.deepcopy(q).eval().requires_grad_(False)  # inference ops, not their autograd forms
    bits = {}
    for name, mod in list(m.named_modules()):
        if isinstance(mod, QuantLayer):
            parent, _, leaf = name.rpartition(".")
            new = make(mod, name)
            setattr(m.get_submodule(parent) if parent else m, leaf, new)
            bits[name] = getattr(new, "bits", None)
    for name, mod in list(m.named_modules()):  # a static mask after each pruned layer's norm
        if isinstance(mod, PrunedNorm):
            layer = mod._layer
            keep = layer.keep.detach() if layer.quantize_weights else None
            new = mod.bn if keep is None or bool(keep.all()) else _MaskedNorm(mod.bn, keep)
            parent, _, leaf = name.rpartition(".")
            setattr(m.get_submodule(parent) if parent else m, leaf, new)
    return m, bits


def check_with_onnxruntime(path: Path, q: nn.Module, data: Any) -> dict[str, Any]:
    """Accuracy of the ONNX file in onnxruntime and of the fake-quantized torch model on
    `data` (a TensorDataset), and their largest logit difference."""
    import onnxruntime as ort

    x, y = data.tensors
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    outs, refs = [], []
    with torch.no_grad():
        for i in range(0, len(x), 256):
            xb = x[i : i + 256]
            outs.append(sess.run(None, {name: xb.numpy()})[0])
            refs.append(q(xb).numpy())
    return compare_logits("onnxruntime", np.concatenate(outs), np.concatenate(refs), y.numpy())


def compare_logits(runtime: str, out: np.ndarray, ref: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy (percent) of a runtime's logits `out` and of the fake-quantized torch model's
    `ref` on labels `y`, and their largest difference."""
    return {
        f"{runtime}_accuracy": float((out.argmax(1) == y).mean() * 100),
        "torch_accuracy": float((ref.argmax(1) == y).mean() * 100),
        "max_logit_difference": float(np.abs(out - ref).max()),
        "samples": int(len(y)),
    }


def to_onnx(m: nn.Module, example: Tensor, shapes: Any = None, table: Any = None) -> Any:
    """torch.onnx.export (the torch.export-based exporter) of `m` on `example`, quietly."""
    onnx_log = logging.getLogger("torch.onnx")
    level = onnx_log.level
    onnx_log.setLevel(logging.ERROR)  # its notes on missing torchvision ops are not ours
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)
            return torch.onnx.export(
                m,
                (example,),
                dynamo=True,
                dynamic_shapes=shapes,
                custom_translation_table=table,
                verbose=False,
            )
    finally:
        onnx_log.setLevel(level)


@register_exporter("onnx-qdq")
def export_onnx_qdq(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """Point `pick` as ONNX QDQ, checked in onnxruntime on the held-out test split."""
    try:
        import onnx  # noqa: F401
        import onnxruntime  # noqa: F401
    except ImportError:
        raise CodesignError(f"--format onnx-qdq needs onnx and onnxruntime: {INSTALL}") from None
    front, c, doc, cfg = finetuned_point(run_dir, pick)
    q = load_finetuned(doc)
    conv_linear_only(q, "onnx-qdq")
    m, bits = export_model(q)
    example = torch.zeros(tuple(doc["input_shape"]))
    out = path or run_dir / f"point-{pick}.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    batch = torch.export.Dim("batch", min=1, max=4096)
    shapes = ({0: batch},)
    prog = to_onnx(m, example, shapes)
    model = prog.model_proto
    meta = {
        "codesign.run": str(run_dir),
        "codesign.pick": str(pick),
        "codesign.workload": front.workload,
        "codesign.hardware": front.hardware,
        "codesign.layers": json.dumps(bits),
    }
    for k, v in meta.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    write_bytes_atomic(out, model.SerializeToString())  # never half a file
    from codesign.data import load_dataset

    data = load_dataset(doc["dataset"], seed=0, path=cfg.data)
    checks = check_with_onnxruntime(out, q, data.test)
    checks["finetuned_accuracy"] = c.finetuned_accuracy
    return ExportResult((out,), checks)
