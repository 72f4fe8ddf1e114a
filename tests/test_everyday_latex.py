"""Issue 19: LaTeX without raw carets or repeated paragraphs."""
from __future__ import annotations

from collections import Counter

import pytest

import symderiv as sd
from symderiv.latex.context import latex_text


def test_a_power_in_plain_text_is_a_superscript_and_nothing_else_is_unescaped():
    assert latex_text("(z - y)^2") == r"(z - y)\textsuperscript{2}"
    assert latex_text("(1 - a)^t, 50%") == r"(1 - a)\textsuperscript{t}, 50\%"
    assert latex_text(r"x^{\input{a}}") == r"x\^{}\{\textbackslash{}input\{a\}\}"  # no markup gets through


def _repeated_paragraphs(tex: str) -> list[str]:
    paragraphs = [p.strip() for p in tex.split("\n\n") if len(p.strip()) > 80]
    return [p[:80] for p, n in Counter(paragraphs).items() if n > 1]


def test_an_mse_proof_has_no_raw_caret_and_one_result_box():
    tex = sd.analyze(sd.mlp([3, 3, 2], "tanh", "mse"), sd.zeros()).to_latex()
    assert r"\^{}" not in tex and tex.count(r"\textbf{Result.}") <= 1
    assert _repeated_paragraphs(tex) == []


def test_the_lora_proof_prints_the_mse_loss_as_mathematics():
    pytest.importorskip("torch")
    from symderiv.graph import examples

    tex = sd.analyze(examples.LoRA(), loss="mse", input_shape=(3,)).to_latex()
    assert r"\^{}" not in tex and r"(z - y)\textsuperscript{2}" in tex
    assert tex.count(r"\textbf{Result.}") == 1 and _repeated_paragraphs(tex) == []
