"""CS231n's two-layer backward pass as the course notes write it, checked with ``convention="auto"`` (no
convention argument): a line that writes rows with ``W`` of shape n_in × n_out (``np.dot(dscores, W2.T)``,
where symderiv's orientation does not fit) pins CS231n's layout for the whole derivation, the lines before it
included, and the verdict's notes say so.

Every expected verdict is set **independently of symderiv**, by the NumPy finite-difference harness of
:mod:`tests.test_checker_fancy_indexing` (the same network and data): the test's own code lines are run in
NumPy and each gradient a line assigns is compared with central differences of the mean cross-entropy.
"""
from __future__ import annotations

import pytest

import symderiv as sd
from symderiv.claims import check
from tests.test_checker_fancy_indexing import _NET, _NOTES, _oracle

#: realistic slips in the notes' code; the first is the one a line-by-line "auto" proved before the whole
#: derivation was read in one layout (dscores.T @ hidden_layer fits symderiv's n_out × n_in W2)
SLIPS = [
    ("dW2 with the operands swapped", _NOTES.replace("np.dot(hidden_layer.T, dscores)", "np.dot(dscores.T, hidden_layer)")),
    ("forgot /= num_examples", _NOTES.replace("dscores /= num_examples\n", "")),
    ("+= 1 for -= 1", _NOTES.replace("-= 1", "+= 1")),
    ("mask on the wrong array", _NOTES.replace("dhidden[hidden_layer <= 0]", "dhidden[dhidden <= 0]")),
]


def _expected(code: str) -> dict:
    oracles = [_oracle(code, seed) for seed in (0, 1)]
    return {n: all(o[k][2] for o in oracles) for k, (n, _, _) in enumerate(oracles[0])}


def _by_line(verdict) -> dict:
    return {link.line: link.status for link in verdict.links}


def test_the_notes_verbatim_under_auto_are_read_as_cs231n_and_proved():
    right = _expected(_NOTES)
    assert right and all(right.values())  # the oracle: the notes' code is right
    verdict = check(_NOTES, _NET, seconds=20)
    assert set(_by_line(verdict)) == set(right), (_by_line(verdict), right)
    assert verdict.status == "proved", _by_line(verdict)
    assert any("convention cs231n" in n and "detected" in n for n in verdict.notes), verdict.notes
    assert not any("(chosen)" in n for n in verdict.notes)


@pytest.mark.parametrize("label, code", SLIPS, ids=[s[0] for s in SLIPS])
def test_slips_under_auto_are_refuted_at_the_first_wrong_line(label, code):
    right = _expected(code)
    wrong = sorted(n for n, ok in right.items() if not ok)
    assert wrong, label  # the oracle sees the slip
    verdict = check(code, _NET, seconds=20)
    by_line = _by_line(verdict)
    assert set(by_line) == set(right), (label, by_line, right)
    assert verdict.status == "refuted", (label, by_line)
    assert min(n for n, s in by_line.items() if s == "refuted") == wrong[0], (label, by_line, wrong)
    for n, ok in right.items():
        if ok:
            assert by_line[n] != "refuted", (label, n, by_line)
        if n < wrong[0]:
            assert by_line[n] == "proved", (label, n, by_line)


@pytest.mark.parametrize("line, status", [
    ("dhidden = np.dot(dscores, W2.T)", "proved"),
    ("dhidden = dscores @ W2.T", "proved"),
    ("dhidden = np.dot(dscores, W2.T) / 2", "refuted"),
])
def test_single_lines_that_write_rows(line, status):
    """``dscores W2^T`` fits only CS231n's n_in × n_out W2 (5×3 here): read so, and said."""
    verdict = check(line, _NET, seconds=20)
    assert verdict.status == status, (line, verdict.links)
    assert any("convention cs231n" in n and "detected" in n for n in verdict.notes), verdict.notes


def test_an_ng_layout_derivation_under_auto_is_still_read_as_ngs():
    """Column-per-example notation (Ng's, layers in square brackets): read in Ng's convention, never CS231n's,
    right and with a slip (twice the gradient on line 2), which is refuted at its line."""
    net = sd.mlp([3, 4, 3], "tanh", "ce")
    derivation = "\n".join([r"dZ^{[2]} = A^{[2]} - Y",
                            r"dW^{[2]} = \frac{1}{m} dZ^{[2]} A^{[1]T}",
                            r"dZ^{[1]} = W^{[2]T} dZ^{[2]} \odot g^{[1]'}(Z^{[1]})"])
    verdict = check(derivation, net, seconds=20)
    assert verdict.status == "proved", _by_line(verdict)
    assert any("convention ng" in n for n in verdict.notes), verdict.notes
    assert not any("cs231n" in n for n in verdict.notes), verdict.notes
    slip = derivation.replace(r"dZ^{[2]} A^{[1]T}", r"2 dZ^{[2]} A^{[1]T}")
    verdict = check(slip, net, seconds=20)
    assert verdict.status == "refuted" and [s for _, s in sorted(_by_line(verdict).items())][1] == "refuted"
    assert not any("cs231n" in n for n in verdict.notes), verdict.notes


def _expected_at(monkeypatch, sizes, code: str) -> dict:
    """The oracle on another network's widths (the harness reads its module's SIZES)."""
    import tests.test_checker_fancy_indexing as harness

    monkeypatch.setattr(harness, "SIZES", tuple(sizes))
    return _expected(code)


def test_a_square_second_layer_is_pinned_by_the_first(monkeypatch):
    """With H = K (W2 square) only W1 (4×3) tells the layouts apart: dW = np.dot(X.T, dhidden) fits only CS231n's,
    and that line fixes the layout of the whole derivation (dW2's line before it included)."""
    sizes = (4, 3, 3)
    net = sd.mlp(list(sizes), "relu", "ce")
    for code in (_NOTES, SLIPS[0][1]):
        right = _expected_at(monkeypatch, sizes, code)
        verdict = check(code, net, seconds=20)
        by_line = _by_line(verdict)
        assert set(by_line) == set(right), (by_line, right)
        wrong = sorted(n for n, ok in right.items() if not ok)
        assert verdict.status == ("refuted" if wrong else "proved"), (by_line, wrong)
        if wrong:
            assert min(n for n, s in by_line.items() if s == "refuted") == wrong[0], (by_line, wrong)
        assert any("detected" in n and "whole derivation" in n for n in verdict.notes), verdict.notes


@pytest.mark.parametrize("line", ["dW2 = np.dot(hidden_layer.T, dscores)", "dW2 = np.dot(dscores.T, hidden_layer)",
                                  "dhidden = np.dot(dscores, W2.T)"])
def test_when_both_layouts_fit_a_line_is_undecided_naming_both(line):
    """Every layer square (3-3-3): symderiv's W and CS231n's both fit, and each line is right in one of them
    (the transpose of a square gradient is another matrix), so the verdict names both and picks neither."""
    verdict = check(line, sd.mlp([3, 3, 3], "relu", "ce"), seconds=20)
    assert verdict.status == "undecided", (line, verdict.links)
    said = " ".join(verdict.notes)
    assert "symderiv's layout" in said and "CS231n's layout" in said, verdict.notes
    assert "convention='cs231n'" in verdict.links[0].reason


def test_all_square_the_notes_are_never_refuted_and_a_slip_in_both_layouts_is(monkeypatch):
    """3-3-3: nothing pins the layout; the notes' right lines are never refuted, and a slip wrong in both
    layouts (no division by the batch size) is refuted at its line, as the finite differences say."""
    sizes = (3, 3, 3)
    net = sd.mlp(list(sizes), "relu", "ce")
    right = _expected_at(monkeypatch, sizes, _NOTES)
    verdict = check(_NOTES, net, seconds=20)
    by_line = _by_line(verdict)
    assert all(right.values()) and set(by_line) == set(right)
    assert "refuted" not in by_line.values() and verdict.status == "undecided", by_line
    slip = SLIPS[1][1]
    right = _expected_at(monkeypatch, sizes, slip)
    verdict = check(slip, net, seconds=20)
    first_wrong = min(n for n, ok in right.items() if not ok)
    assert verdict.status == "refuted"
    assert min(n for n, s in _by_line(verdict).items() if s == "refuted") == first_wrong
