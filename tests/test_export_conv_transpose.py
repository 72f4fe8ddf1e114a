"""Transposed convolutions (ConvTranspose1d/2d: stride, padding, output_padding, dilation, groups) through the
export front end: the engine's closed-form gradients against torch autograd, and a zero-initialized upsampler
analysed and replayed on real torch.optim runs."""
import pytest

torch = pytest.importorskip("torch")
from torch import nn  # noqa: E402

from graph_oracle import assert_engine_matches_autograd  # noqa: E402


class Up(nn.Module):
    def __init__(self, conv, head_in):
        super().__init__()
        self.conv, self.head = conv, nn.Linear(head_in, 2)

    def forward(self, x):
        return self.head(torch.tanh(self.conv(x)).flatten(1))


CASES = [
    ("1d_stride_output_padding", lambda: nn.ConvTranspose1d(2, 3, 3, stride=2, padding=1, output_padding=1), (2, 3), 18),
    ("1d_crop", lambda: nn.ConvTranspose1d(2, 2, 2, stride=2, padding=2), (2, 4), 8),
    ("2d_dilation", lambda: nn.ConvTranspose2d(2, 2, (2, 3), stride=(2, 1), padding=(0, 1), dilation=(1, 2)),
     (2, 2, 2), 32),
    ("2d_groups", lambda: nn.ConvTranspose2d(4, 2, 2, stride=2, groups=2), (4, 2, 2), 32),
]


@pytest.mark.parametrize("make,shape,head_in", [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_transposed_convolution_matches_autograd(make, shape, head_in):
    torch.manual_seed(0)
    conv = make()
    with torch.no_grad():  # the output length the test expects is PyTorch's own
        assert conv(torch.zeros((1,) + shape)).numel() == head_in
    assert_engine_matches_autograd(Up(conv, head_in).double(), shape, "mse")


def test_a_zero_transposed_convolution_moves_first_and_the_claims_hold():
    """A zero-initialized upsampler (weight and bias 0) in front of a head: it moves at step 1, the head stays
    put until step 2 (its input is tanh(0) = 0); replayed with SGD and Adam."""
    import symderiv as sd

    torch.manual_seed(0)
    m = Up(nn.ConvTranspose1d(2, 2, 3, stride=2, padding=1), 18).double()
    nn.init.zeros_(m.conv.weight)
    nn.init.zeros_(m.conv.bias)
    a = sd.analyze(m, loss="mse", input_shape=(2, 5))
    steps = {n: set(a.entry_facts(n)["first_move_step"].flat) for n in ("conv.weight", "conv.bias", "head.weight")}
    assert steps["conv.weight"] == {1} and steps["conv.bias"] == {1} and steps["head.weight"] == {2}, steps
    assert a.verify(m, optimizers=("sgd", "adam")).ok
