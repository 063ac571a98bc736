r"""Layer-wise Relevance Propagation (Bach et al., 2015), z / epsilon rule, for chain networks.

A chain network applies its leaf modules one after the other (Linear, Conv2d, BatchNorm in eval
mode, ReLU, max / average pooling, Flatten, Dropout in eval mode, and whynot's input
``Normalize``). The relevance of the explained logit :math:`y_t` starts as :math:`R = y_t` on
that logit and moves down one layer :math:`z_j = \sum_i a_i w_{ij} + b_j` at a time:

.. math:: R_i = a_i \sum_j \frac{w_{ij}}{z_j + \epsilon\, \mathrm{sign}(z_j)} R_j ,

ReLU and Dropout pass relevance through unchanged, Flatten reshapes it, and every other layer uses
the rule above with its own Jacobian as :math:`w` ("gradient trick": :math:`s = R / z`,
:math:`c = J^\top s`, :math:`R = a \odot c`; for max pooling that routes to the maximum). With
:math:`\epsilon = 0` and a ReLU after each affine layer, :math:`R_j / z_j` equals the gradient
:math:`\partial y_t / \partial a_j`, so :math:`R = a \odot \nabla_a y_t` at every layer: LRP-0 is
Input x Gradient at the input and LA at a layer (Wang & Wang, Sec. 4), biases or not.

>>> model = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.ReLU(), torch.nn.Linear(4, 2))
>>> x = torch.randn(5, 3)
>>> relevance = lrp(model, x, torch.zeros(5, 1, dtype=torch.long))
>>> relevance.shape
torch.Size([5, 1, 3])
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

PASS_THROUGH = (nn.ReLU, nn.Dropout)
SUPPORTED = (nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.AvgPool2d, nn.AdaptiveAvgPool2d,
             nn.Flatten, *PASS_THROUGH)


def chain_layers(model: nn.Module, images: Tensor) -> list[tuple[str, nn.Module]]:
    """The model's leaf modules, by name, in the order they run, checked to be a chain: running
    them one after the other must give ``model(images)``. Raises ValueError otherwise."""
    if model.training:
        raise ValueError("put the model in eval() mode first: BatchNorm and Dropout must be fixed")
    leaves = [(name, module) for name, module in model.named_modules()
              if not list(module.children())]
    for name, module in leaves:
        if not isinstance(module, SUPPORTED) and type(module).__name__ != "Normalize":
            raise ValueError(f"layer {name!r} ({type(module).__name__}) has no relevance rule "
                             f"here; supported: {', '.join(t.__name__ for t in SUPPORTED)}, "
                             "Normalize")
    with torch.no_grad():
        value = images
        for _, module in leaves:
            value = run(module, value)
        expected = model(images)
        if not torch.allclose(value, expected, rtol=1e-4, atol=1e-5 * expected.abs().max()):
            raise ValueError("the model's leaf modules, run in order, do not reproduce its output: "
                             "it is not a chain (residual connections?)")
    return leaves


def run(module: nn.Module, value: Tensor) -> Tensor:
    """One leaf module, never in place (in-place ReLUs would overwrite the stored activations)."""
    return torch.relu(value) if isinstance(module, nn.ReLU) else module(value)


def activations(layers: list[tuple[str, nn.Module]], images: Tensor) -> list[Tensor]:
    """``[images, output of layer 0, output of layer 1, ...]``."""
    values = [images]
    with torch.no_grad():
        for _, module in layers:
            values.append(run(module, values[-1]))
    return values


def lrp(model: nn.Module, images: Tensor, classes: Tensor, epsilon: float = 0.0,
        layer: str | None = None) -> Tensor:
    """LRP-epsilon relevance of the logits ``classes [B, K]`` at the input (or at the output of
    module ``layer``): ``[B, K, *shape]``, channels kept (sum them for a map)."""
    layers = chain_layers(model, images)
    values = activations(layers, images)
    stop = 0 if layer is None else 1 + [name for name, _ in layers].index(layer)
    logits = values[-1]
    result = []
    for target in classes.unbind(1):
        index = target[:, None]
        relevance = torch.zeros_like(logits).scatter(1, index, logits.gather(1, index))
        for index in range(len(layers) - 1, stop - 1, -1):
            module, below = layers[index][1], values[index]
            if isinstance(module, PASS_THROUGH):
                continue
            if isinstance(module, nn.Flatten):
                relevance = relevance.reshape(below.shape)
                continue
            relevance = relevance_below(module, below, relevance, epsilon)
        result.append(relevance)
    return torch.stack(result, dim=1)


def relevance_below(module: nn.Module, below: Tensor, relevance: Tensor, epsilon: float) -> Tensor:
    """One step of the rule: ``R_i = a_i sum_j w_ij R_j / (z_j + eps sign z_j)`` (0 where
    ``z_j = 0``)."""
    below = below.detach().requires_grad_()
    with torch.enable_grad():
        z = module(below)
        stabilised = z + epsilon * torch.where(z >= 0, 1.0, -1.0).to(z.dtype)
        ratio = torch.where(stabilised == 0, 0.0, relevance / stabilised).detach()
        (contribution,) = torch.autograd.grad(z, below, ratio)
    return below.detach() * contribution
