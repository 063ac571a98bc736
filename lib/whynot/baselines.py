"""Baselines that stand in for "missing" pixels: blurred, zeros (normalised), channel-wise mean.

Removal experiments (the paper's Table 1, Group-CAM's masked inputs, deletion / insertion)
replace pixels by a baseline image, ``x * keep + baseline * (1 - keep)`` (:func:`blend`). The
papers give blur sizes for 224-pixel images; :func:`blur_for` scales them to other sizes.

>>> blurred = blur_for(images, kernel_size=101, sigma=15)   # the paper's blur, at any size
>>> blend(images, keep=maps > 0, baseline=blurred).shape
torch.Size([16, 3, 56, 56])
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.models.common import model_mean

# Sizes in the papers are for 224 x 224 inputs.
REFERENCE_SIZE = 224


def gaussian_blur(images: Tensor, kernel_size: int, sigma: float) -> Tensor:
    r"""Gaussian blur of ``[B, C, H, W]`` images with reflect padding, as torchvision's.

    .. math:: g(i) \propto \exp\big(-i^2 / (2\sigma^2)\big), \quad
              i \in \{-\tfrac{k-1}{2}, \dots, \tfrac{k-1}{2}\}, \quad \textstyle\sum_i g(i) = 1

    Separable (a row pass, then a column pass): ``2k`` multiplications per pixel instead of
    torchvision's ``k^2``, the same result up to round-off.

    >>> gaussian_blur(torch.ones(1, 3, 8, 8), kernel_size=5, sigma=1.0).unique()
    tensor([1.])
    """
    if not isinstance(kernel_size, int) or kernel_size < 1 or kernel_size % 2 == 0:
        raise ValueError(f"kernel_size must be a positive odd int; got {kernel_size!r}.")
    if not sigma > 0:
        raise ValueError(f"sigma must be > 0; got {sigma!r}.")
    radius = kernel_size // 2
    if radius >= min(images.shape[-2:]):
        raise ValueError(
            f"kernel_size {kernel_size} is too large for {tuple(images.shape[-2:])} images (reflect "
            f"padding needs kernel_size <= {2 * min(images.shape[-2:]) - 1}); scale it with blur_for."
        )
    offsets = torch.arange(-radius, radius + 1, dtype=images.dtype, device=images.device)
    kernel = torch.exp(-(offsets**2) / (2 * sigma**2))
    kernel = kernel / kernel.sum()
    batch, channels, height, width = images.shape
    flat = images.reshape(batch * channels, 1, height, width)
    flat = F.conv2d(F.pad(flat, (radius, radius, 0, 0), mode="reflect"), kernel.view(1, 1, 1, -1))
    flat = F.conv2d(F.pad(flat, (0, 0, radius, radius), mode="reflect"), kernel.view(1, 1, -1, 1))
    return flat.view(batch, channels, height, width)


def scaled_blur(kernel_size: int, sigma: float, size: int) -> tuple[int, float]:
    """A blur given for 224-pixel images, scaled to ``size`` pixels: ``(odd kernel_size, sigma)``.

    Both scale by ``size / 224``; the kernel is rounded to the nearest odd integer.

    >>> scaled_blur(101, 15.0, 56)
    (25, 3.75)
    """
    scale = size / REFERENCE_SIZE
    kernel = 2 * math.floor(kernel_size * scale / 2) + 1
    return kernel, sigma * scale


def blur_for(images: Tensor, kernel_size: int, sigma: float) -> Tensor:
    """``images`` blurred with a blur given for 224-pixel images, scaled to their size."""
    kernel, scaled_sigma = scaled_blur(kernel_size, sigma, min(images.shape[-2:]))
    return gaussian_blur(images, kernel, scaled_sigma)


def zeros(images: Tensor, model: nn.Module) -> Tensor:
    """Zeros in the model's normalised space: its mean colour in pixel space, as the authors."""
    return model_mean(model).to(images).expand_as(images)


def channel_mean(images: Tensor, model: nn.Module | None = None) -> Tensor:
    """Each image's own per-channel spatial mean."""
    return images.mean(dim=(-2, -1), keepdim=True).expand_as(images)


def blend(images: Tensor, keep: Tensor, baseline: Tensor) -> Tensor:
    """``images * keep + baseline * (1 - keep)``; ``keep`` ``[..., H, W]`` is boolean or in [0, 1].

    ``keep`` broadcasts over the colour channels: ``[B, H, W]`` masks give ``[B, 3, H, W]``, and
    ``[B, M, H, W]`` masks give ``[B, M, 3, H, W]`` (M masked copies of each image).
    """
    keep = keep.to(images.dtype).unsqueeze(-3)
    if keep.dim() == images.dim() + 1:
        images, baseline = images[:, None], baseline[:, None]
    return torch.lerp(baseline, images, keep)


# The paper's Table 1 baselines: name -> baseline(images, model).
TABLE1_BLUR = (101, 15.0)  # kernel size and sigma at 224 pixels (the KTH report's; YW drew sigma in [10, 20])
BASELINES: dict[str, Callable[[Tensor, nn.Module], Tensor]] = {
    "blur": lambda images, model: blur_for(images, *TABLE1_BLUR),
    "zeros": zeros,
    "mean": channel_mean,
}
