"""Pieces every model wrapper shares: input normalisation, metadata, strict checkpoint loading."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class CheckpointError(RuntimeError):
    """A checkpoint is corrupt or does not match the model; nothing was loaded."""


class Normalize(nn.Module):
    """``(x - mean) / std`` per channel, so that models take images in [0, 1]."""

    def __init__(self, mean: Sequence[float], std: Sequence[float]):
        super().__init__()
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.mean) / self.std


class NormalizedModel(nn.Sequential):
    """``Normalize`` followed by a classifier that returns logits.

    The classifier is ``self.net`` so that layer names read ``net.features.40`` and so on.
    """

    def __init__(self, net: nn.Module, mean: Sequence[float], std: Sequence[float], meta: dict):
        super().__init__()
        self.add_module("normalize", Normalize(mean, std))
        self.add_module("net", net)
        self.whynot_meta = {"mean": tuple(mean), "std": tuple(std), **meta}


def load_state_dict_strict(model: nn.Module, state_dict: Mapping[str, torch.Tensor], source: str) -> None:
    """Copy ``state_dict`` into ``model`` only if every key and shape matches.

    Raises CheckpointError naming the first mismatches and ``source``; the model is untouched
    then (``nn.Module.load_state_dict`` can copy some tensors before it fails on a shape).
    """
    expected = model.state_dict()
    missing = [k for k in expected if k not in state_dict]
    unexpected = [k for k in state_dict if k not in expected]
    wrong = [
        f"{k}: checkpoint {tuple(state_dict[k].shape)} vs model {tuple(v.shape)}"
        for k, v in expected.items()
        if k in state_dict and tuple(state_dict[k].shape) != tuple(v.shape)
    ]
    if missing or unexpected or wrong:
        parts = []
        if missing:
            parts.append(f"{len(missing)} missing keys (first: {missing[:3]})")
        if unexpected:
            parts.append(f"{len(unexpected)} unexpected keys (first: {unexpected[:3]})")
        if wrong:
            parts.append(f"{len(wrong)} shape mismatches (first: {wrong[:3]})")
        raise CheckpointError(
            f"checkpoint {source} does not match {type(model).__name__}: " + "; ".join(parts)
            + ". Nothing was loaded; check that the checkpoint was saved for this architecture, "
            "or delete it so that it is rebuilt."
        )
    model.load_state_dict(state_dict, strict=True)


def model_mean(model: nn.Module) -> torch.Tensor:
    """The colour that the model normalises to zero, as [1, 3, 1, 1] on the model's device.

    It is the papers' "zeros in normalised space" baseline, in pixel space.

    >>> model_mean(whynot.models.zoo.load_model("resnet18")).flatten()       # doctest: +SKIP
    tensor([0.4850, 0.4560, 0.4060])
    """
    device = next(model.parameters()).device
    mean = torch.tensor(model.whynot_meta["mean"], dtype=torch.float32, device=device)
    return mean.view(1, -1, 1, 1)
