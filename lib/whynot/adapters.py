"""Keep your tools: whynot's methods and contrasts in the shapes Quantus, pytorch-grad-cam and
captum expect. None of these libraries is imported here; they stay optional.

- **Quantus**: :func:`quantus_explain_func` is an ``explain_func(model, inputs, targets,
  **kwargs) -> np.ndarray``; the method, layer and contrast are its keyword arguments::

      metric = quantus.PixelFlipping(features_in_step=32)
      scores = metric(model=model, x_batch=x, y_batch=y, explain_func=quantus_explain_func,
                      explain_func_kwargs=dict(method="gradcam", contrast="weighted"))

- **pytorch-grad-cam**: :class:`ContrastTarget` is a target its CAMs accept, one per image::

      cam = pytorch_grad_cam.GradCAM(model, target_layers=[layer])
      cam(input_tensor=x, targets=[ContrastTarget("weighted", t) for t in classes])

- **captum**: :class:`CaptumExplainer` has captum's ``attribute(inputs, target=...)``::

      CaptumExplainer(model, "gradcam").attribute(x, target=3, contrast="max")   # [B, 1, h, w]
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from torch import Tensor, nn

from whynot.targets import cotangents, request_contrasts


def quantus_explain_func(
    model: nn.Module,
    inputs,
    targets,
    method: str = "gradcam",
    layer: str | nn.Module | None = None,
    contrast: str = "logit",
    relu: bool = False,
    device=None,
    **explain_kwargs,
) -> np.ndarray:
    """Maps ``[B, 1, H, W]`` (float32) of ``targets`` for ``inputs [B, 3, H, W]`` in [0, 1].

    ``inputs`` and ``targets`` (one class per image) may be numpy arrays or tensors, as Quantus
    passes them; ``method``, ``layer``, ``contrast`` (one name, or a cotangent tensor), ``relu``
    and any other :func:`whynot.explain` argument (``foil=``, ``batch_size=``) come as keyword
    arguments (Quantus's ``explain_func_kwargs``). ``device``: where to explain (Quantus may
    pass it), by default the model's. CAMs are upsampled to the input size.

    >>> quantus_explain_func(model, x_batch, y_batch, method="gradcam", contrast="weighted").shape
    (8, 1, 224, 224)
    """
    import whynot

    if not isinstance(contrast, (str, Tensor)):
        raise ValueError(
            f"quantus_explain_func explains one contrast at a time; got {contrast!r}. Evaluate "
            "each contrast with its own explain_func_kwargs."
        )
    if device is None:
        device = next(model.parameters()).device
    images = torch.as_tensor(np.asarray(inputs) if not isinstance(inputs, Tensor) else inputs)
    images = images.to(device=device, dtype=torch.float32)
    classes = torch.as_tensor(np.asarray(targets) if not isinstance(targets, Tensor) else targets)
    classes = classes.reshape(-1).long().to(device)
    maps = whynot.explain(model, images, method=method, layer=layer, classes=classes,
                          contrast=contrast, relu=relu, **explain_kwargs)
    return maps.detach().float().cpu().numpy()


class ContrastTarget:
    """A pytorch-grad-cam target: the score ``v^T y`` whose gradient is whynot's contrast ``v``.

    ``contrast``: ``"logit"``, ``"softmax"``, ``"weighted"``, ``"mean"``, ``"max"`` or
    ``"foil"`` (with ``foil``: a class or a list of classes); ``category``: the target class.
    ``v`` is computed from the detached logits of the image and held fixed
    (:func:`whynot.targets.cotangents`), as in whynot, so for every CAM that is linear in the
    gradient the map equals ``whynot.explain(..., contrast=contrast)``:

    .. math:: \\mathrm{score}(y) = v^\\top y, \\qquad \\nabla_A\\, \\mathrm{score} = J_A^\\top v

    >>> cam(input_tensor=x, targets=[ContrastTarget("foil", 3, foil=5)])   # why 3 and not 5?
    """

    def __init__(self, contrast: str, category: int, foil: int | Sequence[int] | None = None):
        self.contrast = contrast
        self.category = int(category)
        self.request = request_contrasts(contrast, batch=1, foil=None if foil is None else [foil])

    def __call__(self, model_output: Tensor) -> Tensor:
        logits = model_output if model_output.dim() == 2 else model_output[None]
        classes = torch.full((logits.shape[0], 1), self.category, device=logits.device)
        request = self.request if logits.shape[0] == 1 else self.request.tile(logits.shape[0])
        vector = cotangents(logits.detach(), classes, self.contrast, request)[:, 0]
        score = (vector * logits).sum(dim=1)
        return score if model_output.dim() == 2 else score[0]

    def __repr__(self) -> str:
        return f"ContrastTarget({self.contrast!r}, {self.category})"


class CaptumExplainer:
    """A whynot method with captum's interface: ``attribute(inputs, target=...)``.

    Input-space methods return attributions shaped like ``inputs`` (``[B, 3, H, W]``, as
    captum's ``Saliency(abs=False)``, ``InputXGradient``, ``IntegratedGradients``); CAMs return
    ``[B, 1, h, w]`` at the layer's resolution, as captum's ``LayerGradCam``
    (``upsample=True`` for the input size). ``target``: an int, one per image, or None for the
    predicted class; ``contrast`` and ``foil`` are whynot's.

    >>> CaptumExplainer(model, "gradient").attribute(x, target=[3, 5], contrast="weighted").shape
    torch.Size([2, 3, 224, 224])
    """

    def __init__(self, forward_func: nn.Module, method: str = "gradcam",
                 layer: str | nn.Module | None = None, upsample: bool = False):
        self.forward_func = forward_func
        self.method = method
        self.layer = layer
        self.upsample = upsample

    def attribute(self, inputs: Tensor, target=None, contrast: str = "logit", relu: bool = False,
                  **explain_kwargs) -> Tensor:
        from whynot.explainers import METHODS, CAMExplainer, InputExplainer

        import whynot

        if isinstance(target, Tensor) and target.dim() == 2:
            raise ValueError(
                "target must be an int, one class per image or None (captum's form); for "
                "several classes per image call whynot.explain(..., classes=[B, K])."
            )
        if self.method not in METHODS:
            raise ValueError(
                f"unknown method {self.method!r}; valid methods are {', '.join(METHODS)}.")
        cls = METHODS[self.method]
        kwargs = dict(method=self.method, classes=target, contrast=contrast, relu=relu)
        if issubclass(cls, InputExplainer):
            kwargs["keep_channels"] = True
        if issubclass(cls, CAMExplainer):
            kwargs.update(layer=self.layer, upsample=self.upsample)
        maps = whynot.explain(self.forward_func, inputs, **kwargs, **explain_kwargs)
        return maps[:, 0] if issubclass(cls, InputExplainer) else maps
