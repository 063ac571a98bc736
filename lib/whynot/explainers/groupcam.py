"""Group-CAM (Zhang et al., 2021), batched over images, targets, contrasts and groups."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.baselines import blend, blur_for
from whynot.explainers.base import CAMExplainer, Raw, progress_chunks
from whynot.targets import CONTRASTS, contrast_scores
from whynot.utils import min_max

# Group-CAM's blur of the baseline image, at 224 x 224 (scaled to other sizes by blur_for).
BLUR = (51, 50.0)


class GroupCAM(CAMExplainer):
    r"""Group score-weighted CAM (Zhang et al., 2021, Algorithm 1).

    With GradCAM's channel weights :math:`w_k = \mathrm{mean}_{ij}\, \partial s / \partial A^k_{ij}`
    and the K channels split into G contiguous groups of g = K / G (sizes differing by at most one
    where G does not divide K):

    .. math::
        M_\ell = \mathrm{ReLU}\Big(\sum_{k = \ell g}^{(\ell + 1) g - 1} w_k A^k\Big), \quad
        M'_\ell = \mathrm{minmax}\big(\mathrm{up}(\phi_\theta(M_\ell))\big), \quad
        I'_\ell = I \odot M'_\ell + \tilde I \odot (1 - M'_\ell)

    .. math::
        \alpha_\ell = F(I'_\ell) - F(\tilde I), \qquad
        L = \mathrm{minmax}\Big(\mathrm{ReLU}\big(\sum_\ell \alpha_\ell M'_\ell\big)\Big)

    :math:`\phi_\theta` zeroes values at or below the :math:`\theta`-th percentile of each group map
    (Eq. 3; ``theta=None`` skips it, as the authors' code at its HEAD does), :math:`\tilde I` is
    the image blurred with kernel 51 and sigma 50 at 224 pixels (scaled with the image size), and
    ``up`` is bilinear upsampling (``align_corners=False``, the authors' code). A group whose
    upsampled map is constant gets no mask (the code skips it).

    The contrast picks the score :math:`F`: ``p_t`` for ``"softmax"`` (the paper), ``v_t^T y``
    for ``"logit"``, ``"weighted"``, ``"mean"`` and ``"max"``, with ``v_t`` fixed from the
    unmasked image (:func:`whynot.targets.contrast_scores`). ``masks`` picks the gradient that
    weights the channels: ``"logit"`` (the authors' code and Eq. 1), another contrast name, or
    ``"contrast"`` (each contrast's own gradient). The G masked copies of every image and target
    go through the model ``batch_size`` at a time; masks shared by several contrasts are
    forwarded once. ``normalize=False`` returns :math:`\sum_\ell \alpha_\ell M'_\ell` itself
    (signed; then ``relu`` applies). Maps are always at the input's resolution.

    >>> GroupCAM(model, groups=32, theta=70)(images, topk=2, contrast="softmax").maps.shape
    torch.Size([16, 2, 224, 224])
    """

    name = "groupcam"

    zero_maps_because = ("no masked copy raised the contrast's score above the baseline's, so the "
                         "ReLU and min-max left nothing (or the layer is a poor one)")

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
        groups: int = 32,
        theta: float | None = 70.0,
        masks: str = "logit",
        normalize: bool = True,
        blur: tuple[int, float] = BLUR,
        batch_size: int = 64,
        **options,
    ):
        super().__init__(model, layer, relu, upsample, reshape, batch_size=batch_size, **options)
        if not isinstance(groups, int) or groups < 1:
            raise ValueError(f"groups must be a positive int; got {groups!r}.")
        if theta is not None and not 0 <= theta < 100:
            raise ValueError(f"theta is a percentile in [0, 100) (or None for no de-noising); got {theta!r}.")
        if masks != "contrast" and masks not in CONTRASTS:
            raise ValueError(f"masks must be 'contrast' or one of {', '.join(CONTRASTS)}; got {masks!r}.")
        self.groups, self.theta, self.masks = groups, theta, masks
        self.normalize, self.blur = normalize, blur

    def explain_contrasts(self, images, classes, topk, contrasts):
        sources = {name: name if self.masks == "contrast" else self.masks for name in contrasts}
        gradients, activations, chosen, passes, logits = self.layer_gradients(
            images, classes, topk, contrasts.including(sources.values())
        )
        with torch.no_grad():
            blurred = blur_for(images, *self.blur)
            blurred_logits = self.logits(blurred)
            group_masks, outputs = {}, {}
            for source in set(sources.values()):
                group_masks[source] = self.group_masks(gradients[source], activations[:, 0], images.shape[-2:])
                outputs[source] = self.masked_logits(images, blurred, group_masks[source])
            maps = {}
            for name, source in sources.items():
                masks = group_masks[source]  # [B, K, G, H, W]
                batch, targets, groups = masks.shape[:3]
                scores = contrast_scores(outputs[source], logits, chosen, name, contrasts)
                scores = scores.view(batch, targets, groups, targets)
                scores = scores.diagonal(dim1=1, dim2=3).permute(0, 2, 1)  # target k's own score: [B, K, G]
                blurred_scores = contrast_scores(
                    blurred_logits[:, None], logits, chosen, name, contrasts
                )
                gains = scores - blurred_scores[:, 0, :, None]
                maps[name] = self.merge(torch.einsum("bkg,bkghw->bkhw", gains, masks))
        return Raw(maps, chosen, passes, logits)

    def group_masks(self, gradients: Tensor, activations: Tensor, size) -> Tensor:
        """Initial masks ``M'`` ``[B, K, G, H, W]`` in [0, 1] from gradients ``[B, K, C, h, w]``."""
        batch, targets, channels = gradients.shape[:3]
        if self.groups > channels:
            raise ValueError(
                f"groups={self.groups} is more than the layer's {channels} channels; use at most {channels} "
                "(the paper uses 32 for 512-channel layers)."
            )
        # Contiguous groups whose sizes differ by at most one (torch.tensor_split, like the code's chunk).
        sizes = torch.tensor([len(part) for part in torch.arange(channels).tensor_split(self.groups)])
        membership = F.one_hot(torch.arange(self.groups).repeat_interleave(sizes), self.groups)
        weights = gradients.mean(dim=(-2, -1))  # [B, K, C]
        weighted = weights[..., None, None] * activations[:, None]
        masks = torch.einsum("bkchw,cg->bkghw", weighted, membership.to(weighted)).relu()  # [B, K, G, h, w]
        if self.theta is not None:
            threshold = torch.quantile(masks.flatten(-2), self.theta / 100, dim=-1)[..., None, None]
            masks = masks.where(masks > threshold, 0.0)
        masks = F.interpolate(masks.flatten(0, 1), size=tuple(size), mode="bilinear", align_corners=False)
        return min_max(masks.unflatten(0, (batch, targets)))

    def masked_logits(self, images: Tensor, blurred: Tensor, masks: Tensor) -> Tensor:
        """Logits ``[B, K * G, c]`` of ``I * M' + blur(I) * (1 - M')`` for every mask, in chunks."""
        flat = masks.flatten(1, 2)  # [B, M, H, W]
        batch, count = flat.shape[:2]
        pairs = torch.arange(batch * count, device=images.device)
        chunks = []
        for chunk in progress_chunks(pairs.split(self.batch_size), "groupcam"):
            image, mask = chunk.div(count, rounding_mode="floor"), chunk % count
            chunks.append(self.logits(blend(images[image], flat[image, mask], blurred[image])))
        return torch.cat(chunks).view(batch, count, -1)

    def merge(self, saliency: Tensor) -> Tensor:
        """Eq. 7: ReLU, then min-max per map (a constant map becomes zeros); or as is."""
        return min_max(saliency.relu()) if self.normalize else saliency
