"""Input x Gradient."""
from __future__ import annotations

from torch import Tensor

from whynot.explainers.base import InputExplainer


class InputXGradient(InputExplainer):
    r"""The input times the gradient of the contrast score.

    .. math:: \phi^t(x) = x \odot \nabla_x\, v_t^\top y(x)

    In pixel space ([0, 1]), so a black pixel gets zero attribution whatever its gradient.

    >>> InputXGradient(model)(images, classes=[[3, 7]] * len(images), contrast="mean").maps.shape
    torch.Size([16, 2, 224, 224])
    """

    name = "input_x_gradient"

    def attribute(self, gradients: Tensor, inputs: Tensor) -> Tensor:
        return inputs * gradients
