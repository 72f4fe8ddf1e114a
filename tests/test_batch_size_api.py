"""Train-mode BatchNorm through the public entry points: ``sd.analyze(..., batch_size=B)`` and the CLI's
``--batch-size``; the claims are checked against torch autograd and real runs (``verify``)."""
import os
import subprocess
import sys
import textwrap

import pytest

torch = pytest.importorskip("torch", reason="the modules are torch modules")
nn = torch.nn

import symderiv as sd  # noqa: E402

MODULE = textwrap.dedent('''
    import torch, torch.nn as nn

    class Block(nn.Module):
        """x + BN(fc(x)) with a zero BatchNorm gamma, then a linear head (a zero-gamma residual block)."""
        def __init__(self):
            super().__init__()
            self.fc, self.bn, self.out = nn.Linear(3, 3), nn.BatchNorm1d(3), nn.Linear(3, 2)
            nn.init.zeros_(self.bn.weight)

        def forward(self, x):
            return self.out(x + self.bn(self.fc(x)))

    def make():
        torch.manual_seed(0)
        return Block().double().train()
''')


@pytest.fixture()
def block(tmp_path, monkeypatch):
    (tmp_path / "bn_block_mod.py").write_text(MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import importlib
    mod = importlib.import_module("bn_block_mod")
    return mod.make(), tmp_path


def test_batch_size_states_the_scope_and_the_claims_hold(block):
    m, _ = block
    a = sd.analyze(m, loss="softmax_cross_entropy", input_shape=(3,), batch_size=2)
    assert "every dataset at batch size 2" in a.scope()
    facts = a.to_dict()["parameters"]
    # batch statistics subtract the batch mean: fc.bias never moves (autograd agrees: its gradient is 0)
    assert facts["fc.bias"]["first_move_step"] == [None, None, None]  # per entry, in the tensor's shape
    x, y = torch.randn(2, 3, dtype=torch.float64), torch.tensor([0, 1])
    nn.functional.cross_entropy(m(x), y).backward()
    assert float(m.fc.bias.grad.abs().max()) < 1e-12 and float(m.bn.weight.grad.abs().max()) > 1e-6
    assert a.verify(m).ok


def test_without_batch_size_the_refusal_says_how(block):
    m, _ = block
    with pytest.raises(sd.SymderivError, match="batch_size=B") as info:
        sd.analyze(m, loss="softmax_cross_entropy", input_shape=(3,))
    assert "\n" not in str(info.value)
    with pytest.raises(sd.SymderivError, match="batch_size"):
        sd.analyze(sd.mlp([3, 2]), sd.zeros(), batch_size=2)


def test_cli_batch_size(block):
    _, folder = block
    run = [sys.executable, "-m", "symderiv", "verify", "--module", "bn_block_mod:make", "--input-shape", "3",
           "--loss", "ce", "--batch-size", "2"]
    env = dict(os.environ, PYTHONPATH=str(folder))
    out = subprocess.run(run, capture_output=True, text=True, cwd=folder, env=env, timeout=600)
    assert out.returncode == 0 and out.stdout.strip().splitlines()[-1].startswith("verify: OK"), out.stdout + out.stderr
    bad = subprocess.run(run[:-1] + ["0"], capture_output=True, text=True, cwd=folder, env=env, timeout=600)
    assert bad.returncode == 2 and "positive integer" in bad.stderr
