"""Pictures of what an analysis proves (PNG, matplotlib's Agg backend; ``pip install 'symderiv[plot]'``).

* :func:`plot_front` - the first-move front: parameter × step, which entries have moved by
  each step (sigmoid at zero init: the front moves back one layer per step);
* :func:`plot_ties` - the network drawn as units and weights: units coloured by their class of
  identical units, weights that stay 0 forever drawn faint and dotted, the others coloured
  by their tie class;
* :func:`plot_trajectories` - a real float64 training run (:func:`symderiv.numeric.train`, the
  data and init :func:`symderiv.verify.verify` uses): per parameter the largest ``|entry|``
  and the largest spread inside a proved tie class, step by step, on a log scale (exact
  zeros drawn on the floor line);
* :func:`plot_conserved` - the proved conservation laws (``analysis.conserved``) evaluated
  along a plain SGD run: flat lines, next to one weight that is not conserved.

Every function writes its PNG atomically (:func:`symderiv.atomic.write_output`) and returns
the path.  matplotlib is imported inside the functions only: ``import symderiv`` never
needs it, and without it each function raises a one-line :class:`SymderivError`.
"""
from __future__ import annotations

import io
import textwrap
from typing import Any

import numpy as np

from . import numeric
from .analysis import Analysis
from .atomic import write_output
from .errors import InvalidArgument, SymderivError
from .latex.printer import latex
from .verify import init_spec, init_symbol_values

# matplotlib is optional (symderiv[plot]) and slow to import: it is imported inside the functions that
# draw, never at module level, so `import symderiv.plot` works without it and costs nothing

__all__ = ["plot_front", "plot_ties", "plot_trajectories", "plot_conserved", "front_table",
           "front_png", "ties_png", "trajectories_png", "conserved_png"]

#: the value drawn for an exact 0 on a log axis (below every float64 roundoff level we show)
LOG_FLOOR = 1e-20
#: units per layer above which plot_ties refuses (the drawing would be unreadable)
MAX_TIES_UNITS = 40
#: the colour of a weight that learns and is tied to no other weight
UNTIED_COLOUR = "#555555"


def _pyplot() -> Any:
    try:
        import matplotlib
    except ImportError:
        raise SymderivError("plotting needs matplotlib: pip install 'symderiv[plot]'") from None
    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def _png(fig: Any) -> bytes:
    """The figure as PNG bytes (and closed: pyplot keeps no reference)."""
    buf = io.BytesIO()
    try:
        fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    finally:
        import matplotlib.pyplot as plt

        plt.close(fig)
    return buf.getvalue()


#: characters per title line: a long title wraps instead of squeezing the plot
TITLE_WIDTH = 72


def _title(text: str) -> str:
    """``text`` wrapped at :data:`TITLE_WIDTH` characters (existing line breaks kept)."""
    return "\n".join(textwrap.fill(line, TITLE_WIDTH, break_on_hyphens=False) for line in text.split("\n"))


def _save(fig: Any, path: str) -> str:
    write_output(path, _png(fig))
    return path


def _analysis(analysis: Any) -> Any:
    if not isinstance(analysis, Analysis):
        raise InvalidArgument(f"expected an Analysis from symderiv.analyze(mlp(...), init), got "
                              f"{type(analysis).__name__}")
    return analysis


def _concrete(analysis: Any, what: str) -> None:
    if analysis.net.is_symbolic:
        raise InvalidArgument(f"{what} needs concrete widths (it draws every unit or trains a real network); "
                              f"{analysis.net.describe()} has symbolic widths")


# ---------------------------------------------------------------- (a) the front
def _param_entries(analysis: Any, name: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, bool]:
    """``(first step (-1 never), tight, stays zero, weight)`` per entry (concrete widths) or per
    block (symbolic widths: every block weighted 1), and whether it is per block."""
    if not analysis.net.is_symbolic:
        f = analysis.entry_facts(name)
        step = f["first_move_step"].reshape(-1)
        return step, f["first_move_tight"].reshape(-1), f["stays_zero"].reshape(-1), np.ones(step.size), False
    rows = [analysis.facts_of(b) for b in analysis._param_blocks(name)]
    step = np.array([-1 if r.first_move_step is None else r.first_move_step for r in rows])
    return (step, np.array([r.first_move_tight for r in rows]), np.array([r.stays_zero for r in rows]),
            np.ones(len(rows)), True)


def front_table(analysis: Any, steps: int | None = None) -> tuple[list[str], list[int], np.ndarray, np.ndarray]:
    """The numbers :func:`plot_front` draws: ``(parameters, steps, moved, may_move)``.

    ``moved[p, t]`` is the fraction of parameter ``p``'s entries certified to have changed by
    step ``t`` (their first move is at a step ``≤ t`` and certified tight); ``may_move[p, t]``
    the fraction that may have (``first_move_step ≤ t`` is only a lower bound).  Entries proved
    to stay 0, or that never move, count in neither."""
    analysis = _analysis(analysis)
    names = analysis.net.parameter_names()
    data = {n: _param_entries(analysis, n) for n in names}
    finite = [int(s) for n in names for s in data[n][0] if s >= 0]
    horizon = steps if steps is not None else max([2] + [s + 1 for s in finite])
    ts = list(range(horizon + 1))
    moved = np.zeros((len(names), len(ts)))
    maybe = np.zeros((len(names), len(ts)))
    for i, n in enumerate(names):
        step, tight, _zero, weight, _ = data[n]
        total = weight.sum()
        for t in ts:
            reached = (step >= 0) & (step <= t)
            moved[i, t] = weight[reached & tight].sum() / total
            maybe[i, t] = weight[reached & ~tight].sum() / total
    return names, ts, moved, maybe


def plot_front(analysis: Any, path: str, *, steps: int | None = None, title: str | None = None) -> str:
    """Draw the first-move front of ``analysis`` to the PNG ``path``: a heat map of parameter
    (rows, input layer at the top) × training step (columns), each cell the share of the
    parameter's entries certified to have moved by that step; hatched cells may have moved
    (a lower bound on the first-move step that is not certified tight); parameters proved to
    stay 0 forever are labelled so.  ``steps``: the last step drawn (default: one past the
    last first move)."""
    return _save(_front_figure(analysis, steps=steps, title=title), path)


def front_png(analysis: Any, *, steps: int | None = None, title: str | None = None) -> bytes:
    """The picture of :func:`plot_front` as PNG bytes."""
    return _png(_front_figure(analysis, steps=steps, title=title))


def _front_figure(analysis: Any, *, steps: int | None = None, title: str | None = None) -> Any:
    plt = _pyplot()
    from matplotlib.colors import LinearSegmentedColormap
    from matplotlib.patches import Patch

    analysis = _analysis(analysis)
    names, ts, moved, maybe = front_table(analysis, steps)
    per_block = analysis.net.is_symbolic
    labels = []
    for n in names:
        _step, _tight, zero, _w, _ = _param_entries(analysis, n)
        labels.append(f"{n}  (0 forever)" if zero.all() else f"{n}  (partly 0 forever)" if zero.any() else n)
    cmap = LinearSegmentedColormap.from_list("front", ["#f4f4f4", "#2166ac"])
    fig, ax = plt.subplots(figsize=(1.6 + 0.62 * len(ts), 1.3 + 0.42 * len(names)))
    ax.imshow(moved, cmap=cmap, vmin=0, vmax=1, aspect="auto")
    for i in range(len(names)):
        for t in ts:
            if maybe[i, t] > 0:
                ax.add_patch(plt.Rectangle((t - 0.5, i - 0.5), 1, 1, fill=False, hatch="///",
                                           edgecolor="#b2182b", linewidth=0))
            share = moved[i, t]
            text = "" if share == 0 and maybe[i, t] == 0 else f"{share:.0%}" if share < 1 else "all"
            ax.text(t, i, text, ha="center", va="center", fontsize=8,
                    color="white" if share > 0.55 else "#333333")
    ax.set_xticks(ts)
    ax.set_yticks(range(len(names)))
    ax.set_yticklabels(labels)
    ax.set_xticks(np.arange(-0.5, len(ts)), minor=True)
    ax.set_yticks(np.arange(-0.5, len(names)), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="minor", length=0)
    ax.set_xlabel("after training step t (0 = the init)")
    ax.set_ylabel("parameter (input side at the top)")
    what = "blocks" if per_block else "entries"
    ax.set_title(_title(title or f"First-move front: share of {what} that have moved by step t\n"
                                 f"{analysis.net.describe()}; init {analysis.init_description}"), fontsize=9)
    handles = []  # only marks the picture shows
    if moved.any():
        handles.append(Patch(facecolor="#2166ac", label=f"certified moved ({what})"))
    if ((moved == 0) & (maybe == 0)).any():
        handles.append(Patch(facecolor="#f4f4f4", edgecolor="#999999", label="proved unchanged so far"))
    if maybe.any():
        handles.append(Patch(facecolor="white", edgecolor="#b2182b", hatch="///", label="may have moved (not certified)"))
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.5 / (1 + 0.3 * len(names))),
              ncol=len(handles), fontsize=7, frameon=False)
    return fig


# ---------------------------------------------------------------- (b) ties on the network
def _class_colours(n: int, palette: str | None = None) -> list:
    import matplotlib

    base = matplotlib.colormaps[palette or ("tab10" if n <= 10 else "tab20")]
    return [base(i % base.N) for i in range(n)]


def plot_ties(analysis: Any, path: str, *, title: str | None = None) -> str:
    """Draw the network with its proved symmetry to the PNG ``path``: one column of units per
    layer; in a layer with identical units each unit is coloured by its class (same colour in a
    layer = proved identical forever; other layers and the inputs in white); each weight of a tie
    class of two or more is drawn in the class's colour, a weight tied to no other in grey, and
    weights that stay exactly 0 forever faint and dotted.  Needs concrete widths of at
    most :data:`MAX_TIES_UNITS` units per layer."""
    return _save(_ties_figure(analysis, title=title), path)


def ties_png(analysis: Any, *, title: str | None = None) -> bytes:
    """The picture of :func:`plot_ties` as PNG bytes."""
    return _png(_ties_figure(analysis, title=title))


def _ties_figure(analysis: Any, *, title: str | None = None) -> Any:
    plt = _pyplot()
    from matplotlib.lines import Line2D

    analysis = _analysis(analysis)
    _concrete(analysis, "plot_ties")
    net = analysis.net
    sizes = [int(n) for n in net.sizes]
    if max(sizes) > MAX_TIES_UNITS:
        raise InvalidArgument(f"plot_ties draws at most {MAX_TIES_UNITS} units per layer, the network has "
                              f"{max(sizes)}; use plot_front for wide networks")
    part = analysis.proof.partition
    tall = max(sizes)
    pos = {(l, i): (2.2 * l, (tall - 1) / 2 - i * (1 if n == 1 else 1.0)) for l, n in enumerate(sizes) for i in range(n)}
    for l, n in enumerate(sizes):  # centre each column
        for i in range(n):
            x, _ = pos[(l, i)]
            pos[(l, i)] = (x, (n - 1) / 2 - i)
    fig, ax = plt.subplots(figsize=(2.0 + 1.9 * len(sizes), 1.4 + 0.55 * tall))
    ties = {}
    for l in range(1, len(sizes)):
        f = analysis.entry_facts(f"W{l}")
        ties[l] = f
    learning_ids = [int(v) for l in ties for v, z in zip(ties[l]["tie_class"].flat, ties[l]["stays_zero"].flat)
                    if not z]
    counts = {k: learning_ids.count(k) for k in set(learning_ids)}
    # only tie classes of two or more weights get a colour (a palette of its own, so a weight is never
    # mistaken for a unit of the same colour); a weight tied to nothing is drawn plain
    all_ids = sorted(k for k, n in counts.items() if n > 1)
    edge_colour = dict(zip(all_ids, _class_colours(len(all_ids), "Dark2" if len(all_ids) <= 8 else "tab20b")))
    zero_edges, untied_edges = 0, 0
    for l in range(1, len(sizes)):
        f = ties[l]
        for i in range(sizes[l]):
            for j in range(sizes[l - 1]):
                (x0, y0), (x1, y1) = pos[(l - 1, j)], pos[(l, i)]
                if f["stays_zero"][i, j]:
                    zero_edges += 1
                    ax.plot([x0, x1], [y0, y1], color="#bbbbbb", linestyle=":", linewidth=0.8, zorder=1)
                elif int(f["tie_class"][i, j]) in edge_colour:
                    ax.plot([x0, x1], [y0, y1], color=edge_colour[int(f["tie_class"][i, j])], linewidth=1.3,
                            alpha=0.8, zorder=1)
                else:
                    untied_edges += 1
                    ax.plot([x0, x1], [y0, y1], color=UNTIED_COLOUR, linewidth=1.0, alpha=0.8, zorder=1)
    for l, n in enumerate(sizes):
        grouped = l > 0 and part.n_classes(l) < n  # colours only where some units are identical
        colours = _class_colours(part.n_classes(l)) if grouped else []
        for i in range(n):
            x, y = pos[(l, i)]
            face = colours[part.of(l, i).index] if grouped else "white"
            ax.add_patch(plt.Circle((x, y), 0.28, facecolor=face, edgecolor="black", linewidth=1, zorder=3))
            label = f"{i + 1}"
            ax.text(x, y, label, ha="center", va="center", fontsize=7, zorder=4,
                    color="white" if grouped else "black")
        caption = "input\n(data)" if l == 0 else "output" if l == len(sizes) - 1 else f"layer {l}"
        if l > 0 and part.n_classes(l) < n:  # say it only where units are identical
            k = part.n_classes(l)
            caption += f"\n{k} group{'s' if k != 1 else ''} of\nidentical units"
        ax.text(pos[(l, 0)][0], (tall - 1) / 2 + 0.85, caption, ha="center", va="bottom", fontsize=8)
    ax.set_xlim(-0.8, 2.2 * (len(sizes) - 1) + 0.8)
    ax.set_ylim(-(tall - 1) / 2 - 0.8, (tall - 1) / 2 + 1.6)
    ax.set_aspect("equal")
    ax.axis("off")
    unit_ties = any(part.n_classes(l) < n for l, n in enumerate(sizes) if l > 0)
    handles = []  # only marks the picture shows
    if unit_ties:
        handles.append(Line2D([], [], marker="o", linestyle="", markerfacecolor=_class_colours(1)[0],
                              markeredgecolor="black", label="unit colour: its group of identical units"))
    if edge_colour:
        handles.append(Line2D([], [], color=_class_colours(1, "Dark2")[0],
                              label="weight colour: its tie class (equal forever)"))
    if untied_edges:
        handles.append(Line2D([], [], color=UNTIED_COLOUR, label="weight tied to no other"))
    if zero_edges:
        handles.append(Line2D([], [], color="#bbbbbb", linestyle=":", label="weight stays exactly 0 forever"))
    if handles:
        ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, 0.0), ncol=1, fontsize=7, frameon=False)
    what = "Proved ties" if unit_ties or edge_colour else "No ties: every weight that learns has a value of its own"
    ax.set_title(_title(title or f"{what}: {net.describe()}; init {analysis.init_description}"), fontsize=9)
    return fig


# ---------------------------------------------------------------- (c) real trajectories
def _training_run(analysis: Any, optimizer: str, steps: int | None, lr: float, seed: int, batch: int = 6):
    """The float64 run :func:`symderiv.verify.verify` makes for ``optimizer`` (same data and init)."""
    net = analysis.net
    values = init_symbol_values(analysis, seed)
    params = numeric.params_from_init(net, init_spec(analysis), seed=seed, values=values)
    X, Y = numeric.random_data(net, batch, seed=seed)
    if steps is None:
        finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
        steps = max([20] + [s + 5 for s in finite])
    return numeric.train(net, params, X, Y, optimizer=optimizer, steps=steps, lr=lr,
                         batch_size=max(1, batch // 2), seed=seed)


def _on_log(values: np.ndarray) -> np.ndarray:
    return np.where(values > 0, values, LOG_FLOOR)


def plot_trajectories(analysis: Any, path: str, *, optimizer: str = "sgd", steps: int | None = None,
                      lr: float = 0.05, seed: int = 0, title: str | None = None) -> str:
    """Train the analysed network for real (float64, :func:`symderiv.numeric.train`, the data and
    init of :func:`symderiv.verify.verify` with ``seed``) and draw to the PNG ``path`` two panels
    over the steps, log scale: per parameter the largest ``|entry|`` (a parameter proved to stay
    0 lies on the floor line), and the largest spread ``max − min`` inside one proved tie class
    (exact ties lie on the floor line; float roundoff shows as ~1e-17)."""
    return _save(_trajectories_figure(analysis, optimizer=optimizer, steps=steps, lr=lr, seed=seed, title=title), path)


def trajectories_png(analysis: Any, *, optimizer: str = "sgd", steps: int | None = None,
                      lr: float = 0.05, seed: int = 0, title: str | None = None) -> bytes:
    """The picture of :func:`plot_trajectories` as PNG bytes."""
    return _png(_trajectories_figure(analysis, optimizer=optimizer, steps=steps, lr=lr, seed=seed, title=title))


def _trajectories_figure(analysis: Any, *, optimizer: str = "sgd", steps: int | None = None,
                      lr: float = 0.05, seed: int = 0, title: str | None = None) -> Any:
    plt = _pyplot()
    analysis = _analysis(analysis)
    _concrete(analysis, "plot_trajectories")
    traj = _training_run(analysis, optimizer, steps, lr, seed)
    names = analysis.net.parameter_names()
    t = np.arange(len(traj.params))
    fig, (left, right) = plt.subplots(1, 2, figsize=(11, 4.2), sharex=True)
    colours = _class_colours(len(names))
    exact_ties = True
    for k, name in enumerate(names):
        stack = np.array([theta[name] for theta in traj.params]).reshape(len(t), -1)
        facts = analysis.entry_facts(name)
        zero = facts["stays_zero"].reshape(-1)
        style = "--" if zero.all() else "-"
        label = name + (" (proved 0)" if zero.all() else "")
        left.plot(t, _on_log(np.abs(stack).max(axis=1)), style, color=colours[k], label=label, linewidth=1.6)
        ids = facts["tie_class"].reshape(-1)
        spread = np.zeros(len(t))
        tied = False
        for c in np.unique(ids[~zero]):  # the class of proved zeros is tied trivially
            cols = np.flatnonzero((ids == c) & ~zero)
            if len(cols) > 1:
                tied = True
                sub = stack[:, cols]
                spread = np.maximum(spread, sub.max(axis=1) - sub.min(axis=1))
        if tied:
            exact_ties = exact_ties and not spread.any()
            right.plot(t, _on_log(spread), style, color=colours[k], label=label, linewidth=1.6)
    for ax in (left, right):
        ax.axhline(LOG_FLOOR, color="black", linewidth=0.6)
        ax.set_yscale("log")
        ax.set_ylim(LOG_FLOOR / 10, 10.0)
        ax.set_xlabel(f"training step ({optimizer}, lr {lr:g}, float64)")
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.grid(True, which="major", alpha=0.3)
        ax.text(0.01, LOG_FLOOR * 2, "exactly 0", transform=ax.get_yaxis_transform(), fontsize=7, va="bottom")
    left.set_ylabel("max |entry| (log scale)")
    left.set_title("Largest entry of each parameter (dashed: proved to stay 0)", fontsize=9)
    right.set_ylabel("max − min inside one tie class (log scale)")
    right.set_title("Proved ties: the largest spread inside a class", fontsize=9)
    left.legend(fontsize=7, loc="upper right", ncol=2)
    if right.get_legend_handles_labels()[0]:
        right.legend(fontsize=7, loc="upper right", ncol=2)
        if exact_ties:
            right.text(0.5, 0.5, "every proved tie holds exactly\n(spread 0 at every step)", transform=right.transAxes,
                       ha="center", fontsize=9, color="#333333")
    else:
        right.text(0.5, 0.5, "no tie class of two or more entries that learn", transform=right.transAxes, ha="center")
    fig.suptitle(_title(title or f"A real training run: {analysis.net.describe()}; init {analysis.init_description}"),
                 fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- (d) conserved quantities
def _law_value(expr: Any, theta: dict) -> float:
    """A law's expression at parameters ``theta`` (symbols ``W2_1_3`` = 1-based entries)."""
    subs = {}
    for s in expr.free_symbols:
        name, *index = str(s).split("_")
        subs[s] = float(theta[name][tuple(int(i) - 1 for i in index)])
    return float(expr.xreplace(subs))


def plot_conserved(analysis: Any, path: str, *, steps: int = 40, lr: float = 0.01, seed: int = 0,
                   max_laws: int = 8, title: str | None = None) -> str:
    """Evaluate the proved conservation laws (``analysis.conserved``, at most ``max_laws``) along a
    real plain-SGD run (float64) and draw them to the PNG ``path``: linear laws are exactly
    constant under SGD (flat lines); quadratic ones are constant under gradient flow and
    change by O(lr²) per SGD step (a small ``lr`` keeps them flat at plotting scale).  One
    weight that is not conserved is drawn dashed for contrast."""
    return _save(_conserved_figure(analysis, steps=steps, lr=lr, seed=seed, max_laws=max_laws, title=title), path)


def conserved_png(analysis: Any, *, steps: int = 40, lr: float = 0.01, seed: int = 0,
                   max_laws: int = 8, title: str | None = None) -> bytes:
    """The picture of :func:`plot_conserved` as PNG bytes."""
    return _png(_conserved_figure(analysis, steps=steps, lr=lr, seed=seed, max_laws=max_laws, title=title))


def _conserved_figure(analysis: Any, *, steps: int = 40, lr: float = 0.01, seed: int = 0,
                   max_laws: int = 8, title: str | None = None) -> Any:
    plt = _pyplot()
    analysis = _analysis(analysis)
    _concrete(analysis, "plot_conserved")
    laws = list(analysis.conserved)
    traj = _training_run(analysis, "sgd", steps, lr, seed)
    t = np.arange(len(traj.params))
    fig, ax = plt.subplots(figsize=(8, 4.4))
    colours = _class_colours(max(1, min(len(laws), max_laws)), "tab10")
    for k, law in enumerate(laws[:max_laws]):
        values = [_law_value(law.expression, theta) for theta in traj.params]
        text = latex(law.expression)
        if len(text) > 160:
            text = law.indexed if len(law.indexed) <= 80 else f"law {k + 1} ({law.kind})"
            text = text.replace("$", "")
            label = text
        else:
            label = f"${text}$"
        label += "" if law.kind == "linear" else "  (quadratic: gradient flow)"
        ax.plot(t, values, color=colours[k], linewidth=1.8, label=label)
    # quantities that are not conserved, for contrast: the output rows of the first column that learns,
    # each moving while their sum (a law, when one is proved) stays put
    last = f"W{analysis.net.depth}"
    f = analysis.entry_facts(last)
    free = np.argwhere(~f["stays_zero"])
    if len(free):
        j = int(free[0][1])
        rows = [int(i) for i in np.flatnonzero(~f["stays_zero"][:, j])][:4]
        greys = ["#444444", "#777777", "#999999", "#bbbbbb"]
        for r, grey in zip(rows, greys):
            ax.plot(t, [theta[last][r, j] for theta in traj.params], "--", color=grey, linewidth=1.2,
                    label=f"not conserved: {last}[{r + 1},{j + 1}]")
    if not laws:
        ax.text(0.5, 0.5, "no conservation law proved for this network", transform=ax.transAxes, ha="center")
    ax.set_xlabel(f"SGD step (lr {lr:g}, float64)")
    ax.set_ylabel("value")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)  # never over the lines
    shown = f" (first {max_laws} of {len(laws)})" if len(laws) > max_laws else ""
    ax.set_title(_title(title or f"Conserved quantities along SGD{shown}: {analysis.net.describe()}; "
                                 f"init {analysis.init_description}"), fontsize=9)
    return fig

