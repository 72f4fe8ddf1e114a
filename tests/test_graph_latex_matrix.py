"""A linear layer's weight gradient in matrix form (``∂ℓ/∂W = g hᵀ``) in the graph proof documents: the
form agrees with sympy.diff of the loss, a wrong closed form is rejected, and where the structure does not
allow it (several rows, a lumped quotient) no form is claimed."""
from __future__ import annotations

import numpy as np
import pytest
import sympy as sp

pytest.importorskip("torch")

from symderiv.graph import analyze_module, examples  # noqa: E402
from symderiv.graph.engine import backprop, symbolic_values  # noqa: E402
from symderiv.graph.latex_matrix import outer_form  # noqa: E402


def _init_values(a) -> dict[str, np.ndarray]:
    g = a.proof.graph
    out = {}
    for name, p in g.params.items():
        arr = np.empty(p.shape, dtype=object)
        for idx in np.ndindex(*p.shape):
            arr[idx] = a.init_value(name, idx)
        out[name] = arr
    return out


@pytest.fixture(scope="module")
def lora_b_zero():
    return analyze_module(examples.LoRA(zero="B"), loss="mse", input_shape=(3,))


def test_lora_matrix_form_agrees_with_sympy_diff_of_the_loss(lora_b_zero):
    """g hᵀ at the init (δ the loss's) against sympy.diff of the forward loss with B's entries free, at B = 0."""
    a = lora_b_zero
    g = a.proof.graph
    values = _init_values(a)
    free = symbolic_values(g, prefix="q")["lora_B.weight"]
    loss = backprop(g, {**values, "lora_B.weight": free}, backward=False).loss()
    at_zero = {s: 0 for s in free.flat}
    form = outer_form(g, backprop(g, values), "lora_B.weight", lambda i: a.gradient_at_init("lora_B.weight", i))
    assert form is not None and form.cotangent.shape == (3,) and form.layer_input.shape == (2,)
    for o in range(3):
        for i in range(2):
            by_diff = sp.diff(loss, free[o, i]).xreplace(at_zero)
            assert sp.expand(form.cotangent[o] * form.layer_input[i] - by_diff) == 0
    # the layer input is A x (no δ in it), the cotangent the loss's δ
    x = [s for s in sp.Matrix(list(form.layer_input)).free_symbols if s.name.startswith("x")]
    assert len(x) == 3


def test_a_wrong_closed_form_gets_no_matrix_form(lora_b_zero):
    a = lora_b_zero
    g = a.proof.graph
    gpass = backprop(g, _init_values(a))
    right = gpass.grads["lora_B.weight"]
    assert outer_form(g, gpass, "lora_B.weight", lambda i: right[i]) is not None
    assert outer_form(g, gpass, "lora_B.weight", lambda i: 2 * right[i]) is None
    assert outer_form(g, gpass, "lora_B.weight", lambda i: right[i] + (1 if i == (2, 1) else 0)) is None
    assert outer_form(g, gpass, "lora_B.weight", lambda i: None) is None  # an unknown closed form: nothing claimed


def test_several_rows_fall_back_to_entries():
    a = analyze_module(examples.Attention(zero="q"), loss="mse", input_shape=(2, 3))
    g = a.proof.graph
    gpass = backprop(g, _init_values(a))
    assert outer_form(g, gpass, "q.weight", lambda i: gpass.grads["q.weight"][i]) is None  # two token rows


def test_lora_document_states_the_outer_product(lora_b_zero):
    tex = lora_b_zero.to_latex()
    section = tex[tex.index("The decisive closed forms"):tex.index(r"\subsection{First moves}")]
    assert r"\frac{\partial \ell}{\partial W^{\mathrm{lora\_B}}} &= g^{\mathrm{lora\_B}} \, \bigl(h^{\mathrm{lora\_B}}\bigr)^{\top}" in section
    assert r"g^{\mathrm{lora\_B}} &= \begin{pmatrix} \delta_{1} \\ \delta_{2} \\ \delta_{3} \end{pmatrix}" in section
    assert r"\delta &= \begin{pmatrix}" in section  # the loss's δ at the init, named
    assert "x_{1}^{2}" not in section  # no expanded polynomial of the entries any more

