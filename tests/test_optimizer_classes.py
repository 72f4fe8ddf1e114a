"""Optimizer classes by what they preserve (symderiv.optimizer_classes): the lattices against the real update maps.

The projection onto each class's lattice is checked against independent implementations of the updates
(NumPy: the polar factor by SVD, Muon's quintic Newton-Schulz, Shampoo's L^-1/4 G R^-1/4, Adafactor's factored
normalization, a LAMB-style trust ratio): a gradient drawn at random in the projected pattern's space is mapped
into that space, and the constraints the projection drops are really broken by the map.
"""
from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

from symderiv.errors import InvalidArgument
from symderiv.optimizer_classes import PatternLattice, STRUCTURES, optimizer_assignment

RNG = np.random.default_rng(7)


# ---------------------------------------------------------------- independent update maps (NumPy, float64)
def polar(G: np.ndarray) -> np.ndarray:
    U, s, Vt = np.linalg.svd(G, full_matrices=False)
    keep = s > 1e-12 * max(s.max(initial=0.0), 1.0)
    return (U[:, keep] * 1.0) @ Vt[keep]


def newton_schulz(G: np.ndarray, steps: int = 5) -> np.ndarray:
    a, b, c = 3.4445, -4.7750, 2.0315  # torch.optim.Muon's coefficients
    X = G / max(np.linalg.norm(G), 1e-300)
    for _ in range(steps):
        A = X @ X.T
        X = a * X + (b * A + c * A @ A) @ X
    return X


def _inv_root(M: np.ndarray, p: float) -> np.ndarray:
    w, Q = np.linalg.eigh(M)
    return (Q * w ** (-p)) @ Q.T


def shampoo(G: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    L = G @ G.T + eps * np.eye(G.shape[0])
    R = G.T @ G + eps * np.eye(G.shape[1])
    return _inv_root(L, 0.25) @ G @ _inv_root(R, 0.25)


def adafactor(G: np.ndarray) -> np.ndarray:
    R = (G * G).mean(axis=1, keepdims=True)
    C = (G * G).mean(axis=0, keepdims=True)
    v = np.maximum(R @ C / max(R.mean(), 1e-30), 1e-60)
    return G / np.sqrt(v)


MATRIX_MAPS = {"rowcol": (polar, newton_schulz, shampoo), "factored": (adafactor,)}


# ---------------------------------------------------------------- patterns as arrays
def pattern_classes(labels: dict[str, np.ndarray]):
    """Classes and zero index from per-parameter label arrays (label 0 = zero; equal labels = tied)."""
    by: dict[int, list] = {}
    for name, arr in labels.items():
        for i, v in enumerate(arr.reshape(-1)):
            by.setdefault(int(v), []).append((name, i))
    classes = [tuple(m) for _, m in sorted(by.items())]
    zero = next((k for k, (v, _) in enumerate(sorted(by.items())) if v == 0), None)
    return classes, zero


def random_in(classes, zero, shapes) -> dict[str, np.ndarray]:
    """A random point of V(P): zero class 0, one random value per tie class."""
    out = {n: np.zeros(int(np.prod(s))) for n, s in shapes.items()}
    for k, members in enumerate(classes):
        value = 0.0 if k == zero else RNG.normal()
        for n, i in members:
            out[n][i] = value
    return {n: a.reshape(shapes[n]) for n, a in out.items()}


def respects(values: dict[str, np.ndarray], classes, zero, tol: float = 1e-9) -> bool:
    flat = {n: a.reshape(-1) for n, a in values.items()}
    scale = max(max(np.abs(a).max(initial=0.0) for a in flat.values()), 1e-300)
    for k, members in enumerate(classes):
        vals = np.array([flat[n][i] for n, i in members])
        if k == zero and np.abs(vals).max() > tol * scale:
            return False
        if np.ptp(vals) > tol * scale:
            return False
    return True


def refines(new, new_zero, old, old_zero) -> bool:
    """Every class of ``new`` inside a class of ``old``; the new zeros inside the old zeros."""
    where = {c: k for k, m in enumerate(old) for c in m}
    for k, m in enumerate(new):
        if k == new_zero:
            if old_zero is None or any(where[c] != old_zero for c in m):
                return False
        elif len({where[c] for c in m}) != 1:
            return False
    return True


labels_2d = st.tuples(st.integers(2, 4), st.integers(2, 4)).flatmap(
    lambda s: st.lists(st.integers(0, 3), min_size=s[0] * s[1], max_size=s[0] * s[1]).map(
        lambda v: np.array(v).reshape(s)))


# ---------------------------------------------------------------- properties of the projection
@settings(max_examples=60, deadline=None)
@given(labels_2d, st.sampled_from(["muon", "shampoo", "adafactor", "lamb"]))
def test_projection_only_drops_constraints_and_the_real_map_keeps_the_result(labels, optimizer):
    shapes = {"W": labels.shape}
    assignment = optimizer_assignment(optimizer, shapes)
    lattice = PatternLattice(assignment, shapes)
    classes, zero = pattern_classes({"W": labels})
    new, new_zero = lattice.project(classes, zero)
    assert refines(new, new_zero, classes, zero)
    assert lattice.project(new, new_zero) == (new, new_zero)  # idempotent
    kind = assignment.structure_of("W").name
    for update in MATRIX_MAPS.get(kind, (lambda G: 0.7 * G,)):  # tensorwise: a positive scalar
        for _ in range(3):
            G = random_in(new, new_zero, shapes)["W"]
            assert respects({"W": update(G)}, new, new_zero, tol=1e-7), (kind, update.__name__, labels)


def test_muon_keeps_zero_and_tied_rows_and_columns_but_not_a_single_zero_entry():
    shapes = {"W": (4, 4)}
    lattice = PatternLattice(optimizer_assignment("muon", shapes), shapes)
    labels = np.array([[0, 0, 0, 0],    # a zero row
                       [1, 2, 0, 3],    # a single zero entry (column 2 is not zero: row 3)
                       [1, 2, 0, 3],    # tied with the row above
                       [4, 5, 6, 7]])
    classes, zero = pattern_classes({"W": labels})
    new, new_zero = lattice.project(classes, zero)
    flat = {c: k for k, m in enumerate(new) for c in m}
    assert all(flat[("W", j)] == new_zero for j in range(4))  # the zero row stays
    assert flat[("W", 6)] == flat[("W", 10)] != new_zero  # the zeros at (1, 2), (2, 2): released, still tied
    assert flat[("W", 4)] == flat[("W", 8)]  # tied rows stay tied entrywise
    # the real maps break the single zero: a point of the ORIGINAL pattern, not of the projected one
    G = random_in(classes, zero, shapes)["W"]
    for update in (polar, newton_schulz, shampoo):
        U = update(G)
        assert abs(U[1, 2]) > 1e-3 and np.allclose(U[0], 0) and np.allclose(U[1], U[2])


def test_a_non_product_tie_is_split_for_muon_and_kept_for_lamb():
    shapes = {"W": (3, 3)}  # (a 2 x 2 polar factor always has equal diagonal entries: too special)
    labels = np.array([[1, 2, 3], [4, 1, 5], [6, 7, 8]])  # W[0,0] ~ W[1,1]: neither rows nor columns tied
    classes, zero = pattern_classes({"W": labels})
    muon, _ = PatternLattice(optimizer_assignment("muon", shapes), shapes).project(classes, zero)
    lamb, _ = PatternLattice(optimizer_assignment("lamb", shapes), shapes).project(classes, zero)
    assert all(len(m) == 1 for m in muon)
    assert (("W", 0), ("W", 4)) in lamb
    G = random_in(classes, zero, shapes)["W"]
    assert abs(polar(G)[0, 0] - polar(G)[1, 1]) > 1e-6  # the tie really breaks under the polar map


def test_adafactor_keeps_ties_with_equal_statistics_and_splits_the_others():
    shapes = {"W": (2, 2)}
    lattice = PatternLattice(optimizer_assignment("adafactor", shapes), shapes)
    crossed = np.array([[1, 2], [2, 1]])  # rows hold {1,2} and {2,1}; so do the columns: both ties survive
    classes, zero = pattern_classes({"W": crossed})
    assert lattice.project(classes, zero) == (classes, zero)
    G = random_in(classes, zero, shapes)["W"]
    assert respects({"W": adafactor(G)}, classes, zero)

    shapes = {"W": (2, 3)}
    lattice = PatternLattice(optimizer_assignment("adafactor", shapes), shapes)
    uneven = np.array([[1, 2, 2], [1, 3, 4]])  # W[0,0] ~ W[1,0] reads rows {1,2,2}, {1,3,4}; W[0,1] ~ W[0,2]
    classes, zero = pattern_classes({"W": uneven})  # reads columns {2,3}, {2,4}
    new, _ = lattice.project(classes, zero)
    assert all(len(m) == 1 for m in new)
    U = adafactor(random_in(classes, zero, shapes)["W"])
    assert abs(U[0, 0] - U[1, 0]) > 1e-6 and abs(U[0, 1] - U[0, 2]) > 1e-6  # both dropped ties really break


def test_ties_across_tensors_survive_only_one_coordinatewise_optimizer():
    shapes = {"A": (2,), "B": (2,)}
    classes, zero = [(("A", 0), ("B", 0)), (("A", 1),), (("B", 1),)], None
    keep = PatternLattice(optimizer_assignment("adam", shapes), shapes).project(classes, zero)[0]
    assert (("A", 0), ("B", 0)) in keep
    for optimizer in ("lamb", "adafactor", "shampoo", {"A": "adam", "B": "sgd"}):
        split = PatternLattice(optimizer_assignment(optimizer, shapes), shapes).project(classes, zero)[0]
        assert all(len(m) == 1 for m in split), optimizer
    # independent: LAMB's first step (Adam's g/|g| times the trust ratio ||θ||/||u|| of each tensor) breaks the
    # tie between A[0] and B[0] (equal values, equal gradients)
    theta = {"A": np.array([1.0, 0.3]), "B": np.array([1.0, -2.0])}
    grad = {"A": np.array([0.5, 0.1]), "B": np.array([0.5, 0.7])}
    step = {}
    for n in theta:
        u = grad[n] / np.abs(grad[n])
        step[n] = np.linalg.norm(theta[n]) / np.linalg.norm(u) * u
    assert abs(step["A"][0] - step["B"][0]) > 0.1


def test_rowcol_first_move_closure_needs_a_whole_quiet_row_or_column():
    shapes = {"W": (2, 3)}
    lattice = PatternLattice(optimizer_assignment("muon", shapes), shapes)
    classes = [(("W", i),) for i in range(6)]
    # W[0,0] and W[1,1] have had zero gradients, but their rows and columns have not: neither is frozen
    assert lattice.closure({0, 4}, classes, None) == set()
    # column 0 quiet: W[0,0] and W[1,0] unchanged; row 1 quiet: all of it
    assert lattice.closure({0, 3}, classes, None) == {0, 3}
    assert lattice.closure({3, 4, 5}, classes, None) == {3, 4, 5}
    entrywise = PatternLattice(optimizer_assignment("adafactor", shapes), shapes)
    assert entrywise.closure({0, 3, 4}, classes, None) == {0, 3, 4}


def test_muon_quintic_has_no_real_root():
    """A nonzero gradient row gives a nonzero update row: a + b x + c x² > 0 for every x (negative discriminant)."""
    a, b, c = 3.4445, -4.7750, 2.0315
    assert b * b - 4 * a * c < 0 and a > 0


# ---------------------------------------------------------------- assignments and bad input
def test_muon_assignment_is_per_parameter():
    a = optimizer_assignment("muon", {"W1": (4, 3), "b1": (4,), "conv": (2, 1, 3, 3)})
    assert [cls for _, _, cls in a.per_parameter] == ["rowcol", "coordinatewise", "coordinatewise"]
    assert a.members == ("Muon on W1 (class 'rowcol')", "AdamW on b1, conv (class 'coordinatewise')")
    assert STRUCTURES[a.class_of("W1").preserves].entrywise_moves is False
    s = optimizer_assignment("shampoo", {"W": (2, 2), "v": (3,)})
    assert {cls for _, _, cls in s.per_parameter} == {"rowcol"}


@pytest.mark.parametrize("bad, message", [
    ("adamx", "unknown optimizer 'adamx'"),
    ({"W1": "muon"}, "missing b1"),
    ({"W1": "muon", "b1": "adam", "W9": "sgd"}, "unknown W9"),
    (3, "an optimizer is a name"),
])
def test_bad_optimizer_is_one_clear_line(bad, message):
    with pytest.raises(InvalidArgument) as err:
        optimizer_assignment(bad, {"W1": (2, 2), "b1": (2,)})
    assert message in str(err.value) and "\n" not in str(err.value)


@pytest.mark.parametrize("cls", ["rowcol", "factored", "tensorwise", "sign"])
def test_a_class_outside_the_coordinatewise_lattice_is_never_a_label_on_coordinatewise_facts(cls):
    import symderiv as sd

    net = sd.mlp([2, 3, 2], activation="tanh")
    a = sd.analyze(net, sd.constant(0.5), optimizer_class=cls)
    assert a.lattice is not None  # proved on the class's own lattice, not the chain prover's pattern relabelled
    assert all(a.optimizers.class_of(n).name == cls for n in net.parameter_names())
    assert f"(class '{cls}')" in a.scope()
    plain = sd.analyze(net, sd.constant(0.5), optimizer_class="sgd")
    assert type(plain).__name__ == "Analysis" and "(class 'sgd')" in plain.scope()


def test_widest_classes_of_a_zero_init_sigmoid_network():
    import symderiv as sd
    from symderiv.optimizer_classes import widest_classes_of_network

    net = sd.mlp([2, 3, 2], activation="sigmoid")
    w = widest_classes_of_network(net, sd.zeros())
    # identical hidden units: whole rows of W1 (and columns of W2) tied, for every class
    assert (("W1[0, 0]", "W1[1, 0]", "W1[2, 0]"), "rowcol") in w.ties
    # the zero front: W1 is unchanged by update 1 under every class (B = W2 = 0 kills its gradient)
    for level, steps in w.first_moves["W1"].items():
        assert set(steps.flat) == {2}, level
    assert set(w.first_moves["W2"]["rowcol"].flat) == {1}
    # the chain prover agrees on the coordinatewise facts
    a = sd.analyze(net, sd.zeros())
    assert all(a.first_move_step("W1", (i, j)) == 2 for i in range(3) for j in range(2))
