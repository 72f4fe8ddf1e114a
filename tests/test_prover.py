"""The prover: classic results, soundness against real training (hypothesis), tightness,
and refutation of wrong patterns with certified witnesses."""
from __future__ import annotations

import json

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, strategies as st

import symderiv as sd
from symderiv import numeric, strategies
from symderiv.prover import prove

c = sp.Symbol("c", real=True)


def _weights(a):
    return [n for n in a.net.parameter_names() if n.startswith("W")]


def _all(a, name, key):
    return np.asarray(a.to_dict()["parameters"][name][key], dtype=object)


# ---------------------------------------------------------------- the classic results
@pytest.mark.parametrize("act", ["tanh", "relu", "identity", "leaky_relu", "silu", "gelu", "elu"])
@pytest.mark.parametrize("depth", [2, 3, 4])
def test_zero_init_weights_stay_zero_only_output_bias_learns(act, depth):
    sizes = [3] + [3] * (depth - 1) + [3]
    a = sd.analyze(sd.mlp(sizes, act), sd.zeros())
    L = depth
    for name in a.net.parameter_names():
        zero = _all(a, name, "stays_zero")
        if name == f"b{L}":
            assert not zero.any()
            assert (_all(a, name, "first_move_step") == 1).all() and _all(a, name, "first_move_tight").all()
        else:
            assert zero.all(), name
    assert "only b%d learns" % L in a.summary().lower()


@pytest.mark.parametrize("act", ["sigmoid", "softplus"])
@pytest.mark.parametrize("depth", [2, 3, 5])
def test_zero_init_with_f0_nonzero_front_moves_back_one_layer_per_step(act, depth):
    """h = f(0) ≠ 0 everywhere: W^(l) first moves at step L − l + 1, and hidden units stay tied."""
    net = sd.mlp([2] + [3] * (depth - 1) + [3], act)
    a = sd.analyze(net, sd.zeros())
    L = depth
    for l in range(1, L + 1):
        steps = _all(a, f"W{l}", "first_move_step")
        assert (steps == L - l + 1).all(), (l, steps)
        assert _all(a, f"W{l}", "first_move_tight").all()
        assert not _all(a, f"W{l}", "stays_zero").any()
    for l in range(1, L):  # every unit of a hidden layer: identical rows, forever
        ties = np.array(a.to_dict()["parameters"][f"W{l}"]["tie_class"])
        assert (ties == ties[0]).all()
        # columns: distinct inputs are not tied; identical hidden units of the layer below are
        assert len(set(ties[0])) == (ties.shape[1] if l == 1 else 1)
    out = np.array(a.to_dict()["parameters"][f"W{L}"]["tie_class"])
    assert len(set(out[:, 0])) == out.shape[0]  # output rows separate


def test_constant_init_any_width_units_tied_output_rows_separate():
    n = sp.Symbol("n", integer=True, positive=True)
    a = sd.analyze(sd.mlp([3, n, n, 4], "tanh"), sd.constant(sp.Rational(1, 2)))
    data = a.to_dict()
    assert data["parameters"]["W2"]["layout"] == "blocks"
    assert [l for l, w, k in a.hidden_layer_classes()] == [1, 2] and all(k == 1 for _, _, k in a.hidden_layer_classes())
    out_rows = {b["tie_class"] for b in data["parameters"]["W3"]["blocks"]}
    assert len(out_rows) == 4
    assert "behaves as if each of those layers had width 1" in a.summary()  # layers 1 and 2: one sentence
    # hidden layers move at step 2, not 1: at a constant init Σ_k W_kj (p_k − y_k) = c Σ_k (p_k − y_k) = 0
    assert {b["first_move_step"] for b in data["parameters"]["W1"]["blocks"]} == {2}
    assert {b["first_move_step"] for b in data["parameters"]["W3"]["blocks"]} == {1}


def test_simplex_constraint_matters_for_first_moves():
    """With MSE (labels unconstrained) the hidden layer moves at step 1; with softmax CE at step 2."""
    ce = sd.analyze(sd.mlp([2, 3, 3], "tanh", "ce"), sd.constant(sp.Rational(1, 3)))
    mse = sd.analyze(sd.mlp([2, 3, 3], "tanh", "mse"), sd.constant(sp.Rational(1, 3)))
    assert (_all(ce, "W1", "first_move_step") == 2).all()
    assert (_all(mse, "W1", "first_move_step") == 1).all()


def test_softmax_regression_zero_init_nothing_stuck_nothing_tied():
    a = sd.analyze(sd.mlp([4, 3], "identity"), sd.zeros())
    ties = np.array(a.to_dict()["parameters"]["W1"]["tie_class"])
    assert len(set(ties.flat)) == ties.size
    assert not _all(a, "W1", "stays_zero").any()
    g = _all(a, "W1", "gradient_at_init")
    assert g[0, 1] == "x_2*(1/3 - y_1)"


def test_generic_hidden_zero_last_layer_nothing_stuck():
    init = {"W1": sd.generic(), "b1": sd.generic(), "W2": sd.generic(), "b2": sd.generic(),
            "W3": sd.zeros(), "b3": sd.zeros()}
    a = sd.analyze(sd.mlp([2, 2, 2, 2], "tanh"), init)
    for name in a.net.parameter_names():
        assert not _all(a, name, "stays_zero").any()
    assert (_all(a, "W1", "first_move_step") == 2).all()


@pytest.mark.parametrize("kink", [0, sp.Rational(1, 2), 1])
def test_relu_kink_convention_is_reported(kink):
    a = sd.analyze(sd.mlp([2, 2, 2], "relu"), sd.zeros(), relu_grad_at_zero=kink)
    assert a.to_dict()["assumptions"]["kink_convention"] == {"relu": str(kink)}


def test_json_contract_and_determinism():
    net = sd.mlp([2, 3, 2], "sigmoid")
    a1 = sd.analyze(net, sd.zeros())
    a2 = sd.analyze(net, sd.zeros())
    assert a1.to_json() == a2.to_json()
    data = json.loads(a1.to_json())
    assert set(data) >= {"network", "init", "assumptions", "parameters"}
    for name, entry in data["parameters"].items():
        assert set(entry) >= {"shape", "stays_zero", "tie_class", "first_move_step", "first_move_tight", "gradient_at_init"}
        assert np.array(entry["stays_zero"]).shape == tuple(entry["shape"])
    assert data["parameters"]["b1"]["first_move_step"] == [2, 2, 2]


def test_symbolic_constant_init():
    a = sd.analyze(sd.mlp([2, 2, 2], "tanh"), sd.constant(c))
    assert not a.proof.undecided
    assert a.hidden_layer_classes() == [(1, 2, 1)]


# ---------------------------------------------------------------- wrong patterns are refuted
def test_forcing_a_tie_the_gradient_breaks_is_refuted_with_a_certified_witness():
    """Claim: the two output rows of a zero-init softmax net stay tied.  Encode the claim as an
    init with one symbol s for both rows; the relaxation must drop it with a witness, and the
    witness must really separate them when re-evaluated independently (NumPy)."""
    s = sp.Symbol("s", real=True)
    net = sd.mlp([2, 2], "identity")
    init = {"W1": sp.Matrix([[s, s], [s, s]]), "b1": sd.zeros()}
    proof = prove(net, init)
    first = [sp_ for sp_ in proof.splits if sp_.iteration == 1 and not sp_.was_zero]
    assert first and first[0].witness is not None
    point = {k: sp.Rational(v) for k, v in first[0].witness.point}
    x = np.array([[float(point["x_1"]), float(point["x_2"])]])
    y = np.array([[float(point["y_1"]), 1 - float(point["y_1"])]])
    value = float(point[str(proof.symbols[proof.class_of[proof.blocks[0]]])]) if str(
        proof.symbols[proof.class_of[proof.blocks[0]]]) in point else None
    theta = {"W1": np.full((2, 2), value if value is not None else 0.3), "b1": np.zeros(2)}
    g = numeric.gradients(net, theta, x, y)["W1"]
    assert abs(g[0, 0] - g[1, 0]) > 1e-6


def test_a_true_tie_is_kept_with_its_identity():
    """Hidden units with identical rows and columns at a generic value stay tied: kept, with proof."""
    s, t = sp.symbols("s t", real=True)
    net = sd.mlp([2, 2, 2], "tanh")
    init = {"W1": sp.Matrix([[s, t], [s, t]]), "b1": sd.zeros(), "W2": sp.Matrix([[s, s], [t, t]]), "b2": sd.zeros()}
    a = sd.analyze(net, init)
    assert a.proof.partition.n_classes(1) == 1  # identical units: one block per (row class, column)
    assert a.tie_class("W1", (0, 0)) == a.tie_class("W1", (1, 0))
    assert a.tie_class("W2", (0, 0)) == a.tie_class("W2", (0, 1))
    assert a.tie_class("W1", (0, 0)) != a.tie_class("W2", (0, 0))  # the cross-layer equality s = s is dropped
    dropped = [sp_ for sp_ in a.proof.splits if sp_.iteration == 1 and not sp_.was_zero]
    assert dropped and all(sp_.witness is not None for sp_ in dropped)
    assert a.verify(optimizers=("sgd", "adam"), batch=3).ok


# ---------------------------------------------------------------- soundness against real training

@given(data=st.data())
def test_soundness_on_real_trajectories(data):
    net = data.draw(strategies.networks(depth=(1, 4), widths=(1, 3), inputs=(1, 3), outputs=(2, 3)))
    init = data.draw(strategies.inits(net, kinds=("zeros", "constant", "mixed")))
    a = sd.analyze(net, init)
    report = a.verify(optimizers=("sgd", "momentum", "adam"), batch=4, seed=data.draw(st.integers(0, 1000)))
    failures = report.failures()
    assert not failures, str(report)


def test_verify_gradient_check_at_an_exact_kink():
    """Found by test_soundness_on_real_trajectories: z = h_1/3 - h_2/3 with h_1 = h_2 is 0 exactly
    and ELU(alpha = 1/2) is kinked at 0; float64 leaves ±1e-20 there (FMA), so the float references
    take a one-sided derivative: verify reports that instead of a failure of the closed forms."""
    net = sd.mlp([1, 2, 2, 2], [sd.activation("elu", alpha=1), sd.activation("elu", alpha=sp.Rational(1, 2))],
                 "mean_squared_error", bias=False)
    third = sp.Rational(1, 3)
    init = {"W1": sd.constant(sp.Rational(1, 2)), "W2": [[0, 0], [third, -third]], "W3": sd.generic()}
    report = sd.analyze(net, init).verify(optimizers=("sgd",), batch=4, seed=0)
    assert report.ok, str(report)
    assert any("kink" in note for note in report.notes)



@given(data=st.data())
def test_tightness_entries_not_proved_tied_do_separate(data):
    """Smooth activations, full-batch SGD past every first-move step: distinct tie ids, distinct values."""
    net = data.draw(strategies.networks(depth=(1, 3), widths=(1, 3), inputs=(1, 3), outputs=(2, 3),
                                        activations=["tanh", "sigmoid", "softplus"]))
    init = data.draw(strategies.inits(net, kinds=("zeros", "constant")))
    a = sd.analyze(net, init)
    params = numeric.params_from_init(net, init, values={"c": 0.5})
    X, Y = numeric.random_data(net, 5, seed=3)
    finite = [fm.step for fm in a.proof.first_moves.values() if fm.step is not None]
    traj = numeric.train(net, params, X, Y, optimizer="sgd", steps=max(finite + [0]) + 2, lr=0.3)
    seen: dict[float, int] = {}
    for name in net.parameter_names():
        ids = a.entry_facts(name)["tie_class"]
        for index in np.ndindex(*ids.shape):
            value = traj.final[name][index]
            tid = int(ids[index])
            if value in seen:
                assert seen[value] == tid, f"{name}{index} equals an entry of another tie class"
            seen[value] = tid


# ---------------------------------------------------------------- verify catches wrong results
def test_verify_catches_a_corrupted_gradient_and_names_the_entry():
    a = sd.analyze(sd.mlp([2, 2, 2], "tanh"), sd.generic())
    grads = a._gradients()
    block = a.block("W2", (1, 0))
    grads[block] = grads[block] * sp.Rational(101, 100)
    report = a.verify(optimizers=("sgd",))
    assert not report.ok
    bad = [ch for ch in report.failures() if ch.kind == "gradient"]
    assert bad and bad[0].offending.startswith("W2[2,1]")
    with pytest.raises(sd.SymderivError, match=r"W2\[2,1\]"):
        report.raise_for_failures()


def test_verify_catches_a_false_tie():
    a = sd.analyze(sd.mlp([2, 2, 2], "tanh"), sd.zeros())
    proof = a.proof
    # claim falsely that the output biases b2[1] and b2[2] are tied
    k1, k2 = proof.class_of[a.block("b2", (0,))], proof.class_of[a.block("b2", (1,))]
    for b, k in list(proof.class_of.items()):
        if k == k2:
            proof.class_of[b] = k1
    report = a.verify(optimizers=("sgd",))
    ties = [ch for ch in report.failures() if ch.kind == "ties"]
    assert ties and "b2[1]" in ties[0].offending and "b2[2]" in ties[0].offending


def test_verify_catches_a_false_zero():
    a = sd.analyze(sd.mlp([2, 2, 2], "sigmoid"), sd.zeros())
    proof = a.proof
    b = a.block("W1", (0, 0))
    proof.zero_class = proof.class_of[b]
    report = a.verify(optimizers=("sgd",))
    assert any(ch.kind == "zeros" and "W1" in (ch.offending or "") for ch in report.failures())


# ---------------------------------------------------------------- work budgets, not the clock
def _far_relu():
    net = sd.mlp([2, 2, 1], "relu", loss="mse")
    init = {"W1": np.array([[-1, -1], [-1, -1]]), "b1": np.array([-20, -20]),
            "W2": np.array([[1, 1]]), "b2": np.array([0])}
    return net, init


class _RacingClock:
    """A clock on which every reading is 1000 s after the last: a machine infinitely slow for the clock."""

    def __init__(self):
        import time

        self._now = 0.0
        self.sleep = time.sleep

    def monotonic(self) -> float:
        self._now += 1000.0
        return self._now


def test_a_racing_clock_changes_only_what_the_safety_net_decides(monkeypatch):
    """The witness search and the decider count work: with the bounded children's clock racing, the
    ReLU unit with W1 = -1, b1 = -20 still moves at step 1, certified tight by the same witnesses
    (it needs inputs beyond 20: a variant of the search); the identities the safety net stopped
    say so in their undecided line."""
    from symderiv import bounded

    net, init = _far_relu()
    calm = prove(net, init)
    w1 = calm.class_of[calm.blocks[0]]
    assert calm.first_moves[w1].step == 1 and calm.first_moves[w1].tight
    assert not any("safety net" in u for u in calm.undecided)
    monkeypatch.setattr(bounded, "time", _RacingClock())
    raced = sd.analyze(net, init)
    assert raced.first_move_step("W1", (0, 0)) == 1 and raced.first_move_tight("W1", (0, 0))
    assert [t.to_dict() for t in raced.proof.trajectories] == [t.to_dict() for t in calm.trajectories]
    assert raced.proof.undecided and all(
        "safety net of 300 s fired (machine load); the result may differ on a faster machine" in u
        for u in raced.proof.undecided)
    assert "safety net of 300 s fired" in raced.to_json()


def test_only_the_safety_net_reads_the_clock():
    """What is printed never depends on wall-clock time: in the whole package only the bounded child's
    safety net (symderiv.bounded) and the guard's interrupt handling (symderiv.guard) import a clock."""
    import ast
    import pathlib

    root = pathlib.Path(sd.__file__).parent
    allowed = {"bounded.py", "guard.py"}
    readers = set()
    for path in root.rglob("*.py"):
        tree = ast.parse(path.read_text())
        imported = {alias.name.split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.Import)
                    for alias in node.names}
        imported |= {(node.module or "").split(".")[0] for node in ast.walk(tree) if isinstance(node, ast.ImportFrom)}
        if imported & {"time", "datetime", "timeit"}:
            readers.add(str(path.relative_to(root)))
    assert readers <= allowed, sorted(readers - allowed)
    assert {"prover.py", "decide.py"} <= {str(p.relative_to(root)) for p in root.rglob("*.py")}  # the walk sees them


@pytest.mark.parametrize("kw, message", [
    ({"seconds": float("nan")}, "seconds must be a positive number"),
    ({"seconds": -1}, "seconds must be a positive number"),
    ({"seconds": True}, "seconds must be a positive number"),
    ({"work": -5}, "work must be a positive integer number of steps"),
    ({"work": 2.5}, "work must be a positive integer number of steps"),
    ({"simplify_budget": float("inf")}, "simplify_budget must be a positive number"),
])
def test_budget_arguments_are_refused_in_one_line(kw, message):
    with pytest.raises(sd.errors.InvalidArgument, match=message):
        prove(sd.mlp([2, 2], "tanh"), sd.zeros(), **kw)
    if "work" not in kw and "simplify_budget" not in kw:  # the public front door says the same
        with pytest.raises(sd.errors.InvalidArgument, match=message):
            sd.analyze(sd.mlp([2, 2], "tanh"), sd.zeros(), **kw)


def test_a_small_work_budget_leaves_identities_undecided_and_says_why():
    net, init = _far_relu()
    tiny = prove(net, init, work=30_000)
    assert tiny.undecided and not any("safety net" in u for u in tiny.undecided)
    # a budget given in reference seconds is the same count: the same proof
    same = prove(net, init, seconds=30_000 / sd.decide.STEPS_PER_SECOND)
    assert same.undecided == tiny.undecided and same.first_moves == tiny.first_moves
