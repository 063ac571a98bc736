"""Insertion (Petsiuk et al., 2018, RISE): how fast the class score rises as salient pixels return."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from whynot.metrics.removal_curves import Curves, check_classes, removal_curves, substrate_for

DIRECTION = "higher"  # a faithful map names the pixels that restore the score first


def insertion(
    model: nn.Module,
    images: Tensor,
    maps: Tensor,
    classes,
    substrate: Tensor | Callable[[Tensor], Tensor] | None = None,
    step: int | None = None,
    batch_size: int = 64,
) -> Curves:
    r"""Insertion curve and AUC: start from ``substrate``, put pixels back, most salient first.

    .. math:: p_s = \mathrm{softmax}\big(f(\tilde x \odot (1 - D_s) + x \odot D_s)\big)_c, \qquad
              \mathrm{AUC} = \int_0^1 p\, df \ \text{(trapezoid)}

    ``substrate``: by default the blurred image (the paper and the authors' code). The over-all
    score of the Group-CAM paper is ``insertion(...).auc - deletion(...).auc``. See
    :func:`whynot.metrics.deletion` for ``step`` and ties.
    """
    classes = check_classes(classes, images)
    return removal_curves(model, substrate_for(images, substrate), images, maps, classes, step, batch_size)
