r"""DeepLift with the Rescale rule (Shrikumar et al., 2017) for chain networks.

With a reference input :math:`x_0` (zeros by default), every layer gets a multiplier
:math:`m = \partial^{\Delta} y_t / \partial^{\Delta} a`, back-propagated like a gradient except at
the nonlinearities, where the Rescale rule uses the finite-difference slope

.. math:: m_{z} = m_{a} \, \frac{\mathrm{ReLU}(z) - \mathrm{ReLU}(z_0)}{z - z_0}
          \quad (\text{the gradient where } |z - z_0| < \varepsilon),

and max pooling routes :math:`m \cdot \Delta\text{out}` to the maxima of the input and of the
reference and divides by :math:`\Delta\text{in}` (captum's construction; captum 0.9's own
max-pool multipliers do not sum to the logit difference on ``relu_cnn``, ours do). Affine
layers (Linear, Conv2d, BatchNorm in eval mode, average pooling, whynot's ``Normalize``) pass
the multiplier back through their Jacobian. The
attribution is :math:`(x - x_0) \odot m_x`; it sums to :math:`y_t(x) - y_t(x_0)`.
In a network without biases, with ReLUs and a zero reference, every reference activation is 0,
the slope is :math:`\mathrm{ReLU}(z) / z`, the ReLU's derivative, and DeepLift is Input x Gradient
(Wang & Wang, Sec. 4).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.lrp import activations, chain_layers

NEAR_ZERO = 1e-10  # captum's eps: below it the slope falls back to the gradient


def deeplift(model: nn.Module, images: Tensor, classes: Tensor,
             reference: Tensor | float = 0.0) -> Tensor:
    """DeepLift-Rescale attributions of the logits ``classes [B, K]`` against ``reference``:
    ``[B, K, C, H, W]``."""
    layers = chain_layers(model, images)
    reference = torch.as_tensor(reference, dtype=images.dtype, device=images.device)
    reference = reference.expand_as(images)
    values, reference_values = activations(layers, images), activations(layers, reference)
    result = []
    for target in classes.unbind(1):
        multiplier = F.one_hot(target, values[-1].shape[1]).to(images.dtype)
        for index in range(len(layers) - 1, -1, -1):
            module = layers[index][1]
            below, below_ref = values[index], reference_values[index]
            above, above_ref = values[index + 1], reference_values[index + 1]
            if isinstance(module, nn.ReLU):
                delta_in = below - below_ref
                slope = (above - above_ref) / torch.where(delta_in.abs() < NEAR_ZERO, 1.0, delta_in)
                gradient = (below > 0).to(below.dtype)
                multiplier = multiplier * torch.where(delta_in.abs() < NEAR_ZERO, gradient, slope)
            elif isinstance(module, nn.MaxPool2d):
                multiplier = maxpool_multiplier(module, below, below_ref, above, above_ref,
                                                multiplier)
            elif not isinstance(module, nn.Dropout):
                multiplier = vector_jacobian(module, below, multiplier)
        result.append((images - reference) * multiplier)
    return torch.stack(result, dim=1)


def vector_jacobian(module: nn.Module, below: Tensor, vector: Tensor) -> Tensor:
    """``J^T vector`` of an affine module (the same at every point)."""
    below = below.detach().requires_grad_()
    with torch.enable_grad():
        (result,) = torch.autograd.grad(module(below), below, vector)
    return result


def maxpool_multiplier(module, below, below_ref, above, above_ref, multiplier):
    """captum's max-pool rule: ``m * delta_out`` goes to the argmax of the input (up to the larger
    of the two maxima) and of the reference (the rest), divided by ``delta_in``."""
    def unpool_at_max(values: Tensor, signal: Tensor) -> Tensor:
        _, where = F.max_pool2d(values, module.kernel_size, module.stride, module.padding,
                                module.dilation, module.ceil_mode, return_indices=True)
        return F.max_unpool2d(signal, where, module.kernel_size, module.stride, module.padding,
                              output_size=values.shape[-2:])

    larger = torch.maximum(above, above_ref)
    routed = (unpool_at_max(below, multiplier * (larger - above_ref))
              + unpool_at_max(below_ref, multiplier * (above - larger)))
    delta_in = below - below_ref
    gradient = unpool_at_max(below, multiplier)
    small = delta_in.abs() < NEAR_ZERO
    return torch.where(small, gradient, routed / torch.where(small, 1.0, delta_in))
