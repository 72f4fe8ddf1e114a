"""Issue 19: summaries that read well (identical layers in one sentence, wording that fits the shape)."""
from __future__ import annotations

import symderiv as sd


def test_sixteen_identical_layers_are_one_sentence():
    text = sd.analyze(sd.mlp([4] + [3] * 15 + [3], "tanh"), sd.zeros()).summary()
    lines = [line for line in text.splitlines() if "stay identical forever" in line]
    assert lines == ["The 3 units of each of layers 1–15 stay identical forever: the network behaves as if each "
                     "of those layers had width 1."]


def test_layers_of_different_widths_keep_their_own_sentences():
    text = sd.analyze(sd.mlp([4, 3, 5, 3], "tanh"), sd.zeros()).summary()
    assert "The 3 units of layer 1 stay identical" in text and "The 5 units of layer 2 stay identical" in text


def test_the_first_moves_of_a_layer_are_one_clause():
    text = sd.analyze(sd.mlp([4, 3, 3, 3], "sigmoid"), sd.zeros()).summary()
    assert "W1 and b1 first move at step 3; W2 and b2 first move at step 2; W3 and b3 first move at step 1." in text


def test_a_bias_sum_law_speaks_of_an_entry_not_a_row():
    text = sd.analyze(sd.mlp([4, 3, 3, 3], "tanh"), sd.zeros()).summary()
    law = next(line for line in text.splitlines() if "The sum of b3" in line)
    assert "row" not in law.split("(proved")[0] and "true-class entry" in law
    both = sd.analyze(sd.mlp([4, 3], "tanh"), sd.zeros()).summary()  # W1's columns and b1: rows exist
    assert "true-class row" in both
