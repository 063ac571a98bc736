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
    contrast: str | Sequence[str] = "logit",
    relu: bool = False,
    upsample: bool = True,
    return_explanation: bool = False,
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
            one int per image, or ``[B, K]`` indices (:func:`whynot.targets.select_classes`).
        contrast: ``"logit"``, ``"softmax"``, ``"weighted"``, ``"mean"``, ``"max"``
            (:mod:`whynot.targets`), or a sequence of them, all computed in one engine pass.
        relu: keep only positive evidence (the classic CAM forms). Default: signed maps, as the paper.
        upsample: CAM methods: bilinear (``align_corners=True``) to the input size, or the layer's.
        return_explanation: return an :class:`Explanation` ``(maps, classes, backward_passes)``.
        **method_kwargs: ``reshape`` (CAMs; e.g. :func:`token_grid` for other token models),
            ``head_fusion`` and ``discard_ratio`` (rollouts),
            ``batch_size`` (ScoreCAM, Group-CAM, IG), ``groups``, ``theta``, ``masks``,
            ``normalize`` (Group-CAM), ``reading`` (Abs-CAM), ``samples``, ``std``, ``seed``
            (Smooth GradCAM++), ``baseline`` and ``steps`` (IG), ``keep_channels``
            (input-space methods: ``[B, K, 3, H, W]``).

    Returns:
        ``[B, K, H, W]`` maps, or a dict contrast -> maps when ``contrast`` is a sequence, or an
        :class:`Explanation` holding them; for a sequence of methods, a dict method -> that.
    """
    if isinstance(method, str):
        explainer = _explainer(model, method, layer, relu, upsample, method_kwargs)
        explanation = explainer(images, classes=classes, topk=topk, contrast=contrast)
        return explanation if return_explanation else explanation.maps
    methods = tuple(method)
    if not methods or len(set(methods)) != len(methods):
        raise ValueError(f"method must be a name or a sequence of distinct names; got {method!r}.")
    explainers = [_explainer(model, name, layer, relu, upsample, method_kwargs) for name in methods]
    explanations = explain_together(explainers, images, classes=classes, topk=topk, contrast=contrast)
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
    "RolloutExplainer", "ViTLayout", "vit_layout",
    *(cls.__name__ for cls in METHODS.values()),
]
