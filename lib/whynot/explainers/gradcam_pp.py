"""GradCAM++ (classic baseline)."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import CAMExplainer

EPSILON = 1e-6


def plus_plus_weights(first: Tensor, second: Tensor, third: Tensor, activations: Tensor) -> Tensor:
    r"""GradCAM++'s channel weights ``[..., C]`` from the first three derivative terms.

    .. math:: a_{ij} = \frac{D^2_{ij}}{2 D^2_{ij} + \big(\sum_{ab} A_{ab}\big) D^3_{ij} + 10^{-6}}
              \ (0 \text{ where } D^2 = 0), \qquad w = \sum_{ij} a_{ij} \max(D^1_{ij}, 0)

    GradCAM++ uses ``D^p = g^p`` of one gradient ``g``; Smooth GradCAM++ the means of ``g^p``
    over noisy copies. All terms ``[..., C, h, w]``; ``activations`` broadcast against them.
    """
    sum_activations = activations.sum(dim=(-2, -1), keepdim=True)
    alpha = second / (2 * second + sum_activations * third + EPSILON)
    alpha = alpha.where(second != 0, 0.0)
    return (alpha * first.relu()).sum(dim=(-2, -1))


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
        return plus_plus_weights(gradients, squared, squared * gradients, activations)
