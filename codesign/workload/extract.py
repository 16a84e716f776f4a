"""Turn a torch.nn.Module into a `LayerGraph` with torch.fx tracing and shape propagation.

Every fx node is classified by one table (`_MODULE_RULES`, `_FUNCTION_RULES`, `_METHOD_RULES`):
a rule either makes a layer node, or *fuses* the node into the layer that produced its input
(batch-norm, activations, dropout: folded into the preceding conv on deployment), or marks it as
shape bookkeeping (``x.size()``) that carries no tensor. Anything else is an
`UnsupportedOperationError` naming the operation and where it sits in the model.
"""

from __future__ import annotations

import contextlib
import io
import math
import operator
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import networkx as nx
import torch
import torch.nn.functional as F
from torch import fx, nn
from torch.fx.passes.shape_prop import ShapeProp

from codesign.core.errors import UnsupportedOperationError, WorkloadError
from codesign.core.types import LayerSpec, OpKind
from codesign.workload.attention import MatMul, trace, traced
from codesign.workload.graph import LayerGraph

FUSE = "fuse"  # folded into the producer of its first tensor input
SKIP = "skip"  # carries no tensor (shape queries)
# folded into its producer when that is a conv / linear / matmul (a lookup table in the
# requantisation that ends the layer), else an ACT layer priced per element
FUSE_OR_ACT = "fuse-or-act"

Rule = Callable[["_Ctx", fx.Node, Any], LayerSpec] | str


class _Ctx:
    """What a rule needs: the input and output shapes of the node."""

    def __init__(self, node: fx.Node) -> None:
        self.node = node
        self.in_shapes = [tuple(n.meta["tensor_meta"].shape) for n in _tensor_inputs(node)]
        self.out_shape = tuple(node.meta["tensor_meta"].shape)

    @property
    def in_shape(self) -> tuple[int, ...]:
        return self.in_shapes[0] if self.in_shapes else ()


def _pair(v: Any) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


def _window(ctx: _Ctx, m: nn.Module) -> tuple[int, int, int, int, tuple[int, int], tuple[int, int]]:
    """(OY, OX, FY, FX, stride, padding) of a 1-D or 2-D conv-like module; a 1-D signal is
    one row. `UnsupportedOperationError` for other ranks."""
    spatial = len(ctx.out_shape) - 2
    pad = m.padding if not isinstance(m.padding, str) else 0
    if spatial == 2:
        fy, fx_ = m.kernel_size
        oy, ox = ctx.out_shape[2], ctx.out_shape[3]
        return oy, ox, int(fy), int(fx_), _pair(m.stride), _pair(pad)
    if spatial == 1:
        p1 = int(pad[0]) if isinstance(pad, (tuple, list)) else int(pad)
        return 1, ctx.out_shape[2], 1, int(m.kernel_size[0]), (1, int(m.stride[0])), (0, p1)
    raise UnsupportedOperationError(f"{type(m).__name__} with {spatial} spatial dims")


def _conv(ctx: _Ctx, node: fx.Node, m: nn.Module) -> LayerSpec:
    n, k = ctx.out_shape[0], ctx.out_shape[1]
    oy, ox, fy, fx_, stride, padding = _window(ctx, m)
    groups = m.groups
    cin = m.in_channels
    if groups == 1:
        kind = OpKind.CONV
    elif groups == cin:
        kind = OpKind.DWCONV
    else:
        kind = OpKind.GCONV
    return LayerSpec(
        name=str(node.target),
        kind=kind,
        N=n,
        K=k,
        C=cin // groups,
        OY=oy,
        OX=ox,
        FY=fy,
        FX=fx_,
        stride=stride,
        padding=padding,
        groups=groups,
        input_shape=ctx.in_shape,
        output_shape=ctx.out_shape,
        has_bias=m.bias is not None,
        source=str(node.target),
    )


def _linear(ctx: _Ctx, node: fx.Node, m: nn.Module) -> LayerSpec:
    n = math.prod(ctx.in_shape[:-1]) if len(ctx.in_shape) > 1 else 1
    return LayerSpec(
        name=str(node.target),
        kind=OpKind.LINEAR,
        N=n,
        K=m.out_features,
        C=m.in_features,
        input_shape=ctx.in_shape,
        output_shape=ctx.out_shape,
        has_bias=m.bias is not None,
        source=str(node.target),
    )


def _tconv(ctx: _Ctx, node: fx.Node, m: nn.Module) -> LayerSpec:
    if m.groups != 1:
        raise UnsupportedOperationError(f"{type(m).__name__} with groups={m.groups}")
    if any(int(d) != 1 for d in m.dilation):
        raise UnsupportedOperationError(f"{type(m).__name__} with dilation {m.dilation}")
    oy, ox, fy, fx_, stride, padding = _window(ctx, m)
    return LayerSpec(
        name=str(node.target),
        kind=OpKind.TCONV,
        N=ctx.out_shape[0],
        K=m.out_channels,
        C=m.in_channels,
        OY=oy,
        OX=ox,
        FY=fy,
        FX=fx_,
        stride=stride,
        padding=padding,
        input_shape=ctx.in_shape,
        output_shape=ctx.out_shape,
        has_bias=m.bias is not None,
        source=str(node.target),
    )


def _matmul(ctx: _Ctx, node: fx.Node, _: nn.Module) -> LayerSpec:
    if len(ctx.in_shapes) != 2 or min(len(s) for s in ctx.in_shapes) < 2:
        raise UnsupportedOperationError(
            f"matmul of shapes {ctx.in_shapes}: both operands must be matrices (2-d or more)"
        )
    a, b = ctx.in_shapes
    osh = ctx.out_shape
    return LayerSpec(
        name=str(node.target),
        kind=OpKind.MATMUL,
        N=math.prod(osh[:-2]),
        K=b[-1],
        C=a[-1],
        OY=a[-2],
        input_shape=a,
        output_shape=osh,
        source=str(node.target),
    )


def _upsample(ctx: _Ctx, node: fx.Node, m: Any) -> LayerSpec:
    mode = getattr(m, "mode", None) if m is not None else None
    if mode is None:
        mode = node.kwargs.get("mode", node.args[3] if len(node.args) > 3 else "nearest")
    if mode not in ("nearest", "bilinear", "linear"):
        raise UnsupportedOperationError(f"interpolation mode '{mode}'")
    name = str(node.target) if node.op == "call_module" else node.name
    osh = ctx.out_shape
    return LayerSpec(
        name=name,
        kind=OpKind.UPSAMPLE,
        N=osh[0],
        K=osh[1] if len(osh) > 1 else 1,
        C=osh[1] if len(osh) > 1 else 1,
        OY=osh[2] if len(osh) > 3 else 1,
        OX=osh[-1] if len(osh) > 2 else 1,
        input_shape=ctx.in_shape,
        output_shape=osh,
        source=name,
        mode="nearest" if mode == "nearest" else "bilinear",
    )


def _pool_spec(ctx: _Ctx, node: fx.Node, kind: OpKind, name: str) -> LayerSpec:
    ish, osh = ctx.in_shape, ctx.out_shape
    if len(ish) == 4 and len(osh) == 4:
        fy = max(1, math.ceil(ish[2] / osh[2]))
        fx_ = max(1, math.ceil(ish[3] / osh[3]))
        oy, ox = osh[2], osh[3]
    elif len(ish) == 3 and len(osh) == 3:
        fy, oy = 1, 1
        fx_, ox = max(1, math.ceil(ish[2] / osh[2])), osh[2]
    elif len(ish) == 4 and len(osh) == 2:  # mean over (H, W)
        fy, fx_, oy, ox = ish[2], ish[3], 1, 1
    elif len(ish) == 3 and len(osh) == 2:  # over the tokens or the length of a sequence
        reduced = 1 if osh[1] == ish[2] and ish[1] != ish[2] else 2
        k = ish[3 - reduced]
        return LayerSpec(
            name=name,
            kind=kind,
            N=ish[0],
            K=k,
            C=k,
            FX=ish[reduced],
            input_shape=ish,
            output_shape=osh,
            source=str(node.target),
        )
    else:
        raise UnsupportedOperationError(f"pooling from shape {ish} to {osh}")
    k = ish[1]
    return LayerSpec(
        name=name,
        kind=kind,
        N=ish[0],
        K=k,
        C=k,
        OY=oy,
        OX=ox,
        FY=fy,
        FX=fx_,
        input_shape=ish,
        output_shape=osh,
        source=str(node.target),
    )


def _pool_module(kind: OpKind) -> Rule:
    def rule(ctx: _Ctx, node: fx.Node, m: nn.Module) -> LayerSpec:
        spec = _pool_spec(ctx, node, kind, str(node.target))
        ks = getattr(m, "kernel_size", None)
        if ks is not None and len(ctx.in_shape) == 4:
            fy, fx_ = _pair(ks)
            spec = LayerSpec(**{**spec.__dict__, "FY": fy, "FX": fx_, "stride": _pair(m.stride)})
        return spec

    return rule


def _pool_function(kind: OpKind) -> Rule:
    return lambda ctx, node, _: _pool_spec(ctx, node, kind, node.name)


def _reduce(kind: OpKind) -> Rule:
    """mean / amax over the spatial dims of a map, or over one dim of a sequence [B, T, D]."""

    def rule(ctx: _Ctx, node: fx.Node, _: Any) -> LayerSpec:
        dims = node.args[1] if len(node.args) > 1 else node.kwargs.get("dim")
        dims = tuple(dims) if isinstance(dims, (tuple, list)) else (dims,)
        nd = len(ctx.in_shape)
        keep = node.kwargs.get("keepdim", node.args[2] if len(node.args) > 2 else False)
        if None in dims or any(not isinstance(d, int) for d in dims):
            raise UnsupportedOperationError(f"reduction over dims {dims}")
        norm = {d % nd for d in dims}
        if (nd == 4 and norm == {2, 3}) or (nd == 3 and (norm == {2} or norm == {1} and not keep)):
            return _pool_spec(ctx, node, kind, node.name)
        raise UnsupportedOperationError(
            f"reduction over dims {dims} of a {nd}-d tensor (keepdim={keep})"
        )

    return rule


_mean = _reduce(OpKind.AVGPOOL)


def _eltwise(kind: OpKind) -> Rule:
    def rule(ctx: _Ctx, node: fx.Node, _: Any) -> LayerSpec | str:
        if len(ctx.in_shapes) < 2:  # x + 1, x * 0.5: a constant folded into the producer
            return FUSE
        osh = ctx.out_shape
        k = osh[1] if len(osh) > 1 else 1
        oy = osh[2] if len(osh) > 2 else 1
        ox = osh[3] if len(osh) > 3 else 1
        return LayerSpec(
            name=node.name,
            kind=kind,
            N=osh[0],
            K=k,
            C=k,
            OY=oy,
            OX=ox,
            input_shape=ctx.in_shape,
            output_shape=osh,
            source=node.name,
        )

    return rule


def _simple(kind: OpKind) -> Rule:
    def rule(ctx: _Ctx, node: fx.Node, _: Any) -> LayerSpec:
        name = str(node.target) if node.op == "call_module" else node.name
        osh = ctx.out_shape
        return LayerSpec(
            name=name,
            kind=kind,
            N=osh[0] if osh else 1,
            K=osh[1] if len(osh) > 1 else 1,
            input_shape=ctx.in_shape,
            output_shape=osh,
            source=name,
        )

    return rule


# clamps and piecewise-linear activations: always folded into the requantisation before them
_CLAMPS = (nn.ReLU, nn.ReLU6, nn.LeakyReLU, nn.Hardtanh, nn.PReLU)
# non-linear activations: a lookup table after a conv / linear / matmul, else priced
_NONLINEAR = (nn.Hardswish, nn.Hardsigmoid, nn.Sigmoid, nn.SiLU, nn.GELU, nn.Tanh, nn.ELU)

# One registry: module class -> rule. Subclasses match through the MRO.
_MODULE_RULES: dict[type, Rule] = {
    nn.Conv1d: _conv,
    nn.Conv2d: _conv,
    nn.ConvTranspose1d: _tconv,
    nn.ConvTranspose2d: _tconv,
    nn.Linear: _linear,
    MatMul: _matmul,
    nn.LayerNorm: _simple(OpKind.NORM),
    nn.GroupNorm: _simple(OpKind.NORM),
    nn.Softmax: _simple(OpKind.SOFTMAX),
    nn.LogSoftmax: _simple(OpKind.SOFTMAX),
    nn.Upsample: _upsample,
    nn.UpsamplingNearest2d: _upsample,
    nn.UpsamplingBilinear2d: _upsample,
    nn.AdaptiveMaxPool1d: _pool_module(OpKind.MAXPOOL),
    nn.MaxPool1d: _pool_module(OpKind.MAXPOOL),
    nn.MaxPool2d: _pool_module(OpKind.MAXPOOL),
    nn.AvgPool1d: _pool_module(OpKind.AVGPOOL),
    nn.AvgPool2d: _pool_module(OpKind.AVGPOOL),
    nn.AdaptiveAvgPool1d: _pool_module(OpKind.AVGPOOL),
    nn.AdaptiveAvgPool2d: _pool_module(OpKind.AVGPOOL),
    nn.AdaptiveMaxPool2d: _pool_module(OpKind.MAXPOOL),
    nn.Flatten: _simple(OpKind.RESHAPE),
    nn.Unflatten: _simple(OpKind.RESHAPE),
    nn.ZeroPad2d: _simple(OpKind.PAD),
    nn.ConstantPad2d: _simple(OpKind.PAD),
    nn.BatchNorm1d: FUSE,
    nn.BatchNorm2d: FUSE,
    nn.Dropout: FUSE,
    nn.Identity: FUSE,
    **{cls: FUSE for cls in _CLAMPS},
    **{cls: FUSE_OR_ACT for cls in _NONLINEAR},
}

_FUNCTION_RULES: dict[Any, Rule] = {
    operator.add: _eltwise(OpKind.ADD),
    operator.iadd: _eltwise(OpKind.ADD),
    torch.add: _eltwise(OpKind.ADD),
    operator.mul: _eltwise(OpKind.MUL),
    torch.mul: _eltwise(OpKind.MUL),
    operator.truediv: FUSE,
    torch.flatten: _simple(OpKind.RESHAPE),
    torch.reshape: _simple(OpKind.RESHAPE),
    torch.cat: _simple(OpKind.CONCAT),
    F.pad: _simple(OpKind.PAD),
    torch.mean: _mean,
    torch.amax: _reduce(OpKind.MAXPOOL),
    F.layer_norm: _simple(OpKind.NORM),
    F.group_norm: _simple(OpKind.NORM),
    F.softmax: _simple(OpKind.SOFTMAX),
    torch.softmax: _simple(OpKind.SOFTMAX),
    F.log_softmax: _simple(OpKind.SOFTMAX),
    F.interpolate: _upsample,
    torch.transpose: _simple(OpKind.RESHAPE),
    torch.permute: _simple(OpKind.RESHAPE),
    torch.squeeze: _simple(OpKind.RESHAPE),
    torch.unsqueeze: _simple(OpKind.RESHAPE),
    F.adaptive_avg_pool2d: _pool_function(OpKind.AVGPOOL),
    F.avg_pool2d: _pool_function(OpKind.AVGPOOL),
    F.max_pool2d: _pool_function(OpKind.MAXPOOL),
    F.adaptive_max_pool2d: _pool_function(OpKind.MAXPOOL),
    F.adaptive_avg_pool1d: _pool_function(OpKind.AVGPOOL),
    torch.adaptive_avg_pool1d: _pool_function(OpKind.AVGPOOL),
    F.avg_pool1d: _pool_function(OpKind.AVGPOOL),
    torch.avg_pool1d: _pool_function(OpKind.AVGPOOL),
    F.max_pool1d: _pool_function(OpKind.MAXPOOL),
    torch.max_pool1d: _pool_function(OpKind.MAXPOOL),
    **{
        f: FUSE
        for f in (F.relu, torch.relu, F.relu6, F.leaky_relu, F.hardtanh, F.dropout, F.batch_norm)
    },
    **{
        f: FUSE_OR_ACT
        for f in (F.hardswish, F.sigmoid, torch.sigmoid, F.silu, F.gelu, torch.tanh, F.elu)
    },
    getattr: SKIP,
    operator.getitem: _simple(OpKind.RESHAPE),  # a slice or an index: addressing only
}

_METHOD_RULES: dict[str, Rule] = {
    **{
        m: _simple(OpKind.RESHAPE)
        for m in (
            "view",
            "reshape",
            "flatten",
            "unflatten",
            "transpose",
            "permute",
            "squeeze",
            "unsqueeze",
            "expand",
        )
    },
    **{m: FUSE for m in ("contiguous", "relu", "clone")},
    **{m: FUSE_OR_ACT for m in ("sigmoid", "tanh")},
    "softmax": _simple(OpKind.SOFTMAX),
    "add": _eltwise(OpKind.ADD),
    "mul": _eltwise(OpKind.MUL),
    "mean": _mean,
    "amax": _reduce(OpKind.MAXPOOL),
    **{m: SKIP for m in ("size", "dim")},
}


def _tensor_inputs(node: fx.Node) -> list[fx.Node]:
    return [n for n in node.all_input_nodes if "tensor_meta" in n.meta and _is_tensor(n)]


def _is_tensor(node: fx.Node) -> bool:
    meta = node.meta.get("tensor_meta")
    return meta is not None and hasattr(meta, "shape")


def _module_rule(m: nn.Module) -> Rule | None:
    for cls in type(m).__mro__:
        if cls in _MODULE_RULES:
            return _MODULE_RULES[cls]
    return None


def _describe(node: fx.Node, gm: fx.GraphModule) -> str:
    if node.op == "call_module":
        m = gm.get_submodule(str(node.target))
        return f"module '{node.target}' ({type(m).__module__}.{type(m).__name__})"
    if node.op == "call_function":
        fn = node.target
        qual = f"{getattr(fn, '__module__', '')}.{getattr(fn, '__name__', fn)}"
        return f"function {qual} at '{node.name}'"
    return f"{node.op} '{node.target}' at '{node.name}'"


def extract(model: nn.Module, example_input: torch.Tensor, name: str | None = None) -> LayerGraph:
    """Trace `model` on `example_input` and return its `LayerGraph`.

    Batch-norm, activation and dropout nodes are fused into the layer that produced their
    input (a non-linear activation only into a conv / linear / matmul; elsewhere it is an
    ACT layer). Attention modules and activation matmuls are first rewritten by
    `codesign.workload.attention.make_traceable`. Raises `UnsupportedOperationError` naming
    the first operation it cannot represent, and `WorkloadError` when the model cannot be
    traced at all.
    """
    was_training = model.training
    model.eval()
    try:
        rewritten, gm = traced(model)  # the rewrite traces the model in eval mode once
        try:
            gm = gm if gm is not None else trace(rewritten)
        except Exception as exc:  # fx raises many types for untraceable control flow
            raise WorkloadError(
                f"torch.fx cannot trace {type(model).__name__}: {exc}".splitlines()[0]
            ) from exc
        try:
            # ShapeProp prints the traceback of a failing node itself; the error says it all
            with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
                ShapeProp(gm).propagate(example_input)
        except Exception as exc:
            cause = exc.__cause__ or exc  # ShapeProp wraps the model's own error
            raise WorkloadError(
                f"running {type(model).__name__} on an input of shape "
                f"{tuple(example_input.shape)} failed: {type(cause).__name__}: "
                f"{cause}".splitlines()[0]
            ) from exc
    finally:
        model.train(was_training)

    g = nx.DiGraph()
    order: list[str] = []
    producer: dict[fx.Node, str] = {}
    fused: dict[str, list[str]] = {}  # layer -> module paths folded into it (BN, ReLU, ...)

    def add(spec: LayerSpec, node: fx.Node) -> None:
        name_ = spec.name
        i = 2
        while name_ in g:
            name_ = f"{spec.name}#{i}"
            i += 1
        if name_ != spec.name:
            spec = LayerSpec(**{**spec.__dict__, "name": name_})
        g.add_node(name_, spec=spec)
        order.append(name_)
        for src in _tensor_inputs(node):
            p = producer.get(src)
            if p is not None:
                g.add_edge(p, name_, elems=math.prod(src.meta["tensor_meta"].shape))
        producer[node] = name_

    for node in gm.graph.nodes:
        if node.op == "placeholder":
            if not _is_tensor(node):
                continue
            shape = tuple(node.meta["tensor_meta"].shape)
            spec = LayerSpec(
                name=node.name,
                kind=OpKind.INPUT,
                N=shape[0],
                K=shape[1] if len(shape) > 1 else 1,
                output_shape=shape,
                source=node.name,
            )
            add(spec, node)
            continue
        if node.op in ("output", "get_attr"):
            continue
        if node.op == "call_module":
            target = gm.get_submodule(str(node.target))
            rule = _module_rule(target)
        elif node.op == "call_function":
            target = None
            rule = _FUNCTION_RULES.get(node.target)
        else:  # call_method
            target = None
            rule = _METHOD_RULES.get(str(node.target))
        if rule is None:
            if not _is_tensor(node):
                continue  # python-level bookkeeping on shapes
            raise UnsupportedOperationError(
                f"unsupported operation: {_describe(node, gm)}; codesign cannot price it. "
                "Supported: conv1d/2d (incl. depthwise, grouped, transposed), linear, "
                "matmul of two activations, multi-head attention, layer / group norm, "
                "softmax, upsampling, pooling, add, mul, concat, reshapes, pad, batch-norm "
                "and activations."
            )
        if rule == SKIP or not _is_tensor(node):
            continue
        if rule == FUSE_OR_ACT:
            ins = _tensor_inputs(node)
            src = producer.get(ins[0]) if ins else None
            if src is not None and g.nodes[src]["spec"].kind.quantized:
                rule = FUSE
            else:
                rule = _simple(OpKind.ACT)
        if rule == FUSE:
            ins = _tensor_inputs(node)
            if not ins or ins[0] not in producer:
                raise UnsupportedOperationError(
                    f"{_describe(node, gm)} has no tensor input to fuse into"
                )
            producer[node] = producer[ins[0]]
            if node.op == "call_module":
                fused.setdefault(producer[node], []).append(str(node.target))
            continue
        try:
            spec = rule(_Ctx(node), node, target)
        except UnsupportedOperationError as exc:
            raise UnsupportedOperationError(f"{_describe(node, gm)}: {exc}") from exc
        if spec == FUSE:
            producer[node] = producer[_tensor_inputs(node)[0]]
            continue
        add(spec, node)

    for layer, modules in fused.items():
        g.nodes[layer]["spec"] = replace(g.nodes[layer]["spec"], fused=tuple(modules))
    return LayerGraph(g, order, name=name or type(model).__name__)
