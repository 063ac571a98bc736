"""Smooth GradCAM++ (Omeiza et al., 2019): GradCAM++ with derivatives averaged over noisy copies."""
from __future__ import annotations

from collections.abc import Callable

import torch
from torch import Tensor, nn

from whynot.explainers.base import CAMExplainer, Raw
from whynot.explainers.gradcam_pp import plus_plus_weights
from whynot.explainers.hooks import capture_layer
from whynot.targets import select_classes


class SmoothGradCAMPlusPlus(CAMExplainer):
    r"""Smooth GradCAM++: GradCAM++'s weights from gradients averaged over ``samples`` noisy images.

    With :math:`g_m = \partial(v_t^\top y)/\partial A` at :math:`x + \epsilon_m`,
    :math:`\epsilon_m \sim \mathcal N(0, \sigma^2)` per pixel and channel, and
    :math:`D^p = \frac1n \sum_m g_m^p`:

    .. math:: a^k_{ij} = \frac{D^2}{2 D^2 + \big(\sum_{ab} A^k_{ab}\big) D^3 + 10^{-6}}, \qquad
              w_k = \sum_{ij} a^k_{ij} \max(D^1, 0), \qquad \phi^t = \sum_k w_k A^k

    with the activations ``A`` of the clean image (:func:`whynot.explainers.gradcam_pp.plus_plus_weights`;
    ``std=0`` gives GradCAM++ exactly). ``std`` is in pixel units of the [0, 1] image (0.15:
    SmoothGrad's 15 % of the range). The noise is drawn on the CPU from a generator seeded by
    ``seed`` and is the same for every image of a batch, so an image's map depends neither on
    the device nor on the batch it comes in. torchcam's ``SmoothGradCAMpp`` differs in two
    details: its ReLU term and final map use the *last* noisy sample's gradient and
    activations, not the mean and the clean ones (equal for one sample, as the tests check).
    The classes are chosen on the clean image; each contrast is back-propagated at each noisy
    copy. ``relu=True`` gives the classic map.

    >>> SmoothGradCAMPlusPlus(model, relu=True, samples=8, std=0.15)(images).maps.shape
    torch.Size([16, 1, 224, 224])
    """

    name = "smoothgradcam++"

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
        samples: int = 4,
        std: float = 0.15,
        seed: int = 0,
        **options,
    ):
        super().__init__(model, layer, relu, upsample, reshape, **options)
        if isinstance(samples, bool) or not isinstance(samples, int) or samples < 1:
            raise ValueError(f"samples must be a positive int (noisy copies per image); got {samples!r}.")
        if not std >= 0:
            raise ValueError(f"std must be >= 0 (pixel units of [0, 1] images; 0.15 is typical); got {std!r}.")
        self.samples, self.std, self.seed = samples, float(std), seed

    def noise(self, images: Tensor) -> Tensor:
        """``[samples, 1, 3, H, W]`` Gaussian noise of std ``std``, shared by the batch."""
        generator = torch.Generator().manual_seed(self.seed)
        draws = [torch.randn(1, *images.shape[1:], generator=generator) for _ in range(self.samples)]
        return (self.std * torch.stack(draws)).to(images)

    def explain_contrasts(self, images, classes, topk, contrasts):
        with torch.no_grad(), capture_layer(self.layer, self.layer_name, as_leaf=False) as capture:
            logits = self.logits(images)
        chosen = select_classes(logits, classes, topk)
        activations = self.grid(capture.activation, leading=1)[:, None]
        moments = {name: [0.0, 0.0, 0.0] for name in contrasts}  # sums of g, g^2, g^3
        passes = 0
        for noise in self.noise(images):
            gradients, _, _, used, _ = self.layer_gradients(images + noise, chosen, None, contrasts)
            passes += used
            for name, gradient in gradients.items():
                for power, total in enumerate(moments[name]):
                    moments[name][power] = total + gradient ** (power + 1)
        maps = {}
        for name, (first, second, third) in moments.items():
            weights = plus_plus_weights(first / self.samples, second / self.samples, third / self.samples,
                                        activations)
            maps[name] = (weights[..., None, None] * activations).sum(dim=-3)
        return Raw(maps, chosen, passes, logits)
