"""Issue 19: the command line's everyday path (``--module`` from the current directory, ``demo --out``)."""
from __future__ import annotations

import os
import shutil
import stat
import subprocess
import sys
import textwrap

import pytest

from symderiv import cli, cli_demo
from symderiv.cli import main

MODULE = textwrap.dedent("""
    import torch
    from torch import nn

    def make():
        torch.manual_seed(0)
        m = nn.Sequential(nn.Linear(3, 2), nn.Tanh(), nn.Linear(2, 2))
        nn.init.zeros_(m[2].weight)
        nn.init.zeros_(m[2].bias)
        return m
""")


def test_module_is_imported_from_the_current_directory_by_the_installed_script(tmp_path):
    """The console script's sys.path[0] is its own bin directory, not the current one."""
    pytest.importorskip("torch")
    script = os.path.join(os.path.dirname(sys.executable), "symderiv")
    if not os.path.exists(script):
        pytest.skip("the symderiv console script is not installed beside this Python")
    (tmp_path / "everyday_cwd_model.py").write_text(MODULE)
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    run = subprocess.run([script, "analyze", "--module", "everyday_cwd_model:make", "--input-shape", "3"],
                         cwd=tmp_path, capture_output=True, text=True, env=env, timeout=600)
    assert run.returncode == 0, run.stderr
    assert "no Python module" not in run.stderr
    assert run.stdout.strip()


def test_the_current_directory_is_removed_again_after_the_import(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    before = list(sys.path)
    with cli._importable_from_cwd():
        assert sys.path[-1] == str(tmp_path)
    assert sys.path == before


def _demo(tmp_path, monkeypatch, *, matplotlib: bool, compiler):
    monkeypatch.setattr(cli_demo, "_matplotlib_missing", lambda: not matplotlib)
    monkeypatch.setattr(cli_demo, "_compile_command", compiler)
    out = tmp_path / "demo"
    return main(["demo", "--out", str(out)]), out


def test_demo_without_matplotlib_writes_every_tex_and_one_note(tmp_path, monkeypatch, capsys):
    status, out = _demo(tmp_path, monkeypatch, matplotlib=False, compiler=lambda name: None)
    text = capsys.readouterr().out
    assert status == 0
    names = sorted(os.listdir(out))
    assert names == sorted(f"{n}.tex" for n, *_ in cli._demo_results())
    assert text.count("pictures skipped: matplotlib is not installed") == 1
    for name in names:  # every document complete
        assert (out / name).read_text().rstrip().endswith(r"\end{document}")


FAKE_PDFLATEX = textwrap.dedent("""\
    #!/bin/sh
    # a stand-in pdflatex: references settle on the third run
    name="${@: -1}"; base="${name%.tex}"
    n=$(cat runs 2>/dev/null || echo 0); n=$((n + 1)); echo $n > runs
    if [ $n -lt 3 ]; then echo "LaTeX Warning: Label(s) may have changed. Rerun to get cross-references right." > "$base.log";
    else echo "Output written" > "$base.log"; fi
    echo "%PDF-1.5 run $n" > "$base.pdf"
""")


def test_pdflatex_runs_until_the_references_settle(tmp_path):
    fake = tmp_path / "pdflatex"
    fake.write_text(FAKE_PDFLATEX.replace("#!/bin/sh", "#!/bin/bash"))
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    original = cli._compile_command
    try:
        cli_demo._compile_command = lambda name: ([str(fake), f"{name}.tex"], cli.PDFLATEX_RUNS)
        pdf = cli_demo._pdflatex(r"\documentclass{article}\begin{document}x\end{document}", "doc")
    finally:
        cli_demo._compile_command = original
    assert pdf == b"%PDF-1.5 run 3\n"


def test_a_pdf_whose_references_never_settle_is_not_written(tmp_path):
    fake = tmp_path / "pdflatex"
    fake.write_text("#!/bin/bash\nname=\"${@: -1}\"; echo 'Rerun to get cross-references right.' > \"${name%.tex}.log\"\n"
                    "echo pdf > \"${name%.tex}.pdf\"\n")
    fake.chmod(fake.stat().st_mode | stat.S_IEXEC)
    original = cli._compile_command
    try:
        cli_demo._compile_command = lambda name: ([str(fake), f"{name}.tex"], cli.PDFLATEX_RUNS)
        reason = cli_demo._pdflatex("x", "doc")
    finally:
        cli_demo._compile_command = original
    assert reason == f"references still unresolved after {cli.PDFLATEX_RUNS} pdflatex runs"


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_demo_pdfs_have_every_reference_resolved(tmp_path, monkeypatch, capsys):
    """With the real TeX tools: every demo document compiles to a PDF with no "??"."""
    status, out = _demo(tmp_path, monkeypatch, matplotlib=False, compiler=cli._compile_command)
    text = capsys.readouterr().out
    assert status == 0
    for name, *_ in cli._demo_results():
        assert (out / f"{name}.pdf").read_bytes().startswith(b"%PDF"), text
    assert "no .pdf" not in text


@pytest.mark.skipif(shutil.which("pdflatex") is None, reason="needs pdflatex")
def test_plain_pdflatex_needs_the_reruns_and_gets_them(monkeypatch):
    """Without latexmk: one pdflatex run leaves "??" (refused); the rerun loop resolves them."""
    import symderiv as sd
    from symderiv.latex import proof_document

    tex = proof_document(sd.analyze(sd.mlp([4, 3, 3, 3], "tanh"), sd.zeros()))
    argv = [shutil.which("pdflatex"), "-interaction=nonstopmode", "-halt-on-error", "doc.tex"]
    monkeypatch.setattr(cli_demo, "_compile_command", lambda name: (argv, 1))
    assert cli_demo._pdflatex(tex, "doc") == "references still unresolved after 1 pdflatex runs"
    monkeypatch.setattr(cli_demo, "_compile_command", lambda name: (argv, cli.PDFLATEX_RUNS))
    assert cli_demo._pdflatex(tex, "doc").startswith(b"%PDF")
