"""Beyond the chain: PyTorch modules as they ship (``transformers``, ``peft``), traced with ``torch.export``
and Core ATen, analyzed with the guarantees of :mod:`symderiv.prover` (zeros and ties proved, moves
certified, undecided never claimed).

    >>> a = analyze_module(gpt2, loss="softmax_cross_entropy", input_shape={"input_ids": tokens(4)},
    ...                    forward_kwargs={"use_cache": False})     # doctest: +SKIP

    >>> from symderiv.graph import analyze_module
    >>> a = analyze_module(model, loss="mse", input_shape=(3,))      # doctest: +SKIP
    >>> a.summary(); a.to_dict()["parameters"]["lora_B.weight"]       # doctest: +SKIP
    >>> analyze_module(dit_block, loss="mse", input_shape=[(2, 4), (4,)])  # forward(self, x, c)  # doctest: +SKIP

* :mod:`.ir` - the typed graph (one example without batch axis: one input tensor per argument of
  ``forward``, data symbols ``x_…``, ``x2_…``, …; parameters by their ``named_parameters()`` names,
  trainable or frozen, ops, a loss at the output);
* :mod:`.ops` - one forward and one VJP rule per op (registry ``defop``/``defvjp``): linear,
  activation (any :mod:`symderiv.activations` entry, kink convention as PyTorch), add, sub, mul,
  div (broadcasting), scale/shift by exact constants, matmul (batched), softmax over an axis,
  conv (1-D and 2-D, stride, zero padding, dilation=1; groups > 1 as per-group slices), layer_norm
  and rms_norm (optional gamma, beta), rearrange (reshape, permute/transpose, getitem slices), cat,
  sum, mean; :mod:`.pointwise` (exp, log, sqrt, rsqrt, x**c); :mod:`.norms`: group_norm and
  batch_norm_eval (BatchNorm after ``.eval()``: frozen running statistics as exact constants;
  training mode is refused: it mixes the examples of a batch);
* :mod:`.losses` - ``softmax_cross_entropy`` over the last axis (simplex labels, ``y_K``
  eliminated, mean over rows), ``mse`` (nn.MSELoss), ``bce`` (nn.BCEWithLogitsLoss);
* :mod:`.engine` - the entry-level forward and reversed δ pass (never ``sympy.diff``);
* :mod:`.export` - ``nn.Module`` -> graph through ``torch.export`` and Core ATen (the front end of
  :func:`analyze_module` and ``sd.analyze``; imports torch): constant subgraphs folded exactly, one rule per
  ATen op in :mod:`.aten` (how to add one: :mod:`.export`'s docstring), anything else refused in one line
  naming the op, the library file:line and the module path; :mod:`.tokens` - integer inputs (token ids)
  as one-hot data, real ids at every witness;
* :mod:`.values` - init values ``"generic"`` (zeros and equal values kept, every other value a
  symbol: the theorem covers every model with that pattern) or ``"exact"`` (the floats as rationals);
* :mod:`.prover`, :mod:`.analysis` - the relaxation, first moves, certified witness trajectories,
  and the faces (``summary()``, ``to_dict()``, ``to_json()``), reusing :class:`symderiv.prover.Decider`,
  ``Enclosures`` and ``_split_class`` through a graph adapter (:class:`.prover.GraphDecider`);
* :mod:`.facts` - one record per class read by every face: never-moving zeros are ``stays_zero`` and
  equal never-moving classes share a tie id (condition ``no_weight_decay``), float status
  (``bit_exact`` / ``identical_rounding`` / ``exact_arithmetic_only``) of zeros, ties and
  "unchanged before step t", as :mod:`symderiv.facts` for MLPs;
* :mod:`.tensor_facts` - the entries of each parameter grouped by what is proved about them: what the
  summary, the headline and the JSON of a large analysis read (above ``COMPACT_JSON_ENTRIES`` = 65536
  trainable entries ``to_dict()`` has ``"layout": "groups"``: one record per group, never per entry);
* :mod:`.replay` - real ``torch.optim`` trajectories of the module, checked against the claims;
  ``verify_graph`` (``a.verify(module)``, ``symderiv.verify(a, module=...)``): a ``VerifyReport``; large
  analyses are judged per group (:mod:`.replay_groups`, vectorized);
* :mod:`.latex` - the proof document (``a.to_latex()``) and the ``proofs/`` entries (``graph_library``);
  large lumped analyses: :mod:`.lumped_latex` (per class), tensor-level ones: :mod:`.structural_latex`;
* :mod:`.spec` - ``pkg.mod:factory`` and ``--input-shape`` of the CLI (``symderiv analyze --module``);
* :mod:`.examples` - LoRA, ControlNet block, ReZero, zero-gamma LayerNorm residual, attention,
  constant-init convolution.

Proof paths (chosen by :func:`analyze_graph`): constant-init layers are proved on a lumped quotient
(:mod:`.lumping`, read back on the full graph by :mod:`.lifted`: a 12-block residual MLP of width 1024); large graphs whose trainable tensors
are each all zero or all nonzero, with generic values, at the tensor level (:mod:`.structural`: LoRA
on a frozen 4096×4096 base in < 1 s; verify replays it at full width; its LaTeX document is per tensor); everything else entry by entry,
whose cost grows with the number of entries (LoRA with a frozen 64×64 base ~4 s; a small attention
block with generic values tens of seconds). ``"exact"`` values with many large rationals make
SymPy's automatic evaluation slow.

:func:`analyze_module` imports torch on first use; ``import symderiv.graph`` does not.
"""
from .analysis import GraphAnalysis, analyze_graph
from .engine import GraphPass, backprop
from .ir import Graph, Node, ParamSpec

__all__ = ["Graph", "Node", "ParamSpec", "GraphPass", "backprop", "GraphAnalysis", "analyze_graph",
           "analyze_module", "graph_from_module", "tokens"]


def analyze_module(module, *, loss, input_shape, values="generic", seed=0, optimizer_class="coordinatewise",
                   seconds=5.0, optimizer=None, forward_kwargs=None, output=None, batch_size=None):
    """See :func:`symderiv.graph.analysis.analyze_module`."""
    from .analysis import analyze_module as _analyze

    return _analyze(module, loss=loss, input_shape=input_shape, values=values, seed=seed,
                    optimizer_class=optimizer_class, seconds=seconds, optimizer=optimizer,
                    forward_kwargs=forward_kwargs, output=output, batch_size=batch_size)


def tokens(*shape):
    """An integer input (token ids) of this shape, without batch axis, for ``input_shape``
    (:func:`symderiv.graph.export.tokens`)."""
    from .tokens import tokens as _tokens

    return _tokens(*shape)


def graph_from_module(module, input_shape, loss, **options):
    """The module's :class:`~symderiv.graph.ir.Graph` (what :func:`analyze_module` proves), through the one
    front end, ``torch.export`` and Core ATen (:func:`symderiv.graph.export.graph_from_export`; ``options``:
    ``forward_kwargs``, ``output``, ``batch_size``)."""
    from .export import graph_from_export

    return graph_from_export(module, input_shape, loss, **options)
