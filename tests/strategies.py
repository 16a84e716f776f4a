"""Hypothesis strategies shared by the cost-model property tests (one place, as Brevitas does)."""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

from codesign.core.types import LayerSpec, OpKind


@st.composite
def conv_layers(draw, kinds=(OpKind.CONV, OpKind.DWCONV, OpKind.GCONV, OpKind.LINEAR)) -> LayerSpec:
    """A random conv / depthwise / grouped / linear layer with consistent loop bounds."""
    kind = draw(st.sampled_from(kinds))
    k = draw(st.integers(1, 64))
    if kind == OpKind.LINEAR:
        c = draw(st.integers(1, 256))
        return LayerSpec("l", kind, K=k, C=c, input_shape=(1, c), output_shape=(1, k))
    oy, ox = draw(st.integers(1, 32)), draw(st.integers(1, 32))
    f = draw(st.sampled_from([1, 3, 5]))
    c = 1 if kind == OpKind.DWCONV else draw(st.integers(1, 64))
    groups = k if kind == OpKind.DWCONV else 1
    if kind == OpKind.GCONV:  # K and C per group, 2-4 groups
        groups = draw(st.integers(2, 4))
        k = groups * draw(st.integers(1, 16))
        c = draw(st.integers(1, 16))
    cin = k if kind == OpKind.DWCONV else c * groups
    return LayerSpec(
        "l",
        kind,
        K=k,
        C=c,
        OY=oy,
        OX=ox,
        FY=f,
        FX=f,
        groups=groups,
        input_shape=(1, cin, oy, ox),
        output_shape=(1, k, oy, ox),
    )


def genomes(num_layers: int, n_w: int, n_a: int):
    """Strategy of (weight_idx, act_idx) int arrays of shape [P, L]."""
    return st.integers(1, 16).flatmap(
        lambda p: st.tuples(
            st.lists(st.integers(0, n_w - 1), min_size=p * num_layers, max_size=p * num_layers),
            st.lists(st.integers(0, n_a - 1), min_size=p * num_layers, max_size=p * num_layers),
        ).map(
            lambda t: (
                np.array(t[0]).reshape(p, num_layers),
                np.array(t[1]).reshape(p, num_layers),
            )
        )
    )
