"""Vision models as their libraries ship them, through the export front end: torchvision's
resnet18(zero_init_residual=True) with train-mode BatchNorm at a stated batch size, timm's ViT with a zeroed head
and with LayerScale at 0, diffusers' ControlNetModel (its zero convolutions as shipped) and DiTTransformer2DModel
(adaLN-Zero).  Each is analysed and every claim is checked on real torch.optim runs (``verify``)."""
import pytest

torch = pytest.importorskip("torch", reason="the vision models are torch modules")

from symderiv.graph.analysis import analyze_graph  # noqa: E402
from symderiv.graph.export import graph_from_export  # noqa: E402

FAST = {"optimizers": ("sgd", "adam")}  # verify on two optimizers (the full set is the default)


def _steps(a, names):
    g = a.proof.graph
    return {n: a.first_move_step(n, (0,) * len(g.params[n].shape)) for n in names}


def _check(a, module, batches=(2,)):
    report = a.verify(module, batches=batches, **FAST)
    assert report.ok, report
    return report


@pytest.mark.vision
def test_resnet18_zero_init_residual_train_mode_batch_norm():
    tv = pytest.importorskip("torchvision", reason="PyPI's torchvision imports only beside its own torch build (CI runs it in a second environment, marker vision)")
    torch.manual_seed(0)
    m = tv.models.resnet18(zero_init_residual=True, num_classes=3).double().train()
    g = graph_from_export(m, (3, 16, 16), "softmax_cross_entropy", batch_size=2)
    assert "batch_norm_train" in {n.op for n in g.nodes}
    a = analyze_graph(g, name="resnet18")
    assert "every dataset at batch size 2" in a.scope()
    # zero_init_residual: every block's last BatchNorm has γ = 0, so its branch waits one step behind it
    blocks = [f"layer{i}.{j}" for i in range(1, 5) for j in range(2)]
    assert set(_steps(a, [f"{b}.bn2.weight" for b in blocks]).values()) == {1}
    assert set(_steps(a, [f"{b}.conv1.weight" for b in blocks] + [f"{b}.conv2.weight" for b in blocks]
                      + [f"{b}.bn1.weight" for b in blocks]).values()) == {2}
    assert set(_steps(a, ["conv1.weight", "fc.weight", "layer2.0.downsample.0.weight"]).values()) == {1}
    _check(a, m)


def _timm_vit(**kw):
    timm = pytest.importorskip("timm", reason="timm imports torchvision, which imports only beside its own torch build (CI: marker vision)")
    torch.manual_seed(0)
    return timm.models.vision_transformer.VisionTransformer(img_size=8, patch_size=4, embed_dim=8, depth=2,
                                                            num_heads=2, mlp_ratio=2.0, num_classes=3, **kw).double()


@pytest.mark.vision
def test_timm_vit_with_a_zeroed_head():
    m = _timm_vit().eval()
    with torch.no_grad():
        m.head.weight.zero_()
        m.head.bias.zero_()
    a = analyze_graph(graph_from_export(m, (3, 8, 8), "softmax_cross_entropy"), name="vit")
    steps = _steps(a, ["head.weight", "head.bias", "blocks.0.attn.qkv.weight", "patch_embed.proj.weight",
                       "blocks.1.mlp.fc2.weight"])
    assert steps["head.weight"] == 1 and steps["head.bias"] == 1
    assert steps["blocks.0.attn.qkv.weight"] == 2 and steps["patch_embed.proj.weight"] == 2
    _check(a, m)


@pytest.mark.vision
def test_timm_vit_with_layer_scale_at_zero():
    """LayerScale γ = 0 (timm drops LayerScale for init_values=0, so γ is zeroed after construction): every
    block's branches wait behind their γ."""
    m = _timm_vit(init_values=1e-5).eval()
    with torch.no_grad():
        for b in m.blocks:
            b.ls1.gamma.zero_()
            b.ls2.gamma.zero_()
    a = analyze_graph(graph_from_export(m, (3, 8, 8), "softmax_cross_entropy"), name="vit_ls0")
    steps = _steps(a, ["blocks.0.ls1.gamma", "blocks.1.ls2.gamma", "blocks.0.attn.qkv.weight",
                       "blocks.1.mlp.fc1.weight", "head.weight"])
    assert steps["blocks.0.ls1.gamma"] == 1 and steps["blocks.1.ls2.gamma"] == 1 and steps["head.weight"] == 1
    assert steps["blocks.0.attn.qkv.weight"] == 2 and steps["blocks.1.mlp.fc1.weight"] == 2
    _check(a, m)


def test_diffusers_controlnet_zero_convolutions_as_shipped():
    diffusers = pytest.importorskip("diffusers", reason="diffusers is an optional test dependency")
    torch.manual_seed(0)
    cn = diffusers.ControlNetModel(block_out_channels=(4, 8), layers_per_block=1, cross_attention_dim=8,
                                   down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
                                   conditioning_embedding_out_channels=(4, 8), norm_num_groups=2,
                                   attention_head_dim=2, in_channels=4).double().eval()

    class MidResidual(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = cn

        def forward(self, sample, hidden, cond):
            return self.m(sample, 1, encoder_hidden_states=hidden, controlnet_cond=cond, return_dict=False)[1]

    w = MidResidual()
    a = analyze_graph(graph_from_export(w, [(4, 8, 8), (3, 8), (3, 16, 16)], "mse"), name="controlnet")
    steps = _steps(a, ["m.controlnet_mid_block.weight", "m.controlnet_mid_block.bias", "m.conv_in.weight",
                       "m.controlnet_cond_embedding.conv_out.weight", "m.mid_block.resnets.0.conv1.weight"])
    # the zero convolution moves first; everything before it (the hint's conv_out, a zero convolution too) waits
    assert steps["m.controlnet_mid_block.weight"] == 1 and steps["m.controlnet_mid_block.bias"] == 1
    assert steps["m.conv_in.weight"] == 2 and steps["m.mid_block.resnets.0.conv1.weight"] == 2
    assert steps["m.controlnet_cond_embedding.conv_out.weight"] == 2
    _check(a, w, batches=(1,))


def test_diffusers_dit_adaln_zero():
    diffusers = pytest.importorskip("diffusers", reason="diffusers is an optional test dependency")
    torch.manual_seed(0)
    dit = diffusers.DiTTransformer2DModel(num_attention_heads=2, attention_head_dim=4, in_channels=2, num_layers=1,
                                          sample_size=4, patch_size=2, num_embeds_ada_norm=10, norm_num_groups=1,
                                          out_channels=2).double().eval()
    with torch.no_grad():  # adaLN-Zero (the DiT paper's init): the modulations and the final projection at 0
        for name, p in dit.named_parameters():
            if "norm1.linear" in name or "proj_out_2" in name:
                p.zero_()

    class Denoise(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.m = dit

        def forward(self, x):
            t = torch.ones(x.shape[0], dtype=torch.long)
            return self.m(x, timestep=t, class_labels=torch.zeros(x.shape[0], dtype=torch.long), return_dict=False)[0]

    w = Denoise()
    g = graph_from_export(w, (2, 4, 4), "mse")
    a = analyze_graph(g, name="dit")
    steps = _steps(a, ["m.proj_out_2.weight", "m.transformer_blocks.0.norm1.linear.weight",
                       "m.transformer_blocks.0.attn1.to_q.weight", "m.pos_embed.proj.weight"])
    assert steps["m.proj_out_2.weight"] == 1  # the zero final projection moves first
    assert steps["m.transformer_blocks.0.attn1.to_q.weight"] > steps["m.transformer_blocks.0.norm1.linear.weight"]
    _check(a, w, batches=(1,))
