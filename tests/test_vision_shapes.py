"""Every shape rule of symderiv.graph.shapes gives the shape the op's forward rule produces (the symbolic probe
it replaces), and refuses what the forward refuses."""
import numpy as np
import pytest
import sympy as sp

from symderiv.activations import activation
from symderiv.graph.ir import _probe
from symderiv.graph.ops import op_rule
from symderiv.graph.shapes import SHAPES

R = sp.Rational
CASES = [
    ("add", [(2, 3), (3,)], {}), ("sub", [(1, 3), (2, 1)], {}), ("mul", [(2, 1, 4), (3, 1)], {}),
    ("div", [(4,), (2, 4)], {}),
    ("activation", [(2, 3)], {"activation": activation("tanh")}), ("scale", [(3,)], {"c": R(1, 2)}),
    ("shift", [(2, 2)], {"c": R(3)}), ("scale_axis", [(2, 3)], {"axis": 1, "c": (1, 2, 3)}),
    ("softmax", [(2, 3)], {"axis": -1}), ("layer_norm", [(2, 4), (4,), (4,)], {"n_axes": 1, "eps": R(1, 10)}),
    ("group_norm", [(1, 4, 2), (4,), (4,)], {"groups": 2, "eps": R(1, 10), "channel_axis": 1}),
    ("batch_norm_eval", [(3, 2)], {"mean": (0, 0, 1), "scale": (1, 2, 1)}),
    ("batch_norm_train", [(2, 3, 2), (3,), None], {"eps": R(1, 10), "channel_axis": 1}),
    ("sum", [(2, 3, 4)], {"axis": (0, 2), "keepdim": False}), ("sum", [(2, 3)], {"axis": None}),
    ("mean", [(2, 3, 4)], {"axis": -1, "keepdim": True}),
    ("rearrange", [(2, 3, 4)], {"kind": "reshape", "shape": (6, -1)}),
    ("rearrange", [(2, 3, 4)], {"kind": "permute", "perm": (2, 0, 1)}),
    ("rearrange", [(2, 3, 4)], {"kind": "getitem", "index": (slice(None), 1, slice(1, 3))}),
    ("rearrange", [(2, 1, 4)], {"kind": "expand", "shape": (2, 5, 4)}),
    ("cat", [(2, 3), (2, 1), (2, 2)], {"axis": 1}), ("cat", [(1, 3), (2, 3)], {"axis": -2}),
    ("matmul", [(2, 3, 4), (4, 5)], {}), ("matmul", [(4,), (2, 4, 3)], {}), ("matmul", [(2, 3), (3,)], {}),
    ("matmul", [(5, 1, 2, 3), (4, 3, 2)], {}),
    ("const", [], {"value": np.zeros((2, 3), dtype=object)}),
    ("select", [(2, 3), (3,)], {"cond": np.array([[True, False, True], [False, False, True]])}),
]
BAD = [("add", [(2, 3), (4,)], {}), ("rearrange", [(2, 3)], {"kind": "reshape", "shape": (4, -1)}),
       ("cat", [(2, 3), (3, 3)], {"axis": 1}), ("matmul", [(2, 3), (2, 3)], {}),
       ("group_norm", [(1, 3, 2), None, None], {"groups": 2, "eps": R(1, 10), "channel_axis": 1})]


def _ins(shapes):
    return [None if s is None else _probe(s) for s in shapes]


@pytest.mark.parametrize("op,shapes,attrs", CASES, ids=[f"{c[0]}-{k}" for k, c in enumerate(CASES)])
def test_shape_rule_equals_the_forward_probe(op, shapes, attrs):
    assert op in SHAPES
    rule = op_rule(op)
    probe = np.shape(rule.forward(_ins(shapes), attrs))
    assert SHAPES[op](shapes, attrs) == probe


@pytest.mark.parametrize("op,shapes,attrs", BAD, ids=[c[0] for c in BAD])
def test_shape_rule_refuses_what_the_forward_refuses(op, shapes, attrs):
    from symderiv.errors import InternalError

    with pytest.raises((ValueError, InternalError)):  # matmul's forward raises an internal error
        op_rule(op).forward(_ins(shapes), attrs)
    with pytest.raises(ValueError):
        SHAPES[op](shapes, attrs)


def test_every_op_has_a_shape_rule():
    from symderiv.graph.ops import registered_ops

    assert [op for op in registered_ops() if op_rule(op).shape is None] == []
