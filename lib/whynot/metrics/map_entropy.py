"""Spread of a map's positive mass: its normalised entropy (the "noise" of Group-CAM's Fig. 2 and
Abs-CAM's Fig. 2 as one number)."""
from __future__ import annotations

import math

import torch
from torch import Tensor

DIRECTION = "lower"  # a concentrated, less noisy map spreads its mass over fewer pixels


def map_entropy(maps: Tensor) -> Tensor:
    r"""The entropy of the map's positive mass as a distribution over pixels, over the log of the
    pixel count:

    .. math:: H(\phi) = -\frac{1}{\log N} \sum_{ij} q_{ij} \log q_{ij}, \qquad
              q = \frac{\max(\phi, 0)}{\sum_{ij} \max(\phi_{ij}, 0)}

    ``maps``: ``[..., H, W]``. Returns ``[...]`` in [0, 1]: 1 for a uniform map, 0 for one
    positive pixel; NaN where a map has no positive value. Computed in float64.

    >>> map_entropy(torch.tensor([[1.0, 1.0], [0.0, -2.0]]))
    tensor(0.5000)
    """
    mass = maps.clamp(min=0).flatten(-2).double()
    total = mass.sum(dim=-1, keepdim=True)
    share = mass / total
    terms = torch.where(share > 0, share * share.log(), torch.zeros_like(share))
    entropy = (0.0 - terms.sum(dim=-1)) / math.log(mass.shape[-1])  # 0.0 - 0.0: no -0
    return entropy.where(total[..., 0] > 0, torch.nan).to(maps.dtype)
