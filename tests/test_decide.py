"""The one decider (symderiv.decide): its rewrites preserve values, it proves the identities the
prover and the checker rely on, and it never proves a nonzero expression; the package has no
import cycles (facts in the middle, faces on top)."""
from __future__ import annotations

import ast
import pathlib
import random

import sympy as sp
from hypothesis import given, settings, strategies as st

from symderiv.decide import ZERO_PROOF_STEPS, Context, bounded_zero_proof, bounded_zero_proofs, zero_proof

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
    for rel in ("prover.py", "claims/checker.py"):
        text = (root / rel).read_text()
        assert "decide import" in text, rel
        assert "sp.simplify(" not in text and "simplify(expr" not in text, rel
