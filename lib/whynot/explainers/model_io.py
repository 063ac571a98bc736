"""Models people bring: their outputs, class names, input scaling, layer layouts.

* :func:`select_output` reads the logits from what a model returns: a tensor, Hugging Face's
  ``ImageClassifierOutput`` (``.logits``), a tuple (its first element) or a dict (``"logits"``);
  ``output=`` (an attribute or key name, a tuple index or a callable) picks anything else.
  A single logit ``y`` (a binary classifier) is read as the two logits ``[0, y]``: class 1 is
  "the logit against the implicit 0" and ``softmax([0, y])_1 = sigmoid(y)``.
* :func:`class_names` finds the model's class names (``whynot_meta``, Hugging Face's
  ``config.id2label``, ImageNet's names for a 1000-class timm or torchvision model) and
  :func:`class_indices` turns names given as ``classes=`` or ``foil=`` into indices.
* :func:`wrap` puts a model that expects normalised input behind its normalisation, so that
  it takes images in [0, 1] like every whynot model.
* :func:`family_default_layer` and :func:`channels_last` read Swin and ConvNeXt layers, whose
  outputs are ``[B, H, W, C]`` (channels last) in places.

>>> model = wrap(torchvision.models.resnet18(), IMAGENET_MEAN, IMAGENET_STD)   # doctest: +SKIP
>>> whynot.explain(model, images, classes="meerkat", contrast="foil", foil="mongoose")  # +SKIP
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Mapping, Sequence

import torch
from torch import Tensor, nn

from whynot.models.common import NormalizedModel

Selector = str | int | Callable[[object], Tensor] | None


def select_output(output: object, selector: Selector = None) -> Tensor:
    """The logits tensor inside a model's ``output`` (see the module); ValueError naming the fix."""
    if callable(selector):
        return selector(output)
    if selector is not None:
        try:
            if isinstance(selector, int):
                return output[selector]
            if isinstance(output, Mapping) and selector in output:
                return output[selector]
            return getattr(output, selector)
        except (AttributeError, IndexError, KeyError, TypeError):
            raise ValueError(
                f"output={selector!r} is not in the model's {type(output).__name__} output; "
                f"{_describe(output)}."
            ) from None
    if isinstance(output, Tensor):
        return output
    if isinstance(getattr(output, "logits", None), Tensor):
        return output.logits
    if isinstance(output, Mapping):
        if isinstance(output.get("logits"), Tensor):
            return output["logits"]
        raise ValueError(
            f"the model returns a dict without 'logits' ({_describe(output)}); pass output= "
            "the key of the logits (or a callable that takes the output)."
        )
    if isinstance(output, (tuple, list)) and output and isinstance(output[0], Tensor):
        return output[0]
    raise ValueError(
        f"cannot find logits in the model's {type(output).__name__} output; pass output= an "
        "attribute or key name, a tuple index, or a callable that returns the logits."
    )


def _describe(output: object) -> str:
    if isinstance(output, Mapping):
        return f"its keys are {list(output)}"
    if isinstance(output, (tuple, list)):
        return f"it has {len(output)} elements"
    return "pass output= a callable that returns the logits"


def binary_as_two(logits: Tensor) -> Tensor:
    """``[B, 1]`` logits ``y`` as ``[B, 2] = [0, y]``: class 1 against the implicit 0."""
    return (
        torch.cat([torch.zeros_like(logits), logits], dim=1) if logits.shape[1:] == (1,) else logits
    )


def class_names(model: nn.Module, num_classes: int | None = None) -> tuple[str, ...] | None:
    """The model's class names, or None. ``num_classes``: drop names that do not fit the logits.

    Looked up in ``whynot_meta["class_names"]``, in a Hugging Face ``config.id2label`` anywhere
    in the model, and for a timm or torchvision model with 1000 classes, ImageNet's names.
    """
    names = getattr(model, "whynot_meta", {}).get("class_names")
    for module in model.modules():
        if names is not None:
            break
        id2label = getattr(getattr(module, "config", None), "id2label", None)
        if isinstance(id2label, Mapping) and id2label:
            names = tuple(id2label[index] for index in sorted(id2label))
        elif _imagenet_classifier(module):
            from whynot.data.imagenet import IMAGENET_CLASSES

            names = IMAGENET_CLASSES
    if names is None or (num_classes is not None and len(names) != num_classes):
        return None
    return tuple(str(name) for name in names)


def _imagenet_classifier(module: nn.Module) -> bool:
    """A timm or torchvision classifier with 1000 outputs (ImageNet-1k, whose names we ship)."""
    source = type(module).__module__
    if source.startswith("timm."):
        return getattr(module, "num_classes", None) == 1000
    if source.startswith("torchvision.models"):
        linears = [m for m in module.modules() if isinstance(m, nn.Linear)]
        return bool(linears) and linears[-1].out_features == 1000
    return False


def class_indices(value, names: Sequence[str] | None, what: str = "classes"):
    """``value`` with every class name replaced by its index in ``names`` (ints stay as they are).

    >>> class_indices([["cat", 2]], ("dog", "cat", "bird"))
    [[1, 2]]
    """
    if isinstance(value, str):
        if names is None:
            raise ValueError(
                f"{what}={value!r} is a class name but the model carries no class names; "
                "pass class indices (or whynot.wrap(model, ..., class_names=[...]))."
            )
        lookup = {name: index for index, name in enumerate(names)}
        if value not in lookup:
            lowered = {name.lower(): index for name, index in lookup.items()}
            if value.lower() in lowered:
                return lowered[value.lower()]
            close = difflib.get_close_matches(value, names, n=3)
            hint = f"; did you mean {', '.join(map(repr, close))}?" if close else "."
            raise ValueError(f"unknown class name {value!r} in {what}{hint}")
        return lookup[value]
    if isinstance(value, (list, tuple)):
        return [class_indices(item, names, what) for item in value]
    return value


def wrap(
    model: nn.Module,
    mean: Sequence[float],
    std: Sequence[float],
    class_names: Sequence[str] | None = None,
    default_layer: str | None = None,
) -> NormalizedModel:
    """``model`` behind ``(x - mean) / std``, so it takes images in [0, 1], in eval mode.

    The masking methods (ScoreCAM, Abs-CAM) then mask towards ``mean`` (zero in the model's
    space), and whynot can tell that images outside [0, 1] (scaled 0-255, or already normalised)
    are a mistake. Layer names get the prefix ``net.``; ``default_layer`` is given without it.

    >>> model = whynot.wrap(torchvision.models.resnet18(weights="DEFAULT"),
    ...                     mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))  # doctest: +SKIP
    """
    if len(mean) != 3 or len(std) != 3 or min(std) <= 0:
        raise ValueError(
            f"mean and std are 3 per-channel values (std > 0); got mean={mean}, std={std}."
        )
    meta = {"default_layer": None if default_layer is None else f"net.{default_layer}"}
    if class_names is not None:
        meta["class_names"] = tuple(class_names)
    return NormalizedModel(model, mean, std, meta).eval()


def family_default_layer(model: nn.Module) -> str | None:
    """A good CAM layer for models whose last ``nn.Conv2d`` is a poor one, or None.

    Swin (torchvision, timm): the final LayerNorm ``norm`` (channels last; its only convolution
    is the patch embedding). ConvNeXt (torchvision ``features``, timm ``stages``, Hugging Face
    ``encoder.stages``): the last stage's output, after the last block's residual sum (the
    last ``nn.Conv2d`` is a depthwise convolution inside that block).
    """
    for name, module in model.named_modules():
        prefix = f"{name}." if name else ""
        kind = type(module).__name__
        if kind == "SwinTransformer" and isinstance(getattr(module, "norm", None), nn.LayerNorm):
            return f"{prefix}norm"
        if kind == "ConvNeXt" and hasattr(module, "features"):
            return f"{prefix}features"
        if kind == "ConvNeXt" and hasattr(module, "stages"):
            return f"{prefix}stages"
        if kind == "ConvNextModel":
            return f"{prefix}encoder.stages.{len(module.encoder.stages) - 1}"
    return None


def channels_last(
    shape: Sequence[int], image_size: Sequence[int], module: nn.Module, name: str
) -> bool:
    """Whether a layer's 4-D output ``shape`` is ``[B, h, w, C]`` rather than ``[B, C, h, w]``.

    Read from the shape first: the two spatial sizes of a feature map divide the image's by one
    common stride (give or take padding), the channel count rarely does. Where both readings fit
    (``C`` equal to a grid size), the module decides: a LayerNorm or Linear over the last
    dimension is channels last, a convolution or BatchNorm channels first. Otherwise refused.
    """
    first, last = _grid_like(shape[2:], image_size), _grid_like(shape[1:3], image_size)
    if first != last:
        return last
    if not first:
        return False  # neither reads as a grid (unpadded convolutions): PyTorch's own layout
    if isinstance(module, nn.LayerNorm) and module.normalized_shape[-1] == shape[-1]:
        return True
    if isinstance(module, nn.Linear):
        return True
    if isinstance(module, (nn.Conv2d, nn.BatchNorm2d)):
        return False
    raise ValueError(
        f"layer {name!r} outputs {tuple(shape[1:])} per image: it cannot be told whether that is "
        "[C, h, w] or [h, w, C]; pass reshape=lambda a: a.permute(0, 3, 1, 2) for channels last, "
        "or reshape=lambda a: a for channels first."
    )


def _grid_like(sizes: Sequence[int], image_size: Sequence[int]) -> bool:
    """Whether ``(h, w)`` is the image's ``(H, W)`` divided by one stride, up to rounding."""
    strides = [image / size for image, size in zip(image_size, sizes)]
    if min(sizes) < 1 or min(strides) < 1:
        return False
    return max(strides) / min(strides) < 1.25 or max(sizes) <= 2
