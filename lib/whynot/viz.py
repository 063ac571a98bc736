"""Figures of signed explanations: the reproductions' ``bwr`` colormap centred at zero.

Red is evidence for the target (of the contrast), blue against it, white neutral; every panel's
colour scale is symmetric, ``[-m, m]`` with ``m = max |map|``, so the sign is never shifted.

>>> ex = whynot.explain(model, images, topk=2, contrast=("logit", "weighted"), return_explanation=True)
>>> fig = explanation_grid(images, ex.maps, model.whynot_meta["class_names"], ex.classes)
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.colors import CenteredNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import Tensor

CMAP = "bwr"


def symmetric_norm(heatmap: Tensor) -> CenteredNorm:
    """``CenteredNorm`` at 0 with half-range ``max |heatmap|`` (1 for an all-zero map)."""
    halfrange = float(heatmap.detach().abs().max())
    return CenteredNorm(vcenter=0.0, halfrange=halfrange if halfrange > 0 else 1.0)


def overlay(ax: Axes, image: Tensor, heatmap: Tensor, alpha: float = 0.5, cmap: str = CMAP) -> AxesImage:
    """Draw ``image [3, H, W]`` (in [0, 1]) with the signed ``heatmap [h, w]`` on top.

    The heatmap is stretched over the image, so layer-resolution maps line up too. Returns the
    heatmap's ``AxesImage`` (for a colorbar).
    """
    if image.dim() != 3 or image.shape[0] != 3 or heatmap.dim() != 2:
        raise ValueError(
            f"overlay needs image [3, H, W] and heatmap [h, w]; got {tuple(image.shape)} and {tuple(heatmap.shape)}."
        )
    height, width = image.shape[1:]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy(), extent=extent)
    shown = ax.imshow(
        heatmap.detach().float().cpu().numpy(), cmap=cmap, norm=symmetric_norm(heatmap), alpha=alpha,
        extent=extent, interpolation="bilinear",
    )
    ax.set_axis_off()
    return shown


def explanation_grid(
    images: Tensor,
    maps: Mapping[str, Tensor],
    class_names: Sequence[str] | None = None,
    classes: Tensor | None = None,
    alpha: float = 0.5,
    panel_size: float = 2.0,
) -> Figure:
    """A grid with one row per (image, target class) and the image plus one column per method.

    ``images [B, 3, H, W]``; ``maps``: column title -> ``[B, K, h, w]`` (methods, or contrasts of
    one method); ``classes [B, K]`` and ``class_names`` label the rows.
    """
    if not maps:
        raise ValueError("maps is empty; pass a dict such as {'gradcam': maps}.")
    shapes = {tuple(value.shape[:2]) for value in maps.values()}
    if len(shapes) != 1 or next(iter(shapes))[0] != images.shape[0] or any(v.dim() != 4 for v in maps.values()):
        raise ValueError(
            f"every map must be [B, K, h, w] with B = {images.shape[0]} images and one K; got "
            f"{ {name: tuple(value.shape) for name, value in maps.items()} }."
        )
    batch, targets = next(iter(shapes))
    if classes is not None and tuple(classes.shape) != (batch, targets):
        raise ValueError(f"classes must be [B, K] = [{batch}, {targets}]; got {tuple(classes.shape)}.")
    rows, columns = batch * targets, 1 + len(maps)
    figure, axes = plt.subplots(rows, columns, figsize=(panel_size * columns, panel_size * rows), squeeze=False)
    for b in range(batch):
        for k in range(targets):
            row = axes[b * targets + k]
            row[0].imshow(images[b].detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            row[0].set_axis_off()
            row[0].set_title(_row_label(b, k, classes, class_names), fontsize="small")
            for ax, (name, value) in zip(row[1:], maps.items()):
                overlay(ax, images[b], value[b, k], alpha=alpha)
                if b == 0 and k == 0:
                    ax.set_title(name, fontsize="small")
    figure.tight_layout()
    return figure


def _row_label(b: int, k: int, classes: Tensor | None, class_names: Sequence[str] | None) -> str:
    if classes is None:
        return f"image {b}, target {k}"
    index = int(classes[b, k])
    return f"image {b}: {class_names[index] if class_names is not None else index}"


def overlay_array(image: Tensor, heatmap: Tensor, alpha: float = 0.5, cmap: str = CMAP):
    """``overlay`` as a uint8 ``[H, W, 3]`` array, without a figure: cheap enough for the hundreds
    of precomputed views of an explorer. The heatmap ``[h, w]`` is resized to the image."""
    import numpy as np
    import torch.nn.functional as F
    from matplotlib import colormaps

    if image.dim() != 3 or image.shape[0] != 3 or heatmap.dim() != 2:
        raise ValueError(
            f"overlay_array needs image [3, H, W] and heatmap [h, w]; got {tuple(image.shape)} and {tuple(heatmap.shape)}."
        )
    heatmap = heatmap.detach().float()
    if heatmap.shape != image.shape[1:]:
        heatmap = F.interpolate(heatmap[None, None], size=image.shape[1:], mode="bilinear", align_corners=True)[0, 0]
    colours = colormaps[cmap](symmetric_norm(heatmap)(heatmap.cpu().numpy()))[..., :3]
    picture = image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    return (((1 - alpha) * picture + alpha * colours) * 255).round().astype(np.uint8)
