"""The one decider (symderiv.decide): its rewrites preserve values, it proves the identities the
prover and the checker rely on, and it never proves a nonzero expression; the package has no
import cycles (facts in the middle, faces on top)."""
from __future__ import annotations

import ast
import pathlib
import random

import pytest
import sympy as sp
from hypothesis import given, settings, strategies as st

from symderiv.bounded import TimeBoundExceeded, WorkExceeded
from symderiv.decide import (STEPS_PER_SECOND, ZERO_PROOF_STEPS, Context, WorkBudget, bounded_zero_proof,
                             bounded_zero_proofs, check_work, decide_zero, zero_proof)
from symderiv.errors import InvalidArgument

x, y, z = sp.symbols("x y z", real=True)
z1, z2, z3 = sp.symbols("z1 z2 z3", real=True)


def _softmax(zs):
    """The engine's form of softmax outputs: p_k = 1 / Σ_j exp(z_j − z_k)."""
    return tuple(1 / sp.Add(*[sp.exp(zj - zk) for zj in zs]) for zk in zs)


def test_proves_the_identities_gradients_rest_on():
    ps = _softmax([z1, z2, z3])
    ctx = Context(ps)
    assert zero_proof(ps[0] + ps[1] + ps[2] - 1, ctx) is not None  # the simplex identity Σ p = 1
    assert zero_proof((x + y) ** 2 - x ** 2 - 2 * x * y - y ** 2) is not None
    assert zero_proof(sp.log(sp.exp(z1) + sp.exp(z2)) - z1 - sp.log(1 + sp.exp(z2 - z1))) is not None
    assert zero_proof(sp.tanh(x) - (sp.exp(2 * x) - 1) / (sp.exp(2 * x) + 1)) is not None
    assert bounded_zero_proof(sp.Integer(0), 1.0) == "structural"


def test_rejects_nonzero_expressions():
    ps = _softmax([z1, z2, z3])
    for wrong in (ps[0] + ps[1] + ps[2] - 1 + sp.Rational(1, 10**30),
                  (x + y) ** 2 - x ** 2 - y ** 2,
                  sp.tanh(x) - x, sp.exp(x) * sp.exp(-x) - 1 + x * y,
                  sp.log(sp.exp(z1) + sp.exp(z2)) - z1):
        assert zero_proof(wrong, Context(ps)) is None
    assert bounded_zero_proofs([[x - y, x - x], [x + 1]], 5.0) == [True, False]


# --------------------------------------------------------------------------- value preservation
_leaves = st.sampled_from([x, y, z, sp.Integer(2), sp.Rational(-1, 3)])


def _expr(depth: int):
    if depth == 0:
        return _leaves
    sub = _expr(depth - 1)
    return st.one_of(
        _leaves,
        st.tuples(sub, sub).map(lambda t: t[0] + t[1]),
        st.tuples(sub, sub).map(lambda t: t[0] * t[1]),
        st.tuples(sub, sub).map(lambda t: t[0] - t[1]),
        sub.map(sp.exp), sub.map(sp.tanh), sub.map(lambda e: sp.log(1 + sp.exp(e))),
        st.tuples(sub, sub).map(lambda t: t[0] / (1 + t[1] ** 2)),
    )


@pytest.mark.slow  # ~10 s (every rung, simplify included, on 40 random expressions): CI runs it
@settings(max_examples=40, deadline=None)
@given(_expr(3), st.integers(0, 10**6))
def test_every_rung_preserves_the_value(expr, seed):
    """A rung that changed the value could 'prove' a nonzero expression: each rewrite must be
    equal to its argument at random points (checked numerically to 30 digits)."""
    rng = random.Random(seed)
    point = {s: sp.Rational(rng.randint(-9, 9), rng.randint(1, 5)) for s in (x, y, z)}
    want = sp.N(expr.xreplace(point), 30)
    for name, step in ZERO_PROOF_STEPS:
        try:
            rewritten = step(expr, Context())
        except Exception:  # a rung that fails proves nothing, and is allowed
            continue
        got = sp.N(rewritten.xreplace(point), 30)
        assert abs(got - want) <= sp.Float(10) ** -20 * (1 + abs(want)), name


# --------------------------------------------------------------------------- architecture
def _module_imports() -> dict[str, set[str]]:
    root = pathlib.Path(__file__).resolve().parent.parent / "symderiv"
    names = {}
    for path in root.rglob("*.py"):
        parts = path.relative_to(root.parent).with_suffix("").parts
        names[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    edges: dict[str, set[str]] = {n: set() for n in names}
    for name, path in names.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        for node in ast.parse(path.read_text()).body:  # module-level imports only
            if isinstance(node, ast.ImportFrom) and node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                target = ".".join(base + ([node.module] if node.module else []))
                for alias in node.names:
                    full = f"{target}.{alias.name}"
                    edges[name].add(full if full in names else target)
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("symderiv"):
                edges[name].add(node.module or "")
    return {n: {t for t in e if t in names and t != n} for n, e in edges.items()}


def _cycle(edges: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}

    def visit(n: str, path: list[str]) -> list[str] | None:
        state[n] = 1
        for m in sorted(edges[n]):
            if state.get(m) == 1:
                return path[path.index(m):] + [m]
            if m not in state:
                found = visit(m, path + [m])
                if found:
                    return found
        state[n] = 2
        return None

    for n in sorted(edges):
        if n not in state:
            found = visit(n, [n])
            if found:
                return found
    return None


def test_no_import_cycles():
    """Module-level imports form a DAG: analysis, verify and the faces read the facts; nothing
    below imports them back (lazy imports inside functions are allowed for optional parts)."""
    edges = _module_imports()
    assert len(edges) > 40 and edges["symderiv.analysis"]  # the walk sees the package
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]  # and would see a cycle
    assert _cycle(edges) is None


def test_one_decider():
    """The prover and the claim checker prove identities through symderiv.decide only."""
    root = pathlib.Path(__file__).resolve().parent.parent / "symderiv"
    # where identities are proved: the prover's Decider (identities.py) and the checker's session
    for rel in ("identities.py", "claims/session.py", "claims/layers.py"):
        assert "decide import" in (root / rel).read_text(), rel
    # and nothing on the proof paths simplifies on its own
    for rel in ("prover.py", "relaxation.py", "identities.py", "class_splitting.py", "witness_trajectories.py",
                "graph/prover.py", "claims/checker.py", "claims/session.py", "claims/layers.py"):
        text = (root / rel).read_text()
        assert "sp.simplify(" not in text and "simplify(expr" not in text, rel


# --------------------------------------------------------------------------- work budgets
_SIGMOID = 1 / (1 + sp.exp(-x))
#: proved by cancellation in about 0.09 million steps
_CHEAP_IDENTITY = _SIGMOID * (1 - _SIGMOID) - sp.exp(-x) / (1 + sp.exp(-x)) ** 2
#: not an identity; the whole ladder takes about 0.45 million steps to give up
_COSTLY = sp.sin(x) ** 2 + sp.cos(x) ** 2 - 1 + x ** 3


def test_the_work_budget_decides_with_a_count_not_a_clock():
    first = decide_zero(_CHEAP_IDENTITY, 10**7)
    assert first.method == "cancellation" and first.reason == "" and not first.safety_net
    # the count is a property of the identity: the same on a repeat, and with every cache of this process
    # warm within the few percent that SymPy's first-use tables make (without the child's resets: 2x)
    assert decide_zero(_CHEAP_IDENTITY, 10**7).steps == first.steps
    zero_proof(_CHEAP_IDENTITY)
    again = decide_zero(_CHEAP_IDENTITY, 10**7)
    assert abs(again.steps - first.steps) <= first.steps // 20
    # and it is what the budget is compared with: twice the count proves, half of it does not
    assert bounded_zero_proof(_CHEAP_IDENTITY, work=2 * first.steps) == "cancellation"
    cut = decide_zero(_CHEAP_IDENTITY, first.steps // 2)
    assert cut.method is None and not cut.safety_net
    assert cut.reason == f"not proved within its work budget of {first.steps // 2} steps"
    assert cut.steps == first.steps // 2  # an identity that ran out is charged its whole allowance


def test_a_shared_budget_is_charged_and_then_spent():
    # the count of an identity depends on the SymPy version (not on the machine): size the budget from it
    cheap = decide_zero(_CHEAP_IDENTITY, WorkBudget(10**7)).steps
    budget = WorkBudget(cheap + 400_000 + 10_000, per_proof=400_000)
    proved = decide_zero(_CHEAP_IDENTITY, budget)
    assert proved.method is not None and budget.used == proved.steps
    out = decide_zero(_COSTLY, budget)  # runs out of its per-proof allowance
    assert out.method is None and budget.used == proved.steps + 400_000
    spent = decide_zero(_CHEAP_IDENTITY, budget)  # what is left is too little for a child
    assert budget.remaining() < 20_000 and spent.method is None and spent.steps == 0
    assert "spent" in spent.reason
    # a budget in reference seconds is the same count on every machine
    assert WorkBudget.of_seconds(2.0, 0.5).total == 2 * STEPS_PER_SECOND
    assert WorkBudget.of_seconds(2.0, 0.5).per_proof == STEPS_PER_SECOND // 2


def test_groups_of_alternatives_under_a_work_budget():
    budget = WorkBudget(per_proof=10**7)
    assert bounded_zero_proofs([[x - y, _CHEAP_IDENTITY], [x - x]], work=budget) == [True, True]
    assert bounded_zero_proofs([[_CHEAP_IDENTITY]], work=budget) == [True] and budget.used > 0
    with pytest.raises(WorkExceeded, match="work budget of 30000 steps"):
        bounded_zero_proofs([[_COSTLY]], work=30_000)


def test_the_safety_net_fires_only_on_the_clock_and_says_so():
    """A safety net far below what the identity needs stands in for a machine under extreme load."""
    budget = WorkBudget(per_proof=10**9, safety_seconds=0.02)
    out = decide_zero(_COSTLY, budget)
    assert out.method is None and out.safety_net and budget.safety_net_fired == 1
    assert out.reason == ("undecided: safety net of 0.02 s fired (machine load); "
                          "the result may differ on a faster machine")
    with pytest.raises(TimeBoundExceeded, match="safety net of 0.02 s fired"):
        bounded_zero_proofs([[_COSTLY]], work=budget)


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -1, 0, True, 1.5, "5", None])
def test_work_arguments_are_refused_in_one_line(bad):
    with pytest.raises(InvalidArgument, match=r"^work must be a positive integer number of steps, got ") as info:
        check_work(bad)
    assert "\n" not in str(info.value)
    if bad is not None and not (isinstance(bad, (int, float)) and not isinstance(bad, bool) and bad > 0
                                and bad != float("inf")):
        with pytest.raises(InvalidArgument, match=r"^seconds must be a positive number of \(reference\) seconds"):
            bounded_zero_proof(x - y, bad)
    with pytest.raises(InvalidArgument, match="safety_seconds must be a positive finite number"):
        WorkBudget(safety_seconds=float("nan"))


def test_forgetting_cached_facts_keeps_the_given_ones():
    """The counted child resets what SymPy learned about the arguments, never what they were given."""
    from symderiv.decide import forget_cached_facts

    p = sp.Symbol("p", positive=True)
    i = sp.Idx("i", 5)
    xi = sp.IndexedBase("x", real=True)[i]
    expr = sp.exp(p) + 1 + xi
    assert expr.is_positive is None and (p + 1).is_positive  # facts learned on these objects
    assert "positive" in (p + 1)._assumptions
    forget_cached_facts((expr, [p + 1]))
    assert "positive" not in (p + 1)._assumptions  # learned: forgotten
    assert p.is_positive and p.is_real and xi.is_real and i.is_integer  # given: kept
    assert (p + 1).is_positive and expr.is_real  # and everything can be learned again
