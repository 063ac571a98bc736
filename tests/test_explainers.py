"""Explainers on tiny models: hand-computed closed forms, the paper's invariance, conventions.

The small models defined here are shared with the other test_explainers*/propositions/crosscheck
files (imported as ``from test_explainers import ...``).
"""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import whynot
from whynot.explainers import METHODS, RolloutExplainer, token_grid
from whynot.targets import CONTRASTS

CAM_METHODS = ("gradcam", "la", "xgradcam", "gradcam++", "scorecam")
# Methods for any classifier (the rollouts need a ViT: tests/test_vit.py covers them).
ANY_MODEL_METHODS = [name for name, cls in METHODS.items() if not issubclass(cls, RolloutExplainer)]
LINEAR_METHODS = ("gradient", "input_x_gradient", "gradcam", "la", "xgradcam")
PAPER_CONTRASTS = ("logit", "weighted", "mean", "max")
# Keyword arguments that make each method cheap (or valid) on the tiny models below.
# Group-CAM: a blur wide enough to blur 8-pixel images (51 pixels at 224 would round to none).
TEST_KWARGS = {"integrated_gradients": {"steps": 3}, "groupcam": {"groups": 3, "blur": (151, 50.0)}}


@pytest.fixture(autouse=True)
def single_thread():
    """Run each test with one intra-op thread, then restore the setting.

    The models here are tiny: extra threads only add synchronisation, and on a busy shared CPU
    every tiny op then waits for a descheduled thread (measured: 100x slower). Other test files
    use it with ``from test_explainers import single_thread``.
    """
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def linear_model(weight: torch.Tensor, bias: torch.Tensor | None = None) -> nn.Module:
    """``y = W^T x + b`` on flattened images; ``weight`` is ``[d, c]`` (one column per class)."""
    d, c = weight.shape
    layer = nn.Linear(d, c, bias=bias is not None, dtype=weight.dtype)
    with torch.no_grad():
        layer.weight.copy_(weight.T)
        if bias is not None:
            layer.bias.copy_(bias)
    return nn.Sequential(nn.Flatten(), layer).eval()


def tiny_cnn(seed: int = 0, width: int = 6, classes: int = 5, dtype=torch.float64) -> nn.Sequential:
    """A flat ReLU CNN with eval-mode BatchNorm; CAM layers "3" (conv, signed) and "5" (ReLU, >= 0).

    Flat, so ``model[: i + 1]`` and ``model[i + 1 :]`` split it at layer ``i`` for brute force.
    """
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Conv2d(width, width, 3, padding=1),
        nn.BatchNorm2d(width),
        nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(2),
        nn.Flatten(),
        nn.Linear(4 * width, classes),
    ).to(dtype)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.copy_(torch.randn(parameter.shape, generator=generator, dtype=dtype) * 0.7)
        model[-1].weight.mul_(0.3)  # soft predictions, like a real classifier's
        model[4].running_mean.copy_(torch.randn(width, generator=generator, dtype=dtype) * 0.3)
        model[4].running_var.copy_(torch.rand(width, generator=generator, dtype=dtype) + 0.5)
    return model.eval()


def random_images(batch: int = 2, size: int = 8, seed: int = 1, dtype=torch.float64) -> torch.Tensor:
    return torch.rand(batch, 3, size, size, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- closed forms on a linear model, computed by hand -------------------------------------------
# Three features (a [1, 3, 1, 1] image), three classes; columns w_0 = (2, 0, 1), w_1 = (0, 1, 1),
# w_2 = (1, 1, 0); x = (2, 1, 1) gives y = (5, 2, 3): ranking 0, 2, 1.
W = torch.tensor([[2.0, 0.0, 1.0], [0.0, 1.0, 1.0], [1.0, 1.0, 0.0]], dtype=torch.float64)
X = torch.tensor([2.0, 1.0, 1.0], dtype=torch.float64).view(1, 3, 1, 1)
A1, A2 = 1 / (1 + math.e), math.e / (1 + math.e)  # alpha over classes {1, 2} for t = 0: softmax(2, 3)
HAND_GRADIENTS = {  # target 0 (top-1) and target 1 (last; s* = 0)
    "logit": [[2, 0, 1], [0, 1, 1]],
    "mean": [[2 - 0.5, 0 - 1, 1 - 0.5], [0 - 1.5, 1 - 0.5, 1 - 0.5]],
    "max": [[2 - 1, 0 - 1, 1 - 0], [0 - 2, 1 - 0, 1 - 1]],
    "weighted": [[2 - A2, -A1 - A2, 1 - A1], None],
}


@pytest.mark.parametrize("contrast", list(HAND_GRADIENTS))
def test_gradient_and_input_x_gradient_closed_forms(contrast):
    model = linear_model(W)
    for method, times_input in (("gradient", False), ("input_x_gradient", True)):
        maps = whynot.explain(model, X, method=method, classes=[[0, 1]], contrast=contrast, keep_channels=True)
        for k, expected in enumerate(HAND_GRADIENTS[contrast]):
            if expected is None:
                continue
            expected = torch.tensor(expected, dtype=torch.float64) * (X.flatten() if times_input else 1)
            torch.testing.assert_close(maps[0, k].flatten(), expected)


def test_weighted_closed_form_for_a_low_ranked_target():
    # t = 1: alpha over {0, 2} = softmax(5, 3); w_1 - alpha_0 w_0 - alpha_2 w_2
    model = linear_model(W)
    alpha_0, alpha_2 = 1 / (1 + math.exp(-2)), 1 / (1 + math.exp(2))
    expected = torch.tensor([-2 * alpha_0 - alpha_2, 1 - alpha_2, 1 - alpha_0], dtype=torch.float64)
    maps = whynot.explain(model, X, method="gradient", classes=1, contrast="weighted", keep_channels=True)
    torch.testing.assert_close(maps[0, 0].flatten(), expected)


def test_softmax_closed_form_is_scaled_weighted():
    # p_0 = e^5 / (e^5 + e^2 + e^3); softmax gradient = p_0 (1 - p_0) * weighted gradient
    model = linear_model(W)
    p0 = math.exp(5) / (math.exp(5) + math.exp(2) + math.exp(3))
    maps = whynot.explain(model, X, method="gradient", classes=0, contrast="softmax", keep_channels=True)
    expected = p0 * (1 - p0) * torch.tensor(HAND_GRADIENTS["weighted"][0], dtype=torch.float64)
    torch.testing.assert_close(maps[0, 0].flatten(), expected)


@pytest.mark.parametrize("method", ["gradient", "input_x_gradient"])
def test_shifting_every_class_weight_of_a_feature_moves_only_the_logit_explanation(method):
    """Paper section 3.1: w_i^s += delta for all s shifts phi_i^t(logit) by delta x_i (IxG)."""
    generator = torch.Generator().manual_seed(3)
    weight = torch.randn(12, 4, generator=generator, dtype=torch.float64)
    images = random_images(batch=3, size=2)
    feature, delta = 5, 1.7
    shifted = weight.clone()
    shifted[feature] += delta
    contrasts = ("logit", "softmax", "weighted", "mean", "max")
    before = whynot.explain(linear_model(weight), images, method=method, topk=3, contrast=contrasts, keep_channels=True)
    after = whynot.explain(linear_model(shifted), images, method=method, topk=3, contrast=contrasts, keep_channels=True)
    change = torch.zeros_like(images)
    change.view(3, -1)[:, feature] = delta * (images.view(3, -1)[:, feature] if method == "input_x_gradient" else 1)
    torch.testing.assert_close(after["logit"] - before["logit"], change[:, None].expand_as(before["logit"]))
    for contrast in contrasts[1:]:
        torch.testing.assert_close(after[contrast], before[contrast])


# --- targets and return conventions -------------------------------------------------------------
def test_class_forms_select_the_same_targets():
    model, images = tiny_cnn(), random_images(batch=3)
    top = whynot.explain(model, images, topk=2, return_explanation=True)
    assert top.classes.shape == (3, 2) and top.maps.shape == (3, 2, 8, 8)
    assert torch.equal(top.classes[:, 0], model(images).argmax(1))
    explicit = whynot.explain(model, images, classes=top.classes, return_explanation=True)
    assert torch.equal(explicit.classes, top.classes) and torch.equal(explicit.maps, top.maps)
    nested = whynot.explain(model, images, classes=top.classes.tolist(), return_explanation=True)
    assert torch.equal(nested.maps, top.maps)
    per_image = whynot.explain(model, images, classes=top.classes[:, 1].tolist(), return_explanation=True)
    assert torch.equal(per_image.maps[:, 0], top.maps[:, 1])
    same = whynot.explain(model, images, classes=4, return_explanation=True)
    assert same.classes.tolist() == [[4]] * 3
    default = whynot.explain(model, images, return_explanation=True)
    assert torch.equal(default.classes, top.classes[:, :1])


@pytest.mark.parametrize("method", ANY_MODEL_METHODS)
def test_batching_over_images_and_targets_matches_single_calls(method):
    model, images = tiny_cnn(), random_images(batch=2)
    classes = torch.tensor([[0, 3, 1], [2, 2, 4]])
    kwargs = TEST_KWARGS.get(method, {})
    batched = whynot.explain(model, images, method=method, classes=classes, contrast=CONTRASTS, **kwargs)
    for b in range(2):
        for k in range(3):
            single = whynot.explain(
                model, images[b : b + 1], method=method, classes=int(classes[b, k]), contrast=CONTRASTS, **kwargs
            )
            for contrast in CONTRASTS:
                torch.testing.assert_close(batched[contrast][b, k], single[contrast][0, 0])


@pytest.mark.parametrize("method", ANY_MODEL_METHODS)
def test_maps_are_detached_deterministic_and_keep_dtype(method):
    model, images = tiny_cnn(dtype=torch.float32), random_images(dtype=torch.float32)
    kwargs = TEST_KWARGS.get(method, {})
    first = whynot.explain(model, images, method=method, topk=2, contrast=("softmax", "max"), **kwargs)
    second = whynot.explain(model, images, method=method, topk=2, contrast=("softmax", "max"), **kwargs)
    for contrast, maps in first.items():
        assert maps.dtype == torch.float32 and maps.device == images.device and not maps.requires_grad
        assert torch.equal(maps, second[contrast])


@pytest.mark.parametrize("method", ["gradcam", "gradient"])
def test_explaining_under_no_grad_gives_the_same_maps(method):
    model, images = tiny_cnn(), random_images()
    expected = whynot.explain(model, images, method=method, topk=2, contrast="weighted")
    with torch.no_grad():
        torch.testing.assert_close(whynot.explain(model, images, method=method, topk=2, contrast="weighted"), expected)


def test_single_contrast_returns_a_tensor_and_a_sequence_a_dict_of_the_same_maps():
    model, images = tiny_cnn(), random_images()
    together = whynot.explain(model, images, method="la", topk=2, contrast=["weighted", "max"])
    assert set(together) == {"weighted", "max"}
    for contrast, maps in together.items():
        torch.testing.assert_close(maps, whynot.explain(model, images, method="la", topk=2, contrast=contrast))


def test_a_sequence_of_methods_shares_one_engine_pass_and_matches_separate_calls():
    model, images = tiny_cnn(), random_images()
    methods = ("gradcam", "la", "xgradcam", "gradcam++")
    together = whynot.explain(
        model, images, method=methods, layer="3", topk=2, contrast=PAPER_CONTRASTS, return_explanation=True
    )
    assert tuple(together) == methods
    for method, explanation in together.items():
        alone = whynot.explain(
            model, images, method=method, layer="3", topk=2, contrast=PAPER_CONTRASTS, return_explanation=True
        )
        assert explanation.backward_passes == alone.backward_passes == 4  # shared, not 4 per method
        torch.testing.assert_close(explanation.classes, alone.classes)
        for contrast in PAPER_CONTRASTS:
            torch.testing.assert_close(explanation.maps[contrast], alone.maps[contrast])


@pytest.mark.parametrize("methods", [("gradcam", "scorecam"), ("gradcam", "gradient"), (), ("la", "la")])
def test_methods_that_cannot_share_an_engine_pass_are_refused(methods):
    with pytest.raises(ValueError, match="share one engine pass|distinct names"):
        whynot.explain(tiny_cnn(), random_images(), method=methods)


@pytest.mark.parametrize("method", CAM_METHODS)
def test_upsampling_is_bilinear_with_aligned_corners_after_relu(method):
    model, images = tiny_cnn(), random_images()
    low = whynot.explain(model, images, method=method, layer="3", topk=2, contrast="max", upsample=False)
    assert low.shape == (2, 2, 4, 4)
    high = whynot.explain(model, images, method=method, layer="3", topk=2, contrast="max", relu=True)
    expected = F.interpolate(low.relu(), size=(8, 8), mode="bilinear", align_corners=True)
    torch.testing.assert_close(high, expected)
    if method != "gradcam++":  # its weights are >= 0, so its map need not change sign here
        assert (low < 0).any(), "the paper's form keeps negative evidence"


def test_default_layer_is_the_metadata_layer_else_the_last_convolution():
    model, images = tiny_cnn(), random_images()
    last_conv = whynot.explain(model, images, layer="3", upsample=False)
    torch.testing.assert_close(whynot.explain(model, images, upsample=False), last_conv)
    model.whynot_meta = {"default_layer": "0"}
    first_conv = whynot.explain(model, images, upsample=False)
    assert first_conv.shape[-1] == 8
    torch.testing.assert_close(first_conv, whynot.explain(model, images, layer=model[0], upsample=False))


# --- Integrated Gradients -----------------------------------------------------------------------
def test_integrated_gradients_of_a_bias_free_linear_model_is_input_x_gradient():
    """Hesse et al.: for homogeneous models IG from a zero baseline equals IxG."""
    model = linear_model(torch.randn(48, 5, generator=torch.Generator().manual_seed(0), dtype=torch.float64))
    images = random_images(batch=2, size=4)
    ig = whynot.explain(model, images, method="integrated_gradients", topk=3, contrast=PAPER_CONTRASTS, steps=2)
    ixg = whynot.explain(model, images, method="input_x_gradient", topk=3, contrast=PAPER_CONTRASTS)
    for contrast in PAPER_CONTRASTS:
        torch.testing.assert_close(ig[contrast], ixg[contrast])


def test_integrated_gradients_completeness_and_path_batching():
    # Smooth, so that Gauss-Legendre converges fast (ReLU kinks make any rule converge like 1/steps).
    torch.manual_seed(0)
    model = nn.Sequential(
        nn.Conv2d(3, 4, 3, padding=1), nn.Tanh(), nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16, 5)
    ).double().eval()
    images = random_images(batch=3)
    baseline = torch.tensor([0.5, 0.4, 0.3], dtype=torch.float64).view(3, 1, 1)
    explanation = whynot.explain(
        model, images, method="integrated_gradients", topk=2, contrast=("logit", "softmax", "weighted"),
        baseline=baseline, steps=24, return_explanation=True,
    )
    classes = explanation.classes
    logits, base_logits = model(images), model(baseline.expand_as(images))
    sums = {name: maps.sum(dim=(-2, -1)) for name, maps in explanation.maps.items()}
    torch.testing.assert_close(sums["logit"], logits.gather(1, classes) - base_logits.gather(1, classes), atol=1e-8, rtol=0)
    gain = logits.softmax(1).gather(1, classes) - base_logits.softmax(1).gather(1, classes)
    torch.testing.assert_close(sums["softmax"], gain, atol=1e-8, rtol=0)
    alpha = whynot.targets.cotangents(logits, classes, "weighted")
    gain = torch.einsum("bkc,bc->bk", alpha, logits - base_logits)
    torch.testing.assert_close(sums["weighted"], gain, atol=1e-8, rtol=0)
    one_point_per_forward = whynot.explain(
        model, images, method="integrated_gradients", topk=2, contrast=("logit", "softmax", "weighted"),
        baseline=baseline, steps=24, batch_size=1,
    )
    for contrast, maps in explanation.maps.items():
        torch.testing.assert_close(one_point_per_forward[contrast], maps)


# --- ScoreCAM and token layers ------------------------------------------------------------------
def test_scorecam_without_channel_softmax_is_the_authors_probability_weighted_sum():
    model, images = tiny_cnn(), random_images(batch=2)
    maps = whynot.explain(model, images, method="scorecam", layer="3", contrast="softmax", upsample=False,
                          channel_softmax=False)
    activations = model[:4](images)
    top = model(images).argmax(dim=1)
    for b in range(2):
        expected = torch.zeros(activations.shape[-2:], dtype=torch.float64)
        for channel in activations[b]:
            mask = F.interpolate(channel[None, None], size=images.shape[-2:], mode="bilinear", align_corners=True)
            mask = (mask - mask.min()) / (mask.max() - mask.min() + 1e-8)
            expected += model(images[b : b + 1] * mask).softmax(dim=1)[0, top[b]] * channel
        torch.testing.assert_close(maps[b, 0], expected)


def test_scorecam_masked_batches_do_not_change_the_result():
    model, images = tiny_cnn(), random_images(batch=3)
    reference = whynot.explain(model, images, method="scorecam", topk=2, contrast=CONTRASTS, batch_size=64)
    chunked = whynot.explain(model, images, method="scorecam", topk=2, contrast=CONTRASTS, batch_size=5)
    for contrast in CONTRASTS:
        torch.testing.assert_close(chunked[contrast], reference[contrast])


class TinyViT(nn.Module):
    """Patch embedding, a CLS token, one token-wise block, mean pooling, a linear head."""

    def __init__(self, dim: int = 6, classes: int = 4):
        super().__init__()
        self.embed = nn.Conv2d(3, dim, 2, stride=2)
        self.cls = nn.Parameter(torch.randn(1, 1, dim))
        self.block = nn.Sequential(nn.Linear(dim, dim), nn.GELU())
        self.head = nn.Linear(dim, classes)

    def forward(self, x):
        tokens = self.embed(x).flatten(2).transpose(1, 2)
        tokens = self.block(torch.cat([self.cls.expand(len(x), -1, -1), tokens], dim=1))
        return self.head(tokens.mean(dim=1))


def test_token_layers_need_a_reshape_and_then_match_brute_force():
    torch.manual_seed(0)
    model, images = TinyViT().double().eval(), random_images(batch=2)
    with pytest.raises(ValueError, match="reshape="):
        whynot.explain(model, images, layer="block", topk=2)
    maps = whynot.explain(model, images, layer="block", topk=2, contrast="softmax", reshape=token_grid(1), upsample=False)
    assert maps.shape == (2, 2, 4, 4)
    tokens = {}
    handle = model.block.register_forward_hook(lambda module, inputs, output: tokens.setdefault("a", output))
    logits = model(images)
    handle.remove()
    top = logits.topk(2).indices
    for k in range(2):
        score = logits.softmax(1).gather(1, top[:, k : k + 1]).sum()
        (gradient,) = torch.autograd.grad(score, tokens["a"], retain_graph=True)
        grid_a, grid_g = token_grid(1)(tokens["a"].detach()), token_grid(1)(gradient)
        expected = (grid_g.mean(dim=(-2, -1))[..., None, None] * grid_a).sum(1)
        torch.testing.assert_close(maps[:, k], expected)
