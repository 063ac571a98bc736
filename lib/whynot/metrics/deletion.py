"""Deletion (Petsiuk et al., 2018, RISE): how fast the class score falls as salient pixels go."""
from __future__ import annotations

from collections.abc import Callable

from torch import Tensor, nn

from whynot.metrics.inputs import metric_inputs
from whynot.metrics.removal_curves import Curves, removal_curves, substrate_for

DIRECTION = "lower"  # a faithful map names the pixels whose removal kills the score first


def deletion(
    model: nn.Module,
    images: Tensor,
    maps,
    classes=None,
    substrate: Tensor | Callable[[Tensor], Tensor] | None = None,
    step: int | None = None,
    batch_size: int = 64,
) -> Curves:
    r"""Deletion curve and AUC: replace pixels by ``substrate``, most salient first.

    ``maps``: ``[B, H, W]``, ``[B, K, H, W]`` with ``classes [B, K]``, or an ``Explanation``
    (:mod:`whynot.metrics.inputs`); ``classes`` defaults to the predicted class.

    .. math:: p_s = \mathrm{softmax}\big(f(x \odot (1 - D_s) + \tilde x \odot D_s)\big)_c, \qquad
              \mathrm{AUC} = \int_0^1 p\, df \ \text{(trapezoid)}

    where :math:`D_s` marks the ``s n`` most salient pixels. ``substrate`` (a tensor or a function
    of the images): by default the blurred image, as the Group-CAM paper says (its code deletes
    to zeros in normalised space: pass ``lambda x: whynot.baselines.zeros(x, model)``). ``step``
    pixels per point, default 1 % (``224`` reproduces the authors' 224-pixel steps at 224 px).
    Ties in ``maps`` go to the earlier pixel (row-major), so the result is deterministic.

    >>> deletion(model, images, maps, classes=labels).auc.mean()     # doctest: +SKIP
    """
    flat = metric_inputs(model, images, maps, classes)
    start, finish = flat.images, flat.per_map(substrate_for(images, substrate))
    curves = removal_curves(model, start, finish, flat.maps, flat.classes, step, batch_size)
    return curves.reshaped(flat.shape)
