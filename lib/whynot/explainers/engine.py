"""The linearity engine: one forward pass, one backward pass per atom, then cheap combinations.

Gradient, Input x Gradient, GradCAM, LA and XGradCAM are linear in the cotangent ``v`` that is
back-propagated from the logits. Every (image, target, contrast) cotangent is a combination of a
few atoms (:func:`whynot.targets.decompose`), so the gradient of each is the same combination of
the atoms' vector-Jacobian products: ``k + 2`` backward passes give the logit, softmax,
weighted, mean and max contrasts of the top-k classes. The combination happens on the
*gradients*, before any method-specific nonlinearity (ReLU, GradCAM++), so those stay exact.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from whynot.targets import decompose

PROBABILITY_TOLERANCE = 1e-4


def check_images(images: Tensor) -> None:
    """Raise ValueError unless ``images`` is a finite floating ``[B, 3, H, W]`` tensor."""
    if not isinstance(images, Tensor):
        raise ValueError(f"images must be a torch.Tensor [B, 3, H, W]; got {type(images).__name__}.")
    if images.dim() != 4 or images.shape[1] != 3 or images.shape[0] == 0:
        hint = " (a single image: use image[None])" if images.dim() == 3 else ""
        raise ValueError(f"images must be [B, 3, H, W] with B >= 1; got shape {tuple(images.shape)}{hint}.")
    if not images.is_floating_point():
        raise ValueError(
            f"images must be a floating tensor in [0, 1]; got dtype {images.dtype} "
            "(convert with images.float() / 255 for uint8)."
        )
    if not torch.isfinite(images).all():
        raise ValueError("images contain NaN or inf; fix the preprocessing that produced them.")


def check_logits(logits: Tensor, batch: int) -> None:
    """Raise ValueError unless the model returned finite ``[B, c >= 2]`` logits.

    Catches the common mistake of a model ending in softmax or log-softmax: contrasts and the
    softmax target are defined on logits.
    """
    if not isinstance(logits, Tensor) or logits.dim() != 2 or logits.shape[0] != batch:
        shape = tuple(logits.shape) if isinstance(logits, Tensor) else type(logits).__name__
        raise ValueError(f"the model must return logits [B, c] = [{batch}, c]; it returned {shape}.")
    if logits.shape[1] < 2:
        raise ValueError("the model returns a single output; class contrasts need c >= 2 class logits.")
    if not torch.isfinite(logits).all():
        raise ValueError("the model returned NaN or inf logits for these images.")
    values = logits.detach()
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
