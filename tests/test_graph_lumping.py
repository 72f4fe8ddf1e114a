"""Width independence (issue #9): the lumped quotient against the entry-level engine, facts through the
quotient equal facts entry by entry, and the structural (tensor-level) path on wide LoRA."""
import shutil
import subprocess

import numpy as np
import pytest
import sympy as sp

from symderiv.activations import activation
from symderiv.graph import Graph, backprop
from symderiv.graph.analysis import analyze_graph
from symderiv.graph.lumping import LumpedGraphAnalysis, expand, lift_gradients, lumping, quotient_graph

TANH = activation("tanh")


def _residual(width=3, d_in=2, classes=3, loss="ce", blocks=2, values=(0.5, 0.25)):
    """A hand-built residual MLP; weights constant ``values[0]`` and biases ``values[1]`` (so widths lump)."""
    g = Graph()
    x = g.input((d_in,))
    w, b = values
    h = g.op("linear", [x, g.param("inp.W", (width, d_in), init=np.full((width, d_in), w)),
                        g.param("inp.b", (width,), init=np.full(width, b))])
    for k in range(blocks):
        u = g.op("activation", [g.op("linear", [h, g.param(f"b{k}.W1", (width, width), init=np.full((width, width), w)),
                                                g.param(f"b{k}.b1", (width,), init=np.full(width, b))])], activation=TANH)
        h = g.op("add", [h, g.op("linear", [u, g.param(f"b{k}.W2", (width, width), init=np.full((width, width), -w)),
                                            None])])
    g.set_loss(g.op("linear", [h, g.param("head.W", (classes, width), init=np.full((classes, width), w)), None]), loss)
    return g


def _mixed():
    """Every lumping rule at once: matmul over a lumped axis, permute, sum/mean over lumped axes, broadcasting,
    a frozen parameter, a zero block and two classes of different sizes on one axis."""
    g = Graph()
    x = g.input((2, 2))  # tokens × features
    W = np.array([[1.0, 1.0]] * 3 + [[0.5, 0.5]] * 2)  # hidden units: classes {0,1,2}, {3,4}
    h = g.op("activation", [g.op("linear", [x, g.param("W", (5, 2), init=W),
                                            g.param("b", (5,), init=np.array([0.1, 0.1, 0.1, 0.0, 0.0]))])],
             activation=TANH)
    F = g.param("F", (5, 5), trainable=False, init=np.where(np.add.outer(np.arange(5) < 3, np.arange(5) < 3) == 1,
                                                              0.25, 0.75))
    a = g.op("linear", [h, F, None])
    s = g.op("matmul", [a, g.op("rearrange", [h], kind="permute", perm=(1, 0))])  # (2, 2): contracts hidden
    m = g.op("mean", [h], axis=1, keepdim=True)  # (2, 1): mean over hidden units
    t = g.op("add", [g.op("mul", [s, m]), g.op("sum", [h], axis=1, keepdim=True)])
    z = g.op("linear", [t, g.param("V", (3, 2), init=np.array([[0.5, -0.5], [0.5, 0.5], [0.0, 1.0]])), None])
    g.set_loss(z, "ce")
    return g


def _block_symbols(q):
    """A distinct symbol per nonzero block of every trainable parameter of the quotient, exact values frozen."""
    out = {}
    for name, p in q.params.items():
        a = np.empty(p.shape, dtype=object)
        for idx in np.ndindex(*p.shape):
            v = p.init[idx]
            if not p.trainable:
                a[idx] = sp.Rational(float(v))
            else:
                a[idx] = sp.Integer(0) if v == 0 else sp.Symbol(f"q_{name.replace('.', '_')}_{'_'.join(map(str, idx))}",
                                                                  real=True)
        out[name] = a
    return out


def _exactly_equal(a, b) -> bool:
    """``a = b`` up to certified roundoff at three random rational points: rigorous Arb enclosures of ``a − b`` at
    80 digits must contain 0 and be narrower than 1e-60 (a wrong formula is certainly caught: its enclosure
    excludes 0 or is wide; equal ones always pass, so nothing can flake)."""
    from symderiv.certify import endpoints, enclose

    diff = a - b
    free = sorted(diff.free_symbols, key=str)
    for seed in range(3):
        point = {s: sp.Rational((7 * k + 13 * seed) % 19 - 9 or 1, (5 * k + seed) % 7 + 3) for k, s in enumerate(free)}
        lo, hi = endpoints(enclose([diff], point, dps=80)[0])
        if not (lo <= 0 <= hi and hi - lo < sp.Rational(1, 10**60)):
            return False
    return True


def _compare(g, q=None):
    """The lifted quotient gradients equal the entry-level gradients exactly; returns how many were compared."""
    lump = lumping(g)
    q = quotient_graph(lump) if q is None else q
    qvals = _block_symbols(q)
    full = {name: expand(lump, name, v) for name, v in qvals.items()}
    entry = backprop(g, full).grads
    lifted = lift_gradients(lump, backprop(q, qvals).grads)
    n = 0
    for name in g.trainable():
        for idx in np.ndindex(*g.params[name].shape):
            a, b = entry[name][idx], lifted[name][idx]
            assert a == b or _exactly_equal(a, b), (name, idx, a, b)
            n += 1
    return n


@pytest.mark.parametrize("make", [lambda: _residual(), lambda: _residual(4, 3, 2, "mse", 1),
                                  lambda: _residual(3, 2, 2, "bce", 1, (0.5, 0.0)), _mixed])
def test_quotient_gradients_equal_entry_gradients(make):
    g = make()
    lump = lumping(g)
    assert not lump.trivial  # the quotient really is smaller
    full, small = lump.entries()
    assert small < full
    assert _compare(g) == full


def test_mixed_partition_is_the_expected_one():
    lump = lumping(_mixed())
    hidden = lump.axis_labels(lump.graph.param_node("W"), 0)
    assert hidden.tolist() == [0, 0, 0, 1, 1]
    assert lump.block_sizes("W").tolist() == [[3, 3], [2, 2]]  # the input axis is data: discrete


def test_wrong_multiplicity_is_caught():
    """A quotient whose contraction forgets one class member differs from the entry-level engine: the lifted
    gradient is not structurally the entry gradient, and a certified enclosure of the difference excludes 0."""
    from symderiv.certify import enclose, excludes_zero

    g = _residual()
    lump = lumping(g)
    q = quotient_graph(lump)
    node = next(n for n in q.nodes if n.op == "scale_axis")
    node.attrs["c"] = tuple(c - 1 for c in node.attrs["c"])
    qvals = _block_symbols(q)
    entry = backprop(g, {name: expand(lump, name, v) for name, v in qvals.items()}).grads
    lifted = lift_gradients(lump, backprop(q, qvals).grads)
    a, b = entry["head.W"][0, 0], lifted["head.W"][0, 0]
    assert a != b
    point = {s: sp.Rational(k % 5 + 1, 7) for k, s in enumerate(sorted((a - b).free_symbols, key=str))}
    assert excludes_zero(enclose([a - b], point, dps=40)[0])


def test_discrete_input_and_output_axes():
    g = _residual(width=3, d_in=4, classes=2)
    lump = lumping(g)
    assert lump.axis_labels(g.input_node, 0).tolist() == [0, 1, 2, 3]
    assert lump.axis_labels(g.output, 0).tolist() == [0, 1]
    assert lump.quotient_shape(g.param_node("b0.W1")) == (1, 1)


FACT_KEYS = ("stays_zero", "tie_class", "first_move_step", "first_move_tight", "conditions", "float",
             "first_move_float")


def _same_facts(a, b):
    for name in b.proof.graph.trainable():
        fa, fb = a.entry_facts(name), b.entry_facts(name)
        for key in FACT_KEYS:
            if key in ("float", "first_move_float"):  # documented: the quotient never claims more than the entries
                pairs = set(zip(fa[key].flat, fb[key].flat))
                assert pairs <= {(v, v) for v in (None, "bit_exact", "identical_rounding", "exact_arithmetic_only")} | {
                    ("identical_rounding", "bit_exact")}, (name, key, pairs)
            else:
                assert fa[key].tolist() == fb[key].tolist(), (name, key)
    assert a.headline() == b.headline()


@pytest.mark.parametrize("make", [lambda: _residual(), lambda: _residual(3, 2, 2, "mse", 1),
                                  lambda: _residual(2, 2, 2, "ce", 1, (0.0, 0.0))])
def test_facts_through_the_quotient_equal_entry_facts(make):
    g = make()
    a = analyze_graph(g)
    assert isinstance(a, LumpedGraphAnalysis)
    b = analyze_graph(g, lumped=False)
    assert not isinstance(b, LumpedGraphAnalysis)
    _same_facts(a, b)
    assert a.proof.undecided == [] and b.proof.undecided == []


# ---------------------------------------------------------------- the tensor-level path (generic tensors)
torch = pytest.importorskip("torch")

from symderiv.graph.examples import LoRA, ResidualMLP  # noqa: E402
from symderiv.graph.structural import eligible, prove_structural, structural_zeros  # noqa: E402
from symderiv.graph import graph_from_module  # noqa: E402

LORA_STEPS = {"B": {"lora_B.weight": 1, "lora_A.weight": 2}, "A": {"lora_A.weight": 1, "lora_B.weight": 2},
              "AB": {"lora_A.weight": None, "lora_B.weight": None}}


@pytest.mark.parametrize("zero", sorted(LORA_STEPS))
def test_lora_first_moves_at_width_512_tensor_level(zero):
    g = graph_from_module(LoRA(d=512, r=8, zero=zero), (512,), "mse")
    p = prove_structural(g)
    assert p is not None
    assert {n: fm.step for n, fm in p.first_moves.items()} | {n: None for n in p.zero_params} == LORA_STEPS[zero]
    assert all(fm.tight for fm in p.first_moves.values() if fm.step is not None)  # certified witnesses
    assert p.zero_params == ({"lora_A.weight", "lora_B.weight"} if zero == "AB" else set())
    assert not any("lower bound" in u for u in p.undecided)


@pytest.mark.parametrize("zero", sorted(LORA_STEPS))
def test_tensor_level_first_moves_equal_entry_level(zero):
    module = LoRA(d=3, r=2, zero=zero)
    g = graph_from_module(module, (3,), "mse")
    p = prove_structural(g)
    a = analyze_graph(g, lumped=False)
    for name in g.trainable():
        facts = a.entry_facts(name)
        step = None if name in p.zero_params else p.first_moves[name].step
        assert set(facts["first_move_step"].flat) == {step}, name
        assert set(facts["stays_zero"].flat) == {name in p.zero_params}, name


def test_structural_zero_rules_are_identities():
    """Whatever B = 0 multiplies vanishes; with nothing zero, every gradient is unknown (never claimed 0)."""
    g = graph_from_module(LoRA(d=4, r=2, zero="B"), (4,), "mse")
    _, grads = structural_zeros(g, {"lora_B.weight"})
    assert grads == {"lora_A.weight": True, "lora_B.weight": False}
    _, grads = structural_zeros(g, set())
    assert not any(grads.values())


def test_mixed_zero_pattern_is_unknown_at_tensor_level():
    g = graph_from_module(ResidualMLP(2, 3, 1, 2, value=0.0), (2,), "ce")
    assert eligible(g) == {n: "zero" for n in g.trainable()}
    module = LoRA(d=3, r=2, zero="B")
    with torch.no_grad():
        module.lora_A.weight[0, 0] = 0.0
    # a tensor with some zero entries (an embedding's padding row) is unknown, as a generic one: no zero of it used
    assert eligible(graph_from_module(module, (3,), "mse"))["lora_A.weight"] == "mixed"


def test_residual_mlp_width_512_through_the_quotient():
    """Constant init: the quotient has one unit per hidden space; the facts equal those at width 3 (entry path)."""
    wide = analyze_graph(graph_from_module(ResidualMLP(4, 512, 2, 3), (4,), "ce"))
    narrow = analyze_graph(graph_from_module(ResidualMLP(4, 3, 2, 3), (4,), "ce"), lumped=False)
    assert isinstance(wide, LumpedGraphAnalysis) and wide.proof.undecided == []
    assert wide.headline() == narrow.headline()
    for name in narrow.proof.graph.trainable():
        w, n = wide.entry_facts(name), narrow.entry_facts(name)
        assert set(w["first_move_step"].flat) == set(n["first_move_step"].flat), name
        assert set(w["first_move_tight"].flat) == set(n["first_move_tight"].flat) == {True}, name
    assert len(set(wide.entry_facts("blocks.0.0.weight")["tie_class"].flat)) == 1  # 512 × 512 entries, one class


@pytest.mark.parametrize("zero", sorted(LORA_STEPS))
def test_analyze_dispatches_wide_lora_to_the_tensor_level(zero):
    from symderiv.graph import analyze_module
    from symderiv.graph.structural import StructuralGraphAnalysis

    a = analyze_module(LoRA(d=512, r=8, zero=zero), loss="mse", input_shape=(512,))
    assert isinstance(a, StructuralGraphAnalysis)
    for name, step in LORA_STEPS[zero].items():
        facts = a.entry_facts(name)
        assert set(facts["first_move_step"].flat) == {step}, name
        assert set(facts["stays_zero"].flat) == {zero == "AB"}, name
        assert set(facts["first_move_tight"].flat) == {step is not None}, name
        if zero != "AB":  # no tie claimed among generic or released entries
            assert len(set(facts["tie_class"].flat)) == facts["tie_class"].size
    doc = a.to_dict()
    assert doc["parameters"]["lora_A.weight"]["shape"] == [8, 512]
    assert "Tensor-level proof" in doc["assumptions"]["scope"]


def test_tensor_level_faces_are_honest():
    """A tensor-level proof prints no placeholder closed forms (JSON null) and its LaTeX document states
    the per-tensor facts and the witness trajectories."""
    import json

    from symderiv.graph import analyze_module
    from symderiv.graph.structural import StructuralGraphAnalysis

    m = LoRA(d=512, r=2, zero="B")
    a = analyze_module(m, loss="mse", input_shape=(512,))
    assert isinstance(a, StructuralGraphAnalysis)
    d = a.to_dict()["parameters"]
    assert d["lora_A.weight"]["gradient_at_init"][0][0] == "0"  # proved zero at the init (B = 0)
    assert d["lora_B.weight"]["gradient_at_init"][0][0] is None  # not computed: null, not a fake symbol
    assert "not_computed" not in json.dumps(d)
    tex = a.to_latex()
    assert tex == a.to_latex()  # deterministic
    assert tex.splitlines()[1].startswith("% headline: lora_B.weight moves at step 1")
    assert r"\texttt{lora\_A.weight} is unchanged before update $2$ (certified" in tex
    assert "not_computed" not in tex and r"\section{Witness trajectories}" in tex


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="pdflatex not installed")
@pytest.mark.parametrize("zero", ["B", "AB"])
def test_tensor_level_latex_compiles(zero, tmp_path):
    from symderiv.graph import analyze_module

    a = analyze_module(LoRA(d=512, r=2, zero=zero), loss="mse", input_shape=(512,))
    (tmp_path / "p.tex").write_text(a.to_latex())
    for _ in range(2):  # the second run resolves the references
        run = subprocess.run(["pdflatex", "-interaction=nonstopmode", "-halt-on-error", "p.tex"], cwd=tmp_path,
                             capture_output=True, text=True, timeout=120)
        assert run.returncode == 0, run.stdout[-2000:]
    log = (tmp_path / "p.log").read_text(errors="replace")
    assert "Overfull" not in log and "LaTeX Warning" not in log


def test_tensor_level_verify_passes_and_rejects():
    """verify() of a tensor-level proof replays real torch.optim runs at full width; a module without the
    analyzed pattern and a fabricated claim (lora_B 'stays zero') both fail."""
    import torch

    from symderiv.graph import analyze_module
    from symderiv.graph.examples import LoRA

    m = LoRA(d=512, r=2, zero="B")
    a = analyze_module(m, loss="mse", input_shape=(512,))
    report = a.verify(m, optimizers=("sgd", "adam"), batches=(2,))
    assert report.ok and {c.kind for c in report.checks} >= {"pattern", "gradient", "claims"}
    other = LoRA(d=512, r=2, zero="B")
    with torch.no_grad():
        other.lora_B.weight[0, 0] = 1.0
    assert not a.verify(other, optimizers=("sgd",), batches=(1,)).ok
    from symderiv.prover import FirstMove

    a.proof.structural.first_moves["lora_B.weight"] = FirstMove(3, False)  # a false claim: B waits until step 3
    a.__dict__.pop("_param_facts", None)
    assert a.first_move_step("lora_B.weight", (0, 0)) == 3
    assert not a.verify(m, optimizers=("sgd",), batches=(1,)).ok
