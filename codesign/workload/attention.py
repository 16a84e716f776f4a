"""Attention made traceable: every activation x activation matmul becomes a `MatMul` module.

torch.fx sees ``nn.MultiheadAttention`` and ``nn.TransformerEncoder(Layer)`` as opaque leaves
(their forwards branch on tensor flags), and sees ``q @ k.transpose(-2, -1)`` as a bare
function call with no module a quantizer could wrap. `make_traceable` rewrites a model once,
before anything else reads it, so that extraction, quantization and training see the same
thing:

- each ``nn.MultiheadAttention`` becomes an `Attention` with separate q / k / v / out
  ``nn.Linear`` layers (the packed weights copied exactly), a `MatMul` for the scores, a
  softmax and a `MatMul` for the weighted values;
- each ``nn.TransformerEncoderLayer`` becomes an `EncoderLayer` (its `Attention`, its feed-
  forward linears, norms and residual adds, pre- or post-norm as configured), and each
  ``nn.TransformerEncoder`` an `Encoder` over them;
- each remaining matmul of two activations (``torch.matmul``, ``@``, ``torch.bmm``,
  ``.matmul``, ``.bmm``) becomes a call of a `MatMul` module named after the module whose
  forward holds it (``blocks.0.attn.matmul``, then ``matmul_1``, ...), so every matmul has a
  module path like a conv or a linear.

A model with none of these is returned as it is (same object). Outputs are unchanged: the
rewritten model computes the same function (tested against the torch modules).
"""

from __future__ import annotations

import copy
import math
import operator

import torch
import torch.nn.functional as F
from torch import Tensor, fx, nn

from codesign.core.errors import WorkloadError


class MatMul(nn.Module):
    """``a @ b`` of two activation tensors, as a module (a quantizer wraps it like a layer)."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """The (batched) matrix product."""
        return torch.matmul(a, b)


class Attention(nn.Module):
    """Multi-head scaled dot-product attention with its projections and matmuls as modules.

    Computes what ``nn.MultiheadAttention`` computes (no dropout at inference); `forward`
    takes its arguments and returns ``(output, None)``. An additive float `attn_mask` is
    added to the scores; a key padding mask, bias_k / bias_v and add_zero_attn are refused.
    """

    def __init__(self, embed_dim: int, num_heads: int, batch_first: bool = False) -> None:
        super().__init__()
        if embed_dim % num_heads:
            raise WorkloadError(f"attention: embed_dim {embed_dim} not divisible by {num_heads}")
        self.embed_dim, self.num_heads, self.batch_first = embed_dim, num_heads, batch_first
        self.head_dim = embed_dim // num_heads
        self.q = nn.Linear(embed_dim, embed_dim)
        self.k = nn.Linear(embed_dim, embed_dim)
        self.v = nn.Linear(embed_dim, embed_dim)
        self.qk = MatMul()
        self.softmax = nn.Softmax(dim=-1)
        self.av = MatMul()
        self.out = nn.Linear(embed_dim, embed_dim)

    @classmethod
    def from_mha(cls, mha: nn.MultiheadAttention, where: str) -> Attention:
        """The `Attention` computing what `mha` computes, with its weights."""
        if mha.bias_k is not None or mha.add_zero_attn:
            raise WorkloadError(
                f"module '{where}' (nn.MultiheadAttention): add_bias_kv / add_zero_attn are "
                "not supported"
            )
        kdim, vdim = mha.kdim, mha.vdim
        att = cls(mha.embed_dim, mha.num_heads, mha.batch_first)
        if kdim != mha.embed_dim:
            att.k = nn.Linear(kdim, mha.embed_dim)
        if vdim != mha.embed_dim:
            att.v = nn.Linear(vdim, mha.embed_dim)
        E = mha.embed_dim
        with torch.no_grad():
            if mha.in_proj_weight is not None:
                ws = mha.in_proj_weight.split(E)
            else:
                ws = (mha.q_proj_weight, mha.k_proj_weight, mha.v_proj_weight)
            bs = mha.in_proj_bias.split(E) if mha.in_proj_bias is not None else (None,) * 3
            for lin, w, b in zip((att.q, att.k, att.v), ws, bs):
                lin.weight.copy_(w)
                if b is None:
                    lin.bias = None
                else:
                    lin.bias.copy_(b)
            att.out.weight.copy_(mha.out_proj.weight)
            if mha.out_proj.bias is None:
                att.out.bias = None
            else:
                att.out.bias.copy_(mha.out_proj.bias)
        return att

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Tensor | None = None,
        need_weights: bool = True,
        attn_mask: Tensor | None = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, None]:
        """Attention output (and None where ``nn.MultiheadAttention`` returns its weights)."""
        if key_padding_mask is not None or is_causal:
            raise WorkloadError(
                "codesign's attention takes an additive float attn_mask only "
                "(no key_padding_mask, no is_causal)"
            )
        if not self.batch_first:
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        h, d = self.num_heads, self.head_dim
        q = self.q(query).unflatten(-1, (h, d)).transpose(1, 2)
        k = self.k(key).unflatten(-1, (h, d)).transpose(1, 2)
        v = self.v(value).unflatten(-1, (h, d)).transpose(1, 2)
        scores = self.qk(q * (1.0 / math.sqrt(d)), k.transpose(-2, -1))
        if attn_mask is not None:
            scores = scores + attn_mask
        ctx = self.av(self.softmax(scores), v).transpose(1, 2).flatten(2)
        out = self.out(ctx)
        if not self.batch_first:
            out = out.transpose(0, 1)
        return out, None


class EncoderLayer(nn.Module):
    """``nn.TransformerEncoderLayer`` with an `Attention` (same weights, same outputs)."""

    def __init__(self, layer: nn.TransformerEncoderLayer, where: str) -> None:
        super().__init__()
        self.self_attn = Attention.from_mha(layer.self_attn, f"{where}.self_attn")
        self.linear1, self.linear2 = layer.linear1, layer.linear2
        self.norm1, self.norm2 = layer.norm1, layer.norm2
        self.norm_first = layer.norm_first
        act = layer.activation
        if isinstance(act, nn.Module):
            self.activation = act
        elif act is F.relu:
            self.activation = nn.ReLU()
        elif act is F.gelu:
            self.activation = nn.GELU()
        else:
            raise WorkloadError(
                f"module '{where}' (nn.TransformerEncoderLayer): activation {act!r} not supported"
            )

    def _sa(self, x: Tensor, mask: Tensor | None) -> Tensor:
        return self.self_attn(x, x, x, attn_mask=mask)[0]

    def _ff(self, x: Tensor) -> Tensor:
        return self.linear2(self.activation(self.linear1(x)))

    def forward(
        self,
        src: Tensor,
        src_mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool = False,
    ) -> Tensor:
        """Self-attention and feed-forward blocks with residual adds."""
        if src_key_padding_mask is not None:
            raise WorkloadError("codesign's encoder layer takes no src_key_padding_mask")
        x = src
        if self.norm_first:
            x = x + self._sa(self.norm1(x), src_mask)
            return x + self._ff(self.norm2(x))
        x = self.norm1(x + self._sa(x, src_mask))
        return self.norm2(x + self._ff(x))


class Encoder(nn.Module):
    """``nn.TransformerEncoder`` over `EncoderLayer`s, with its final norm."""

    def __init__(self, enc: nn.TransformerEncoder, where: str) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            EncoderLayer(layer, f"{where}.layers.{i}") for i, layer in enumerate(enc.layers)
        )
        self.norm = enc.norm

    def forward(
        self,
        src: Tensor,
        mask: Tensor | None = None,
        src_key_padding_mask: Tensor | None = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """Every layer in turn, then the final norm when there is one."""
        x = src
        for layer in self.layers:
            x = layer(x, mask, src_key_padding_mask)
        return self.norm(x) if self.norm is not None else x


class Tracer(fx.Tracer):
    """The fx tracer codesign uses: `MatMul` modules stay leaves (called, not traced into)."""

    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        """torch.nn modules and `MatMul`s are leaves."""
        return isinstance(m, MatMul) or super().is_leaf_module(m, qualname)


def trace(model: nn.Module) -> fx.GraphModule:
    """`model` traced with `Tracer`."""
    graph = Tracer().trace(model)
    name = type(model).__name__
    return fx.GraphModule(model, graph, name)


_MATMULS = {operator.matmul, torch.matmul, torch.bmm}


def _replace_modules(model: nn.Module) -> bool:
    """Swap MultiheadAttention / TransformerEncoder(Layer) modules in place; True if any."""
    changed = False
    for path, m in list(model.named_modules()):
        if not path:
            continue
        new: nn.Module | None = None
        if isinstance(m, nn.TransformerEncoder):
            new = Encoder(m, path)
        elif isinstance(m, nn.TransformerEncoderLayer):
            new = EncoderLayer(m, path)
        elif isinstance(m, nn.MultiheadAttention):
            new = Attention.from_mha(m, path)
        if new is None:
            continue
        parent_path, _, leaf = path.rpartition(".")
        try:
            parent = model.get_submodule(parent_path) if parent_path else model
        except AttributeError:  # inside a module already replaced
            continue
        if getattr(parent, leaf, None) is not m:
            continue
        setattr(parent, leaf, new)
        changed = True
    return changed


def _input_dependent(graph: fx.Graph) -> dict[fx.Node, bool]:
    """Per node, whether it depends on the model's input (not only on parameters and
    constants, e.g. ``self.w.t()``); one pass in the graph's topological order."""
    dep: dict[fx.Node, bool] = {}
    for node in graph.nodes:
        dep[node] = node.op == "placeholder" or any(dep.get(n, False) for n in node.all_input_nodes)
    return dep


def make_traceable(model: nn.Module) -> nn.Module:
    """`model` with attention modules and activation matmuls rewritten (module docstring);
    the same object when there is nothing to rewrite. The input model is never changed."""
    return traced(model)[0]


def traced(model: nn.Module) -> tuple[nn.Module, fx.GraphModule | None]:
    """(`make_traceable(model)`, its fx trace with `Tracer`, None where fx cannot trace it):
    the trace the rewrite needs anyway, for a caller that traces next (extraction)."""
    kinds = (nn.MultiheadAttention, nn.TransformerEncoder, nn.TransformerEncoderLayer)
    work = model
    if isinstance(model, kinds):
        raise WorkloadError(
            f"the model is a bare {type(model).__name__}; wrap it in a module of your own"
        )
    if any(isinstance(m, kinds) for m in model.modules()):
        work = copy.deepcopy(model)
        _replace_modules(work)
    try:
        gm = trace(work)
    except Exception:  # untraceable: extraction reports it with the reason
        return work, None
    targets = []
    dep = _input_dependent(gm.graph)
    for node in gm.graph.nodes:
        is_mm = (node.op == "call_function" and node.target in _MATMULS) or (
            node.op == "call_method" and node.target in ("matmul", "bmm")
        )
        if is_mm and len(node.args) >= 2:
            a, b = node.args[0], node.args[1]
            if isinstance(a, fx.Node) and isinstance(b, fx.Node):
                if not (dep[a] and dep[b]):
                    raise WorkloadError(
                        f"'{node.name}': a matmul with a parameter operand; use nn.Linear "
                        "for weights, so they can be quantized"
                    )
                targets.append(node)
    if not targets:
        return work, gm
    used: set[str] = {n for n, _ in gm.named_modules()}
    for node in targets:
        stack = node.meta.get("nn_module_stack") or {}
        owner = next(reversed(stack)) if stack else ""
        base = f"{owner}.matmul" if owner else "matmul"
        name, i = base, 1
        while name in used or _attr_taken(work, name):
            name = f"{base}_{i}"
            i += 1
        used.add(name)
        gm.add_submodule(name, MatMul())
        with gm.graph.inserting_after(node):
            new = gm.graph.call_module(name, (node.args[0], node.args[1]))
        node.replace_all_uses_with(new)
        gm.graph.erase_node(node)
    gm.graph.lint()
    gm.recompile()
    return gm, gm


def _attr_taken(model: nn.Module, path: str) -> bool:
    owner, _, leaf = path.rpartition(".")
    try:
        m = model.get_submodule(owner) if owner else model
    except AttributeError:
        return False
    return hasattr(m, leaf)
