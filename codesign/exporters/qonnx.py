"""`--format qonnx`: the fine-tuned point as QONNX, with `Quant` nodes carrying the bit-widths.

QONNX (Pappalardo et al., the format FINN and hls4ml read) quantizes with one node,
``Quant(x, scale, zeropt, bitwidth)`` of the domain ``qonnx.custom_op.general``, attributes
``signed``, ``narrow`` and ``rounding_mode``: ``y = (clip(round(x / scale + zeropt), lo, hi) -
zeropt) * scale`` with ``[lo, hi]`` the (un)signed b-bit range, exactly our grids. Each quantized
layer gets one `Quant` on its input (its activation bits and learned step) and one on its
weights (its weight bits, one learned scale per output channel). Pruned channels hold 0, which
every bit-width expresses. A layer whose kept channels have different bit-widths is refused:
a `Quant` has one bit-width per tensor (use `--format onnx-qdq`, which keeps them).

The file has batch size 1 (as FINN expects). It is checked with the `qonnx` package's executor
(`pip install qonnx`) against the fake-quantized torch model on the held-out test split.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from torch import Tensor, nn

from codesign.core.errors import CodesignError
from codesign.core.files import write_bytes_atomic
from codesign.exporters import ExportResult, conv_linear_only, register_exporter
from codesign.exporters.onnx_qdq import compare_logits, export_model, finetuned_point, to_onnx
from codesign.quant.evaluate import load_finetuned
from codesign.quant.fakequant import QuantLayer, conv_or_linear

DOMAIN = "qonnx.custom_op.general"


@torch.library.custom_op("codesign::quant", mutates_args=())
def quant(x: Tensor, scale: Tensor, bitwidth: float, signed: bool) -> Tensor:
    """QONNX's Quant with zero point 0, not narrow, round half to even."""
    b = int(bitwidth)
    lo, hi = (-(2 ** (b - 1)), 2 ** (b - 1) - 1) if signed else (0, 2**b - 1)
    return torch.clamp(torch.round(x / scale), lo, hi) * scale


@quant.register_fake
def _quant_fake(x: Tensor, scale: Tensor, bitwidth: float, signed: bool) -> Tensor:
    return torch.empty_like(x)


def _translation() -> dict:
    """torch op -> ONNX: `codesign::quant` becomes a QONNX `Quant` node."""
    import onnxscript
    from onnx.defs import OpSchema
    from onnxscript import opset18 as op

    P, A = OpSchema.FormalParameter, OpSchema.Attribute
    schema = OpSchema(
        "Quant",
        DOMAIN,
        1,
        inputs=[P("X", "T"), P("scale", "T"), P("zeropt", "T"), P("bitwidth", "T")],
        outputs=[P("Y", "T")],
        type_constraints=[("T", ["tensor(float)"], "float")],
        attributes=[
            A("signed", OpSchema.AttrType.INT, "signed integers"),
            A("narrow", OpSchema.AttrType.INT, "narrow range"),
            A("rounding_mode", OpSchema.AttrType.STRING, "rounding"),
        ],
    )
    node = onnxscript.values.Op(onnxscript.values.Opset(DOMAIN, 1), "Quant", schema)

    def quant_onnx(x, scale, bitwidth: float, signed: bool):  # noqa: ANN001, ANN202
        zero = op.Constant(value_float=0.0)
        bw = op.Constant(value_float=float(bitwidth))
        return node(x, scale, zero, bw, signed=int(signed), narrow=0, rounding_mode="ROUND")

    return {torch.ops.codesign.quant.default: quant_onnx}


class QonnxLayer(nn.Module):
    """A `QuantLayer` frozen for export with `codesign::quant` (QONNX `Quant`) ops."""

    def __init__(self, ql: QuantLayer, name: str = "") -> None:
        super().__init__()
        import copy

        self.inner = copy.deepcopy(ql.inner)
        self.act: tuple[float, bool] | None = None
        if ql.act_bits is not None:
            self.act = (float(ql.act_bits), bool(ql.a_signed))
            self.register_buffer("a_scale", ql.a_step.detach().abs().clamp(min=1e-8).clone())
        self.quantized = bool(ql.quantize_weights)
        w = ql.inner.weight.detach()
        bias = ql.inner.bias.detach() if ql.inner.bias is not None else None
        self.w_bits = 0
        if self.quantized:
            kept = sorted({int(b) for b in ql.weight_bits.tolist() if b > 0})
            if len(kept) > 1:
                raise CodesignError(
                    f"--format qonnx: layer '{name}' has channels at {kept} bits, and a QONNX "
                    "Quant node has one bit-width per tensor; export this point with --format "
                    "onnx-qdq, which keeps per-channel bit-widths"
                )
            if kept and kept[0] < 2:
                raise CodesignError(f"--format qonnx: layer '{name}' has 1-bit weights")
            self.w_bits = kept[0] if kept else 2
            view = (-1,) + (1,) * (w.dim() - 1)
            keep = ql.keep.detach()
            q, s = ql.integer_weights()
            self.register_buffer("w_float", q * s.reshape(view))
            self.register_buffer("w_scale", s.reshape(view).clone())
            if bias is not None:
                bias = bias * keep
        self.register_buffer("bias", bias)
        self.bits = {
            "act_bits": ql.act_bits,
            "act_signed": bool(ql.a_signed),
            "weight_bits": self.w_bits if self.quantized else None,
        }

    def forward(self, x: Tensor) -> Tensor:
        """Quantize the input and the weights (QONNX Quant), then run the layer."""
        if self.act is not None:
            bits, signed = self.act
            x = torch.ops.codesign.quant(x, self.a_scale, bits, signed)
        w = self.inner.weight
        if self.quantized:
            w = torch.ops.codesign.quant(self.w_float, self.w_scale, float(self.w_bits), True)
        return conv_or_linear(self.inner, x, w, self.bias)


def check_with_qonnx(path: Path, m_check: nn.Module, q: nn.Module, data) -> dict:  # noqa: ANN001
    """Accuracy of the QONNX file in the qonnx executor (batch-size-N copy) and of the
    fake-quantized torch model, and their largest logit difference."""
    import onnx
    from qonnx.core.modelwrapper import ModelWrapper
    from qonnx.core.onnx_exec import execute_onnx

    x, y = data.tensors
    prog = to_onnx(m_check, x[:1].expand(len(x), *x.shape[1:]).contiguous(), None, _translation())
    wrapper = ModelWrapper(prog.model_proto)
    name = wrapper.graph.input[0].name
    out = execute_onnx(wrapper, {name: x.numpy()})[wrapper.graph.output[0].name]
    with torch.no_grad():
        ref = q(x).numpy()
    onnx.checker.check_model(onnx.load(path))
    return compare_logits("qonnx", out, ref, y.numpy())


@register_exporter("qonnx")
def export_qonnx(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """Point `pick` as QONNX, checked with qonnx's executor on the held-out test split."""
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401
    except ImportError:
        raise CodesignError(
            "--format qonnx needs onnx and onnxscript: pip install 'codesign[onnx]'"
        ) from None
    front, c, doc, cfg = finetuned_point(run_dir, pick)
    q = load_finetuned(doc)
    conv_linear_only(q, "qonnx")
    m, bits = export_model(q, QonnxLayer)
    example = torch.zeros(tuple(doc["input_shape"]))
    model = to_onnx(m, example, None, _translation()).model_proto
    for k, v in {
        "codesign.run": str(run_dir),
        "codesign.pick": str(pick),
        "codesign.layers": json.dumps(bits),
    }.items():
        p = model.metadata_props.add()
        p.key, p.value = k, v
    out = path or run_dir / f"point-{pick}.qonnx.onnx"
    out.parent.mkdir(parents=True, exist_ok=True)
    write_bytes_atomic(out, model.SerializeToString())  # never half a file
    checks: dict = {"quant_nodes": sum(n.op_type == "Quant" for n in model.graph.node)}
    try:
        import qonnx  # noqa: F401
    except ImportError:
        checks["qonnx_executor"] = "not installed (pip install qonnx): file written, not executed"
        return ExportResult((out,), checks)
    from codesign.data import load_dataset

    data = load_dataset(doc["dataset"], seed=0, path=cfg.data)
    checks.update(check_with_qonnx(out, m, q, data.test))
    checks["finetuned_accuracy"] = c.finetuned_accuracy
    return ExportResult((out,), checks)
