"""The shared engine of deletion and insertion: score curves as pixels move from one image to another."""
from __future__ import annotations

from collections.abc import Callable
from typing import NamedTuple

import torch
from torch import Tensor, nn

from whynot.baselines import blur_for

# The RISE / Group-CAM substrate: a heavy blur (kernel 51, sigma 50 at 224 pixels).
SUBSTRATE_BLUR = (51, 50.0)


class Curves(NamedTuple):
    """``scores [B, S + 1]`` after 0, n, 2n, ... pixels moved; ``fractions [S + 1]``; ``auc [B]``
    (``[B, K, S + 1]`` and ``[B, K]`` for K maps per image)."""

    scores: Tensor
    fractions: Tensor
    auc: Tensor

    def reshaped(self, shape: tuple[int, ...]) -> Curves:
        """Per-map results ``[N, ...]`` as ``[*shape, ...]`` (``[B, K, S + 1]`` for K maps)."""
        return Curves(self.scores.reshape(*shape, -1), self.fractions, self.auc.reshape(shape))


def default_substrate(images: Tensor) -> Tensor:
    """The heavily blurred image (kernel 51, sigma 50 at 224 pixels, scaled to the image size)."""
    return blur_for(images, *SUBSTRATE_BLUR)


def pixel_ranks(maps: Tensor) -> Tensor:
    """Rank of every pixel ``[B, H * W]`` by descending saliency; ties go to the earlier pixel."""
    order = maps.flatten(1).argsort(dim=1, descending=True, stable=True)
    return order.argsort(dim=1)


def removal_curves(
    model: nn.Module,
    start: Tensor,
    finish: Tensor,
    maps: Tensor,
    classes: Tensor,
    step: int | None = None,
    batch_size: int = 64,
) -> Curves:
    r"""Softmax score of ``classes`` as pixels of ``start`` turn into ``finish``, most salient first.

    Point ``s`` of the curve moves the ``min(s n, HW)`` highest-ranked pixels (all channels), for
    ``s = 0 .. S`` with ``S = ceil(HW / n)``; ``n = step`` pixels, by default 1 % of them
    (``ceil(HW / 100)``). The area under the curve is the trapezoid rule on the moved fraction:

    .. math:: \mathrm{AUC} = \sum_s \tfrac12 (f_{s+1} - f_s)(p_s + p_{s+1}), \qquad f_s = \min(s n, HW) / HW

    All ``B (S + 1)`` images go through the model ``batch_size`` at a time, built chunk by chunk.
    """
    if maps.shape != (start.shape[0], *start.shape[-2:]):
        raise ValueError(
            f"maps must be [B, H, W] = {(start.shape[0], *start.shape[-2:])}, one map per image; got "
            f"{tuple(maps.shape)} (upsample CAMs to the image size first)."
        )
    pixels = start.shape[-2] * start.shape[-1]
    step = -(-pixels // 100) if step is None else step
    if not isinstance(step, int) or step < 1:
        raise ValueError(f"step must be a positive number of pixels; got {step!r}.")
    counts = torch.arange(0, pixels + step, step, device=start.device).clamp(max=pixels).unique()
    ranks = pixel_ranks(maps)
    points = len(counts)
    jobs = torch.arange(start.shape[0] * points, device=start.device)
    scores = []
    with torch.no_grad():
        for chunk in jobs.split(batch_size):
            image, point = chunk.div(points, rounding_mode="floor"), chunk % points
            moved = (ranks[image] < counts[point, None]).view(-1, 1, *start.shape[-2:])
            mixed = torch.where(moved, finish[image], start[image])
            # channels-last: 15-35 % faster convolutions on a CPU, the same scores to round-off
            mixed = mixed.contiguous(memory_format=torch.channels_last)
            probabilities = model(mixed).softmax(dim=1)
            scores.append(probabilities.gather(1, classes[image, None]).squeeze(1))
    scores = torch.cat(scores).view(start.shape[0], points)
    fractions = counts.to(scores.dtype) / pixels
    return Curves(scores, fractions, torch.trapezoid(scores, fractions, dim=1))


def substrate_for(images: Tensor, substrate: Tensor | Callable[[Tensor], Tensor] | None) -> Tensor:
    if substrate is None:
        return default_substrate(images)
    return (substrate(images) if callable(substrate) else substrate).to(images).expand_as(images)
