"""Issue 19: pictures that read well (titles that wrap, no legend entry without marks, honest titles)."""
from __future__ import annotations

import pytest

import symderiv as sd

pytest.importorskip("matplotlib")
from symderiv import plot  # noqa: E402


def _legend(fig) -> list[str]:
    legend = fig.axes[0].get_legend()
    return [] if legend is None else [t.get_text() for t in legend.get_texts()]


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def test_a_long_title_wraps():
    a = sd.analyze(sd.mlp([3, 3, 2], "tanh"), {"W1": sd.generic(), "b1": sd.generic(), "W2": sd.zeros(), "b2": sd.zeros()})
    long = "Generic hidden layer, zero last layer: the hidden layer waits one step " * 2
    fig = plot._front_figure(a, title=long)
    try:
        lines = fig.axes[0].get_title().split("\n")
        assert len(lines) >= 2 and max(len(line) for line in lines) <= plot.TITLE_WIDTH
    finally:
        _close(fig)


def test_softmax_regression_is_not_titled_proved_ties_and_its_legend_names_only_drawn_marks():
    fig = plot._ties_figure(sd.analyze(sd.mlp([4, 3]), sd.zeros()))
    try:
        assert fig.axes[0].get_title().startswith("No ties")
        labels = _legend(fig)
        assert labels == ["weight tied to no other"]
    finally:
        _close(fig)


def test_a_network_with_ties_keeps_its_title_and_legend():
    fig = plot._ties_figure(sd.analyze(sd.mlp([4, 3, 3, 3], "tanh"), sd.constant(0.5)))
    try:
        assert fig.axes[0].get_title().startswith("Proved ties")
        labels = _legend(fig)
        assert any("identical units" in t for t in labels) and any("tie class" in t for t in labels)
        assert "weight stays exactly 0 forever" not in labels  # nothing is 0 at constant 1/2
    finally:
        _close(fig)


def test_the_front_legend_has_no_entry_for_a_mark_it_does_not_draw():
    a = sd.analyze(sd.mlp([3, 3, 2], "sigmoid"), sd.zeros())
    names, ts, moved, maybe = plot.front_table(a)
    fig = plot._front_figure(a)
    try:
        labels = _legend(fig)
        assert ("may have moved (not certified)" in labels) == bool(maybe.any())
        assert ("certified moved (entries)" in labels) == bool(moved.any())
    finally:
        _close(fig)


def test_the_conserved_picture_shows_rows_moving_against_each_other():
    fig = plot._conserved_figure(sd.analyze(sd.mlp([4, 3]), sd.zeros()))
    try:
        labels = _legend(fig)
        assert sum(t.startswith("not conserved: W1[") for t in labels) == 3
    finally:
        _close(fig)
