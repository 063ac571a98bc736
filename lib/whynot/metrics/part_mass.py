"""Share of a map's positive mass inside a ground-truth part (SynthBirds' part masks)."""
from __future__ import annotations

import torch
from torch import Tensor

DIRECTION = "higher"  # a map that points at the part puts more of its positive mass there


def part_mass(maps: Tensor, masks: Tensor) -> Tensor:
    r"""The share of the positive explanation mass that falls inside the mask.

    .. math:: \mathrm{mass}(\phi, M) = \frac{\sum_{ij} M_{ij} \max(\phi_{ij}, 0)}{\sum_{ij} \max(\phi_{ij}, 0)}

    ``maps``: ``[..., H, W]``; ``masks``: boolean, broadcastable to ``maps``. Returns ``[...]`` in
    [0, 1]; NaN where a map has no positive value (the share is undefined). A uniform map
    scores the mask's share of the image, the natural chance level.

    >>> part_mass(torch.tensor([[3.0, -1.0], [1.0, 0.0]]), torch.tensor([[True, True], [False, False]]))
    tensor(0.7500)
    """
    if masks.dtype != torch.bool:
        raise ValueError(f"masks must be boolean (True inside the part); got dtype {masks.dtype}.")
    positive = maps.clamp(min=0)
    total = positive.sum(dim=(-2, -1))
    inside = (positive * masks).sum(dim=(-2, -1))
    return torch.where(total > 0, inside / total.clamp(min=torch.finfo(maps.dtype).tiny), torch.nan)
