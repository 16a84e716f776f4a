"""A switchable-precision supernet: one weight set, any per-layer bit-width at run time.

Methods it combines:
- Bit-Mixer (Bulat & Tzimiropoulos, ICCV 2021): each layer switches bit-width at run time;
  the batch-norm after a layer is *transitional*, one per pair (precision of the layer's
  input, i.e. the previous layer's output bits; precision of this layer's weights).
- SP-Nets (Guerra et al. 2020) / slimmable in-place distillation: each step trains the
  highest-precision setting on the labels and distils it into sampled lower settings (two
  random ones and the lowest: BigNAS's sandwich rule, Yu et al. 2020).
- Once-for-All / BigNAS batch-norm recalibration at scoring time: `Supernet.recalibrate`
  re-measures a configuration's BN statistics on a few training inputs before it is scored.
- A staged schedule: first the whole network at one random bit-width, then random per-layer
  bit-widths with stochastic precision (a layer stays at the highest precision with a
  probability that falls to zero).

Each layer keeps one LSQ step size per weight bit-width (per output channel) and per
activation bit-width, so switching costs nothing but a dictionary lookup.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from rich.progress import Progress
from torch import Tensor, nn
from torch.utils.data import TensorDataset

from codesign.core.errors import ConfigError
from codesign.core.files import save_state_atomic
from codesign.quant.fakequant import (
    _grad_scale,
    conv_or_linear,
    fake_quant,
    mse_step,
    quantize_activation,
    weight_range,
)
from codesign.quant.train import _batches, evaluate
from codesign.workload.graph import LayerGraph


class SwitchableLayer(nn.Module):
    """A conv / linear layer that runs at any (activation bits, weight bits) of its sets."""

    def __init__(
        self, inner: nn.Module, act_bits: Sequence[int], weight_bits: Sequence[int]
    ) -> None:
        super().__init__()
        self.inner = inner
        self.act_set = tuple(act_bits)
        self.weight_set = tuple(weight_bits)
        k = inner.weight.shape[0]
        w = inner.weight.detach()
        self.w_steps = nn.ParameterDict()
        for b in self.weight_set:
            qmin, qmax = weight_range(torch.full((k,), b))
            self.w_steps[str(b)] = nn.Parameter(mse_step(w, qmin, qmax, dim=0).clamp(min=1e-8))
        self.a_steps = nn.ParameterDict(
            {str(b): nn.Parameter(torch.ones(())) for b in self.act_set}
        )
        self.register_buffer("a_ready", torch.zeros(len(self.act_set), dtype=torch.bool))
        self.register_buffer("a_signed", torch.zeros((), dtype=torch.bool))
        self.act_bits = max(self.act_set)
        self.weight_bits = max(self.weight_set)

    def forward(self, x: Tensor) -> Tensor:
        """Quantize input and weights at the current bit-widths, then run the layer."""
        a = self.act_bits
        i = self.act_set.index(a)
        if not bool(self.a_ready[i]):
            with torch.no_grad():
                if not bool(self.a_ready.any()):
                    self.a_signed.fill_(bool((x < 0).any()))
                lo, hi = self._act_range(a)
                self.a_steps[str(a)].copy_(
                    mse_step(x.detach(), lo, hi, dim=None)[0].clamp(min=1e-8)
                )
                self.a_ready[i] = True
        lo, hi = self._act_range(a)
        g = 1.0 / float(x[0].numel() * hi) ** 0.5
        x = fake_quant(x, _grad_scale(self.a_steps[str(a)], g).abs().clamp(min=1e-8), lo, hi)
        w = self.inner.weight
        b = self.weight_bits
        view = (-1,) + (1,) * (w.dim() - 1)
        if isinstance(b, int):
            qmin, qmax = weight_range(torch.tensor([b]))
            g = 1.0 / float(w[0].numel() * max(1.0, float(qmax))) ** 0.5
            step = _grad_scale(self.w_steps[str(b)], g).abs().clamp(min=1e-8)
            wq = fake_quant(w, step.reshape(view), float(qmin), float(qmax))
            return conv_or_linear(self.inner, x, wq, self.inner.bias)
        # per-channel bits: each channel's step size from the set of its bit-width
        bits, idx, keep = b
        qmin, qmax = weight_range(bits)
        g = 1.0 / float(w[0].numel() * max(1.0, float(qmax.max()))) ** 0.5
        steps = torch.stack([self.w_steps[str(v)] for v in self.weight_set])  # [B, K]
        step = _grad_scale(steps.gather(0, idx[None])[0], g).abs().clamp(min=1e-8)
        wq = fake_quant(w, step.reshape(view), qmin.reshape(view), qmax.reshape(view))
        wq = wq * keep.reshape(view)
        bias = None if self.inner.bias is None else self.inner.bias * keep
        return conv_or_linear(self.inner, x, wq, bias)

    def set_weight_bits(self, bits: int | Sequence[int]) -> None:
        """One bit-width for every channel, or one per output channel (0 = pruned)."""
        if isinstance(bits, (int, np.integer)):
            self.weight_bits = int(bits)
            return
        t = torch.as_tensor([int(v) for v in bits], dtype=torch.int64)
        if len(set(t.tolist())) == 1 and int(t[0]) > 0:
            self.weight_bits = int(t[0])
            return
        lut = {v: i for i, v in enumerate(self.weight_set)}
        idx = torch.tensor([lut.get(int(v), 0) for v in t], dtype=torch.int64)
        self.weight_bits = (t, idx, (t > 0).to(self.inner.weight.dtype))

    @property
    def keep(self) -> Tensor | None:
        """The kept-channel mask at per-channel bits (None when every channel is kept)."""
        return None if isinstance(self.weight_bits, int) else self.weight_bits[2]

    def _act_range(self, bits: int) -> tuple[float, float]:
        if bool(self.a_signed):
            return float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        return 0.0, float(2**bits - 1)


class SwitchableMatMul(nn.Module):
    """A `MatMul` of two activations at any activation bit-width of its set: both operands
    quantized at `act_bits`, each with one LSQ step size per bit-width. Its weight bits are
    its activation bits (`set_weight_bits` ignores what it is given)."""

    def __init__(self, inner: nn.Module, act_bits: Sequence[int]) -> None:
        super().__init__()
        self.inner = inner
        self.act_set = tuple(act_bits)
        self.a_steps = nn.ParameterDict(
            {f"{o}_{b}": nn.Parameter(torch.ones(())) for o in (0, 1) for b in self.act_set}
        )
        self.register_buffer("a_ready", torch.zeros(2, len(self.act_set), dtype=torch.bool))
        self.register_buffer("a_signed", torch.zeros(2, len(self.act_set), dtype=torch.bool))
        self.act_bits = max(self.act_set)

    @property
    def weight_bits(self) -> int:
        """The second operand's bits: the activation bits."""
        return self.act_bits

    def set_weight_bits(self, bits: object) -> None:
        """Tied to the activation bits: nothing to set."""

    def forward(self, a: Tensor, b: Tensor) -> Tensor:
        """``quant(a) @ quant(b)`` at the current activation bits."""
        i = self.act_set.index(self.act_bits)
        qa, qb = (
            quantize_activation(
                x,
                self.act_bits,
                self.a_steps[f"{o}_{self.act_bits}"],
                self.a_signed[o, i],
                self.a_ready[o, i],
            )  # fmt: skip
            for o, x in enumerate((a, b))
        )
        return self.inner(qa, qb)


class TransitionalBN(nn.Module):
    """Bit-Mixer's transitional batch-norm: one BN per (input bits, weight bits) of its layer."""

    def __init__(self, bn: nn.Module, act_bits: Sequence[int], weight_bits: Sequence[int]) -> None:
        super().__init__()
        self.bns = nn.ModuleDict(
            {self.key(a, w): copy.deepcopy(bn) for a in act_bits for w in weight_bits}
        )
        self.current: str | tuple = self.key(max(act_bits), max(weight_bits))
        # batch statistics of the current configuration, measured by `Supernet.recalibrate`
        # (None: normalise with the running statistics each transition learnt in training)
        self.stats: tuple[Tensor, Tensor] | None = None
        self.collect = False

    def set_channels(self, act_bits: int, weight_bits: Tensor) -> None:
        """Per-channel transition: channel k uses the BN of (act_bits, weight_bits[k]); a
        0-bit (pruned) channel's output is 0."""
        keys, masks = [], []
        for w in sorted(set(weight_bits.tolist()) - {0}):
            keys.append(self.key(act_bits, w))
            masks.append((weight_bits == w).to(torch.float32))
        self.current = (tuple(keys), tuple(masks))

    @staticmethod
    def key(act_bits: int, weight_bits: int) -> str:
        """ModuleDict key of the BN for this transition."""
        return f"a{act_bits}_w{weight_bits}"

    def affine(self) -> tuple[Tensor, Tensor]:
        """Scale and shift of the current transition, per channel (0 for a pruned channel)."""
        if isinstance(self.current, str):
            bn = self.bns[self.current]
            return bn.weight, bn.bias
        keys, masks = self.current
        scale = sum(self.bns[k].weight * m for k, m in zip(keys, masks))
        shift = sum(self.bns[k].bias * m for k, m in zip(keys, masks))
        return scale, shift

    def _recalibrated(self, x: Tensor) -> Tensor:
        dims = [0, *range(2, x.dim())]
        if self.collect:
            self.stats = (x.mean(dims), x.var(dims, unbiased=False))
        mean, var = self.stats
        scale, shift = self.affine()
        shape = (1, -1) + (1,) * (x.dim() - 2)
        eps = next(iter(self.bns.values())).eps
        inv = scale * torch.rsqrt(var + eps)
        return x * inv.reshape(shape) + (shift - mean * inv).reshape(shape)

    def forward(self, x: Tensor) -> Tensor:
        """Normalise with the BN of the current transition; at per-channel weight bits, each
        channel with the BN of its own bit-width, and pruned channels set to exactly 0. After
        `Supernet.recalibrate`, with the statistics it measured for this configuration."""
        if not self.training and (self.collect or self.stats is not None):
            return self._recalibrated(x)
        if isinstance(self.current, str):
            return self.bns[self.current](x)
        keys, masks = self.current
        shape = (1, -1) + (1,) * (x.dim() - 2)
        bns = [self.bns[k] for k in keys]
        if not self.training:
            out = 0.0
            for bn, m in zip(bns, masks):
                y = F.batch_norm(
                    x, bn.running_mean, bn.running_var, bn.weight, bn.bias, False, 0.0, bn.eps
                )
                out = out + y * m.reshape(shape)
            return out
        # training: one set of batch statistics (every BN sees the same batch); each BN's
        # running statistics learn only from the channels at its own bit-width, never from
        # channels at another width or pruned (all-zero) ones
        dims = [0, *range(2, x.dim())]
        mean = x.mean(dims)
        var = x.var(dims, unbiased=False)
        n = x.numel() / x.shape[1]
        eps = bns[0].eps
        xhat = (x - mean.reshape(shape)) / torch.sqrt(var + eps).reshape(shape)
        out = 0.0
        with torch.no_grad():
            unbiased = var * n / max(n - 1.0, 1.0)
            for bn, m in zip(bns, masks):
                mom = 0.1 if bn.momentum is None else bn.momentum
                sel = m > 0
                bn.running_mean[sel] = (1 - mom) * bn.running_mean[sel] + mom * mean[sel]
                bn.running_var[sel] = (1 - mom) * bn.running_var[sel] + mom * unbiased[sel]
        for bn, m in zip(bns, masks):
            out = out + (xhat * bn.weight.reshape(shape) + bn.bias.reshape(shape)) * m.reshape(
                shape
            )
        return out


class Supernet(nn.Module):
    """The model with every quantizable layer switchable and its BN transitional.

    `set_config(act_bits, weight_bits)` takes one entry per quantizable layer, in the order of
    `layer_names` (the layer graph's execution order); a layer's weight bits are one int, or
    one per output channel (0 = pruned: its output, after bias and batch-norm, is 0).
    """

    def __init__(
        self,
        model: nn.Module,
        graph: LayerGraph,
        act_bits: Sequence[int],
        weight_bits: Sequence[int],
    ) -> None:
        super().__init__()
        graph.require_conv_linear(
            "the switchable-precision supernet (--estimator supernet)", matmul_ok=True
        )
        self.model = copy.deepcopy(model)
        self.act_set = tuple(sorted(act_bits))
        self.weight_set = tuple(sorted(b for b in weight_bits if b > 0))
        self.layer_names = tuple(s.name for s in graph.quantizable)
        self._layers: list[tuple[nn.Module, TransitionalBN | None]] = []
        for spec in graph.quantizable:
            inner = self.model.get_submodule(spec.source)
            if not spec.kind.has_weights:  # a matmul of two activations
                mm = SwitchableMatMul(inner, self.act_set)
                _set(self.model, spec.source, mm)
                self._layers.append((mm, None))
                continue
            layer = SwitchableLayer(inner, self.act_set, self.weight_set)
            _set(self.model, spec.source, layer)
            tbn = None
            bn_path = next(
                (
                    p
                    for p in spec.fused
                    if isinstance(self.model.get_submodule(p), nn.modules.batchnorm._BatchNorm)
                ),
                None,
            )
            if bn_path is not None:
                tbn = TransitionalBN(
                    self.model.get_submodule(bn_path), self.act_set, self.weight_set
                )
                _set(self.model, bn_path, tbn)
            self._layers.append((layer, tbn))

    def set_config(self, act_bits: Sequence[int], weight_bits: Sequence[int]) -> None:
        """Switch every layer; raises `ConfigError` for a length or a bit-width it lacks."""
        if len(act_bits) != len(self._layers) or len(weight_bits) != len(self._layers):
            raise ConfigError(
                f"supernet has {len(self._layers)} layers; got "
                f"{len(act_bits)} activation and {len(weight_bits)} weight bits"
            )
        for name, (layer, tbn), a, w in zip(self.layer_names, self._layers, act_bits, weight_bits):
            ws = {int(w)} if isinstance(w, (int, np.integer)) else {int(v) for v in w}
            if a not in self.act_set or not ws <= {0, *self.weight_set} or ws == {0}:
                raise ConfigError(
                    f"layer '{name}': the supernet has activation bits "
                    f"{list(self.act_set)} and weight bits {[0, *self.weight_set]} (not every "
                    f"channel 0), not a{a}/w{sorted(ws)}"
                )
            layer.act_bits = int(a)
            layer.set_weight_bits(w)
            if tbn is not None:
                tbn.stats = None  # statistics measured for another configuration
                if isinstance(layer.weight_bits, int):
                    tbn.current = TransitionalBN.key(int(a), layer.weight_bits)
                else:
                    tbn.set_channels(int(a), layer.weight_bits[0])

    def set_uniform(self, act_bits: int, weight_bits: int) -> None:
        """Every layer at the same pair."""
        n = len(self._layers)
        self.set_config([act_bits] * n, [weight_bits] * n)

    def forward(self, x: Tensor) -> Tensor:
        """Run the network at the current configuration."""
        return self.model(x)

    @torch.no_grad()
    def recalibrate(self, x: Tensor) -> None:
        """Batch-norm statistics of the current configuration, measured on the inputs `x`
        (Once-for-All's and BigNAS's recalibration, in one batch): until the next
        `set_config`, every transitional BN normalises with the mean and variance its input
        has at this configuration, not with running statistics averaged over the
        configurations training sampled."""
        self.eval()
        tbns = [t for _, t in self._layers if t is not None]
        for t in tbns:
            t.collect = True
        try:
            self.model(x)
        finally:
            for t in tbns:
                t.collect = False

    @torch.no_grad()
    def accuracy(
        self,
        act_bits: Sequence[int],
        weight_bits: Sequence[int],
        data: TensorDataset,
        calibration: Tensor | None = None,
    ) -> float:
        """Top-1 accuracy (percent) on `data` at one configuration: a forward pass, no tuning;
        with `calibration` inputs, after recalibrating the batch-norm statistics on them."""
        self.set_config(act_bits, weight_bits)
        if calibration is not None:
            self.recalibrate(calibration)
        return evaluate(self, data)


def _set(root: nn.Module, path: str, new: nn.Module) -> None:
    parent, _, leaf = path.rpartition(".")
    setattr(root.get_submodule(parent) if parent else root, leaf, new)


@dataclass(frozen=True)
class SupernetSchedule:
    """Training budget and schedule: the first `uniform_fraction` of steps put the whole network
    at one random bit-width; the rest draw per-layer bit-widths, each layer staying at the
    highest precision with probability `stochastic` (falling linearly to 0 at the end). With a
    `sample` function (per-channel search spaces), `space_draws` of each second-phase step's
    draws come from it instead; `sampling` names that space in the cache key. Each
    second-phase step trains `samples` random configurations beside the smallest (BigNAS's
    sandwich). On MNIST-1D per channel (30 configurations against 300-step fine-tunes,
    benchmarks/bench_estimator_fidelity.py, BN re-measured) one random configuration a step
    ranked at Kendall tau 0.78 (2,000 steps); two, one of them from the space, 0.85 (4,000
    steps, largest error 18.7 pp); both from the space 0.85 (largest error 12.3 pp)."""

    steps: int = 2000
    lr: float = 1e-3
    batch_size: int = 64
    uniform_fraction: float = 0.3
    stochastic: float = 0.3
    kd_temperature: float = 2.0
    sampling: str = "layer"  # what the per-layer phase samples: "layer", or the search space's
    samples: int = 2  # random configurations per step of the second phase, as BigNAS
    space_draws: int = 2  # of those, drawn by `sample` (the run's space) when there is one


def train_supernet(
    supernet: Supernet,
    data: TensorDataset,
    schedule: SupernetSchedule | None = None,
    seed: int = 0,
    progress: Callable[[int], None] | None = None,
    sample: Callable[[np.random.Generator], tuple[list[int], list]] | None = None,
) -> Supernet:
    """Train in place with the staged schedule and in-place self-distillation; returns it.

    `sample(rng)` (optional) draws one (activation bits, weight bits) configuration of the
    search space, weight bits per channel where the space has them (0 = pruned); the second
    phase alternates its draws with per-layer ones, so that the supernet stays calibrated on
    configurations whose layers are uniform, which per-channel spaces hold too.

    Each step: the highest-precision setting learns from the labels; the sampled settings
    (and the lowest, by the sandwich rule) learn from its detached soft outputs.
    """
    sch = schedule or SupernetSchedule()
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = len(supernet.layer_names)
    acts, wts = supernet.act_set, supernet.weight_set
    hi_a, hi_w, lo_a, lo_w = max(acts), max(wts), min(acts), min(wts)
    shared = sorted(set(acts) & set(wts)) or [hi_a]
    # initialise every activation step size on real inputs before training
    x0 = data.tensors[0][:256]
    supernet.eval()
    with torch.no_grad():
        for a in acts:
            supernet.set_uniform(a, hi_w)
            supernet(x0)
    opt = torch.optim.Adam(supernet.parameters(), lr=sch.lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, sch.steps))
    supernet.train()
    batches = _batches(data, sch.batch_size, seed)
    t = sch.kd_temperature
    for step in range(sch.steps):
        x, y = next(batches)
        opt.zero_grad(set_to_none=True)
        supernet.set_uniform(hi_a, hi_w)
        top = supernet(x)
        F.cross_entropy(top, y).backward()
        soft = F.softmax(top.detach() / t, dim=1)
        if step < sch.uniform_fraction * sch.steps:
            b = int(rng.choice(shared))
            configs = [([b] * n, [b] * n)]
        else:
            configs = []
            for j in range(sch.samples):
                if sample is not None and j >= sch.samples - sch.space_draws:
                    configs.append(sample(rng))
                    continue
                p = sch.stochastic * (1.0 - step / sch.steps)
                keep = rng.random(n) < p
                a = np.where(keep, hi_a, rng.choice(acts, n))
                w = np.where(keep, hi_w, rng.choice(wts, n))
                configs.append((a.tolist(), w.tolist()))
            configs.append(([lo_a] * n, [lo_w] * n))  # the sandwich rule's smallest
        for a, w in configs:
            supernet.set_config(a, w)
            out = supernet(x)
            kd = F.kl_div(F.log_softmax(out / t, 1), soft, reduction="batchmean") * t * t
            kd.backward()
        opt.step()
        sched.step()
        if progress is not None:
            progress(step + 1)
    supernet.eval()
    return supernet


def supernet_key(
    workload: str,
    hw_name: str,
    base_hash: str,
    act_bits: Sequence[int],
    weight_bits: Sequence[int],
    *,
    schedule: SupernetSchedule,
    seed: int,
) -> str:
    """Cache key (hex, 12 chars) of a trained supernet."""
    doc = {
        "workload": workload,
        "hw": hw_name,
        "base": base_hash,
        "a": list(act_bits),
        "w": list(weight_bits),
        "schedule": asdict(schedule),
        "seed": seed,
    }
    return hashlib.sha1(json.dumps(doc, sort_keys=True).encode()).hexdigest()[:12]


def supernet_path(cache_dir: Path, workload: str, hw_name: str, key: str) -> Path:
    """Where the supernet checkpoint of (workload, hardware, key) lives."""
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in f"{workload}-{hw_name}")
    return cache_dir / f"supernet-{safe}-{key}.pt"


def load_or_train_supernet(
    model: nn.Module,
    graph: LayerGraph,
    *,
    workload: str,
    hw_name: str,
    act_bits: Sequence[int],
    weight_bits: Sequence[int],
    train: TensorDataset,
    cache_dir: Path,
    base_hash: str,
    schedule: SupernetSchedule | None = None,
    seed: int = 0,
    progress: Progress | None = None,
    sample: Callable[[np.random.Generator], tuple[list[int], list]] | None = None,
) -> tuple[Supernet, Path, bool]:
    """The supernet of (workload, hardware, base weights): from `cache_dir`, or trained and saved.

    Returns (supernet in eval mode, checkpoint path, whether it came from the cache).
    """
    schedule = schedule or SupernetSchedule()
    key = supernet_key(
        workload, hw_name, base_hash, act_bits, weight_bits, schedule=schedule, seed=seed
    )
    path = supernet_path(cache_dir, workload, hw_name, key)
    sn = Supernet(model, graph, act_bits, weight_bits)
    if path.exists():
        try:
            sn.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
            return sn.eval(), path, True
        except (RuntimeError, OSError, EOFError, ValueError):
            sn = Supernet(model, graph, act_bits, weight_bits)  # unreadable: train again
    task = progress.add_task("supernet training", total=schedule.steps) if progress else None

    def tick(i: int) -> None:
        if progress is not None:
            progress.update(task, completed=i)

    train_supernet(sn, train, schedule, seed, progress=tick, sample=sample)
    save_state_atomic(sn.state_dict(), path)
    return sn, path, False
