"""Layer-graph extraction: counts against published MLPerf Tiny layer lists, errors, user models."""

from __future__ import annotations

import sys

import pytest
import torch
from torch import nn

from codesign.core.errors import UnsupportedOperationError, WorkloadError
from codesign.core.types import OpKind
from codesign.workload import extract, get_workload


def _count(layers):
    """MACs and weights from (kind, cin, cout, k, out_h, out_w) tuples, computed by hand."""
    macs = weights = 0
    for kind, cin, cout, k, oh, ow in layers:
        if kind == "conv":
            w = cin * cout * k * k
        elif kind == "dw":
            w = cout * k * k
        else:  # fc
            w = cin * cout
        weights += w
        macs += w * oh * ow
    return macs, weights


# Published layer lists (MLPerf Tiny reference models), written out independently of workloads/.
RESNET8 = [
    ("conv", 3, 16, 3, 32, 32),
    ("conv", 16, 16, 3, 32, 32),
    ("conv", 16, 16, 3, 32, 32),
    ("conv", 16, 32, 3, 16, 16),
    ("conv", 32, 32, 3, 16, 16),
    ("conv", 16, 32, 1, 16, 16),
    ("conv", 32, 64, 3, 8, 8),
    ("conv", 64, 64, 3, 8, 8),
    ("conv", 32, 64, 1, 8, 8),
    ("fc", 64, 10, 1, 1, 1),
]
DSCNN = (
    [("rect", 1, 64, 0, 25, 5)]
    + [("dw", 64, 64, 3, 25, 5), ("conv", 64, 64, 1, 25, 5)] * 4
    + [("fc", 64, 12, 1, 1, 1)]
)
_MB = (
    [(8, 16, 1), (16, 32, 2), (32, 32, 1), (32, 64, 2), (64, 64, 1), (64, 128, 2)]
    + [(128, 128, 1)] * 5
    + [(128, 256, 2), (256, 256, 1)]
)


def _mobilenet_layers():
    layers, hw = [("conv", 3, 8, 3, 48, 48)], 48
    for cin, cout, s in _MB:
        hw //= s
        layers += [("dw", cin, cin, 3, hw, hw), ("conv", cin, cout, 1, hw, hw)]
    return layers + [("fc", 256, 2, 1, 1, 1)]


AUTOENCODER = [
    ("fc", a, b, 1, 1, 1)
    for a, b in zip(
        [640, 128, 128, 128, 128, 8, 128, 128, 128, 128],
        [128, 128, 128, 128, 8, 128, 128, 128, 128, 640],
    )
]


def _dscnn_counts():
    stem_w = 10 * 4 * 64
    macs, weights = _count([layer for layer in DSCNN if layer[0] != "rect"])
    return macs + stem_w * 25 * 5, weights + stem_w


EXPECTED = {
    "resnet8": _count(RESNET8),
    "dscnn": _dscnn_counts(),
    "mobilenet_v1_025": _count(_mobilenet_layers()),
    "autoencoder": _count(AUTOENCODER),
}


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_mlperf_tiny_counts_match_published_layer_lists(graphs, name):
    macs, weights = EXPECTED[name]
    g = graphs(name)
    assert g.total_macs == macs
    assert g.total_weights == weights


def test_published_headline_figures():
    # the figures quoted by the MLPerf Tiny paper, to the precision it quotes them
    assert round(EXPECTED["resnet8"][0] / 1e6, 1) == 12.5
    assert round(EXPECTED["resnet8"][1] / 1e3) == 77
    assert round(EXPECTED["dscnn"][0] / 1e6, 2) == 2.66
    assert round(EXPECTED["dscnn"][1] / 1e3) == 22
    assert round(EXPECTED["mobilenet_v1_025"][0] / 1e6, 2) == 7.49
    assert round(EXPECTED["mobilenet_v1_025"][1] / 1e3) == 208
    assert round(EXPECTED["autoencoder"][1] / 1e3) == 264


def test_mnist1d_cnn_counts(graphs):
    # (cin, cout, kernel, output length) of the 1-D CNN, then the 160 -> 10 classifier
    convs = [(1, 32, 5, 40), (32, 32, 3, 20), (32, 32, 3, 10), (32, 32, 3, 5)]
    weights = sum(ci * co * k for ci, co, k, _ in convs) + 160 * 10
    macs = sum(ci * co * k * n for ci, co, k, n in convs) + 160 * 10
    g = graphs("mnist1d_cnn")
    assert (g.total_macs, g.total_weights) == (macs, weights) == (115_520, 10_976)
    assert [s.kind for s in g.quantizable] == [OpKind.CONV] * 4 + [OpKind.LINEAR]


def test_resnet8_graph_structure(graphs):
    g = graphs("resnet8")
    kinds = [s.kind for s in g.layers]
    assert kinds.count(OpKind.ADD) == 3
    assert kinds.count(OpKind.CONV) == 9
    # the second residual add reads the stride-2 conv branch and the 1x1 projection
    assert set(g.producers("add_1")) == {"stack2.conv2", "stack2.shortcut"}
    s = g["stack2.conv1"]
    assert (s.K, s.C, s.OY, s.OX, s.FY, s.FX, s.stride) == (32, 16, 16, 16, 3, 3, (2, 2))
    # batch-norm and ReLU are fused, never nodes
    assert all("bn" not in n and "relu" not in n for n in g.order)


def test_depthwise_and_grouped_are_told_apart(graphs):
    g = graphs("dscnn")
    assert sum(s.kind == OpKind.DWCONV for s in g.layers) == 4
    m = nn.Sequential(nn.Conv2d(8, 16, 3, groups=4), nn.ReLU())
    spec = extract(m, torch.randn(1, 8, 6, 6)).quantizable[0]
    assert spec.kind == OpKind.GCONV and spec.C == 2 and spec.macs == 16 * 2 * 9 * 16


def test_conv1d_and_functional_ops():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.c = nn.Conv1d(4, 8, 5, padding=2)
            self.fc = nn.Linear(8, 3)

        def forward(self, x):
            y = torch.relu(self.c(x))
            y = y * torch.sigmoid(y)
            return self.fc(torch.flatten(nn.functional.adaptive_avg_pool1d(y, 1), 1))

    g = extract(M(), torch.randn(1, 4, 20))
    conv = g["c"]
    assert conv.kind == OpKind.CONV and (conv.OY, conv.OX, conv.FX) == (1, 20, 5)
    assert g.total_macs == 8 * 4 * 5 * 20 + 8 * 3
    assert any(s.kind == OpKind.MUL for s in g.layers)


def test_unsupported_operation_is_named():
    class M(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 2)

        def forward(self, x):
            return self.fc(torch.cumsum(x, dim=1))

    with pytest.raises(UnsupportedOperationError, match="cumsum"):
        extract(M(), torch.randn(1, 4))


def test_untraceable_model_is_one_clear_error():
    class M(nn.Module):
        def forward(self, x):
            if x.sum() > 0:  # data-dependent control flow
                return x
            return -x

    with pytest.raises(WorkloadError, match="cannot trace"):
        extract(M(), torch.randn(1, 3))


def test_user_model_from_module_function(tmp_path, monkeypatch):
    (tmp_path / "mynet.py").write_text(
        "import torch\nfrom torch import nn\n"
        "def build():\n"
        "    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.Flatten(), nn.Linear(4*6*6, 5))\n"
        "def with_input():\n    return build(), torch.zeros(1, 3, 8, 8)\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop("mynet", None)
    w = get_workload("mynet:with_input")
    g = extract(w.build(), w.example_input())
    assert g.total_macs == 3 * 4 * 9 * 36 + 144 * 5
    with pytest.raises(WorkloadError, match="input-shape"):
        get_workload("mynet:build")
    assert get_workload("mynet:build", (1, 3, 8, 8)).input_shape == (1, 3, 8, 8)
    with pytest.raises(WorkloadError, match="no function"):
        get_workload("mynet:nope")
    with pytest.raises(WorkloadError, match="unknown workload"):
        get_workload("resnet9")


def test_liveness_keeps_residual_tensor_alive(graphs):
    g = graphs("resnet8")
    tensors, live = g.liveness()
    j = tensors.index("stem.0")  # read by stack1.conv1 and by the first add
    t_add = g.order.index("add")
    assert live[t_add, j] and live[g.order.index("stack1.conv2"), j]
    assert not live[g.order.index("stack2.conv1"), j]
