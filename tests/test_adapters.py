"""The adapters against the real peers: Quantus metrics call our explain_func, pytorch-grad-cam's
CAMs take our contrast targets, captum-style attribute() matches captum's own methods."""
from __future__ import annotations

import numpy as np
import pytest
import torch

import whynot
from whynot.adapters import CaptumExplainer, ContrastTarget, quantus_explain_func
from whynot.targets import CONTRASTS
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401

pytestmark = pytest.mark.filterwarnings("ignore:Input Tensor 0 did not already require gradients")
LAYER = 5  # tiny_cnn's ReLU after BatchNorm


def model_and_images(batch: int = 3, size: int = 8):
    model = tiny_cnn(seed=7, width=5, classes=6, dtype=torch.float32)
    return model, random_images(batch=batch, size=size, seed=3, dtype=torch.float32)


# --- Quantus ---------------------------------------------------------------------------------
@pytest.fixture
def quantus(monkeypatch):
    quantus = pytest.importorskip("quantus")
    if not hasattr(np, "trapz"):  # Quantus 0.6 calls np.trapz, which numpy 2 removed
        monkeypatch.setattr(np, "trapz", np.trapezoid, raising=False)
    return quantus


def test_quantus_explain_func_returns_whynot_maps_as_numpy():
    model, images = model_and_images()
    targets = np.array([0, 4, 2])
    maps = quantus_explain_func(model, images.numpy(), targets, method="gradcam", layer=str(LAYER),
                                contrast="weighted")
    expected = whynot.explain(model, images, method="gradcam", layer=str(LAYER),
                              classes=targets.tolist(), contrast="weighted")
    assert isinstance(maps, np.ndarray) and maps.dtype == np.float32 and maps.shape == (3, 1, 8, 8)
    np.testing.assert_allclose(maps, expected.detach().numpy(), rtol=1e-6, atol=1e-7)
    with pytest.raises(ValueError, match="one contrast at a time"):
        quantus_explain_func(model, images.numpy(), targets, contrast=("logit", "max"))


@pytest.mark.parametrize("contrast", ["logit", "weighted"])
def test_quantus_pixel_flipping_calls_our_explain_func(quantus, contrast):
    # The same scores whether Quantus calls the explain_func or gets the maps precomputed.
    model, images = model_and_images(batch=4)
    x, y = images.numpy(), model(images).argmax(dim=1).numpy()
    kwargs = dict(method="gradcam", layer=str(LAYER), contrast=contrast)

    def metric():
        return quantus.PixelFlipping(features_in_step=16, disable_warnings=True,
                                     display_progressbar=False)

    called = metric()(model=model, x_batch=x, y_batch=y, explain_func=quantus_explain_func,
                      explain_func_kwargs=kwargs, device="cpu")
    maps = quantus_explain_func(model, x, y, **kwargs)
    given = metric()(model=model, x_batch=x, y_batch=y, a_batch=maps, device="cpu")
    assert len(called) == 4 and np.isfinite(np.asarray(called)).all()
    np.testing.assert_allclose(np.asarray(called), np.asarray(given), rtol=1e-6)


def test_quantus_max_sensitivity_explains_perturbed_inputs_through_our_func(quantus):
    model, images = model_and_images(batch=2)
    x, y = images.numpy(), model(images).argmax(dim=1).numpy()
    calls = []

    def counting(model, inputs, targets, **kwargs):
        calls.append(inputs.shape)
        return quantus_explain_func(model, inputs, targets, **kwargs)

    metric = quantus.MaxSensitivity(nr_samples=3, disable_warnings=True, display_progressbar=False)
    scores = metric(model=model, x_batch=x, y_batch=y, explain_func=counting,
                    explain_func_kwargs=dict(method="gradient", contrast="max"), device="cpu")
    assert len(scores) == 2 and np.isfinite(scores).all() and len(calls) >= 1 + 3


# --- pytorch-grad-cam ------------------------------------------------------------------------
@pytest.mark.parametrize("contrast", [*CONTRASTS, "foil"])
def test_contrast_targets_give_pytorch_grad_cam_our_maps(contrast):
    pytorch_grad_cam = pytest.importorskip("pytorch_grad_cam")
    model, images = model_and_images()
    classes = model(images).detach().topk(2).indices[:, 1]  # runner-up: signed contrasts
    foils = [(int(c) + 1) % 6 for c in classes]
    extra = dict(foil=foils) if contrast == "foil" else {}
    ours = whynot.explain(model, images, method="gradcam", layer=str(LAYER),
                          classes=classes.tolist(), contrast=contrast, upsample=False, **extra)
    targets = [ContrastTarget(contrast, int(c), foil=f if contrast == "foil" else None)
               for c, f in zip(classes, foils)]
    with pytorch_grad_cam.GradCAM(model, target_layers=[model[LAYER]]) as cam:
        cam(input_tensor=images, targets=targets)
        activations = cam.activations_and_grads.activations[0].numpy()
        gradients = cam.activations_and_grads.gradients[0].numpy()
        theirs = cam.get_cam_image(images, model[LAYER], targets, activations, gradients)
    np.testing.assert_allclose(theirs, ours[:, 0].detach().numpy(), rtol=1e-4, atol=1e-6)


def test_contrast_target_scores_a_batch_and_an_image_alike():
    logits = torch.tensor([[2.0, 1.0, 0.0], [0.0, 3.0, 1.0]])
    target = ContrastTarget("max", 0)
    # max contrast: y_0 - y_{s*}; s* = 1 in both rows
    torch.testing.assert_close(target(logits), torch.tensor([1.0, -3.0]))
    assert target(logits[1]).item() == pytest.approx(-3.0)
    with pytest.raises(ValueError, match="unknown contrast"):
        ContrastTarget("nope", 0)


# --- captum ----------------------------------------------------------------------------------
def test_captum_style_attribute_matches_captum():
    captum_attr = pytest.importorskip("captum.attr")
    model, images = model_and_images()
    target = [1, 0, 5]
    saliency = captum_attr.Saliency(model).attribute(images, target=target, abs=False)
    ixg = captum_attr.InputXGradient(model).attribute(images, target=target)
    gradcam = captum_attr.LayerGradCam(model, model[LAYER]).attribute(images, target=target)
    gradient = CaptumExplainer(model, "gradient").attribute(images, target=target)
    torch.testing.assert_close(gradient, saliency)
    inputs_times = CaptumExplainer(model, "input_x_gradient").attribute(images, target=target)
    torch.testing.assert_close(inputs_times, ixg)
    ours = CaptumExplainer(model, "gradcam", layer=str(LAYER)).attribute(images, target=target)
    assert ours.shape == gradcam.shape == (3, 1, 4, 4)
    torch.testing.assert_close(ours, gradcam.detach(), rtol=1e-5, atol=1e-7)


def test_captum_style_contrast_and_default_target():
    model, images = model_and_images()
    explainer = CaptumExplainer(model, "gradient")
    predicted = model(images).argmax(dim=1).tolist()
    torch.testing.assert_close(explainer.attribute(images),
                               explainer.attribute(images, target=predicted))
    weighted = explainer.attribute(images, target=predicted, contrast="weighted")
    expected = whynot.explain(model, images, method="gradient", contrast="weighted",
                              keep_channels=True)
    torch.testing.assert_close(weighted, expected[:, 0])
    with pytest.raises(ValueError, match="one class per image"):
        explainer.attribute(images, target=torch.zeros(3, 2, dtype=torch.long))
