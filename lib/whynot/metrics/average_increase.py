"""Increase in Confidence (Chattopadhay et al., 2018, Grad-CAM++): how often the mask helps."""
from __future__ import annotations

from torch import Tensor, nn

from whynot.metrics.masked_confidence import masked_confidence

DIRECTION = "higher"  # a map that isolates the class's evidence can raise its confidence


def average_increase(model: nn.Module, images: Tensor, maps, classes=None,
                     top_fraction: float | None = None) -> Tensor:
    r"""Per-image indicator in percent (0 or 100); its mean over images is the Average Increase.

    .. math:: \mathrm{increase}_i = 100\, [\, Y_i < O_i \,]

    With ``Y_i`` and ``O_i`` as in :func:`whynot.metrics.average_drop`.
    """
    before, after = masked_confidence(model, images, maps, classes, top_fraction)
    return 100 * (before < after).to(before.dtype)
