"""The paper's Propositions 2 and 3 and the engine's linearity trick, against brute force.

Brute force here means: the method's formula applied to ``torch.autograd.grad`` of the contrast's
scalar, one target at a time, no engine, with the model split by hand at the layer.
"""
from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import whynot
from whynot import targets
from test_explainers import LINEAR_METHODS, PAPER_CONTRASTS, random_images, single_thread, tiny_cnn  # noqa: F401

CAM_LAYER = 3  # tiny_cnn's second convolution (signed activations, 4x4 for 8x8 images)
ALL_CONTRASTS = targets.CONTRASTS


def contrast_scalar(logits: torch.Tensor, target: torch.Tensor, contrast: str) -> torch.Tensor:
    """The per-image scalar [B] whose gradient the contrast is (weights fixed from the logits)."""
    y_t = logits.gather(1, target[:, None])[:, 0]
    others = logits.detach().scatter(1, target[:, None], float("-inf"))
    if contrast == "logit":
        return y_t
    if contrast == "softmax":
        return logits.softmax(1).gather(1, target[:, None])[:, 0]
    if contrast == "weighted":
        return y_t - (others.softmax(1) * logits).sum(1)
    if contrast == "mean":
        return y_t - (logits.sum(1) - y_t) / (logits.shape[1] - 1)
    return y_t - logits.gather(1, others.argmax(1, keepdim=True))[:, 0]


def method_map(method: str, gradient: torch.Tensor, values: torch.Tensor) -> torch.Tensor:
    """The method's formula on one target's gradient [B, C, h, w] and the input/activation."""
    if method == "gradient":
        return gradient.sum(1)
    if method == "input_x_gradient":
        return (values * gradient).sum(1)
    if method == "gradcam":
        weights = gradient.mean(dim=(2, 3))
    elif method == "la":
        return (values * gradient).sum(1)
    elif method == "xgradcam":
        weights = (gradient * values).sum(dim=(2, 3)) / (values.abs().sum(dim=(2, 3)) + 1e-7)
    else:  # gradcam++
        squared = gradient**2
        alpha = squared / (2 * squared + values.sum(dim=(2, 3), keepdim=True) * squared * gradient + 1e-6)
        weights = (torch.where(gradient != 0, alpha, 0) * gradient.relu()).sum(dim=(2, 3))
    return (weights[:, :, None, None] * values).sum(1)


def brute_force(model, images, method, classes, contrast, layer=CAM_LAYER):
    """Maps [B, K, h, w]: one plain autograd call per target, the model split by hand at ``layer``."""
    maps = []
    for target in classes.unbind(1):
        if method in ("gradient", "input_x_gradient"):
            values = images.clone().requires_grad_()
            logits = model(values)
        else:
            values = model[: layer + 1](images).detach().requires_grad_()
            logits = model[layer + 1 :](values)
        (gradient,) = torch.autograd.grad(contrast_scalar(logits, target, contrast).sum(), values)
        maps.append(method_map(method, gradient, values.detach()))
    return torch.stack(maps, dim=1)


def explain_at_layer(model, images, method, **kwargs):
    layer = {} if method in ("gradient", "input_x_gradient") else {"layer": str(CAM_LAYER), "upsample": False}
    return whynot.explain(model, images, method=method, **layer, **kwargs)


network = dict(
    seed=st.integers(0, 10_000),
    width=st.integers(2, 6),
    num_classes=st.integers(3, 7),
    batch=st.integers(1, 3),
    size=st.sampled_from([4, 8]),
)


@settings(max_examples=12, deadline=None)
@given(**network)
def test_prop2_prop3_softmax_is_the_scaled_weighted_contrast_of_all_logit_maps(seed, width, num_classes, batch, size):
    """phi(p_t) = p_t (1 - p_t) [phi(y_t) - sum_{s != t} alpha_s phi(y_s)] for linear methods."""
    model, images = tiny_cnn(seed, width, num_classes), random_images(batch, size, seed)
    logits = model(images).detach()
    every_class = torch.arange(num_classes).expand(batch, -1)
    top = logits.topk(min(3, num_classes)).indices
    p_t = logits.softmax(1).gather(1, top)
    alpha = targets.other_class_weights(logits, top)  # [B, K, c], zero at t
    for method in LINEAR_METHODS:
        logit_maps = explain_at_layer(model, images, method, classes=every_class)
        maps = explain_at_layer(model, images, method, classes=top, contrast=("softmax", "weighted"))
        eq1 = logit_maps.gather(1, top[..., None, None].expand(-1, -1, *logit_maps.shape[2:]))
        eq1 = eq1 - torch.einsum("bkc,bchw->bkhw", alpha, logit_maps)
        torch.testing.assert_close(maps["weighted"], eq1, msg=method)
        torch.testing.assert_close(maps["softmax"], (p_t * (1 - p_t))[..., None, None] * eq1, msg=method)


@settings(max_examples=12, deadline=None)
@given(**network)
def test_every_contrast_matches_brute_force_autograd_of_its_scalar(seed, width, num_classes, batch, size):
    model, images = tiny_cnn(seed, width, num_classes), random_images(batch, size, seed)
    classes = model(images).topk(min(3, num_classes)).indices
    for method in (*LINEAR_METHODS, "gradcam++"):
        maps = explain_at_layer(model, images, method, classes=classes, contrast=ALL_CONTRASTS)
        for contrast in ALL_CONTRASTS:
            expected = brute_force(model, images, method, classes, contrast)
            torch.testing.assert_close(maps[contrast], expected, msg=f"{method} {contrast}")
            relu = explain_at_layer(model, images, method, classes=classes, contrast=contrast, relu=True)
            torch.testing.assert_close(relu, expected.relu(), msg=f"{method} {contrast} relu")


@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_four_contrasts_of_the_top3_cost_five_backward_passes_not_twelve(method, monkeypatch):
    model, images = tiny_cnn(classes=6), random_images(batch=3)
    assert model(images).softmax(1).max() < 1 - targets.WEIGHTED_FALLBACK_BELOW  # no exact fallback atom
    calls = []
    grad = torch.autograd.grad
    monkeypatch.setattr(torch.autograd, "grad", lambda *args, **kwargs: calls.append(1) or grad(*args, **kwargs))
    explanation = explain_at_layer(model, images, method, topk=3, contrast=PAPER_CONTRASTS, return_explanation=True)
    assert explanation.backward_passes == len(calls) == 3 + 2
    monkeypatch.undo()
    for contrast in PAPER_CONTRASTS:  # 4 x 3 = 12 plain passes give the same maps
        torch.testing.assert_close(
            explanation.maps[contrast], brute_force(model, images, method, explanation.classes, contrast)
        )


def test_deduplication_adds_only_the_atoms_the_targets_lack():
    model, images = tiny_cnn(classes=6), random_images(batch=2)
    top = model(images).topk(6).indices
    # targets ranked 3rd and 5th: both have s* = top-1, which is not a target -> one extra atom
    explanation = explain_at_layer(model, images, "gradcam", classes=top[:, [2, 4]], contrast="max", return_explanation=True)
    assert explanation.backward_passes == 3
    explanation = explain_at_layer(model, images, "gradcam", classes=top[:, [0, 1]], contrast="max", return_explanation=True)
    assert explanation.backward_passes == 2


def near_one_hot_model():
    """tiny_cnn in float32 with its head scaled until 1 - p_top ~ 1e-6 for the test image."""
    model, images = tiny_cnn(seed=4, dtype=torch.float32), random_images(batch=1, seed=2, dtype=torch.float32)
    logits = model(images).detach()
    top2 = logits.topk(2).values[0]
    with torch.no_grad():
        model[-1].weight.mul_(14 / (top2[0] - top2[1]))
        model[-1].bias.mul_(14 / (top2[0] - top2[1]))
    return model, images


@pytest.mark.parametrize("method", ["gradient", "gradcam"])
def test_weighted_fallback_stays_exact_on_a_near_one_hot_model(method, monkeypatch):
    """float32 engine vs float64 brute force where 1 - p_t1 ~ 1e-6 and p_t2 ~ 1e-6."""
    model, images = near_one_hot_model()
    classes = model(images).topk(2).indices
    reference = {
        contrast: brute_force(model.double(), images.double(), method, classes, contrast).float()
        for contrast in ("weighted", "softmax")
    }
    model.float()
    assert 1 - model.double()(images.double()).softmax(1).max() < 1e-5
    model.float()

    def relative_error(maps, contrast, k):
        expected = reference[contrast][:, k]
        return ((maps[:, k] - expected).abs().max() / expected.abs().max()).item()

    explanation = explain_at_layer(model, images, method, classes=classes, contrast=("weighted", "softmax"), return_explanation=True)
    assert explanation.backward_passes == 3  # t1's exact atom e_t1 - alpha; e_t2 and p for t2
    for contrast in ("weighted", "softmax"):
        for k in range(2):
            assert relative_error(explanation.maps[contrast], contrast, k) < 1e-5, (contrast, k)
    # Without the fallback the decomposition (e_t - p) / (1 - p_t) cancels catastrophically.
    monkeypatch.setattr(targets, "WEIGHTED_FALLBACK_BELOW", 0.0)
    naive = explain_at_layer(model, images, method, classes=classes, contrast="weighted")
    assert relative_error(naive, "weighted", 0) > 1e-2


# --- EfficientNet-Lite0 on a real photo ----------------------------------------------------------
@pytest.fixture(scope="module")
def lite0_and_coffee():
    zoo = pytest.importorskip("whynot.models.zoo", reason="whynot.models.zoo (EfficientNet-Lite0) not available yet")
    photos = pytest.importorskip("whynot.data.photos", reason="whynot.data.photos not available yet")
    try:
        model, image = zoo.load_model("efficientnet_lite0"), photos.load_photo("coffee")[None]
    except (ImportError, FileNotFoundError, KeyError) as error:
        pytest.skip(f"EfficientNet-Lite0 weights or the coffee photo are not available: {error}")
    return model, image


def assert_close_relative(actual, expected, message):
    torch.testing.assert_close(actual, expected, atol=2e-5 * expected.abs().max().item(), rtol=1e-3, msg=message)


@pytest.mark.slow
def test_prop2_on_efficientnet_lite0_gradcam_over_all_1000_logit_maps(lite0_and_coffee):
    model, image = lite0_and_coffee
    explanation = whynot.explain(model, image, topk=3, contrast=("softmax", "weighted"), upsample=False, return_explanation=True)
    top = explanation.classes
    logits = model(image).detach()
    alpha = targets.other_class_weights(logits, top)
    eq1 = torch.zeros_like(explanation.maps["weighted"])
    for chunk in torch.arange(logits.shape[1]).split(250):
        logit_maps = whynot.explain(model, image, classes=chunk[None], upsample=False)
        eq1 -= torch.einsum("bkc,bchw->bkhw", alpha[:, :, chunk], logit_maps)
        is_target = chunk[None, None, :] == top[..., None]
        eq1 += torch.einsum("bkc,bchw->bkhw", is_target.to(logit_maps.dtype), logit_maps)
    p_t = logits.softmax(1).gather(1, top)
    assert_close_relative(explanation.maps["weighted"], eq1, "weighted = Eq. 1")
    assert_close_relative(explanation.maps["softmax"], (p_t * (1 - p_t))[..., None, None] * eq1, "Prop. 2")


@pytest.mark.slow
@pytest.mark.parametrize("method", LINEAR_METHODS)
def test_efficientnet_lite0_contrasts_match_brute_force(method, lite0_and_coffee):
    model, image = lite0_and_coffee
    explanation = whynot.explain(
        model, image, method=method, topk=3, contrast=ALL_CONTRASTS, upsample=False, return_explanation=True
    )
    assert explanation.backward_passes == 5
    if method in ("gradient", "input_x_gradient"):
        values = image.clone().requires_grad_()
        logits = model(values)
    else:
        activation = {}
        handle = model.get_submodule(model.whynot_meta["default_layer"]).register_forward_hook(
            lambda module, inputs, output: activation.setdefault("a", output)
        )
        logits = model(image)
        handle.remove()
        values = activation["a"]
    p_t = logits.detach().softmax(1).gather(1, explanation.classes)
    for contrast in ALL_CONTRASTS:
        for k, target in enumerate(explanation.classes.unbind(1)):
            (gradient,) = torch.autograd.grad(contrast_scalar(logits, target, contrast).sum(), values, retain_graph=True)
            expected = method_map(method, gradient, values.detach())
            assert_close_relative(explanation.maps[contrast][:, k], expected, f"{method} {contrast} target {k}")
    scaled = (p_t * (1 - p_t))[..., None, None] * explanation.maps["weighted"]
    assert_close_relative(explanation.maps["softmax"], scaled, f"{method} Prop. 2")
