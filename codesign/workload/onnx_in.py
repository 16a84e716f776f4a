"""`--workload model.onnx`: an ONNX file as a workload, converted to a torch module here.

The file is read with the `onnx` package (shapes inferred) and turned into an ``nn.Module``
whose submodules hold the file's weights (conv, linear, batch-norm, pooling) and whose forward
replays the graph's nodes in order, so the same torch.fx extraction prices it, and with data
(``--data``) it fine-tunes and scores like any workload, from the file's weights (never
retrained). No converter package is needed (onnx2torch pulls torchvision, which does not run
beside the CPU torch build).

Supported operators: Conv (1-D / 2-D, groups, symmetric pads), Gemm, MatMul by a constant,
BatchNormalization, Relu, Clip (ReLU6 and other bounds), Sigmoid, Tanh, Softmax, LeakyRelu,
HardSwish, HardSigmoid, Add, Sub by a constant, Mul, Concat, MaxPool, AveragePool,
GlobalAveragePool, GlobalMaxPool, ReduceMean over the spatial axes, Flatten, Reshape by a
constant shape, Squeeze / Unsqueeze, Identity, Dropout, Pad (constant, zeros). Anything else
is one `WorkloadError` naming the node and its operator. The batch dimension is taken as 1
when the file leaves it symbolic.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from codesign.core.errors import WorkloadError


def _attrs(node: Any) -> dict[str, Any]:
    import onnx

    return {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}


def _safe(name: str) -> str:
    return re.sub(r"\W", "_", name) or "node"


class OnnxModule(nn.Module):
    """A torch module replaying an ONNX graph (see the module docstring)."""

    def __init__(self, steps: list[tuple], mods: dict[str, nn.Module], consts: dict, inp: str,
                 out: str) -> None:  # fmt: skip
        super().__init__()
        self.steps = steps  # (kind, target, input names, output name, extra)
        self.mods = nn.ModuleDict(mods)
        for k, v in consts.items():
            self.register_buffer(k, v)
        self.inp, self.out = inp, out

    def forward(self, x: Tensor) -> Tensor:
        """Run the graph's nodes in order."""
        env: dict[str, Tensor] = {self.inp: x}

        def get(name: str) -> Tensor:
            return env[name] if name in env else getattr(self, "c_" + _safe(name))

        for kind, target, ins, out, extra in self.steps:
            if kind == "module":
                env[out] = self.mods[target](get(ins[0]))
            elif kind == "add":
                env[out] = torch.add(get(ins[0]), get(ins[1]))
            elif kind == "sub":
                env[out] = torch.sub(get(ins[0]), get(ins[1]))
            elif kind == "mul":
                env[out] = torch.mul(get(ins[0]), get(ins[1]))
            elif kind == "cat":
                env[out] = torch.cat([get(i) for i in ins], dim=extra)
            elif kind == "flatten":
                env[out] = torch.flatten(get(ins[0]), extra)
            elif kind == "reshape":
                env[out] = torch.reshape(get(ins[0]), extra)
            elif kind == "mean":
                env[out] = torch.mean(get(ins[0]), dim=extra[0], keepdim=extra[1])
            elif kind == "pad":
                env[out] = F.pad(get(ins[0]), extra)
            elif kind == "identity":
                env[out] = get(ins[0])
        return env[self.out]


def _conv(node: Any, w: np.ndarray, b: np.ndarray | None, a: dict) -> tuple[nn.Module, list]:
    nd = w.ndim - 2
    pads = list(a.get("pads", [0] * (2 * nd)))
    if a.get("auto_pad", b"NOTSET") not in (b"NOTSET", "NOTSET", b"VALID", "VALID"):
        raise WorkloadError(
            f"node '{node.name}' (Conv): auto_pad {a['auto_pad']!r} is not supported"
        )
    begin, end = pads[:nd], pads[nd:]
    sym = begin == end
    cls = nn.Conv2d if nd == 2 else nn.Conv1d if nd == 1 else None
    if cls is None:
        raise WorkloadError(f"node '{node.name}' (Conv): {nd}-D convolutions are not supported")
    groups = int(a.get("group", 1))
    m = cls(
        w.shape[1] * groups,
        w.shape[0],
        tuple(w.shape[2:]),
        stride=tuple(a.get("strides", [1] * nd)),
        padding=tuple(begin) if sym else 0,
        dilation=tuple(a.get("dilations", [1] * nd)),
        groups=groups,
        bias=b is not None,
    )
    with torch.no_grad():
        m.weight.copy_(torch.from_numpy(w.copy()))
        if b is not None:
            m.bias.copy_(torch.from_numpy(b.copy()))
    pad = [] if sym else [p for i in reversed(range(nd)) for p in (begin[i], end[i])]
    return m, pad


def load_onnx_workload(path: str | Path) -> tuple[nn.Module, tuple[int, ...]]:
    """(torch module with the file's weights, input shape with batch 1) of an ONNX file;
    `WorkloadError` naming the file and the first node it cannot convert."""
    try:
        import onnx
        from onnx import numpy_helper, shape_inference
    except ImportError:
        raise WorkloadError(
            f"--workload {path}: reading ONNX needs the onnx package: pip install 'codesign[onnx]'"
        ) from None
    p = Path(path)
    try:
        model = shape_inference.infer_shapes(onnx.load(p))
    except Exception as exc:  # onnx raises several types for a bad file
        raise WorkloadError(
            f"--workload {p}: not a readable ONNX model: {exc}".splitlines()[0]
        ) from None
    g = model.graph
    inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
    for n in g.node:
        if n.op_type == "Constant":
            inits[n.output[0]] = numpy_helper.to_array(_attrs(n)["value"])
    ranks = {
        v.name: len(v.type.tensor_type.shape.dim)
        for v in list(g.value_info) + list(g.input) + list(g.output)
    }
    inputs = [i for i in g.input if i.name not in inits]
    if len(inputs) != 1 or len(g.output) != 1:
        raise WorkloadError(f"--workload {p}: one input and one output are supported")
    dims = inputs[0].type.tensor_type.shape.dim
    shape = tuple(d.dim_value if d.dim_value > 0 else 1 for d in dims)
    shape = (1, *shape[1:])
    steps: list[tuple] = []
    mods: dict[str, nn.Module] = {}
    consts: dict[str, Tensor] = {}
    used_consts: set[str] = set()

    def const(name: str) -> None:
        if name in inits and name not in used_consts:
            used_consts.add(name)
            consts["c_" + _safe(name)] = torch.from_numpy(np.array(inits[name], copy=True))

    def module(node: Any, m: nn.Module, src: str) -> None:
        key = _safe(node.name or node.output[0])
        while key in mods:
            key += "_"
        mods[key] = m
        steps.append(("module", key, [src], node.output[0], None))

    def fail(node: Any, why: str) -> WorkloadError:
        return WorkloadError(f"--workload {p}: node '{node.name}' ({node.op_type}): {why}")

    act = {
        "Relu": nn.ReLU,
        "Sigmoid": nn.Sigmoid,
        "Tanh": nn.Tanh,
        "HardSwish": nn.Hardswish,
        "HardSigmoid": nn.Hardsigmoid,
    }
    for node in g.node:
        op, a, ins = node.op_type, _attrs(node), list(node.input)
        x = ins[0] if ins else None
        if op == "Constant":
            continue
        if op == "Conv":
            m, pad = _conv(node, inits[ins[1]], inits.get(ins[2]) if len(ins) > 2 else None, a)
            if pad:
                steps.append(("pad", None, [x], node.output[0] + "_pad", pad))
                x = node.output[0] + "_pad"
            module(node, m, x)
        elif op == "Gemm":
            w = inits.get(ins[1])
            if w is None or a.get("transA", 0) or a.get("alpha", 1.0) != 1.0:
                raise fail(node, "only x @ W (+ b) with a constant W is supported")
            w = w if a.get("transB", 0) else w.T
            b = inits.get(ins[2]) if len(ins) > 2 else None
            lin = nn.Linear(w.shape[1], w.shape[0], bias=b is not None)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w)))
                if b is not None:
                    lin.bias.copy_(torch.from_numpy(b * a.get("beta", 1.0)))
            module(node, lin, x)
        elif op == "MatMul":
            w = inits.get(ins[1])
            if w is None or w.ndim != 2:
                raise fail(node, "only a product by a constant matrix is supported")
            lin = nn.Linear(w.shape[0], w.shape[1], bias=False)
            with torch.no_grad():
                lin.weight.copy_(torch.from_numpy(np.ascontiguousarray(w.T)))
            module(node, lin, x)
        elif op == "BatchNormalization":
            scale, bias, mean, var = (inits[i] for i in ins[1:5])
            cls = nn.BatchNorm1d if ranks.get(x, 4) in (2, 3) else nn.BatchNorm2d
            bn = cls(len(scale), eps=float(a.get("epsilon", 1e-5)))
            with torch.no_grad():
                bn.weight.copy_(torch.from_numpy(scale))
                bn.bias.copy_(torch.from_numpy(bias))
                bn.running_mean.copy_(torch.from_numpy(mean))
                bn.running_var.copy_(torch.from_numpy(var))
            module(node, bn, x)
        elif op in act:
            module(node, act[op](), x)
        elif op == "LeakyRelu":
            module(node, nn.LeakyReLU(float(a.get("alpha", 0.01))), x)
        elif op == "Clip":
            lo = float(inits[ins[1]]) if len(ins) > 1 and ins[1] else float(a.get("min", -np.inf))
            hi = float(inits[ins[2]]) if len(ins) > 2 and ins[2] else float(a.get("max", np.inf))
            module(node, nn.ReLU6() if (lo, hi) == (0.0, 6.0) else nn.Hardtanh(lo, hi), x)
        elif op == "Softmax":
            module(node, nn.Softmax(dim=int(a.get("axis", -1))), x)
        elif op in ("Add", "Mul", "Sub"):
            for i in ins:
                const(i)
            steps.append((op.lower(), None, ins, node.output[0], None))
        elif op == "Concat":
            steps.append(("cat", None, ins, node.output[0], int(a["axis"])))
        elif op in ("MaxPool", "AveragePool"):
            k = tuple(a["kernel_shape"])
            nd = len(k)
            pads = list(a.get("pads", [0] * (2 * nd)))
            if pads[:nd] != pads[nd:]:
                raise fail(node, "asymmetric pooling pads are not supported")
            kw = dict(stride=tuple(a.get("strides", k)), padding=tuple(pads[:nd]),
                      ceil_mode=bool(a.get("ceil_mode", 0)))  # fmt: skip
            if op == "MaxPool":
                m = (nn.MaxPool2d if nd == 2 else nn.MaxPool1d)(k, **kw)
            else:
                inc = bool(a.get("count_include_pad", 0))
                m = (nn.AvgPool2d if nd == 2 else nn.AvgPool1d)(k, count_include_pad=inc, **kw)
            module(node, m, x)
        elif op in ("GlobalAveragePool", "GlobalMaxPool"):
            nd = ranks.get(x, len(shape)) - 2
            avg = op == "GlobalAveragePool"
            cls = (nn.AdaptiveAvgPool2d if avg else nn.AdaptiveMaxPool2d) if nd == 2 else None
            if cls is None:
                cls = nn.AdaptiveAvgPool1d if avg else None
            if cls is None:
                raise fail(node, f"global pooling over {nd} axes is not supported")
            module(node, cls(1), x)
        elif op == "ReduceMean":
            axes = a.get("axes")
            if axes is None and len(ins) > 1:
                axes = inits[ins[1]].tolist()
            keep = bool(a.get("keepdims", 1))
            steps.append(("mean", None, [x], node.output[0], (tuple(int(v) for v in axes), keep)))
        elif op == "Flatten":
            steps.append(("flatten", None, [x], node.output[0], int(a.get("axis", 1))))
        elif op == "Reshape":
            target = [int(v) for v in inits[ins[1]].tolist()]
            if len(target) == 2 and target[0] in (1, -1, 0):
                steps.append(("flatten", None, [x], node.output[0], 1))
            else:
                steps.append(("reshape", None, [x], node.output[0], (-1, *target[1:])))
        elif op in ("Squeeze", "Unsqueeze", "Identity", "Dropout"):
            if op in ("Squeeze", "Unsqueeze"):
                axes = a.get("axes") or (inits[ins[1]].tolist() if len(ins) > 1 else None)
                vi = {v.name: v for v in list(g.value_info) + list(g.output)}
                out = vi.get(node.output[0])
                if out is None:
                    raise fail(node, "its output shape is unknown")
                dims_out = [d.dim_value or -1 for d in out.type.tensor_type.shape.dim]
                steps.append(("reshape", None, [x], node.output[0], (-1, *dims_out[1:])))
                del axes
            else:
                steps.append(("identity", None, [x], node.output[0], None))
        elif op == "Pad":
            mode = a.get("mode", b"constant")
            pads = [int(v) for v in (a.get("pads") or inits[ins[1]].tolist())]
            if mode not in (b"constant", "constant") or (
                len(ins) > 2 and ins[2] and float(inits[ins[2]]) != 0
            ):
                raise fail(node, "only zero padding is supported")
            nd = len(pads) // 2
            flat = [q for i in reversed(range(nd)) for q in (pads[i], pads[nd + i])]
            steps.append(("pad", None, [x], node.output[0], flat))
        else:
            raise fail(node, "this operator cannot be converted to torch here")
    module_ = OnnxModule(steps, mods, consts, inputs[0].name, g.output[0].name)
    return module_.eval(), shape
