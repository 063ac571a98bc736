"""Integrated Gradients with Gauss-Legendre quadrature, batched over path points."""
from __future__ import annotations

import numpy as np
import torch
from torch import Tensor, nn

from whynot.explainers.base import InputExplainer, Raw
from whynot.explainers.engine import contrast_gradients
from whynot.targets import select_classes


class IntegratedGradients(InputExplainer):
    r"""Integrated Gradients (Sundararajan et al., 2017) of the contrast score.

    .. math:: \phi^t(x) = (x - x_0) \odot \int_0^1 \nabla_x\, s_t\big(x_0 + \tau (x - x_0)\big)\, d\tau
              \approx (x - x_0) \odot \sum_i w_i \nabla_x s_t(x_0 + \tau_i (x - x_0))

    with ``steps`` Gauss-Legendre nodes ``tau_i`` and weights ``w_i`` on [0, 1] (captum's default
    rule). ``baseline`` ``x_0`` defaults to 0, i.e. *black* in the [0, 1] pixel space of our models;
    the papers' "zeros in normalised space" is the dataset's mean colour: pass
    ``baseline=whynot.models.common.model_mean(model)`` for that.

    The score ``s_t``: for ``softmax`` it is ``p_t`` at every path point, so the result integrates
    the gradient of ``p_t`` along the path (completeness: the map sums to
    ``p_t(x) - p_t(x_0)``). logit, mean, max and weighted integrate ``v_t^T y`` with ``v_t`` fixed
    from the explained image ``x`` (alpha and s* do not change along the path). Because
    ``p_t (1 - p_t)`` and alpha *do* change along the path, Prop. 2 is not an identity for IG:
    the softmax map is not ``p_t(1-p_t)`` times the weighted one.

    ``batch_size`` bounds the path images per forward pass (at least one path point for every
    image); all contrasts and targets share each forward pass (``k + 2`` backward passes per chunk
    of path points; with softmax and weighted both asked, one more for the path point's ``p``).

    >>> IntegratedGradients(model, steps=16)(images, contrast="softmax").maps.shape
    torch.Size([16, 1, 224, 224])
    """

    name = "integrated_gradients"

    def __init__(
        self,
        model: nn.Module,
        relu: bool = False,
        keep_channels: bool = False,
        baseline: float | Tensor = 0.0,
        steps: int = 32,
        batch_size: int = 64,
        **options,
    ):
        super().__init__(model, relu, keep_channels, batch_size=batch_size, **options)
        if steps < 1:
            raise ValueError(f"steps must be >= 1; got steps={steps}.")
        self.baseline = baseline
        self.steps = steps

    def explain_contrasts(self, images, classes, topk, contrasts):
        with torch.no_grad():
            logits = self.logits(images)
        chosen = select_classes(logits, classes, topk)
        contrasts.check(logits, chosen)
        baseline = self.baseline_like(images)
        nodes, weights = gauss_legendre(self.steps, images)
        batch = images.shape[0]
        per_chunk = max(1, self.batch_size // batch)
        integrals: dict[str, Tensor] = {}
        passes = 0
        for start in range(0, self.steps, per_chunk):
            taus = nodes[start : start + per_chunk]
            path = (baseline + taus.view(-1, 1, 1, 1, 1) * (images - baseline)).flatten(0, 1).requires_grad_()
            gradients, count = contrast_gradients(
                self.logits(path), path, chosen.repeat(len(taus), 1), contrasts.tile(len(taus)),
                logits.repeat(len(taus), 1)
            )
            passes += count
            for name, value in gradients.items():
                step = torch.einsum("m,mb...->b...", weights[start : start + len(taus)], value.unflatten(0, (len(taus), batch)))
                integrals[name] = integrals[name] + step if name in integrals else step
        difference = (images - baseline)[:, None]
        maps = {name: self.reduce(difference * value) for name, value in integrals.items()}
        return Raw(maps, chosen, passes, logits)

    def baseline_like(self, images: Tensor) -> Tensor:
        baseline = torch.as_tensor(self.baseline, dtype=images.dtype, device=images.device)
        try:
            return baseline.expand_as(images)
        except RuntimeError:
            raise ValueError(
                f"baseline of shape {tuple(baseline.shape)} does not broadcast to the images "
                f"{tuple(images.shape)}; pass a float, a [3, 1, 1] colour or an image-shaped tensor."
            ) from None


def gauss_legendre(steps: int, like: Tensor) -> tuple[Tensor, Tensor]:
    """Nodes and weights of the ``steps``-point Gauss-Legendre rule on [0, 1], like captum's."""
    nodes, weights = np.polynomial.legendre.leggauss(steps)
    return tuple(torch.as_tensor(values, dtype=like.dtype, device=like.device) for values in ((nodes + 1) / 2, weights / 2))
