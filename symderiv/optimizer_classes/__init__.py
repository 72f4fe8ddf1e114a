"""Optimizer classes by what they preserve: the pattern lattice of each class, per parameter.

The invariance lemma (docs/theory.md §2) has two halves: the per-example gradient maps the
pattern's subspace ``V`` into itself, and the optimizer's update maps gradient histories in ``V``
into ``V``.  The second half depends on the optimizer.  For each class the patterns it preserves
form a lattice (closed under intersection), and the prover computes the smallest invariant pattern
*of that lattice* containing the init: the relaxation alternates the gradient split with a
projection onto the lattice (:class:`PatternLattice`), which only drops constraints, until both
leave the pattern unchanged.  Every kept constraint is then a real invariant for the class:

* ``coordinatewise`` (SGD, momentum, Adam, …) and ``sign`` (Lion): one coordinatewise function of
  each coordinate's history, zero history -> zero update.  Every pattern (ties across tensors too,
  when those tensors are trained by the same optimizer).
* ``tensorwise`` (LAMB, LARS): a positive scalar per tensor times a coordinatewise update.  Zeros,
  and ties inside one tensor; a tie across tensors meets two different scalars and is dropped.
* ``factored`` (Adafactor): ``G_ij / sqrt(R_i C_j / mean R)`` times per-tensor scalars.  Zeros;
  a tie ``(i,j) ~ (i',j')`` inside one tensor when rows ``i, i'`` hold the same multiset of classes
  (then ``R_i = R_i'`` for every gradient in ``V``) and so do columns ``j, j'``; iterated to a fixed
  point (splitting a tie changes the multisets).
* ``rowcol`` (Muon, Shampoo, SOAP): ``G -> p(GGᵀ)G`` and ``L^{-1/4} G R^{-1/4}`` commute with
  permutations of rows and of columns and send a zero row (column) to a zero row (column).  A
  matrix keeps its whole zero rows and columns and its tied rows and columns (``(i,j) ~ (i',j')``
  iff rows ``i ~ i'`` and columns ``j ~ j'``: the fixed space of a group of row and column
  permutations); a vector is an ``n × 1`` matrix (its entries are rows); a tensor with three or more
  axes keeps its slices along the first axis (per-mode preconditioners mix the other axes jointly).

First moves: for entrywise classes a coordinate whose gradient history is zero is not updated.
For ``rowcol`` only whole zero rows (columns) of the momentum give zero rows (columns) of the
update, so the first-move iteration freezes the closure :meth:`PatternLattice.closure`: the
entries whose row or column has had zero gradient throughout.  A *move* at step 1 transfers from
the gradient to the update entrywise for every entrywise class (``sign(g) ≠ 0``, Adam's and
Adafactor's ``g/√v ≠ 0``, a positive trust ratio); for ``rowcol`` a nonzero gradient row gives a
nonzero update row (Muon's quintic ``a + b s² + c s⁴`` with torch's coefficients has no real root,
so every Newton–Schulz step keeps every nonzero singular value nonzero) but a single entry may be 0,
so no entry's move is claimed.  Later moves are certified on an SGD trajectory; they transfer only
to the coordinatewise class.
"""
from __future__ import annotations

from .assignment import (OPTIMIZER_RULES, STRUCTURES, OptimizerAssignment, Structure, optimizer_assignment,
                         registered_optimizers)
from .faces import FLOAT_FLOOR, float_notes, lattice_json, lattice_latex, lattice_notes, optimizer_floats
from .lattice import PatternLattice
from .run import (ROW_MOVES_AT_FIRST_UPDATE, analyze_network, float_init, prove_for_optimizer, rows_moving_first,
                  structural_for_optimizer)
from .widest import HOLDS_FOR, LATTICE_CHAIN, WidestClasses, widest_classes, widest_classes_of_network

__all__ = ["Structure", "STRUCTURES", "OPTIMIZER_RULES", "OptimizerAssignment", "optimizer_assignment",
           "registered_optimizers", "PatternLattice", "prove_for_optimizer", "structural_for_optimizer",
           "rows_moving_first", "float_init", "analyze_network", "ROW_MOVES_AT_FIRST_UPDATE", "lattice_notes",
           "lattice_json", "lattice_latex", "optimizer_floats", "float_notes", "FLOAT_FLOOR", "LATTICE_CHAIN", "HOLDS_FOR", "WidestClasses", "widest_classes",
           "widest_classes_of_network"]
