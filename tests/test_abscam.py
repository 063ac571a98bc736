"""Abs-CAM: the literal (per-channel) reading of Eqs. 3-5 and the summed variant against
hand-written loops, and the summed variant's identity."""
from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from test_explainers import TEST_KWARGS, random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)

import whynot
from whynot.models.common import NormalizedModel
from whynot.utils import min_max

LAYER = "net.3"


def normalising_model():
    """tiny_cnn behind a Normalize: masked pixels go to its mean colour."""
    return NormalizedModel(tiny_cnn(width=4), (0.4, 0.5, 0.6), (0.2, 0.3, 0.25), {"name": "tiny"}).eval()


def gradient_and_activations(model, image, target):
    store = {}
    handle = model.get_submodule(LAYER).register_forward_hook(lambda m, i, o: store.update(a=o))
    try:
        logits = model(image[None])
        (gradient,) = torch.autograd.grad(logits[0, target], store["a"])
    finally:
        handle.remove()
    return gradient[0], store["a"][0].detach()


def up(maps, size):
    return F.interpolate(maps[:, None], size=size, mode="bilinear", align_corners=True)[:, 0]


def masked(model, image, mask):
    mean = torch.tensor(model.whynot_meta["mean"], dtype=image.dtype).view(3, 1, 1)
    return mean + (image - mean) * mask  # = the normalised image times the mask


def test_initial_map_is_normalised_upsampled_absolute_gradcam():
    model, images = normalising_model(), random_images(batch=2, size=8)
    maps = whynot.explain(model, images, method="abscam_init", layer=LAYER, topk=2)
    classes = model(images).topk(2).indices
    for b in range(2):
        for k in range(2):
            gradient, activations = gradient_and_activations(model, images[b], int(classes[b, k]))
            weights = gradient.abs().mean(dim=(1, 2))
            expected = min_max(up((weights[:, None, None] * activations).sum(0)[None], (8, 8)))[0]
            torch.testing.assert_close(maps[b, k], expected)


def test_summed_variant_is_the_initial_map_scaled_by_the_masked_score():
    model, images = normalising_model(), random_images(batch=2, size=8)
    initial = whynot.explain(model, images, method="abscam_init", layer=LAYER)
    summed = whynot.explain(model, images, method="abscam", layer=LAYER, reading="summed", contrast="softmax")
    top = model(images).argmax(1)
    for b in range(2):
        score = model(masked(model, images[b], initial[b, 0])[None]).softmax(1)[0, top[b]]
        torch.testing.assert_close(summed[b, 0], score * initial[b, 0])
    torch.testing.assert_close(min_max(summed), initial)  # the identity the issue asks to show


def test_literal_reading_matches_a_loop_over_channels():
    model, images = normalising_model(), random_images(batch=2, size=8)
    maps = whynot.explain(model, images, method="abscam", layer=LAYER, topk=2, contrast="softmax", batch_size=3)
    torch.testing.assert_close(maps, whynot.explain(model, images, method="abscam", layer=LAYER, topk=2,
                                                    contrast="softmax", reading="literal"))  # the default
    classes = model(images).topk(2).indices
    for b in range(2):
        for k in range(2):
            target = int(classes[b, k])
            gradient, activations = gradient_and_activations(model, images[b], target)
            weights = gradient.abs().mean(dim=(1, 2))
            saliency = torch.zeros(8, 8, dtype=images.dtype)
            for channel in range(activations.shape[0]):  # Algorithm 1's loop; Eq. 3 per channel
                mask = min_max(up((weights[channel] * activations[channel])[None], (8, 8)))[0]
                if weights[channel] > 0:  # S removes the positive weight: the mask is A^k's alone
                    torch.testing.assert_close(mask, min_max(up(activations[channel][None], (8, 8)))[0])
                score = model(masked(model, images[b], mask)[None]).softmax(1)[0, target]
                saliency += score * mask
            torch.testing.assert_close(maps[b, k], min_max(saliency.relu()))


def test_contrasts_and_chunks_agree_and_errors_name_the_fix():
    model, images = normalising_model(), random_images(batch=2, size=8)
    contrasts = ("softmax", "weighted", "max")
    together = whynot.explain(model, images, method="abscam", layer=LAYER, topk=2, contrast=contrasts, batch_size=1)
    for contrast in contrasts:
        alone = whynot.explain(model, images, method="abscam", layer=LAYER, topk=2, contrast=contrast)
        torch.testing.assert_close(together[contrast], alone)
    own = whynot.explain(model, images, method="abscam", layer=LAYER, topk=2, contrast="max", masks="contrast")
    torch.testing.assert_close(own, whynot.explain(model, images, method="abscam", layer=LAYER, topk=2,
                                                   contrast="max", masks="max"))
    with pytest.raises(ValueError, match="reading must be one of"):
        whynot.explain(model, images, method="abscam", layer=LAYER, reading="both")
    with pytest.raises(ValueError, match="masks must be"):
        whynot.explain(model, images, method="abscam", layer=LAYER, masks="probability")
