"""GradCAM++ (classic baseline)."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import CAMExplainer

EPSILON = 1e-6


class GradCAMPlusPlus(CAMExplainer):
    r"""GradCAM++ (Chattopadhyay et al., 2018, Eq. 19) with pytorch-grad-cam's closed form.

    With ``g = \partial(v_t^\top y) / \partial A`` (the contrast's combined gradient):

    .. math:: a^k_{ij} = \frac{g^2}{2 g^2 + \big(\sum_{ab} A^k_{ab}\big) g^3 + 10^{-6}}
              \ (0 \text{ where } g = 0), \quad
              w_k = \sum_{ij} a^k_{ij}\, \max(g_{ij}, 0), \quad \phi^t = \sum_k w_k A^k

    Not linear in ``g``: contrasts are combined on the gradients first, so they stay exact.
    Use ``relu=True`` for the classic map.

    >>> GradCAMPlusPlus(model, relu=True)(images, topk=2).maps.shape
    torch.Size([16, 2, 224, 224])
    """

    name = "gradcam++"

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        squared = gradients**2
        sum_activations = activations.sum(dim=(-2, -1), keepdim=True)
        alpha = squared / (2 * squared + sum_activations * squared * gradients + EPSILON)
        alpha = alpha.where(gradients != 0, 0.0)
        return (alpha * gradients.relu()).sum(dim=(-2, -1))
