"""Group-CAM against a one-image-at-a-time re-implementation of the authors' loop, and its limits."""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from test_explainers import random_images, single_thread, tiny_cnn  # noqa: F401 (fixture)
from torchvision.transforms.functional import gaussian_blur

import whynot
from whynot.baselines import scaled_blur
from whynot.explainers.groupcam import GroupCAM


def authors_groupcam(model, image, target, layer, groups, theta, score="softmax"):
    """The authors' cam/groupcam.py for one image and class, on the CPU, group by group."""
    store = {}
    module = dict(model.named_modules())[layer]
    handle = module.register_forward_hook(lambda m, i, o: store.update(activation=o))
    image = image[None]
    try:
        logits = model(image)
        gradient = torch.autograd.grad(logits[0, target], store["activation"])[0]
    finally:
        handle.remove()
    activations = store["activation"].detach()
    weighted = gradient.mean(dim=(2, 3), keepdim=True) * activations
    kernel, sigma = scaled_blur(51, 50.0, image.shape[-1])
    blurred = gaussian_blur(image, [kernel, kernel], [sigma, sigma])

    def scored(x):
        output = model(x)
        return output.softmax(dim=1)[0, target] if score == "softmax" else output[0, target]

    with torch.no_grad():
        baseline = scored(blurred)
        saliency = torch.zeros(1, 1, *image.shape[-2:], dtype=image.dtype)
        for group in weighted.tensor_split(groups, 1):  # the code's chunk(), where G divides K
            mask = F.relu(group.sum(1, keepdim=True))
            if theta is not None:
                threshold = np.percentile(mask.numpy(), theta)
                mask = torch.where(mask > threshold, mask, torch.zeros_like(mask))
            mask = F.interpolate(mask, size=image.shape[-2:], mode="bilinear", align_corners=False)
            if mask.max() == mask.min():
                continue
            mask = (mask - mask.min()) / (mask.max() - mask.min())
            saliency += (scored(image * mask + blurred * (1 - mask)) - baseline) * mask
        saliency = F.relu(saliency)[0, 0]
        if saliency.max() == saliency.min():
            return torch.zeros_like(saliency)  # the code returns None; we return an empty map
        return (saliency - saliency.min()) / (saliency.max() - saliency.min())


@pytest.mark.parametrize("groups, theta", [(3, 70.0), (6, None), (2, 30.0), (4, 50.0)])
def test_batched_groupcam_matches_the_authors_loop(groups, theta):
    model, images = tiny_cnn(width=6), random_images(batch=3, size=16)
    maps = whynot.explain(model, images, method="groupcam", layer="3", topk=2, contrast="softmax",
                          groups=groups, theta=theta, batch_size=5)
    classes = model(images).topk(2, dim=1).indices
    assert (maps.amax(dim=(2, 3)) == 1).sum() >= 3  # most maps are not empty: the test has teeth
    for b in range(3):
        for k in range(2):
            expected = authors_groupcam(model, images[b], int(classes[b, k]), "3", groups, theta)
            torch.testing.assert_close(maps[b, k], expected)


def test_logit_score_uses_the_logit_gain():
    model, images = tiny_cnn(width=6), random_images(batch=2, size=16)
    maps = whynot.explain(model, images, method="groupcam", layer="3", contrast="logit", groups=3)
    top = model(images).argmax(dim=1)
    for b in range(2):
        expected = authors_groupcam(model, images[b], int(top[b]), "3", 3, 70.0, score="logit")
        torch.testing.assert_close(maps[b, 0], expected)


def test_one_group_without_denoising_is_normalised_upsampled_relu_gradcam():
    # Zhang et al.: "if G = 1 and no de-noising is applied, Group-CAM can be simplified as Grad-CAM".
    model, images = tiny_cnn(width=6), random_images(batch=2, size=16)
    gradcam = whynot.explain(model, images, method="gradcam", layer="3", relu=True, upsample=False)
    gradcam = F.interpolate(gradcam, size=(16, 16), mode="bilinear", align_corners=False)
    low, high = gradcam.amin(dim=(2, 3), keepdim=True), gradcam.amax(dim=(2, 3), keepdim=True)
    explainer = GroupCAM(model, layer="3", groups=1, theta=None, normalize=False)
    raw = explainer(images).maps
    gains = raw.amax(dim=(2, 3))
    assert (gains > 0).all()  # the one group keeps the class's evidence: its gain is positive
    torch.testing.assert_close(raw / gains[..., None, None], (gradcam - low) / (high - low))
    normalised = whynot.explain(model, images, method="groupcam", layer="3", groups=1, theta=None)
    torch.testing.assert_close(normalised, (gradcam - low) / (high - low))


def test_chunking_contrasts_and_mask_sources_are_consistent():
    model, images = tiny_cnn(width=6), random_images(batch=2, size=16)
    contrasts = ("softmax", "weighted", "max")
    together = whynot.explain(model, images, method="groupcam", layer="3", topk=2, contrast=contrasts,
                              groups=3, batch_size=1)
    for contrast in contrasts:
        alone = whynot.explain(model, images, method="groupcam", layer="3", topk=2, contrast=contrast,
                               groups=3, batch_size=64)
        torch.testing.assert_close(together[contrast], alone)
        assert together[contrast].min() >= 0 and together[contrast].amax(dim=(2, 3)).max() <= 1
    own = whynot.explain(model, images, method="groupcam", layer="3", topk=2, contrast="max",
                         groups=3, masks="contrast")
    fixed = whynot.explain(model, images, method="groupcam", layer="3", topk=2, contrast="max",
                           groups=3, masks="max")
    torch.testing.assert_close(own, fixed)


@pytest.mark.parametrize("kwargs, match", [
    (dict(groups=7), "more than the layer's 6 channels"), (dict(theta=100), "percentile"), (dict(masks="probability"), "masks"),
    (dict(groups=0), "positive int"), (dict(batch_size=0), "batch_size"),
])
def test_bad_groupcam_arguments_name_the_fix(kwargs, match):
    with pytest.raises(ValueError, match=match):
        whynot.explain(tiny_cnn(width=6), random_images(size=16), method="groupcam", layer="3", **kwargs)
