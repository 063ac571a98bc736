"""torchvision's ImageNet-pretrained models by name, for the ``full`` profile.

Each model uses its architecture's ``DEFAULT`` weights enum: the download goes through
torch.hub's cache (``$TORCH_HOME/hub/checkpoints``, see :func:`hub_checkpoint_path`) with
torchvision's hash check; ``weights_path`` loads a local file instead. Either way the checkpoint
is checked key by key and shape by shape before anything is copied (CheckpointError otherwise).

``default_layer`` is the last feature map before global pooling: in plain convolution stacks the
last ``Conv2d`` (before its BatchNorm / ReLU, as the authors' ``vgg16_bn.features[40]``); where
the last stage merges branches (ResNet's residual sum, Inception's concatenation, DenseNet's
concatenation) the stage's output. ViT has none (its only ``Conv2d`` is the patch embedding).

>>> model = pretrained_model("resnet18")                          # doctest: +SKIP
>>> model.whynot_meta["default_layer"], model.whynot_meta["input_size"]  # doctest: +SKIP
('net.layer4', 224)
"""
from __future__ import annotations

import os
import re
import urllib.error
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlparse

import torch
from torch import nn
from torchvision import models

from whynot import rehearsal
from whynot.models.common import CheckpointError, NormalizedModel, load_state_dict_strict


class WeightsUnavailableError(FileNotFoundError):
    """Pretrained weights are not in the local cache and could not be downloaded."""


@dataclass(frozen=True)
class TorchvisionModel:
    default_layer: str | None  # module name inside the torchvision network (None: no CAM layer)
    build_kwargs: dict = field(default_factory=dict)  # as torchvision's builder sets them for weights


# GoogLeNet's pretrained weights expect transform_input=True (the builder sets it); its
# auxiliary classifiers only matter in training and are dropped from the checkpoint.
_GOOGLENET_KWARGS = {"transform_input": True, "aux_logits": False, "init_weights": False}

TORCHVISION_MODELS: dict[str, TorchvisionModel] = {
    "vgg16_bn": TorchvisionModel("features.40"),
    "resnet18": TorchvisionModel("layer4"),
    "alexnet": TorchvisionModel("features.10"),
    "googlenet": TorchvisionModel("inception5b", _GOOGLENET_KWARGS),
    "mobilenet_v3_small": TorchvisionModel("features.12.0"),
    "mobilenet_v3_large": TorchvisionModel("features.16.0"),
    "mnasnet1_0": TorchvisionModel("layers.14"),
    "vgg16": TorchvisionModel("features.28"),
    "efficientnet_b1": TorchvisionModel("features.8.0"),
    "densenet161": TorchvisionModel("features"),
    "vit_b_16": TorchvisionModel(None),
    # Group-CAM's models: its deletion / insertion target layer (the last max-pool) and ResNet-50's.
    "vgg19": TorchvisionModel("features.36"),
    "resnet50": TorchvisionModel("layer4"),
}
PRETRAINED_MODELS: tuple[str, ...] = tuple(TORCHVISION_MODELS)
# The nine CNNs of the PGD gradient-sign figure of the KTH reproduction.
PGD_MODELS: tuple[str, ...] = ("resnet18", "alexnet", "googlenet", "mobilenet_v3_small", "mobilenet_v3_large",
                               "mnasnet1_0", "vgg16", "efficientnet_b1", "densenet161")
# The Group-CAM paper's: VGG19 (deletion / insertion) and ResNet-50 (everything else).
GROUPCAM_MODELS: tuple[str, ...] = ("vgg19", "resnet50")


def _spec(name: str) -> TorchvisionModel:
    try:
        return TORCHVISION_MODELS[name]
    except KeyError:
        raise KeyError(f"unknown torchvision model {name!r}; choose one of {list(PRETRAINED_MODELS)}") from None


def default_weights(name: str) -> models.WeightsEnum:
    """The ``DEFAULT`` weights enum of ``name`` (e.g. ``VGG16_BN_Weights.IMAGENET1K_V1``)."""
    _spec(name)
    return models.get_model_weights(name).DEFAULT


def build_architecture(name: str) -> nn.Module:
    """The torchvision network ``name`` with random weights, configured as for its pretrained weights."""
    return models.get_model(name, weights=None, **_spec(name).build_kwargs)


def hub_checkpoint_path(name: str) -> Path:
    """Where torch.hub caches (and looks for) the weights of ``name``; put a manual download here."""
    file_name = os.path.basename(urlparse(default_weights(name).url).path)
    return Path(torch.hub.get_dir()) / "checkpoints" / file_name


def _download_state_dict(name: str) -> Mapping[str, torch.Tensor]:
    url = default_weights(name).url
    try:
        return torch.hub.load_state_dict_from_url(url, map_location="cpu", check_hash=True, weights_only=True)
    except (urllib.error.URLError, ConnectionError, TimeoutError) as error:
        raise WeightsUnavailableError(
            f"could not download the {name} weights from {url} ({error}). Without internet, download "
            f"that file elsewhere and copy it to {hub_checkpoint_path(name)} (torch.hub's cache: "
            "$TORCH_HOME/hub/checkpoints, TORCH_HOME defaults to ~/.cache/torch), or pass "
            f"weights_path=<the file> to pretrained_model({name!r})."
        ) from error


def _read_state_dict(path: Path) -> Mapping[str, torch.Tensor]:
    if not path.is_file():
        raise FileNotFoundError(f"weights file {path} does not exist; pass the path of a saved state_dict")
    try:
        state_dict = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as error:
        raise CheckpointError(
            f"cannot read {path} as a torch checkpoint ({error}); re-download or re-save it"
        ) from error
    if not isinstance(state_dict, Mapping):
        raise CheckpointError(f"{path} holds a {type(state_dict).__name__}, not a state_dict; "
                              "save `model.state_dict()` (or the torchvision weights file) instead")
    return state_dict


_DENSENET_LEGACY_KEY = re.compile(
    r"^(.*denselayer\d+\.(?:norm|relu|conv))\.((?:[12])\.(?:weight|bias|running_mean|running_var))$"
)
_VIT_LEGACY_MLP_KEY = re.compile(r"^(.*\.mlp\.)linear_([12])\.(weight|bias)$")


def upgrade_legacy_state_dict(
    state_dict: Mapping[str, torch.Tensor], model: nn.Module
) -> "OrderedDict[str, torch.Tensor]":
    """Bring an older torchvision checkpoint to ``model``'s current key names, as torchvision does.

    * DenseNet: ``denselayer1.norm.1.weight`` -> ``denselayer1.norm1.weight``;
    * ViT: ``mlp.linear_1`` / ``mlp.linear_2`` -> ``mlp.0`` / ``mlp.3``;
    * GoogLeNet: the training-only ``aux1.*`` / ``aux2.*`` heads are dropped when the model has none;
    * BatchNorm ``num_batches_tracked`` counters (absent before PyTorch 0.4.1) are filled with 0.

    The result carries ``model``'s version metadata: it is in the current format now.
    """
    expected = model.state_dict()
    upgraded = OrderedDict()
    for key, tensor in state_dict.items():
        key = _DENSENET_LEGACY_KEY.sub(r"\1\2", key)
        key = _VIT_LEGACY_MLP_KEY.sub(lambda m: f"{m[1]}{3 * (int(m[2]) - 1)}.{m[3]}", key)
        if key.startswith(("aux1.", "aux2.")) and key not in expected:
            continue
        upgraded[key] = tensor
    for key in expected:
        if key.endswith(".num_batches_tracked") and key not in upgraded:
            upgraded[key] = torch.zeros((), dtype=torch.long)
    upgraded._metadata = getattr(expected, "_metadata", None)
    return upgraded


def pretrained_model(name: str, weights_path: str | os.PathLike | None = None) -> NormalizedModel:
    """torchvision's ``name`` with its ImageNet weights, taking images in [0, 1], in eval mode.

    ``weights_path``: a local state_dict (the torchvision file, or ``model.net.state_dict()``
    saved by us) instead of the download.

    >>> model = pretrained_model("vgg16_bn")                 # doctest: +SKIP
    >>> model.whynot_meta["default_layer"]                   # doctest: +SKIP
    'net.features.40'
    """
    if rehearsal.active():  # the one substitution of the rehearsal: no weights to download
        return wrap_torchvision(name, rehearsal.random_architecture(name))
    source = str(weights_path) if weights_path is not None else default_weights(name).url
    state_dict = _download_state_dict(name) if weights_path is None else _read_state_dict(Path(weights_path))
    net = build_architecture(name)
    load_state_dict_strict(net, upgrade_legacy_state_dict(state_dict, net), source)
    return wrap_torchvision(name, net)


def wrap_torchvision(name: str, net: nn.Module) -> NormalizedModel:
    """``net`` (torchvision's ``name``) behind the normalisation of its weights, with ``whynot_meta``, in eval mode."""
    spec, weights = _spec(name), default_weights(name)
    preprocessing = weights.transforms()
    meta = {
        "name": name,
        "class_names": tuple(weights.meta["categories"]),
        "input_size": rehearsal.input_size(name, preprocessing.crop_size[0]),
        "default_layer": None if spec.default_layer is None else f"net.{spec.default_layer}",
    }
    return NormalizedModel(net, preprocessing.mean, preprocessing.std, meta).eval()
