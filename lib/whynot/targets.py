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
foil       e_t - mean_{s in F} e_s, F the chosen foils     y_t - mean_{s in F} y_s
custom     the given v: [C], [B, C] or [B, K, C]           v^T y
=========  ==============================================  ===================================

``foil`` answers the user's own question, "why t and not s?": it is ``max`` with the rival
chosen by the user instead of by the logits (``foil=s*`` reproduces ``max`` exactly), and with
a set of foils per image it contrasts t against their mean (a ``mean`` over a chosen subset).
``foil=`` takes one class for all images, one per image (``[B]``) or a set per image
(``[B, F]``); the foil cannot be the target itself. A multi-label (sigmoid) model has no
softmax over its classes, so ``softmax`` and ``weighted`` are refused there; the others are
differences of logits and keep their meaning.

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
    >>> request = request_contrasts("foil", batch=1, foil=2)
    >>> cotangents(y, t[:, :1], "foil", request)[0, 0]  # why 0 and not 2? e_0 - e_2
    tensor([ 1.,  0., -1.])
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import torch
from torch import Tensor

CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")
# Beyond the paper's five: a user-chosen foil class (set), and a user-given cotangent tensor.
FOIL, CUSTOM = "foil", "custom"
# These normalise over all classes with a softmax, which a multi-label model does not have.
SOFTMAX_BASED = ("softmax", "weighted")

# Below this 1 - p_t the weighted contrast (e_t - p) / (1 - p_t) would lose more than about
# eps / 1e-3 ~ 1e-4 of its relative precision to cancellation; such targets get an exact atom.
WEIGHTED_FALLBACK_BELOW = 1e-3


def check_contrasts(contrast) -> tuple[str, ...]:
    """The contrast names as a tuple (a cotangent tensor is ``"custom"``); raise ValueError
    naming the valid ones."""
    items = (contrast,) if isinstance(contrast, (str, Tensor)) else tuple(contrast)
    names = tuple(CUSTOM if isinstance(item, Tensor) else item for item in items)
    valid = (*CONTRASTS, FOIL)
    unknown = [name for name in names if name not in valid and name != CUSTOM]
    if unknown or not names:
        raise ValueError(
            f"unknown contrast {unknown or names!r}; valid contrasts are {', '.join(valid)} or a "
            "cotangent tensor [C], [B, C] or [B, K, C] (a name, a tensor, or a sequence of them)."
        )
    if len(set(names)) != len(names):
        raise ValueError(f"contrast {names!r} names a contrast twice; list each once.")
    return names


@dataclass(frozen=True)
class Contrasts:
    """The contrasts of one call and what the non-paper ones carry, per image.

    Iterates, counts and tests membership like its tuple of ``names``. ``foil``: LongTensor
    ``[B, F]`` of foil classes; ``custom``: the cotangent ``[B, 1 or K, C]``; ``multilabel``:
    the model scores classes with independent sigmoids. Made by :func:`request_contrasts`.
    """

    names: tuple[str, ...]
    foil: Tensor | None = None
    custom: Tensor | None = None
    multilabel: bool = False

    def __iter__(self):
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name) -> bool:
        return name in self.names

    def rows(self, index) -> Contrasts:
        """The same request for the images ``index`` (a slice or index tensor) of the batch."""
        foil = None if self.foil is None else self.foil[index]
        custom = None if self.custom is None else self.custom[index]
        return Contrasts(self.names, foil, custom, self.multilabel)

    def including(self, names: Sequence[str]) -> Contrasts:
        """The request with ``names`` added (once each), e.g. a contrast whose gradient masks."""
        return Contrasts(
            tuple(dict.fromkeys([*self.names, *names])), self.foil, self.custom, self.multilabel
        )

    def tile(self, times: int) -> Contrasts:
        """The request for ``times`` copies of the batch stacked (as ``Tensor.repeat``)."""
        foil = None if self.foil is None else self.foil.repeat(times, 1)
        custom = None if self.custom is None else self.custom.repeat(times, 1, 1)
        return Contrasts(self.names, foil, custom, self.multilabel)

    def check(self, logits: Tensor, classes: Tensor) -> None:
        """Raise ValueError if the foils or the custom cotangent do not fit these logits and
        targets."""
        batch, num_classes = logits.shape
        if self.foil is not None:
            if self.foil.shape[0] != batch:
                raise ValueError(f"foil has {self.foil.shape[0]} rows for {batch} images.")
            if self.foil.min() < 0 or self.foil.max() >= num_classes:
                raise ValueError(
                    f"foil classes must be in [0, {num_classes - 1}]; "
                    f"got {self.foil.unique().tolist()}."
                )
            same = (classes[:, :, None] == self.foil.to(classes.device)[:, None, :]).any(dim=2)
            if same.any():
                b, k = same.nonzero()[0].tolist()
                raise ValueError(
                    f"the foil of image {b} is its target class {classes[b, k].item()}: 'why t and "
                    "not t?' has no answer; pick foils other than the targets (or drop that class)."
                )
        if self.custom is not None:
            rows, targets, width = self.custom.shape
            if width != num_classes or rows != batch or targets not in (1, classes.shape[1]):
                raise ValueError(
                    f"the custom contrast {tuple(self.custom.shape)} does not fit {batch} images, "
                    f"{classes.shape[1]} targets and {num_classes} logits; pass [C], [B, C] or "
                    "[B, K, C] "
                    f"= [{batch}, {classes.shape[1]}, {num_classes}]."
                )


def request_contrasts(contrast, batch: int, foil=None, multilabel: bool = False) -> Contrasts:
    """Check ``contrast`` (names and/or one cotangent tensor) and ``foil`` for ``batch`` images.

    ``foil``: an int (every image), ``[B]`` (one per image) or ``[B, F]`` (a set per image) of
    class indices; required by, and only by, the ``"foil"`` contrast. A cotangent tensor is
    ``[C]`` (every image and target), ``[B, C]`` (every target of an image) or ``[B, K, C]``.

    >>> request_contrasts(("logit", "foil"), batch=2, foil=[3, 5]).foil
    tensor([[3],
            [5]])
    """
    names = check_contrasts(contrast)
    items = (contrast,) if isinstance(contrast, (str, Tensor)) else tuple(contrast)
    if multilabel and (refused := [name for name in names if name in SOFTMAX_BASED]):
        raise ValueError(
            f"contrast {refused} is defined through a softmax over the classes, which a "
            "multi-label "
            "(sigmoid) model does not have; use logit, foil, mean, max or a cotangent tensor."
        )
    foil_tensor = None
    if (FOIL in names) != (foil is not None):
        raise ValueError(
            "the 'foil' contrast needs foil= (the class(es) to contrast against) and foil= needs "
            "contrast='foil' (or a sequence that includes it); pass both or neither."
        )
    if foil is not None:
        foil_tensor = _index_rows(foil, batch, "foil")
    custom = None
    tensors = [item for item in items if isinstance(item, Tensor)]
    if tensors:
        value = tensors[0].detach()
        if not value.is_floating_point() or value.dim() not in (1, 2, 3):
            raise ValueError(
                "a custom contrast is a floating cotangent [C], [B, C] or [B, K, C] on the "
                "logits; "
                f"got dtype {value.dtype}, shape {tuple(value.shape)}."
            )
        if value.dim() > 1 and value.shape[0] != batch:
            raise ValueError(
                f"the custom contrast has {value.shape[0]} rows for {batch} images; pass [C] for "
                "every image, or [B, C] / [B, K, C]."
            )
        custom = (
            value if value.dim() == 3 else value[:, None] if value.dim() == 2 else value[None, None]
        )
        custom = custom.expand(batch, -1, -1)
    return Contrasts(names, foil_tensor, custom, multilabel)


def _index_rows(value, batch: int, what: str) -> Tensor:
    """``value`` (an int, ``[B]`` or ``[B, F]`` integers) as a LongTensor ``[B, F]``."""
    try:
        index = torch.as_tensor(value)
    except (TypeError, ValueError) as error:
        raise ValueError(
            f"{what} must be an int, one int per image or [B, F] ints; got {value!r} ({error})."
        ) from None
    if index.is_floating_point() or index.is_complex() or index.dtype == torch.bool:
        raise ValueError(
            f"{what} must be integer class indices (or names); got dtype {index.dtype}."
        )
    if index.dim() == 0:
        return index.long().expand(batch, 1)
    if index.dim() > 2 or index.shape[0] != batch or index.numel() == 0:
        raise ValueError(
            f"{what} must be an int (every image), [B] (one per image) or [B, F] (a set per image) "
            f"for B = {batch} images; got shape {tuple(index.shape)}."
        )
    return index.long().reshape(batch, -1)


def as_contrasts(contrasts) -> Contrasts:
    """A :class:`Contrasts` from one, or from contrast names (no foil or custom data)."""
    return contrasts if isinstance(contrasts, Contrasts) else Contrasts(check_contrasts(contrasts))


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


def cotangents(
    logits: Tensor, classes: Tensor, contrast: str, request: Contrasts | None = None
) -> Tensor:
    """The cotangent ``v [B, K, c]`` of each target for one contrast (see the module table);
    ``request`` carries the foils or the custom cotangent (:func:`request_contrasts`)."""
    check_contrasts(contrast)
    logits = logits.detach()
    num_classes = logits.shape[1]
    one_hot = torch.zeros(*classes.shape, num_classes, dtype=logits.dtype, device=logits.device)
    one_hot.scatter_(2, classes[..., None], 1.0)
    if contrast in (FOIL, CUSTOM):
        if request is None or (request.foil if contrast == FOIL else request.custom) is None:
            raise ValueError(f"the {contrast!r} contrast needs its request_contrasts(...) data.")
        request.check(logits, classes)
    if contrast == CUSTOM:
        return request.custom.to(logits).expand(-1, classes.shape[1], -1)
    if contrast == FOIL:
        foil = request.foil.to(logits.device)
        weights = torch.zeros_like(logits).scatter_add_(
            1,
            foil,
            torch.full(foil.shape, 1 / foil.shape[1], dtype=logits.dtype, device=logits.device),
        )
        return one_hot - weights[:, None, :]
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


def contrast_scores(
    outputs: Tensor,
    logits: Tensor,
    classes: Tensor,
    contrast: str,
    request: Contrasts | None = None,
) -> Tensor:
    """Each target's contrast score ``[B, M, K]`` on M other inputs per image (e.g. masked copies).

    ``outputs [B, M, c]`` are the logits of those inputs, ``logits [B, c]`` the explained images'.
    softmax scores ``p_t`` of each output; logit, weighted, mean, max, foil and custom score
    ``v^T y`` with ``v`` fixed from the explained image (weights alpha and s* do not follow the
    masking). ``request``: the foils or custom cotangent (:func:`request_contrasts`).
    """
    if contrast == "softmax":
        index = classes[:, None, :].expand(-1, outputs.shape[1], -1)
        return outputs.softmax(dim=2).gather(2, index)
    return torch.einsum("bmc,bkc->bmk", outputs, cotangents(logits, classes, contrast, request))


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
    contrasts: Sequence[str] | Contrasts,
    softmax_logits: Tensor | None = None,
) -> Decomposition:
    """Write the requested contrasts of ``classes [B, K]`` over deduplicated atoms.

    Atoms per image: ``e_j`` for every class j used (targets, the max contrast's s* and the
    foils), the all-ones vector (mean), ``p`` (softmax, weighted), the custom cotangent. For the
    top-k targets all four paper contrasts need k + 2 atoms, since s* is then always among the
    targets; a foil adds one atom per foil class that is not already one (atoms are batch-wide
    rows, so images with different foils share the pass), a custom cotangent one (or K).

    ``softmax_logits`` (default: ``logits``) are the logits whose ``p_t`` the softmax contrast
    differentiates; Integrated Gradients passes the logits of each path point here while alpha and
    s* stay those of the explained image (``logits``). The weighted and softmax contrasts are
    ``(e_t - p) / (1 - p_t)`` and ``p_t (1 - p_t)`` times it; where ``1 - p_t <``
    :data:`WEIGHTED_FALLBACK_BELOW` that difference cancels catastrophically, so those targets
    get the exact atom ``e_t - alpha`` instead.
    """
    request = as_contrasts(contrasts)
    request.check(logits, classes)
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
    foils = request.foil.tolist() if request.foil is not None else None
    per_target_custom = request.custom is not None and request.custom.shape[1] > 1

    # Per-(b, k) coefficient values; each term below names one of them.
    values = {"one": torch.ones_like(classes, dtype=logits.dtype)}
    values["-one"] = -values["one"]
    values["mean_t"] = values["one"] * (num_classes / (num_classes - 1))
    values["mean_1"] = -values["one"] / (num_classes - 1)
    if foils is not None:
        values["-foil"] = -values["one"] / len(foils[0])
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
        if contrast == FOIL:
            return [(("class", t), "one"), *((("class", s), "-foil") for s in foils[b])]
        if contrast == CUSTOM:
            return [(("custom", k if per_target_custom else 0), "one")]
        key = which[contrast]
        if needs_exact[key][b][k]:
            return [(("exact", t, key), "one" if contrast == "weighted" else f"scale_{key}")]
        if contrast == "weighted":
            return [(("class", t), f"inv_{key}"), (("p", key), f"-inv_{key}")]
        return [(("class", t), f"pt_{key}"), (("p", key), f"-pt_{key}")]

    slots: list[dict[tuple, int]] = [{} for _ in range(batch)]
    placed: dict[str, dict[str, list[list[int]]]] = {c: {} for c in contrasts}
    for contrast in request:
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
            elif atom[0] == "custom":
                atoms[slot, b] = request.custom[b, atom[1]].to(atoms)
            else:  # exact weighted atom e_t - alpha
                t, key = atom[1], atom[2]
                row = sources[key][b : b + 1]
                target = torch.tensor([[t]], device=device)
                atoms[slot, b] = -other_class_weights(row, target)[0, 0]
                atoms[slot, b, t] = 1

    coefficients = {}
    for contrast in request:
        coefficient = torch.zeros(*classes.shape, num_atoms, dtype=logits.dtype, device=device)
        for value, positions in placed[contrast].items():
            b, k, a = torch.tensor(positions, device=device).unbind(1)
            coefficient.index_put_((b, k, a), values[value][b, k], accumulate=True)
        coefficients[contrast] = coefficient
    return Decomposition(atoms, coefficients)
