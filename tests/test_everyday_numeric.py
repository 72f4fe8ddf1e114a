"""Issue 19: finite differences that know where a derivative of the activation jumps."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv import numeric as N
from symderiv.cli import main

ELU_AT_ZERO = ["--layers", "2,1,1,3", "--activation", "elu", "--loss", "mse", "--no-bias",
               "--init", "W1=zeros,W2=constant:1/2,W3=constant:1/2"]


def _elu_at_zero():
    net = sd.mlp([2, 1, 1, 3], "elu", "mse", bias=False)
    init = {"W1": sd.zeros(), "W2": sd.constant(sp.Rational(1, 2)), "W3": sd.constant(sp.Rational(1, 2))}
    params = N.params_from_init(net, init)
    X, Y = N.random_data(net, 6, seed=0)
    return net, params, X, Y


def _plain_central(net, params, X, Y, eps=1e-6):
    """The textbook central difference, entry by entry (no breakpoint handling)."""
    out = {}
    for name, p in params.items():
        g = np.empty(p.shape)
        for index in np.ndindex(*p.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][index] += eps
            down[name][index] -= eps
            g[index] = (N.loss(net, up, X, Y) - N.loss(net, down, X, Y)) / (2 * eps)
        out[name] = g
    return out


def test_elu_at_an_exact_zero_pre_activation_the_one_sided_formulas_meet_the_backward_pass():
    net, params, X, Y = _elu_at_zero()
    assert np.all(N.forward(net, params, X)["z"][1] == 0)  # every step straddles ELU''s jump
    backward = N.gradients(net, params, X, Y)
    plain = _plain_central(net, params, X, Y)
    aware = N.finite_differences(net, params, X, Y)
    # the situation is real: the textbook central difference misses 1e-6 relative on W1
    assert N.relative_error(backward["W1"], plain["W1"]).max() > 1e-6
    for name in backward:
        assert N.relative_error(backward[name], aware[name]).max() < 1e-7, name


def test_a_wrong_gradient_is_still_rejected_at_the_breakpoint():
    net, params, X, Y = _elu_at_zero()
    aware = N.finite_differences(net, params, X, Y)
    wrong = N.gradients(net, params, X, Y)["W1"] * (1 + 1e-5)
    assert N.relative_error(wrong, aware["W1"]).max() > 1e-6


def test_smooth_points_keep_the_central_difference():
    net = sd.mlp([3, 4, 2], "elu", "mse")
    params = N.params_from_init(net, sd.generic(), seed=3)
    X, Y = N.random_data(net, 4, seed=1)
    stacked, plain = N.finite_differences(net, params, X, Y), _plain_central(net, params, X, Y)
    for name in stacked:  # the stacked batches round differently, by far less than the step's error
        np.testing.assert_allclose(stacked[name], plain[name], rtol=1e-7, atol=1e-10)


def test_verify_of_elu_at_zero_is_ok(capsys):
    assert main(["verify", *ELU_AT_ZERO]) == 0
    out = capsys.readouterr().out
    assert "FAILED" not in out


def test_registering_breakpoints():
    assert N._ACTIVATIONS["elu"].breakpoints == (0.0,)
    assert N._ACTIVATIONS["tanh"].breakpoints == ()
