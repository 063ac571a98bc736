"""Figures of the data and the models' predictions (the "Data and models" chapter and later ones).

Images are ``[3, H, W]`` tensors in [0, 1]; part masks ``[P, H, W]`` booleans, as
:class:`whynot.data.synthetic.SynthBirds` holds them.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import ipywidgets
import matplotlib.pyplot as plt
import numpy as np
import torch
from matplotlib.figure import Figure
from matplotlib.patches import Patch
from PIL import Image

from whynot.widgets import explorer

#: Overlay colour of each part (RGB in [0, 1]); parts are drawn over the greyed image.
PART_COLOURS: tuple[tuple[float, float, float], ...] = ((0.12, 0.47, 0.71), (1.0, 0.5, 0.05), (0.17, 0.63, 0.17))


def part_overlay(image: torch.Tensor, part_masks: torch.Tensor, alpha: float = 0.7) -> np.ndarray:
    """``[H, W, 3]`` array: the image in grey with each part painted in its ``PART_COLOURS``."""
    grey = image.mul(torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(0)
    return _paint(grey.unsqueeze(-1).expand(-1, -1, 3).numpy().copy(), part_masks, alpha)


def part_map(part_masks: torch.Tensor) -> np.ndarray:
    """``[H, W, 3]`` array: each part in its ``PART_COLOURS`` on white."""
    return _paint(np.ones((*part_masks.shape[1:], 3)), part_masks, alpha=1.0)


def _paint(out: np.ndarray, part_masks: torch.Tensor, alpha: float) -> np.ndarray:
    if len(part_masks) > len(PART_COLOURS):
        raise ValueError(f"{len(part_masks)} parts but only {len(PART_COLOURS)} PART_COLOURS")
    for mask, colour in zip(part_masks.numpy(), PART_COLOURS):
        out[mask] = (1 - alpha) * out[mask] + alpha * np.asarray(colour)
    return out


def _hwc(image: torch.Tensor) -> np.ndarray:
    return image.permute(1, 2, 0).clamp(0, 1).numpy()


def _shorten(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "\u2026"


def _part_legend(fig: Figure, part_names: Sequence[str]) -> None:
    handles = [Patch(color=c, label=name) for name, c in zip(part_names, PART_COLOURS)]
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), frameon=False)


def plot_samples(
    images: torch.Tensor, part_masks: torch.Tensor, titles: Sequence[str], part_names: Sequence[str]
) -> Figure:
    """One column per image: the image above its part masks, with a legend of the parts."""
    n = len(images)
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.9), squeeze=False)
    for i in range(n):
        axes[0, i].imshow(_hwc(images[i]), interpolation="nearest")
        axes[0, i].set_title(titles[i].replace("-", "\n"), fontsize=9)
        axes[1, i].imshow(part_overlay(images[i], part_masks[i]), interpolation="nearest")
    for ax in axes.flat:
        ax.set_axis_off()
    _part_legend(fig, part_names)
    fig.tight_layout(rect=(0, 0.06, 1, 1))
    return fig


def dataset_explorer(
    images: torch.Tensor,
    part_masks: torch.Tensor,
    labels: torch.Tensor,
    class_names: Sequence[str],
    samples_per_class: int,
    scale: int = 3,
) -> ipywidgets.Widget:
    """Dropdowns for class and sample over "image | part map" pictures; works in the static book.

    Uses the first ``samples_per_class`` images of every class, upsampled ``scale`` times
    (nearest) and stored as 64-colour PNGs, a few kB each.
    """
    per_class = [(labels == c).nonzero().flatten()[:samples_per_class].tolist() for c in range(len(class_names))]
    short = [class_names[c] for c, idx in enumerate(per_class) if len(idx) < samples_per_class]
    if short:
        raise ValueError(
            f"classes {short} have fewer than {samples_per_class} images; "
            "load more images or ask for fewer samples per class"
        )
    samples = [str(k + 1) for k in range(samples_per_class)]
    views = {}
    for name, indices in zip(class_names, per_class):
        for sample, i in zip(samples, indices):
            pair = np.concatenate([_hwc(images[i]), part_map(part_masks[i])], axis=1)
            pixels = (pair.repeat(scale, axis=0).repeat(scale, axis=1) * 255).round().astype(np.uint8)
            views[name, sample] = Image.fromarray(pixels).quantize(64)
    return explorer(views, {"class": list(class_names), "sample": samples})


def plot_p2_histograms(p2: Mapping[str, torch.Tensor], threshold: float = 0.1) -> Figure:
    """Histogram (log counts) of the second-largest class probability per model, ``threshold`` marked."""
    fig, axes = plt.subplots(1, len(p2), figsize=(2.25 * len(p2), 2.8), sharex=True, sharey=True, squeeze=False)
    for ax, (name, values) in zip(axes[0], p2.items()):
        ax.hist(values.numpy(), bins=np.linspace(0, 0.5, 26), color="0.4", log=True)
        ax.axvline(threshold, color="tab:red", linestyle="--", linewidth=1)
        share = (values > threshold).float().mean().item()
        ax.set_title(f"{name}\n{share:.0%} with $p_2 > {threshold}$", fontsize=10)
        ax.set_xlabel("$p_2$")
    axes[0, 0].set_ylabel("images (log scale)")
    fig.tight_layout()
    return fig


def plot_top_predictions(
    images: torch.Tensor,
    probs: torch.Tensor,
    class_names: Sequence[str],
    titles: Sequence[str],
    k: int = 3,
    ncols: int = 4,
) -> Figure:
    """Each image with its top-``k`` classes and probabilities underneath, ``ncols`` per row."""
    n = len(images)
    ncols = min(n, ncols)
    nrows = -(-n // ncols)
    top = probs.topk(k, dim=1)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.65 * ncols, 2.5 * nrows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.set_axis_off()
    for i, ax in enumerate(axes.flat[:n]):
        ax.imshow(_hwc(images[i]))
        ax.set_title(titles[i], fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_xlabel(
            "\n".join(
                f"{p:.0%} {_shorten(class_names[c], 20)}"
                for p, c in zip(top.values[i].tolist(), top.indices[i].tolist())
            ),
            fontsize=7,
            loc="left",
        )
    fig.tight_layout()
    return fig
