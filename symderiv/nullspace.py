"""Certified null spaces of sampled function matrices (the linear algebra behind :mod:`symderiv.laws`).

A law search asks: which rational vectors ``c`` satisfy ``Σ_k c_k F_k ≡ 0`` for given
functions ``F_1 … F_m`` (e.g. the per-class gradients on a pattern subspace)?  Sampling
the functions at ``N > m`` random exact points gives an ``N × m`` matrix ``A`` whose
entries are rigorous Arb balls.  This module

1. chooses the *pivot columns* of ``A`` (the columns that are not combinations of earlier
   ones: the pivots of ``rref(A)``) numerically, on the midpoints, by Gram-Schmidt;
2. picks ``r`` rows making the ``r × r`` pivot minor well conditioned, and **certifies**
   ``rank A ≥ r`` by an Arb enclosure of that minor's determinant that excludes 0.
   Since ``A``'s rows are values of the functions, ``rank A ≥ r`` proves that at most
   ``m − r`` independent laws exist (for every law ``c``, ``A c = 0``);
3. for every free column ``f``, solves the minor system in Arb and rationalizes the
   solution: the canonical reduced-row-echelon null vector (1 at ``f``, 0 at the other
   free columns), a *candidate* law.  Candidates are only candidates: the caller proves
   each one symbolically (a rounding or an unlucky sample can only produce a candidate that
   fails its proof, never a claimed law).

Everything is deterministic for a given matrix.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from typing import Sequence

import numpy as np
from flint import arb, arb_mat, fmpq

from .certify import exact_endpoints, excludes_zero, precision

__all__ = ["NullSpace", "null_space", "MAX_DENOMINATOR"]

#: candidate coefficients are rationals with at most this denominator (laws of networks have
#: small integer coefficients: class sizes, ±1)
MAX_DENOMINATOR = 10_000
#: a column is a pivot when its residual after projection exceeds this fraction of its norm
PIVOT_TOLERANCE = 1e-9


@dataclass(frozen=True)
class NullSpace:
    """The result of :func:`null_space`.

    * ``pivots``: the pivot columns; ``rank_certified``: whether ``rank ≥ len(pivots)`` is
      certified (the minor on ``rows × pivots`` excludes 0);
    * ``candidates``: per free column, the rationalized null vector (``None`` when its
      coefficients are not small rationals: a possible law this search cannot state)."""

    n_columns: int
    pivots: tuple[int, ...]
    rows: tuple[int, ...]
    rank_certified: bool
    candidates: tuple[tuple[int, tuple[Fraction, ...] | None], ...]
    determinant: str = ""

    @property
    def rank(self) -> int:
        return len(self.pivots)


def _mid(x: arb) -> float:
    v = float(x.mid())
    return v if v == v else 0.0


def _pivot_columns(M: np.ndarray) -> list[int]:
    """Columns of ``M`` that are not (numerically) in the span of the earlier ones."""
    basis: list[np.ndarray] = []
    pivots = []
    for j in range(M.shape[1]):
        col = M[:, j].copy()
        norm = float(np.linalg.norm(col))
        if norm == 0.0:
            continue
        for _ in range(2):  # Gram-Schmidt twice: orthogonal to working precision
            for q in basis:
                col -= (q @ col) * q
        rest = float(np.linalg.norm(col))
        if rest > PIVOT_TOLERANCE * norm:
            basis.append(col / rest)
            pivots.append(j)
    return pivots


def _pivot_rows(M: np.ndarray) -> list[int]:
    """``M.shape[1]`` rows of ``M`` that span its row space, chosen greedily by largest residual."""
    r = M.shape[1]
    rows: list[int] = []
    R = M.copy()
    for _ in range(r):
        norms = np.linalg.norm(R, axis=1)
        if rows:
            norms[rows] = -1.0
        i = int(np.argmax(norms))
        if norms[i] <= 0:
            break
        rows.append(i)
        q = R[i] / norms[i]
        R = R - np.outer(R @ q, q)
    return rows


def _rational(x: arb) -> Fraction | None:
    """The small-denominator rational inside the ball ``x`` (None when there is none)."""
    ends = exact_endpoints(x)
    if ends is None:
        return None
    lo, hi = ends
    guess = ((lo + hi) / 2).limit_denominator(MAX_DENOMINATOR)
    return guess if lo <= guess <= hi else None


def null_space(A: Sequence[Sequence[arb]], dps: int = 100) -> NullSpace:
    """Pivots, a certified rank and candidate null vectors of the ball matrix ``A`` (see the module)."""
    N = len(A)
    m = len(A[0]) if N else 0
    mids = np.array([[_mid(x) for x in row] for row in A], dtype=float).reshape(N, m)
    scale = np.linalg.norm(mids, axis=0)
    scale[scale == 0] = 1.0
    pivots = _pivot_columns(mids / scale)
    rows = _pivot_rows((mids / scale)[:, pivots]) if pivots else []
    certified = len(rows) == len(pivots)
    det_text = ""
    candidates: list[tuple[int, tuple[Fraction, ...] | None]] = []
    free = [j for j in range(m) if j not in pivots]
    with precision(dps):
        if pivots and certified:
            minor = arb_mat([[A[i][j] for j in pivots] for i in rows])
            det = minor.det()
            certified = excludes_zero(det)
            det_text = str(det)
        elif not pivots:
            certified = True  # rank ≥ 0 needs no certificate
        for f in free:
            if not pivots:
                candidates.append((f, tuple(Fraction(int(j == f)) for j in range(m))))
                continue
            if not certified:
                candidates.append((f, None))
                continue
            try:
                rhs = arb_mat([[-A[i][f]] for i in rows])
                x = minor.solve(rhs)
            except (ZeroDivisionError, ValueError):
                candidates.append((f, None))
                continue
            vec = [Fraction(0)] * m
            vec[f] = Fraction(1)
            ok = True
            for p, j in enumerate(pivots):
                q = _rational(x[p, 0])
                if q is None:
                    ok = False
                    break
                vec[j] = q
            candidates.append((f, tuple(vec) if ok else None))
    return NullSpace(m, tuple(pivots), tuple(rows), certified, tuple(candidates), det_text)


def as_arb(value: Fraction | int) -> arb:
    """An exact rational as a ball."""
    value = Fraction(value)
    return arb(fmpq(value.numerator, value.denominator))
