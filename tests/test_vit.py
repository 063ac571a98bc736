"""Vision Transformers: the token layout read from the model, token GradCAM (against
pytorch-grad-cam with a reshape_transform) and attention rollout (closed forms by hand, a direct
vit-explain-style re-implementation, torchvision against timm with the same weights)."""
from __future__ import annotations

import numpy as np
import pytest
import timm
import torch
from torch import nn
from torchvision.models.vision_transformer import VisionTransformer

import whynot
from whynot.explainers import token_grid, vit_layout
from whynot.explainers.rollout import capture_attention, discard_smallest, rollout
from whynot.models.common import NormalizedModel
from whynot.models.small import build

pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
from pytorch_grad_cam.utils.model_targets import ClassifierOutputSoftmaxTarget, ClassifierOutputTarget  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")


def wrap(net: nn.Module) -> nn.Module:
    return NormalizedModel(net, (0.5,) * 3, (0.25,) * 3, {"name": "tiny"}).eval()


def timm_vit(seed: int = 0, **kwargs) -> nn.Module:
    torch.manual_seed(seed)
    net = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, num_classes=5,
                            depth=2, embed_dim=24, num_heads=3, **kwargs)
    nn.init.normal_(net.head.weight)  # timm's init leaves logits nearly flat
    return wrap(net)


def torchvision_vit(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    net = VisionTransformer(image_size=32, patch_size=8, num_layers=2, num_heads=3, hidden_dim=24, mlp_dim=96,
                            num_classes=5)
    nn.init.normal_(net.heads.head.weight)
    return wrap(net)


def ours(seed: int = 0) -> nn.Module:
    torch.manual_seed(seed)
    model = build("synth_vit")
    for block in model.net.blocks:  # random blocks, so that attention and gradients vary
        nn.init.normal_(block.attn.qkv.weight, std=0.3)
    return model


def images(size: int = 32, batch: int = 2, seed: int = 1) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed))


# --- the token layout -----------------------------------------------------------------------------
@pytest.mark.parametrize("build_model, family, prefix, grid, default", [
    (ours, "whynot", 1, (7, 7), "net.blocks.3.norm1"),
    (torchvision_vit, "torchvision", 1, (4, 4), "net.encoder.layers.encoder_layer_1.ln_1"),
    (timm_vit, "timm", 1, (4, 4), "net.blocks.1.norm1"),
    (lambda: timm_vit(reg_tokens=4), "timm", 5, (4, 4), "net.blocks.1.norm1"),
])
def test_layout_is_read_from_the_model(build_model, family, prefix, grid, default):
    layout = vit_layout(build_model())
    assert (layout.family, layout.prefix_tokens, layout.grid, layout.default_layer) == (family, prefix, grid, default)


def test_distilled_deit_has_two_prefix_tokens_and_reads_both():
    torch.manual_seed(0)
    net = timm.create_model("deit_tiny_distilled_patch16_224", pretrained=False, img_size=32, patch_size=8,
                            num_classes=5, depth=2, embed_dim=24, num_heads=3)
    layout = vit_layout(wrap(net))
    assert layout.prefix_tokens == 2 and layout.readout == (0, 1)


def test_dynamic_size_vit_infers_a_square_grid_and_refuses_a_non_square_one():
    layout = vit_layout(timm_vit(dynamic_img_size=True))
    assert layout.grid is None and layout.patch_grid(36) == (6, 6)
    with pytest.raises(ValueError, match="token_grid"):
        layout.patch_grid(12)


def test_reshape_puts_each_patch_token_on_its_row_and_column():
    layout = vit_layout(timm_vit(reg_tokens=4))
    tokens = torch.zeros(1, 5 + 16, 2)
    tokens[0, 5:, 0] = torch.arange(16.0)  # patch token r * 4 + c carries its index
    tokens[0, :5, 1] = 99.0  # prefix tokens must be dropped
    grid = layout.reshape_for("net.blocks.0")(tokens)
    assert grid.shape == (1, 2, 4, 4)
    assert torch.equal(grid[0, 0], torch.arange(16.0).view(4, 4)) and grid[0, 1].abs().max() == 0
    patches_only = layout.reshape_for("net.patch_embed")(tokens[:, 5:])  # before the prefix is added
    assert torch.equal(patches_only, grid)


def test_layers_that_are_not_token_sequences_get_a_clear_error():
    model = timm_vit()
    with pytest.raises(ValueError, match="not a token sequence.*net.blocks.1.norm1"):
        whynot.explain(model, images(), layer="net.blocks.0.attn.q_norm")  # q [B, heads, N, d]
    layout = vit_layout(model)
    with pytest.raises(ValueError, match="outputs 7 tokens.*encoder block"):
        layout.reshape_for("net.blocks.0")(torch.zeros(1, 7, 3))
    with pytest.raises(ValueError, match="do not fill a 3 x 4 grid"):
        token_grid(1, grid=(3, 4))(torch.zeros(1, 1 + 16, 3))
    assert token_grid(1, grid=(2, 8))(torch.zeros(1, 17, 3)).shape == (1, 3, 2, 8)


@pytest.mark.parametrize("build_model", [ours, torchvision_vit, timm_vit])
def test_token_gradcam_needs_no_reshape_and_defaults_to_the_last_norm(build_model):
    model = build_model()
    x = images(size=model.whynot_meta.get("input_size") or 32) if build_model is ours else images()
    if build_model is ours:
        x = images(size=56)
    layout = vit_layout(model)
    auto = whynot.explain(model, x, topk=2, contrast=CONTRASTS, upsample=False)
    typed = whynot.explain(model, x, layer=layout.default_layer, topk=2, contrast=CONTRASTS, upsample=False,
                           reshape=token_grid(layout.prefix_tokens))
    for contrast in CONTRASTS:
        torch.testing.assert_close(auto[contrast], typed[contrast])
    assert auto["logit"].shape[-2:] == layout.grid and auto["logit"].abs().max() > 0


def test_the_last_blocks_output_has_zero_patch_gradients():
    model = ours()
    maps = whynot.explain(model, images(size=56), layer="net.blocks.3", topk=2, contrast=CONTRASTS)
    assert all(value.abs().max() == 0 for value in maps.values())


# --- token GradCAM against pytorch-grad-cam ---------------------------------------------------------
@pytest.mark.parametrize("build_model, size", [(ours, 56), (torchvision_vit, 32), (timm_vit, 32)])
@pytest.mark.parametrize("contrast", ["logit", "softmax"])
def test_token_gradcam_matches_pytorch_grad_cam_with_a_reshape_transform(build_model, size, contrast):
    model, x = build_model(), images(size=size)
    layout = vit_layout(model)
    layers = [layout.blocks[0], layout.default_layer]
    logits = model(x).detach()
    classes = logits.topk(2).indices[:, 1]
    target = ClassifierOutputTarget if contrast == "logit" else ClassifierOutputSoftmaxTarget
    targets = [target(int(t)) for t in classes]
    for name in layers:
        layer = model.get_submodule(name)
        ours_map = whynot.explain(model, x, layer=name, classes=classes.tolist(), contrast=contrast, upsample=False)
        reshape = token_grid(layout.prefix_tokens)
        with pytorch_grad_cam.GradCAM(model, target_layers=[layer], reshape_transform=reshape) as cam:
            cam(input_tensor=x, targets=targets)
            activations = cam.activations_and_grads.activations[0].numpy()
            gradients = cam.activations_and_grads.gradients[0].numpy()
            theirs = cam.get_cam_image(x, layer, targets, activations, gradients)
        torch.testing.assert_close(ours_map[:, 0], torch.from_numpy(np.asarray(theirs, dtype=np.float32)),
                                   atol=1e-5, rtol=1e-4)


# --- rollout: closed forms and re-implementations ----------------------------------------------------
def test_rollout_by_hand():
    first = torch.tensor([[0.0, 1.0], [0.0, 1.0]])  # + I: [[1, 1], [0, 2]] -> [[.5, .5], [0, 1]]
    second = torch.tensor([[0.0, -0.25], [0.0, 0.0]])  # + I: [[1, -.25], [0, 1]] -> [[.8, -.2], [0, 1]]
    torch.testing.assert_close(rollout([first, second]), torch.tensor([[0.4, 0.2], [0.0, 1.0]]))
    torch.testing.assert_close(rollout([second, first]), torch.tensor([[0.4, 0.4], [0.0, 1.0]]))


def test_discard_zeroes_the_smallest_magnitudes():
    fused = torch.tensor([[[0.1, 0.5], [0.3, -0.05]]])
    torch.testing.assert_close(discard_smallest(fused, 0.5), torch.tensor([[[0.0, 0.5], [0.3, 0.0]]]))
    assert torch.equal(discard_smallest(fused, 0.0), fused)
    with pytest.raises(ValueError, match="discard_ratio"):
        rollout([fused], discard_ratio=1.0)


def reference_rollout(model, image, target, contrast, fusion, discard, relu, prefix=1):
    """vit-explain's grad_rollout on timm, one image and one class, written independently:
    tensor hooks on attn_drop's output, ``.backward()`` of the score, rows normalised by their
    absolute sum (keepdim, unlike vit-explain's broadcast)."""
    attentions, gradients, handles = [], [], []
    for block in model.net.blocks:
        block.attn.fused_attn = False

        def keep(module, inputs, output):
            attentions.append(output.detach())
            output.register_hook(lambda grad: gradients.insert(0, grad))

        handles.append(block.attn.attn_drop.register_forward_hook(keep))
    image = image[None].clone().requires_grad_()
    logits = model(image)
    score = logits[0, target] if contrast == "logit" else logits.softmax(-1)[0, target]
    score.backward()
    for handle in handles:
        handle.remove()
    for block in model.net.blocks:
        block.attn.fused_attn = True
    model.zero_grad()
    result = None
    for attention, gradient in zip(attentions, gradients):
        weighted = (attention * gradient)[0]
        fused = {"mean": weighted.mean(0), "max": weighted.max(0).values, "min": weighted.min(0).values}[fusion]
        if relu:
            fused = fused.clamp(min=0)
        flat = fused.flatten().clone()
        flat[flat.abs().argsort()[: int(discard * flat.numel())]] = 0
        a = flat.view_as(fused) + torch.eye(fused.shape[0])
        a = a / a.abs().sum(dim=-1, keepdim=True)
        result = a if result is None else a @ result
    return result[0, prefix:].view(4, 4)


@pytest.mark.parametrize("fusion, discard, relu", [("mean", 0.0, False), ("mean", 0.5, True),
                                                   ("max", 0.9, False), ("min", 0.0, False)])
def test_rollout_matches_a_direct_reimplementation(fusion, discard, relu):
    model, x = timm_vit(), images()
    classes = model(x).topk(2).indices
    maps = whynot.explain(model, x, method="rollout", classes=classes, contrast=("logit", "softmax"),
                          head_fusion=fusion, discard_ratio=discard, relu=relu, upsample=False)
    for b in range(2):
        for k in range(2):
            for contrast in ("logit", "softmax"):
                expected = reference_rollout(model, x[b], int(classes[b, k]), contrast, fusion, discard, relu)
                torch.testing.assert_close(maps[contrast][b, k], expected, atol=1e-6, rtol=1e-4)


def copy_into_timm(source: nn.Module) -> nn.Module:
    """A timm ViT with the weights of torchvision's ``source`` (same architecture)."""
    target = timm_vit()
    s, t = source.net, target.net
    with torch.no_grad():
        t.patch_embed.proj.load_state_dict(s.conv_proj.state_dict())
        t.cls_token.copy_(s.class_token)
        t.pos_embed.copy_(s.encoder.pos_embedding)
        for mine, theirs in zip(t.blocks, s.encoder.layers):
            mine.norm1.load_state_dict(theirs.ln_1.state_dict())
            mine.attn.qkv.weight.copy_(theirs.self_attention.in_proj_weight)
            mine.attn.qkv.bias.copy_(theirs.self_attention.in_proj_bias)
            mine.attn.proj.load_state_dict(theirs.self_attention.out_proj.state_dict())
            mine.norm2.load_state_dict(theirs.ln_2.state_dict())
            mine.mlp.fc1.load_state_dict(theirs.mlp[0].state_dict())
            mine.mlp.fc2.load_state_dict(theirs.mlp[3].state_dict())
        t.norm.load_state_dict(s.encoder.ln.state_dict())
        t.head.load_state_dict(s.heads.head.state_dict())
    return target


def test_torchvision_attention_is_captured_where_it_is_used():
    """The explicit attention gives torchvision's output exactly, and rollout on torchvision equals
    rollout on timm with the same weights (timm's attention is read by another mechanism)."""
    source, x = torchvision_vit(), images()
    twin = copy_into_timm(source)
    plain = source(x)
    torch.testing.assert_close(twin(x), plain, atol=1e-5, rtol=1e-5)
    with capture_attention(source, vit_layout(source)) as attentions:
        patched = source(x)
    torch.testing.assert_close(patched, plain, atol=1e-5, rtol=1e-5)
    assert len(attentions) == 2 and attentions[0].shape == (2, 3, 17, 17)
    torch.testing.assert_close(attentions[0].sum(-1), torch.ones(2, 3, 17))
    for method in ("rollout", "attention_rollout"):
        a = whynot.explain(source, x, method=method, topk=2, contrast=CONTRASTS, discard_ratio=0.5)
        b = whynot.explain(twin, x, method=method, topk=2, contrast=CONTRASTS, discard_ratio=0.5)
        for contrast in CONTRASTS:
            torch.testing.assert_close(a[contrast], b[contrast], atol=1e-5, rtol=1e-3)


def test_rollout_runs_k_plus_two_backward_passes_and_plain_rollout_none():
    model = ours()
    explanation = whynot.explain(model, images(size=56), method="rollout", topk=3, contrast=CONTRASTS,
                                 return_explanation=True)
    assert explanation.backward_passes == 5 and explanation.maps["max"].shape == (2, 3, 56, 56)
    plain = whynot.explain(model, images(size=56), method="attention_rollout", topk=2, return_explanation=True)
    assert plain.backward_passes == 0 and torch.equal(plain.maps[:, 0], plain.maps[:, 1])
    assert plain.maps.min() >= 0


def test_a_classic_rollout_is_nonnegative_and_the_signed_one_is_not():
    model = ours()
    maps = whynot.explain(model, images(size=56), method="rollout", topk=2, contrast="max", discard_ratio=0.0)
    classic = whynot.explain(model, images(size=56), method="rollout", topk=2, contrast="max", relu=True)
    assert maps.min() < 0 and classic.min() >= 0


# --- restoring the model ---------------------------------------------------------------------------
def hook_count(model: nn.Module) -> int:
    return sum(len(m._forward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


@pytest.mark.parametrize("build_model", [ours, torchvision_vit, timm_vit])
def test_patches_and_hooks_are_undone_on_exceptions(build_model):
    model = build_model()
    model.net.head_flag = True
    flags = [p.requires_grad for p in model.parameters()]
    fused = [getattr(m, "fused_attn", None) for m in model.modules()]
    layout = vit_layout(model)
    with pytest.raises(RuntimeError, match="boom"):
        with capture_attention(model, layout):
            raise RuntimeError("boom")

    class Boom(nn.Module):
        def forward(self, x):
            raise RuntimeError("boom")

    head = "heads" if layout.family == "torchvision" else "head"
    original = getattr(model.net, head)
    setattr(model.net, head, Boom())
    for method in ("rollout", "gradcam", "attention_rollout"):
        with pytest.raises(RuntimeError, match="boom"):
            whynot.explain(model, images(size=56 if build_model is ours else 32), method=method)
    setattr(model.net, head, original)
    assert hook_count(model) == 0 and not model.training
    assert [p.requires_grad for p in model.parameters()] == flags
    assert [getattr(m, "fused_attn", None) for m in model.modules()] == fused
    assert all("forward" not in m.__dict__ for m in model.modules())


def test_rollout_refuses_what_it_cannot_explain():
    cnn = nn.Sequential(nn.Conv2d(3, 2, 3), nn.Flatten(), nn.LazyLinear(3))
    with pytest.raises(ValueError, match="not a Vision Transformer"):
        whynot.explain(cnn, images(), method="rollout")
    model = timm_vit()
    with pytest.raises(ValueError, match="takes no layer"):
        whynot.explain(model, images(), method="rollout", layer="net.blocks.0")
    with pytest.raises(ValueError, match="head_fusion"):
        whynot.explain(model, images(), method="rollout", head_fusion="median")
    with pytest.raises(ValueError, match="discard_ratio"):
        whynot.explain(model, images(), method="rollout", discard_ratio=-0.1)
    with pytest.raises(ValueError, match="attention"):
        whynot.explain(timm_vit(global_pool="map"), images(), method="rollout")


@pytest.mark.parametrize("method", ["rollout", "attention_rollout"])
def test_rollout_batches_over_images_and_targets_like_single_calls(method):
    model, x = ours().double(), images(size=56).double()
    classes = torch.tensor([[0, 3, 1], [2, 2, 4]])
    batched = whynot.explain(model, x, method=method, classes=classes, contrast=CONTRASTS)
    for b in range(2):
        for k in range(3):
            single = whynot.explain(model, x[b : b + 1], method=method, classes=int(classes[b, k]), contrast=CONTRASTS)
            for contrast in CONTRASTS:
                torch.testing.assert_close(batched[contrast][b, k], single[contrast][0, 0])
                assert not batched[contrast].requires_grad
