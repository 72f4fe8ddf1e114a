"""An independent oracle: the full loss built with explicit matrices, differentiated by sympy.diff.

Only the activation's forward function is shared with the engine (it is the
definition of the network); derivatives, the δ recursion, the softmax and the
label constraint are all written here again, the slow and obvious way.
"""
from __future__ import annotations

import random

import sympy as sp

from symderiv.init import resolve_init


def _loss(name: str, z: list, y: list) -> sp.Expr:
    K = len(z)
    if name == "softmax_cross_entropy":
        lse = sp.log(sum(sp.exp(v) for v in z))
        return -sum(yk * (zk - lse) for zk, yk in zip(z, y))
    if name == "sigmoid_binary_cross_entropy":
        s = [1 / (1 + sp.exp(-v)) for v in z]
        return -sum(yk * sp.log(sk) + (1 - yk) * sp.log(1 - sk) for sk, yk in zip(s, y))
    if name == "mean_squared_error":
        return sum((zk - yk) ** 2 for zk, yk in zip(z, y)) / K
    raise KeyError(name)


def oracle_gradients(net, init) -> tuple[dict, list, list]:
    """``({name: {index: gradient at init}}, x symbols, label symbols)`` by sympy.diff of the loss."""
    x = [sp.Symbol(f"x_{j}", real=True) for j in range(1, net.sizes[0] + 1)]
    K = net.sizes[-1]
    ysyms = [sp.Symbol(f"y_{k}", real=True) for k in range(1, K + 1)]
    y = list(ysyms)
    if net.loss.name == "softmax_cross_entropy":
        y[-1] = 1 - sum(ysyms[:-1])
        ysyms = ysyms[:-1]
    inits = resolve_init(net, init)
    params, values = {}, {}
    for name in net.parameter_names():
        shape = net.shape(name)
        mat = sp.Matrix(*shape, lambda *ix: sp.Symbol(f"P_{name}_{'_'.join(map(str, ix))}")) if len(shape) == 2 else \
            sp.Matrix([sp.Symbol(f"P_{name}_{i}") for i in range(shape[0])])
        params[name] = mat
        for index in [(i, j) for i in range(shape[0]) for j in range(shape[1])] if len(shape) == 2 else [(i,) for i in range(shape[0])]:
            values[mat[index] if len(index) == 2 else mat[index[0]]] = inits[name].entry(index)
    h = sp.Matrix(x)
    for l in range(1, net.depth + 1):
        z = params[f"W{l}"] * h
        if net.bias:
            z = z + params[f"b{l}"]
        if l < net.depth:
            act = net.activation_of(l)
            h = z.applyfunc(act)
    loss = _loss(net.loss.name, list(z), y)
    grads = {}
    for name, mat in params.items():
        grads[name] = {}
        shape = net.shape(name)
        for i in range(shape[0]):
            for j in range(shape[1] if len(shape) == 2 else 1):
                sym = mat[i, j] if len(shape) == 2 else mat[i]
                index = (i, j) if len(shape) == 2 else (i,)
                grads[name][index] = sp.diff(loss, sym).xreplace(values)
    return grads, x, ysyms


def random_point(symbols, seed: int) -> dict:
    rng = random.Random(seed)
    point = {}
    for s in symbols:
        point[s] = sp.Rational(rng.choice([n for n in range(-9, 10) if n != 0]), rng.randint(2, 7))
    return point
