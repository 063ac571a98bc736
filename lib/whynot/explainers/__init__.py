"""Explanation methods and the one-call entry point :func:`explain`.

>>> import whynot
>>> maps = whynot.explain(model, images, method="gradcam", topk=3,
...                       contrast=("logit", "softmax", "weighted", "mean", "max"))
>>> maps["weighted"].shape                     # [B, K, H, W]; k + 2 = 5 backward passes in all
torch.Size([16, 3, 224, 224])
>>> cams = whynot.explain(model, images, method=("gradcam", "la", "xgradcam"), topk=2)
>>> cams["la"].shape                           # three methods from the same engine pass
torch.Size([16, 2, 224, 224])
>>> whynot.explain(vit, images, method="gradcam", topk=2).shape   # ViT tokens: no reshape needed
torch.Size([16, 2, 224, 224])
>>> whynot.explain(vit, images, method="rollout", contrast="softmax").shape
torch.Size([16, 1, 224, 224])
>>> whynot.explain(model, images, classes="meerkat", contrast="foil", foil="mongoose").shape
torch.Size([16, 1, 224, 224])
"""
from __future__ import annotations

from collections.abc import Sequence

from torch import Tensor, nn

from whynot.explainers.abscam import AbsCAM, AbsCAMInit
from whynot.explainers.base import CAMExplainer, Explainer, Explanation, InputExplainer, explain_together
from whynot.explainers.gradcam import GradCAM
from whynot.explainers.gradcam_pp import GradCAMPlusPlus
from whynot.explainers.gradient import Gradient
from whynot.explainers.groupcam import GroupCAM
from whynot.explainers.hooks import token_grid
from whynot.explainers.input_x_gradient import InputXGradient
from whynot.explainers.integrated_gradients import IntegratedGradients
from whynot.explainers.linear_approx import LinearApproximation
from whynot.explainers.model_io import wrap
from whynot.explainers.rollout import AttentionRollout, GradientRollout, RolloutExplainer
from whynot.explainers.scorecam import ScoreCAM
from whynot.explainers.tokens import ViTLayout, vit_layout
from whynot.explainers.smooth_gradcam_pp import SmoothGradCAMPlusPlus
from whynot.explainers.xgradcam import XGradCAM

METHODS: dict[str, type[Explainer]] = {
    cls.name: cls
    for cls in (
        Gradient, InputXGradient, IntegratedGradients,
        GradCAM, LinearApproximation, XGradCAM, GradCAMPlusPlus, SmoothGradCAMPlusPlus, ScoreCAM, GroupCAM,
        AbsCAMInit, AbsCAM, GradientRollout, AttentionRollout,
    )
}


def explain(
    model: nn.Module,
    images: Tensor,
    method: str | Sequence[str] = "gradcam",
    layer: str | nn.Module | None = None,
    classes=None,
    topk: int | None = None,
    contrast="logit",
    foil=None,
    relu: bool = False,
    upsample: bool = True,
    return_explanation: bool = False,
    output=None,
    multilabel: bool = False,
    batch_size: int | None = None,
    **method_kwargs,
) -> Tensor | dict[str, Tensor] | Explanation:
    """Explain ``model``'s prediction for ``images`` ``[B, 3, H, W]`` in [0, 1].

    Args:
        model: returns logits; in eval mode (a model in training mode is refused).
        method: ``"gradient"``, ``"input_x_gradient"``, ``"integrated_gradients"`` (input space) or
            ``"gradcam"``, ``"la"``, ``"xgradcam"``, ``"gradcam++"``, ``"smoothgradcam++"``,
            ``"scorecam"``, ``"groupcam"``, ``"abscam_init"``, ``"abscam"`` (at ``layer``);
            ``"rollout"`` (gradient-weighted attention rollout) or ``"attention_rollout"`` (plain)
            for Vision Transformers; or a sequence of gradient CAMs, which share one engine pass.
        layer: CAM methods only: module name or module; default ``whynot_meta["default_layer"]``,
            for a ViT the last block's first LayerNorm, else the last ``nn.Conv2d``. Token
            outputs of recognised ViTs (ours, torchvision's, timm's) are put on their patch grid.
        classes, topk: the K target classes per image: top-1 by default; ``topk=k``; or an int,
            one int per image, or ``[B, K]`` indices (:func:`whynot.targets.select_classes`);
            class names work where the model carries them (``whynot_meta``, a Hugging Face
            ``config.id2label``, ImageNet for timm).
        contrast: ``"logit"``, ``"softmax"``, ``"weighted"``, ``"mean"``, ``"max"``, ``"foil"``
            (:mod:`whynot.targets`), a cotangent tensor on the logits (``[C]``, ``[B, C]`` or
            ``[B, K, C]``: ``"custom"``), or a sequence of these, all in one engine pass.
        foil: the ``"foil"`` contrast's classes ("why t and not s?"): one class (index or name)
            for all images, one per image ``[B]``, or a set per image ``[B, F]``.
        relu: keep only positive evidence (the classic CAM forms). Default: signed maps, as the paper.
        upsample: CAM methods: bilinear (``align_corners=True``) to the input size, or the layer's.
        return_explanation: return an :class:`Explanation` (maps, classes, backward passes,
            method, layer, contrast, probabilities, class names, foil).
        output: where the logits are in the model's output (default: a tensor, ``.logits``,
            a tuple's first element, a dict's ``"logits"``): an attribute or key name, an
            index or a callable (:func:`whynot.explainers.model_io.select_output`).
        multilabel: the model scores classes with independent sigmoids: logit, foil, mean,
            max and custom contrasts; softmax and weighted are refused. A single-logit model
            (without ``multilabel``) is explained as the classes ``[0, y]``: class 1 is y.
        batch_size: at most this many images (ScoreCAM, Group-CAM, Abs-CAM: masked images;
            IG: path images) per forward pass; the maps equal those of one call.
        **method_kwargs: ``reshape`` (CAMs; e.g. :func:`token_grid` for other token models),
            ``head_fusion`` and ``discard_ratio`` (rollouts),
            ``groups``, ``theta``, ``masks``,
            ``normalize`` (Group-CAM), ``reading`` (Abs-CAM), ``samples``, ``std``, ``seed``
            (Smooth GradCAM++), ``baseline`` and ``steps`` (IG), ``keep_channels``
            (input-space methods: ``[B, K, 3, H, W]``).

    Returns:
        ``[B, K, H, W]`` maps, or a dict contrast -> maps when ``contrast`` is a sequence, or an
        :class:`Explanation` holding them; for a sequence of methods, a dict method -> that.
    """
    options = dict(method_kwargs, output=output, multilabel=multilabel)
    if batch_size is not None:
        options["batch_size"] = batch_size
    if isinstance(method, str):
        explainer = _explainer(model, method, layer, relu, upsample, options)
        explanation = explainer(images, classes=classes, topk=topk, contrast=contrast, foil=foil)
        return explanation if return_explanation else explanation.maps
    methods = tuple(method)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"method must be a name or a sequence of distinct names; got {method!r}.")
    explainers = [_explainer(model, name, layer, relu, upsample, options) for name in methods]
    explanations = explain_together(
        explainers, images, classes=classes, topk=topk, contrast=contrast, foil=foil
    )
    return {
        name: explanation if return_explanation else explanation.maps
        for name, explanation in zip(methods, explanations)
    }


def _explainer(model, method, layer, relu, upsample, method_kwargs) -> Explainer:
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; valid methods are {', '.join(METHODS)}.")
    cls = METHODS[method]
    kwargs = dict(method_kwargs)
    if issubclass(cls, CAMExplainer):
        kwargs.update(layer=layer, upsample=upsample)
    elif issubclass(cls, RolloutExplainer):
        if layer is not None:
            raise ValueError(f"{method} uses every block's attention and takes no layer; drop layer=.")
        kwargs.update(upsample=upsample)
    elif layer is not None:
        raise ValueError(f"{method} works in input space and takes no layer; drop layer= or use a CAM method.")
    try:
        return cls(model, relu=relu, **kwargs)
    except TypeError as error:
        raise TypeError(f"{method}: {error} (see help(whynot.explainers.{cls.__name__}))") from None


__all__ = [
    "METHODS", "explain", "explain_together", "Explanation", "Explainer", "InputExplainer", "CAMExplainer", "token_grid",
    "RolloutExplainer", "ViTLayout", "vit_layout", "wrap",
    *(cls.__name__ for cls in METHODS.values()),
]
