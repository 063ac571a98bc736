"""Gradient (saliency without absolute value)."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import InputExplainer


class Gradient(InputExplainer):
    r"""The gradient of the contrast score with respect to the input pixels.

    .. math:: \phi^t(x) = \nabla_x\, v_t^\top y(x) = J(x)^\top v_t

    with ``v_t`` the contrast's cotangent (``e_t`` for the logit, ``p_t(e_t - p)`` for softmax).
    Signs are kept (captum's ``Saliency(abs=False)``); maps are summed over colour channels.

    >>> Gradient(model)(images, topk=3, contrast="weighted").maps.shape
    torch.Size([16, 3, 224, 224])
    """

    name = "gradient"

    def attribute(self, gradients: Tensor, inputs: Tensor) -> Tensor:
        return gradients
