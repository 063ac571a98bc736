"""Linear Approximation (LA)."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import CAMExplainer


class LinearApproximation(CAMExplainer):
    r"""Activation times gradient at the layer, summed over channels (Wang & Wang, Eq. 4).

    .. math:: \phi^t = \sum_k A^k \odot \frac{\partial\, v_t^\top y}{\partial A^k}

    LRP/Input x Gradient taken at the layer instead of the input. The authors' code averages over
    channels, the KTH reproduction sums; we sum (only a scale).

    >>> LinearApproximation(model)(images, contrast=("logit", "weighted")).maps["weighted"].shape
    torch.Size([16, 1, 224, 224])
    """

    name = "la"

    def attribute(self, gradients: Tensor, activations: Tensor) -> Tensor:
        return (activations * gradients).sum(dim=-3)
