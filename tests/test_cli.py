"""The command line: exit codes, one-line errors, shared options, signals, pipes, output files."""
from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import threading
import time

import pytest

import symderiv
from symderiv.cli import EXIT_INTERNAL, EXIT_USAGE, build_parser, main

NET = ["--layers", "3,2,2"]



def _default_sigint() -> None:
    """A shell runs background jobs with SIGINT ignored, and an ignored signal stays ignored across
    exec: give the child Python's default Ctrl-C behaviour whatever the test runner inherited."""
    signal.signal(signal.SIGINT, signal.default_int_handler)


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    lines = err.splitlines()
    assert len(lines) >= 1 and lines[-1].startswith(("symderiv: error:", "usage:", "symderiv ")), err
    return lines[-1]


@pytest.mark.parametrize("argv", [
    ["analyze", "--layers", "4,-1,3"],
    ["analyze", "--layers", "4,,3"],
    ["analyze", "--layers", "4,0,3"],
    ["analyze", "--layers", "4"],
    ["analyze", "--layers", "4,3,+3"],
    ["analyze", "--layers", "1000000000,3,3"],
    ["analyze", "--layers", "3,3,5000"],
    ["analyze", *NET, "--init", "constant:nan"],
    ["analyze", *NET, "--init", "constant:inf"],
    ["analyze", *NET, "--init", "constant:-inf"],
    ["analyze", *NET, "--init", "constant:abc"],
    ["analyze", *NET, "--init", "constant:__"],
    ["analyze", *NET, "--init", "constant:1e999999999"],
    ["analyze", *NET, "--init", "constant:" + "9" * 1001],
    ["analyze", *NET, "--init", "constant:1/0"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "x_1"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "y_2"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "W1"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "b3"],
    ["analyze", *NET, "--init", "constant:p", "--symbol", "p"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "c__d"],
    ["analyze", *NET, "--init", "constant:c", "--symbol", "hat"],
    ["analyze", *NET, "--init", "W1=generic,b"],
    ["analyze", *NET, "--init", "nonsense"],
    ["analyze", *NET, "--activation", "swish"],
    ["analyze", *NET, "--activation", "relu", "--kink-grad", "1e99999999"],
    ["analyze", *NET, "--activation", "relu", "--kink-grad", "nan"],
    ["analyze", *NET, "--seed", "-1"],
    ["analyze", *NET, "--seed", "9" * 5000],
    ["derive", *NET, "--param", "W9"],
    ["analyze", *NET, "--optimizer", "adamm"],
    ["analyze", *NET, "--optimizer", "W1=muon,W1=adam"],
    ["verify", *NET, "--optimizer", "lion"],  # outside the coordinatewise class: verify needs --module
    ["analyze", "--layers", "4,3,3,3", "--depth", "L"],  # a family needs N_IN,WIDTH,N_OUT
    ["analyze", "--layers", "4,n,3", "--depth", "2L"],
    ["analyze", "--layers", "3,3", "--family", "rezero"],  # --family without --depth
    ["check", "x[1] = x[1]"],  # check needs --layers
    ["check", *NET, "--seconds", "nan", "x[1] = x[1]"],
    ["check", *NET, "--seconds", "0", "x[1] = x[1]"],
    ["check", *NET, "--init", "constant:abc", "x[1] = x[1]"],
    ["check", *NET, "dL/dW1[i,j] = nonsense[i]"],
    ["bogus"],
    [],
])
def test_bad_input_exits_2_with_one_line(argv, capsys):
    assert main(argv) == EXIT_USAGE
    _one_line_error(capsys)
    assert "Traceback" not in capsys.readouterr().err


def test_messages_say_what_is_accepted(capsys):
    main(["analyze", *NET, "--init", "constant:abc"])
    assert "--symbol abc" in _one_line_error(capsys)
    main(["analyze", "--layers", "4,-1,3"])
    assert "positive integer" in _one_line_error(capsys)
    main(["analyze", *NET, "--init", "constant:c", "--symbol", "x_1"])
    assert "clashes" in _one_line_error(capsys)


def test_declared_symbol_is_accepted(capsys):
    assert main(["analyze", "--layers", "3,n,3", "--init", "constant:c", "--symbol", "c"]) == 0
    assert "init: constant c" in capsys.readouterr().out


def test_same_network_options_in_every_subcommand():
    parser = build_parser()
    subs = next(a for a in parser._subparsers._group_actions).choices
    shared = {"--layers", "--activation", "--loss", "--init", "--kink-grad", "--symbol", "--bias", "--no-bias"}
    for name in ("derive", "analyze", "verify", "check"):
        options = {s for a in subs[name]._actions for s in a.option_strings}
        assert shared <= options, (name, shared - options)


def test_no_bias_and_kink_grad_spellings(capsys):
    assert main(["derive", "--layers", "2,2", "--no-bias", "--init", "zeros"]) == 0
    out = capsys.readouterr().out
    assert "without biases" in out and "∂ℓ/∂b1" not in out
    assert main(["check", "--layers", "2,2,2", "--activation", "relu", "--kink-grad", "1/2", "--no-bias",
                 "--init", "zeros", "x[1] = x[1]"]) == 0


def test_version_is_single_sourced(capsys):
    assert main(["--version"]) == 0
    assert capsys.readouterr().out.strip() == f"symderiv {symderiv.__version__}"


def test_help_documents_exit_codes(capsys):
    assert main(["--help"]) == 0
    out = capsys.readouterr().out
    for code in ("0 ", "1 ", "2 ", "3 ", "4 ", "130", "143"):
        assert code in out


def test_internal_error_exits_4_and_debug_shows_traceback(monkeypatch, capsys):
    import symderiv.engine as engine

    def broken(*args, **kwargs):
        raise ValueError("injected defect")

    monkeypatch.setattr(engine, "backprop", broken)
    assert main(["derive", "--layers", "2,2", "--init", "zeros"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "ValueError" in err and "injected defect" in err and "Traceback" not in err
    assert main(["derive", "--layers", "2,2", "--init", "zeros", "--debug"]) == EXIT_INTERNAL
    err = capsys.readouterr().err
    assert "Traceback" in err and "injected defect" in err


def test_analyze_latex_output_file(tmp_path, capsys):
    target = tmp_path / "real.tex"
    link = tmp_path / "link.tex"
    link.symlink_to(target)
    assert main(["analyze", *NET, "--latex", str(link)]) == 0
    assert link.is_symlink() and target.read_text().startswith("\\documentclass")
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)
    got: list[bytes] = []
    reader = threading.Thread(target=lambda: got.append(open(fifo, "rb").read()))
    reader.start()
    assert main(["analyze", *NET, "--latex", str(fifo)]) == 0
    reader.join(10)
    assert got and got[0].startswith(b"\\documentclass") and stat.S_ISFIFO(os.stat(fifo).st_mode)
    capsys.readouterr()
    assert main(["analyze", *NET, "--latex", str(tmp_path / "no" / "such" / "dir.tex")]) == EXIT_USAGE
    assert "cannot write" in _one_line_error(capsys)
    assert main(["analyze", *NET, "--latex", "/dev/full"]) == EXIT_USAGE
    assert "No space left" in _one_line_error(capsys)


def test_json_output_is_deterministic(capsys):
    assert main(["analyze", *NET, "--json"]) == 0
    first = capsys.readouterr().out
    assert main(["analyze", *NET, "--json"]) == 0
    assert capsys.readouterr().out == first
    json.loads(first)


# ---------------------------------------------------------------- the process boundary (subprocesses)
_CMD = [sys.executable, "-m", "symderiv"]


def _run(args, **kwargs):
    return subprocess.run(_CMD + args, capture_output=True, text=True, timeout=60, **kwargs)


def test_dev_full_and_closed_stdout():
    with open("/dev/full", "w") as full:
        proc = subprocess.run(_CMD + ["derive", "--layers", "2,2"], stdout=full, stderr=subprocess.PIPE, text=True, timeout=60)
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr, proc.stderr
    assert "symderiv: error: cannot write the output: No space left on device" in proc.stderr.splitlines()
    proc = subprocess.run(_CMD + ["derive", "--layers", "2,2"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                          text=True, timeout=60, pass_fds=(), close_fds=True,
                          preexec_fn=lambda: os.close(1))
    assert proc.returncode == EXIT_USAGE and "Traceback" not in proc.stderr, proc.stderr
    assert "symderiv: error: cannot write the output: standard output is closed" in proc.stderr.splitlines()


def test_broken_pipe_is_quiet():
    # the reader is gone before the first write: EPIPE for sure
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        proc = subprocess.run(_CMD + ["derive", "--layers", "2,2"], stdout=write_end, stderr=subprocess.PIPE,
                              text=True, timeout=60)
    finally:
        os.close(write_end)
    assert proc.returncode == 141 and proc.stderr == "", proc.stderr
    # a reader that leaves after one byte
    proc = subprocess.Popen(_CMD + ["derive", "--layers", "99,99", "--init", "zeros"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    proc.stdout.read(1)
    proc.stdout.close()
    err = proc.stderr.read().decode()
    proc.wait(60)
    proc.stderr.close()
    assert "Traceback" not in err and "Exception ignored" not in err, err
    assert proc.returncode in (0, 141)


def _children(pid: int) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry))
    return found


def _running(pid: int) -> bool:
    """Alive and not a zombie (a killed child whose reaper is gone stays a zombie here)."""
    try:
        os.kill(pid, 0)
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (OSError, IndexError):
        return False


_SLOW_CLAIM = ["check", "--layers", "3,3,3,3,3", "--seconds", "60",
               "dL/dW1[i,j] = delta1[i] * x[j] * exp(z3[1])/exp(z3[1])"]


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_signal_exits_cleanly_and_leaves_no_child(sig, code):
    proc = subprocess.Popen(_CMD + _SLOW_CLAIM, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=_default_sigint)
    deadline = time.monotonic() + 30
    children: list[int] = []
    while time.monotonic() < deadline and not children:  # wait until a bounded child is at work
        time.sleep(0.1)
        children = _children(proc.pid)
        assert proc.poll() is None, proc.communicate()
    assert children, "the slow claim never started a bounded child"
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == code, err
    assert "Traceback" not in err and err.count("\n") == 1
    time.sleep(0.3)
    assert not [c for c in children if _running(c)]
