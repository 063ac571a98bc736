"""Pointing game (Zhang et al., 2016): is a map's maximum on the part, up to a tolerance?"""
from __future__ import annotations

import torch
from torch import Tensor

DIRECTION = "higher"  # the hit rate over images
# Zhang et al. allow 15 pixels at 224 x 224; 4 pixels is the same share of a 56-pixel image.
TOLERANCE_AT_224 = 15


def pixel_tolerance(size: int) -> float:
    """The pointing game's tolerance for ``size``-pixel images: 15 px at 224, scaled (3.75 px
    at 56)."""
    return TOLERANCE_AT_224 * size / 224


def pointing_game(maps: Tensor, masks: Tensor, tolerance: float = 0.0) -> Tensor:
    r"""A hit when the map's maximum lies within ``tolerance`` pixels of the mask.

    .. math:: \mathrm{hit}(\phi, M) = \big[\min_{(i, j) \in M} \lVert (i, j) - \arg\max \phi \rVert_2
              \le \tau\big]

    ``maps``: ``[..., H, W]``; ``masks``: boolean, broadcastable to ``maps``. Ties go to the first
    maximum in row-major order, so the result is deterministic. An empty mask never hits.
    Returns booleans ``[...]``; their mean is the hit rate. The usual tolerance is 15 pixels at
    224 x 224, scaled with the image (:data:`~whynot.metrics.pointing_game.TOLERANCE_AT_224`).

    >>> maps = torch.tensor([[0.0, 1.0], [0.0, 0.0]])
    >>> pointing_game(maps, torch.tensor([[False, False], [False, True]])).item()   # 1 px away
    False
    >>> pointing_game(maps, torch.tensor([[False, False], [False, True]]), tolerance=1).item()
    True
    """
    if masks.dtype != torch.bool:
        raise ValueError(f"masks must be boolean (True inside the part); got dtype {masks.dtype}.")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels; got {tolerance}.")
    height, width = maps.shape[-2:]
    masks = masks.expand_as(maps)
    peak = maps.flatten(-2).argmax(dim=-1)
    rows = torch.arange(height, device=maps.device).view(-1, 1)
    cols = torch.arange(width, device=maps.device).view(1, -1)
    squared = (rows - (peak // width)[..., None, None]) ** 2 + (cols - (peak % width)[..., None, None]) ** 2
    nearest = squared.to(maps.dtype).masked_fill(~masks, torch.inf).amin(dim=(-2, -1))
    return nearest <= tolerance**2
