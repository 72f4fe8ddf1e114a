"""symderiv.extend: every exported name importable; an activation registered through it is what an
analysis uses (closed forms against sympy.diff of the loss built by hand, NumPy and finite differences
through verify(), the zero-init facts it implies); an optimizer registered through it reaches analyze()
and the CLI."""
from __future__ import annotations

import importlib
import importlib.util

import numpy as np
import pytest
import sympy as sp

import symderiv as sd
from symderiv import extend

NAME = "extend_test_cos"


def test_every_exported_name_is_importable():
    has_torch = importlib.util.find_spec("torch") is not None
    for name in extend.__all__:
        if name in extend._WITH_TORCH and not has_torch:
            continue  # imported on first use, and needs torch
        assert getattr(importlib.import_module("symderiv.extend"), name) is not None, name
    with pytest.raises(AttributeError):
        extend.not_a_registry  # noqa: B018


def test_the_docstring_shows_each_registry():
    doc = extend.__doc__ or ""
    for fn in ("register_activation", "register_numeric_activation", "register_loss", "register_numeric_loss",
               "defop", "defvjp", "defshape", "aten_rule", "register_graph_loss", "register_optimizer_class",
               "register_optimizer_rule", "register_optimizer"):
        assert fn in doc and fn in extend.__all__, fn


@pytest.fixture
def cosine(monkeypatch):
    """``cos`` registered through symderiv.extend for one test (the registries are restored after it)."""
    from symderiv import activations, numeric

    monkeypatch.setattr(activations, "_REGISTRY", dict(activations._REGISTRY))
    monkeypatch.setattr(numeric, "_ACTIVATIONS", dict(numeric._ACTIVATIONS))
    numeric._bind_activation.cache_clear()
    extend.register_activation(NAME, lambda z: sp.cos(z), description="cos z")
    extend.register_numeric_activation(NAME, np.cos, lambda z: -np.sin(z))
    yield NAME
    numeric._bind_activation.cache_clear()


def test_a_registered_activation_drives_the_closed_forms(cosine):
    net = sd.mlp([2, 2, 2], cosine, "mse")
    assert cosine in extend.registered_activations()
    d = sd.derive(net, sd.generic())
    sym = {s.name: s for name in net.parameter_names() for s in sp.Matrix(d[name]).free_symbols}
    sym.update({s.name: s for s in list(d.x) + list(d.y)})
    W1 = sp.Matrix(2, 2, lambda i, j: sym[f"W1_{i + 1}_{j + 1}"])
    W2 = sp.Matrix(2, 2, lambda i, j: sym[f"W2_{i + 1}_{j + 1}"])
    b1 = sp.Matrix([sym["b1_1"], sym["b1_2"]])
    b2 = sp.Matrix([sym["b2_1"], sym["b2_2"]])
    x, y = sp.Matrix(list(d.x)), sp.Matrix(list(d.y))
    z = W2 * (W1 * x + b1).applyfunc(sp.cos) + b2
    loss = sum((z[k] - y[k]) ** 2 for k in range(2)) / 2  # the mse convention: δ = z − y
    for name, M in (("W1", W1), ("W2", W2)):
        for i in range(2):
            for j in range(2):
                assert sp.expand(sp.diff(loss, M[i, j]) - d[name][i, j]) == 0, (name, i, j)


def test_a_registered_activation_drives_the_analysis(cosine):
    net = sd.mlp([3, 2, 2], cosine)
    a = sd.analyze(net, sd.zeros())
    # cos(0) = 1 feeds the last layer, cos'(0) = −sin(0) = 0 blocks the first (sympy.diff says so)
    assert sp.diff(sp.cos(sp.Symbol("z")), sp.Symbol("z")).subs("z", 0) == 0
    assert a.stays_zero("W1", (0, 0)) and a.stays_zero("b1", (1,))
    assert a.first_move_step("W2", (0, 0)) == 1
    tanh = sd.analyze(sd.mlp([3, 2, 2], "tanh"), sd.zeros())
    assert tanh.stays_zero("W2", (0, 0))  # a different activation, a different theorem: the entry was used
    report = a.verify(seed=0)  # NumPy forward/gradients, finite differences and training runs
    assert report.ok, report.details()


def test_a_registered_optimizer_reaches_analyze_and_the_cli(monkeypatch, capsys):
    from symderiv.cli import main
    from symderiv.optimizer_classes import assignment

    monkeypatch.setattr(assignment, "OPTIMIZER_RULES", dict(assignment.OPTIMIZER_RULES))
    extend.register_optimizer_rule("extend_test_signum", "Signum", "sign", replay=("lion",))
    with pytest.raises(sd.errors.RegistryError):
        extend.register_optimizer_rule("extend_test_signum", "Signum", "sign")
    with pytest.raises(sd.errors.RegistryError):
        extend.register_optimizer_rule("extend_test_bad", "Bad", "not_a_class")
    a = sd.analyze(sd.mlp([3, 2, 2]), sd.zeros(), optimizer="extend_test_signum")
    assert {cls for _, _, cls in a.optimizers.per_parameter} == {"sign"}
    assert main(["analyze", "--layers", "3,2,2", "--optimizer", "extend_test_signum"]) == 0
    assert "Signum on W1, b1, W2, b2 (class 'sign')" in capsys.readouterr().out


_RUN_EXAMPLES = r'''
import dataclasses, re, textwrap
import numpy as np, sympy as sp
import symderiv as sd, symderiv.extend as e
g = {"np": np, "sp": sp, "sd": sd, "dataclasses": dataclasses}
blocks = re.findall(r"::\n\n((?:    .*\n|\n)+)", e.__doc__)
assert len(blocks) == 8, len(blocks)
for block in blocks:
    exec(textwrap.dedent(block), g)
assert "cosine" in e.registered_activations() and "cosine" in e.numeric_activations()
assert "half_squares" in e.registered_losses() and "half_sse" in e.registered_graph_losses()
assert "square" in e.registered_ops() and "aten.square.default" in e.ATEN
assert "signum" in e.registered_optimizer_classes() and "signum" in e.registered_optimizers()
assert "signsgd" in e.NUMERIC_OPTIMIZERS
a = sd.analyze(sd.mlp([3, 2, 2], "cosine"), sd.zeros())
assert a.stays_zero("W1", (0, 0)) and a.first_move_step("W2", (0, 0)) == 1
x = np.array([sp.Symbol("u")], dtype=object)
rule = sd.graph.ops.op_rule("square")
assert rule.forward([x], {})[0] == sp.Symbol("u") ** 2 and rule.vjp(np.array([1], dtype=object), [x], None, {})[0][0] == 2 * sp.Symbol("u")
print("ok")
'''


def test_the_docstring_examples_run():
    """Each worked example of the module docstring, in a fresh interpreter (registrations are process-wide)."""
    import subprocess
    import sys

    pytest.importorskip("torch")  # the ATen example
    run = subprocess.run([sys.executable, "-c", _RUN_EXAMPLES], capture_output=True, text=True, timeout=300)
    assert run.returncode == 0 and run.stdout.strip() == "ok", run.stderr[-2000:]
