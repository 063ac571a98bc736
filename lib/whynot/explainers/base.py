"""Base classes: input checks, target classes, contrasts, the engine call, ReLU and upsampling.

A method only says how a (combined) gradient becomes a map, in pytorch-grad-cam's style:
input-space methods define :meth:`InputExplainer.attribute`, CAM methods their
:meth:`CAMExplainer.channel_weights` (or a whole :meth:`CAMExplainer.attribute`). Everything is
batched over images and targets and stays on the images' device.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar, NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from whynot.explainers.engine import check_images, check_logits, contrast_gradients
from whynot.explainers.hooks import capture_layer, model_guard, resolve_layer
from whynot.explainers.tokens import vit_layout
from whynot.targets import check_contrasts, select_classes

# The authors (and pytorch-grad-cam's ScoreCAM masks) upsample with align_corners=True.
ALIGN_CORNERS = True


class Explanation(NamedTuple):
    """What an explainer returns.

    ``maps``: ``[B, K, H, W]`` (or a dict contrast -> that, when several contrasts were asked
    for); ``classes``: the explained classes ``[B, K]``; ``backward_passes``: how many batch-wide
    backward passes the engine ran (``k + 2`` for all contrasts of the top-k classes).
    """

    maps: Tensor | dict[str, Tensor]
    classes: Tensor
    backward_passes: int


class Explainer:
    """Explain ``model``'s logits for images ``[B, 3, H, W]`` in [0, 1].

    Calling an explainer returns an :class:`Explanation` for the chosen classes (see
    :func:`whynot.targets.select_classes`) and contrast(s) (see :mod:`whynot.targets`).
    ``relu=True`` keeps only the positive part of every map (the classic CAM forms).
    """

    name: ClassVar[str]

    def __init__(self, model: nn.Module, relu: bool = False):
        self.model = model
        self.relu = relu

    def __call__(
        self,
        images: Tensor,
        classes=None,
        topk: int | None = None,
        contrast: str | Sequence[str] = "logit",
    ) -> Explanation:
        contrasts = check_contrasts(contrast)
        check_images(images)
        with model_guard(self.model), torch.enable_grad():
            maps, chosen, passes = self.explain_contrasts(images.detach(), classes, topk, contrasts)
        maps = {name: self.finish(value, images) for name, value in maps.items()}
        return Explanation(maps[contrast] if isinstance(contrast, str) else maps, chosen, passes)

    def explain_contrasts(
        self, images: Tensor, classes, topk: int | None, contrasts: tuple[str, ...]
    ) -> tuple[dict[str, Tensor], Tensor, int]:
        """``({contrast: raw maps [B, K, ...]}, classes [B, K], backward passes)``."""
        raise NotImplementedError

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return maps.relu() if self.relu else maps

    def logits(self, images: Tensor) -> Tensor:
        logits = self.model(images)
        check_logits(logits, images.shape[0])
        return logits


class InputExplainer(Explainer):
    """Attributions in input space, summed over colour channels unless ``keep_channels``.

    The channel sum is linear, so the paper's identities hold for the returned ``[B, K, H, W]``
    maps; ``keep_channels=True`` returns ``[B, K, 3, H, W]`` (e.g. for gradient-sign attacks).
    """

    def __init__(self, model: nn.Module, relu: bool = False, keep_channels: bool = False):
        super().__init__(model, relu)
        self.keep_channels = keep_channels

    def attribute(self, gradients: Tensor, inputs: Tensor) -> Tensor:
        """Map ``[B, K, 3, H, W]`` from contrast gradients ``[B, K, 3, H, W]``, inputs ``[B, 1, 3, H, W]``."""
        raise NotImplementedError

    def explain_contrasts(self, images, classes, topk, contrasts):
        inputs = images.clone().requires_grad_()
        logits = self.logits(inputs)
        chosen = select_classes(logits.detach(), classes, topk)
        gradients, passes = contrast_gradients(logits, inputs, chosen, contrasts)
        maps = {name: self.reduce(self.attribute(value, images[:, None])) for name, value in gradients.items()}
        return maps, chosen, passes

    def reduce(self, maps: Tensor) -> Tensor:
        return maps if self.keep_channels else maps.sum(dim=2)


class CAMExplainer(Explainer):
    """Maps at a layer, ``sum_k w_k A_k`` by default; upsampled bilinearly to the input size.

    ``layer``: a module name (``"net.features.40"``) or module; default
    ``model.whynot_meta["default_layer"]`` if set, else the last ``nn.Conv2d`` (for a ViT, the
    last block's first LayerNorm). ``reshape``: turns the layer's output into ``[B, C, h, w]``;
    it is applied to activations and gradients alike. For the ViTs that
    :func:`whynot.explainers.tokens.vit_layout` recognises (ours, torchvision's, timm's) it is
    derived from the model (prefix tokens dropped, patches on their grid); for other token
    models pass :func:`token_grid` or your own callable. ``upsample=False`` keeps
    the layer's resolution. Upsampling is bilinear with ``align_corners=True``, as the authors'
    code; ReLU (if asked) comes first, at the layer's resolution, as in the classic CAMs.
    """

    def __init__(
        self,
        model: nn.Module,
        layer: str | nn.Module | None = None,
        relu: bool = False,
        upsample: bool = True,
        reshape: Callable[[Tensor], Tensor] | None = None,
    ):
        super().__init__(model, relu)
        self.layer_name, self.layer = resolve_layer(model, layer)
        self.upsample = upsample
        if reshape is None and (layout := vit_layout(model)) is not None:
            reshape = layout.reshape_for(self.layer_name)
        self.reshape = reshape

    def channel_weights(self, gradients: Tensor, activations: Tensor) -> Tensor:
        """Channel weights ``[B, K, C]`` from gradients ``[B, K, C, h, w]``, activations ``[B, 1, C, h, w]``."""
        raise NotImplementedError

    def attribute(self, gradients: Tensor, activations: Tensor) -> Tensor:
        """Map ``[B, K, h, w]``; by default ``sum_k w_k A_k``."""
        weights = self.channel_weights(gradients, activations)
        return (weights[..., None, None] * activations).sum(dim=-3)

    def explain_contrasts(self, images, classes, topk, contrasts):
        gradients, activations, chosen, passes = self.layer_gradients(images, classes, topk, contrasts)
        maps = {name: self.attribute(value, activations) for name, value in gradients.items()}
        return maps, chosen, passes

    def layer_gradients(
        self, images: Tensor, classes, topk: int | None, contrasts: tuple[str, ...]
    ) -> tuple[dict[str, Tensor], Tensor, Tensor, int]:
        """``({contrast: gradients [B, K, C, h, w]}, activations [B, 1, C, h, w], classes, passes)``.

        Everything a gradient CAM needs; :func:`whynot.explain` shares it between methods.
        """
        with capture_layer(self.layer, self.layer_name) as capture:
            logits = self.logits(images)
        chosen = select_classes(logits.detach(), classes, topk)
        gradients, passes = contrast_gradients(logits, capture.activation, chosen, contrasts)
        activations = self.grid(capture.activation.detach(), leading=1)[:, None]
        gradients = {name: self.grid(value, leading=2) for name, value in gradients.items()}
        return gradients, activations, chosen, passes

    def grid(self, tensor: Tensor, leading: int) -> Tensor:
        """Apply ``reshape`` to a layer-shaped tensor with ``leading`` batch-like dimensions."""
        flat = tensor.reshape(-1, *tensor.shape[leading:])
        if self.reshape is not None:
            flat = self.reshape(flat)
        if flat.dim() != 4:
            raise ValueError(
                f"layer {self.layer_name!r} gives {flat.dim() - 1}-D activations {tuple(flat.shape[1:])} per "
                "image; CAMs need [C, h, w]. For token outputs [B, N, D] pass "
                "reshape=whynot.explainers.token_grid(prefix_tokens=1) or your own callable."
            )
        return flat.reshape(*tensor.shape[:leading], *flat.shape[1:])

    def finish(self, maps: Tensor, images: Tensor) -> Tensor:
        return upsample_to(super().finish(maps, images), images, self.upsample)


def upsample_to(maps: Tensor, images: Tensor, upsample: bool = True) -> Tensor:
    """``maps [B, K, h, w]`` bilinearly upsampled (``align_corners=True``) to the images' size."""
    if not upsample or maps.shape[-2:] == images.shape[-2:]:
        return maps
    return F.interpolate(maps, size=images.shape[-2:], mode="bilinear", align_corners=ALIGN_CORNERS)


def explain_together(
    explainers: Sequence[CAMExplainer],
    images: Tensor,
    classes=None,
    topk: int | None = None,
    contrast: str | Sequence[str] = "logit",
) -> list[Explanation]:
    """Several gradient CAMs at one layer from one engine pass (one forward, ``k + 2`` backward).

    GradCAM, LA, XGradCAM and GradCAM++ differ only in how they weight the same activations and
    contrast gradients, so the first explainer's :meth:`CAMExplainer.layer_gradients` serves all.
    """
    first = explainers[0]
    for explainer in explainers:
        shares = type(explainer).explain_contrasts is CAMExplainer.explain_contrasts
        if not shares or explainer.model is not first.model or explainer.layer is not first.layer:
            raise ValueError(
                f"{explainer.name} cannot share one engine pass: only gradient CAMs (gradcam, la, "
                "xgradcam, gradcam++) of the same model and layer can; explain the others separately."
            )
    contrasts = check_contrasts(contrast)
    check_images(images)
    with model_guard(first.model), torch.enable_grad():
        gradients, activations, chosen, passes = first.layer_gradients(images.detach(), classes, topk, contrasts)
    explanations = []
    for explainer in explainers:
        maps = {name: explainer.finish(explainer.attribute(value, activations), images) for name, value in gradients.items()}
        explanations.append(Explanation(maps[contrast] if isinstance(contrast, str) else maps, chosen, passes))
    return explanations

