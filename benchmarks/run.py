"""symderiv benchmarks: one run, side-by-side tables.

    python3 benchmarks/run.py            # everything (about a minute)
    python3 benchmarks/run.py --quick    # skip the slow sympy.diff route of (a)

(a) engine vs the ``sympy.diff`` route on a 4-4-4-3 tanh network at constant init 1/2
    (softmax cross-entropy); both results are compared by rigorous interval
    enclosures at two random rational points.
(b) ``gradients`` at depth 64, hidden width 4096 and symbolic width ``n``.
(c) growth of ``gradients`` time with depth and with width.
(d) ``analyze`` on deep/wide networks, and its growth with width.
(s) ``--parts s``: speed side by side with the previous release (``--previous COMMIT``), idle and
    under an artificial load, each version in its own processes.

Timing: ``time.perf_counter``; best of 2 runs for anything under 5 s (a single
run for the sympy.diff route); SymPy's cache is cleared (and ``gc.collect()`` run)
before every measured run so that no run profits from the previous one.
"""
from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import subprocess
import sys
import time

import sympy as sp
from sympy.core.cache import clear_cache

import symderiv as sd
from symderiv.certify import endpoints, enclose

DIFF_CAP_SECONDS = 120.0


# ---------------------------------------------------------------- helpers
def measure(fn, repeats: int = 2):
    """``(best seconds, all seconds, last result)``; SymPy's cache cleared (and a garbage
    collection done) before each run.  A run of 5 s or more is not repeated."""
    times, result = [], None
    for _ in range(repeats):
        result = None
        clear_cache()
        gc.collect()
        t0 = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t0)
        if times[-1] >= 5.0:
            break
    return min(times), times, result


def fmt_s(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.0f} µs"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


def table(headers: list[str], rows: list[list[object]]) -> str:
    cells = [[str(h) for h in headers]] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    line = lambda r: "| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |"  # noqa: E731
    sep = "|" + "|".join("-" * (w + 2) for w in widths) + "|"
    return "\n".join([line(cells[0]), sep] + [line(r) for r in cells[1:]])


def section(title: str) -> None:
    print(f"\n## {title}\n", flush=True)


def machine_info() -> list[tuple[str, str]]:
    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                                cwd=os.path.dirname(os.path.abspath(__file__))).stdout.strip() or "?"
    except OSError:
        commit = "?"
    import flint
    import numpy

    load = ", ".join(f"{v:.2f}" for v in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    return [
        ("python", sys.version.split()[0] + f" ({platform.python_implementation()})"),
        ("sympy", sp.__version__),
        ("python-flint (Arb)", flint.__version__),
        ("numpy", numpy.__version__),
        ("symderiv", f"{sd.__version__} (git {commit})"),
        ("platform", platform.platform()),
        ("cpu", cpu),
        ("cpu count", f"{os.cpu_count()} (usable: {usable})"),
        ("load average (1/5/15 min, at start)", load),
    ]


# ---------------------------------------------------------------- (a) the sympy.diff route
def diff_route(sizes: list[int], value: sp.Rational, deadline: float):
    """Gradients by ``sympy.diff`` of the full loss, one symbol per parameter entry,
    init substituted afterwards.  Self-contained (tanh hidden layers, softmax
    cross-entropy with labels on the simplex, biases).  Stops between entries once
    ``time.perf_counter()`` passes ``deadline``.

    Returns ``({(name, index): gradient at init}, entries in total, x, label symbols)``.
    """
    x = [sp.Symbol(f"x_{j}", real=True) for j in range(1, sizes[0] + 1)]
    K = sizes[-1]
    ysyms = [sp.Symbol(f"y_{k}", real=True) for k in range(1, K)]
    y = ysyms + [1 - sum(ysyms)]
    params: list[tuple[str, tuple[int, ...], sp.Symbol]] = []
    h = sp.Matrix(x)
    z = None
    L = len(sizes) - 1
    for l in range(1, L + 1):
        rows, cols = sizes[l], sizes[l - 1]
        W = sp.Matrix(rows, cols, lambda i, j: sp.Symbol(f"W{l}_{i + 1}_{j + 1}", real=True))
        b = sp.Matrix([sp.Symbol(f"b{l}_{i + 1}", real=True) for i in range(rows)])
        params += [(f"W{l}", (i, j), W[i, j]) for i in range(rows) for j in range(cols)]
        params += [(f"b{l}", (i,), b[i]) for i in range(rows)]
        z = W * h + b
        if l < L:
            h = z.applyfunc(sp.tanh)
    logits = list(z)
    lse = sp.log(sum(sp.exp(v) for v in logits))
    loss = -sum(yk * (zk - lse) for zk, yk in zip(logits, y))
    at_init = {sym: value for _, _, sym in params}
    grads = {}
    for name, index, sym in params:
        if time.perf_counter() > deadline:
            break
        grads[(name, index)] = sp.diff(loss, sym).xreplace(at_init)
    return grads, len(params), x, ysyms


def engine_route(net, init):
    d = sd.gradients(net, init)
    grads = {}
    for name in net.parameter_names():
        m = d[name]  # dense ImmutableMatrix at this size
        for i in range(m.rows):
            for j in range(m.cols):
                grads[(name, (i, j) if name.startswith("W") else (i,))] = m[i, j]
    return d, grads


def random_point(symbols, seed: int) -> dict:
    rng = random.Random(seed)
    return {s: sp.Rational(rng.choice([n for n in range(-9, 10) if n != 0]), rng.randint(2, 7)) for s in symbols}


def compare(engine: dict, diff: dict, symbols: list, seeds=(1, 2), dps: int = 40) -> tuple[int, float]:
    """Assert every diff-route gradient equals the engine's at the random points: the
    interval enclosures must overlap and both be narrow.  Returns (comparisons, max width)."""
    keys = list(diff)
    checked, worst = 0, 0.0
    for seed in seeds:
        point = random_point(symbols, seed)
        enc_e = enclose([engine[k] for k in keys], point, dps=dps)
        enc_d = enclose([diff[k] for k in keys], point, dps=dps)
        for k, a, b in zip(keys, enc_e, enc_d):
            alo, ahi = endpoints(a)
            blo, bhi = endpoints(b)
            width = float(max(ahi - alo, bhi - blo))
            worst = max(worst, width)
            assert width < 1e-25, f"{k}: enclosure too wide ({width})"
            assert alo <= bhi and blo <= ahi, f"{k}: engine {a} and sympy.diff {b} differ at seed {seed}"
            checked += 1
    return checked, worst


def part_a(quick: bool) -> dict:
    section("(a) engine vs the sympy.diff route: 4-4-4-3 tanh, constant init 1/2, softmax cross-entropy")
    sizes = [4, 4, 4, 3]
    value = sp.Rational(1, 2)
    net = sd.mlp(sizes, "tanh")
    best_e, times_e, (d, engine) = measure(lambda: engine_route(net, sd.constant(value)))
    out = {"engine": best_e, "engine_runs": times_e, "entries": len(engine)}
    if quick:
        print(table(["route", "time", "runs", "entries"],
                    [["symderiv.gradients (+ dense matrices)", fmt_s(best_e), ", ".join(fmt_s(t) for t in times_e), len(engine)],
                     ["sympy.diff route", "skipped (--quick)", "", ""]]))
        return out
    clear_cache()
    gc.collect()
    t0 = time.perf_counter()
    diff, total, x, ysyms = diff_route(sizes, value, t0 + DIFF_CAP_SECONDS)
    t_diff = time.perf_counter() - t0
    capped = len(diff) < total
    assert [str(s) for s in x] == [str(s) for s in d.x] and [str(s) for s in ysyms] == [str(s) for s in d.label_symbols]
    assert set(diff) <= set(engine) and total == len(engine)
    t1 = time.perf_counter()
    checked, worst = compare(engine, diff, list(d.x) + list(d.label_symbols))
    t_check = time.perf_counter() - t1
    speedup = t_diff / best_e
    diff_label = fmt_s(t_diff) + (f" (CAPPED at {DIFF_CAP_SECONDS:.0f} s: {len(diff)}/{total} entries)" if capped else "")
    print(table(["route", "time", "runs", "entries"],
                [["symderiv.gradients (+ dense matrices)", fmt_s(best_e), ", ".join(fmt_s(t) for t in times_e), len(engine)],
                 ["sympy.diff of full loss + substitution", diff_label, "1 run", len(diff)]]))
    print(f"\nspeed-up: {speedup:,.0f}x{' (lower bound: diff route capped)' if capped else ''}  (target >= 1000x: "
          f"{'met' if speedup >= 1000 else 'NOT met'})")
    print(f"agreement: {checked} gradient entries x points compared by interval enclosure at 2 random rational "
          f"points, all equal (max enclosure width {worst:.1e}); check took {fmt_s(t_check)}")
    out.update(diff=t_diff, capped=capped, diff_entries=len(diff), speedup=speedup, checked=checked)
    return out


# ---------------------------------------------------------------- (b), (c) gradients at scale
def tanh_net(depth: int, width, n0: int = 8, K: int = 10):
    return sd.mlp([n0] + [width] * (depth - 1) + [K], "tanh")


def grads_touched(net, init, api: bool = True):
    """``gradients`` plus reading every block gradient; with ``api`` also ``d["W1"][0, 0]`` and
    ``d["W_L"]`` through the public indexing (a dense ImmutableMatrix when the parameter has
    at most 10,000 entries, else a ClassMatrix whose ``.blocks`` are read)."""
    d = sd.gradients(net, init)
    L = net.depth
    n_blocks = sum(len(d.blocks(name)) for name in net.parameter_names())
    first = d.grad("W1", (0, 0))
    n_last = len(d.blocks(f"W{L}"))
    if api:
        first = d["W1"][0, 0]
        last = d[f"W{L}"]
        n_last = len(last.blocks) if isinstance(last, sd.ClassMatrix) else len(last)
    return first, n_last, n_blocks


def part_b() -> dict:
    section("(b) symderiv.gradients at depth 64, hidden width 4096 / n (input 8, 10 outputs), constant init 1/10, tanh")
    init = sd.constant(sp.Rational(1, 10))
    rows, out = [], {}
    for label, width in [("4096", 4096), ("n (symbolic)", "n")]:
        net = tanh_net(64, width)
        best, times, (first, n_last, n_blocks) = measure(lambda: grads_touched(net, init))
        out[label] = best
        rows.append([f"depth 64, width {label}", fmt_s(best), ", ".join(fmt_s(t) for t in times),
                     "met" if best < 2 else "NOT met", str(first), n_last, n_blocks])
    print(table(["network", "best", "runs", "< 2 s", "dW1[0,0]", "blocks of W64", "blocks, all params"], rows))
    return out


def part_c() -> dict:
    section("(c) growth of symderiv.gradients time (constant init 1/10, tanh, input 8, 10 outputs)")
    print("'core' = gradients + reading every block gradient; 'with API' adds d['W1'][0,0] and d['W_L'], which\n"
          "build a dense matrix when the parameter has <= 10,000 entries (so that column can grow with width).\n")
    init = sd.constant(sp.Rational(1, 10))
    out = {}
    for what, series in [("depth (width 64)", [(L, 64) for L in (8, 16, 32, 64)]),
                         ("width (depth 16)", [(16, n) for n in (8, 64, 512, 4096)])]:
        rows, base, base_x, res = [], None, None, []
        by_depth = what.startswith("depth")
        for L, n in series:
            net = tanh_net(L, n)
            best, times, _ = measure(lambda: grads_touched(net, init, api=False))
            best_api, _, _ = measure(lambda: grads_touched(net, init, api=True))
            x = L if by_depth else n
            if base is None:
                base, base_x = best, x
            res.append((x, best, best_api))
            row = [x, fmt_s(best), ", ".join(fmt_s(t) for t in times), f"{best / base:.2f}", f"{x / base_x:g}"]
            row += [fmt_s(best / L)] if by_depth else []
            rows.append(row + [fmt_s(best_api)])
        print(f"by {what}:")
        print(table([what.split()[0], "core best", "core runs", "time ratio to first", "size ratio to first"]
                    + (["core time per layer"] if by_depth else []) + ["with API, best"], rows))
        print()
        out[what] = res
    # beyond the requested series: where the unabbreviated closed forms stop scaling
    rows = []
    for L, n in [(96, 64), (128, 64), (128, "n")]:
        net = tanh_net(L, n)
        clear_cache()
        gc.collect()
        t0 = time.perf_counter()
        try:
            grads_touched(net, init, api=False)
            status = "ok"
        except RecursionError:
            status = f"RecursionError (Python recursion limit {sys.getrecursionlimit()})"
        t = time.perf_counter() - t0
        rows.append([L, n, fmt_s(t), fmt_s(t / L), status])
    print("beyond the series (1 run each, informational):")
    print(table(["depth", "width", "time", "time per layer", "result"], rows))
    out["beyond"] = rows
    return out


# ---------------------------------------------------------------- (d) analyze
def analyze_stats(net, init):
    a = sd.analyze(net, init)
    p = a.proof
    fms = list(p.first_moves.values())
    steps = sorted({fm.step for fm in fms if fm.step is not None})
    return {"iterations": p.iterations, "undecided": len(p.undecided), "tight": sum(fm.tight for fm in fms),
            "total": len(fms), "steps": steps, "never": sum(fm.step is None for fm in fms),
            "classes": len(p.classes), "zero_class": p.zero_class is not None}


def part_d() -> dict:
    section("(d) symderiv.analyze (all first moves certified by a trajectory = 'tight')")
    c10 = sd.constant(sp.Rational(1, 10))
    cases = [
        ("tanh, constant 1/10, depth 64, width 4096", tanh_net(64, 4096), c10),
        ("tanh, constant 1/10, depth 64, width n", tanh_net(64, "n"), c10),
        ("sigmoid, zeros, depth 16, width 256", sd.mlp([8] + [256] * 15 + [10], "sigmoid"), sd.zeros()),
        ("tanh, constant 1/10, depth 16, width 8", tanh_net(16, 8), c10),
        ("tanh, constant 1/10, depth 16, width 512", tanh_net(16, 512), c10),
        ("tanh, constant 1/10, depth 16, width 4096", tanh_net(16, 4096), c10),
    ]
    rows, out = [], {}
    for label, net, init in cases:
        best, times, s = measure(lambda: analyze_stats(net, init))
        out[label] = (best, s)
        steps = s["steps"]
        step_text = (f"{steps[0]}" if len(steps) == 1 else f"{steps[0]}..{steps[-1]} ({len(steps)} distinct)") if steps else "-"
        rows.append([label, fmt_s(best), ", ".join(fmt_s(t) for t in times), "met" if best < 5 else "NOT met",
                     s["iterations"], s["undecided"], f"{s['tight']}/{s['total']}", step_text, s["never"]])
    print(table(["network, init", "best", "runs", "< 5 s", "relaxation iterations", "undecided identities",
                 "tight first moves / total", "first-move steps", "proved never"], rows))
    w = [out[c[0]][0] for c in cases[3:]]
    print("\nwidth series at depth 16 (8 -> 512 -> 4096): time ratios to width 8: "
          + ", ".join(f"{t / w[0]:.2f}" for t in w))
    return out


# ---------------------------------------------------------------- (e) real input sizes
def part_e() -> dict:
    section("(e) analyze at real input sizes (MNIST 784, CIFAR 3072 inputs), tanh, softmax cross-entropy: "
            "input reduction (symderiv.inputs)")
    print("The inputs of a zero/constant init are exchangeable: the proof runs on 4 representatives and is lifted\n"
          "entry by entry (before the reduction, 784-10 at zeros took ~104 s and at constant 1/2 ~118 s).\n")
    half = sp.Rational(1, 2)
    cases = [(sizes, label, init) for sizes in ([784, 10], [3072, 10], [784, 256, 10])
             for label, init in (("zeros", sd.zeros()), ("constant 1/2", sd.constant(half)))]
    rows, out = [], {}
    for sizes, label, init in cases:
        net = sd.mlp(sizes, "tanh")
        best_a, times_a, a = measure(lambda: sd.analyze(net, init))
        times_j = []
        for _ in range(2):  # to_json of a fresh analysis each time (an analysis caches what it printed)
            fresh = sd.analyze(net, init)
            clear_cache()
            gc.collect()
            t0 = time.perf_counter()
            fresh.to_json()
            times_j.append(time.perf_counter() - t0)
        best_j = min(times_j)
        m = a.inputs
        fms = [fm for k, fm in a.proof.first_moves.items() if k != a.proof.zero_class]
        name = "-".join(map(str, sizes))
        out[(name, label)] = (best_a, best_j)
        rows.append([name, label, fmt_s(best_a), ", ".join(fmt_s(t) for t in times_a), fmt_s(best_j),
                     "met" if max(best_a, best_j) <= 2 else "NOT met",
                     f"{m.n_full} -> {m.n_reduced}" if m is not None else "none",
                     f"{sum(fm.tight for fm in fms)}/{len(fms)}"])
    print(table(["network", "init", "analyze best", "analyze runs", "to_json (fresh analysis) best", "<= 2 s each",
                 "inputs (full -> proved)", "tight first moves / total"], rows))
    return out


# ---------------------------------------------------------------- (g) graphs: width independence (issue #9)
def _graph_case(make, shape, loss, lumped=True):
    from symderiv.graph.analysis import analyze_graph
    from symderiv.graph import graph_from_module

    g = graph_from_module(make(), shape, loss)
    return analyze_graph(g, lumped=lumped)


def _lora_structural(d):
    from symderiv.graph.examples import LoRA
    from symderiv.graph.structural import prove_structural
    from symderiv.graph import graph_from_module

    return prove_structural(graph_from_module(LoRA(d=d, r=8, zero="B"), (d,), "mse"))


def part_g() -> dict:
    section("(g) graphs: width independence (issue #9) - trace + proof, one run each above 5 s")
    from symderiv.graph.examples import LoRA, ResidualMLP

    rows, out = [], {}
    for w in (64, 256, 1024):
        best, times, a = measure(lambda: _graph_case(lambda: ResidualMLP(4, w, 12, 10), (4,), "ce"))
        full, small = a.proof.lumping.entries()
        steps = sorted({fm.step for fm in a.proof.quotient.first_moves.values() if fm.step is not None})
        tight = all(fm.tight for fm in a.proof.quotient.first_moves.values() if fm.step is not None)
        rows.append([f"(A) residual MLP, 12 blocks, constant 0.1, CE (10 classes)", f"width {w}", fmt_s(best),
                     ", ".join(fmt_s(t) for t in times), f"{full:,} -> {small}", "/".join(map(str, steps)),
                     "all" if tight else "not all", len(a.proof.undecided), "met" if best <= 10 else "NOT met"])
        out[("A", w)] = best
    for d in (64, 256, 1024, 4096):
        best, times, p = measure(lambda: _lora_structural(d))
        steps = {n.split(".")[0]: fm.step for n, fm in p.first_moves.items()}
        tight = all(fm.tight for fm in p.first_moves.values() if fm.step is not None)
        rows.append([f"(B) LoRA, frozen {d}x{d} base, rank 8, B = 0, MSE (tensor level)", f"d {d}", fmt_s(best),
                     ", ".join(fmt_s(t) for t in times), f"{d * d + 16 * d:,} -> tensors",
                     f"B {steps['lora_B']}, A {steps['lora_A']}", "all" if tight else "not all",
                     sum("lower bound" in u for u in p.undecided), "met" if best <= 10 else "NOT met"])
        out[("B", d)] = best
    for label, make in [("LoRA, d 16, rank 4, B = 0 (entry path)", lambda: LoRA(d=16, r=4, zero="B"))]:
        best, times, a = measure(lambda: _graph_case(make, (16,), "mse"))
        rows.append([label, "d 16", fmt_s(best), ", ".join(fmt_s(t) for t in times), "entries", "-", "-",
                     len(a.proof.undecided), "-"])
    print(table(["case", "size", "best", "runs", "entries (full -> proved)", "first-move steps", "tight",
                 "undecided", "<= 10 s"], rows))
    return out


# ---------------------------------------------------------------- (s) speed, side by side with the previous release
#: the previous release: 0.1.0, the last commit of the 30 November session (CHANGELOG "0.1.0 - first release")
PREVIOUS_RELEASE = "2a8878d"
#: a child that runs longer than this (or needs more than _CHILD_MEMORY bytes) is reported as not finished
_CHILD_TIMEOUT_S = 90
_CHILD_MEMORY = 6 << 30

_SPEED_CHILD = r"""
import gc, json, statistics, sys, threading, time
import sympy as sp
from sympy.core.cache import clear_cache
import symderiv as sd

what = sys.argv[1]
out = {"symderiv": sd.__file__}
if what == "small":
    net = sd.mlp([4, 4, 4, 3], "tanh")  # softmax cross-entropy
    init = sd.constant(sp.Rational(1, 2))
    sd.gradients(net, init)  # imports, first-call work
    warm, warm_cpu = [], []
    for _ in range(40):  # repeated calls, as in a session: SymPy's cache holds what earlier calls built
        t0, c0 = time.perf_counter(), time.process_time(); sd.gradients(net, init)
        warm.append(time.perf_counter() - t0); warm_cpu.append(time.process_time() - c0)
    cold, cold_cpu = [], []
    for _ in range(12):  # SymPy's cache cleared before each call: every expression built anew
        clear_cache(); gc.collect()
        t0, c0 = time.perf_counter(), time.process_time(); sd.gradients(net, init)
        cold.append(time.perf_counter() - t0); cold_cpu.append(time.process_time() - c0)
    out.update(warm_median=statistics.median(warm), warm_best=min(warm), warm_cpu=statistics.median(warm_cpu),
               cold_median=statistics.median(cold), cold_best=min(cold), cold_cpu=statistics.median(cold_cpu))
elif what == "diff":
    sys.path.insert(0, sys.argv[2])
    from run import diff_route
    clear_cache(); gc.collect()
    t0, c0 = time.perf_counter(), time.process_time(); diff_route([4, 4, 4, 3], sp.Rational(1, 2), t0 + 600)
    out["diff"], out["diff_cpu"] = time.perf_counter() - t0, time.process_time() - c0
else:  # deep: depth 64, width 4096 or n; gradients or analyze; best of 2, cache cleared
    kind, width = what.split(":")
    net = sd.mlp([8] + [int(width) if width.isdigit() else width] * 63 + [10], "tanh")
    init = sd.constant(sp.Rational(1, 10))
    fn = sd.gradients if kind == "gradients" else sd.analyze
    times, cpu = [], []
    for _ in range(2):
        clear_cache(); gc.collect()
        t0, c0 = time.perf_counter(), time.process_time(); fn(net, init)
        times.append(time.perf_counter() - t0); cpu.append(time.process_time() - c0)
    out.update(best=min(times), runs=times, best_cpu=min(cpu))
print(json.dumps(out))
"""


def _release_tree(commit: str) -> str:
    """A copy of the package at ``commit`` (``git archive``), in a temporary directory."""
    import tempfile

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    dest = tempfile.mkdtemp(prefix=f"symderiv-{commit}-")
    archive = subprocess.run(["git", "archive", commit, "symderiv"], cwd=root, capture_output=True, check=True)
    subprocess.run(["tar", "-x", "-C", dest], input=archive.stdout, check=True)
    return dest


def _child(tree: str, what: str, *extra: str, timeout: float = _CHILD_TIMEOUT_S) -> dict:
    """Run one measurement of _SPEED_CHILD with ``tree`` first on the import path."""
    import json
    import resource

    def limit_memory() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (_CHILD_MEMORY, _CHILD_MEMORY))

    env = dict(os.environ, PYTHONPATH=tree)
    try:
        proc = subprocess.run([sys.executable, "-c", _SPEED_CHILD, what, *extra], env=env, capture_output=True, cwd=tree,
                              text=True, timeout=timeout, preexec_fn=limit_memory)
    except subprocess.TimeoutExpired:
        return {"failed": f"not finished in {timeout:.0f} s"}
    if proc.returncode != 0:
        last = (proc.stderr.strip().splitlines() or ["?"])[-1]
        return {"failed": f"exit {proc.returncode}: {last[:100]}"}
    if not proc.stdout.strip():
        return {"failed": "no output"}
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["symderiv"].startswith(tree), (result["symderiv"], tree)  # the version asked for ran
    return result


class _BusyLoad:
    """Two processes spinning on the CPU (the 'under load' condition), for the ``with`` block."""

    def __enter__(self):
        self.procs = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(2)]
        time.sleep(1.0)
        return self

    def __exit__(self, *exc):
        for proc in self.procs:
            proc.kill()
            proc.wait()


def part_s(previous: str = PREVIOUS_RELEASE) -> dict:
    section(f"(s) speed side by side: the previous release ({previous}) and this tree, in one run")
    print("Each figure is measured in a fresh process with that version first on PYTHONPATH; the two versions\n"
          "alternate.  'under load' = two extra processes spinning on the CPU for the whole measurement.\n"
          "4-4-4-3: tanh, softmax cross-entropy, constant init 1/2; 'per call' = median of 40 repeated calls\n"
          "(SymPy's cache warm, as in a session), 'cold' = median of 12 calls each after clear_cache().\n"
          "speed-up = the sympy.diff route of (a) (whole loss, every entry, measured once per condition) over\n"
          "the per-call time.  depth 64: hidden width 4096 or n, constant 1/10, tanh; best of 2, cache cleared.\n"
          "(CPU ...) = the process's CPU time for the same call: what the call costs, whatever else runs.\n")
    trees = {"previous": _release_tree(previous), "current": os.path.dirname(os.path.dirname(os.path.abspath(__file__)))}
    here = os.path.dirname(os.path.abspath(__file__))
    rows, out = [], {}
    for condition in ("idle", "under load"):
        ctx = _BusyLoad() if condition == "under load" else None
        if ctx is not None:
            ctx.__enter__()
        try:
            load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
            res = {v: _child(t, "small") for v, t in trees.items()}
            diff = _child(trees["current"], "diff", here, timeout=600)  # minutes on a busy machine
            deep = {(v, w): _child(t, w) for w in ("gradients:4096", "gradients:n", "analyze:4096", "analyze:n")
                    for v, t in trees.items()}
        finally:
            if ctx is not None:
                ctx.__exit__()
        out[condition] = (res, diff, deep)

        def fig(r: dict, key: str, cpu: str = "") -> str:
            if "failed" in r:
                return r["failed"]
            return fmt_s(r[key]) + (f" (CPU {fmt_s(r[cpu])})" if cpu and cpu in r else "")

        def ratio(a: dict, b: dict, key: str) -> str:
            return "-" if "failed" in a or "failed" in b else f"{a[key] / b[key]:.1f}x"

        prev, cur = res["previous"], res["current"]
        rows.append([f"4-4-4-3 gradients, per call ({condition}; load {load})", fig(prev, "warm_median", "warm_cpu"),
                     fig(cur, "warm_median", "warm_cpu"), ratio(prev, cur, "warm_median")])
        rows.append([f"4-4-4-3 gradients, cold ({condition})", fig(prev, "cold_median", "cold_cpu"),
                     fig(cur, "cold_median", "cold_cpu"), ratio(prev, cur, "cold_median")])
        if "failed" in diff:
            rows.append([f"sympy.diff route ({condition})", diff["failed"], "", ""])
        else:
            def speed(r: dict, key: str) -> str:  # wall over wall, and CPU over CPU (load inflates the long diff route's wall)
                if "failed" in r:
                    return "-"
                cpu_key = "warm_cpu" if key == "warm_median" else "cold_cpu"
                return f"{diff['diff'] / r[key]:,.0f}x (CPU {diff['diff_cpu'] / r[cpu_key]:,.0f}x)"
            rows.append([f"speed-up vs sympy.diff ({fmt_s(diff['diff'])}, CPU {fmt_s(diff['diff_cpu'])}), "
                         f"per call ({condition})", speed(prev, "warm_median"), speed(cur, "warm_median"), ""])
            rows.append([f"speed-up vs sympy.diff, cold ({condition})", speed(prev, "cold_median"),
                         speed(cur, "cold_median"), ""])
        for w in ("gradients:4096", "gradients:n", "analyze:4096", "analyze:n"):
            kind, width = w.split(":")
            a, b = deep[("previous", w)], deep[("current", w)]
            rows.append([f"depth 64 x width {width}: {kind} ({condition})", fig(a, "best", "best_cpu"),
                         fig(b, "best", "best_cpu"), ratio(a, b, "best")])
    print(table(["measurement", f"previous ({previous})", "current", "previous / current"], rows))
    import shutil

    shutil.rmtree(trees["previous"], ignore_errors=True)  # the extracted release
    return out


# ---------------------------------------------------------------- main
def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="skip the sympy.diff route of (a)")
    ap.add_argument("--parts", default="abcde", help="which parts to run, e.g. 'd' for the analyze rows only; "
                    "'s' = speed side by side with the previous release")
    ap.add_argument("--previous", default=PREVIOUS_RELEASE, help="the commit that part s compares with")
    args = ap.parse_args(argv)
    start = time.perf_counter()
    print("# symderiv benchmarks" + (" (--quick)" if args.quick else ""))
    print()
    print(table(["machine", ""], [list(kv) for kv in machine_info()]))
    parts = {"a": lambda: part_a(args.quick), "b": part_b, "c": part_c, "d": part_d, "e": part_e, "g": part_g,
             "s": lambda: part_s(args.previous)}
    for name in args.parts:
        if name not in parts:
            ap.error(f"unknown part {name!r}; parts are a, b, c, d, e, g, s")
        parts[name]()
    print(f"\ntotal wall time: {time.perf_counter() - start:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
