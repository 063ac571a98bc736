"""What is explained: the target classes of each image and the class contrast.

Every contrast of a target class ``t`` is a cotangent vector ``v`` on the logits ``y`` (the
explanation is the method applied to ``J^T v``), with ``p = softmax(y)``:

=========  ==============================================  ===================================
contrast   v                                               scalar it is the gradient of
=========  ==============================================  ===================================
logit      e_t                                             y_t (the paper's "original")
softmax    p_t (e_t - p)                                   p_t (Prop. 2)
weighted   e_t - alpha, alpha = softmax(y without t)       y_t - sum_{s!=t} alpha_s y_s (Eq. 1)
mean       e_t - (1 - e_t) / (c - 1)                       y_t - mean_{s!=t} y_s
max        e_t - e_{s*}, s* = argmax_{s!=t} y_s            y_t - y_{s*}
=========  ==============================================  ===================================

``alpha``, ``s*`` (and ``p`` inside ``v``) are taken from the explained image and held fixed,
so ``softmax = p_t (1 - p_t) weighted`` exactly.

:func:`decompose` writes all requested contrasts of all target classes as linear combinations of
a few *atoms* (``e_t`` per target, the all-ones vector, ``p``), which is what lets the engine run
``k + 2`` backward passes for every contrast of the top-k classes instead of ``4k``.

Example::

    >>> y = torch.tensor([[2.0, 1.0, 0.0]])
    >>> t = select_classes(y, topk=2)                  # tensor([[0, 1]])
    >>> cotangents(y, t, "max")[0, 0]                   # e_0 - e_1
    tensor([ 1., -1.,  0.])
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")

# Below this 1 - p_t the weighted contrast (e_t - p) / (1 - p_t) would lose more than about
# eps / 1e-3 ~ 1e-4 of its relative precision to cancellation; such targets get an exact atom.
WEIGHTED_FALLBACK_BELOW = 1e-3


def check_contrasts(contrast: str | Sequence[str]) -> tuple[str, ...]:
    """The contrast names as a tuple; raise ValueError naming the valid ones."""
    names = (contrast,) if isinstance(contrast, str) else tuple(contrast)
    unknown = [name for name in names if name not in CONTRASTS]
    if unknown or not names:
        raise ValueError(
            f"unknown contrast {unknown or names!r}; valid contrasts are {', '.join(CONTRASTS)} "
            "(a name or a sequence of names)."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"contrast {names!r} names a contrast twice; list each once.")
    return names


def select_classes(logits: Tensor, classes=None, topk: int | None = None) -> Tensor:
    """The target classes, a LongTensor ``[B, K]`` on the logits' device.

    ``classes=None, topk=None``: the top-1 class. ``topk=k``: the k highest logits, best first.
    ``classes`` may be an int (every image), a sequence or 1-D tensor of one class per image,
    or a nested sequence / 2-D tensor ``[B, K]`` of K classes per image.
    """
    batch, num_classes = logits.shape
    if classes is not None and topk is not None:
        raise ValueError("pass either classes= or topk=, not both.")
    if classes is None:
        topk = 1 if topk is None else topk
        if isinstance(topk, bool) or not isinstance(topk, int) or not 1 <= topk <= num_classes:
            raise ValueError(f"topk must be an int in [1, {num_classes}] (the number of classes); got {topk!r}.")
        return logits.topk(topk, dim=1).indices
    try:
        index = torch.as_tensor(classes, device=logits.device)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"classes must be an int, one int per image, or a [B, K] nested list/tensor of ints; "
            f"could not read {classes!r} ({error})."
        ) from None
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise ValueError(f"classes must be integer class indices; got dtype {index.dtype}.")
    if index.dim() == 0:
        index = index.expand(batch, 1)
    elif index.dim() == 1:
        if index.numel() != batch:
            raise ValueError(
                f"classes has {index.numel()} entries for {batch} images: a 1-D classes gives one "
                "class per image; for several classes per image pass a [B, K] nested list or tensor."
            )
        index = index[:, None]
    elif index.dim() != 2 or index.shape[0] != batch or index.shape[1] == 0:
        raise ValueError(f"classes must be [B, K] = [{batch}, K >= 1]; got shape {tuple(index.shape)}.")
    bad = (index < 0) | (index >= num_classes)
    if bad.any():
        raise ValueError(
            f"class index {index[bad][0].item()} is out of range: the model has {num_classes} classes "
            f"(valid indices 0..{num_classes - 1})."
        )
    return index.long()


def logits_without_targets(logits: Tensor, classes: Tensor) -> Tensor:
    """``[B, K, c]``: each target's copy of its image's logits with the target set to -inf."""
    masked = logits[:, None, :].expand(-1, classes.shape[1], -1).clone()
    return masked.scatter_(2, classes[..., None], float("-inf"))


def strongest_other(logits: Tensor, classes: Tensor) -> Tensor:
    """``s* = argmax_{s != t} y_s`` per target: the top-1 class, or the top-2 one when t is top-1."""
    return logits_without_targets(logits, classes).argmax(dim=2)


def other_class_weights(logits: Tensor, classes: Tensor) -> Tensor:
    """``alpha [B, K, c]``: softmax over the logits without the target (zero at the target)."""
    return logits_without_targets(logits, classes).softmax(dim=2)


def one_minus_target_probability(logits: Tensor, classes: Tensor) -> Tensor:
    """``1 - p_t [B, K]`` computed as ``sum_{s != t} p_s``, accurate even where p_t rounds to 1."""
    others = logits_without_targets(logits, classes).logsumexp(dim=2)
    return (others - logits.logsumexp(dim=1, keepdim=True)).exp()


def cotangents(logits: Tensor, classes: Tensor, contrast: str) -> Tensor:
    """The cotangent ``v [B, K, c]`` of each target for one contrast (see the module table)."""
    check_contrasts(contrast)
    logits = logits.detach()
    num_classes = logits.shape[1]
    one_hot = torch.zeros(*classes.shape, num_classes, dtype=logits.dtype, device=logits.device)
    one_hot.scatter_(2, classes[..., None], 1.0)
    if contrast == "logit":
        return one_hot
    if contrast == "softmax":
        p = logits.softmax(dim=1)
        return p.gather(1, classes)[..., None] * (one_hot - p[:, None, :])
    if contrast == "weighted":
        return one_hot - other_class_weights(logits, classes)
    if contrast == "mean":
        return one_hot - (1 - one_hot) / (num_classes - 1)
    other = torch.zeros_like(one_hot).scatter_(2, strongest_other(logits, classes)[..., None], 1.0)
    return one_hot - other


def contrast_scores(outputs: Tensor, logits: Tensor, classes: Tensor, contrast: str) -> Tensor:
    """Each target's contrast score ``[B, M, K]`` on M other inputs per image (e.g. masked copies).

    ``outputs [B, M, c]`` are the logits of those inputs, ``logits [B, c]`` the explained images'.
    softmax scores ``p_t`` of each output; logit, weighted, mean and max score ``v^T y`` with
    ``v`` fixed from the explained image (weights alpha and s* do not follow the masking).
    """
    if contrast == "softmax":
        index = classes[:, None, :].expand(-1, outputs.shape[1], -1)
        return outputs.softmax(dim=2).gather(2, index)
    return torch.einsum("bmc,bkc->bmk", outputs, cotangents(logits, classes, contrast))


@dataclass(frozen=True)
class Decomposition:
    """Cotangents of every (image, target, contrast) as combinations of a few batch-wide atoms.

    ``atoms [A, B, c]``: atom ``a`` is back-propagated for all images in one pass (zero rows where
    an image needs fewer atoms). ``coefficients[contrast] [B, K, A]``: the cotangent of target k of
    image b is ``sum_a coefficients[contrast][b, k, a] * atoms[a, b]``.
    """

    atoms: Tensor
    coefficients: dict[str, Tensor]


def decompose(
    logits: Tensor,
    classes: Tensor,
    contrasts: Sequence[str],
    softmax_logits: Tensor | None = None,
) -> Decomposition:
    """Write the requested contrasts of ``classes [B, K]`` over deduplicated atoms.

    Atoms per image: ``e_j`` for every class j used (targets and the max contrast's s*), the
    all-ones vector (mean), ``p`` (softmax, weighted). For the top-k targets all four paper
    contrasts need k + 2 atoms, since s* is then always among the targets.

    ``softmax_logits`` (default: ``logits``) are the logits whose ``p_t`` the softmax contrast
    differentiates; Integrated Gradients passes the logits of each path point here while alpha and
    s* stay those of the explained image (``logits``). The weighted and softmax contrasts are
    ``(e_t - p) / (1 - p_t)`` and ``p_t (1 - p_t)`` times it; where ``1 - p_t <``
    :data:`WEIGHTED_FALLBACK_BELOW` that difference cancels catastrophically, so those targets
    get the exact atom ``e_t - alpha`` instead.
    """
    logits = logits.detach()
    own = logits if softmax_logits is None else softmax_logits.detach()
    sources = {"ref": logits} if own is logits else {"ref": logits, "own": own}
    which = {"weighted": "ref", "softmax": "own" if "own" in sources else "ref"}
    batch, num_classes = logits.shape
    one_minus = {key: one_minus_target_probability(value, classes) for key, value in sources.items()}
    probabilities = {key: value.softmax(dim=1) for key, value in sources.items()}
    needs_exact = {key: (value < WEIGHTED_FALLBACK_BELOW).tolist() for key, value in one_minus.items()}
    targets = classes.tolist()
    others = strongest_other(logits, classes).tolist() if "max" in contrasts else None

    # Per-(b, k) coefficient values; each term below names one of them.
    values = {"one": torch.ones_like(classes, dtype=logits.dtype)}
    values["-one"] = -values["one"]
    values["mean_t"] = values["one"] * (num_classes / (num_classes - 1))
    values["mean_1"] = -values["one"] / (num_classes - 1)
    for key in sources:
        p_t = probabilities[key].gather(1, classes)  # not 1 - one_minus: that cancels for small p_t
        values[f"inv_{key}"] = 1 / one_minus[key]
        values[f"-inv_{key}"] = -values[f"inv_{key}"]
        values[f"pt_{key}"] = p_t
        values[f"-pt_{key}"] = -p_t
        values[f"scale_{key}"] = p_t * one_minus[key]

    def terms(contrast: str, b: int, k: int) -> list[tuple[tuple, str]]:
        """(atom key, coefficient name) pairs whose sum is the cotangent of target k of image b."""
        t = targets[b][k]
        if contrast == "logit":
            return [(("class", t), "one")]
        if contrast == "mean":
            return [(("class", t), "mean_t"), (("ones",), "mean_1")]
        if contrast == "max":
            return [(("class", t), "one"), (("class", others[b][k]), "-one")]
        key = which[contrast]
        if needs_exact[key][b][k]:
            return [(("exact", t, key), "one" if contrast == "weighted" else f"scale_{key}")]
        if contrast == "weighted":
            return [(("class", t), f"inv_{key}"), (("p", key), f"-inv_{key}")]
        return [(("class", t), f"pt_{key}"), (("p", key), f"-pt_{key}")]

    slots: list[dict[tuple, int]] = [{} for _ in range(batch)]
    placed: dict[str, dict[str, list[list[int]]]] = {c: {} for c in contrasts}
    for contrast in contrasts:
        for b in range(batch):
            for k in range(classes.shape[1]):
                for atom, value in terms(contrast, b, k):
                    slot = slots[b].setdefault(atom, len(slots[b]))
                    placed[contrast].setdefault(value, []).append([b, k, slot])

    num_atoms = max(len(s) for s in slots)
    device = logits.device
    atoms = torch.zeros(num_atoms, batch, num_classes, dtype=logits.dtype, device=device)
    for b, image_slots in enumerate(slots):
        for atom, slot in image_slots.items():
            if atom[0] == "class":
                atoms[slot, b, atom[1]] = 1
            elif atom[0] == "ones":
                atoms[slot, b] = 1
            elif atom[0] == "p":
                atoms[slot, b] = probabilities[atom[1]][b]
            else:  # exact weighted atom e_t - alpha
                t, key = atom[1], atom[2]
                row = sources[key][b : b + 1]
                target = torch.tensor([[t]], device=device)
                atoms[slot, b] = -other_class_weights(row, target)[0, 0]
                atoms[slot, b, t] = 1

    coefficients = {}
    for contrast in contrasts:
        coefficient = torch.zeros(*classes.shape, num_atoms, dtype=logits.dtype, device=device)
        for value, positions in placed[contrast].items():
            b, k, a = torch.tensor(positions, device=device).unbind(1)
            coefficient.index_put_((b, k, a), values[value][b, k], accumulate=True)
        coefficients[contrast] = coefficient
    return Decomposition(atoms, coefficients)
