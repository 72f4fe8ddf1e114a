"""Issue 18: whole derivations (align environments, several lines, a file, standard input,
definitions), readings that are never guessed, conventions, and verdicts that teach.

The mathematical facts asserted here are textbook ones, and every verdict the tests expect for a
wrong line is backed by the certified counterexample the checker must produce for it."""
from __future__ import annotations

import io
import json
import sys

import pytest

import symderiv as sd
from symderiv.claims import check, cli_check
from symderiv.errors import ClaimNameError, InvalidArgument, SymderivError

SIGMOID = sd.mlp([3, 4, 3], "sigmoid", "ce")

THREE_LINES = r"""\begin{align}
\delta^{(2)} &= p - y \\
\frac{\partial L}{\partial W^{(2)}} &= \delta^{(2)} (h^{(1)})^\top \\
\delta^{(1)} &= (W^{(2)})^\top \delta^{(2)} \odot \sigma(z^{(1)})
\end{align}"""


def test_an_align_derivation_names_its_wrong_line():
    v = check(THREE_LINES, SIGMOID)
    assert v.status == "refuted"
    assert [l.status for l in v.links] == ["proved", "proved", "refuted"]
    assert [l.line for l in v.links] == [1, 2, 3]
    assert v.first_wrong_link == 3 and v.counterexample is not None
    assert "line 3" in str(v) and "the first wrong link is link 3 (line 3)" in str(v)
    assert json.loads(v.to_json())["links"][2]["line"] == 3


def test_the_corrected_derivation_is_proved():
    v = check(THREE_LINES.replace(r"\sigma(z^{(1)})", r"\sigma'(z^{(1)})"), SIGMOID)
    assert v.status == "proved" and len(v.links) == 3


def test_a_chain_continued_on_the_next_rows_names_the_row():
    text = (r"\begin{aligned} h^{(1)} &= \sigma(z^{(1)}) \\ &= \frac{1}{1 + e^{-z^{(1)}}} \\ "
            r"&= 1 - \sigma(z^{(1)}) \end{aligned}")
    v = check(text, SIGMOID)
    assert [l.status for l in v.links] == ["proved", "proved", "refuted"]
    assert [l.line for l in v.links] == [1, 2, 3]


def test_plain_text_lines_and_eqnarray():
    lines = "delta2 = p - y\ndW2 = outer(delta2, h1)\ndelta1 = W2.T @ delta2 * dsigma(z1)\n"
    assert check(lines, SIGMOID).status == "proved"
    eqn = r"\begin{eqnarray} \delta^{(2)} &=& p - y \\ \delta^{(1)} &=& W^{(2)} \delta^{(2)} \end{eqnarray}"
    with pytest.raises(SymderivError, match="line 2"):  # a 4×3 times 3×1 claimed as 4×1: W^T is missing
        check(eqn, SIGMOID)


def test_definitions_are_used_in_later_lines():
    text = "Let u = W^{(1)} x + b^{(1)}\nh^{(1)} = \\sigma(u)\n\\delta^{(1)} = (W^{(2)})^\\top \\delta^{(2)} \\odot \\sigma'(u)"
    v = check(text, SIGMOID)
    assert v.status == "proved" and len(v.links) == 2
    assert any("defines u" in n for n in v.notes)
    wrong = check(text.replace(r"\sigma'(u)", r"\sigma(u)"), SIGMOID)
    assert wrong.status == "refuted" and wrong.links[1].line == 3


def test_a_definition_of_an_unknown_letter_is_refused_in_one_line():
    with pytest.raises(SymderivError) as info:
        check("Let g = W^{(1)} x\nz^{(1)} = g", SIGMOID)
    assert "\n" not in str(info.value) and "definition" in str(info.value)


def test_from_a_file_and_from_standard_input(tmp_path, capsys, monkeypatch):
    path = tmp_path / "derivation.tex"
    path.write_text(THREE_LINES, encoding="utf-8")
    args = ["--layers", "3,4,3", "--activation", "sigmoid", "--loss", "ce", "--json"]
    assert cli_check(["-f", str(path), *args]) == 1
    out = json.loads(capsys.readouterr().out)
    assert out["status"] == "refuted" and out["first_wrong_link"] == 3 and out["links"][2]["line"] == 3
    monkeypatch.setattr(sys, "stdin", io.StringIO(THREE_LINES))
    assert cli_check(["-f", "-", *args]) == 1
    assert json.loads(capsys.readouterr().out)["links"][2]["line"] == 3
    assert cli_check(["-f", str(tmp_path / "missing.tex"), *args]) == 2
    assert "cannot read" in capsys.readouterr().err
    assert cli_check(["dL/dW1[i,j] = 0", "-f", str(path), *args]) == 2  # a claim and a file: which?


def test_nielsens_bare_a_reads_as_the_output():
    net = sd.mlp([3, 4, 2], "sigmoid", "bce")  # sigmoid outputs: BP1 holds
    v = check(r"\delta^L = \nabla_a C \odot \sigma'(z^L)", net)
    assert v.status == "proved"
    assert any("a = a^(2) = p" in n and "only reading" in n for n in v.notes)


def test_readings_that_disagree_are_never_refuted():
    net = sd.mlp([3, 3, 3], "sigmoid", "ce")  # every width 3: a can be a^(1) or a^(2) = p
    v = check(r"a = \sigma(z^{(1)})", net)
    assert v.status == "undecided" and v.counterexample is None
    assert "a^(1)" in v.links[0].reason and "write the layer" in v.links[0].reason
    assert check(r"a^{(1)} = \sigma(z^{(1)})", net).status == "proved"


def test_the_vector_of_ones():
    net = sd.mlp([4, 3], loss="ce")
    assert check(r"\nabla_b L = \frac{1}{N}(P - Y)^\top \mathbf{1}", net).status == "proved"
    assert check(r"\nabla_b L = \frac{1}{N}(P - Y)^\top \mathbb{1}_N", net).status == "proved"
    v = check(r"\nabla_b L = (P - Y)^\top \mathbf{1}", net)
    assert v.status == "refuted" and "1/N" in v.links[0].reason
    assert check(r"\frac{1}{N} \mathbf{1}^\top (P - Y) = (\nabla_b L)^\top", net).status == "proved"
    assert check(r"p_k \mathbb{1}(y = k) = p_k \delta_{kt}", net).status == "proved"  # still the indicator


def test_diag_and_the_softmax_jacobian():
    net = sd.mlp([4, 3], loss="ce")
    assert check(r"\frac{\partial p}{\partial z} = \mathrm{diag}(p) - p p^\top", net).status == "proved"
    assert check(r"\frac{\partial p}{\partial z} = \mathrm{diag}(p) + p p^\top", net).status == "refuted"


def test_goodfellows_a_is_the_pre_activation():
    net = sd.mlp([3, 4, 3], "tanh", "ce")
    line = r"a^{(k)} = W^{(k)} h^{(k-1)} + b^{(k)}"
    v = check(line, net)
    assert v.status == "proved" and any("goodfellow" in n for n in v.notes)
    assert check(line, net, convention="goodfellow").status == "proved"
    assert check(line, net, convention="nielsen").status == "refuted"  # there a is f(W h + b)


def test_cs231n_weights_are_inputs_by_outputs():
    net = sd.mlp([4, 3], loss="ce")
    line = r"\frac{\partial L}{\partial W} = \frac{1}{N} X^\top (P - Y)"
    v = check(line, net, convention="cs231n")
    assert v.status == "proved" and "cs231n" in v.notes[0]
    default = check(line, net)  # the shapes fit only with W as n_in × n_out: read so and said, never refuted
    assert default.status == "proved" and "n_(l-1) × n_l" in default.notes[0]
    insisted = check(line, net, convention="symderiv")
    assert insisted.status == "refuted" and "cs231n" in insisted.links[0].reason  # how to pick the other convention
    with pytest.raises(InvalidArgument, match="convention"):
        check(line, net, convention="bishop")


def test_ngs_column_batches_and_per_example_dz():
    net = sd.mlp([3, 4, 3], "tanh", "ce")
    v = check(r"dZ^{[2]} = A^{[2]} - Y", net)
    assert v.status == "proved" and any("convention ng" in n for n in v.notes)
    assert check(r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}", net).status == "proved"
    assert check(r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]'}(Z^{[1]})", net).status == "proved"


def test_refutations_say_what_the_counterexample_shows():
    net = sd.mlp([4, 3], loss="ce")
    assert "sign error" in check(r"\frac{\partial L}{\partial z} = y - p", net).links[0].reason
    assert "1/N" in check(r"\frac{\partial L}{\partial W} = (P - Y)^\top X", net).links[0].reason
    tanh = sd.mlp([3, 3, 3], "tanh", "ce")
    assert "transpose" in check(r"\frac{\partial L}{\partial W^{(1)}} = x (\delta^{(1)})^\top", tanh).links[0].reason
    wrong_derivative = check(r"\delta^{(1)} = (W^{(2)})^\top \delta^{(2)} \odot \sigma(z^{(1)})", SIGMOID)
    assert "activation derivative" in wrong_derivative.links[0].reason


def test_counterexamples_prefer_one_hot_labels():
    v = check(r"\frac{\partial L}{\partial z} = y - p", sd.mlp([4, 3], loss="ce"))
    labels = sorted(v.counterexample.data[f"y_{k}"] for k in (1, 2, 3))
    assert labels == ["0", "0", "1"]


def test_the_notebook_repr_shows_the_counterexample():
    v = check(r"\frac{\partial L}{\partial z} = y - p", sd.mlp([4, 3], loss="ce"))
    tex = v._repr_latex_()
    assert "counterexample" in tex and r"x\_1" in tex  # escaped: no raw user text in LaTeX


@pytest.mark.parametrize("text, needle", [
    (r"dq^{[2]} = 0", "dq"),
    ("dq1 = 0", "dq1"),
    ("dL/dy = 0", "'y'"),
])
def test_messages_name_the_token_written(text, needle):
    with pytest.raises(SymderivError) as info:
        check(text, SIGMOID)
    message = str(info.value)
    assert needle in message and "GRAD_" not in message and "\n" not in message


def test_unicode_transpose_and_numpy_reductions():
    net = sd.mlp([4, 3], loss="ce")
    assert check(r"\frac{\partial L}{\partial W} = \frac{1}{N}(P - Y)ᵀ X", net).status == "proved"
    assert check("db1 = np.sum(P - Y, axis=0, keepdims=True) / X.shape[0]", net).status == "proved"
    assert check("db1 = (P - Y).sum(axis=0)", net).status == "refuted"
    with pytest.raises(SymderivError, match="axis"):
        check("db1 = np.sum(P - Y, axis=2)", net)


def test_a_bad_convention_name_on_the_command_line(capsys):
    assert cli_check(["x", "--layers", "3,3", "--convention", "bishop"]) == 2


def test_readings_error_names_them():
    with pytest.raises(ClaimNameError, match="no reading that fits"):
        check(r"\frac{\partial C}{\partial w^l_{jk}} = a_j \delta^l_k", sd.mlp([3, 4, 2], "sigmoid", "bce"))


@pytest.mark.parametrize("text", [
    "\n".join(["x_1 = x_1"] * 101),                                  # too many lines
    r"\begin{align} x_1 &= x_1 \\ \input{/etc/passwd} &= 1 \end{align}",  # a macro inside a row
    r"\begin{align} & \\ & \end{align}",                               # nothing but alignment
    "Let u = \nx_1 = u",                                               # an empty definition
    "&" * 5000,
])
def test_hostile_derivations_are_refused_in_one_line(text):
    with pytest.raises(SymderivError) as info:
        check(text, SIGMOID, seconds=3)
    message = str(info.value)
    assert message and "\n" not in message and len(message) < 2000


def test_a_derivations_json_is_deterministic():
    a = check(THREE_LINES, SIGMOID).to_json()
    b = check(THREE_LINES, SIGMOID).to_json()
    assert a == b


def test_display_delimiters_and_connectives():
    text = "$$\\frac{\\partial L}{\\partial z} = p - y,$$\n$$\\Rightarrow \\frac{\\partial L}{\\partial W} = (p - y) x^\\top.$$"
    v = check(text, sd.mlp([4, 3], loss="ce"))
    assert v.status == "proved" and [l.line for l in v.links] == [1, 2]


@pytest.mark.parametrize("text", ["dL/db1.foo = 0", "dL/db1(x) = 0", "dL/db1 = dL/dW1 @ ", "dL/db1[0] = 1", "W2'(x) = 1"])
def test_plain_text_messages_never_show_internal_names(text):
    with pytest.raises(SymderivError) as info:
        check(text, SIGMOID, syntax="plain")
    assert "GRAD_" not in str(info.value) and "_PRIME" not in str(info.value)


def test_cs231n_notes_scores_and_examples():
    net = sd.mlp([4, 3], loss="ce")
    assert check(r"L_i = -f_{y_i} + \log \sum_j e^{f_j}", net).status == "proved"
    assert check(r"\frac{\partial L_i}{\partial f_k} = p_k - \mathbb{1}(y_i = k)", net).status == "proved"
    assert check(r"\nabla_W L = \frac{1}{N}\sum_{i=1}^{N} (p_i - y_i) x_i^\top", net).status == "proved"
    v = check(r"\nabla_W L = \sum_{i=1}^{N} (p_i - y_i) x_i^\top", net)
    assert v.status == "refuted" and "1/N" in v.links[0].reason


def test_row_vectors_as_in_cs224n():
    net = sd.mlp([4, 5, 3], "sigmoid", "ce")
    v = check(r"h = \sigma(x W_1 + b_1)", net)  # fits only with rows and W_1 of shape n_0 × n_1
    assert v.status == "proved" and "rows" in v.notes[0] and "detected" in v.notes[0]
    assert check(r"\frac{\partial J}{\partial W_2} = h^\top (\hat{y} - y)", net, convention="cs224n").status == "proved"
    wrong = check(r"\frac{\partial J}{\partial z^{(1)}} = (\hat{y} - y) W_2^\top \odot \sigma(z^{(1)})", net, convention="cs224n")
    assert wrong.status == "refuted"


def test_numpy_broadcasting_of_a_bias():
    net = sd.mlp([4, 5, 3], "relu", "ce")
    assert check("probs = softmax(hidden_layer @ W2.T + b2)", net).status == "proved"
    assert check("hidden_layer = relu(X @ W1.T + b1)", net).status == "proved"
    assert check("hidden_layer = relu(X @ W1.T)", net).status == "refuted"


def test_a_transposed_loss_is_not_a_jacobian():
    with pytest.raises(SymderivError, match="Jacobian"):
        check(r"\frac{\partial L}{\partial z} = J^\top \delta", sd.mlp([4, 3], loss="ce"))


def test_a_cs224n_derivation_keeps_its_row_vectors():
    net = sd.mlp([4, 5, 3], "sigmoid", "ce")
    text = r"""\begin{align}
h &= \sigma(x W_1 + b_1) \\
\frac{\partial J}{\partial W_2} &= h^\top (\hat{y} - y) \\
\frac{\partial J}{\partial h} &= (\hat{y} - y) W_2^\top \odot \sigma'(x W_1 + b_1)
\end{align}"""
    v = check(text, net)
    assert [l.status for l in v.links] == ["proved", "proved", "refuted"]  # line 3 is ∂J/∂z_1, not ∂J/∂h
    assert any("writes row vectors" in n for n in v.notes)
    with pytest.raises(SymderivError, match="cs224n"):  # alone, the second line gives no sign of rows
        check(r"\frac{\partial J}{\partial W_2} = h^\top (\hat{y} - y)", net)


def test_odot_before_the_product_when_only_that_fits():
    net = sd.mlp([4, 5, 3], "sigmoid", "ce")
    v = check(r"\frac{\partial J}{\partial x} = (\hat{y} - y) W_2^\top \odot \sigma'(x W_1 + b_1) W_1^\top", net)
    assert v.status == "proved" and any("(A ⊙ B) C" in n for n in v.notes)


def test_ngs_logistic_regression_column_w():
    """Ng's w is a column (z = w^T x + b): in a one-layer network a bare lowercase w is read as W or as
    W^T, and the reading whose shapes fit is checked (both, when both fit)."""
    net = sd.mlp([3, 1], loss="bce")
    v = check(r"\frac{\partial J}{\partial w} = \frac{1}{m} X^\top (A - Y)", net)
    assert v.status == "proved" and any("w = W^T" in n for n in v.notes)
    assert check(r"\frac{\partial J}{\partial w} = X^\top (A - Y)", net).status == "refuted"
    assert check(r"z = w^\top x + b", net).status == "proved"
    assert check("dw = X.T @ (P - Y) / m", net).status == "proved"
    square = sd.mlp([3, 3], loss="ce")  # both orientations fit: each is checked, and they disagree
    assert check(r"\frac{\partial L}{\partial w} = (p - y) x^\top", square).status == "undecided"


@pytest.mark.parametrize("mask", [r"\mathbb{1}[z^{(1)} > 0]", r"\mathbf{1}(z^{(1)} > 0)", r"\mathbf{1}[z^{(1)} > 0]"])
def test_bold_and_bracketed_indicators(mask):
    net = sd.mlp([3, 4, 3], "relu", "ce")
    assert check(r"\delta^{(1)} = W^{(2)\top}\delta^{(2)} \odot " + mask, net).status == "proved"
