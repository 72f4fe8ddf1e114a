"""Replay real ``torch.optim`` trajectories of a module and check an analysis's claims on them.

Independent of the proof: the module itself (a float64 copy) is trained with PyTorch's own
autograd and optimizers on random data, and every claim of a
:class:`~symderiv.graph.analysis.GraphAnalysis` is checked along the way (imports torch):

* ``stays_zero``: exactly 0 after every step;
* equal ``tie_class``: equal after every step (to ``rtol`` relative to the class's scale,
  for ties computed through matrix products);
* ``first_move_step = t``: bit-identical to the init after steps ``1 … t−1`` (never: after
  every step); tight: changed after step ``t``;

each judged according to its float status (:mod:`symderiv.graph.facts`).  :func:`verify_graph`
puts it together as the graph counterpart of :func:`symderiv.verify.verify` (same
:class:`~symderiv.verify.VerifyReport`): closed forms against autograd, claims on SGD, momentum,
Nesterov, RMSProp and Adam runs at two batch sizes, an observation of untied entries separating, and the certified
witness trajectories replayed with ``torch.optim.SGD``.
"""
from __future__ import annotations

import copy
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..errors import InvalidArgument
from ..guard import public_entry
from .engine import backprop
from .losses import graph_loss

__all__ = ["torch_loss", "random_batch", "graph_input_shape", "call_module", "example_batch", "run_module",
           "example_data", "replay", "check_claims",
           "engine_gradients", "verify_graph", "OPTIMIZERS",
           "VERIFY_OPTIMIZERS"]

class _Together:
    """Several optimizers stepped as one (a per-parameter assignment, e.g. Muon for matrices and AdamW for the
    rest)."""

    def __init__(self, *optimizers):
        self.optimizers = [o for o in optimizers if o is not None]

    def zero_grad(self) -> None:
        for o in self.optimizers:
            o.zero_grad()

    def step(self) -> None:
        for o in self.optimizers:
            o.step()


def _muon(ps, lr):
    """torch.optim.Muon on the 2-D parameters (it takes no others), AdamW on the rest, as its documentation
    shows; no weight decay (first-move steps assume none)."""
    matrices = [p for p in ps if p.ndim == 2]
    rest = [p for p in ps if p.ndim != 2]
    return _Together(torch.optim.Muon(matrices, lr=lr, weight_decay=0.0) if matrices else None,
                     torch.optim.AdamW(rest, lr=lr, weight_decay=0.0) if rest else None)


def _package(name: str, **options) -> Callable:
    """A factory for ``pytorch_optimizer.<name>`` (imported when used: an optional dependency)."""
    def make(ps, lr):
        try:
            import pytorch_optimizer
        except ImportError:  # pragma: no cover - the test extra installs it
            raise InvalidArgument(f"replaying {name} needs the pytorch-optimizer package "
                                  "(pip install pytorch-optimizer)") from None
        return getattr(pytorch_optimizer, name)(ps, lr=lr, **options)
    return make


#: optimizer name -> factory(params, lr); none uses weight decay (first-move steps assume none)
OPTIMIZERS: dict[str, Callable] = {
    "sgd": lambda ps, lr: torch.optim.SGD(ps, lr=lr),
    "momentum": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9),
    "nesterov": lambda ps, lr: torch.optim.SGD(ps, lr=lr, momentum=0.9, nesterov=True),
    "adam": lambda ps, lr: torch.optim.Adam(ps, lr=lr),
    "rmsprop": lambda ps, lr: torch.optim.RMSprop(ps, lr=lr),
    "adafactor": lambda ps, lr: torch.optim.Adafactor(ps, lr=lr, weight_decay=0.0),
    "muon": _muon,
    "lion": _package("Lion", weight_decay=0.0),
    "lamb": _package("Lamb", weight_decay=0.0),
    "lars": _package("LARS", weight_decay=0.0),
    "shampoo": _package("Shampoo", weight_decay=0.0),
    "soap": _package("SOAP", weight_decay=0.0),
    "assigned": lambda ps, lr: _needs_analysis(),  # a per-parameter assignment: built from the analysis (_assigned)
}


def _needs_analysis():
    raise InvalidArgument("optimizer 'assigned' is the per-parameter mapping of an analysis: replay(module, analysis, "
                          "optimizer='assigned') builds it")


def _assigned(analysis, params: list, lr: float) -> _Together:
    """The real optimizers of a per-parameter assignment (``analysis.optimizers.replay_of``, in the order of
    the graph's trainable parameters): one instance per optimizer, over its parameters."""
    runs = getattr(analysis.optimizers, "replay_of", ())
    if len(runs) != len(params):
        raise InvalidArgument("optimizer 'assigned' replays a per-parameter optimizer mapping; this analysis has none")
    groups: dict[str, list] = {}
    for name, p in zip(runs, params):
        groups.setdefault(name, []).append(p)
    return _Together(*(OPTIMIZERS[name](ps, lr) for name, ps in groups.items()))


def torch_loss(name: str) -> Callable:
    """The batch-mean loss of the graph loss ``name``, written with PyTorch's functions."""
    key = graph_loss(name).name
    if key == "softmax_cross_entropy":
        return lambda z, y: -(y * F.log_softmax(z, dim=-1)).sum(-1).mean()
    if key == "mse":
        return F.mse_loss
    return F.binary_cross_entropy_with_logits


def _several(input_shape) -> bool:
    """Whether ``input_shape`` is a list of shapes (one per input of the module) rather than one shape."""
    return isinstance(input_shape, (list, tuple)) and bool(input_shape) and \
        all(isinstance(s, (list, tuple)) for s in input_shape)


def graph_input_shape(g):
    """The input shape of graph ``g`` as :func:`random_batch` takes it: one shape, or a list of shapes."""
    shapes = g.input_shapes()
    return shapes[0] if len(shapes) == 1 else list(shapes)


def call_module(model: nn.Module, x):
    """``model(x)``, or ``model(*x)`` for the tuple of inputs of a several-input module."""
    return model(*x) if isinstance(x, tuple) else model(x)


def random_batch(loss: str, input_shape, output_shape, batch: int, gen: torch.Generator):
    """Random float64 inputs and labels from the loss's label domain.  ``input_shape`` is one shape
    (``x`` is a tensor) or a list of shapes, one per input of the module (``x`` is a tuple of tensors,
    drawn in order before the labels)."""
    x: torch.Tensor | tuple[torch.Tensor, ...]
    if _several(input_shape):
        x = tuple(torch.randn((batch,) + tuple(s), generator=gen, dtype=torch.float64) for s in input_shape)
    else:
        x = torch.randn((batch,) + tuple(input_shape), generator=gen, dtype=torch.float64)
    shape = (batch,) + tuple(output_shape)
    key = graph_loss(loss).name
    if key == "softmax_cross_entropy":
        y = torch.softmax(torch.randn(shape, generator=gen, dtype=torch.float64), dim=-1)
    elif key == "mse":
        y = torch.randn(shape, generator=gen, dtype=torch.float64)
    else:
        y = torch.rand(shape, generator=gen, dtype=torch.float64)
    return x, y


def example_batch(g, batch: int, gen: torch.Generator):
    """Random inputs and labels for graph ``g``'s module: through ``g.call`` (an exported module: keyword
    inputs, token ids, fixed keyword arguments) when it has one, else :func:`random_batch`."""
    call = getattr(g, "call", None)
    out_shape = g.nodes[g.output].shape
    if getattr(g, "batch_size", None):  # a batch graph (train-mode BatchNorm): the theorem is about batches of B
        batch, out_shape = int(g.batch_size), out_shape[1:]
    if call is None:
        return random_batch(g.loss_name, graph_input_shape(g), out_shape, batch, gen)
    x = call.random_inputs(batch, gen)
    _, y = random_batch(g.loss_name, [(1,)] * len(x), out_shape, batch, gen)
    return x, y


def run_module(g, model: nn.Module, x):
    """The analysed output of ``model`` on inputs ``x`` (from :func:`example_batch`)."""
    call = getattr(g, "call", None)
    return call_module(model, x) if call is None else call(model, x)


def example_data(g, x, b: int) -> list[np.ndarray]:
    """Example ``b`` of a batch ``x`` as the values of the graph's data symbols, one array per input."""
    call = getattr(g, "call", None)
    if call is not None:
        return call.data_arrays(x, b)
    xs = x if isinstance(x, tuple) else (x,)
    return [t[b].numpy() for t in xs]


def replay(module: nn.Module, analysis, *, optimizer: str = "sgd", batch: int = 1, steps: int | None = None,
           lr: float = 0.1, seed: int = 0) -> list[dict[str, np.ndarray]]:
    """Snapshots (step 0 = init) of every trainable parameter along a real trajectory."""
    if optimizer not in OPTIMIZERS:
        raise InvalidArgument(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {optimizer!r}")
    g = analysis.proof.graph
    if steps is None:
        finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
        steps = max(finite, default=0) + 1
    model = copy.deepcopy(module).double()
    named = dict(model.named_parameters())
    trainable = [named[n] for n in g.trainable()]
    opt = _assigned(analysis, trainable, lr) if optimizer == "assigned" else OPTIMIZERS[optimizer](trainable, lr)
    loss_fn = torch_loss(g.loss_name)
    gen = torch.Generator().manual_seed(seed)

    def snap():
        return {n: named[n].detach().numpy().copy() for n in g.trainable()}

    snaps = [snap()]
    for _ in range(steps):
        x, y = example_batch(g, batch, gen)
        opt.zero_grad()
        loss_fn(run_module(g, model, x), y).backward()
        opt.step()
        snaps.append(snap())
    return snaps


def check_claims(analysis, snaps: list[dict[str, np.ndarray]], *, rtol: float = 1e-12,
                 exact_only_tolerance: float | None = 1e-12, rounding_tolerance: float = 1e-12,
                 judge_tight: bool = True) -> list[str]:
    """Every claim of ``analysis`` violated along ``snaps`` (empty: all hold).

    How each claim is judged follows its float status (:mod:`symderiv.graph.facts`): a ``bit_exact``
    zero or "unchanged before step t" must hold bit for bit; an ``identical_rounding`` one to
    ``rounding_tolerance`` (relative to the entry's init and 1: a blocked matrix product may round
    identical rows differently); an ``exact_arithmetic_only`` one (it rests on the loss's exact
    cancellation) to ``exact_only_tolerance``, or not at all when it is None (Adam/RMSProp amplify the
    rounding residue).  Ties hold to ``rtol`` relative to the class's scale (exact-only ties as above).
    ``judge_tight``: also report an entry with a tight first-move step that did not move at it on this
    data (tightness is certified on the witness trajectory, so :func:`verify_graph` only observes it)."""
    g = analysis.proof.graph
    bad: list[str] = []
    by_tie: dict[int, list[tuple[str, tuple]]] = {}
    exact_only_ties: set[int] = set()

    def tolerance(status: str | None, init: float) -> float | None:
        if status == "exact_arithmetic_only":
            return None if exact_only_tolerance is None else exact_only_tolerance * max(1.0, abs(init))
        if status == "identical_rounding":
            return rounding_tolerance * max(1.0, abs(init))
        return 0.0

    for name in g.trainable():
        facts = analysis.entry_facts(name)
        for idx in np.ndindex(*g.params[name].shape):
            init = float(snaps[0][name][idx])
            tid = facts["tie_class"][idx]
            by_tie.setdefault(tid, []).append((name, idx))
            if facts["float"][idx] == "exact_arithmetic_only":
                exact_only_ties.add(tid)
            if facts["stays_zero"][idx]:
                tol = tolerance(facts["float"][idx] or facts["first_move_float"][idx], 0.0)
                if tol is not None and any(abs(s[name][idx]) > tol for s in snaps):
                    bad.append(f"{name}{list(idx)} claimed to stay zero but moved")
                continue
            t = facts["first_move_step"][idx]
            last = len(snaps) if t is None else min(t, len(snaps))
            tol = tolerance(facts["first_move_float"][idx], init)
            if tol is not None and any(abs(snaps[s][name][idx] - init) > tol for s in range(1, last)):
                bad.append(f"{name}{list(idx)} claimed unchanged before step {t} but changed earlier")
            if (judge_tight and t is not None and facts["first_move_tight"][idx] and t < len(snaps)
                    and snaps[t][name][idx] == init):
                bad.append(f"{name}{list(idx)} claimed (tight) to move at step {t} but did not")
    for tid, members in by_tie.items():
        if tid in exact_only_ties and exact_only_tolerance is None:
            continue
        for s in snaps:
            vals = np.array([s[n][i] for n, i in members])
            scale = max(float(np.max(np.abs(vals))), 1e-300)
            if float(np.max(vals) - np.min(vals)) > rtol * scale:
                bad.append(f"tie class {tid} ({members[0][0]}{list(members[0][1])} …) not tied along the trajectory")
                break
    return bad


def engine_gradients(graph, module: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, np.ndarray]:
    """The graph engine's per-example gradients at the module's own parameter values and at ``x``/``y``
    (floats taken as exact rationals), evaluated to float64 from rigorous 60-digit balls.  For a
    several-input module ``x`` is a list/tuple of arrays, one per input (no batch axis).

    The closed forms are built with a symbol per parameter entry and evaluated at the point
    (plugging exact numbers in first would make SymPy's automatic evaluation crawl)."""
    import sympy as sp

    from ..certify import enclose, midpoint
    from .engine import symbolic_values

    named = dict(module.named_parameters())
    symbols = symbolic_values(graph, prefix="theta")
    point = {}
    for name, p in graph.params.items():
        src = named[name].detach().double().numpy() if name in named else p.init
        for idx in np.ndindex(*p.shape):
            point[symbols[name][idx]] = sp.Rational(float(src[idx]))
    state = backprop(graph, symbols)
    xs = list(x) if len(state.xs) > 1 else [x]
    if len(xs) != len(state.xs):
        raise InvalidArgument(f"the graph has {len(state.xs)} inputs, got {len(xs)} arrays")
    for syms, arr in zip(state.xs, xs):
        if np.shape(arr) != syms.shape:
            raise InvalidArgument(f"an input of shape {np.shape(arr)} where the graph has {syms.shape}")
        point.update({s: sp.Rational(float(v)) for s, v in zip(syms.flat, np.asarray(arr).flat)})
    ysyms = graph_loss(graph.loss_name).labels(tuple(np.shape(y)))
    for e, v in zip(ysyms.flat, np.asarray(y).flat):
        if isinstance(e, sp.Symbol):
            point[e] = sp.Rational(float(v))
    out = {}
    for n in graph.trainable():
        g = state.grads[n]
        out[n] = np.array([midpoint(b) for b in enclose(list(g.flat), point, dps=60)], dtype=float).reshape(g.shape)
    return out


# ---------------------------------------------------------------- verify: the graph counterpart of symderiv.verify
#: optimizers replayed by :func:`verify_graph` (none with weight decay: first-move steps assume none)
VERIFY_OPTIMIZERS = ("sgd", "momentum", "nesterov", "rmsprop", "adam")
#: optimizers that divide by a running gradient magnitude (or take signs, or normalize a matrix): they amplify a
#: rounding residue
NORMALIZED = frozenset({"rmsprop", "adam", "adafactor", "muon", "lion", "lamb", "lars", "shampoo", "soap"})
#: optimizers whose float implementation keeps ties only to rounding (inverse roots by SVD): their relative tie
#: tolerance (a tie of small entries differs by ~1e-15 absolute)
ROUNDED_TIES = {"shampoo": 1e-9}


def _module_values(module: nn.Module, g) -> dict[str, np.ndarray]:
    named = dict(module.named_parameters())
    missing = [n for n in g.params if n not in named]
    if missing:
        raise InvalidArgument(f"the module has no parameter {missing[0]!r}; the analysis has "
                              f"{', '.join(g.params)}: verify the module that was analyzed")
    out = {}
    for name, p in g.params.items():
        value = named[name].detach().double().numpy()
        if tuple(value.shape) != tuple(p.shape):
            raise InvalidArgument(f"parameter {name} has shape {tuple(value.shape)} in the module but {tuple(p.shape)} "
                                  "in the analysis: verify the module that was analyzed")
        if bool(named[name].requires_grad) != p.trainable:
            raise InvalidArgument(f"parameter {name} is {'trainable' if named[name].requires_grad else 'frozen'} in "
                                  "the module but not in the analysis: verify the module that was analyzed")
        out[name] = value
    return out


def _init_point(analysis, values: dict[str, np.ndarray]) -> dict:
    """Init symbol -> the module's value (generic values), after checking that the module has the
    analyzed pattern: zeros where the analysis has 0, one value per init symbol, the exact values
    where the analysis has numbers."""
    import sympy as sp

    g = analysis.proof.graph
    point: dict = {}
    for name, p in g.params.items():
        for idx in np.ndindex(*p.shape):
            expr = analysis.init_value(name, idx)
            v = float(values[name][idx])
            if isinstance(expr, sp.Symbol):
                if v == 0.0 or point.setdefault(expr, v) != v:
                    raise InvalidArgument(f"the module's {name}{list(idx)} = {v!r} does not have the analyzed pattern "
                                          "of zeros and equal values: verify the module that was analyzed")
            elif float(expr) != v:
                raise InvalidArgument(f"the module's {name}{list(idx)} = {v!r} differs from the analyzed init value "
                                      f"{expr}: verify the module that was analyzed")
    return point


def _gradient_check(analysis, module: nn.Module, point: dict, seed: int, batch: int, rtol: float):
    """The analysis's closed forms at the init (rigorous balls, averaged over a batch) against torch autograd."""
    import sympy as sp

    from ..certify import enclose, midpoint
    from ..verify import Check
    from .engine import data_symbols

    g = analysis.proof.graph
    gen = torch.Generator().manual_seed(seed + 11)
    out_shape = g.nodes[g.output].shape
    x, y = example_batch(g, batch, gen)
    model = copy.deepcopy(module).double()
    model.zero_grad()
    torch_loss(g.loss_name)(run_module(g, model, x), y).backward()
    named = dict(model.named_parameters())
    at_init = {(n, i): analysis.gradient_at_init(n, np.unravel_index(i, g.params[n].shape) if g.params[n].shape else ())
               for n, i in _gradient_sample(g, seed)}
    coords = [c for c, e in at_init.items() if e is not None]  # None: a tensor-level proof has no closed form
    exprs = [at_init[c] for c in coords]
    base = {s: sp.Rational(v) for s, v in point.items()}
    xs = [list(syms.flat) for syms in data_symbols(g)]
    labels = graph_loss(g.loss_name).labels(tuple(out_shape))
    total = np.zeros(len(coords))
    # a batch graph (train-mode BatchNorm) has one example: the whole batch, with the batch's mean loss
    batched = int(getattr(g, "batch_size", None) or 0)
    rounds = 1 if batched else batch
    for b in range(rounds):
        at = dict(base)
        data = ([np.stack([np.asarray(example_data(g, x, k)[i]) for k in range(batched)]) for i in range(len(xs))]
                if batched else example_data(g, x, b))
        for syms, xb in zip(xs, data):
            at.update({s: sp.Rational(float(v)) for s, v in zip(syms, np.asarray(xb).flat)})
        ys = y if batched else y[b]
        at.update({e: sp.Rational(float(v)) for e, v in zip(labels.flat, ys.numpy().flat) if isinstance(e, sp.Symbol)})
        total += np.array([midpoint(v) for v in enclose(exprs, at, dps=30)])
    mean = total / rounds
    worst, where = 0.0, None
    for k, (n, i) in enumerate(coords):
        grad = named[n].grad
        ref = float(grad.reshape(-1)[i]) if grad is not None else 0.0
        err = abs(mean[k] - ref) / max(abs(mean[k]), abs(ref), 1e-12 / rtol)
        if err > worst:
            worst, where = err, f"{n}[flat {i}]: closed form {mean[k]:.12g}, autograd {ref:.12g}"
    total_entries = sum(g.params[n].size for n in g.trainable())
    scope = (f"every entry ({total_entries})" if len(coords) == total_entries else
             f"{len(coords)} of {total_entries} entries (at most {GRADIENT_SAMPLE} per parameter, seeded sample)")
    return Check("gradient", "torch autograd at the init", bool(worst <= rtol), float(worst),
                 f"closed forms at the init, mean over a batch of {batch}, {scope}; rtol {rtol:g}", where, seed)


#: entries per parameter whose closed form is compared with autograd (a seeded sample beyond this)
GRADIENT_SAMPLE = 64


def _gradient_sample(g, seed: int) -> list[tuple[str, int]]:
    """Every entry of a small parameter; ``GRADIENT_SAMPLE`` entries drawn by ``default_rng(seed + 29)``
    of a larger one (sorted: deterministic)."""
    rng = np.random.default_rng(seed + 29)
    out: list[tuple[str, int]] = []
    for name in g.trainable():
        size = g.params[name].size
        flat = np.arange(size) if size <= GRADIENT_SAMPLE else np.sort(rng.choice(size, GRADIENT_SAMPLE, replace=False))
        out.extend((name, int(i)) for i in flat)
    return out


def _separation_note(analysis, runs: list[list[dict[str, np.ndarray]]]) -> str:
    """Observation: entries the analysis does not tie that moved bit-identically at every step of every run.

    Not a judged check: "not tied" claims no separation on every dataset.  The pattern is the smallest
    *invariant* one, and with generic values a split is certified at generic values of the init symbols,
    which a module's own values may miss (a dead ReLU at the module's values keeps entries equal that
    generic values separate)."""
    g = analysis.proof.graph
    groups: dict[bytes, set[int]] = {}
    where: dict[bytes, str] = {}
    for name in g.trainable():
        facts = analysis.entry_facts(name)
        for idx in np.ndindex(*g.params[name].shape):
            if facts["stays_zero"][idx] or facts["first_move_step"][idx] is None:
                continue  # never moves: its value is its init value (merged with its equals)
            key = np.array([s[name][idx] for run in runs for s in run], dtype=np.float64).tobytes()
            groups.setdefault(key, set()).add(int(facts["tie_class"][idx]))
            where.setdefault(key, f"{name}{list(idx)}")
    same = [k for k, ids in groups.items() if len(ids) > 1]
    if not same:
        return (f"observation: untied entries separated: the {len(groups)} moving trajectories over {len(runs)} runs "
                "match the tie classes one to one")
    return (f"observation: {len(same)} groups of entries in different tie classes moved bit-identically on every run "
            f"(e.g. {where[same[0]]}, classes {sorted(groups[same[0]])}): not a failure (no separation is claimed "
            "for every dataset), but the module's values may be exceptional for the generic analysis")


def _init_array(analysis, name: str, at: Callable) -> np.ndarray:
    """The parameter's init values at a witness point: per block of a lumped proof (then expanded), else per entry."""
    lump = getattr(analysis.proof, "lumping", None)
    if lump is not None:
        from .lumping import expand

        labels = lump.param_labels(name)
        qshape = analysis.proof.quotient.graph.params[name].shape
        q = np.empty(qshape)
        for qidx in np.ndindex(*qshape):
            q[qidx] = at(analysis.init_value(name, tuple(int(np.argmax(lab == k)) for lab, k in zip(labels, qidx))))
        return np.asarray(expand(lump, name, q), dtype=np.float64)
    p = analysis.proof.graph.params[name]
    arr = np.empty(p.shape)
    for idx in np.ndindex(*p.shape):
        arr[idx] = at(analysis.init_value(name, idx))
    return arr


def _witness_check(analysis, module: nn.Module, witness, seed: int):
    """Replay a certified witness trajectory (one example, plain SGD) with torch in float64: every class
    it certifies must change at its step (unless the certified change is below float64 resolution)."""
    import sympy as sp

    from ..verify import Check
    from .engine import data_symbols

    proof, g = analysis.proof, analysis.proof.graph
    by_name = {k: sp.Rational(v) for k, v in witness.point}

    def at(expr) -> float:  # the witness point names its symbols (assumptions differ: match by name)
        return float(expr.xreplace({s: by_name[s.name] for s in expr.free_symbols}))

    model = copy.deepcopy(module).double()
    named = dict(model.named_parameters())
    with torch.no_grad():
        for name, p in g.params.items():
            named[name].copy_(torch.from_numpy(_init_array(analysis, name, at)))
    shape_out = g.nodes[g.output].shape
    arrays = [np.array([at(e) for e in syms.flat], dtype=np.float64).reshape(syms.shape) for syms in data_symbols(g)]
    call = getattr(g, "call", None)
    # a batch graph's data and output already carry the batch axis (its one example is the whole batch)
    batched = bool(getattr(g, "batch_size", None))
    lead = () if batched else (1,)
    if call is not None:
        x = call.from_data(arrays, int(g.batch_size) if batched else 1)
    else:
        inputs = tuple(torch.from_numpy(a).reshape(lead + a.shape) for a in arrays)
        x = inputs if len(inputs) > 1 else inputs[0]
    y = torch.tensor([at(e) for e in graph_loss(g.loss_name).labels(shape_out).flat],
                     dtype=torch.float64).reshape(lead + tuple(shape_out))
    opt = torch.optim.SGD([named[n] for n in g.trainable()], lr=float(sp.Rational(witness.learning_rate)))
    loss_fn = torch_loss(g.loss_name)
    history = [{n: named[n].detach().numpy().copy() for n in g.trainable()}]
    for _ in range(witness.steps):
        opt.zero_grad()
        loss_fn(run_module(g, model, x), y).backward()
        opt.step()
        history.append({n: named[n].detach().numpy().copy() for n in g.trainable()})
    missing, replayed, unresolvable = None, 0, 0
    for n, (k, step, change) in enumerate(witness.moved):
        name, flat = next(iter(proof.classes[k]))  # the first entry (a lumped class is a lazy union of blocks)
        before = history[step - 1][name].reshape(-1)[flat]
        magnitude = witness.magnitudes[n] if n < len(witness.magnitudes) else 1.0
        if magnitude <= 1e-12 * max(1.0, abs(before)):
            unresolvable += 1
            continue
        replayed += 1
        if history[step][name].reshape(-1)[flat] == before:
            missing = f"{name}[flat {flat}] did not change at step {step} (certified change {change})"
            break
    detail = f"{replayed} certified first moves replayed with torch in float64"
    if unresolvable:
        detail += f"; {unresolvable} below float64 resolution not replayable"
    return Check("witness_replay", f"SGD, {witness.steps} steps, lr {witness.learning_rate}", missing is None, 0.0,
                 detail, missing, seed)


@public_entry
def verify_graph(analysis, module: nn.Module, *, seed: int = 0, optimizers=None,
                 batches: tuple[int, ...] = (1, 3), steps: int | None = None, lr: float = 0.1,
                 grad_rtol: float = 1e-9, tie_rtol: float = 1e-12, strict: bool = False):
    """Cross-check a :class:`~symderiv.graph.analysis.GraphAnalysis` on real ``torch.optim`` runs of ``module``.

    Returns a :class:`symderiv.verify.VerifyReport` (the MLP ``verify``'s type) with:

    * ``gradient``: the closed forms at the init against torch autograd (a random batch);
    * ``claims`` per optimizer and batch size (random data, seeded): every stays-zero, tie and
      "unchanged before the first-move step" on a real float64 run, judged by its float status
      (:func:`check_claims`; exact-arithmetic-only statements are not judged on Adam/RMSProp runs);
    * a note observing whether entries in different tie classes separated on the runs (not judged: see
      :func:`_separation_note`);
    * ``witness_replay``: every certified witness trajectory replayed with ``torch.optim.SGD``;
      each certified first move changes its entry at its step.

    ``module`` must be the analyzed module (or one with the same parameters and the same pattern of
    zeros and equal values, for generic values); ``steps`` defaults to the largest finite first-move
    step + 2.  ``optimizers`` defaults to the real implementations of the analysis's optimizer (an
    analysis proved for ``optimizer="muon"`` replays ``torch.optim.Muon``, ``"lion"`` pytorch-optimizer's
    Lion, …) and to SGD, momentum, Nesterov, RMSProp and Adam for the coordinatewise class.
    ``strict``: raise :class:`symderiv.verify.VerificationError` on the first failure."""
    from ..verify import Check, VerifyReport

    if optimizers is None:
        optimizers = getattr(analysis.optimizers, "replay", ()) or VERIFY_OPTIMIZERS

    for name in optimizers:
        if name not in OPTIMIZERS:
            raise InvalidArgument(f"optimizer must be one of {', '.join(OPTIMIZERS)}, got {name!r}")
    if not isinstance(module, nn.Module):
        raise InvalidArgument(f"verify needs the analyzed nn.Module as module=, got {type(module).__name__}")
    g = analysis.proof.graph
    if not g.trainable():  # no parameter has a gradient: there is no training run to compare with
        raise InvalidArgument("verify: nothing in the module is trainable (no parameter, or every one frozen)")
    large = not analysis.per_entry_json  # per group of entries, vectorized (symderiv.graph.replay_groups)
    if large:
        from .replay_groups import group_claims, group_init_point, group_tight_observed
    point = (group_init_point if large and getattr(analysis.proof, "lumping", None) is not None else _init_point)(
        analysis, _module_values(module, g))
    report = VerifyReport()
    report.checks.append(_gradient_check(analysis, module, point, seed, max(batches), grad_rtol))
    finite = [fm.step for fm in analysis.proof.first_moves.values() if fm.step is not None]
    horizon = steps if steps is not None else max(finite, default=0) + 2
    runs = []
    tight_total = tight_seen = 0
    for k, name in enumerate(optimizers):
        for b in batches:
            snaps = replay(module, analysis, optimizer=name, batch=b, steps=horizon, lr=lr, seed=seed + 101 * k + b)
            runs.append(snaps)
            bad = (group_claims if large else check_claims)(
                analysis, snaps, rtol=max(tie_rtol, ROUNDED_TIES.get(name, 0.0)),
                exact_only_tolerance=None if name in NORMALIZED else 1e-12, judge_tight=False)
            report.checks.append(Check("claims", f"{name}, batch {b} ({horizon} steps)", not bad, float(len(bad)),
                                       "zeros, ties and unchanged-before-first-move on a torch.optim run"
                                       + (f"; {len(bad)} violations" if bad else ""), bad[0] if bad else None, seed))
            seen, total = (group_tight_observed if large else _tight_observed)(analysis, snaps)
            tight_seen, tight_total = tight_seen + seen, tight_total + total
    report.notes.append(_separation_note(analysis, runs) if not large else
                        "observation: untied entries separating: not computed above the per-entry size")
    for w in analysis.proof.trajectories:
        report.checks.append(_witness_check(analysis, module, w, seed))
    report.checks.extend(_row_move_checks(analysis, module, seed, lr))
    report.notes.append(f"observation: {tight_seen} of {tight_total} (entry, run) pairs with a tight first-move step "
                        "changed at it on random data (tightness is certified by the witness trajectories)")
    if any(n in NORMALIZED for n in optimizers) and any(
            "exact_arithmetic_only" in (grp.facts.float_status, grp.facts.first_move_float)
            for groups in analysis.entry_groups().values() for grp in groups):
        report.notes.append("statements that hold in exact arithmetic only (they rest on the loss's cancellation) are "
                            "not judged on RMSProp/Adam runs, which amplify the rounding residue")
    if strict:
        report.raise_for_failures()
    return report


def _tight_observed(analysis, snaps) -> tuple[int, int]:
    g = analysis.proof.graph
    seen = total = 0
    for name in g.trainable():
        facts = analysis.entry_facts(name)
        for idx in np.ndindex(*g.params[name].shape):
            t = facts["first_move_step"][idx]
            if t is not None and facts["first_move_tight"][idx] and t < len(snaps):
                total += 1
                seen += int(snaps[t][name][idx] != snaps[t - 1][name][idx])
    return seen, total


def _row_move_checks(analysis, module: nn.Module, seed: int, lr: float) -> list:
    """For an analysis proved for Muon or Shampoo: one step of the real optimizer on the first witness's example
    (where the gradient rows are certified nonzero) changes every row the analysis says changes at update 1
    (:func:`symderiv.optimizer_classes.rows_moving_first`)."""
    import sympy as sp

    from ..optimizer_classes import rows_moving_first
    from ..verify import Check
    from .engine import data_symbols

    rows = rows_moving_first(analysis) if getattr(analysis, "lattice", None) is not None else {}
    replay_names = [n for n in getattr(analysis.optimizers, "replay", ()) if n in ("muon", "shampoo", "assigned")]
    if not rows or not replay_names or not analysis.proof.trajectories:
        return []
    g = analysis.proof.graph
    witness = analysis.proof.trajectories[0]
    by_name = {k: sp.Rational(v) for k, v in witness.point}

    def at(expr) -> float:
        return float(expr.xreplace({s: by_name[s.name] for s in expr.free_symbols}))

    checks = []
    for name in replay_names:
        model = copy.deepcopy(module).double()
        named = dict(model.named_parameters())
        with torch.no_grad():
            for pname, p in g.params.items():
                arr = np.array([at(analysis.init_value(pname, idx)) for idx in np.ndindex(*p.shape)]).reshape(p.shape)
                named[pname].copy_(torch.from_numpy(arr))
        inputs = tuple(torch.tensor([at(e) for e in syms.flat], dtype=torch.float64).reshape((1,) + syms.shape)
                       for syms in data_symbols(g))
        shape_out = g.nodes[g.output].shape
        y = torch.tensor([at(e) for e in graph_loss(g.loss_name).labels(shape_out).flat],
                         dtype=torch.float64).reshape((1,) + tuple(shape_out))
        before = {n: named[n].detach().clone() for n in rows}
        params = [named[n] for n in g.trainable()]
        opt = _assigned(analysis, params, lr) if name == "assigned" else OPTIMIZERS[name](params, lr)
        opt.zero_grad()
        torch_loss(g.loss_name)(call_module(model, inputs if len(inputs) > 1 else inputs[0]), y).backward()
        opt.step()
        still = [f"{n} row {r}" for n, rs in rows.items() for r in rs
                 if torch.equal(named[n].detach()[r], before[n][r])]
        total = sum(len(rs) for rs in rows.values())
        checks.append(Check("row_moves", f"{name}, update 1 on the witness example", not still, float(len(still)),
                            f"{total} rows said to change at update 1 (a nonzero gradient row gives a nonzero update "
                            "row)", still[0] + " did not change" if still else None, seed))
    return checks
