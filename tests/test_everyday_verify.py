"""Issue 19: verify at width (the quotient and a sample, batched finite differences), verdict last."""
from __future__ import annotations

import numpy as np
import pytest

import symderiv as sd
from symderiv import numeric as N
from symderiv.cli import main
from symderiv.verify import Check, VerifyReport

verify_module = __import__("sys").modules["symderiv.verify"]
REAL_FD, REAL_ENCLOSE = N._perturbed_losses, verify_module.enclose


def test_the_verdict_is_the_last_line_and_the_default_is_short(capsys):
    assert main(["verify", "--layers", "4,3,3"]) == 0
    short = capsys.readouterr().out.rstrip("\n").splitlines()
    assert short[-1].startswith("verify: OK (")
    assert main(["verify", "--layers", "4,3,3", "--details"]) == 0
    long = capsys.readouterr().out.rstrip("\n").splitlines()
    assert long[-1] == short[-1]
    assert len(short) < len(long) // 2
    assert sum("trajectories" in line for line in short) == 1


def test_a_failing_check_is_shown_in_full_in_the_short_form():
    report = VerifyReport([Check("zeros", "sgd (3 steps)", True), Check("ties", "sgd (3 steps)", False, 0.5,
                                                                       "proved ties", "W2[1,1] vs W2[2,1]")])
    text = str(report)
    assert text.splitlines()[-1] == "verify: FAILED (2 checks, 1 failed)"
    assert "FAIL ties" in text and "W2[1,1] vs W2[2,1]" in text


def _work(width, monkeypatch):
    """(stacked finite-difference passes, closed-form evaluations) of verify at this width."""
    counts = {"fd": 0, "enclose": 0}
    real_fd, real_enclose = REAL_FD, REAL_ENCLOSE

    def fd(*args, **kwargs):
        counts["fd"] += 1
        return real_fd(*args, **kwargs)

    def enclose(*args, **kwargs):
        counts["enclose"] += 1
        return real_enclose(*args, **kwargs)

    monkeypatch.setattr(N, "_perturbed_losses", fd)
    monkeypatch.setattr(verify_module, "enclose", enclose)
    report = sd.analyze(sd.mlp([width, width, width, 3]), sd.zeros()).verify(optimizers=("sgd",))
    assert report.ok, report.details()
    return counts


def test_the_work_of_verify_does_not_grow_with_width(monkeypatch):
    """Closed forms once per block (plus a sample of input columns), finite differences of a
    parameter's sampled entries in stacked batches: the same count of both at width 100 and 300 (above the sample size)."""
    narrow, wide = _work(100, monkeypatch), _work(300, monkeypatch)
    assert narrow["fd"] == wide["fd"] == 6  # one stacked pass per parameter
    batch, sample = 6, verify_module.FD_SAMPLE  # per example: the blocks once, and each sampled W1 column
    assert narrow["enclose"] <= batch * (1 + sample) and wide["enclose"] <= batch * (1 + sample)


def test_a_wrong_zero_is_still_found_at_every_entry():
    """The trajectory checks reduce arrays over every entry: a single wrong entry is named."""
    net = sd.mlp([3, 30, 2])
    a = sd.analyze(net, sd.zeros())
    params = N.params_from_init(net, sd.zeros())
    X, Y = N.random_data(net, 4)
    traj = N.train(net, params, X, Y, steps=3)
    traj.params[2]["W1"][17, 2] = 1e-3  # a fabricated move of a proved zero
    checks = verify_module._trajectory_checks(a, traj, "sgd", 0, 1e-9, 1e-8)
    zeros = next(c for c in checks if c.kind == "zeros")
    assert not zeros.ok and zeros.offending.startswith("W1[18,3]")


def test_a_broken_tie_is_found_and_named():
    net = sd.mlp([3, 30, 2], "tanh")
    a = sd.analyze(net, sd.constant(0.5))
    params = N.params_from_init(net, sd.constant(0.5))
    X, Y = N.random_data(net, 4)
    traj = N.train(net, params, X, Y, steps=3)
    traj.params[1]["W2"][1, 7] += 1e-3
    checks = verify_module._trajectory_checks(a, traj, "sgd", 0, 1e-9, 1e-8)
    ties = next(c for c in checks if c.kind == "ties")
    assert not ties.ok and "W2[2,8]" in ties.offending
