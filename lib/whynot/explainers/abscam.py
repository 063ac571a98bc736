"""Abs-CAM (Zeng et al., 2022): absolute gradients, then a second, score-weighted phase.

No public implementation exists; this is ours, written from the paper's Eqs. 1-5 and
Algorithm 1. Eq. 3 is printed per channel, M_0 = S(U(A_l^k · W_k^c)), inside
Algorithm 1's loop over k, and Eq. 5 sums over k: read literally, each channel's initial map
masks the image (``reading="literal"``). The variant that sums the channels first
(``reading="summed"``) is here too (see :class:`AbsCAM`).
"""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.base import ALIGN_CORNERS, CAMExplainer, Raw, progress_chunks
from whynot.explainers.scorecam import masking_baseline
from whynot.targets import CONTRASTS, contrast_scores
from whynot.utils import min_max

READINGS = ("literal", "summed")


class AbsCAMInit(CAMExplainer):
    r"""Abs-CAM's initial map (Eqs. 1-3) as one map: GradCAM with absolute gradients, upsampled,
    min-max scaled.

    .. math:: W_k = \frac{1}{Z} \sum_{ij} \Big|\frac{\partial s}{\partial A^k_{ij}}\Big|, \qquad
              M_0 = S\Big(U\big(\textstyle\sum_k W_k A^k\big)\Big)

    The paper prints Eq. 3 per channel (:math:`S(U(A^k \cdot W_k))`, inside a loop over k); the
    single "Abs-CAM_init" map of its Fig. 5 and Tables 2-3 is read as the channels' sum, as in
    GradCAM. ``U`` is bilinear upsampling (``upsample=False`` keeps the layer's grid) and ``S``
    min-max scaling to [0, 1]. The absolute value is taken of each contrast's combined gradient,
    so the contrast still decides *which* gradient; whether any contrast survives the absolute
    value is what chapter 07 measures.

    >>> AbsCAMInit(model)(images, topk=2, contrast="weighted").maps.shape
    torch.Size([16, 2, 224, 224])
    """

    name = "abscam_init"

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        return gradients.abs().mean(dim=(-2, -1))

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return min_max(super().finish(maps, images))


class AbsCAM(AbsCAMInit):
    r"""Abs-CAM's final map (Eqs. 3-5), in one of two readings.

    ``reading="literal"`` (the default), as printed: Eq. 3 gives each channel its own initial
    map :math:`M_0^k = S(U(A^k \cdot W_k))` (Algorithm 1 loops over k), which masks the image,
    as in ScoreCAM, and Eq. 5 sums the score-weighted maps over k:
    :math:`L = S\big(\mathrm{ReLU}(\sum_k Y_c(M_0^k \odot X_0)\, M_0^k)\big)`. One masked
    forward pass per channel, image and target, ``batch_size`` at a time.

    ``reading="summed"``, a variant: the channels are summed first, :math:`M_0 = S(U(\sum_k W_k
    A^k))` (Abs-CAM_init); :math:`M_1 = M_0 \odot X_0` goes through the model and its score
    scales that one map, :math:`L = \mathrm{ReLU}(Y_c(M_1)\, M_0)`. Eq. 5's sum over k then
    runs over nothing that depends on k, so L is M_0 times a non-negative number: after min-max
    scaling the two maps are identical (a unit test checks it). Returned as is (not rescaled),
    so the score stays visible.

    :math:`Y_c` is the softmax probability for ``contrast="softmax"`` (the paper) and
    :math:`v_t^\top y` for the other contrasts (:func:`whynot.targets.contrast_scores`).
    ``masks`` picks the gradient of phase 1: ``"logit"`` (the paper's :math:`Y'_c`, the score
    before the softmax, as in GradCAM), another contrast, or ``"contrast"`` (each contrast's
    own), as in :class:`whynot.explainers.GroupCAM`. Masking
    moves a pixel towards the model's mean colour, i.e. multiplies the normalised input, as the
    paper's :math:`M_0 \cdot X_0` does on a normalised image
    (:func:`whynot.explainers.scorecam.masking_baseline`). Maps are at the input's resolution.

    >>> AbsCAM(model, reading="literal")(images, contrast="softmax").maps.shape
    torch.Size([16, 1, 224, 224])
    """

    name = "abscam"

    zero_maps_because = ("no masked copy raised the contrast's score above the baseline's, so the "
                         "ReLU and min-max left nothing (or the layer is a poor one)")

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
        reading: str = "literal",
        masks: str = "logit",
        batch_size: int = 64,
        **options,
    ):
        super().__init__(model, layer, relu, upsample, reshape, batch_size=batch_size, **options)
        if reading not in READINGS:
            raise ValueError(f"reading must be one of {READINGS} (see help(AbsCAM)); got {reading!r}.")
        if masks != "contrast" and masks not in CONTRASTS:
            raise ValueError(f"masks must be 'contrast' or one of {', '.join(CONTRASTS)}; got {masks!r}.")
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1; got {batch_size}.")
        self.reading, self.masks, self.batch_size = reading, masks, batch_size

    def explain_contrasts(self, images, classes, topk, contrasts):
        sources = {name: name if self.masks == "contrast" else self.masks for name in contrasts}
        gradients, activations, chosen, passes, logits = self.layer_gradients(
            images, classes, topk, contrasts.including(sources.values())
        )
        baseline = masking_baseline(self.model, images)
        maps = {}
        with torch.no_grad():
            for name, source in sources.items():
                weighted = self.channel_weights(gradients[source], activations)[..., None, None] * activations
                if self.reading == "summed":
                    initial = self.upsampled(weighted.sum(dim=-3), images)  # M_0: [B, K, H, W]
                    masked = torch.lerp(baseline[:, None], images[:, None], initial[:, :, None])
                    outputs = self.logits(masked.flatten(0, 1)).view(*initial.shape[:2], -1)
                    scores = contrast_scores(outputs, logits, chosen, name, contrasts).diagonal(
                        dim1=1, dim2=2
                    )
                    maps[name] = (scores[..., None, None] * initial).relu()
                else:
                    maps[name] = self.channel_sum(images, baseline, weighted, logits, chosen, name,
                                                  contrasts).relu()
        return Raw(maps, chosen, passes, logits)

    def upsampled(self, maps: Tensor, images: Tensor) -> Tensor:
        """``S(U(maps))`` for ``[..., h, w]`` maps: bilinear to the image size, then min-max."""
        flat = maps.reshape(-1, 1, *maps.shape[-2:])
        flat = F.interpolate(flat, size=images.shape[-2:], mode="bilinear", align_corners=ALIGN_CORNERS)
        return min_max(flat.view(*maps.shape[:-2], *images.shape[-2:]))

    def channel_sum(self, images, baseline, weighted, logits, chosen, contrast, request) -> Tensor:
        """``sum_k Y_c(M_0^k X_0) M_0^k`` ``[B, K, H, W]`` from ``weighted [B, K, C, h, w]``; the
        channel maps are upsampled chunk by chunk, so memory stays at ``batch_size`` images."""
        batch, targets, count = weighted.shape[:3]
        flat = weighted.flatten(0, 2)
        saliency = images.new_zeros(batch * targets, *images.shape[-2:])
        chunks = torch.arange(len(flat), device=images.device).split(self.batch_size)
        for chunk in progress_chunks(chunks, f"abscam {contrast}"):
            image = chunk.div(targets * count, rounding_mode="floor")
            row = chunk.div(count, rounding_mode="floor")  # (image, target) pair
            masks = self.upsampled(flat[chunk], images)  # [n, H, W]
            outputs = self.logits(torch.lerp(baseline, images[image], masks[:, None]))
            scores = contrast_scores(outputs[:, None], logits[image], chosen[image], contrast,
                                     request.rows(image))[:, 0]  # [n, K]
            own = scores.gather(1, (row % targets)[:, None])  # each mask scores its own target
            saliency.index_add_(0, row, own[..., None] * masks)
        return saliency.view(batch, targets, *images.shape[-2:])

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        maps = maps.relu() if self.relu else maps
        return min_max(maps) if self.reading == "literal" else maps
