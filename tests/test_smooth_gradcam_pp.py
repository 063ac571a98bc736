"""Smooth GradCAM++: GradCAM++ at zero noise, a hand-written noisy loop, and torchcam's SmoothGradCAMpp."""
from __future__ import annotations

import pytest
import torch
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)
from torchcam.methods import SmoothGradCAMpp

import whynot
from whynot.explainers.gradcam_pp import plus_plus_weights
from whynot.explainers.smooth_gradcam_pp import SmoothGradCAMPlusPlus
from whynot.targets import CONTRASTS

LAYER = "3"  # tiny_cnn's last convolution (signed activations)


def confident_cnn():
    """tiny_cnn with a 30x larger head: gradients far above GradCAM++'s 1e-6 (torchcam uses 1e-8)."""
    model = tiny_cnn()
    with torch.no_grad():
        model[-1].weight.mul_(30)
    return model


def layer_gradient(model, image, target):
    store = {}
    handle = model.get_submodule(LAYER).register_forward_hook(lambda m, i, o: store.update(a=o))
    try:
        logits = model(image)
        (gradient,) = torch.autograd.grad(logits[0, target], store["a"])
    finally:
        handle.remove()
    return gradient[0], store["a"][0].detach()


def test_zero_noise_is_gradcam_plus_plus_for_every_contrast():
    model, images = tiny_cnn(), random_images(batch=3)
    smooth = whynot.explain(model, images, method="smoothgradcam++", topk=2, contrast=CONTRASTS, std=0.0, samples=2)
    plain = whynot.explain(model, images, method="gradcam++", topk=2, contrast=CONTRASTS)
    for contrast in CONTRASTS:
        torch.testing.assert_close(smooth[contrast], plain[contrast])


def test_matches_a_hand_written_loop_over_noisy_copies():
    model, images = confident_cnn(), random_images(batch=2)
    samples, std, seed = 3, 0.2, 7
    maps = whynot.explain(model, images, method="smoothgradcam++", layer=LAYER, upsample=False,
                          samples=samples, std=std, seed=seed)
    generator = torch.Generator().manual_seed(seed)
    noise = [std * torch.randn(1, 3, 8, 8, generator=generator, dtype=torch.float32) for _ in range(samples)]
    for b in range(2):
        target = int(model(images[b : b + 1]).argmax())
        _, activations = layer_gradient(model, images[b : b + 1], target)
        gradients = torch.stack([layer_gradient(model, images[b : b + 1] + n.double(), target)[0] for n in noise])
        d1, d2, d3 = ((gradients**p).mean(0) for p in (1, 2, 3))
        alpha = d2 / (2 * d2 + activations.sum(dim=(1, 2), keepdim=True) * d3 + 1e-6)
        weights = (alpha * d1.relu()).sum(dim=(1, 2))
        torch.testing.assert_close(maps[b, 0], (weights[:, None, None] * activations).sum(0))


# torchcam sums A * g^3 over the grid where GradCAM++ (and we) multiply the sum of A by g^3 at
# each position: on a 1 x 1 grid (2 x 2 images: the layer after one pooling) the two agree.
ONE_CELL = 2


@pytest.mark.parametrize("samples, std, torchcam_std", [(1, 0.25, 0.25), (3, 0.0, 1e-9)])
def test_torchcams_weights_for_one_sample_or_no_noise(samples, std, torchcam_std, monkeypatch):
    """One sample: torchcam's last-sample gradient is the mean, and the same seed gives the same
    noise. No noise (torchcam's Normal refuses a zero scale; 1e-9 moves nothing at rtol 1e-4):
    every sample's gradient is the mean. Either way its channel weights are ours."""
    import whynot.explainers.smooth_gradcam_pp as module

    recorded = []

    def recording(*args):
        recorded.append(plus_plus_weights(*args))
        return recorded[-1]

    monkeypatch.setattr(module, "plus_plus_weights", recording)
    model, image = confident_cnn(), random_images(batch=1, size=ONE_CELL)
    seed = 3
    whynot.explain(model, image, method="smoothgradcam++", layer=LAYER, samples=samples, std=std, seed=seed)
    target = int(model(image).argmax())
    shape = (3, ONE_CELL, ONE_CELL)
    with SmoothGradCAMpp(model, LAYER, num_samples=samples, std=torchcam_std, input_shape=shape) as extractor:
        model(image)
        torch.manual_seed(seed)
        (weights,) = extractor._get_weights(target)
    torch.testing.assert_close(recorded[0][0, 0], weights[0].to(recorded[0]), rtol=1e-4, atol=1e-6)


def test_seeded_batch_invariant_and_bad_arguments_are_refused():
    model, images = tiny_cnn(), random_images(batch=3)
    both = whynot.explain(model, images, method="smoothgradcam++", std=0.3, seed=1)
    last = whynot.explain(model, images[2:], method="smoothgradcam++", std=0.3, seed=1)
    torch.testing.assert_close(both[2:], last)  # the noise does not depend on the batch
    other = whynot.explain(model, images, method="smoothgradcam++", std=0.3, seed=2)
    assert not torch.allclose(both, other)
    explanation = SmoothGradCAMPlusPlus(model, samples=5)(images, topk=2)
    assert explanation.backward_passes == 5 * 2  # per noisy copy: one per target (logit atoms)
    for kwargs, message in (({"samples": 0}, "samples must be"), ({"std": -1.0}, "std must be")):
        with pytest.raises(ValueError, match=message):
            whynot.explain(model, images, method="smoothgradcam++", **kwargs)
