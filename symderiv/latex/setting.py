"""The setting of a proof document: the network, its activations and loss, the data and the init.

Compact on purpose (a few lines each): the theorem that follows is the point of the document.
"""
from __future__ import annotations

from typing import Any, Callable

import sympy as sp

from .context import Context, display, join, latex_text
from .printer import TexSymbol

__all__ = ["setting_section", "LOSS_WRITERS"]


def setting_section(ctx: Context) -> list[str]:
    """Network, activations, loss, data and init, in one short section."""
    net = ctx.net
    L = net.depth
    widths = ", ".join(f"n_{{{l}}} = {ctx.tex(n)}" for l, n in enumerate(net.sizes))
    bias = net.bias
    lines = [
        r"\section{Setting}",
        rf"A multilayer perceptron with $L = {L}$ {'layer' if L == 1 else 'layers'}, widths ${widths}$"
        + (" (symbolic widths: arbitrary positive integers)" if net.is_symbolic else "")
        + rf" and parameters $\theta = ({', '.join(ctx.param(n) for n in net.parameter_names())})$"
        + ("" if bias else " (no biases)") + ":",
    ]
    if L == 1:  # no hidden layer: the general recursion would only confuse
        lines[-1] = lines[-1][:-1] + (r": $z^{(1)} = W^{(1)} x + b^{(1)}$" if bias else r": $z^{(1)} = W^{(1)} x$") + (
            r", $\ell = \ell(z^{(1)}, y)$, and with $\delta^{(1)} = \partial\ell/\partial z^{(1)}$, "
            r"$\partial\ell/\partial W^{(1)} = \delta^{(1)} x^\top$"
            + (r", $\partial\ell/\partial b^{(1)} = \delta^{(1)}$." if bias else "."))
    else:
        lines += [
            r"\[ z^{(l)} = W^{(l)} h^{(l-1)}" + (" + b^{(l)}" if bias else "") + r", \quad h^{(0)} = x, \quad "
            r"h^{(l)} = f_l\bigl(z^{(l)}\bigr)\ (l < L), \quad \ell = \ell\bigl(z^{(L)}, y\bigr), \]",
            r"and with $\delta^{(l)} = \partial\ell/\partial z^{(l)}$ the backward pass is "
            r"$\delta^{(l)} = \bigl(W^{(l+1)\top} \delta^{(l+1)}\bigr) \odot f_l'\bigl(z^{(l)}\bigr)$, "
            r"$\partial\ell/\partial W^{(l)} = \delta^{(l)} h^{(l-1)\top}$"
            + (r", $\partial\ell/\partial b^{(l)} = \delta^{(l)}$." if bias else "."),
        ]
    lines += _activations(ctx)
    lines += _loss(ctx)
    lines.append(
        r"\paragraph{Data.} One example $(x, y)$, $x = "
        rf"({ctx.tex(sp.Symbol('x_1'))}, \dots, {ctx.tex(sp.Symbol(f'x_{net.sizes[0]}'))})$ symbolic; every "
        r"identity below holds for every example, hence for every minibatch (an average of examples).")
    lines += _init_section(ctx)
    return lines


def _activations(ctx: Context) -> list[str]:
    net = ctx.net
    if net.depth == 1:
        return []
    z = sp.Symbol("z", real=True)
    groups: dict[Any, list[int]] = {}
    for l in range(1, net.depth):
        groups.setdefault(net.activation_of(l), []).append(l)
    lines: list[str] = []
    for act, layers in groups.items():
        which = ", ".join(str(l) for l in layers)
        lines.append(rf"\paragraph{{Activation}} ($l = {which}$, {latex_text(act.describe())}): "
                     rf"$f_l(z) = {ctx.tex(act(z))}$, $f_l'(z) = {ctx.tex(act.derivative(z))}$.")
        if act.is_kinked:
            lines.append(
                rf"Here $f_l$ is not differentiable at $0$; symderiv uses the \emph{{convention}} "
                rf"$f_l'(0) = {ctx.tex(act.kink_grad)}$ (PyTorch's \texttt{{relu}} uses $0$, \texttt{{torch.maximum}} "
                r"$\tfrac12$, \texttt{clamp\_min} $1$). $\operatorname{H}_a$ is the unit step with "
                r"$\operatorname{H}_a(z) = 0$ for $z < 0$, $\operatorname{H}_a(0) = a$ and $\operatorname{H}_a(z) = 1$ "
                r"for $z > 0$. Every statement below is for this convention."
            )
    return lines


def _softmax_ce(ctx: Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: softmax cross-entropy}} ($K = {K}$ outputs).",
        r"\[ p_k = \frac{e^{z^{(L)}_k}}{\sum_{j=1}^{K} e^{z^{(L)}_j}}, \qquad \ell = -\sum_{k=1}^{K} y_k \log p_k, "
        r"\qquad \delta^{(L)} = p - y. \]",
        r"The labels lie on the probability simplex ($y_k \ge 0$, $\sum_k y_k = 1$; one-hot labels are a special "
        rf"case), built in by eliminating $y_{{{K}}} = 1 - \sum_{{k<{K}}} y_k$, so that $\sum_k \delta^{{(L)}}_k = 0$ "
        r"identically (Lemma~\ref{lem:simplex}); free labels would miss the zeros this identity creates.",
    ]


def _sigmoid_bce(ctx: Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: sigmoid binary cross-entropy}} ($K = {K}$ independent binary outputs).",
        r"\begin{gather*} p_k = \sigma\bigl(z^{(L)}_k\bigr) = \frac{1}{1 + e^{-z^{(L)}_k}}, \qquad "
        r"\delta^{(L)} = p - y, \\ \ell = -\sum_{k=1}^{K} \bigl(y_k \log p_k + (1 - y_k) \log (1 - p_k)\bigr), "
        r"\end{gather*}",
        r"with labels $y_k \in [0, 1]$, unconstrained otherwise.",
    ]


def _mse(ctx: Context, K: int) -> list[str]:
    return [
        rf"\paragraph{{Loss: mean squared error}} ($K = {K}$ outputs, as PyTorch's \texttt{{MSELoss}}).",
        r"\[ \ell = \frac{1}{K} \sum_{k=1}^{K} \bigl(z^{(L)}_k - y_k\bigr)^2, \qquad "
        r"\delta^{(L)} = \frac{2}{K}\bigl(z^{(L)} - y\bigr), \]",
        r"with real labels $y \in \mathbb{R}^K$.",
    ]


#: one entry per registered loss: how the setting section states it
LOSS_WRITERS: dict[str, Callable[[Context, int], list[str]]] = {
    "softmax_cross_entropy": _softmax_ce,
    "sigmoid_binary_cross_entropy": _sigmoid_bce,
    "mean_squared_error": _mse,
}


def _generic_loss(ctx: Context, K: int) -> list[str]:
    z = [TexSymbol(f"z^{{(L)}}_{{{k}}}", real=True) for k in range(1, K + 1)]
    y = ctx.net.loss.labels(K)
    lines = [rf"\paragraph{{Loss: \texttt{{{latex_text(ctx.net.loss.name)}}}}} ($K = {K}$ outputs). "
             rf"Labels: {latex_text(ctx.net.loss.label_domain)}."]
    for k, d in enumerate(ctx.net.loss.delta(z, y), start=1):
        lines.append(display(ctx, rf"\delta^{{(L)}}_{{{k}}}", d))
    return lines


def _loss(ctx: Context) -> list[str]:
    writer = LOSS_WRITERS.get(ctx.net.loss.name, _generic_loss)
    return writer(ctx, ctx.net.n_outputs)


def _init_section(ctx: Context) -> list[str]:
    p = ctx.proof
    by_text: dict[str, list[str]] = {}
    for name in ctx.net.parameter_names():
        by_text.setdefault(_init_text(ctx, name, p.inits[name]), []).append(f"${ctx.param(name)}$")
    parts = [f"{join(names)}: {text}" for text, names in by_text.items()]
    lines = [rf"\paragraph{{Init}} $\theta^{{(0)}}$ ({latex_text(ctx.analysis.init_description)}). "
             + "; ".join(parts) + "."]
    lines += _unit_classes_text(ctx)
    return lines


def _init_text(ctx: Context, name: str, init: Any) -> str:
    if init.kind == "uniform":
        if init.value == 0:
            return "every entry is $0$"
        return f"every entry equals ${ctx.tex(init.value)}$"
    if init.kind == "generic":
        kind, l = ctx.net.parse_name(name)
        entry = f"W^{{({l})}}_{{i,j}}" if kind == "W" else f"b^{{({l})}}_{{i}}"
        return f"generic (every entry its own free symbol, e.g.\\ ${entry}$)"
    arr = init.array
    if arr.size <= 36:
        matrix = sp.Matrix(arr.tolist()) if arr.ndim == 2 else sp.Matrix(list(arr))
        return f"the explicit array ${ctx.tex(matrix)}$"
    return f"an explicit array of {arr.size} exact entries (listed in the JSON of the analysis)"


def _unit_classes_text(ctx: Context) -> list[str]:
    net, part = ctx.net, ctx.partition
    if net.depth == 1:
        return []
    items = []
    for l in range(1, net.depth):
        classes = part.classes[l]
        desc = ", ".join(f"$\\{{{ctx.units(C)}\\}}$" for C in classes)
        items.append(rf"layer {l} (width ${ctx.tex(net.sizes[l])}$): {desc}")
    lines = [r"\paragraph{Unit classes.} Hidden units with identical incoming rows, biases and outgoing columns at "
             r"the init form a \emph{class} (Lemma~\ref{lem:units}): " + "; ".join(items) + "."]
    lines += [r"We write $W^{(l)}_{I,J}$ for the \emph{block} of entries with row in the class $I$ and column in the "
              r"class $J$ (inputs and outputs are always single units), $b^{(l)}_I$ likewise, and $a..b$ for "
              r"$\{a, \dots, b\}$."]
    return lines

