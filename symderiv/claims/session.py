"""One check in its bounded child: refute by certified evaluation first, then prove under a work budget.

For each link ``A = B`` of a claim and each assignment of its free indices
(1-based; at most :data:`~.tree.MAX_ASSIGNMENTS`, else a random sample, and then
never "proved"), both sides are built from the engine's exact derivation
(symbolic data, and symbolic parameters when ``init`` is None).  Then, as
theory.md §5 asks:

1. **refute**: evaluate ``A − B`` at exact rational points (a one-hot label and small
   integers first, then random data, labels from the loss's label domain and parameters)
   with rigorous interval arithmetic; an enclosure that excludes 0 is a certified
   counterexample, and :mod:`.diagnosis` says what it shows;
2. **prove**: a difference SymPy already reduces to 0 is a structural identity; the rest
   go to :mod:`symderiv.decide` in a child under the check's work budget.  If it runs out,
   or no rewrite reduces the difference, the link is "undecided" and the numeric agreement
   is reported as evidence only.
"""
from __future__ import annotations

import itertools
import random
from dataclasses import replace
from fractions import Fraction

import numpy as np
import sympy as sp

from ..closed_forms import dag_nodes
from ..errors import ClaimSyntaxError, SizeLimitError
from .names import BATCH_SIZE, Builder, LogitBuilder, NotLocal
from .tree import children as _children
from .tree import MAX_ASSIGNMENTS, TRUE_CLASS, Call, Mul, Num, Q, map_quantities, to_latex, to_text
from .verdict import PROVED, REFUTED, UNDECIDED, Counterexample, LinkVerdict, Verdict

__all__ = ["safety_net_seconds"]

_POINTS_PER_ASSIGNMENT = 2
_ATTEMPTS = 6
#: losses whose label domain contains the one-hot labels (tried first in a search for a counterexample)
_ONE_HOT_LOSSES = ("softmax_cross_entropy", "sigmoid_binary_cross_entropy", "mean_squared_error")
#: the wall-clock safety net of a check: this many times its work budget in reference seconds, at least
_SAFETY_NET_FACTOR = 6.0
_SAFETY_NET_MIN_S = 30.0


def safety_net_seconds(seconds: float) -> float:
    """The wall-clock safety net of a check whose work budget is ``seconds`` reference seconds: far beyond
    what the work takes on an idle machine, so it fires only under heavy load (and the verdict says so)."""
    return max(_SAFETY_NET_MIN_S, _SAFETY_NET_FACTOR * seconds)

def bound_reason(exc: Exception, work: int, evaluation: float, what: str, budget: str = "its") -> str:
    """Why a bounded check stopped, and how to raise its bound: ``what`` needed more than ``budget`` work budget,
    or the wall-clock safety net fired (said so: that outcome may differ on a faster machine)."""
    from ..bounded import TimeBoundExceeded, WorkExceeded

    if isinstance(exc, WorkExceeded):
        why = f"{what} needed more than {budget} work budget ({work} steps = {evaluation:g} reference seconds)"
    elif isinstance(exc, TimeBoundExceeded):
        why = (f"the wall-clock safety net of {safety_net_seconds(evaluation):g} s fired (machine load): "
               "this outcome may differ on a faster machine")
    else:
        why = f"the check did not finish within its bounds ({exc})"
    return f"{why}; raise the bound with seconds= (command line: --seconds)"


def _check_here(claim, resolved, net, init, init_text: str, rng_seed: int, seconds: float) -> Verdict:
    """The derivation, refutation and proof of a resolved claim (in the bounded child)."""
    from ..engine import derive

    try:
        try:
            d = derive(net, init)
        except SizeLimitError as exc:  # the engine refuses the closed forms: nothing to check, honestly
            reason = f"the network's closed forms are too large to check ({str(exc)[:160]})"
            links = [LinkVerdict(k, to_text(a), to_text(b), _relation(a, b, same), UNDECIDED, reason, None, "", 0,
                                 0, to_latex(a), to_latex(b))
                     for k, (a, b, same) in enumerate(_pairs(resolved), 1)]
            return Verdict(claim, UNDECIDED, links, net.describe(), init_text, [], resolved.claim.syntax)
        session = _Session(d, net, resolved, rng_seed, seconds)
        links = session.links()
    except RecursionError:
        raise SizeLimitError("the network or the claim is too deep for the available stack (RecursionError)") from None
    notes = list(session.notes)
    statuses = [l.status for l in links]
    status = REFUTED if REFUTED in statuses else PROVED if all(s == PROVED for s in statuses) else UNDECIDED
    return Verdict(claim, status, links, net.describe(), init_text, notes, resolved.claim.syntax)

def _pairs(resolved) -> list:
    """The links of a resolved claim: ``(a, b, same_for)`` per compared pair, in order."""
    claim, sides = resolved.claim, list(resolved.sides)
    if not claim.same_for:
        return [(a, b, ()) for a, b in zip(sides, sides[1:])]
    mapping = {v: v + "'" for v in claim.same_for}
    pairs = [(s, _rename(s, mapping), claim.same_for) for s in (sides[:1] if len(sides) == 1 else sides)]
    return pairs + [(a, b, ()) for a, b in zip(sides, sides[1:])] if len(sides) > 1 else pairs


def _rename(node, mapping: dict):
    """The tree with free indices renamed (for "the same for every i")."""
    return map_quantities(node, lambda q: replace(q, indices=tuple(mapping.get(i, i) for i in q.indices)))


_UNDEFINED = (sp.S.ComplexInfinity, sp.S.Infinity, sp.S.NegativeInfinity, sp.S.NaN)


def _symbols(*exprs) -> set:
    """The symbols of ``exprs``, by a walk over distinct subexpressions (``free_symbols`` walks the
    tree, exponential on the shared closed forms of deep networks)."""
    return {e for e in dag_nodes(exprs) if e.is_Symbol}


def _is_neg(node) -> bool:
    return isinstance(node, Mul) and len(node.factors) == 2 and node.factors[0] == Num(Fraction(-1))


def _relation(a, b, same_for) -> str:
    if same_for:
        return "the same for every " + ", ".join(same_for)
    if isinstance(a, Call) and a.func == "abs" and isinstance(b, Call) and b.func == "abs":
        return "equal magnitude"
    if b == Num(Fraction(0)) or a == Num(Fraction(0)):
        return "is zero"
    if _is_neg(a) or _is_neg(b):
        return "opposite sign"
    return "equal"


def _failure(relation: str) -> str:
    """What a certified counterexample shows, in words, for a relation of :func:`_relation`."""
    if relation.startswith("the same for every "):
        return "not " + relation
    return {"equal magnitude": "the two sides differ in magnitude", "is zero": "it is not zero",
            "opposite sign": "the two sides are not opposite"}.get(relation, "the two sides differ")


def _masks_written(claim, at_zero) -> bool:
    """Does the claim write a mask 1(z > 0) / 1(z >= 0) whose value at 0 differs from ``at_zero``?"""
    written = {"step_gt": 0, "step_ge": 1}
    stack = list(claim.sides)
    while stack:
        n = stack.pop()
        if isinstance(n, Call) and n.func in written and written[n.func] != at_zero and not (
                isinstance(n.args[0], Q) and n.args[0].kind == "h"):  # 1(h >= 0) keeps its value (see names)
            return True
        stack.extend(_children(n))
    return False


def _reference(node) -> bool:
    return isinstance(node, Q) and node.kind not in ("width",)


class _Session:
    def __init__(self, d, net, resolved, seed: int, seconds: float):
        from ..decide import WorkBudget

        self.d, self.net, self.resolved = d, net, resolved
        self.builder = Builder(d, net, resolved.batch, resolved.claim.batch_loss)
        self.logits = LogitBuilder(d, net, resolved.batch, resolved.claim.batch_loss)
        self.local = True  # the claim refers only to output logits, labels and predictions (so far)
        self._universe: list | None = None
        self.rng = random.Random(seed)
        self.np_rng = np.random.default_rng(seed)
        self.seconds = seconds
        # the proofs' work: ``seconds`` reference seconds for all the links together (a count of steps,
        # the same on every machine); each proof child's safety net is the check's
        self.work = WorkBudget.of_seconds(seconds, per_proof_seconds=seconds, safety_seconds=safety_net_seconds(seconds))
        self.notes: list[str] = []
        self.claim = resolved.claim
        self._defined: set = set()  # subexpressions known to be free of zoo, ±oo and nan
        self._entry: tuple = ()  # the free indices naming a matrix entry (for the diagnosis of a refutation)
        self._point: dict = {}  # the last evaluation point (a counterexample's, once refuted)

    # -- links of the chain
    def links(self) -> list[LinkVerdict]:
        variants = list(self.resolved.variants)
        if self.resolved.uses_true_class or any(v.uses_true_class for v in variants):
            self.notes.append("t is the true class: the label is one-hot, y_t = 1 and y_k = 0 for k ≠ t")
        kinked = [a.describe() for a in self.net.activations if a.is_kinked]
        if kinked:
            self.notes.append(f"kink convention: {', '.join(sorted(set(kinked)))}")
        if self.builder.mask_at_zero is not None and _masks_written(self.resolved.claim, self.builder.mask_at_zero):
            self.notes.append(f"a mask 1(z > 0) or 1(z >= 0) is ReLU's derivative, read with the network's value at 0 "
                              f"({self.builder.mask_at_zero}): the two masks differ only at z = 0, where ReLU has no derivative")
        layers = [v.layers for v in variants if v.layers]
        if layers:
            name = next(iter(layers[0]))
            values = ", ".join(str(v[name]) for v in layers)
            self.notes.append(f"the symbolic layer {name} takes the values {values} (every layer at which each quantity exists)")
        for note in dict.fromkeys(v.note for v in variants if v.note):
            self.notes.append(note)
        shaped = next((v for v in variants if v.shape is not None and not v.mismatch), None)
        if shaped is not None:
            at = ", ".join(shaped.entry) or "the single entry"
            conv = self.resolved.convention
            layout = "W^(l) is n_l × n_(l-1), vectors are columns" if conv is None or conv.name == "symderiv" else \
                f"in the {conv.name} convention"
            self.notes.append(f"a {shaped.shape[0]}×{shaped.shape[1]} vector/matrix claim, checked entry by entry "
                              f"(entry ({at}), 1-based; {layout})")
        if self.resolved.batch:
            conv = ("the batch loss is the mean L = (1/N) Σ_n ℓ_n (say 'sum over the batch' for the sum convention)"
                    if self.claim.batch_loss == "mean" else "the batch loss is the sum L = Σ_n ℓ_n (as the claim says)")
            how = ("N is symbolic; the claim is additive over the examples, so equal examples decide it for every batch"
                   if self.resolved.additive else
                   "N is symbolic; the claim is not additive over the examples, so it can be refuted but not proved")
            self.notes.append(f"batch: {conv}; {how}")
        out: list[LinkVerdict] = []
        for variant in variants:
            links = self.variant_links(variant)
            if not out:
                out = links
            else:
                for k, link in enumerate(links):
                    if out[k].status == PROVED and link.status != PROVED or out[k].status == UNDECIDED and link.status == REFUTED:
                        out[k] = link
            if any(l.status == REFUTED for l in out):
                break
        return out

    def variant_links(self, variant) -> list[LinkVerdict]:
        sides = list(variant.sides)
        ranges = dict(variant.ranges)
        pairs = []
        if self.claim.same_for:
            mapping = {v: v + "'" for v in self.claim.same_for}
            for v in self.claim.same_for:
                ranges[v + "'"] = ranges[v]
            for s in sides[:1] if len(sides) == 1 else sides:
                pairs.append((s, _rename(s, mapping)))
            if len(sides) > 1:
                note = "'the same for every' applies to each side of the chain; the chain's links are checked too"
                if note not in self.notes:
                    self.notes.append(note)
                pairs += list(zip(sides, sides[1:]))
        else:
            pairs = list(zip(sides, sides[1:]))
        if variant.mismatch:
            out = []
            for number, (a, b) in enumerate(pairs, 1):
                lv = LinkVerdict(number, to_text(a), to_text(b), "equal", REFUTED, variant.mismatch, None, "", 0, 0,
                                 to_latex(a), to_latex(b))
                out.append(lv)
            return out
        assignments, total = self.assignments(ranges)
        self._entry = tuple(variant.entry)
        out = []
        for number, (a, b) in enumerate(pairs, 1):
            link = self.link(number, a, b, assignments, total)
            if variant.layers and link.counterexample is not None:
                link.counterexample.indices = {**variant.layers, **link.counterexample.indices}
            if variant.layers and link.status == REFUTED:
                link.reason += " (at layer " + ", ".join(f"{k} = {v}" for k, v in variant.layers.items()) + ")"
            out.append(link)
        return out

    def assignments(self, ranges: dict):
        names = sorted(ranges)
        conds = self.claim.conditions

        def ok(env):
            for a, op, b in conds:
                va = env.get(a, a) if isinstance(a, str) else a
                vb = env.get(b, b) if isinstance(b, str) else b
                if (va == vb) != (op == "="):
                    return False
            return True

        total_space = 1
        for n in names:
            total_space *= ranges[n]
        if total_space <= 50_000:
            every = [dict(zip(names, vals)) for vals in itertools.product(*[range(1, ranges[n] + 1) for n in names])]
            every = [e for e in every if ok(e)]
            total = len(every)
            if total == 0 and names:  # "proved for every assignment" would be vacuous
                conds = ", ".join(f"{a} {'≠' if op == '!=' else '='} {b}" for a, op, b in self.claim.conditions)
                raise ClaimSyntaxError(f"no index assignment satisfies the conditions ({conds}): the claim says nothing")
            if total <= MAX_ASSIGNMENTS:
                return every, total
            picked = self.rng.sample(every, MAX_ASSIGNMENTS)
        else:
            total = total_space
            picked = []
            seen = set()
            tries = 0
            while len(picked) < MAX_ASSIGNMENTS and tries < 20 * MAX_ASSIGNMENTS:
                tries += 1
                env = {n: self.rng.randint(1, ranges[n]) for n in names}
                key = tuple(env[n] for n in names)
                if key not in seen and ok(env):
                    seen.add(key)
                    picked.append(env)
        self.notes.append(
            f"{total} index assignments; a random sample of {len(picked)} was checked, so the claim cannot be proved for all"
        )
        return picked, total

    # -- one link
    def build(self, node, env) -> sp.Expr:
        return self.build_with(self.builder, node, env)

    def build_with(self, builder, node, env) -> sp.Expr:
        try:
            expr = builder.build(node, env)
            if TRUE_CLASS in env:
                expr = expr.subs(builder.labels_one_hot(env[TRUE_CLASS]))
        except (ValueError, TypeError, ArithmeticError) as exc:  # e.g. max(1/0, 0): SymPy cannot even compare
            raise ClaimSyntaxError(
                f"{to_text(node)[:60]} is undefined at {env} (a division by zero or a comparison of an undefined value: "
                f"{type(exc).__name__})"
            ) from None
        if self.undefined(expr):
            raise ClaimSyntaxError(f"{to_text(node)[:60]} is undefined (a division by zero) at {env}")
        return expr

    def undefined(self, expr) -> bool:
        """Does ``expr`` contain ``zoo``, ``±oo`` or ``nan``?  A walk over distinct subexpressions that
        remembers those already seen in this session: the sides of every index assignment share the
        network's closed forms, which are walked once, not once per build (a tree walk, ``expr.has``,
        would be exponential on them)."""
        stack, seen = [expr], self._defined
        while stack:
            e = stack.pop()
            if e in seen:
                continue
            if e.is_Atom and any(e is u for u in _UNDEFINED):
                return True
            seen.add(e)
            stack.extend(e.args)
        return False

    def link(self, number: int, a, b, assignments, total) -> LinkVerdict:
        relation = _relation(a, b, self.claim.same_for if number <= (1 if self.claim.same_for else 0) else ())
        texts = self.claim.side_texts
        k = 0 if self.claim.same_for and number == 1 else number - (2 if self.claim.same_for else 1)
        if texts and not (self.claim.same_for and number == 1) and 0 <= k < len(texts) - 1:
            left_text, right_text = texts[k].strip(), texts[k + 1].strip()
        else:
            left_text, right_text = to_text(a), to_text(b)
        lv = LinkVerdict(number, left_text, right_text, relation, UNDECIDED, "", None, "", 0, total,
                         to_latex(a), to_latex(b))
        reference = "left" if _reference(a) and not _reference(b) else "right" if _reference(b) and not _reference(a) else None
        pending = []  # (env, left, right, alternatives to prove zero)
        worst = 0.0
        points = 0
        built = []
        for env in assignments:
            left, right = self.build(a, env), self.build(b, env)
            diff = left - right
            lv.assignments_checked += 1
            if diff != 0:
                built.append((env, left, right, diff))
        # every entry at the same points, in one enclosure per point: the entries of a matrix claim share the
        # network's subexpressions (z, h of every layer), which are then evaluated once per point, not per entry
        results = self.refute_many(built)
        for (env, left, right, diff), result in zip(built, results):
            if isinstance(result, Counterexample):
                result.reference = reference
                lv.status, lv.counterexample = REFUTED, result
                lv.reason = f"{_failure(relation)}; certified counterexample found"
                if relation in ("equal", "opposite sign"):
                    from .diagnosis import diagnose

                    hint = diagnose(self, a, b, env, self._entry, self._point, left, right, BATCH_SIZE)
                    lv.reason += f"; {hint}" if hint else ""
                return lv
        for (env, left, right, diff), result in zip(built, results):
            worst = max(worst, result[0])
            points += result[1]
            alternatives = [diff]
            if relation == "equal magnitude":
                u, v = left.args[0], right.args[0]
                alternatives = [u - v, u + v, u**2 - v**2]
            elif self.local:
                try:  # the same link in logit space: smaller, and a proof there is a proof here
                    local = self.build_with(self.logits, a, env) - self.build_with(self.logits, b, env)
                    alternatives = [local, diff]
                except NotLocal:
                    self.local = False
            pending.append(alternatives)
        sampled = lv.assignments_checked < total
        if not pending and not self.resolved.additive:
            lv.reason = "identical at every batch of equal examples, but the claim is not additive over the examples: no proof for every batch"
            return lv
        if not pending:
            lv.status = PROVED if not sampled else UNDECIDED
            lv.reason = "both sides are structurally identical for every index assignment (a symbolic identity)"
            if sampled:
                lv.reason = (f"identical for every sampled index assignment (not all were checked: {total} assignments, "
                             f"limit {MAX_ASSIGNMENTS}); fix some indices or check a smaller network to decide it")
            return lv
        lv.evidence = self.evidence(points, worst)
        from ..bounded import BoundExceeded, TimeBoundExceeded, WorkExceeded
        from ..decide import Context, bounded_zero_proofs

        ctx = Context(tuple(self.softmax_outputs()), tuple(self.logits.zeta))
        try:  # the one decider of the prover and the checker (symderiv.decide), under the check's work budget
            proved = bounded_zero_proofs(pending, ctx=ctx, work=self.work)
        except WorkExceeded:
            lv.reason = (f"no symbolic proof within the work budget ({self.work.total} steps = {self.seconds:g} reference "
                         "seconds); raise it with seconds= (command line: --seconds)")
            return lv
        except TimeBoundExceeded as exc:
            lv.reason = f"no symbolic proof: {exc}; raise the bound with seconds= (command line: --seconds)"
            return lv
        except BoundExceeded as exc:
            lv.reason = f"no symbolic proof within the bounds ({exc}); raise them with seconds= (command line: --seconds)"
            return lv
        if all(proved) and not self.resolved.additive:
            lv.reason = ("equal at every batch of equal examples, but the claim is not additive over the examples "
                         "(a product or nonlinear function of sums over the batch), so this is no proof for every batch")
            return lv
        if all(proved):
            if sampled:
                lv.reason = (f"proved for every sampled index assignment (not all were checked: {total} assignments, "
                             f"limit {MAX_ASSIGNMENTS}); fix some indices or check a smaller network to decide it")
                return lv
            lv.status = PROVED
            lv.reason = "the difference simplifies to 0 for every index assignment (a symbolic identity)"
        else:
            lv.reason = ("no normal form of symderiv.decide reduces the difference to 0 (the ladder ran to its end, so a "
                         "larger seconds= will not help), and no counterexample was found")
        return lv

    def universe(self) -> list:
        """Data, labels, parameters (their symbols at this init), the batch size and the claim's free
        variables: every symbol a built side can contain, sorted by name (computed once)."""
        if self._universe is None:
            symbols = set(self.d.x) | set(self.d.label_symbols)
            for value in self.d.values.values():
                if isinstance(value, sp.Basic):
                    symbols |= value.free_symbols
            if self.resolved.batch:
                symbols.add(BATCH_SIZE)
            stack = [s for v in self.resolved.variants for s in v.sides]
            while stack:
                node = stack.pop()
                if isinstance(node, Q) and node.kind == "var":
                    symbols.add(sp.Symbol(node.name, real=True))
                stack.extend(_children(node))
            self._universe = sorted(symbols, key=lambda s: s.name)
        return self._universe

    def softmax_outputs(self) -> list:
        """The engine's softmax outputs ``p_1 … p_K`` (softmax cross-entropy), else empty."""
        if self.net.loss.name != "softmax_cross_entropy" or self.net.n_outputs < 2:
            return []
        return [self.d.p(k) for k in range(self.net.n_outputs)]

    def evidence(self, points: int, worst: float) -> str:
        return f"the sides agree at {points} random rational points (largest |difference| enclosure {worst:.1e})"

    # -- certified refutation
    def point(self, symbols, simple: bool = False) -> dict:
        """A random exact point; ``simple``: a one-hot label and small integers, the counterexample a
        student reads most easily (tried first; it never counts as evidence of agreement)."""
        d = self.d
        values: dict = {}
        if simple:
            hot = self.rng.randrange(self.net.n_outputs)
            labels = [Fraction(int(k == hot)) for k in range(len(d.label_symbols))]
        else:
            labels = self.net.loss.sample_labels(self.np_rng, self.net.n_outputs)
        for s, v in zip(d.label_symbols, labels):
            values[s] = sp.Rational(v.numerator, v.denominator)
        for s in d.x:
            values[s] = sp.Integer(self.rng.randint(-2, 2)) if simple else \
                sp.Rational(self.rng.randint(-24, 24), self.rng.randint(1, 8))
        for s in symbols:
            if s == BATCH_SIZE:
                values[s] = sp.Integer(self.rng.randint(2, 4 if simple else 6))  # a batch size: a positive integer
            elif s not in values:
                values[s] = sp.Integer(self.rng.randint(-2, 2)) if simple else \
                    sp.Rational(self.rng.randint(-8, 8), self.rng.randint(1, 8))
        return values

    def refute_many(self, built: list) -> list:
        """Certified refutation of each ``(env, left, right, diff)`` at random exact points: a
        :class:`Counterexample` at the first entry (in order) a point refutes, else per entry ``(worst, good)``
        (the largest |difference| bound and the number of points that bounded it).  Every entry is evaluated at
        the same points, all in one enclosure per point (shared subexpressions evaluated once); an entry whose
        enclosure fails there (a kink the precision cannot decide) is retried alone."""
        from ..certify import excludes_zero, magnitude

        symbols = self.universe()  # every symbol a side can contain, known in advance (free_symbols of big sides is slow)
        n = len(built)
        worst, good = [0.0] * n, [0] * n
        simple = self.net.loss.name in _ONE_HOT_LOSSES and all(TRUE_CLASS not in env for env, *_ in built)
        for attempt in range(_ATTEMPTS + simple):
            active = [i for i in range(n) if good[i] < _POINTS_PER_ASSIGNMENT]
            if not active:
                break
            values = self.point(symbols, simple=simple and attempt == 0)
            balls, missing = self._enclose_many([built[i] for i in active], values)
            if missing:  # a symbol outside the universe: take the sides' own, from the next point on
                symbols = sorted(set(symbols) | missing, key=lambda s: s.name)
            for i, ball in zip(active, balls):
                if ball is None:
                    continue
                dv, lv, rv = ball
                if excludes_zero(dv):
                    self._point = values
                    return [self._counterexample(built[i], values, symbols, ball)] * n
                bound = magnitude(dv)  # a float upper bound of |dv|; never raises (inf when unbounded)
                if bound == float("inf") or (simple and attempt == 0):
                    continue  # an unbounded enclosure (or a special point) is no evidence that the sides agree
                good[i] += 1
                worst[i] = max(worst[i], bound)
        for (env, *_), g in zip(built, good):
            if g == 0:
                self.notes.append(f"no certifiable evaluation point at {env} (kinks); relying on the symbolic proof")
        return list(zip(worst, good))

    @staticmethod
    def _enclose_many(entries: list, values: dict) -> tuple[list, set]:
        """``[(diff, left, right) balls or None]`` of the entries at ``values``, and the symbols that had no value."""
        from ..certify import Uncertifiable, enclose

        exprs = [e for _, left, right, diff in entries for e in (diff, left, right)]
        try:
            flat = enclose(exprs, values)
            return [tuple(flat[3 * k: 3 * k + 3]) for k in range(len(entries))], set()
        except (Uncertifiable, ZeroDivisionError, ValueError):
            pass
        out: list[tuple | None] = []  # None: that entry has no certified enclosure at this point
        missing: set = set()
        for _, left, right, diff in entries:
            try:
                out.append(tuple(enclose([diff, left, right], values)))
            except Uncertifiable as exc:
                out.append(None)
                if str(exc).startswith("no value for the symbol"):
                    missing |= _symbols(diff, left, right)
            except (ZeroDivisionError, ValueError):
                out.append(None)
        return out, missing

    def _counterexample(self, entry, values: dict, symbols: list, ball) -> Counterexample:
        from ..certify import describe_interval, interval

        env, left, right, diff = entry
        dv, lv, rv = ball
        data = {str(s): str(values[s]) for s in self.d.x}
        for k, yk in enumerate(self.d.y, 1):
            yv = (yk if isinstance(yk, sp.Basic) else sp.Integer(yk)).xreplace(values)
            if TRUE_CLASS in env:
                yv = sp.Integer(1 if k == env[TRUE_CLASS] else 0)
            data[f"y_{k}"] = str(yv)
        if BATCH_SIZE in values:
            data["N"] = str(values[BATCH_SIZE])
            data["batch"] = "N copies of this example"
        names = {str(s) for s in self.d.x} | {str(s) for s in self.d.label_symbols} | {str(BATCH_SIZE)}
        used = _symbols(diff, left, right)
        params = {str(s): str(values[s]) for s in symbols if str(s) not in names and s in used}
        return Counterexample(dict(env), data, params, describe_interval(lv), describe_interval(rv), interval(dv))
