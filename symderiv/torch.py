"""The PyTorch bridge: networks from ``nn.Sequential`` models, autograd gradients and
``torch.optim`` trajectories to compare with :mod:`symderiv.numeric`.

Imported only when asked for (``import symderiv.torch``); ``import symderiv`` never
imports torch.  Install it with ``pip install 'symderiv[torch]'`` (``torch==2.13.0``).

All computations here run in float64 with PyTorch's own functions (``F.relu``,
``F.cross_entropy``, ``torch.optim.Adam`` …), so they are an implementation
independent of the NumPy reference.
"""
from __future__ import annotations

from typing import Any, Callable, Mapping

from .activations import Activation, activation
from .errors import InternalError, NetworkError, UnsupportedError
from .network import Network, mlp
from .numeric import Params, Trajectory, _checked_batch, _checked_params, make_optimizer, minibatch_indices


class TorchMissingError(UnsupportedError, ImportError):
    """PyTorch is not installed."""


try:
    import torch
    import torch.nn.functional as F
    from torch import nn
except ImportError as exc:  # pragma: no cover - exercised in a subprocess
    raise TorchMissingError(
        "symderiv.torch needs PyTorch, which is not installed: pip install 'symderiv[torch]' (torch==2.13.0)"
    ) from exc

__all__ = ["from_module", "torch_gradients", "torch_trajectory", "TorchMissingError"]

_F64 = torch.float64


# ---------------------------------------------------------------- modules -> activations
def _softplus(m: "nn.Softplus") -> Activation:
    if m.beta != 1 or m.threshold != 20:
        raise UnsupportedError(f"Softplus(beta={m.beta}, threshold={m.threshold}) is not supported; "
                               "only the default Softplus() (beta=1, threshold=20)")
    return activation("softplus")


def _gelu(m: "nn.GELU") -> Activation:
    if m.approximate != "none":
        raise UnsupportedError(f"GELU(approximate={m.approximate!r}) is not supported; only the exact GELU()")
    return activation("gelu")


#: module class -> the activation it computes (exact class match: a subclass may compute something else);
#: each reader takes a module of its own key's class (Any: a dict cannot tie a value's type to its key)
_MODULES: dict[type, Callable[[Any], Activation]] = {
    nn.ReLU: lambda m: activation("relu"),
    nn.LeakyReLU: lambda m: activation("leaky_relu", slope=m.negative_slope),
    nn.Tanh: lambda m: activation("tanh"),
    nn.Sigmoid: lambda m: activation("sigmoid"),
    nn.Softplus: _softplus,
    nn.ELU: lambda m: activation("elu", alpha=m.alpha),
    nn.SiLU: lambda m: activation("silu"),
    nn.GELU: _gelu,
    nn.Identity: lambda m: activation("identity"),
}
_SUPPORTED = "Linear, " + ", ".join(c.__name__ for c in _MODULES)

# ---------------------------------------------------------------- activations in torch
#: activation name -> torch function of (z, **params); f'(0) of the kinked ones is torch's.
_TORCH_ACTIVATIONS: dict[str, Callable[..., "torch.Tensor"]] = {
    "identity": lambda z: z,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,
    "silu": F.silu,
    "gelu": F.gelu,
    "relu": F.relu,
    "leaky_relu": lambda z, slope: F.leaky_relu(z, slope),
    "elu": lambda z, alpha: F.elu(z, alpha),
}
#: f'(0) as torch's autograd computes it, for the kinked activations.
_TORCH_KINK_GRAD: dict[str, Callable[..., float]] = {
    "relu": lambda: 0.0,
    "leaky_relu": lambda slope: slope,
    "elu": lambda alpha: alpha,
}


def _torch_activation(act: Activation) -> Callable[["torch.Tensor"], "torch.Tensor"]:
    fn = _TORCH_ACTIVATIONS.get(act.name)
    if fn is None:
        raise UnsupportedError(f"activation {act.name!r} has no PyTorch counterpart in symderiv.torch")
    params = {k: float(v) for k, v in act.params}
    kink = act.kink_grad
    if act.is_kinked:
        if kink is None:
            raise InternalError(f"the kinked activation {act.name!r} has no f'(0) convention")
        if float(kink) != _TORCH_KINK_GRAD[act.name](**params):
            raise UnsupportedError(
                f"{act.describe()} differs from PyTorch, whose autograd uses f'(0) = "
                f"{_TORCH_KINK_GRAD[act.name](**params)}; compare with the default kink_grad"
            )
    return lambda z: fn(z, **params)


def _torch_loss_fn(net: Network) -> Callable[["torch.Tensor", "torch.Tensor"], "torch.Tensor"]:
    """The mean batch loss, written with torch's own loss functions."""
    name = net.loss.name
    if name == "softmax_cross_entropy":
        return lambda z, y: F.cross_entropy(z, y)  # probabilities as targets
    if name == "sigmoid_binary_cross_entropy":
        return lambda z, y: F.binary_cross_entropy_with_logits(z, y, reduction="none").sum(dim=1).mean()
    if name == "mean_squared_error":
        return lambda z, y: F.mse_loss(z, y)  # mean over examples and outputs
    raise UnsupportedError(f"loss {name!r} has no PyTorch counterpart in symderiv.torch")


# ---------------------------------------------------------------- from_module
def from_module(model: "nn.Module", *, loss: str = "softmax_cross_entropy") -> tuple[Network, Params]:
    """The :class:`~symderiv.network.Network` and float64 parameters of a PyTorch MLP.

    ``model`` is an ``nn.Sequential`` of ``nn.Linear`` layers with at most one supported
    activation module between two of them (none means the identity); a single
    ``nn.Linear`` is softmax regression.  ``loss`` names the loss applied to the outputs
    of the last Linear.  The parameters, a dict ``{"W1": …, "b1": …}``, are also an init:
    ``resolve_init(net, params)`` reads each float as the exact rational it is.
    """
    modules: list[nn.Module]
    if isinstance(model, nn.Linear):
        modules = [model]
    elif isinstance(model, nn.Sequential):
        modules = list(model)
    else:
        raise UnsupportedError(
            f"from_module needs an nn.Sequential (or a single nn.Linear), got {type(model).__name__}"
        )
    linears: list[nn.Linear] = []
    acts: list[Activation] = []
    pending: "tuple[int, Activation] | None" = None
    for position, module in enumerate(modules):
        if type(module) is nn.Linear:
            if linears:
                acts.append(pending[1] if pending else activation("identity"))
            linears.append(module)
            pending = None
        elif type(module) in _MODULES:
            if not linears:
                raise UnsupportedError(
                    f"module {position} ({type(module).__name__}) comes before the first Linear layer; "
                    "the model must start with nn.Linear"
                )
            if type(module) is nn.Identity:
                continue
            if pending is not None:
                raise UnsupportedError(
                    f"modules {pending[0]} and {position} are two activations in a row "
                    f"({pending[1].name}, {type(module).__name__}); symderiv supports one between two Linear layers"
                )
            pending = (position, _MODULES[type(module)](module))
        else:
            raise UnsupportedError(
                f"module {position} ({type(module).__name__}) is not supported; supported modules: {_SUPPORTED}"
            )
    if not linears:
        raise UnsupportedError("the model has no nn.Linear layer")
    if pending is not None:
        raise UnsupportedError(
            f"module {pending[0]} ({pending[1].name}) follows the last Linear layer; the loss applies to the "
            "last Linear's outputs (softmax / sigmoid belong to the loss): remove it"
        )
    for l in range(1, len(linears)):
        if linears[l].in_features != linears[l - 1].out_features:
            raise NetworkError(
                f"Linear layer {l + 1} takes {linears[l].in_features} inputs but layer {l} gives "
                f"{linears[l - 1].out_features}"
            )
    has_bias = [m.bias is not None for m in linears]
    if len(set(has_bias)) > 1:
        with_ = ", ".join(str(i + 1) for i, b in enumerate(has_bias) if b)
        without = ", ".join(str(i + 1) for i, b in enumerate(has_bias) if not b)
        raise NetworkError(
            f"every Linear layer must have a bias or none must: layers {with_} have one, layers {without} do not"
        )
    sizes = [linears[0].in_features] + [m.out_features for m in linears]
    net = mlp(sizes, acts, loss, has_bias[0])
    params: Params = {}
    for l, m in enumerate(linears, start=1):
        params[f"W{l}"] = m.weight.detach().to(_F64).cpu().numpy().copy()
        if net.bias:
            params[f"b{l}"] = m.bias.detach().to(_F64).cpu().numpy().copy()
    return net, params


# ---------------------------------------------------------------- autograd
def _tensors(params: Params) -> dict[str, "torch.Tensor"]:
    return {k: torch.tensor(v, dtype=_F64, requires_grad=True) for k, v in params.items()}


def _batch_loss(net: Network, theta: Mapping[str, "torch.Tensor"], X: "torch.Tensor", Y: "torch.Tensor"):
    h = X
    for l in range(1, net.depth + 1):
        z = h @ theta[f"W{l}"].T
        if net.bias:
            z = z + theta[f"b{l}"]
        if l < net.depth:
            h = _torch_activation(net.activation_of(l))(z)
    return _torch_loss_fn(net)(z, Y)


def torch_gradients(net: Network, params: Mapping[str, object], X: object, Y: object) -> Params:
    """The gradient of the mean batch loss by torch autograd in float64 (cf. ``numeric.gradients``)."""
    x, y = _checked_batch(net, X, Y)
    theta = _tensors(_checked_params(net, params))
    _batch_loss(net, theta, torch.from_numpy(x), torch.from_numpy(y)).backward()
    return {k: _grad_of(k, t).numpy().copy() for k, t in theta.items()}


def _grad_of(name: str, t: "torch.Tensor") -> "torch.Tensor":
    """The gradient autograd left on ``t`` (every parameter reaches the loss, so there is one)."""
    if t.grad is None:
        raise InternalError(f"torch autograd left no gradient on {name}")
    return t.grad


# ---------------------------------------------------------------- torch.optim
def _torch_optimizer(name: str, tensors: list, o: dict) -> "torch.optim.Optimizer":
    if name in ("sgd", "momentum", "nesterov"):
        return torch.optim.SGD(tensors, lr=o["lr"], momentum=o["momentum"], dampening=o["dampening"],
                               weight_decay=o["weight_decay"], nesterov=o["nesterov"])
    if name == "rmsprop":
        return torch.optim.RMSprop(tensors, lr=o["lr"], alpha=o["alpha"], eps=o["eps"],
                                   weight_decay=o["weight_decay"], momentum=o["momentum"], centered=o["centered"])
    if name in ("adam", "adamw"):
        cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
        return cls(tensors, lr=o["lr"], betas=o["betas"], eps=o["eps"], weight_decay=o["weight_decay"],
                   amsgrad=o["amsgrad"])
    raise UnsupportedError(f"optimizer {name!r} has no torch.optim counterpart in symderiv.torch")


def torch_trajectory(
    net: Network,
    params: Mapping[str, object],
    X: object,
    Y: object,
    *,
    optimizer: str,
    steps: int,
    lr: float,
    batch_size: "int | None" = None,
    seed: int = 0,
    **kw: object,
) -> Trajectory:
    """Train with ``torch.optim`` in float64; the same options, defaults and minibatches as
    :func:`symderiv.numeric.train`, so the two trajectories can be compared step by step."""
    x, y = _checked_batch(net, X, Y)
    theta = _tensors(_checked_params(net, params))
    options = make_optimizer(optimizer, lr=lr, **kw).options  # checks and completes the options
    opt = _torch_optimizer(optimizer, list(theta.values()), options)
    batches = minibatch_indices(x.shape[0], steps, batch_size, seed)
    X_t, Y_t = torch.from_numpy(x), torch.from_numpy(y)
    history = [{k: t.detach().numpy().copy() for k, t in theta.items()}]
    for index in batches:
        opt.zero_grad()
        xb, yb = (X_t, Y_t) if index is None else (X_t[torch.from_numpy(index)], Y_t[torch.from_numpy(index)])
        _batch_loss(net, theta, xb, yb).backward()
        opt.step()
        history.append({k: t.detach().numpy().copy() for k, t in theta.items()})
    return Trajectory(history, optimizer, dict(options), batches)
