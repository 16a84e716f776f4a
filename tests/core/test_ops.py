"""The op-kind traits table (`codesign/core/ops.py`): complete, consistent, the only one."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

import codesign
from codesign.core.ops import OP_TRAITS, Channels, LoopNest, OpKind, OpTraits, Pricing
from codesign.core.types import LayerSpec

PACKAGE = Path(codesign.__file__).resolve().parent
TABLE = PACKAGE / "core" / "ops.py"


def test_every_kind_has_one_row_and_the_properties_read_it():
    assert set(OP_TRAITS) == set(OpKind)
    for kind in OpKind:
        t = OP_TRAITS[kind]
        assert kind.traits is t
        assert kind.has_weights == t.has_weights and kind.quantized == t.quantized
    with pytest.raises(TypeError):
        OP_TRAITS[OpKind.ADD] = OpTraits()  # type: ignore[index]


def test_the_table_says_what_each_kind_is():
    weighted = {k for k in OpKind if k.has_weights}
    assert weighted == {OpKind.CONV, OpKind.DWCONV, OpKind.GCONV, OpKind.LINEAR, OpKind.TCONV}
    assert {k for k in OpKind if k.quantized} == weighted | {OpKind.MATMUL}
    free = {k for k in OpKind if k.traits.pricing is Pricing.FREE}
    assert free == {OpKind.INPUT, OpKind.RESHAPE, OpKind.PAD, OpKind.CONCAT}
    storage = {k for k in OpKind if k.traits.storage}
    passthrough = {OpKind.RESHAPE, OpKind.PAD, OpKind.MAXPOOL, OpKind.AVGPOOL, OpKind.UPSAMPLE}
    assert storage == passthrough | {OpKind.ADD, OpKind.MUL, OpKind.CONCAT}
    # the channel walk and the storage walk agree: every kind that carries its operands'
    # channels through carries their storage width through
    assert {k for k in OpKind if k.traits.channels.passes} == storage
    assert OpKind.ADD.traits.channels is Channels.UNION
    assert OpKind.MUL.traits.channels is Channels.INTERSECT
    assert OpKind.CONCAT.traits.channels is Channels.CONCAT
    assert OpKind.MATMUL.traits.channels is Channels.FIXED
    assert {k for k in OpKind if k.traits.view} == {OpKind.RESHAPE}
    nests = {k: k.traits.nest for k in OpKind if k.quantized}
    assert nests == {
        OpKind.CONV: LoopNest.CONV,
        OpKind.GCONV: LoopNest.GROUPED,
        OpKind.DWCONV: LoopNest.DEPTHWISE,
        OpKind.LINEAR: LoopNest.VECTORS,
        OpKind.MATMUL: LoopNest.PRODUCTS,
        OpKind.TCONV: LoopNest.SUBPIXEL,
    }
    assert {k for k in OpKind if k.traits.conv_linear} == weighted - {OpKind.TCONV}


@pytest.mark.parametrize(
    "row",
    [
        {"has_weights": True},  # weights without a precision gene
        {"quantized": True, "nest": LoopNest.CONV},  # not priced in MACs
        {"pricing": Pricing.PER_ELEMENT},  # per element, no element operations
        {"channels": Channels.UNION},  # passes channels, not storage width
        {"channels": Channels.OWN},  # prunes channels without weights
        {"nest": LoopNest.CONV},  # a loop nest without a precision gene
    ],
)
def test_an_inconsistent_row_is_refused(row):
    with pytest.raises(ValueError):
        OpTraits(**row)


def test_element_operations_per_kind():
    def spec(kind, **kw):
        return LayerSpec("l", kind, K=3, C=3, OY=4, OX=5, output_shape=(1, 3, 4, 5), **kw)

    assert spec(OpKind.NORM).ops == 5 * 60 and spec(OpKind.SOFTMAX).ops == 4 * 60
    assert spec(OpKind.ADD).ops == spec(OpKind.MUL).ops == spec(OpKind.ACT).ops == 60
    assert spec(OpKind.MAXPOOL, FY=2, FX=3).ops == 60 * 6 == spec(OpKind.AVGPOOL, FY=2, FX=3).ops
    assert spec(OpKind.UPSAMPLE, mode="nearest").ops == 60
    assert spec(OpKind.UPSAMPLE, mode="bilinear").ops == 4 * 60
    for kind in (OpKind.RESHAPE, OpKind.PAD, OpKind.CONCAT, OpKind.INPUT, OpKind.CONV):
        assert spec(kind).ops == 0


# -- no kind lists outside the table ------------------------------------------------------------


def _is_kind(node: ast.AST) -> bool:
    """`OpKind.X` (or `core.ops.OpKind.X`)."""
    return (
        isinstance(node, ast.Attribute)
        and node.attr.isupper()
        and (
            (isinstance(node.value, ast.Name) and node.value.id == "OpKind")
            or (isinstance(node.value, ast.Attribute) and node.value.attr == "OpKind")
        )
    )


def _holds_kind(node: ast.AST) -> bool:
    """`OpKind.X`, or a literal tuple / list / set / frozenset(...) of them."""
    if _is_kind(node):
        return True
    if isinstance(node, ast.Call) and getattr(node.func, "id", "") in ("frozenset", "set", "tuple"):
        return any(_holds_kind(a) for a in node.args)
    if isinstance(node, (ast.Tuple, ast.List, ast.Set)):
        return any(_holds_kind(e) for e in node.elts)
    return False


_KIND_VALUES = {k.value for k in OpKind}


def _kind_string(left: ast.AST, right: ast.AST) -> bool:
    """`<x>.kind == "conv"`, `<x>.kind.value in ("add", "mul")`: kinds compared by value."""
    attr = left
    if isinstance(attr, ast.Attribute) and attr.attr == "value":
        attr = attr.value
    values = right.elts if isinstance(right, (ast.Tuple, ast.List, ast.Set)) else [right]
    return (
        isinstance(attr, ast.Attribute)
        and attr.attr == "kind"
        and any(isinstance(v, ast.Constant) and v.value in _KIND_VALUES for v in values)
    )


def kind_lists(source: str) -> list[int]:
    """Lines of `source` that compare op kinds or list them for a comparison: `kind ==
    OpKind.X`, `kind in (OpKind.X, ...)`, `case OpKind.X:`, a set of kinds, `.kind == "x"`."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Compare):
            sides = [node.left, *node.comparators]
            if any(_holds_kind(s) for s in sides) or any(
                _kind_string(a, b) or _kind_string(b, a) for a, b in zip(sides, sides[1:])
            ):
                lines.append(node.lineno)
        elif isinstance(node, (ast.Tuple, ast.List, ast.Set)) and sum(
            _is_kind(e) for e in node.elts
        ):
            lines.append(node.lineno)  # a collection of kinds, to test membership against
        elif isinstance(node, ast.MatchValue) and _is_kind(node.value):
            lines.append(node.lineno)
    return sorted(set(lines))


# what the package did before the table (codesign/cost/tables.py, channels.py, mapping/space.py,
# core/types.py, workload/graph.py): the detector must flag each
BEFORE = {
    "if spec.kind == OpKind.LINEAR:\n    pass\n": [1],
    "x = graph[r].kind in (OpKind.RESHAPE, OpKind.PAD, OpKind.MAXPOOL, OpKind.AVGPOOL)\n": [1],
    "rule = UNION if spec.kind == OpKind.ADD else INTERSECT\n": [1],
    "W = frozenset({OpKind.CONV, OpKind.DWCONV})\n": [1],
    "refused = (OpKind.TCONV,) if ok else (OpKind.MATMUL, OpKind.TCONV)\n": [1],
    "if spec.kind not in ELEMENTWISE or self == OpKind.MATMUL:\n    pass\n": [1],
    "if s.kind.value == 'matmul':\n    pass\n": [1],
    "p = graph[r].kind.value in ('reshape', 'pad')\n": [1],
    "match spec.kind:\n    case OpKind.CONV:\n        pass\n": [2],
}


@pytest.mark.parametrize("source", list(BEFORE))
def test_the_detector_flags_kind_lists(source):
    assert kind_lists(source) == BEFORE[source]


def test_the_detector_passes_unrelated_kinds():
    ok = (
        "if kind == 'layer':\n    pass\n"  # a granularity
        "if mapping.kind == 'spatial':\n    pass\n"  # a mapping description
        "spec = LayerSpec('c', OpKind.CONV)\n"  # making a kind, not testing one
        "if spec.kind.traits.storage:\n    pass\n"
    )
    assert kind_lists(ok) == []


def test_no_module_outside_the_table_lists_op_kinds():
    found = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        if path == TABLE:
            continue
        lines = kind_lists(path.read_text())
        if lines:
            found[str(path.relative_to(PACKAGE))] = lines
    assert not found, (
        "compare op kinds through their traits (codesign/core/ops.py, OP_TRAITS), not "
        f"kind == / kind in chains: {found}"
    )


def test_the_table_rows_are_frozen():
    with pytest.raises(dataclasses.FrozenInstanceError):
        OpKind.ADD.traits.storage = False  # type: ignore[misc]
