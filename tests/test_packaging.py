"""Packaging metadata: license, typed marker, single-sourced version, extras."""
from __future__ import annotations

import importlib.metadata
import os
import re

import pytest

import symderiv
from symderiv import cli

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
tomllib = pytest.importorskip("tomllib")


@pytest.fixture(scope="module")
def pyproject() -> dict:
    with open(os.path.join(ROOT, "pyproject.toml"), "rb") as f:
        return tomllib.load(f)


def test_license_file_and_spdx(pyproject):
    with open(os.path.join(ROOT, "LICENSE"), encoding="utf-8") as f:
        assert f.readline().strip() == "MIT License"
    assert pyproject["project"]["license"] == "MIT"
    assert "LICENSE" in pyproject["project"]["license-files"]


def test_py_typed_shipped(pyproject):
    package = os.path.dirname(symderiv.__file__)
    assert os.path.isfile(os.path.join(package, "py.typed"))
    assert "py.typed" in pyproject["tool"]["setuptools"]["package-data"]["symderiv"]


def test_version_single_sourced(pyproject, capsys):
    assert "version" not in pyproject["project"] and "version" in pyproject["project"]["dynamic"]
    assert pyproject["tool"]["setuptools"]["dynamic"]["version"] == {"attr": "symderiv.__version__"}
    assert re.fullmatch(r"\d+\.\d+\.\d+", symderiv.__version__)
    assert importlib.metadata.version("symderiv") == symderiv.__version__
    assert cli.main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"symderiv {symderiv.__version__}"


def test_dependencies_and_extras(pyproject):
    deps = {re.split(r"[<>=!~ ]", d)[0] for d in pyproject["project"]["dependencies"]}
    # LaTeX claims need no parser package (symderiv/claims/latex_grammar.py is symderiv's own)
    assert deps == {"sympy", "numpy", "python-flint"}
    extras = pyproject["project"]["optional-dependencies"]
    assert extras["torch"] == ["torch>=2.1"]
    assert any(d.startswith("matplotlib") for d in extras["plot"])
    assert {"pytest>=7", "hypothesis>=6.80"} <= set(extras["test"])
    assert set(extras["all"]) == set(extras["plot"]) | set(extras["torch"])


def test_no_antlr_pin_anywhere(pyproject):
    """Hydra pins antlr4-python3-runtime 4.9 and SymPy's LaTeX parser needs 4.11: symderiv must pin
    neither, in its dependencies or in any extra, to install beside Hydra (issue #12)."""
    project = pyproject["project"]
    declared = list(project["dependencies"]) + [d for ds in project["optional-dependencies"].values() for d in ds]
    assert not [d for d in declared if "antlr" in d.lower()]


def test_no_module_imports_a_third_party_latex_parser():
    """No symderiv module imports SymPy's LaTeX parser (ANTLR or Lark backend), antlr4 or lark."""
    import ast

    package = os.path.dirname(symderiv.__file__)
    offenders = []
    for folder, _, files in os.walk(package):
        for name in files:
            if not name.endswith(".py"):
                continue
            path = os.path.join(folder, name)
            with open(path, encoding="utf-8") as f:
                tree = ast.parse(f.read(), path)
            for node in ast.walk(tree):
                modules = [a.name for a in node.names] if isinstance(node, ast.Import) else \
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else []
                offenders += [(name, m) for m in modules if m.startswith(("sympy.parsing", "antlr4", "lark"))]
    assert not offenders


def test_latex_claim_beside_hydra():
    """With Hydra installed (it pins antlr4-python3-runtime 4.9; .ci/run installs it), Hydra's own
    antlr-based interpolation and a LaTeX claim work in one process (issue #12)."""
    pytest.importorskip("hydra")
    from omegaconf import OmegaConf

    import symderiv as sd

    assert importlib.metadata.version("antlr4-python3-runtime").startswith("4.9")
    assert OmegaConf.create({"width": 3, "classes": "${width}"}).classes == 3  # OmegaConf parses with antlr 4.9
    net = sd.mlp([4, 3], loss="ce")
    assert sd.check(r"\frac{\partial L}{\partial W_{ij}} = (p_i - y_i)\, x_j", net).status == "proved"
    assert sd.check(r"\frac{\partial L}{\partial W_{ij}} = (p_i + y_i)\, x_j", net).status == "refuted"


def test_mypy_configuration_is_strict(pyproject):
    """[tool.mypy] checks every body and reports stale ignores; nothing is switched off package-wide:
    per-module overrides only excuse third-party modules without types from being found."""
    cfg = pyproject["tool"]["mypy"]
    assert cfg["check_untyped_defs"] is True and cfg["warn_unused_ignores"] is True
    for key in ("ignore_errors", "disable_error_code", "ignore_missing_imports", "follow_imports"):
        assert key not in cfg, key
    for override in cfg.get("overrides", []):
        assert set(override) == {"module", "ignore_missing_imports"}, override
        assert not any(m == "symderiv" or m.startswith("symderiv.") for m in override["module"])
    assert any(d.startswith("mypy") for d in pyproject["project"]["optional-dependencies"]["test"])


def _mypy(*args: str):
    import subprocess
    import sys

    return subprocess.run([sys.executable, "-m", "mypy", "--config-file", os.path.join(ROOT, "pyproject.toml"), *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_mypy_finds_no_errors():
    """``python -m mypy symderiv`` with the [tool.mypy] configuration is clean, every module checked
    (skipped without mypy)."""
    pytest.importorskip("mypy")
    run = _mypy("-p", "symderiv")
    found = re.search(r"Success: no issues found in (\d+) source files", run.stdout)
    assert run.returncode == 0 and found, run.stdout[-4000:] + run.stderr[-2000:]
    package = os.path.dirname(symderiv.__file__)
    modules = sum(name.endswith(".py") for _, _, names in os.walk(package) for name in names)
    assert int(found.group(1)) == modules


def test_mypy_configuration_rejects_a_type_error(tmp_path):
    """The same configuration reports an error inside an unannotated function (check_untyped_defs)."""
    pytest.importorskip("mypy")
    bad = tmp_path / "bad_module.py"
    bad.write_text("def f():\n    return len(3)\n", encoding="utf-8")
    run = _mypy("--cache-dir", str(tmp_path / "cache"), str(bad))
    assert run.returncode == 1 and "bad_module.py:2: error" in run.stdout and "[arg-type]" in run.stdout, run.stdout


def test_changelog_names_this_version():
    with open(os.path.join(ROOT, "CHANGELOG.md"), encoding="utf-8") as f:
        assert f"## {symderiv.__version__}" in f.read()
