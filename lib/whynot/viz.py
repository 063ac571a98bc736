"""Figures of signed explanations: the reproductions' ``bwr`` colormap centred at zero.

Red is evidence for the target (of the contrast), blue against it, white neutral; every panel's
colour scale is symmetric, ``[-m, m]`` with ``m = max |map|``, so the sign is never shifted.
Each panel has its own ``m`` by default; ``scale="row"`` shares it across a row (the maps of one
image and class: softmax and weighted maps then compare honestly, the softmax map being the
weighted one times ``p_t (1 - p_t)``), ``scale="all"`` across the figure, a number fixes it.

>>> ex = whynot.explain(model, images, topk=2, contrast=("logit", "weighted"), return_explanation=True)
>>> fig = explanation_grid(images, ex)                  # class names and classes from ex
>>> fig = explanation_grid(images, ex.maps, scale="row", colorbar=True)
>>> save_figure(fig, "maps.png")                        # written atomically
"""
from __future__ import annotations

import os
from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.colors import CenteredNorm
from matplotlib.figure import Figure
from matplotlib.image import AxesImage
from torch import Tensor

from whynot.utils import atomic_path

CMAP = "bwr"
SCALES = ("panel", "row", "all")

# The book's figure style, set once per chapter (``plt.style.use(BOOK_STYLE)``): 12 pt text at
# 100 dpi is 16.7 px, the body text's 16 px, as long as the page does not shrink the figure.
# It shows a figure at most COLUMN_INCHES wide at its own size (the 688 px output column at the
# browser check's 1280 px); a cell tagged ``full-width`` has FULL_WIDTH_INCHES (136 %).
BOOK_STYLE = {"font.size": 12, "figure.dpi": 100, "figure.figsize": (6.8, 4.2),
              "savefig.dpi": "figure", "legend.frameon": False}
COLUMN_INCHES = 6.8
FULL_WIDTH_INCHES = 9.3


def symmetric_norm(*heatmaps: Tensor) -> CenteredNorm:
    """``CenteredNorm`` at 0 with half-range ``max |heatmap|`` over all the given maps (1 where
    they are all zero): one shared colour scale for several maps."""
    halfrange = max(float(heatmap.detach().abs().max()) for heatmap in heatmaps)
    return CenteredNorm(vcenter=0.0, halfrange=halfrange if halfrange > 0 else 1.0)


def overlay(ax: Axes, image: Tensor, heatmap: Tensor, alpha: float = 0.5, cmap: str = CMAP,
            norm: CenteredNorm | None = None) -> AxesImage:
    """Draw ``image [3, H, W]`` (in [0, 1]) with the signed ``heatmap [h, w]`` on top.

    The heatmap is stretched over the image, so layer-resolution maps line up too. ``norm``:
    the colour scale, by default :func:`symmetric_norm` of this map. Returns the heatmap's
    ``AxesImage`` (for a colorbar).
    """
    if image.dim() != 3 or image.shape[0] != 3 or heatmap.dim() != 2:
        raise ValueError(
            f"overlay needs image [3, H, W] and heatmap [h, w]; got {tuple(image.shape)} and {tuple(heatmap.shape)}."
        )
    height, width = image.shape[1:]
    extent = (-0.5, width - 0.5, height - 0.5, -0.5)
    ax.imshow(image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy(), extent=extent)
    shown = ax.imshow(
        heatmap.detach().float().cpu().numpy(), cmap=cmap, norm=norm or symmetric_norm(heatmap),
        alpha=alpha,
        extent=extent, interpolation="bilinear",
    )
    ax.set_axis_off()
    return shown


def explanation_grid(
    images: Tensor,
    maps,
    class_names: Sequence[str] | None = None,
    classes: Tensor | None = None,
    alpha: float = 0.5,
    panel_size: float = 2.0,
    scale: str | float = "panel",
    colorbar: bool = False,
) -> Figure:
    """A grid with one row per (image, target class) and the image plus one column per map.

    ``images [B, 3, H, W]``; ``maps``: ``[B, K, h, w]``, a dict column title -> that (methods,
    or contrasts of one method), or an :class:`whynot.explainers.Explanation` (its maps, and
    its classes and class names unless given). ``classes [B, K]`` and ``class_names`` label the
    rows. ``scale``: ``"panel"`` (each map its own ``max |map|``), ``"row"`` (shared by a
    row's maps), ``"all"`` (one for the figure) or a number (the half-range itself);
    ``colorbar=True`` draws one bar per scale (per panel, per row, or one).
    """
    maps, classes, class_names = as_columns(maps, classes, class_names)
    shapes = {tuple(value.shape[:2]) for value in maps.values()}
    if len(shapes) != 1 or next(iter(shapes))[0] != images.shape[0] or any(v.dim() != 4 for v in maps.values()):
        raise ValueError(
            f"every map must be [B, K, h, w] with B = {images.shape[0]} images and one K; got "
            f"{ {name: tuple(value.shape) for name, value in maps.items()} }."
        )
    if not (isinstance(scale, (int, float)) and scale > 0) and scale not in SCALES:
        raise ValueError(f"scale must be one of {SCALES} or a positive half-range; got {scale!r}.")
    batch, targets = next(iter(shapes))
    if classes is not None and tuple(classes.shape) != (batch, targets):
        raise ValueError(f"classes must be [B, K] = [{batch}, {targets}]; got {tuple(classes.shape)}.")
    rows, columns = batch * targets, 1 + len(maps)
    figure, axes = plt.subplots(rows, columns, figsize=(panel_size * columns, panel_size * rows),
                                squeeze=False, layout="constrained" if colorbar else None)
    figure_norm = _figure_norm(scale, maps)
    for b in range(batch):
        for k in range(targets):
            row = axes[b * targets + k]
            row[0].imshow(images[b].detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            row[0].set_axis_off()
            row[0].set_title(_row_label(b, k, classes, class_names), fontsize="small")
            row_norm = (symmetric_norm(*(value[b, k] for value in maps.values()))
                        if scale == "row" else figure_norm)
            for ax, (name, value) in zip(row[1:], maps.items()):
                shown = overlay(ax, images[b], value[b, k], alpha=alpha, norm=row_norm)
                if colorbar and scale == "panel":
                    figure.colorbar(shown, ax=ax, shrink=0.8)
                if b == 0 and k == 0:
                    ax.set_title(name, fontsize="small")
            if colorbar and scale == "row":
                figure.colorbar(shown, ax=list(row[1:]), shrink=0.8)
    if colorbar and figure_norm is not None:
        figure.colorbar(shown, ax=list(axes[:, 1:].ravel()), shrink=0.6)
    if not colorbar:
        figure.tight_layout()
    return figure


def as_columns(maps, classes: Tensor | None = None, class_names: Sequence[str] | None = None):
    """``(dict title -> [B, K, h, w], classes, class_names)`` from a tensor, a dict or an
    ``Explanation`` (whose classes and class names fill in those not given)."""
    if hasattr(maps, "maps") and hasattr(maps, "classes"):  # an Explanation
        classes = maps.classes if classes is None else classes
        names = getattr(maps, "class_names", None)
        class_names = names if class_names is None else class_names
        contrast = getattr(maps, "contrast", None)
        title = contrast if isinstance(contrast, str) else getattr(maps, "method", None) or "map"
        maps = maps.maps if isinstance(maps.maps, Mapping) else {title: maps.maps}
    elif isinstance(maps, Tensor):
        maps = {"map": maps}
    if not isinstance(maps, Mapping) or not maps:
        raise ValueError(
            "maps must be [B, K, h, w] maps, a non-empty dict such as {'gradcam': maps}, or an "
            f"Explanation (explain(..., return_explanation=True)); got {type(maps).__name__}."
        )
    return dict(maps), classes, class_names


def _figure_norm(scale: str | float, maps: Mapping[str, Tensor]) -> CenteredNorm | None:
    if scale == "all":
        return symmetric_norm(*maps.values())
    if isinstance(scale, (int, float)) and not isinstance(scale, bool):
        return CenteredNorm(vcenter=0.0, halfrange=float(scale))
    return None


def save_figure(figure: Figure, path: str | os.PathLike, dpi: int = 150) -> None:
    """Write ``figure`` to ``path`` (format from the suffix: .png, .pdf, .svg) atomically."""
    from pathlib import Path

    suffix = Path(path).suffix.lstrip(".")
    if not suffix:
        raise ValueError(f"{path} has no suffix; name the format, e.g. {path}.png or {path}.pdf.")
    with atomic_path(path) as tmp:
        figure.savefig(tmp, format=suffix, dpi=dpi, bbox_inches="tight")


def _row_label(b: int, k: int, classes: Tensor | None, class_names: Sequence[str] | None) -> str:
    if classes is None:
        return f"image {b}, target {k}"
    index = int(classes[b, k])
    # Two lines: a class name is often wider than its panel at the book's text size.
    return f"image {b}:\n{class_names[index] if class_names is not None else index}"


# Small images (SynthBirds' 56-pixel birds) are shown at least this large in explorers: a
# thumbnail a reader can judge (the browser check's minimum is 160 CSS pixels).
THUMBNAIL_PX = 168


def overlay_array(image: Tensor, heatmap: Tensor, alpha: float = 0.5, cmap: str = CMAP,
                  halfrange: float | None = None, size: int | None = None) -> np.ndarray:
    """``overlay`` as a uint8 ``[H, W, 3]`` array, without a figure: cheap enough for the hundreds
    of precomputed views of an explorer. The heatmap ``[h, w]`` is resized to the image;
    ``halfrange``: the colour scale's ``m`` (default ``max |heatmap|``); ``size``: the image is
    first resized (bilinear) to ``size x size``, so that small images show as thumbnails."""
    import torch.nn.functional as F
    from matplotlib import colormaps

    if image.dim() != 3 or image.shape[0] != 3 or heatmap.dim() != 2:
        raise ValueError(
            f"overlay_array needs image [3, H, W] and heatmap [h, w]; "
            f"got {tuple(image.shape)} and {tuple(heatmap.shape)}."
        )
    if size is not None:
        image = F.interpolate(image[None].float(), size=(size, size), mode="bilinear",
                              align_corners=False)[0]
    heatmap = heatmap.detach().float()
    if heatmap.shape != image.shape[1:]:
        heatmap = F.interpolate(heatmap[None, None], size=image.shape[1:], mode="bilinear", align_corners=True)[0, 0]
    norm = (symmetric_norm(heatmap) if halfrange is None
            else CenteredNorm(vcenter=0.0, halfrange=halfrange))
    colours = colormaps[cmap](norm(heatmap.cpu().numpy()))[..., :3]
    picture = image.detach().permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    return (((1 - alpha) * picture + alpha * colours) * 255).round().astype(np.uint8)


def save_overlay(path: str | os.PathLike, image: Tensor, heatmap: Tensor, alpha: float = 0.5,
                 halfrange: float | None = None) -> None:
    """Write :func:`overlay_array` as a PNG at the image's resolution, atomically.

    >>> save_overlay("cat_gradcam.png", images[0], maps[0, 0])     # doctest: +SKIP
    """
    from PIL import Image

    with atomic_path(path) as tmp:
        picture = overlay_array(image, heatmap, alpha, halfrange=halfrange)
        Image.fromarray(picture).save(tmp, format="PNG")
