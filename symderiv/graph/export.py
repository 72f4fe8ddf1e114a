"""PyTorch modules -> :class:`~symderiv.graph.ir.Graph`, through ``torch.export`` and Core ATen.

The module (a float64 copy) is traced with ``torch.export.export(module, args, kwargs, strict=False)``
and decomposed with ``ep.run_decompositions()``: Python control flow, ``len``, ``torch.finfo``, dtype
checks and keyword arguments are resolved by PyTorch at the given shapes, and what remains is a graph
over the Core ATen opset.  Each ATen node is converted by its rule in :data:`symderiv.graph.aten.ATEN`
(one entry per op); a node without a rule is refused in one line naming the op, the library file and
line (``node.meta["stack_trace"]``) and the module path (``node.meta["nn_module_stack"]``).

**Values.**  A converted node is one of: a graph node (:class:`Sym`: depends on the example or on a
parameter), a constant tensor (a buffer, or a subgraph that depends only on constants: attention
masks, position ids, rotary tables, ``arange``, comparisons, ``cumsum`` ... - *folded* by running
the ATen op itself with torch on the float64 copy, so every constant is exactly the value the
float64 module computes; it enters the graph as exact rationals of those floats), a token input
(:class:`Tokens`: integer ids, only ever used as embedding indices), or a plain Python value.

**Parameters.**  Keyed by ``named_parameters()`` names (a tied weight, GPT-2's ``lm_head``/``wte``, is
one parameter); ``requires_grad=False`` makes one frozen (a constant of the graph with its init
values); buffers are constants.

**Batch axis.**  The module is traced at batch size 1 and the graph keeps PyTorch's shapes, with the
size-1 batch axis; the example (``input_shape``, without batch axis) is reshaped onto it and the
output's batch axis is dropped before the loss.  That the module treats the examples of a batch
independently is checked numerically (batch 2 against two batches of 1); a module that mixes them
(BatchNorm in training mode) is refused.

**Outputs.**  A tensor; a tuple or list: its first tensor; a ``transformers`` ``ModelOutput`` (or a
dict): ``logits`` if present, else ``last_hidden_state``, else its first tensor; ``output=`` (a key
or an index) chooses another.

**Integer inputs** (token ids) are data: see :mod:`symderiv.graph.tokens`.

**Adding an op.**  Write ``rule(cx, *args, **kwargs)`` in :mod:`symderiv.graph.aten` (or your own
module) and register it with ``@aten_rule("aten.my_op.default")``; ``args`` are converted values
(:class:`Sym`, tensors, Python values).  Emit graph ops with ``cx.emit(op, [cx.node(a), ...],
**attrs)`` (the op's forward and VJP registered in :mod:`symderiv.graph.ops` with ``defop``/``defvjp``),
read shapes with ``cx.shape(a)`` and PyTorch's output shape with ``cx.out_shape``, refuse with
``raise cx.unsupported("what")``.  Ops on constants need no rule: they are folded.  Then add the op to
``tests/test_export_ops.py`` (the engine against autograd).
"""
from __future__ import annotations

import contextlib
import copy
import inspect
import io
import re
import warnings
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import sympy as sp

from ..errors import NetworkError, UnsupportedError
from .ir import Graph
from .tokens import TokenShape, tokens

try:
    import torch
    from torch import nn
    from torch.utils import _pytree as pytree
except ImportError as exc:  # pragma: no cover
    raise UnsupportedError("symderiv.graph.export needs PyTorch: pip install 'symderiv[torch]'") from exc

__all__ = ["graph_from_export", "tokens", "Sym", "Tokens", "Convert", "ModuleCall", "aten_rule", "ATEN"]


# ---------------------------------------------------------------- input specs


@dataclass
class InputSpec:
    name: str | None  # a keyword argument of forward, or None (positional)
    shape: tuple[int, ...]
    integer: bool


def _is_shape(s: Any) -> bool:
    return isinstance(s, (tuple, list)) and bool(s) and \
        all(isinstance(n, int) and not isinstance(n, bool) and n > 0 for n in s)


def _spec(name: str | None, s: Any) -> InputSpec:
    integer = isinstance(s, TokenShape)
    if isinstance(s, tuple) and len(s) == 2 and _is_shape(s[0]) and isinstance(s[1], torch.dtype):
        integer, s = not s[1].is_floating_point, s[0]
    if not _is_shape(s):
        raise NetworkError("an input shape must be a tuple of positive ints (one example, without the batch axis), "
                           f"tokens(...) for token ids, or (shape, dtype); got {s!r}")
    return InputSpec(name, tuple(int(n) for n in s), integer)


def input_specs(input_shape: Any) -> list[InputSpec]:
    """``(3, 4)`` -> one positional input; ``[(3, 4), (4,)]`` -> one per positional argument; a dict
    ``{"input_ids": tokens(4)}`` -> keyword inputs."""
    if isinstance(input_shape, dict) and input_shape:
        return [_spec(str(k), v) for k, v in input_shape.items()]
    if _is_shape(input_shape) or isinstance(input_shape, TokenShape):
        return [_spec(None, input_shape)]
    if isinstance(input_shape, (tuple, list)) and len(input_shape) == 2 and isinstance(input_shape[1], torch.dtype):
        return [_spec(None, tuple(input_shape))]
    if isinstance(input_shape, (tuple, list)) and input_shape:
        return [_spec(None, s) for s in input_shape]
    raise NetworkError("input_shape must be a tuple of positive ints (one example, without the batch axis), a list "
                       "of such tuples (one per argument of forward), or a dict keyword -> shape (tokens(...) for "
                       f"token ids); got {input_shape!r}")


# ---------------------------------------------------------------- how the module is called (replay uses it)
@dataclass
class ModuleCall:
    """The analysed call: inputs (positional, then keyword), fixed keyword arguments, which output."""

    inputs: list[InputSpec]
    kwargs: dict[str, Any]
    output: Any  # index into the output's tensor leaves
    vocab: dict[int, int] = field(default_factory=dict)  # input index -> vocabulary (token inputs)

    def random_inputs(self, batch: int, gen: "torch.Generator") -> tuple:
        """One random batch of inputs, in order (token ids uniform over the vocabulary)."""
        out = []
        for k, spec in enumerate(self.inputs):
            shape = (batch,) + spec.shape
            if spec.integer:
                out.append(torch.randint(0, self.vocab.get(k, 1), shape, generator=gen))
            else:
                out.append(torch.randn(shape, generator=gen, dtype=torch.float64))
        return tuple(out)

    def __call__(self, module: "nn.Module", inputs: Sequence["torch.Tensor"]) -> "torch.Tensor":
        args = [x for s, x in zip(self.inputs, inputs) if s.name is None]
        kwargs = {s.name: x for s, x in zip(self.inputs, inputs) if s.name is not None}
        return select_output(module(*args, **kwargs, **self.kwargs), self.output)

    def data_arrays(self, inputs: Sequence["torch.Tensor"], b: int) -> list[np.ndarray]:
        """Example ``b`` of a batch as the graph's data (one-hot rows for token inputs)."""
        from .tokens import one_hot

        out = []
        for k, x in enumerate(inputs):
            arr = x[b].detach().numpy()
            out.append(one_hot(arr, self.vocab[k]) if k in self.vocab else arr.astype(np.float64))
        return out

    def from_data(self, arrays: Sequence[np.ndarray], batch: int = 1) -> tuple:
        """A batch of ``batch`` examples (one, or a batch graph's whole batch) from the graph's data arrays
        (ids from one-hot rows)."""
        from .tokens import ids_of

        out = []
        for k, a in enumerate(arrays):
            if k in self.vocab:
                out.append(torch.from_numpy(ids_of(a)).reshape((batch,) + self.inputs[k].shape))
            else:
                out.append(torch.tensor(np.asarray(a, dtype=np.float64)).reshape((batch,) + self.inputs[k].shape))
        return tuple(out)


_PREFERRED = ("logits", "last_hidden_state")


def output_index(out: Any, output: Any = None) -> int:
    """Which tensor leaf of a forward's result is the analysed output (module docstring)."""
    leaves = [x for x in pytree.tree_leaves(out) if isinstance(x, torch.Tensor)]
    if not leaves:
        raise NetworkError("the module's forward returns no tensor")
    chosen: Any = None
    if output is not None:
        try:
            chosen = out[output]
        except (KeyError, IndexError, TypeError):
            raise NetworkError(f"output={output!r}: the module's result has no such key or index") from None
    elif isinstance(out, dict) or hasattr(out, "keys"):
        chosen = next((out[k] for k in _PREFERRED if k in out.keys() and out[k] is not None), leaves[0])
    else:
        chosen = leaves[0]
    idx = next((i for i, t in enumerate(leaves) if t is chosen), None)
    if idx is None:
        raise NetworkError(f"the chosen output ({type(chosen).__name__}) is not one tensor")
    return idx


def select_output(out: Any, index: int) -> "torch.Tensor":
    return [x for x in pytree.tree_leaves(out) if isinstance(x, torch.Tensor)][index]


# ---------------------------------------------------------------- converted values
@dataclass
class Sym:
    """A graph node; ``neg_inf`` marks entries that are ``-inf`` (an additive attention mask) - only
    softmax, shape ops and the comparison ``== -inf`` accept such a value."""

    id: int
    neg_inf: "torch.Tensor | None" = None


@dataclass
class Tokens:
    """Token ids of input ``index``: ``pos`` holds, per entry, the flat position in the example."""

    index: int
    pos: "torch.Tensor"


Rule = Callable[..., Any]
#: ATen op (``str(node.target)``, e.g. ``"aten.add.Tensor"``) -> rule (filled by :mod:`symderiv.graph.aten`)
ATEN: dict[str, Rule] = {}


def aten_rule(*names: str) -> Callable[[Rule], Rule]:
    """Register ``rule(cx, *args, **kwargs)`` for the ATen ops ``names`` (module docstring)."""
    def register(rule: Rule) -> Rule:
        for name in names:
            ATEN[name] = rule
        return rule
    return register


def exact(v: Any) -> sp.Expr:
    """An exact SymPy number from a Python/torch scalar (floats as the rationals they are)."""
    if isinstance(v, torch.Tensor):
        v = v.item()
    if isinstance(v, bool):
        return sp.Integer(int(v))
    if isinstance(v, int):
        return sp.Integer(v)
    if isinstance(v, float):
        if not np.isfinite(v):
            raise UnsupportedError(f"the non-finite constant {v}")
        return sp.Rational(v)
    raise UnsupportedError(f"the constant {v!r}")


class Convert:
    """The state of one conversion (the ``cx`` of the rules)."""

    def __init__(self, graph: Graph) -> None:
        self.graph = graph
        self.node: "torch.fx.Node | None" = None
        self._consts: dict[int, int] = {}

    # -------------------------------------------------------- for the rules
    @property
    def out_shape(self) -> tuple[int, ...]:
        """PyTorch's shape of the current node's (first) output."""
        val = self.node.meta.get("val") if self.node is not None else None
        if isinstance(val, (list, tuple)):
            val = val[0]
        if val is None:
            raise self.unsupported("a node without PyTorch's shape")
        return tuple(int(n) for n in val.shape)

    def shape(self, v: Any) -> tuple[int, ...]:
        if isinstance(v, Sym):
            return self.graph.nodes[v.id].shape
        if isinstance(v, torch.Tensor):
            return tuple(v.shape)
        if isinstance(v, Tokens):
            return tuple(v.pos.shape)
        raise self.unsupported(f"a non-tensor operand {v!r}")

    def node_of(self, v: Any) -> int:
        """The graph node of a value: a :class:`Sym`'s node, or a constant tensor as a ``const`` node."""
        if isinstance(v, Sym):
            if v.neg_inf is not None:
                raise self.unsupported("a value with -inf entries (an attention mask) outside softmax")
            return v.id
        if isinstance(v, (int, float, bool)):
            v = torch.tensor(v, dtype=torch.float64)
        if isinstance(v, torch.Tensor):
            key = id(v)
            if key not in self._consts:
                self._consts[key] = self.graph.op("const", [], where=self.where, value=constant_array(v))
                self._keep.append(v)  # the id stays unique while the conversion runs
            return self._consts[key]
        if isinstance(v, Tokens):
            raise self.unsupported("token ids used other than as embedding indices")
        raise self.unsupported(f"a non-tensor operand {v!r}")

    _keep: list = []

    def emit(self, op: str, inputs: Sequence[int | None], **attrs: Any) -> Sym:
        nid = self.graph.op(op, list(inputs), where=self.where, **attrs)
        return Sym(nid)

    def reshape(self, v: Any, shape: Sequence[int]) -> Sym:
        nid = self.node_of(v)
        if self.graph.nodes[nid].shape == tuple(shape):
            return Sym(nid)
        return self.emit("rearrange", [nid], kind="reshape", shape=tuple(int(n) for n in shape))

    @property
    def where(self) -> str:
        return self.node.name if self.node is not None else ""

    def unsupported(self, what: str) -> UnsupportedError:
        return UnsupportedError(f"{what} at {self.location()} is not supported by symderiv.graph")

    def location(self) -> str:
        """``aten.op (file:line, module path)`` of the current node."""
        n = self.node
        if n is None:
            return "?"
        return node_location(n)


def node_location(n: "torch.fx.Node") -> str:
    op = str(n.target) if n.op == "call_function" else n.op
    frames = re.findall(r'File "([^"]+)", line (\d+)', n.meta.get("stack_trace") or "")
    where = f"{_short(frames[-1][0])}:{frames[-1][1]}" if frames else "no source line"
    stack = n.meta.get("nn_module_stack") or {}
    path, cls = "", ""
    if stack:
        last = list(stack.values())[-1]
        path, cls = (last[0], str(last[1]).rsplit(".", 1)[-1]) if isinstance(last, tuple) else (str(last), "")
    return f"{op} ({where}, module {path or '<top>'!s}{f' ({cls})' if cls else ''})"


def _short(path: str) -> str:
    """A library path from its package on (``transformers/models/gpt2/modeling_gpt2.py``)."""
    m = re.search(r"(?:site-packages|dist-packages)/(.+)$", path)
    return m.group(1) if m else path


def constant_array(t: "torch.Tensor") -> np.ndarray:
    """A constant tensor as an object array of exact SymPy numbers."""
    arr = t.detach().cpu()
    if arr.dtype == torch.bool:
        arr = arr.to(torch.int64)
    flat = arr.reshape(-1).tolist()
    if arr.is_floating_point() and not all(np.isfinite(flat)):
        raise UnsupportedError("a constant tensor with inf or nan entries used outside an attention mask")
    out = np.empty(len(flat), dtype=object)
    cache: dict[Any, sp.Expr] = {}
    for i, v in enumerate(flat):
        if v not in cache:
            cache[v] = exact(v)
        out[i] = cache[v]
    return out.reshape(tuple(arr.shape))


# ---------------------------------------------------------------- the conversion
_RANDOM = "nondeterministic_seeded"
_SKIP = {"aten._assert_tensor_metadata.default", "aten._assert_scalar.default", "aten.sym_constrain_range_for_size.default",
         "aten._assert_async.msg"}


def _has(values: Any, kind: type) -> bool:
    return any(isinstance(v, kind) for v in pytree.tree_leaves(values))


def _fold(target: Any, args: tuple, kwargs: dict) -> Any:
    with torch.no_grad():
        return target(*args, **kwargs)


def convert_node(cx: Convert, node: "torch.fx.Node", env: dict[str, Any]) -> Any:
    """The converted value of one ``call_function`` node."""
    args = pytree.tree_map(lambda a: env[a.name] if isinstance(a, torch.fx.Node) else a, node.args)
    kwargs = pytree.tree_map(lambda a: env[a.name] if isinstance(a, torch.fx.Node) else a, dict(node.kwargs))
    name = str(node.target)
    if name in _SKIP:
        return None
    tags = [str(t).rsplit(".", 1)[-1] for t in getattr(node.target, "tags", ())]
    if _RANDOM in tags:
        raise cx.unsupported("a random op (dropout or noise in training mode: call .eval(), or set its p to 0)")
    if node.target is _getitem:  # a tuple's item (split, layer norm): plain Python
        return args[0][args[1]]
    if not _has((args, kwargs), Sym) and not _has((args, kwargs), Tokens):
        return _fold(node.target, args, kwargs)
    rule = ATEN.get(name)
    if rule is None:  # "the op aten.abs.default (file:line, module path)": the location names the op itself
        raise UnsupportedError(f"the op {cx.location()} is not supported by symderiv.graph (no rule in "
                               "symderiv.graph.aten)")
    return rule(cx, *args, **kwargs)


import operator  # noqa: E402

_getitem = operator.getitem


def _example(spec: InputSpec, batch: int) -> "torch.Tensor":
    shape = (batch,) + spec.shape
    if spec.integer:
        return torch.zeros(shape, dtype=torch.long)
    return torch.zeros(shape, dtype=torch.float64)


def _call_args(specs: list[InputSpec], xs: Sequence["torch.Tensor"]) -> tuple[tuple, dict]:
    args = tuple(x for s, x in zip(specs, xs) if s.name is None)
    kwargs = {s.name: x for s, x in zip(specs, xs) if s.name is not None}
    return args, kwargs


def _check_forward_arguments(module: "nn.Module", specs: list[InputSpec]) -> None:
    try:
        sig = inspect.signature(module.forward)
    except (TypeError, ValueError):
        return
    positional = [p for p in sig.parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    given = sum(s.name is None for s in specs)
    required = [p.name for p in positional if p.default is p.empty]
    varargs = any(p.kind == p.VAR_POSITIONAL for p in sig.parameters.values())
    if given and not varargs and (given < len(required) or given > len(positional)):
        defaulted = len(positional) - len(required)
        raise NetworkError(f"{type(module).__name__}.forward takes {len(required)} input(s) ({', '.join(required)}) "
                           + (f"and {defaulted} with a default " if defaulted else "") + f"but input_shape gives {given} shape(s): give one shape per input, in order, e.g. "
                           "input_shape=[(3, 4), (4,)]")


#: ops kept whole (their Core ATen decomposition branches on the data: softplus's linear region above its threshold
#: is a ``where`` on a computed condition); each has a rule in :mod:`.aten`
KEPT_WHOLE = ("softplus",)


def _decompositions() -> dict:
    table = torch.export.default_decompositions()
    for name in KEPT_WHOLE:
        table.pop(getattr(torch.ops.aten, name).default, None)
    return table


def _batch_statistics(m: "nn.Module") -> bool:
    """A BatchNorm that normalizes with the batch's statistics (training mode, or no running statistics)."""
    return isinstance(m, torch.nn.modules.batchnorm._BatchNorm) and (m.training or m.running_mean is None)


def export_program(module: "nn.Module", specs: list[InputSpec], forward_kwargs: dict[str, Any], output: Any = None,
                   batch: int = 1):
    """``(float64 copy, exported program decomposed to Core ATen, output index)``, traced at batch size ``batch``."""
    if not isinstance(module, nn.Module):
        raise NetworkError(f"expected a torch.nn.Module, got {type(module).__name__}")
    _check_forward_arguments(module, specs)
    model = copy.deepcopy(module).double()
    args, kwargs = _call_args(specs, [_example(s, batch) for s in specs])
    kwargs.update(forward_kwargs)
    try:
        with torch.no_grad():
            out = model(*args, **kwargs)  # the module's own error first
    except Exception as exc:
        first = " ".join(str(exc).split())[:200]
        # a train-mode BatchNorm cannot see one example alone: say how to analyse it on whole batches
        hint = ("; a module that couples the examples of a batch (BatchNorm in training mode, or without running "
                "statistics) is analysed on whole batches: pass batch_size=B (command line --batch-size B), or call "
                ".eval() for frozen statistics"
                if batch == 1 and any(_batch_statistics(m) for m in module.modules()) else "")
        raise NetworkError(f"{type(module).__name__} fails on inputs of shape "
                           f"{', '.join(str((batch,) + s.shape) for s in specs)}: {type(exc).__name__}: {first}{hint}") from exc
    index = output_index(out, output)
    try:
        with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
            warnings.simplefilter("ignore")
            ep = torch.export.export(model, args, kwargs, strict=False)
            ep = ep.run_decompositions(_decompositions())
    except Exception as exc:
        first = " ".join(str(exc).split())[:240]
        raise UnsupportedError(f"torch.export could not trace {type(module).__name__}: {type(exc).__name__}: "
                               f"{first}") from exc
    return model, ep, index


#: the largest ``batch_size``: every example of the batch is traced (and its entries are symbols)
MAX_BATCH_SIZE = 1024


def graph_from_export(module: "nn.Module", input_shape: Any, loss: str, *, forward_kwargs: dict | None = None,
                      output: Any = None, batch_size: int | None = None) -> Graph:
    """The :class:`Graph` of ``module`` on one example (module docstring); ``graph.call`` (a
    :class:`ModuleCall`) says how the module is called, for the faces that run it.

    ``batch_size=B``: the graph's example is a whole batch of ``B`` examples (its inputs keep the batch axis, its
    loss is the batch's loss, ``graph.batch_size = B``), for modules that couple the examples of a batch
    (BatchNorm in training mode); the theorem then covers every dataset at that batch size."""
    from . import aten  # noqa: F401  (fills ATEN)
    from . import aten_vision  # noqa: F401  (convolution, pooling, batch and group norm)

    if batch_size is not None and (isinstance(batch_size, bool) or not isinstance(batch_size, int)
                                   or not 1 <= batch_size <= MAX_BATCH_SIZE):
        raise NetworkError(f"batch_size must be a positive int of at most {MAX_BATCH_SIZE} (the batch the theorem is "
                           f"about), got {batch_size!r}")
    if forward_kwargs is not None and not (isinstance(forward_kwargs, dict)
                                           and all(isinstance(k, str) and k.isidentifier() for k in forward_kwargs)):
        raise NetworkError(f"forward_kwargs must be a dict of forward's keyword arguments such as {{'use_cache': False}}, "
                           f"got {type(forward_kwargs).__name__}")
    specs = input_specs(input_shape)
    fixed = dict(forward_kwargs or {})
    model, ep, out_index = export_program(module, specs, fixed, output, batch=batch_size or 1)
    graph = Graph()
    graph.batch_size = batch_size  # type: ignore[attr-defined]
    lead = () if batch_size is None else (batch_size,)
    canonical = {id(p): n for n, p in model.named_parameters()}
    trainable = {n: bool(p.requires_grad) for n, p in module.named_parameters()}
    for name, p in model.named_parameters():
        graph.param(name, tuple(p.shape), trainable=trainable.get(name, True), init=p.detach().numpy())
    cx = Convert(graph)
    cx._keep = []
    env: dict[str, Any] = {}
    sig = ep.graph_signature
    kinds = {s.arg.name: s for s in sig.input_specs}
    inputs = _user_inputs(ep, specs)
    vocab = _vocabularies(ep, inputs)
    for name, k in sorted(inputs.items(), key=lambda item: item[1]):
        s = specs[k]
        if s.integer and name not in vocab:
            raise UnsupportedError(f"the integer input {name} is not used as embedding indices (token ids are "
                                   "supported as embedding indices only)")
        nid = graph.input(lead + s.shape + ((vocab[name],) if name in vocab else ()))
        if name in vocab:
            graph.nodes[nid].attrs["vocab"] = vocab[name]
    call = ModuleCall(specs, fixed, out_index)
    outputs: list[Any] = []
    for node in ep.graph.nodes:
        cx.node = node
        if node.op == "placeholder":
            env[node.name] = _placeholder(cx, ep, model, canonical, kinds[node.name], inputs, vocab)
        elif node.op == "call_function":
            env[node.name] = convert_node(cx, node, env)
        elif node.op == "output":
            outputs = [env[a.name] if isinstance(a, torch.fx.Node) else a for a in pytree.tree_leaves(node.args[0])]
    user_outputs = [o for o, s in zip(outputs, sig.output_specs) if s.kind.name == "USER_OUTPUT"]
    tensors = [o for o in user_outputs if isinstance(o, (Sym, torch.Tensor))]
    if out_index >= len(tensors) or not isinstance(tensors[out_index], Sym):
        raise UnsupportedError(f"{type(module).__name__}: the chosen output does not depend on the input or the "
                               "parameters")
    out = tensors[out_index]
    shape = graph.nodes[out.id].shape
    if not shape or shape[0] != (batch_size or 1) or len(shape) < 2:
        raise UnsupportedError(f"{type(module).__name__}: the output of shape {shape} at batch size {batch_size or 1} "
                               "does not keep the batch axis first")
    graph.set_loss(out.id if batch_size else cx.reshape(out, shape[1:]).id, loss)
    from .tokens import token_inputs

    call.vocab = token_inputs(graph)
    graph.call = call  # type: ignore[attr-defined]
    graph.aten_ops = sorted({str(n.target) for n in ep.graph.nodes if n.op == "call_function"})  # type: ignore[attr-defined]
    if batch_size is None:
        _check_independent_examples(model, call, type(module).__name__)
    return graph


def _placeholder(cx: Convert, ep: Any, model: "nn.Module", canonical: dict[int, str], spec: Any,
                 inputs: dict[str, int], vocab: dict[str, int]) -> Any:
    kind = spec.kind.name
    if kind == "PARAMETER":
        p = model.get_parameter(spec.target)
        return Sym(cx.graph.param_node(canonical[id(p)]))
    if kind in ("BUFFER", "CONSTANT_TENSOR"):
        t = ep.constants.get(spec.target) if kind == "CONSTANT_TENSOR" else None
        if t is None:
            t = ep.state_dict[spec.target] if spec.target in ep.state_dict else model.get_buffer(spec.target)
        return t.detach()
    if kind != "USER_INPUT":
        raise cx.unsupported(f"an input of kind {kind}")
    assert cx.node is not None
    if cx.node.name not in inputs:
        return cx.node.meta.get("val")  # a fixed non-tensor argument (use_cache=False)
    k = inputs[cx.node.name]
    shape = cx.graph.nodes[cx.graph.input_nodes[k]].shape
    if cx.node.name in vocab:
        return Tokens(k, torch.arange(int(np.prod(shape[:-1]))).reshape((1,) + shape[:-1]))
    if getattr(cx.graph, "batch_size", None):  # a batch graph: the input already is the batch
        return Sym(cx.graph.input_nodes[k])
    return cx.reshape(Sym(cx.graph.input_nodes[k]), (1,) + shape)


def _user_inputs(ep: Any, specs: list[InputSpec]) -> dict[str, int]:
    """Placeholder name -> index of its :class:`InputSpec` (keyword inputs by name, the others in order)."""
    tensors = [n for n in ep.graph.nodes if n.op == "placeholder" and isinstance(n.meta.get("val"), torch.Tensor)
               and any(s.arg.name == n.name and s.kind.name == "USER_INPUT" for s in ep.graph_signature.input_specs)]
    named = {s.name: k for k, s in enumerate(specs) if s.name is not None}
    positional = iter(k for k, s in enumerate(specs) if s.name is None)
    out = {}
    for n in tensors:
        k = named.get(n.name)
        if k is None:
            k = next(positional, None)
        if k is None:
            raise NetworkError(f"the module's forward takes the tensor input {n.name!r} that input_shape does not give")
        out[n.name] = k
    return out


def _vocabularies(ep: Any, inputs: dict[str, int]) -> dict[str, int]:
    """Token input (placeholder name) -> vocabulary size: the rows of the embedding its ids index."""
    vocab: dict[str, int] = {}
    for n in ep.graph.nodes:
        if n.op != "call_function" or str(n.target) != "aten.embedding.default":
            continue
        src = n.args[1]
        while isinstance(src, torch.fx.Node) and src.op == "call_function" and src.args:
            src = src.args[0]
        if isinstance(src, torch.fx.Node) and src.name in inputs:
            rows = int(n.args[0].meta["val"].shape[0])
            if vocab.setdefault(src.name, rows) != rows:
                raise UnsupportedError(f"the token input {src.name} indexes embeddings of {vocab[src.name]} and {rows} "
                                       "rows")
    return vocab


def _check_independent_examples(model: "nn.Module", call: ModuleCall, name: str) -> None:
    """The module treats the examples of a batch independently: batch 2 equals two batches of 1."""
    gen = torch.Generator().manual_seed(1234)
    xs = call.random_inputs(2, gen)
    with torch.no_grad():
        both = call(model, xs)
        rows = [call(model, tuple(x[b:b + 1] for x in xs)) for b in range(2)]
    if both.shape[0] != 2 or not all(torch.allclose(both[b:b + 1], rows[b], rtol=1e-9, atol=1e-12)
                                     for b in range(2)):
        raise UnsupportedError(f"{name} mixes the examples of a batch (e.g. BatchNorm in training mode): give "
                               "batch_size=B to analyse it at that batch size, or call .eval()")
