"""Channel importance: which output channels of a layer to give fewer bits (or prune) first."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from codesign.workload.graph import LayerGraph


@torch.no_grad()
def channel_scores(model: nn.Module, graph: LayerGraph) -> list[np.ndarray]:
    """Per quantizable layer, one score per output channel: the L2 norm of the channel's
    weights after folding the batch-norm that follows it (|gamma| / sqrt(var + eps)), the
    magnitude criterion of Li et al. (ICLR 2017) on the weights the deployed layer runs."""
    out = []
    for spec in graph.quantizable:
        if not spec.kind.has_weights:  # a matmul of two activations: no channel to rank
            out.append(np.zeros(spec.K))
            continue
        m = model.get_submodule(spec.source)
        weight = m.weight.detach()
        if isinstance(m, (nn.ConvTranspose1d, nn.ConvTranspose2d)):  # [C, K, ...]
            weight = weight.transpose(0, 1)
        w = weight.reshape(weight.shape[0], -1).norm(dim=1)
        for path in spec.fused:
            bn = model.get_submodule(path)
            if isinstance(bn, nn.modules.batchnorm._BatchNorm) and bn.running_var is not None:
                g = bn.weight.detach().abs() if bn.weight is not None else 1.0
                w = w * g / torch.sqrt(bn.running_var + bn.eps)
        out.append(w.double().numpy())
    return out


def channel_ranking(model: nn.Module, graph: LayerGraph) -> list[np.ndarray]:
    """Per quantizable layer, its channel indices from least to most important (ties by
    index), the order `ChannelCountSpace` lowers bits along."""
    return [np.argsort(s, kind="stable") for s in channel_scores(model, graph)]
