"""What the image-and-map metrics accept: exactly what :func:`whynot.explain` returns.

``maps`` may be ``[B, H, W]`` (one map per image), ``[B, K, H, W]`` (``K`` target classes per
image, with ``classes [B, K]``), or an :class:`whynot.explainers.Explanation` (its maps and
classes). Without ``classes`` each map explains the model's predicted class. The metric then
runs on the ``B K`` (image, map) pairs as one batch and its per-map results come back shaped
``[B]`` or ``[B, K]``.

>>> ex = whynot.explain(model, images, topk=2, return_explanation=True)
>>> deletion(model, images, ex).auc.shape                       # doctest: +SKIP
torch.Size([16, 2])
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor, nn


class MetricInputs(NamedTuple):
    """``images [N, 3, H, W]``, ``maps [N, H, W]``, ``classes [N]`` with ``N = B K``; ``shape``
    is ``(B,)`` or ``(B, K)``, the shape per-map results are returned in."""

    images: Tensor
    maps: Tensor
    classes: Tensor
    shape: tuple[int, ...]

    def per_map(self, tensor: Tensor) -> Tensor:
        """A per-image tensor ``[B, ...]`` repeated for each image's maps: ``[B K, ...]``."""
        targets = self.shape[1] if len(self.shape) == 2 else 1
        return tensor.repeat_interleave(targets, dim=0) if targets > 1 else tensor


def metric_inputs(model: nn.Module, images: Tensor, maps, classes=None) -> MetricInputs:
    """Flatten (image, map, class) triples for a metric; see the module docstring."""
    if hasattr(maps, "maps") and hasattr(maps, "classes"):  # an Explanation
        if classes is None:
            classes = maps.classes
        maps = maps.maps
    if isinstance(maps, dict):
        raise ValueError(
            f"maps holds several contrasts ({', '.join(maps)}); pass one of them, e.g. "
            f"ex.maps[{next(iter(maps))!r}] with classes=ex.classes."
        )
    if not isinstance(maps, Tensor) or maps.dim() not in (3, 4):
        shape = tuple(maps.shape) if isinstance(maps, Tensor) else type(maps).__name__
        raise ValueError(
            f"maps must be [B, H, W] or [B, K, H, W] (what whynot.explain returns); got {shape}."
        )
    batch, size = images.shape[0], tuple(images.shape[-2:])
    if maps.shape[0] != batch or tuple(maps.shape[-2:]) != size:
        hint = ("explain with upsample=True (the default) to get maps at the image size"
                if maps.shape[0] == batch else "give one map (or K maps) per image")
        raise ValueError(
            f"maps must be [B, H, W] or [B, K, H, W] with B = {batch} and H, W = {size}; got "
            f"{tuple(maps.shape)}: {hint}."
        )
    targets = 1 if maps.dim() == 3 else maps.shape[1]
    classes = _classes(model, images, classes, batch, targets)
    shape = (batch,) if maps.dim() == 3 else (batch, targets)
    flat = MetricInputs(images, maps.reshape(-1, *size), classes.reshape(-1), shape)
    return flat._replace(images=flat.per_map(images))


def _classes(model: nn.Module, images: Tensor, classes, batch: int, targets: int) -> Tensor:
    if classes is None:
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        return predicted[:, None].expand(batch, targets)
    classes = torch.as_tensor(classes, device=images.device)
    if classes.is_floating_point():
        raise ValueError(f"classes must be integer class indices; got dtype {classes.dtype}.")
    classes = classes.long()
    if classes.numel() == 1:
        return classes.reshape(1, 1).expand(batch, targets)
    if classes.shape == (batch,):
        return classes[:, None].expand(batch, targets)
    if classes.shape == (batch, targets):
        return classes
    raise ValueError(
        f"classes must be one int, one per image ({batch}) or [B, K] = [{batch}, {targets}] "
        f"(explain's classes, e.g. ex.classes); got {tuple(classes.shape)}. Leave it out to "
        "score the predicted class."
    )
