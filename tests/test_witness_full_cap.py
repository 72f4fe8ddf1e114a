"""Beyond :data:`symderiv.witness_full.FULL_RUN_MAX_ENTRIES` trainable entries the witness runs are not
replayed entry by entry on the full network (a ball operation per entry and step: a 784-1024×6-10 net
took 31 s, depth 64 × 4096 did not finish); the reduced network's witnesses are published, marked
``"network": "reduced"``, with the input-reduction lemma named.  The cap is a size, never a clock."""
from __future__ import annotations

import json

import numpy as np
import sympy as sp

import symderiv as sd
import symderiv.analysis_inputs as analysis_inputs
from symderiv import numeric
from symderiv.witness_full import REDUCED_NOTE

NET, INIT = sd.mlp([6, 2, 2], "tanh", "mse"), sd.zeros()


def _capped(monkeypatch):
    monkeypatch.setattr(analysis_inputs, "FULL_RUN_MAX_ENTRIES", 10)
    return sd.analyze(NET, INIT)


def test_beyond_the_cap_the_reduced_witness_is_published_and_says_so(monkeypatch):
    a = _capped(monkeypatch)
    data = json.loads(a.to_json())
    assert a.inputs is not None and a.full_witnesses is None
    assert data["inputs"]["witness_data"] == REDUCED_NOTE
    w = data["witness_trajectory"]
    assert w["network"] == "reduced" and w["moves"]
    assert "input-reduction lemma (b)" in a.summary()


def test_beyond_the_cap_the_facts_are_those_of_the_full_replay(monkeypatch):
    """The lemma certifies what the full run certifies: the per-entry facts do not change with the cap."""
    full = sd.analyze(NET, INIT)
    capped = _capped(monkeypatch)
    for name in NET.parameter_names():
        f, g = full.entry_facts(name), capped.entry_facts(name)
        for key in ("first_move_step", "first_move_tight", "tie_class", "stays_zero"):
            assert np.array_equal(f[key], g[key]), (name, key)


def test_the_reduced_witness_zero_padded_moves_the_kept_columns_in_a_numpy_run(monkeypatch):
    """An independent float64 run of the FULL network on the published reduced data (the other
    columns carry 0): every parameter outside W1, and W1's kept columns, move at the published step."""
    a = _capped(monkeypatch)
    w = json.loads(a.to_json())["witness_trajectory"]
    point = {k: sp.Rational(v) for k, v in w["data_and_init"].items()}
    m = a.inputs
    x = np.zeros((1, 6))
    for r in range(m.n_reduced):
        x[0, m.full_of_reduced[r]] = float(point[f"x_{r + 1}"])
    y = np.array([[float(point["y_1"]), float(point["y_2"])]])
    params = numeric.params_from_init(NET, INIT)
    traj = numeric.train(NET, params, x, y, optimizer="sgd", steps=w["steps"],
                         lr=float(sp.Rational(w["learning_rate"])))
    kept = set(m.full_of_reduced)
    checked = 0
    for name in NET.parameter_names():
        f = a.entry_facts(name)
        for index in np.ndindex(*f["first_move_step"].shape):
            t = f["first_move_step"][index]
            if f["stays_zero"][index] or not f["first_move_tight"][index] or t is None or t > w["steps"]:
                continue
            if name == "W1" and index[1] not in kept:
                continue
            history = [theta[name][index] for theta in traj.params]
            assert all(h == history[0] for h in history[:t]) and history[t] != history[t - 1], (name, index)
            checked += 1
    assert checked > 0


def test_a_wide_input_network_beyond_the_cap_analyses_without_the_entrywise_replay():
    a = sd.analyze(sd.mlp([784, 512, 10], "sigmoid", "ce"), sd.zeros())
    assert a.full_witnesses is None
    w = json.loads(a.to_json())["witness_trajectory"]
    assert w["network"] == "reduced"
    assert a.to_json() == sd.analyze(sd.mlp([784, 512, 10], "sigmoid", "ce"), sd.zeros()).to_json()
