"""Integer inputs (token ids) of a graph: one-hot data, and real ids at every point a proof evaluates.

A token input of shape ``(T,)`` (any shape ``S``) with a vocabulary of ``V`` ids is the graph input of
shape ``S + (V,)`` whose entries ``x_{s,v}`` are the one-hot rows of the ids: an embedding lookup
``W[ids]`` is the product ``onehot(ids) @ W`` (:mod:`symderiv.graph.export`).  The input node carries
``attrs["vocab"] = V``.

**What the theorem covers.**  Zeros, ties and "unchanged before step t" are identities proved for
every *real* value of the ``x_{s,v}``, hence for every one-hot row: every token sequence of that
shape.  A first move is certified (tight) only at a witness whose token inputs are one-hot rows of
real ids: :func:`token_point` gives those values wherever a proof draws a random example, so the
trajectory it certifies is one a real token sequence takes.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np
import sympy as sp

__all__ = ["TokenShape", "tokens", "token_inputs", "token_symbols", "token_point", "one_hot", "ids_of"]


class TokenShape(tuple):
    """The shape of an integer input (token ids), without batch axis: ``tokens(4)`` or ``tokens(2, 4)``."""


def tokens(*shape: int) -> TokenShape:
    """An integer input of this shape (token ids, without batch axis), for ``input_shape``:
    ``input_shape={"input_ids": tokens(4)}``."""
    return TokenShape(int(n) for n in shape)


def token_inputs(graph: Any) -> dict[int, int]:
    """Input index (0-based, the order of ``graph.input_nodes``) -> vocabulary size, for token inputs."""
    out = {}
    for k, nid in enumerate(graph.input_nodes):
        vocab = graph.nodes[nid].attrs.get("vocab")
        if vocab is not None:
            out[k] = int(vocab)
    return out


def token_symbols(graph: Any) -> set[sp.Symbol]:
    """The data symbols of the token inputs (their values are one-hot rows, never scaled)."""
    from .engine import data_symbols

    tokens = token_inputs(graph)
    return {s for k, xs in enumerate(data_symbols(graph)) if k in tokens for s in xs.flat}


def token_point(graph: Any, rng: random.Random) -> dict[sp.Symbol, sp.Integer]:
    """One-hot values of real random ids for the data symbols of every token input (empty without any)."""
    from .engine import data_symbols

    tokens = token_inputs(graph)
    point: dict[sp.Symbol, sp.Integer] = {}
    for k, xs in enumerate(data_symbols(graph)):
        if k not in tokens:
            continue
        rows = xs.reshape(-1, xs.shape[-1])
        for row in rows:
            hot = rng.randrange(len(row))
            point.update({s: sp.Integer(int(v == hot)) for v, s in enumerate(row)})
    return point


def one_hot(ids: np.ndarray, vocab: int) -> np.ndarray:
    """Float one-hot rows of an integer array (shape ``ids.shape + (vocab,)``)."""
    ids = np.asarray(ids, dtype=np.int64)
    return (ids[..., None] == np.arange(vocab)).astype(np.float64)


def ids_of(rows: np.ndarray) -> np.ndarray:
    """The ids of one-hot rows (the inverse of :func:`one_hot`); a row that is not one-hot is refused."""
    rows = np.asarray(rows, dtype=np.float64)
    if not np.all((rows == 0) | (rows == 1)) or not np.all(rows.sum(-1) == 1):
        raise ValueError("token data that are not one-hot rows")
    return rows.argmax(-1)
