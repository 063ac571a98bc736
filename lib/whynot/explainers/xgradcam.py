"""XGradCAM, with the reproductions' absolute-value normalisation and without ReLU."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import CAMExplainer

EPSILON = 1e-7


class XGradCAM(CAMExplainer):
    r"""Axiom-based GradCAM (Fu et al., 2020) as the reproductions wrote it for signed maps.

    .. math:: w_k = \frac{\sum_{ij} A^k_{ij}\, \partial(v_t^\top y) / \partial A^k_{ij}}
                          {\sum_{ij} |A^k_{ij}| + 10^{-7}}, \qquad \phi^t = \sum_k w_k A^k

    The absolute value keeps the weights' signs meaningful at layers with negative activations
    (e.g. before BatchNorm/ReLU); after a ReLU it equals the original ``sum A`` normaliser.

    >>> XGradCAM(model, relu=True)(images).maps.shape
    torch.Size([16, 1, 224, 224])
    """

    name = "xgradcam"

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        return (gradients * activations).sum(dim=(-2, -1)) / (activations.abs().sum(dim=(-2, -1)) + EPSILON)
