"""Insertion (Petsiuk et al., 2018, RISE): how fast the class score rises as salient pixels return."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from whynot.metrics.inputs import metric_inputs
from whynot.metrics.removal_curves import Curves, removal_curves, substrate_for

DIRECTION = "higher"  # a faithful map names the pixels that restore the score first


def insertion(
    model: nn.Module,
    images: Tensor,
    maps,
    classes=None,
    substrate: Tensor | Callable[[Tensor], Tensor] | None = None,
    step: int | None = None,
    batch_size: int = 64,
) -> Curves:
    r"""Insertion curve and AUC: start from ``substrate``, put pixels back, most salient first.

    ``maps``: ``[B, H, W]``, ``[B, K, H, W]`` with ``classes [B, K]``, or an ``Explanation``
    (:mod:`whynot.metrics.inputs`); ``classes`` defaults to the predicted class.

    .. math:: p_s = \mathrm{softmax}\big(f(\tilde x \odot (1 - D_s) + x \odot D_s)\big)_c, \qquad
              \mathrm{AUC} = \int_0^1 p\, df \ \text{(trapezoid)}

    ``substrate``: by default the blurred image (the paper and the authors' code). The over-all
    score of the Group-CAM paper is ``insertion(...).auc - deletion(...).auc``. See
    :func:`whynot.metrics.deletion` for ``step`` and ties.
    """
    flat = metric_inputs(model, images, maps, classes)
    start, finish = flat.per_map(substrate_for(images, substrate)), flat.images
    curves = removal_curves(model, start, finish, flat.maps, flat.classes, step, batch_size)
    return curves.reshaped(flat.shape)
