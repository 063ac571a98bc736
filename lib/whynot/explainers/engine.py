"""The linearity engine: one forward pass, one backward pass per atom, then cheap combinations.

Gradient, Input x Gradient, GradCAM, LA and XGradCAM are linear in the cotangent ``v`` that is
back-propagated from the logits. Every (image, target, contrast) cotangent is a combination of a
few atoms (:func:`whynot.targets.decompose`), so the gradient of each is the same combination of
the atoms' vector-Jacobian products: ``k + 2`` backward passes give the logit, softmax,
weighted, mean and max contrasts of the top-k classes. The combination happens on the
*gradients*, before any method-specific nonlinearity (ReLU, GradCAM++), so those stay exact.
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence

import torch
from torch import Tensor, nn

from whynot.targets import decompose

PROBABILITY_TOLERANCE = 1e-4


# Images in [0, 1] drift a little outside it after resampling (bicubic overshoot); beyond this
# they were scaled differently (0-255, or normalised already).
RANGE_SLACK = 0.1
# Normalised ImageNet images stay within about [-2.2, 2.7]; larger values are 0-255 pixels.
BYTE_SCALE_ABOVE = 10.0
CHANNEL_HINTS = {
    1: "greyscale: repeat the channel, images.expand(-1, 3, -1, -1)",
    4: "RGBA: drop the alpha channel, images[:, :3]",
}


def check_images(images: Tensor, model: nn.Module | None = None) -> Tensor:
    """``images`` checked as a finite floating ``[B, 3, H, W]`` tensor, cast to the model's dtype.

    ValueError names the fix for a missing batch dimension, greyscale, RGBA and channels-last
    images, and for integer pixels. Range: a model that normalises its input itself (it carries
    ``whynot_meta["mean"]``, as whynot's models and :func:`whynot.wrap` do) needs images in
    [0, 1], so values outside it (0-255, or normalised twice) are refused; for any other model
    values above 10 (0-255 pixels) are warned about, since its own normalisation is unknown.
    Float64 (or float16) images are cast to the dtype of the model's parameters.
    """
    if not isinstance(images, Tensor):
        raise ValueError(f"images must be a torch.Tensor [B, 3, H, W]; got {type(images).__name__}.")
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        if images.dim() == 3:
            hint = " (a single image: use image[None])"
        elif images.dim() == 4 and images.shape[-1] == 3:
            hint = " (channels last: use images.permute(0, 3, 1, 2))"
        elif images.dim() == 4 and images.shape[1] in CHANNEL_HINTS:
            hint = f" ({CHANNEL_HINTS[images.shape[1]]})"
        else:
            hint = ""
        raise ValueError(f"images must be [B, 3, H, W] with B >= 1; got shape {tuple(images.shape)}{hint}.")
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a floating tensor in [0, 1]; got dtype {images.dtype} "
            "(convert with images.float() / 255 for uint8)."
        )
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf; fix the preprocessing that produced them.")
    low, high = images.min().item(), images.max().item()
    normalises_itself = model is not None and "mean" in getattr(model, "whynot_meta", {})
    if normalises_itself and (low < -RANGE_SLACK or high > 1 + RANGE_SLACK):
        fix = ("they look scaled 0-255: divide by 255" if high > BYTE_SCALE_ABOVE else
               "they look normalised already, and the model normalises them again: pass the images "
               "in [0, 1], before Normalize")
        raise ValueError(
            f"images must be in [0, 1] for this model; got values in [{low:.3g}, {high:.3g}]: "
            f"{fix}."
        )
    if not normalises_itself and high > BYTE_SCALE_ABOVE:
        warnings.warn(
            f"images reach {high:.3g}: they look scaled 0-255; divide by 255 (and normalise as "
            "the model "
            "expects, e.g. with whynot.wrap(model, mean, std)) unless the model takes 0-255 input.",
            UserWarning,
            stacklevel=4,
        )
    parameter = (
        next((p for p in model.parameters() if p.is_floating_point()), None)
        if model is not None
        else None
    )
    if parameter is not None and images.dtype != parameter.dtype:
        images = images.to(parameter.dtype)
    return images


def check_logits(logits: Tensor, batch: int, multilabel: bool = False) -> None:
    """Raise ValueError unless the model returned finite ``[B, c]`` logits (``c >= 2``, or
    ``c >= 1`` for a multi-label model).

    Catches the common mistake of a model ending in softmax or log-softmax: contrasts and the
    softmax target are defined on logits.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"the model must return logits [B, c] = [{batch}, c]; it returned {shape}.")
    if logits.shape[1] < (1 if multilabel else 2):
        raise ValueError(
            "the model returns no class logits; class contrasts need c >= 2 class logits."
        )
    if not torch.isfinite(logits).all():
        raise ValueError("the model returned NaN or inf logits for these images.")
    values = logits.detach()
    if multilabel:
        if (values >= 0).all() and (values <= 1).all() and values.shape[1] > 1:
            raise ValueError(
                "the multi-label model seems to return sigmoid probabilities, not logits; "
                "remove the final sigmoid."
            )
        return
    probabilities = (values >= 0).all() and (values <= 1).all() and (
        (values.sum(dim=1) - 1).abs().max() < PROBABILITY_TOLERANCE
    )
    log_probabilities = values.logsumexp(dim=1).abs().max() < PROBABILITY_TOLERANCE
    if probabilities or log_probabilities:
        kind = "probabilities" if probabilities else "log-probabilities"
        raise ValueError(
            f"the model seems to return {kind}, not logits; pass logits: remove the final "
            "softmax / log_softmax."
        )


def contrast_gradients(
    logits: Tensor,
    wrt: Tensor,
    classes: Tensor,
    contrasts: Sequence[str],
    reference_logits: Tensor | None = None,
) -> tuple[dict[str, Tensor], int]:
    """Gradients of every contrast of every target with respect to ``wrt``, and the pass count.

    Returns ``({contrast: [B, K, *wrt.shape[1:]]}, backward_passes)``. ``reference_logits``
    (default ``logits``) fix alpha and s*; the softmax contrast always differentiates ``p_t`` of
    ``logits`` (see :func:`whynot.targets.decompose`). The graph is freed after the last pass.
    """
    if reference_logits is None:
        decomposition = decompose(logits, classes, contrasts)
    else:
        decomposition = decompose(reference_logits, classes, contrasts, softmax_logits=logits)
    (atom_gradients,) = atom_vjps(logits, (wrt,), decomposition.atoms)
    return combine(decomposition.coefficients, atom_gradients), len(decomposition.atoms)


def atom_vjps(logits: Tensor, wrt: Sequence[Tensor], atoms: Sequence[Tensor]) -> list[Tensor]:
    """One backward pass per atom: for each tensor of ``wrt``, its gradients ``[atoms, B, ...]``.

    The graph is freed after the last pass.
    """
    per_atom = [
        torch.autograd.grad(logits, tuple(wrt), grad_outputs=atom, retain_graph=index < len(atoms) - 1)
        for index, atom in enumerate(atoms)
    ]
    return [torch.stack(gradients) for gradients in zip(*per_atom)]


def combine(coefficients: dict[str, Tensor], atom_values: Tensor) -> dict[str, Tensor]:
    """``{contrast: [B, K, ...]}`` from per-atom values ``[atoms, B, ...]`` linear in the cotangent
    and each contrast's coefficients ``[B, K, atoms]``."""
    return {
        contrast: torch.einsum("bka,ab...->bk...", value, atom_values)
        for contrast, value in coefficients.items()
    }
