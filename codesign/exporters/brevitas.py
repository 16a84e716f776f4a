"""`--format brevitas`: the fine-tuned point as a Brevitas network (optional dependency).

Each quantized layer becomes a Brevitas ``QuantIdentity`` on its input (its activation bits,
signed or not, its learned step as the scale) followed by a ``QuantConv1d`` / ``QuantConv2d`` /
``QuantLinear`` with its weight bits and one learned scale per output channel (parameter
scaling, set so that Brevitas's scale equals ours exactly), holding the fine-tuned float
weights; pruned channels are zero and masked after their batch-norm. The rest of the network is
the model's own modules. Brevitas's grids then equal ours: round half to even, clamp to the
signed b-bit range (not narrow) for weights and to the (un)signed range for activations.

A Brevitas layer has one weight bit-width, so a layer whose kept channels have different
bit-widths is refused (use `--format onnx-qdq`). The file holds the Brevitas network's state
dict and what rebuilds its architecture (``codesign.exporters.brevitas.load_brevitas(path)``;
Brevitas modules do not pickle whole). Its accuracy on the held-out test split is checked
against the fake-quantized torch model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from codesign.core.errors import CodesignError
from codesign.core.imports import refuse_unnamed
from codesign.exporters import ExportResult, conv_linear_only, register_exporter
from codesign.exporters.onnx_qdq import compare_logits, export_model, finetuned_point
from codesign.quant.evaluate import load_finetuned
from codesign.quant.fakequant import QuantLayer

INSTALL = "pip install brevitas (or pip install 'codesign[brevitas]')"


def _quantizers() -> tuple[Any, Any, Any]:
    from brevitas.core.scaling import ScalingImplType
    from brevitas.quant import (
        Int8ActPerTensorFloat,
        Int8WeightPerTensorFloat,
        Uint8ActPerTensorFloat,
    )

    class WeightQuant(Int8WeightPerTensorFloat):
        scaling_per_output_channel = True
        scaling_impl_type = ScalingImplType.PARAMETER  # set by `_set_scale`, not from stats
        scaling_init = 1.0
        narrow_range = False

    class SignedAct(Int8ActPerTensorFloat):
        scaling_impl_type = ScalingImplType.PARAMETER
        scaling_init = 1.0
        narrow_range = False

    class UnsignedAct(Uint8ActPerTensorFloat):
        scaling_impl_type = ScalingImplType.PARAMETER
        scaling_init = 1.0

    return WeightQuant, SignedAct, UnsignedAct


def _set_scale(param: torch.Tensor, read: Any, target: torch.Tensor) -> None:
    """Set a Brevitas scaling parameter so the scale it yields equals `target` (the scale is
    proportional to the parameter; one measurement gives the factor)."""
    with torch.no_grad():
        param.fill_(1.0) if param.dim() == 0 else param.copy_(torch.ones_like(param))
        unit = read().detach().reshape(param.shape)
        param.copy_((target.reshape(param.shape) / unit).to(param.dtype))


def brevitas_layer(ql: QuantLayer, name: str = "") -> nn.Module:
    """A `QuantLayer` as Brevitas modules with the same grids (see the module docstring)."""
    import brevitas.nn as qnn

    WeightQuant, SignedAct, UnsignedAct = _quantizers()
    inner = ql.inner
    if not ql.quantize_weights:
        raise CodesignError(f"--format brevitas: layer '{name}' has full-precision weights")
    kept = sorted({int(b) for b in ql.weight_bits.tolist() if b > 0})
    if len(kept) > 1:
        raise CodesignError(
            f"--format brevitas: layer '{name}' has channels at {kept} bits, and a Brevitas "
            "layer has one weight bit-width; export this point with --format onnx-qdq"
        )
    if kept and kept[0] < 2:
        raise CodesignError(f"--format brevitas: layer '{name}' has 1-bit weights")
    wb = kept[0] if kept else 2
    keep = ql.keep.detach()
    view = (-1,) + (1,) * (inner.weight.dim() - 1)
    common: dict[str, Any] = dict(
        weight_quant=WeightQuant, weight_bit_width=wb, bias=inner.bias is not None
    )
    if isinstance(inner, nn.Linear):
        layer = qnn.QuantLinear(inner.in_features, inner.out_features, **common)
    else:
        cls = qnn.QuantConv2d if isinstance(inner, nn.Conv2d) else qnn.QuantConv1d
        layer = cls(
            inner.in_channels,
            inner.out_channels,
            inner.kernel_size,
            stride=inner.stride,
            padding=inner.padding,
            dilation=inner.dilation,
            groups=inner.groups,
            **common,
        )
    with torch.no_grad():
        layer.weight.copy_(inner.weight.detach() * keep.reshape(view))
        if inner.bias is not None:
            layer.bias.copy_(inner.bias.detach() * keep)
    s = ql.w_step.detach().abs().clamp(min=1e-8)
    s = torch.where(keep > 0, s, torch.ones_like(s))
    param = layer.weight_quant.tensor_quant.scaling_impl.value
    _set_scale(param, lambda: layer.quant_weight().scale, s)
    steps: list[nn.Module] = []
    if ql.act_bits is not None:
        signed = bool(ql.a_signed)
        act = qnn.QuantIdentity(
            act_quant=SignedAct if signed else UnsignedAct,
            bit_width=int(ql.act_bits),
            return_quant_tensor=False,
        )
        a_param = act.act_quant.fused_activation_quant_proxy.tensor_quant.scaling_impl.value
        _set_scale(a_param, act.act_quant.scale, ql.a_step.detach().abs().clamp(min=1e-8))
        steps.append(act)
    steps.append(layer)
    return nn.Sequential(*steps)


FORMAT = "codesign.brevitas"


def load_brevitas(path: str | Path, workload: str | None = None) -> nn.Module:
    """The Brevitas network a `--format brevitas` file holds, in eval mode: the workload
    rebuilt, its config applied, its layers made Brevitas layers, the saved state loaded.

    The file is read as data (`weights_only`); a workload it names as
    ``package.module:function`` is imported only when `workload` names it too."""
    try:
        doc = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # truncated, not a torch file, or naming code (refused)
        first = (str(exc).splitlines() or [""])[0]
        raise CodesignError(f"{path}: unreadable Brevitas export: {first[:200]}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise CodesignError(f"{path}: not a codesign Brevitas export")
    refuse_unnamed(doc.get("workload"), workload, str(path), "workload=")
    q = load_finetuned({**doc, "key": Path(path).stem, "state": doc["finetuned"]})
    m, _ = export_model(q, brevitas_layer)
    m.load_state_dict(doc["state"])
    return m.eval()


@register_exporter("brevitas")
def export_brevitas(run_dir: Path, pick: int, path: Path | None) -> ExportResult:
    """Point `pick` as a Brevitas network, its accuracy checked on the held-out test split."""
    try:
        import brevitas  # noqa: F401
    except ImportError:
        raise CodesignError(f"--format brevitas needs Brevitas: {INSTALL}") from None
    front, c, doc, cfg = finetuned_point(run_dir, pick)
    q = load_finetuned(doc)
    conv_linear_only(q, "brevitas")
    m, _ = export_model(q, brevitas_layer)
    out = path or run_dir / f"point-{pick}.brevitas.pt"
    out.parent.mkdir(parents=True, exist_ok=True)
    from codesign.core.files import save_state_atomic

    save_state_atomic(
        {
            "format": FORMAT,
            "version": 1,
            "workload": doc["workload"],
            "input_shape": doc["input_shape"],
            "config": doc["config"],
            "finetuned": doc["state"],  # what the architecture is rebuilt from
            "state": m.state_dict(),  # the Brevitas network's own state
        },
        out,
    )
    from codesign.data import load_dataset

    data = load_dataset(doc["dataset"], seed=0, path=cfg.data)
    x, y = data.test.tensors
    with torch.no_grad():
        bo = load_brevitas(out, doc["workload"])(x).numpy()
        ref = q(x).numpy()
    checks = {
        **compare_logits("brevitas", bo, ref, y.numpy()),
        "finetuned_accuracy": c.finetuned_accuracy,
    }
    return ExportResult((out,), checks)
