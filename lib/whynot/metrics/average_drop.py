"""Average Drop (Chattopadhay et al., 2018, Grad-CAM++): the confidence lost to the map's mask."""
from __future__ import annotations

from torch import Tensor, nn

from whynot.metrics.masked_confidence import masked_confidence

DIRECTION = "lower"  # a map that keeps what the class needs loses little confidence


def average_drop(model: nn.Module, images: Tensor, maps, classes=None,
                 top_fraction: float | None = None) -> Tensor:
    r"""Per-image drop in percent; its mean over images is the Average Drop.

    .. math:: \mathrm{drop}_i = 100\, \frac{\max(0,\ Y_i - O_i)}{Y_i}

    ``Y_i`` is the class's softmax score on the image, ``O_i`` on the image multiplied by its
    explanation mask (the min-max scaled map, or with ``top_fraction=0.5`` its top half of pixels
    as Abs-CAM evaluates; :func:`whynot.metrics.masked_confidence.masked_confidence`, which
    also says what ``maps`` and ``classes`` may be: ``[B, K, H, W]`` maps give ``[B, K]``).

    >>> average_drop(model, images, maps, labels).mean()     # doctest: +SKIP
    """
    before, after = masked_confidence(model, images, maps, classes, top_fraction)
    return 100 * (before - after).clamp(min=0) / before
