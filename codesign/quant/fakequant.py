"""Fake quantization with learned step sizes (LSQ, Esser et al. ICLR 2020).

Weights: symmetric, one step size per output channel, each channel at its own bit-width; a
0-bit channel is pruned (weights and bias forced to zero). Activations: one step size per layer,
unsigned when the calibration batch is non-negative (after ReLU), signed otherwise.
Rounding uses the straight-through estimator; step sizes are initialised by a per-channel
mean-squared-error search over clipping ratios, then learned.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

_CLIP_RATIOS = torch.linspace(0.15, 1.0, 35)
_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d)
WEIGHTED_MODULES = (nn.Conv1d, nn.Conv2d, nn.Linear, *_TRANSPOSED)


class _RoundSTE(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor) -> Tensor:  # noqa: ANN001
        return torch.round(x)

    @staticmethod
    def backward(ctx, g: Tensor) -> Tensor:  # noqa: ANN001
        return g


def _grad_scale(x: Tensor, scale: float) -> Tensor:
    return (x - x * scale).detach() + x * scale


def fake_quant(x: Tensor, step: Tensor, qmin: Tensor | float, qmax: Tensor | float) -> Tensor:
    """Quantize-dequantize `x` on the grid ``step * [qmin..qmax]`` (LSQ gradients)."""
    q = torch.clamp(_RoundSTE.apply(x / step), qmin, qmax)
    return q * step


def weight_range(bits: Tensor) -> tuple[Tensor, Tensor]:
    """Signed integer range (qmin, qmax) per entry of `bits`; (0, 0) where bits == 0."""
    b = bits.to(torch.float32)
    qmax = torch.where(b > 0, 2.0 ** (b - 1) - 1, torch.zeros_like(b))
    qmin = torch.where(b > 0, -(2.0 ** (b - 1)), torch.zeros_like(b))
    # 1-bit signed would be {-1, 0}; use a symmetric binary grid instead
    qmax = torch.where(b == 1, torch.ones_like(b), qmax)
    qmin = torch.where(b == 1, -torch.ones_like(b), qmin)
    return qmin, qmax


def mse_step(x: Tensor, qmin: Tensor, qmax: Tensor, dim: int | None) -> Tensor:
    """Step size minimising the quantization MSE of `x`, per slice along `dim` (or overall)."""
    if dim is None:
        flat = x.reshape(1, -1)
    else:
        flat = x.transpose(0, dim).reshape(x.shape[dim], -1)
    qmin = torch.as_tensor(qmin, dtype=flat.dtype).reshape(-1, 1)
    qmax = torch.as_tensor(qmax, dtype=flat.dtype).reshape(-1, 1)
    span = torch.maximum(qmax, -qmin).clamp(min=1.0)
    amax = flat.abs().amax(dim=1, keepdim=True).clamp(min=1e-8)
    best_err = torch.full_like(amax, float("inf"))
    best = amax / span
    for r in _CLIP_RATIOS:
        step = r * amax / span
        err = ((torch.clamp(torch.round(flat / step), qmin, qmax) * step - flat) ** 2).mean(1, True)
        better = err < best_err
        best = torch.where(better, step, best)
        best_err = torch.where(better, err, best_err)
    return best.reshape(-1)


class QuantLayer(nn.Module):
    """A conv / linear layer with fake-quantized input activations and per-channel weights.

    `act_bits` None leaves the input at full precision; `weight_bits` holds one entry per
    output channel (0 = pruned) or is None for full-precision weights. `set_bits` switches
    the precision in place (weights kept, step sizes re-initialised), so one wrapped model
    serves every candidate. `bypass` runs the layer at full precision for a while (stochastic
    precision during fine-tuning).
    """

    def __init__(
        self, inner: nn.Module, act_bits: int | None, weight_bits: list[int] | None
    ) -> None:
        super().__init__()
        if not isinstance(inner, WEIGHTED_MODULES):
            raise TypeError(f"QuantLayer wraps conv / linear layers, not {type(inner).__name__}")
        if isinstance(inner, _TRANSPOSED) and inner.groups != 1:
            raise TypeError(f"QuantLayer wraps transposed convs with groups=1, not {inner.groups}")
        self.inner = inner
        # output channels: dimension 1 of a transposed conv's weight, else dimension 0
        self.axis = 1 if isinstance(inner, _TRANSPOSED) else 0
        k = inner.weight.shape[self.axis]
        self.w_step = nn.Parameter(torch.ones(k))
        self.a_step = nn.Parameter(torch.ones(()))
        self.register_buffer("weight_bits", torch.zeros(k, dtype=torch.int64))
        self.register_buffer("w_qmin", torch.zeros(k))
        self.register_buffer("w_qmax", torch.zeros(k))
        self.register_buffer("keep", torch.ones(k))
        self.register_buffer("a_signed", torch.zeros((), dtype=torch.bool))
        self.register_buffer("a_ready", torch.zeros((), dtype=torch.bool))
        self.act_bits: int | None = None
        self.quantize_weights = False
        self.bypass = False
        self.set_bits(act_bits, weight_bits)

    def set_bits(self, act_bits: int | None, weight_bits: list[int] | Tensor | None) -> None:
        """Switch to new bit-widths in place; re-initialise the affected step sizes."""
        k = self.inner.weight.shape[self.axis]
        if weight_bits is not None:
            bits = torch.as_tensor(weight_bits, dtype=torch.int64).reshape(-1)
            if bits.numel() != k:
                raise ValueError(f"{bits.numel()} weight bit-widths for {k} output channels")
            if not self.quantize_weights or not torch.equal(bits, self.weight_bits):
                qmin, qmax = weight_range(bits)
                with torch.no_grad():
                    self.weight_bits.copy_(bits)
                    self.w_qmin.copy_(qmin)
                    self.w_qmax.copy_(qmax)
                    self.keep.copy_((bits > 0).to(self.keep.dtype))
                    w = self.inner.weight.detach()
                    self.w_step.copy_(mse_step(w, qmin, qmax, dim=self.axis).clamp(min=1e-8))
            self.quantize_weights = True
        else:
            self.quantize_weights = False
            with torch.no_grad():
                self.keep.fill_(1.0)
        if act_bits != self.act_bits:
            self.a_ready.fill_(False)
        self.act_bits = act_bits

    def _view(self, t: Tensor) -> Tensor:
        shape = [1] * self.inner.weight.dim()
        shape[self.axis] = -1
        return t.reshape(shape)

    def quantized_weight(self) -> Tensor:
        """The fake-quantized weight tensor (pruned channels are zero)."""
        w = self.inner.weight
        if not self.quantize_weights or self.bypass:
            return w
        per_channel = w.numel() // w.shape[self.axis]
        g = 1.0 / float(per_channel * max(1.0, float(self.w_qmax.max()))) ** 0.5
        step = _grad_scale(self.w_step, g).abs().clamp(min=1e-8)
        wq = fake_quant(w, self._view(step), self._view(self.w_qmin), self._view(self.w_qmax))
        return wq * self._view(self.keep)

    @torch.no_grad()
    def integer_weights(self) -> tuple[Tensor, Tensor]:
        """(the weights as integers on their grids, pruned channels 0; the step per channel),
        what an exporter writes."""
        s = self.w_step.detach().abs().clamp(min=1e-8)
        w = self.inner.weight.detach()
        q = torch.clamp(
            torch.round(w / self._view(s)), self._view(self.w_qmin), self._view(self.w_qmax)
        )
        return q * self._view(self.keep), s

    def _act_range(self) -> tuple[float, float]:
        return act_range(self.act_bits, bool(self.a_signed))

    def forward(self, x: Tensor) -> Tensor:
        """Quantize the input and the weights, then run the wrapped layer."""
        if self.act_bits is not None and not self.bypass:
            x = quantize_activation(x, self.act_bits, self.a_step, self.a_signed, self.a_ready)
        w = self.quantized_weight()
        bias = self.inner.bias
        if bias is not None and self.quantize_weights:
            bias = bias * self.keep
        return conv_or_linear(self.inner, x, w, bias)

    def extra_repr(self) -> str:
        wb = sorted(set(self.weight_bits.tolist())) if self.quantize_weights else None
        return f"act_bits={self.act_bits}, weight_bits={wb}"


def act_range(bits: int, signed: bool) -> tuple[float, float]:
    """Integer range of a `bits`-bit activation, signed or not."""
    if signed:
        return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
    return 0.0, float(2**bits - 1)


def quantize_activation(
    x: Tensor, bits: int, step: nn.Parameter, signed: Tensor, ready: Tensor
) -> Tensor:
    """`x` fake-quantized at `bits` with the learned `step` (LSQ); on the first call (`ready`
    False) the sign and the step are initialised from `x` (minimum-MSE clipping)."""
    if not bool(ready):
        with torch.no_grad():
            signed.fill_(bool((x < 0).any()))
            lo, hi = act_range(bits, bool(signed))
            step.copy_(mse_step(x.detach(), lo, hi, dim=None)[0].clamp(min=1e-8))
            ready.fill_(True)
    lo, hi = act_range(bits, bool(signed))
    g = 1.0 / float(x[0].numel() * hi) ** 0.5
    return fake_quant(x, _grad_scale(step, g).abs().clamp(min=1e-8), lo, hi)


class QuantMatMul(nn.Module):
    """A `MatMul` of two activations with both operands fake-quantized at the layer's
    activation bits, one learned step size per operand (LSQ). `set_bits(act_bits, _)` has
    `QuantLayer`'s signature; the weight bits are the second operand's, which are the
    activation bits, and are ignored; None runs at full precision."""

    def __init__(self, inner: nn.Module, act_bits: int | None) -> None:
        super().__init__()
        self.inner = inner
        self.a_step = nn.Parameter(torch.ones(2))
        self.register_buffer("a_signed", torch.zeros(2, dtype=torch.bool))
        self.register_buffer("a_ready", torch.zeros(2, dtype=torch.bool))
        self.act_bits: int | None = None
        self.bypass = False
        self.set_bits(act_bits, None)

    def set_bits(self, act_bits: int | None, weight_bits: object = None) -> None:
        """Switch the operands' bit-width in place; the step sizes re-initialise."""
        if act_bits != self.act_bits:
            self.a_ready.fill_(False)
        self.act_bits = act_bits

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``quant(a) @ quant(b)``."""
        if self.act_bits is not None and not self.bypass:
            a = quantize_activation(a, self.act_bits, self.a_step[0:1], *self._state(0))
            b = quantize_activation(b, self.act_bits, self.a_step[1:2], *self._state(1))
        return self.inner(a, b)

    def _state(self, i: int) -> tuple[Tensor, Tensor]:
        return self.a_signed[i], self.a_ready[i]

    def extra_repr(self) -> str:
        return f"act_bits={self.act_bits} (both operands)"


class PrunedNorm(nn.Module):
    """The batch-norm folded into a `QuantLayer`, with that layer's pruned (0-bit) channels set
    to exactly 0 after it, so a pruned channel is removed, not a constant (what the cost model
    prices: its readers drop it). Refers to the layer without owning it (no state of its own).
    """

    def __init__(self, bn: nn.Module, layer: QuantLayer) -> None:
        super().__init__()
        self.bn = bn
        self.attach(layer)

    def attach(self, layer: QuantLayer) -> None:
        """Follow `layer`'s kept channels from now on."""
        object.__setattr__(self, "_layer", layer)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise, then zero the pruned channels."""
        y = self.bn(x)
        layer = self._layer
        if layer.quantize_weights and not layer.bypass and not bool(layer.keep.all()):
            y = y * layer.keep.reshape(1, -1, *([1] * (y.dim() - 2)))
        return y


def conv_or_linear(m: nn.Module, x: Tensor, w: Tensor, bias: Tensor | None) -> Tensor:
    """Run conv / linear module `m` on `x` with weights `w` and `bias` instead of its own."""
    if isinstance(m, nn.Linear):
        return F.linear(x, w, bias)
    if isinstance(m, _TRANSPOSED):
        fn = F.conv_transpose2d if isinstance(m, nn.ConvTranspose2d) else F.conv_transpose1d
        return fn(x, w, bias, m.stride, m.padding, m.output_padding, m.groups, m.dilation)
    if isinstance(m, nn.Conv2d):
        return F.conv2d(x, w, bias, m.stride, m.padding, m.dilation, m.groups)
    return F.conv1d(x, w, bias, m.stride, m.padding, m.dilation, m.groups)


def quant_layers(model: nn.Module) -> dict[str, QuantLayer]:
    """Every `QuantLayer` of `model` by module path."""
    return {n: m for n, m in model.named_modules() if isinstance(m, QuantLayer)}


@torch.no_grad()
def reestimate_bn(model: nn.Module, inputs: Tensor, batch_size: int = 128) -> None:
    """Recompute every batch-norm's running statistics on `inputs` under the current quantization.

    Statistics are reset and accumulated as an exact average over the batches (momentum None);
    the model is left in eval mode.
    """
    bns = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    if not bns:
        model.eval()
        return
    saved = [bn.momentum for bn in bns]
    for bn in bns:
        bn.reset_running_stats()
        bn.momentum = None
    model.train()
    for i in range(0, len(inputs), batch_size):
        model(inputs[i : i + batch_size])
    for bn, mom in zip(bns, saved):
        bn.momentum = mom
    model.eval()
