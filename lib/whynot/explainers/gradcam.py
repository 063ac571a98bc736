"""GradCAM, in the paper's form without ReLU."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import CAMExplainer


class GradCAM(CAMExplainer):
    r"""Activations weighted by their spatially averaged gradients (Selvaraju et al., 2017).

    .. math:: \phi^t = \sum_k \Big(\frac{1}{hw} \sum_{ij} \frac{\partial\, v_t^\top y}{\partial A^k_{ij}}\Big) A^k

    Without the final ReLU (Wang & Wang, Eq. 2: negative regions are contrastive evidence);
    ``relu=True`` gives the classic map.

    >>> GradCAM(model, layer="net.features.40")(images, topk=3, contrast="softmax").maps.shape
    torch.Size([16, 3, 224, 224])
    """

    name = "gradcam"

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        return gradients.mean(dim=(-2, -1))
