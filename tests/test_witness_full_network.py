"""Issue 19, "certificates that certify": with an input reduction the published witness trajectory
runs on the FULL network, every input column carrying a nonzero datum, and its certified moves are
recomputed there (symderiv.witness_full).  Checked here against independent float64 replays of the
published data (NumPy, symderiv.numeric, and torch.optim.SGD with autograd), entry by entry."""
from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import numpy as np
import pytest
import sympy as sp
from hypothesis import given, settings

import symderiv as sd
from symderiv import numeric, witness_full
from symderiv.certify import Uncertifiable
from tests.test_inputs import cases  # random reduced settings: wide classes of repeated W1 columns

HALF = sp.Rational(1, 2)


def _one_column_different(rows: int, n0: int) -> dict:
    """W1 with n0 - 1 identical zero columns and a last column of its own (a mixed init)."""
    W1 = np.zeros((rows, n0), dtype=object)
    W1[:, -1] = [sp.Rational((-1) ** i * (i + 1), 3) for i in range(rows)]
    return {"W1": W1, "*": sd.constant(HALF)}


CASES = [
    (sd.mlp([6, 2, 2], "tanh", "mse"), sd.zeros()),
    (sd.mlp([6, 2, 2], "tanh", "ce"), sd.constant(HALF)),
    (sd.mlp([6, 2, 2], "relu", "mse"), sd.constant(HALF)),
    (sd.mlp([6, 2, 2], "relu", "ce"), sd.constant(sp.Rational(-1, 3))),
    (sd.mlp([6, 2, 2], "sigmoid", "ce"), sd.zeros()),  # the zero front moves back: W1 first moves at step 2
    (sd.mlp([6, 2, 2], "sigmoid", "mse"), sd.constant(HALF)),
    (sd.mlp([7, 3], "tanh", "ce"), sd.zeros()),  # softmax regression: untied W1 columns
    (sd.mlp([6, 3, 2], "tanh", "mse"), _one_column_different(3, 6)),
    (sd.mlp([8, 2, 3], "relu", "ce"), _one_column_different(2, 8)),
]
IDS = ["tanh-mse-zeros", "tanh-ce-half", "relu-mse-half", "relu-ce-third", "sigmoid-ce-zeros", "sigmoid-mse-half",
       "softmax-regression", "tanh-mixed", "relu-mixed"]

_CACHE: dict[int, Any] = {}


def _analysis(k: int):
    if k not in _CACHE:
        net, init = CASES[k]
        _CACHE[k] = sd.analyze(net, init)
    return _CACHE[k]


def _published(a) -> list[dict]:
    return json.loads(a.to_json())["witness_trajectories"]


def _float_params(net, inits, values: dict) -> dict:
    """Float64 parameters at the exact init values (init symbols given by ``values``)."""
    params = {}
    for name in net.parameter_names():
        shape = tuple(int(n) for n in net.shape(name))
        arr = np.empty(shape)
        for index in np.ndindex(*shape):
            arr[index] = float(sp.sympify(inits[name].entry(index)).xreplace(values))
        params[name] = arr
    return params


def _params_and_data(a, w: dict) -> tuple[dict, np.ndarray, np.ndarray]:
    """Float64 parameters, data and labels from the published witness (its exact values)."""
    point = {k: sp.Rational(v) for k, v in w["data_and_init"].items()}
    net = a.net
    params = _float_params(net, a.inits, {sp.Symbol(k, real=True): v for k, v in point.items()})
    x = np.array([[float(point[f"x_{j}"]) for j in range(1, int(net.sizes[0]) + 1)]])
    labels = [float(point[str(s)]) if isinstance(s, sp.Symbol) else None for s in net.loss.labels(net.n_outputs)]
    if labels[-1] is None:  # the simplex: y_K = 1 - sum of the others
        labels[-1] = 1.0 - sum(labels[:-1])
    return params, x, np.array([labels])


def _midpoint(change: str) -> float:
    """The midpoint of a certified change as published ("-0.0104 (±6.6e-83)", or an exact fraction)."""
    text = change.split(" (")[0].strip()
    if text.startswith("["):
        lo, hi = (float(sp.Rational(t.strip())) for t in text[1:-1].split(","))
        return (lo + hi) / 2
    return float(sp.Rational(text))


def _check_replay(a, w: dict, history: list[dict]) -> int:
    """Every published move happens at its step in ``history`` (float64 parameters θ_0 … θ_T) for every
    entry of its tie class, with the certified change, and those entries are unchanged before it."""
    checked = 0
    facts = {name: a.entry_facts(name) for name in a.net.parameter_names()}
    for move in w["moves"]:
        ids = move["class"] if isinstance(move["class"], list) else [move["class"]]
        t = move["step"]
        expected = _midpoint(move["change"])
        for name, f in facts.items():
            for index in zip(*np.nonzero(np.isin(f["tie_class"], ids))):
                assert f["first_move_step"][index] == t, (move, name, index)
                start = history[0][name][index]
                for s in range(1, t):
                    assert abs(history[s][name][index] - start) <= 1e-12 * (1 + abs(start)), (move, name, index, s)
                change = history[t][name][index] - history[t - 1][name][index]
                assert change != 0, (move, name, index)
                # tied entries change equally, and merged ids share one certified change
                assert abs(change - expected) <= 1e-9 * max(1.0, abs(expected)), (move, name, index, change)
                checked += 1
    return checked


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_published_witness_runs_on_the_full_network_with_no_zero_column(k):
    a = _analysis(k)
    assert a.inputs is not None, "the case must be input-reduced"
    witnesses = _published(a)
    assert witnesses, "a reduced analysis with certified moves publishes a witness"
    n0 = int(a.net.sizes[0])
    for w in witnesses:
        assert w["network"] == "full"
        xs = [sp.Rational(w["data_and_init"][f"x_{j}"]) for j in range(1, n0 + 1)]
        assert all(v != 0 for v in xs), xs  # no zero-padded column


@pytest.mark.parametrize("k", [0, 6, 7], ids=[IDS[i] for i in (0, 6, 7)])
def test_spread_keeps_each_class_sum_and_sum_of_squares_and_gives_every_column_a_datum(k):
    a = _analysis(k)
    m = a.inputs
    for t in a.proof.trajectories:
        reduced = dict(t.point)
        full = dict(witness_full.spread_data(m, t.point))
        for D in m.classes:
            xs = [sp.Rational(full[f"x_{j + 1}"]) for j in D.members]
            kept = [sp.Rational(reduced[f"x_{r + 1}"]) for r in D.kept]
            assert sum(xs) == sum(kept) and sum(v * v for v in xs) == sum(v * v for v in kept)
            assert all(v != 0 for v in xs)
        assert {k_: v for k_, v in full.items() if not k_.startswith("x_")} == \
            {k_: v for k_, v in reduced.items() if not k_.startswith("x_")}


@pytest.mark.parametrize("m", [5, 6, 7, 12, 784])
def test_class_data_have_the_reduced_power_sums_for_every_class_size(m):
    """n = m - 3 = 2 has no closed form (two nonzero numbers never have sum s and squares s^2): a point
    of the circle is used; every size gets nonzero data with the kept data's first two power sums."""
    rng = np.random.default_rng(m)
    for _ in range(20):
        kept = [sp.Rational(int(rng.integers(1, 13)) * (-1) ** int(rng.integers(2)), int(rng.integers(3, 10)))
                for _ in range(4)]
        data = witness_full._class_data(kept, m)
        assert len(data) == m and all(v != 0 for v in data)
        assert sum(data) == sum(kept) and sum(v * v for v in data) == sum(v * v for v in kept)


@pytest.mark.parametrize("k", [4, 5, 7, 8], ids=[IDS[i] for i in (4, 5, 7, 8)])
def test_the_full_run_follows_the_reduced_run_exactly_outside_w1(k):
    """The mathematics of the spread (symderiv.witness_full): with each class's sum and sum of squares of
    the data kept, single-example SGD on the full network gives every parameter outside W1 the value the
    reduced network gives it, at every step (independent float64 runs of both networks)."""
    a = _analysis(k)
    m = a.inputs
    for t in a.proof.trajectories:
        full_point = witness_full.spread_data(m, t.point)
        runs = []
        for net, inits, point in ((m.reduced_net, m.reduced_inits, t.point), (a.net, a.inits, full_point)):
            values = {sp.Symbol(k_, real=True): sp.Rational(v) for k_, v in point}
            params = _float_params(net, inits, values)
            x = np.array([[float(values[s]) for s in sd.engine.input_symbols(int(net.sizes[0]))]])
            labels = [float(values[s]) if isinstance(s, sp.Symbol) else None for s in net.loss.labels(net.n_outputs)]
            if labels[-1] is None:
                labels[-1] = 1.0 - sum(labels[:-1])
            runs.append(numeric.train(net, params, x, np.array([labels]), optimizer="sgd", steps=t.steps + 2,
                                      lr=float(sp.Rational(t.learning_rate))))
        reduced, full = runs
        for step in range(t.steps + 3):
            for name in a.net.parameter_names():
                if name == "W1":
                    continue
                assert np.allclose(reduced.params[step][name], full.params[step][name], rtol=1e-10, atol=1e-13), (
                    step, name)


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_numpy_replay_of_the_full_witness_shows_every_claimed_move_at_its_step(k):
    a = _analysis(k)
    for w in _published(a):
        params, x, y = _params_and_data(a, w)
        traj = numeric.train(a.net, params, x, y, optimizer="sgd", steps=w["steps"], lr=float(sp.Rational(w["learning_rate"])))
        assert _check_replay(a, w, traj.params) >= len(w["moves"])


@pytest.mark.parametrize("k", [0, 2, 4, 6, 8], ids=[IDS[i] for i in (0, 2, 4, 6, 8)])
def test_torch_sgd_replay_of_the_full_witness_shows_every_claimed_move_at_its_step(k):
    pytest.importorskip("torch")
    from symderiv.torch import torch_trajectory

    a = _analysis(k)
    w = _published(a)[0]
    params, x, y = _params_and_data(a, w)
    traj = torch_trajectory(a.net, params, x, y, optimizer="sgd", steps=w["steps"], lr=float(sp.Rational(w["learning_rate"])))
    assert _check_replay(a, w, traj.params) >= len(w["moves"])


@pytest.mark.parametrize("k", range(len(CASES)), ids=IDS)
def test_every_tight_first_move_is_shown_by_a_published_witness_and_named_by_its_tie_class(k):
    a = _analysis(k)
    shown: dict[int, int] = {}
    for w in _published(a):
        for move in w["moves"]:
            for tid in (move["class"] if isinstance(move["class"], list) else [move["class"]]):
                shown[tid] = move["step"]
            f = a.entry_facts(move["parameter"])
            index = tuple(move["index"])
            assert f["tie_class"][index] == (move["class"][0] if isinstance(move["class"], list) else move["class"])
            assert f["first_move_step"][index] == move["step"] and f["first_move_tight"][index]
            assert a.tie_class(move["parameter"], index) == f["tie_class"][index]
    for name in a.net.parameter_names():
        f = a.entry_facts(name)
        for index in zip(*np.nonzero(f["first_move_tight"] & ~f["stays_zero"])):
            tid = int(f["tie_class"][index])
            assert shown.get(tid) == f["first_move_step"][index], (name, index, tid)


def test_the_full_run_agrees_with_an_independent_float_run_on_every_entry():
    """The ball trajectory itself (not only the moves it publishes) against NumPy, every parameter."""
    a = _analysis(4)
    fw = a.full_witnesses[0]
    thetas = witness_full.ball_trajectory(a.net, a.inits, fw.point, sp.Rational(fw.learning_rate), fw.steps)
    w = json.loads(a.to_json())["witness_trajectory"]
    params, x, y = _params_and_data(a, w)
    traj = numeric.train(a.net, params, x, y, optimizer="sgd", steps=fw.steps, lr=float(sp.Rational(fw.learning_rate)))
    for t, theta in enumerate(thetas):
        for name, ball in theta.items():
            ref = traj.params[t][name].reshape(ball.nrows(), ball.ncols())
            for i in range(ball.nrows()):
                for j in range(ball.ncols()):
                    assert abs(float(ball[i, j].mid()) - ref[i, j]) <= 1e-12 * (1 + abs(ref[i, j])), (t, name, i, j)


def test_a_move_claimed_at_the_wrong_step_is_not_certified():
    """The checker rejects: shifting every claimed step by one certifies nothing (W1 of a sigmoid net
    at zero init first moves at step 2, so at step 1 its change is exactly 0)."""
    a = _analysis(4)
    fw = a.full_witnesses[0]
    thetas = witness_full.ball_trajectory(a.net, a.inits, fw.point, sp.Rational(fw.learning_rate), fw.steps)
    targets = witness_full._targets(a, a.net)
    shifted = {name: (ids, np.where(steps > 1, steps - 1, -1), classes) for name, (ids, steps, classes) in targets.items()}
    moved_at_2 = {m.tie_class for m in fw.moves if m.step == 2}
    assert moved_at_2
    assert not moved_at_2 & {m.tie_class for m in witness_full._certified_moves(thetas, shifted, 0.1)}


def test_moves_no_full_run_certifies_lose_their_tightness(monkeypatch):
    """Honesty: when the full runs certify nothing (here: forced uncertifiable), no first move is called
    tight and no witness is published; the steps stay proved lower bounds."""
    def refuse(*args, **kwargs):
        raise Uncertifiable("forced by the test")

    monkeypatch.setattr(witness_full, "ball_trajectory", refuse)
    net, init = CASES[6]
    a = sd.analyze(net, init)
    data = json.loads(a.to_json())
    assert data["witness_trajectory"] is None and data["witness_trajectories"] == []
    f = a.entry_facts("W1")
    assert not f["first_move_tight"].any() and (f["first_move_step"] == 1).all()


def test_wide_input_witness_is_cheap_and_lists_every_moving_tie_class():
    """784 inputs: the full run is a dense ball pass; W1 is written per block, so the moves of a row's
    untied columns with the same certified change are one entry listing their tie ids."""
    a = sd.analyze(sd.mlp([784, 10], "tanh"), sd.zeros())
    w = json.loads(a.to_json())["witness_trajectory"]
    xs = [sp.Rational(w["data_and_init"][f"x_{j}"]) for j in range(1, 785)]
    assert all(v != 0 for v in xs)
    listed = set()
    for move in w["moves"]:
        listed |= set(move["class"] if isinstance(move["class"], list) else [move["class"]])
    f = a.entry_facts("W1")
    assert set(int(i) for i in f["tie_class"].flat) <= listed  # every W1 entry's own class moves, shown
    assert set(int(i) for i in a.entry_facts("b1")["tie_class"].flat) <= listed


def test_json_is_byte_identical_across_two_runs():
    net, init = CASES[4]
    assert sd.analyze(net, init).to_json() == sd.analyze(net, init).to_json()
    cmd = [sys.executable, "-m", "symderiv", "analyze", "--layers", "7,3", "--activation", "tanh", "--loss", "ce",
           "--init", "zeros", "--json"]
    first = subprocess.run(cmd, capture_output=True, check=True).stdout
    second = subprocess.run(cmd, capture_output=True, check=True).stdout
    assert first == second
    data = json.loads(first)
    assert data["witness_trajectory"]["network"] == "full"
    assert all(v != "0" for k, v in data["witness_trajectory"]["data_and_init"].items() if k.startswith("x_"))


def test_latex_certificate_shows_the_full_network_run():
    a = _analysis(6)
    tex = a.to_latex()
    head = r"Witness trajectory on the full network.}"
    assert head in tex
    paragraph = tex[tex.index(head):].split("\n")[0]
    w = a.full_witnesses[0]
    for j in range(1, int(a.net.sizes[0]) + 1):  # every input's datum is written (runs of equal data once)
        value = dict(w.point)[f"x_{j}"]
        assert value != "0" and (f"x_{{{j}}} = " in paragraph or r"x_{j} = " in paragraph)
    assert "$0$" in paragraph and r"\Delta_{1} W^{(1)}_{1,1}" in paragraph


def test_latex_certificate_of_a_reduced_analysis_compiles(tmp_path):
    import shutil

    if shutil.which("pdflatex") is None:
        pytest.skip("pdflatex not installed")
    from tests.test_latex import _compile, _overfull_points, _warnings

    for k in (4, 6):
        log = _compile(_analysis(k).to_latex(), tmp_path, f"reduced_{k}")
        assert _warnings(log) == [] and all(w <= 1.0 for w in _overfull_points(log)), k


def test_verify_replays_the_full_network_witness():
    """symderiv.verify's witness replay runs the published full-network witness (not a zero-padded one)."""
    a = _analysis(6)
    report = sd.verify(a)
    check = next(c for c in report.checks if c.kind == "witness_replay")
    assert check.ok, check
    moves = a.full_witnesses[0].moves
    assert f"{len(moves)} certified first moves replayed" in check.detail, check.detail


@settings(max_examples=6, deadline=None)
@given(cases())
def test_any_reduced_analysis_publishes_a_full_witness_that_numpy_replays(case):
    net, init = case
    a = sd.analyze(net, init)
    if a.inputs is None:
        return
    tight = any(a.entry_facts(name)["first_move_tight"].any() for name in a.net.parameter_names())
    published = _published(a)
    assert bool(published) == tight
    for w in published:
        assert all(sp.Rational(v) != 0 for k_, v in w["data_and_init"].items() if k_.startswith("x_"))
        params, x, y = _params_and_data(a, w)
        traj = numeric.train(a.net, params, x, y, optimizer="sgd", steps=w["steps"],
                             lr=float(sp.Rational(w["learning_rate"])))
        assert _check_replay(a, w, traj.params) >= len(w["moves"])


def test_symbolic_widths_run_at_the_witness_widths():
    """A symbolic hidden width with an input reduction: the JSON is written (it was a TypeError), the full
    run is at the width the witness names, and a NumPy run at that width shows each listed move."""
    a = sd.analyze(sd.mlp([6, "n", 2], "tanh"), sd.constant(HALF))
    assert a.inputs is not None
    text = a.to_json()
    assert text == sd.analyze(sd.mlp([6, "n", 2], "tanh"), sd.constant(HALF)).to_json()
    w = json.loads(text)["witness_trajectory"]
    point = {k: sp.Rational(v) for k, v in w["data_and_init"].items()}
    assert w["network"] == "full" and all(point[f"x_{j}"] != 0 for j in range(1, 7))
    width = int(point["n"])
    net = sd.mlp([6, width, 2], "tanh")
    params = numeric.params_from_init(net, sd.constant(HALF))
    x = np.array([[float(point[f"x_{j}"]) for j in range(1, 7)]])
    y = np.array([[float(point["y_1"]), 1 - float(point["y_1"])]])
    traj = numeric.train(net, params, x, y, optimizer="sgd", steps=w["steps"], lr=float(sp.Rational(w["learning_rate"])))
    for move in w["moves"]:
        name, index, t = move["parameter"], tuple(move["index"]), move["step"]
        first = move["class"][0] if isinstance(move["class"], list) else move["class"]
        assert a.tie_class(name, index) == first and a.first_move_step(name, index) == t
        history = [theta[name][index] for theta in traj.params]
        # unchanged before step t (to roundoff: some zeros are exact cancellations), moved at t
        assert all(abs(h - history[0]) <= 1e-12 for h in history[:t]) and history[t] != history[t - 1], (move, history)
        assert abs((history[t] - history[t - 1]) - _midpoint(move["change"])) <= 1e-9
