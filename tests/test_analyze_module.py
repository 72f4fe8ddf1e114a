"""symderiv.analyze(model, loss=..., input_shape=...) forwards an nn.Module to the graph prover."""
from __future__ import annotations

import pytest

import symderiv as sd

torch = pytest.importorskip("torch")

from symderiv.graph.examples import LoRA  # noqa: E402


def test_analyze_accepts_a_module_and_states_the_lora_first_moves():
    a = sd.analyze(LoRA(4, 2, zero="B"), loss="mse", input_shape=(4,))
    assert a.first_move_step("lora_B.weight", (0, 0)) == 1
    assert a.first_move_step("lora_A.weight", (0, 0)) == 2
    j = a.to_dict()
    assert "base.weight" not in j["parameters"] and "lora_B.weight" in j["parameters"]


def test_both_lora_factors_zero_never_move():
    a = sd.analyze(LoRA(4, 2, zero="AB"), loss="mse", input_shape=(4,))
    assert a.stays_zero("lora_A.weight", (0, 0)) and a.stays_zero("lora_B.weight", (0, 0))


@pytest.mark.parametrize("kwargs, message", [
    ({}, "needs loss="),
    ({"loss": "mse"}, "needs loss="),
    ({"loss": "mse", "input_shape": (4,), "init": sd.zeros()}, "own parameter values"),
])
def test_module_misuse_is_a_one_line_error(kwargs, message):
    with pytest.raises(sd.SymderivError, match=message) as info:
        sd.analyze(LoRA(4, 2), **kwargs)
    assert "\n" not in str(info.value)


def test_not_a_network_is_refused():
    with pytest.raises(sd.SymderivError, match="symderiv.mlp"):
        sd.analyze("4,3,3")
    with pytest.raises(sd.SymderivError, match="nn.Module inputs"):
        sd.analyze(sd.mlp([2, 2]), loss="mse")
