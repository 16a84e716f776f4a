"""The full-size networks against MAC and weight counts computed here from the papers' tables
(He et al. 2016 Table 1, Sandler et al. 2018 Table 2), independently of torch."""

from __future__ import annotations

import pytest

from codesign.workload import extract, get_workload


def _conv(k_out: int, c_in: int, f: int, out: int, groups: int = 1) -> tuple[int, int]:
    """(MACs, weights) of one convolution on a square `out` x `out` output."""
    w = k_out * (c_in // groups) * f * f
    return w * out * out, w


def _resnet(blocks: list[int], bottleneck: bool) -> tuple[int, int]:
    convs = [_conv(64, 3, 7, 112)]
    cin, size = 64, 56
    for stage, n in enumerate(blocks):
        width = 64 * 2**stage
        for i in range(n):
            down = i == 0 and stage > 0
            out = size // 2 if down else size
            cout = width * (4 if bottleneck else 1)
            if bottleneck:  # v1.5: the stride sits on the 3x3
                convs += [_conv(width, cin, 1, size), _conv(width, width, 3, out)]
                convs += [_conv(cout, width, 1, out)]
            else:
                convs += [_conv(width, cin, 3, out), _conv(width, width, 3, out)]
            if down or cin != cout:
                convs.append(_conv(cout, cin, 1, out))
            cin, size = cout, out
    convs.append((cin * 1000, cin * 1000))
    return sum(m for m, _ in convs), sum(w for _, w in convs)


def _mobilenet_v2() -> tuple[int, int]:
    table = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1),
             (6, 160, 3, 2), (6, 320, 1, 1)]  # fmt: skip
    convs = [_conv(32, 3, 3, 112)]
    cin, size = 32, 112
    for t, c, n, s in table:
        for i in range(n):
            out = size // (s if i == 0 else 1)
            hidden = cin * t
            if t != 1:
                convs.append(_conv(hidden, cin, 1, size))
            convs += [_conv(hidden, hidden, 3, out, groups=hidden), _conv(c, hidden, 1, out)]
            cin, size = c, out
    convs += [_conv(1280, cin, 1, size), (1280 * 1000, 1280 * 1000)]
    return sum(m for m, _ in convs), sum(w for _, w in convs)


@pytest.mark.parametrize(
    ("name", "expected", "published"),
    [
        ("resnet18", _resnet([2, 2, 2, 2], False), (1.82e9, 11.7e6)),
        ("resnet50", _resnet([3, 4, 6, 3], True), (4.1e9, 25.5e6)),
        ("mobilenet_v2", _mobilenet_v2(), (300e6, 3.4e6)),
    ],
)
def test_full_size_networks_match_their_published_layer_lists(name, expected, published):
    wl = get_workload(name)
    g = extract(wl.build(), wl.example_input(), name)
    macs = sum(s.macs for s in g.quantizable)
    weights = sum(s.weight_count for s in g.quantizable)
    assert (macs, weights) == expected
    assert macs == pytest.approx(published[0], rel=0.03)
    assert weights == pytest.approx(published[1], rel=0.03)
