"""ScoreCAM (classic baseline), batched over images, channels and targets."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.base import ALIGN_CORNERS, CAMExplainer, Raw, progress_chunks
from whynot.explainers.hooks import capture_layer
from whynot.targets import contrast_scores, select_classes

EPSILON = 1e-8


class ScoreCAM(CAMExplainer):
    r"""ScoreCAM (Wang et al., 2020) with pytorch-grad-cam's formulas; no gradients at all.

    Each channel ``A^k``, upsampled to the input size and min-max normalised to ``M^k`` in
    [0, 1], masks the image (towards the model's mean colour: zero in its normalised space, see
    :func:`masking_baseline`); the contrast's score of the masked image gives the channel weight:

    .. math:: w^t = \mathrm{softmax}_k\big(s_t(x \odot M^k)\big), \qquad \phi^t = \sum_k w^t_k A^k

    ``s_t`` is ``p_t`` for softmax and ``v_t^T y`` for logit / weighted / mean / max, with
    ``v_t`` fixed from the unmasked image (:func:`whynot.targets.contrast_scores`). One masked
    forward pass per channel and image, ``batch_size`` masked images at a time, shared by all
    targets and contrasts. ``relu=True`` gives the classic map. ``channel_softmax=False`` weights
    the channels by the scores themselves, :math:`w^t_k = s_t(x \odot M^k)`, as the ScoreCAM
    authors' code (and Group-CAM's copy of it) does with ``contrast="softmax"``.

    >>> ScoreCAM(model, relu=True, batch_size=64)(images, topk=2).maps.shape
    torch.Size([16, 2, 224, 224])
    """

    name = "scorecam"

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
        batch_size: int = 32,
        channel_softmax: bool = True,
        **options,
    ):
        super().__init__(model, layer, relu, upsample, reshape, batch_size=batch_size, **options)
        self.channel_softmax = channel_softmax

    @torch.no_grad()
    def explain_contrasts(self, images, classes, topk, contrasts):
        with capture_layer(self.layer, self.layer_name, as_leaf=False) as capture:
            logits = self.logits(images)
        chosen = select_classes(logits, classes, topk)
        contrasts.check(logits, chosen)
        activations = self.grid(capture.activation, leading=1)
        batch, channels = activations.shape[:2]
        pairs = torch.arange(batch * channels, device=images.device)
        baseline = masking_baseline(self.model, images)
        chunks = pairs.split(self.batch_size)
        outputs = torch.cat([self.logits(self.masked(images, activations, chunk, baseline))
                             for chunk in progress_chunks(chunks, "scorecam")])
        outputs = outputs.view(batch, channels, -1)
        maps = {}
        for name in contrasts:
            weights = contrast_scores(outputs, logits, chosen, name, contrasts)
            weights = weights.softmax(dim=1) if self.channel_softmax else weights
            maps[name] = torch.einsum("bck,bchw->bkhw", weights, activations)
        return Raw(maps, chosen, 0, logits)

    @staticmethod
    def masked(images: Tensor, activations: Tensor, pairs: Tensor, baseline: Tensor) -> Tensor:
        """Images masked by their normalised upsampled channels, for flat (image, channel) ``pairs``:
        ``baseline + (x - baseline) * M`` (``x * M`` in the model's normalised space)."""
        image, channel = pairs.div(activations.shape[1], rounding_mode="floor"), pairs % activations.shape[1]
        masks = F.interpolate(
            activations[image, channel][:, None], size=images.shape[-2:], mode="bilinear", align_corners=ALIGN_CORNERS
        )
        low = masks.amin(dim=(-2, -1), keepdim=True)
        high = masks.amax(dim=(-2, -1), keepdim=True)
        return torch.lerp(baseline, images[image], (masks - low) / (high - low + EPSILON))


def masking_baseline(model: nn.Module, images: Tensor) -> Tensor:
    """What a masked-out pixel becomes: zero in the model's normalised space, so its mean colour
    (``whynot_meta["mean"]``) in pixel space, as when pytorch-grad-cam or the authors multiply a
    normalised input by a mask; black for a model without that metadata."""
    mean = getattr(model, "whynot_meta", {}).get("mean")
    if mean is None:
        return torch.zeros_like(images[:1])
    return torch.as_tensor(mean, dtype=images.dtype, device=images.device).view(1, -1, 1, 1)
