"""The faces of an analysis register themselves (symderiv.faces): the facts module imports none of them."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

import symderiv as sd
from symderiv.errors import InternalError
from symderiv.faces import face
from symderiv.latex import analysis_latex, proof_document
from symderiv.notebook import analysis_html

ROOT = Path(sd.__file__).resolve().parent


def _imports(path: Path) -> set[str]:
    """Every module a file imports (top level or inside functions), as written (``.latex``, ``..engine``)."""
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom):
            names.add("." * node.level + (node.module or ""))
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_the_facts_import_no_face():
    for facts in ("analysis.py", "passes.py", "witness_full.py"):
        faces = {m for m in _imports(ROOT / facts) if m.split(".")[-1] in {"latex", "verify", "notebook", "plot"}
                 or m.startswith(".latex")}
        assert faces == set(), (facts, faces)


def test_the_methods_are_the_registered_faces():
    a = sd.analyze(sd.mlp([3, 2]), sd.zeros())
    assert a.to_latex() == proof_document(a) and a.to_latex(title="T") == proof_document(a, title="T")
    assert a._repr_latex_() == analysis_latex(a) and a._repr_html_() == analysis_html(a)
    assert type(a.verify()).__name__ == "VerifyReport"
    with pytest.raises(InternalError, match="not registered"):
        face("no such face")


def test_importing_the_facts_alone_registers_every_face():
    code = ("import symderiv.analysis as m, symderiv as sd; "
            "a = m.analyze(sd.mlp([2, 2]), sd.zeros()); print(len(a.to_latex()) > 0, len(a._repr_html_()) > 0)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["True", "True"]
