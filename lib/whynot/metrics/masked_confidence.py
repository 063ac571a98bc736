"""The class's confidence before and after the image is multiplied by its explanation map."""
from __future__ import annotations

import math

import torch
from torch import Tensor, nn

from whynot.explainers.scorecam import masking_baseline
from whynot.metrics.inputs import metric_inputs
from whynot.metrics.removal_curves import pixel_ranks
from whynot.utils import min_max


def explanation_mask(maps: Tensor, top_fraction: float | None = None) -> Tensor:
    """The multiplier ``[B, H, W]`` in [0, 1]: the min-max scaled map (Grad-CAM++), or a binary
    mask of its ``top_fraction`` highest pixels (Abs-CAM's "top 50 %"; ties to the earlier pixel)."""
    if top_fraction is None:
        return min_max(maps)
    if not 0 < top_fraction <= 1:
        raise ValueError(f"top_fraction must be in (0, 1] (0.5 keeps the top half); got {top_fraction!r}.")
    keep = math.ceil(top_fraction * maps.shape[-2] * maps.shape[-1])
    return (pixel_ranks(maps) < keep).view_as(maps).to(maps.dtype)


def masked_confidence(model: nn.Module, images: Tensor, maps, classes=None,
                      top_fraction: float | None = None) -> tuple[Tensor, Tensor]:
    r"""Softmax scores ``(Y, O)`` of ``classes`` on the images and on the images times
    their explanation masks (:func:`explanation_mask`), ``[B]`` (or ``[B, K]`` for K maps).

    ``maps``: ``[B, H, W]``, ``[B, K, H, W]`` with ``classes [B, K]``, or an ``Explanation``
    (:mod:`whynot.metrics.inputs`); ``classes`` defaults to the predicted class.
    Multiplying by the mask means multiplying the *normalised* input, as the papers and
    pytorch-grad-cam do: in pixel space a masked-out pixel becomes the model's mean colour
    (:func:`whynot.explainers.scorecam.masking_baseline`).
    """
    flat = metric_inputs(model, images, maps, classes)
    images, classes = flat.images, flat.classes
    mask = explanation_mask(flat.maps, top_fraction)[:, None]
    masked = torch.lerp(masking_baseline(model, images).expand_as(images), images, mask)
    with torch.no_grad():
        before = model(images).softmax(dim=1).gather(1, classes[:, None])[:, 0]
        after = model(masked).softmax(dim=1).gather(1, classes[:, None])[:, 0]
    return before.reshape(flat.shape), after.reshape(flat.shape)
