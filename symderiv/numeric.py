"""The NumPy reference: an independent forward/backward pass, finite differences, training.

Everything here is float64 and vectorized over a batch (``X`` has shape ``(B, n_0)``,
``Y`` shape ``(B, K)``).  It shares no code with the symbolic engine on purpose:
activations, losses and the backward pass are written again, in NumPy, so that
agreement between the two is evidence rather than a tautology (docs/theory.md §6).

* :func:`forward`, :func:`gradients`, :func:`loss` - the network on a batch; the batch
  loss is the *mean* of the per-example losses, as in PyTorch.
* :func:`finite_differences`, :func:`relative_error`, :func:`at_kink` - the check.
* :func:`params_from_init`, :func:`random_data` - concrete parameters and data.
* :func:`train` with the optimizers of :data:`OPTIMIZERS` (``sgd``, ``momentum``,
  ``nesterov``, ``rmsprop``, ``adam``, ``adamw``), whose updates follow
  ``torch.optim`` formula for formula (:mod:`symderiv.numeric_optimizers`).

Activations and losses live in small registries keyed by the names used in
:mod:`symderiv.activations` and :mod:`symderiv.losses` (the losses' NumPy forms in
:mod:`symderiv.numeric_losses`); a user who registers a new activation adds its NumPy form
with :func:`register_numeric_activation`.
"""
from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

import numpy as np
import sympy as sp

from .activations import Activation, registered_activations
from .errors import InitError, InternalError, InvalidArgument, RegistryError, UnsupportedError, check_argument
from .init import resolve_init
from .network import Network, require_concrete
from .numeric_losses import NumericLoss, numeric_loss_of, numeric_losses, register_numeric_loss, sigmoid
from .numeric_optimizers import (
    OPTIMIZERS, SGD, Adam, AdamW, Array, Momentum, Nesterov, Optimizer, Params, RMSprop, Trajectory, make_optimizer,
    minibatch_indices, register_optimizer,
)

__all__ = [
    # registries
    "NumericActivation", "NumericLoss", "register_numeric_activation", "register_numeric_loss",
    "numeric_activations", "numeric_losses",
    # parameters and data
    "Params", "params_from_init", "random_data",
    # the network on a batch
    "forward", "gradients", "loss",
    # the check
    "finite_differences", "central_differences", "relative_error", "at_kink",
    # training
    "Optimizer", "SGD", "Momentum", "Nesterov", "RMSprop", "Adam", "AdamW",
    "OPTIMIZERS", "register_optimizer", "make_optimizer", "minibatch_indices",
    "Trajectory", "train",
]


# ================================================================ activations
@dataclass(frozen=True)
class NumericActivation:
    """The NumPy form of a registered activation.

    * ``function(z, **params)``: ``f(z)`` elementwise.
    * ``derivative(z, **params)``: ``f'(z)`` away from the kink; *at* a kink
      (``z == 0`` for a kinked activation) the network's ``kink_grad`` is used instead.
    * ``breakpoints``: the points where ``f`` or one of its derivatives jumps (ReLU, leaky ReLU
      and ELU: 0; ELU with alpha = 1 is C¹ there but ``f''`` jumps).  Central differences whose
      step straddles one are only first-order accurate; :func:`central_differences` uses
      one-sided formulas there.
    """

    name: str
    function: Callable[..., Array]
    derivative: Callable[..., Array]
    breakpoints: tuple[float, ...] = ()


_ACTIVATIONS: dict[str, NumericActivation] = {}


def register_numeric_activation(
    name: str,
    function: Callable[..., Array],
    derivative: Callable[..., Array],
    *,
    breakpoints: Sequence[float] = (),
    replace: bool = False,
) -> NumericActivation:
    """Give the registered activation ``name`` its NumPy function and derivative.

    Both take a float64 array and the activation's parameters as keyword floats.
    ``breakpoints``: where ``f`` or a derivative of it jumps (piecewise definitions), so
    that finite differences know where a step may straddle a change of formula.
    """
    if name not in registered_activations():
        raise RegistryError(
            f"no activation {name!r} is registered; register it first with symderiv.register_activation"
        )
    if name in _ACTIVATIONS and not replace:
        raise RegistryError(f"activation {name!r} already has a NumPy form; pass replace=True to override it")
    entry = NumericActivation(name, function, derivative, tuple(float(b) for b in breakpoints))
    _ACTIVATIONS[name] = entry
    _bind_activation.cache_clear()
    return entry


def numeric_activations() -> tuple[str, ...]:
    """Names of the registered activations that have a NumPy form, sorted."""
    return tuple(sorted(n for n in _ACTIVATIONS if n in registered_activations()))


@functools.lru_cache(maxsize=None)
def _bind_activation(act: Activation) -> tuple[Callable[[Array], Array], Callable[[Array], Array]]:
    """``(f, f')`` as NumPy functions of ``z`` alone, the kink convention built into ``f'``."""
    entry = _ACTIVATIONS.get(act.name)
    if entry is None:
        raise UnsupportedError(
            f"activation {act.name!r} has no NumPy implementation; add one with "
            f"symderiv.numeric.register_numeric_activation({act.name!r}, f, df)"
        )
    params = {key: float(value) for key, value in act.params}
    f = functools.partial(entry.function, **params)
    df = functools.partial(entry.derivative, **params)
    if not act.is_kinked:
        return f, df
    if act.kink_grad is None:
        raise InternalError(f"the kinked activation {act.name!r} has no f'(0) convention")
    kink = float(act.kink_grad)  # f'(0) is a convention: the one the network states

    def df_with_kink(z: Array) -> Array:
        return np.where(z == 0, kink, df(z))

    return f, df_with_kink


_erf = np.vectorize(math.erf, otypes=[float])


def _phi(z: Array) -> Array:
    """The standard normal CDF, exact erf form."""
    return 0.5 * (1.0 + _erf(z / math.sqrt(2.0)))


# ---------------------------------------------------------------- smooth
register_numeric_activation("identity", lambda z: z, lambda z: np.ones_like(z))
register_numeric_activation("sigmoid", sigmoid, lambda z: sigmoid(z) * (1.0 - sigmoid(z)))
register_numeric_activation("tanh", np.tanh, lambda z: 1.0 - np.tanh(z) ** 2)
register_numeric_activation("softplus", lambda z: np.logaddexp(0.0, z), sigmoid)
register_numeric_activation("silu", lambda z: z * sigmoid(z), lambda z: sigmoid(z) * (1.0 + z * (1.0 - sigmoid(z))))
register_numeric_activation(
    "gelu", lambda z: z * _phi(z), lambda z: _phi(z) + z * np.exp(-0.5 * z**2) / math.sqrt(2.0 * math.pi)
)
# ---------------------------------------------------------------- kinked at 0 (f'(0) from the network)
register_numeric_activation("relu", lambda z: np.maximum(z, 0.0), lambda z: (z > 0).astype(float),
                            breakpoints=(0.0,))
register_numeric_activation(
    "leaky_relu",
    lambda z, slope: np.where(z > 0, z, slope * z),
    lambda z, slope: np.where(z > 0, 1.0, slope),
    breakpoints=(0.0,),
)
register_numeric_activation(
    "elu",
    lambda z, alpha: np.where(z > 0, z, alpha * np.expm1(np.minimum(z, 0.0))),
    lambda z, alpha: np.where(z > 0, 1.0, alpha * np.exp(np.minimum(z, 0.0))),
    breakpoints=(0.0,),  # f'' jumps at 0 even for alpha = 1
)




# ================================================================ parameters and data
def _float(value: sp.Expr, subs: Mapping[sp.Symbol, float], what: str) -> float:
    if isinstance(value, sp.Basic) and value.free_symbols:
        value = value.subs(subs)
        missing = sorted(str(s) for s in value.free_symbols)
        if missing:
            raise InitError(
                f"{what} is {value}, which depends on {', '.join(missing)}; pass values={{{missing[0]!r}: ...}}"
            )
    return float(value)


def params_from_init(
    net: Network,
    init: object,
    *,
    seed: int = 0,
    values: "Mapping[sp.Symbol | str, float] | None" = None,
) -> Params:
    """Concrete float64 parameters for an init accepted by :func:`symderiv.init.resolve_init`.

    * ``zeros()`` / ``constant(c)``: every entry the value (a symbol ``c`` is looked up
      in ``values``, keyed by the symbol or its name).
    * ``generic()``: independent standard normal entries times 1/2, from
      ``numpy.random.default_rng(seed)`` (parameters drawn in ``W1, b1, …`` order).
    * explicit arrays: their exact entries as floats.
    """
    require_concrete(net, "params_from_init")
    subs: dict[sp.Symbol, float] = {}
    names_given = {}
    for key, value in (values or {}).items():
        if isinstance(key, str):
            names_given[key] = float(value)
        elif isinstance(key, sp.Symbol):
            subs[key] = float(value)
        else:
            raise InvalidArgument(f"values must map symbols or their names to numbers, got key {key!r}")
    resolved = resolve_init(net, init)
    for pinit in resolved.values():
        symbols = set()
        if pinit.kind == "uniform" and isinstance(pinit.value, sp.Basic):
            symbols = pinit.value.free_symbols
        elif pinit.kind == "array":
            for v in pinit.exact_array().flat:
                if isinstance(v, sp.Basic):
                    symbols |= v.free_symbols
        for s in symbols:
            if str(s) in names_given:
                subs.setdefault(s, names_given[str(s)])
    rng = np.random.default_rng(seed)
    params: Params = {}
    for name in net.parameter_names():
        pinit = resolved[name]
        shape = tuple(int(n) for n in net.shape(name))
        if pinit.kind == "uniform":
            params[name] = np.full(shape, _float(pinit.value, subs, f"the init of {name}"))
        elif pinit.kind == "generic":
            params[name] = 0.5 * rng.standard_normal(shape)
        else:
            out = np.empty(shape)
            for index in np.ndindex(*shape):
                out[index] = _float(pinit.exact_array()[index], subs, f"{name}{list(index)}")
            params[name] = out
    return params


def random_data(net: Network, batch: int, *, seed: int = 0) -> tuple[Array, Array]:
    """``(X, Y)``: standard normal inputs and labels from the loss's label domain.

    Softmax cross-entropy labels are Dirichlet(1, …, 1) points of the simplex, binary
    cross-entropy labels uniform in [0, 1], squared-error targets standard normal.
    """
    require_concrete(net, "random_data")
    check_argument(
        isinstance(batch, (int, np.integer)) and not isinstance(batch, bool) and batch >= 1,
        "batch must be a positive integer, got {!r}", batch, error=InvalidArgument,
    )
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((int(batch), int(net.sizes[0])))
    Y = numeric_loss_of(net).sample(rng, int(batch), net.n_outputs)
    return X, Y


def _checked_params(net: Network, params: Mapping[str, object]) -> Params:
    names = net.parameter_names()
    check_argument(isinstance(params, Mapping), "params must be a dict such as {{'W1': array, ...}}, got {!r}",
                   type(params).__name__, error=InvalidArgument)
    missing = [n for n in names if n not in params]
    extra = [n for n in params if n not in names]
    if missing or extra:
        raise InvalidArgument(
            f"params must have exactly the keys {', '.join(names)}; "
            + (f"missing {', '.join(missing)}" if missing else f"unexpected {', '.join(map(str, extra))}")
        )
    out: Params = {}
    for name in names:
        try:
            value = np.asarray(params[name], dtype=float)
        except (TypeError, ValueError):
            raise InvalidArgument(f"params[{name!r}] must be an array of numbers") from None
        shape = tuple(int(n) for n in net.shape(name))
        check_argument(value.shape == shape, "params[{!r}] has shape {}, but {} has shape {}",
                       name, value.shape, name, shape, error=InvalidArgument)
        out[name] = value
    return out


def _checked_data(net: Network, X: object, Y: "object | None" = None) -> tuple[Array, "Array | None"]:
    require_concrete(net, "numeric evaluation")
    x = np.asarray(X, dtype=float)
    n0 = int(net.sizes[0])
    check_argument(x.ndim == 2 and x.shape[1] == n0 and x.shape[0] >= 1,
                   "X must have shape (batch, {}), got {}", n0, x.shape, error=InvalidArgument)
    if Y is None:
        return x, None
    y = np.asarray(Y, dtype=float)
    check_argument(y.shape == (x.shape[0], net.n_outputs),
                   "Y must have shape {}, one label row per row of X, got {}",
                   (x.shape[0], net.n_outputs), y.shape, error=InvalidArgument)
    if not (np.all(np.isfinite(x)) and np.all(np.isfinite(y))):
        raise InvalidArgument("X and Y must be finite (no nan or inf entries)")
    reason = numeric_loss_of(net).domain_error(y)
    check_argument(reason is None, "{}", reason, error=InvalidArgument)
    return x, y


def _checked_batch(net: Network, X: object, Y: object) -> tuple[Array, Array]:
    """``(x, y)`` of a batch whose labels are required (the loss and its gradient need them)."""
    if Y is None:
        raise InvalidArgument(f"Y (the labels) is required: shape (batch, {net.n_outputs}), one row per row of X")
    x, y = _checked_data(net, X, Y)
    if y is None:  # not reached: labels given are returned checked
        raise InternalError("labels were given but not returned")
    return x, y


# ================================================================ the network on a batch
def _forward(net: Network, params: Params, X: Array, start: int = 1
             ) -> tuple[dict[int, Array], dict[int, Array]]:
    """``z`` and ``h`` of layers ``start …`` from ``X = h^(start-1)`` (the inputs when ``start = 1``)."""
    L = net.depth
    z: dict[int, Array] = {}
    h: dict[int, Array] = {start - 1: X}
    for l in range(start, L + 1):
        z[l] = h[l - 1] @ params[f"W{l}"].T
        if net.bias:
            z[l] = z[l] + params[f"b{l}"]
        if l < L:
            f, _ = _bind_activation(net.activation_of(l))
            h[l] = f(z[l])
    return z, h


def _loss(net: Network, params: Params, X: Array, Y: Array) -> float:
    z, _ = _forward(net, params, X)
    return float(np.mean(numeric_loss_of(net).value(z[net.depth], Y)))


def _gradients(net: Network, params: Params, X: Array, Y: Array, per_example: bool = False) -> Params:
    L = net.depth
    z, h = _forward(net, params, X)
    delta = numeric_loss_of(net).delta(z[L], Y)  # δ^(L), one row per example
    B = X.shape[0]
    grads: Params = {}
    for l in range(L, 0, -1):
        if per_example:
            grads[f"W{l}"] = delta[:, :, None] * h[l - 1][:, None, :]  # δ^(l) h^(l-1)ᵀ
            if net.bias:
                grads[f"b{l}"] = delta.copy()
        else:
            grads[f"W{l}"] = delta.T @ h[l - 1] / B  # mean over the batch of δ^(l) h^(l-1)ᵀ
            if net.bias:
                grads[f"b{l}"] = delta.mean(axis=0)
        if l > 1:
            _, df = _bind_activation(net.activation_of(l - 1))
            delta = (delta @ params[f"W{l}"]) * df(z[l - 1])  # δ^(l-1) = (W^(l)ᵀ δ^(l)) ⊙ f'(z^(l-1))
    return {name: grads[name] for name in net.parameter_names()}


def forward(net: Network, params: Mapping[str, object], X: object) -> dict:
    """The forward pass on a batch: ``{"z": {l: z^(l)}, "h": {l: h^(l)}, "p": prediction}``.

    ``z[l]`` (``l = 1 … L``) and ``h[l]`` (``l = 0 … L-1``, ``h[0] = X``) have one row per
    example; ``p`` is the loss's prediction (softmax / sigmoid probabilities, or ``z^(L)``).
    """
    x, _ = _checked_data(net, X)
    theta = _checked_params(net, params)
    z, h = _forward(net, theta, x)
    return {"z": z, "h": h, "p": numeric_loss_of(net).prediction(z[net.depth])}


def loss(net: Network, params: Mapping[str, object], X: object, Y: object) -> float:
    """The batch loss: the mean over examples of the per-example loss."""
    x, y = _checked_batch(net, X, Y)
    return _loss(net, _checked_params(net, params), x, y)


def gradients(
    net: Network, params: Mapping[str, object], X: object, Y: object, *, per_example: bool = False
) -> Params:
    """The gradient of the batch loss, by reverse mode with the δ recursion.

    With ``per_example=True`` each array gets a leading batch axis holding the
    per-example gradients (their mean is the batch gradient).
    """
    x, y = _checked_batch(net, X, Y)
    return _gradients(net, _checked_params(net, params), x, y, per_example)


# ================================================================ the check
def finite_differences(
    net: Network, params: Mapping[str, object], X: object, Y: object, *, eps: float = 1e-6
) -> Params:
    """Central differences ``(L(θ + εe_i) − L(θ − εe_i)) / 2ε`` of the batch loss, entry by entry."""
    check_argument(isinstance(eps, (int, float)) and eps > 0, "eps must be a positive number, got {!r}", eps,
                   error=InvalidArgument)
    x, y = _checked_batch(net, X, Y)
    theta = {k: v.copy() for k, v in _checked_params(net, params).items()}
    entries = {name: list(np.ndindex(*theta[name].shape)) for name in net.parameter_names()}
    values = central_differences(net, theta, x, y, entries, eps)
    return {name: values[name].reshape(theta[name].shape) for name in entries}


def _breakpoint_layers(net: Network) -> tuple[tuple[int, tuple[float, ...]], ...]:
    """``(l, breakpoints)`` for each hidden layer whose activation is defined piecewise."""
    out = []
    for l in range(1, net.depth):
        entry = _ACTIVATIONS.get(net.activation_of(l).name)
        if entry is not None and entry.breakpoints:
            out.append((l, entry.breakpoints))
    return tuple(out)


#: float64 numbers one batched finite-difference pass may hold per layer (64 MB)
_FD_CHUNK_NUMBERS = 1 << 23


def _perturbed_losses(net: Network, theta: Params, h: Mapping[int, Array], y: Array, name: str,
                      indices: Sequence[tuple[int, ...]], offsets: Sequence[float],
                      layers: Sequence[tuple[int, tuple[float, ...]]]) -> tuple[Array, Array]:
    """The batch loss with entry ``indices[k]`` of parameter ``name`` moved by ``offsets[o]``, for every
    ``k`` and ``o`` at once: ``(losses (K, O), regions (K, O, n))``, the regions being the signs of the
    piecewise activations' pre-activations from each breakpoint in the layers the entry feeds.

    A parameter of layer ``l`` moves ``z^(l)`` only (``W[i, j]`` by ``offset·h^(l-1)_j`` in row ``i``,
    ``b[i]`` by ``offset``), so every perturbed copy starts from the shared ``h^(l-1)`` and all copies
    run through layers ``l … L`` as one stacked batch: one pass over each weight matrix for the whole
    list, not one per entry (the cost of a wide network's check is its matrix products, not its
    memory traffic)."""
    kind, l = net.parse_name(name)
    L = net.depth
    B = y.shape[0]
    z = h[l - 1] @ theta[f"W{l}"].T
    if net.bias:
        z = z + theta[f"b{l}"]
    K, O = len(indices), len(offsets)
    rows = np.array([ix[0] for ix in indices], dtype=np.int64)
    moved = h[l - 1][:, [ix[1] for ix in indices]].T if kind == "W" else np.ones((K, B))  # (K, B)
    stacked = np.broadcast_to(z, (K, O) + z.shape).copy()
    k_, o_, b_ = np.ix_(np.arange(K), np.arange(O), np.arange(B))
    stacked[k_, o_, b_, rows[:, None, None]] += np.asarray(offsets, dtype=float)[None, :, None] * moved[:, None, :]
    zl = stacked.reshape(K * O * B, -1)
    hl: Array = zl  # h of the layer before (set after layer l)
    signs = []
    breakpoints = dict(layers)
    for m in range(l, L + 1):
        if m > l:
            zl = hl @ theta[f"W{m}"].T
            if net.bias:
                zl = zl + theta[f"b{m}"]
        if m in breakpoints:
            points = np.asarray(breakpoints[m])
            signs.append(np.sign(zl[..., None] - points).reshape(K, O, -1))
        if m < L:
            f, _ = _bind_activation(net.activation_of(m))
            hl = f(zl)
    labels = np.broadcast_to(y, (K, O) + y.shape).reshape(K * O * B, -1)
    losses = numeric_loss_of(net).value(zl, labels).reshape(K, O, B).mean(axis=2)
    regions = np.concatenate(signs, axis=2) if signs else np.zeros((K, O, 0))
    return losses, regions


def _one_sided_ok(centre: Array, near: Array, far: Array) -> bool:
    """Whether the loss is one smooth formula on ``[θ, θ ± 2ε]``: every pre-activation stays on
    one piece (or starts at a breakpoint and leaves it to that piece)."""
    return bool(np.all(near == far) and np.all((centre == near) | (centre == 0)))


def central_differences(net: Network, theta: dict[str, Array], x: Array, y: Array,
                        entries: Mapping[str, Sequence[tuple[int, ...]]], eps: float,
                        step: Callable[[], None] | None = None) -> dict[str, Array]:
    """Central differences ``(L(θ + εe_i) − L(θ − εe_i)) / 2ε`` of the batch loss at the listed
    ``entries`` of each parameter (1-D, in list order); ``theta`` (float arrays, already checked) is
    not modified; ``step`` is called after each entry (progress).  The perturbed copies of one
    parameter run as stacked batches (:func:`_perturbed_losses`).

    Where the step straddles a breakpoint of a piecewise activation (ELU at an exact zero
    pre-activation: C¹, but ``f''`` jumps), the central difference is only first-order accurate.
    There the derivative is taken from the one-sided second-order formulas
    ``±(−3L(θ) + 4L(θ ± ε) − L(θ ± 2ε)) / 2ε`` on each side where the loss is one smooth formula
    (their mean when both are); both equal the derivative wherever the loss is differentiable."""
    layers = _breakpoint_layers(net)
    _, h = _forward(net, theta, x)
    width = max(int(n) for n in net.sizes)
    out: dict[str, Array] = {}
    for name, indices in entries.items():
        indices = list(indices)
        g = np.empty(len(indices))
        chunk = max(1, _FD_CHUNK_NUMBERS // (5 * y.shape[0] * width))
        for lo in range(0, len(indices), chunk):
            part = indices[lo:lo + chunk]
            values, regions = _perturbed_losses(net, theta, h, y, name, part, (0.0, eps, -eps), layers)
            g[lo:lo + len(part)] = (values[:, 1] - values[:, 2]) / (2 * eps)
            for k, index in enumerate(part):
                r_centre, r_up, r_down = regions[k]
                if layers and not (np.all(r_up == r_centre) and np.all(r_down == r_centre) and np.all(r_centre != 0)):
                    (far,), (r_far,) = _perturbed_losses(net, theta, h, y, name, [index], (2 * eps, -2 * eps), layers)
                    centre, up, down = values[k]
                    sides = []
                    if _one_sided_ok(r_centre, r_up, r_far[0]):
                        sides.append((-3 * centre + 4 * up - far[0]) / (2 * eps))
                    if _one_sided_ok(r_centre, r_down, r_far[1]):
                        sides.append((3 * centre - 4 * down + far[1]) / (2 * eps))
                    if sides:
                        g[lo + k] = sum(sides) / len(sides)
                if step is not None:
                    step()
        out[name] = g
    return out


def relative_error(a: object, n: object) -> Array:
    """``|a − n| / max(|a|, |n|)`` elementwise; 0 where both are 0."""
    a_, n_ = np.asarray(a, dtype=float), np.asarray(n, dtype=float)
    scale = np.maximum(np.abs(a_), np.abs(n_))
    diff = np.abs(a_ - n_)
    return np.divide(diff, scale, out=np.zeros(np.broadcast(a_, n_).shape), where=scale > 0)


def at_kink(net: Network, params: Mapping[str, object], X: object, *, eps: float = 1e-4) -> bool:
    """Whether some kinked activation sees a pre-activation within ``eps`` of its kink (0).

    Finite differences are meaningless there: a step of the finite-difference size may
    cross the kink.  ``eps`` should comfortably exceed that step times the scale of the
    inputs.
    """
    x, _ = _checked_data(net, X)
    theta = _checked_params(net, params)
    z, _ = _forward(net, theta, x)
    return any(
        net.activation_of(l).is_kinked and bool(np.any(np.abs(z[l]) <= eps)) for l in range(1, net.depth)
    )


# ================================================================ training (the optimizers: symderiv.numeric_optimizers)


def train(
    net: Network,
    params: Mapping[str, object],
    X: object,
    Y: object,
    *,
    optimizer: str = "sgd",
    steps: int = 5,
    lr: float = 0.1,
    batch_size: "int | None" = None,
    seed: int = 0,
    **opt_kwargs: object,
) -> Trajectory:
    """Train with a registered optimizer on the mean batch loss; returns the trajectory.

    ``batch_size=None`` uses every example at each step; otherwise each step draws
    ``batch_size`` examples (see :func:`minibatch_indices`).  Options such as
    ``momentum``, ``betas``, ``eps`` and ``weight_decay`` go to the optimizer.
    """
    x, y = _checked_batch(net, X, Y)
    theta = _checked_params(net, params)
    opt = make_optimizer(optimizer, lr=lr, **opt_kwargs)
    batches = minibatch_indices(x.shape[0], steps, batch_size, seed)
    history = [{k: v.copy() for k, v in theta.items()}]
    for index in batches:
        xb, yb = (x, y) if index is None else (x[index], y[index])
        theta = opt.step(theta, _gradients(net, theta, xb, yb))
        history.append({k: v.copy() for k, v in theta.items()})
    return Trajectory(history, optimizer, dict(opt.options), batches)
