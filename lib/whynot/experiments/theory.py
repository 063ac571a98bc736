"""Numerical checks of the theory of "Why Not Other Classes?" (Secs. 1-4, Props. 1-3) and of
the reproducibility reports' Sec. 4.3 and the KTH report's Sec. 6 (GradCAM++ and the softmax).

Each function returns plain tensors that a chapter plots or tabulates, or the chapter's claim
records (:mod:`whynot.claims`); the assertions on them live in ``tests/test_theory.py``.
Identities that hold exactly in theory are judged by :func:`identity_record`: their error against
a round-off tolerance.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch

from whynot.claims import Record, combine, judge, measured, not_tested
from whynot.report import band, fixed, scientific
from whynot.stats import bootstrap_ci

FLOAT32_TOLERANCE = 1e-4  # float32 round-off, relative to a map's largest value
FLOAT64_TOLERANCE = 1e-12


@dataclass(frozen=True)
class Prop1Trajectories:
    """Weights over gradient-descent iterations for the same binary data.

    ``w_sigmoid[i]``: the c = 1 logistic model's weights after ``i`` steps;
    ``w_diff[i]``: ``w_1 - w_2`` of the c = 2 softmax model after ``i`` steps.
    """

    w_sigmoid: torch.Tensor  # [steps + 1, d]
    w_diff: torch.Tensor  # [steps + 1, d]
    loss_sigmoid: torch.Tensor  # [steps + 1]
    loss_softmax: torch.Tensor  # [steps + 1]


def two_blobs(n: int = 200, d: int = 2, separation: float = 1.5, seed: int = 0):
    """Binary data: two Gaussian blobs, labels ``u`` in {0, 1}, with a bias feature appended."""
    gen = torch.Generator().manual_seed(seed)
    u = torch.arange(n) % 2
    centres = torch.zeros(2, d)
    centres[1, 0] = separation
    x = centres[u] + torch.randn(n, d, generator=gen, dtype=torch.float64)
    x = torch.cat([x, torch.ones(n, 1, dtype=torch.float64)], dim=1)  # bias as a feature
    return x, u


def prop1_trajectories(x: torch.Tensor, u: torch.Tensor, lr: float, steps: int,
                       softmax_lr: float | None = None) -> Prop1Trajectories:
    r"""Train a sigmoid (c = 1) and a 2-class softmax model by full-batch gradient descent.

    With :math:`p_1 = \sigma((w_1 - w_2)^\top x)` the softmax model's cross-entropy has
    :math:`\nabla_{w_1} = -\nabla_{w_2} = (p_1 - u) x`, the sigmoid model's gradient. Hence
    :math:`w_1 - w_2` moves by twice the sigmoid step: with ``softmax_lr = lr / 2`` (the default)
    and ``w_1 - w_2 = w`` at the start, the two trajectories coincide exactly (Prop. 1).

    Example:
        >>> x, u = two_blobs(n=20)
        >>> t = prop1_trajectories(x, u, lr=0.5, steps=10)
        >>> bool(torch.allclose(t.w_sigmoid, t.w_diff))
        True
    """
    softmax_lr = lr / 2 if softmax_lr is None else softmax_lr
    x = x.to(torch.float64)
    target = u.to(torch.float64)
    w = torch.zeros(x.shape[1], dtype=torch.float64)
    w_pair = torch.zeros(2, x.shape[1], dtype=torch.float64)  # rows: w_1 (class u=1), w_2 (u=0)
    ws, diffs, losses_sig, losses_soft = [], [], [], []
    for step in range(steps + 1):
        p = torch.sigmoid(x @ w)
        logits = x @ w_pair.T  # [n, 2]
        p_pair = torch.softmax(logits, dim=1)
        ws.append(w.clone())
        diffs.append(w_pair[0] - w_pair[1])
        losses_sig.append(torch.nn.functional.binary_cross_entropy(p, target))
        losses_soft.append(torch.nn.functional.cross_entropy(logits, 1 - u))  # class 0 <-> u = 1
        if step == steps:
            break
        w = w - lr * x.T @ (p - target) / len(x)
        grad_w1 = x.T @ (p_pair[:, 0] - target) / len(x)
        w_pair = w_pair - softmax_lr * torch.stack([grad_w1, -grad_w1])
    return Prop1Trajectories(torch.stack(ws), torch.stack(diffs),
                             torch.stack(losses_sig), torch.stack(losses_soft))


CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")


def linear_image_model(weight: torch.Tensor, bias: torch.Tensor, image_shape=(3, 2, 2)) -> torch.nn.Module:
    """``y = W^T vec(x) + b`` on images of ``image_shape``: the paper's linear sanity-check model."""
    model = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(weight.shape[0], weight.shape[1]))
    model.to(weight.dtype)
    with torch.no_grad():
        model[1].weight.copy_(weight.T)
        model[1].bias.copy_(bias)
    return model.eval()


def shift_invariance(image: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature: int,
                     delta: float, target: int) -> dict[str, tuple[float, float]]:
    r"""Sec. 3.1: add ``delta`` to every class's weight of one feature, explain with Input x Gradient.

    The predictions do not change (:math:`y' = y + \delta x_i \mathbf{1}`), so neither should a
    sound explanation. Returns, per contrast, the explanation of ``x_i`` before and after.

    Example:
        >>> w, b = torch.randn(12, 4, dtype=torch.float64), torch.zeros(4, dtype=torch.float64)
        >>> x = torch.rand(1, 3, 2, 2, dtype=torch.float64)
        >>> before, after = shift_invariance(x, w, b, feature=0, delta=2.0, target=1)["mean"]
        >>> abs(before - after) < 1e-12
        True
    """
    from whynot import explain

    shifted = weight.clone()
    shifted[feature] += delta
    result = {}
    for name, w in (("before", weight), ("after", shifted)):
        maps = explain(linear_image_model(w, bias, image.shape[1:]), image, method="input_x_gradient",
                       classes=target, contrast=CONTRASTS, keep_channels=True)
        result[name] = {c: maps[c][0, 0].flatten()[feature].item() for c in CONTRASTS}
    return {c: (result["before"][c], result["after"][c]) for c in CONTRASTS}


def weighted_contrast_of_logit_maps(model: torch.nn.Module, images: torch.Tensor, method: str,
                                    classes: torch.Tensor, layer=None, chunk: int = 100) -> torch.Tensor:
    r"""Eq. 1 written out: :math:`\phi^t - \sum_{s \ne t} \alpha_s \phi^s` from the logit maps of
    *every* class, one class at a time (c backward passes; the engine needs none of them).

    Returns ``[B, K, H, W]`` for the targets ``classes [B, K]`` (CAMs at the layer's resolution).
    """
    from whynot import explain
    from whynot.targets import other_class_weights

    with torch.no_grad():
        logits = model(images)
    num_classes = logits.shape[1]
    every = torch.arange(num_classes, device=images.device).expand(images.shape[0], -1)
    kwargs = {} if layer is None else {"layer": layer, "upsample": False}
    per_class = torch.cat([
        explain(model, images, method=method, classes=every[:, start:start + chunk], contrast="logit", **kwargs)
        for start in range(0, num_classes, chunk)
    ], dim=1)  # [B, c, H, W]
    alpha = other_class_weights(logits, classes)  # [B, K, c], zero at the target
    target_maps = per_class.gather(1, classes[..., None, None].expand(-1, -1, *per_class.shape[2:]))
    return target_maps - torch.einsum("bkc,bchw->bkhw", alpha, per_class)


def proposition_errors(model: torch.nn.Module, images: torch.Tensor, method: str, layer=None,
                       topk: int = 2) -> dict[str, float]:
    r"""How exactly Props. 2 and 3 hold for one method (and layer) on a batch of images.

    * ``prop2``: :math:`\max |\phi(p_t) - p_t (1 - p_t)\, \phi_{\text{weighted}}|`, with
      :math:`\phi(p_t)` the explanation of the probability and :math:`\phi_{\text{weighted}}`
      Eq. 1 written out over the c per-class logit explanations; relative to :math:`\max|\phi(p_t)|`.
    * ``engine``: the engine's weighted contrast (k + 2 backward passes) against the same
      written-out Eq. 1, relative to its largest value.
    """
    from whynot import explain

    kwargs = {} if layer is None else {"layer": layer, "upsample": False}
    explanation = explain(model, images, method=method, topk=topk, contrast=("softmax", "weighted"),
                          return_explanation=True, **kwargs)
    classes = explanation.classes
    written_out = weighted_contrast_of_logit_maps(model, images, method, classes, layer)
    with torch.no_grad():
        p_t = model(images).softmax(dim=1).gather(1, classes)[..., None, None]
    softmax_maps, weighted_maps = explanation.maps["softmax"], explanation.maps["weighted"]
    prop2 = (softmax_maps - p_t * (1 - p_t) * written_out).abs().max() / softmax_maps.abs().max()
    engine = (weighted_maps - written_out).abs().max() / written_out.abs().max()
    return {"prop2": prop2.item(), "engine": engine.item()}


def dominance(model: torch.nn.Module, images: torch.Tensor, topk: int = 3,
              batch_size: int = 64) -> dict[str, torch.Tensor]:
    r"""The reports' Sec. 4.3 quantities, per image.

    * ``p_top1 [N]`` and ``jacobian_norm [N]``: :math:`\|\partial p / \partial y\|_F` with
      :math:`\partial p/\partial y = \mathrm{diag}(p) - p p^\top` (float64).
    * ``logits [N, K]`` and ``map_norms [N, K]``: the top-k logits and the L2 norms of their
      gradients :math:`\|\nabla_x y_t\|`, the reports' "explanation weight" (their Fig. 6).
    """
    from whynot import explain

    p_top1, jacobian_norm, logits_k, norms_k = [], [], [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        explanation = explain(model, batch, method="gradient", topk=topk, return_explanation=True,
                              keep_channels=True)
        with torch.no_grad():
            logits = model(batch)
        p = logits.double().softmax(dim=1)
        p_top1.append(p.max(dim=1).values)
        jacobian_norm.append(softmax_jacobian(p).flatten(1).norm(dim=1))
        logits_k.append(logits.gather(1, explanation.classes))
        norms_k.append(explanation.maps.flatten(2).norm(dim=2))
    return {"p_top1": torch.cat(p_top1), "jacobian_norm": torch.cat(jacobian_norm),
            "logits": torch.cat(logits_k), "map_norms": torch.cat(norms_k)}


def softmax_jacobian(p: torch.Tensor) -> torch.Tensor:
    r""":math:`\partial p_i / \partial y_j = p_i (\delta_{ij} - p_j)`, ``[B, c, c]``. Its Frobenius
    norm is at most :math:`2 (1 - p_t)` for any class t (each entry of row t is at most
    :math:`p_t (1 - p_t)`, and the other rows hold at most :math:`1 - p_t` of probability), so it
    goes to 0 as some :math:`p_t \to 1`.

    >>> p = torch.tensor([[0.5, 0.5]], dtype=torch.float64)
    >>> softmax_jacobian(p)[0]
    tensor([[ 0.2500, -0.2500],
            [-0.2500,  0.2500]], dtype=torch.float64)
    """
    return torch.diag_embed(p) - p[:, :, None] * p[:, None, :]


# --- claim records -----------------------------------------------------------------------------
def relative_error(actual: torch.Tensor, expected: torch.Tensor) -> float:
    """``max |actual - expected| / max |expected|``."""
    return ((actual - expected).abs().max() / expected.abs().max()).item()


def identity_record(claim: str, error: float, tolerance: float, why: str, **context) -> Record:
    """The verdict on an exact identity from its largest measured ``error``: holds below
    ``tolerance`` (round-off), does not hold above it, not resolved within a tenth of it (where
    another CPU could round to the other side). ``effect`` is the error itself (no interval: it
    is not a sample estimate); ``context``: ``n``, ``unit``, ``data``, ``model``."""
    verdict = judge(error, error, "lower", boundary=tolerance, resolution=tolerance / 10)
    return Record(claim, verdict, why, effect=float(error), decimals=3, **context)


def range_record(claim: str, effect: float, low: float, high: float, bounds: tuple[float, float],
                 why: str, **context) -> Record:
    """The verdict on "the effect lies between ``bounds``": holds when the 95 % interval lies
    inside them, does not hold when it lies wholly outside, else not resolved."""
    above = judge(low, high, "higher", boundary=bounds[0])
    below = judge(low, high, "lower", boundary=bounds[1])
    if above == below == "holds":
        verdict = "holds"
    elif "does not hold" in (above, below):
        verdict = "does not hold"
    else:
        verdict = "not resolved"
    return Record(claim, verdict, why, effect, low, high, **context)


def prop1_record(half_rate: Prop1Trajectories, same_rate: Prop1Trajectories) -> Record:
    """Prop. 1: ``w_1 - w_2`` of the 2-class softmax model against the sigmoid's ``w``."""
    gap = (half_rate.w_sigmoid - half_rate.w_diff).abs().max().item()
    same_gap = (same_rate.w_sigmoid - same_rate.w_diff).abs().max().item()
    steps = len(half_rate.w_sigmoid) - 1
    why = (f"max |w - (w1 - w2)| {band(gap, FLOAT64_TOLERANCE)} over {steps} steps when the "
           f"softmax model takes half the sigmoid's learning rate; at equal rates the gap grows to "
           f"{fixed(same_gap, 2)} (w1 - w2 takes twice the step)")
    return identity_record("wang-prop1", gap, FLOAT64_TOLERANCE, why, n=steps + 1,
                           unit="iterations", data="two Gaussian blobs", model="linear, float64")


def binary_explanation_record(x: torch.Tensor, trajectories: Prop1Trajectories) -> Record:
    """Sec. 3.2: Input x Gradient of the sigmoid's ``y`` against that of ``y_1 - y_2`` of the
    softmax model, along the whole training run (every sample, every iteration)."""
    sigmoid = x[None] * trajectories.w_sigmoid[:, None]
    difference = x[None] * trajectories.w_diff[:, None]
    error = relative_error(difference, sigmoid)
    why = (f"x * w and x * (w1 - w2) agree to {band(error, FLOAT64_TOLERANCE)} (relative) on every "
           "sample at every iteration, with the softmax model at half the learning rate")
    return identity_record("wang-sec32-binary", error, FLOAT64_TOLERANCE, why, n=len(x),
                           unit="samples", data="two Gaussian blobs", model="linear, float64")


def shift_records(image: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor, feature: int,
                  delta: float) -> list[Record]:
    """Sec. 3.1 for every target class: the logit explanation of ``x_i`` moves by exactly
    ``delta x_i``; the mean contrast (and every other contrast) does not move."""
    num_classes = weight.shape[1]
    changes = {c: [] for c in CONTRASTS}
    for target in range(num_classes):
        shifts = shift_invariance(image, weight, bias, feature, delta, target)
        for contrast, (before, after) in shifts.items():
            changes[contrast].append(after - before)
    shift = delta * image.flatten()[feature].item()
    logit_error = max(abs(change - shift) for change in changes["logit"])
    moved = {c: max(abs(change) for change in changes[c]) for c in CONTRASTS if c != "logit"}
    others = ", ".join(f"{c} {band(v, FLOAT64_TOLERANCE)}" for c, v in moved.items() if c != "mean")
    context = dict(n=num_classes, unit="target classes", data="random 3x2x2 image",
                   model="linear, 5 classes, float64")
    return [
        identity_record("wang-sec31-logit-shift", logit_error, FLOAT64_TOLERANCE,
                        f"the logit explanation of x_i moves by delta * x_i to "
                        f"{band(logit_error, FLOAT64_TOLERANCE)} for every target", **context),
        identity_record("wang-sec31-mean-invariant", moved["mean"], FLOAT64_TOLERANCE,
                        f"the mean contrast of x_i moves by "
                        f"{band(moved['mean'], FLOAT64_TOLERANCE)}; the other contrasts too: "
                        f"{others}", **context),
    ]


def relu_cnn(seed: int = 0, bias: bool = True, classes: int = 27,
             width: int = 8) -> torch.nn.Sequential:
    """A small random ReLU CNN for 56 x 56 images (Conv / ReLU / MaxPool / AvgPool / Flatten /
    Linear), with or without biases: without them (and with a zero reference) it is positively
    homogeneous, :math:`f(\tau x) = \tau f(x)` for :math:`\tau > 0`."""
    nn = torch.nn
    generator = torch.Generator().manual_seed(seed)
    model = nn.Sequential(
        nn.Conv2d(3, width, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(width, 2 * width, 3, padding=1, bias=bias), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(2 * width, 2 * width, 3, padding=1, bias=bias), nn.ReLU(),
        nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(32 * width, classes, bias=bias),
    )
    with torch.no_grad():
        for parameter in model.parameters():
            fan_in = parameter[0].numel() if parameter.dim() > 1 else 4
            scale = math.sqrt(2 / fan_in)  # He initialisation: activations keep their size
            parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    return model.eval()


RELU_CNN_LAYER = "6"  # relu_cnn's last convolution (signed activations, 14 x 14)


def binary_contrast_error(model: torch.nn.Module, images: torch.Tensor,
                          layer: str = RELU_CNN_LAYER) -> float:
    """Sec. 3.3: with c = 2 the mean, max and weighted contrasts of class t all explain
    ``y_t - y_s``: the largest relative difference to ``phi(y_t) - phi(y_s)`` over both targets,
    for Gradient, Input x Gradient, Grad-CAM and LA."""
    from whynot import explain

    both = torch.tensor([[0, 1]]).expand(len(images), -1)
    worst = 0.0
    for method in ("gradient", "input_x_gradient", "gradcam", "la"):
        at_layer = method not in ("gradient", "input_x_gradient")
        kwargs = {"layer": layer, "upsample": False} if at_layer else {}
        maps = explain(model, images, method=method, classes=both,
                       contrast=("logit", "mean", "max", "weighted"), **kwargs)
        difference = maps["logit"] - maps["logit"].flip(1)
        contrasts = ("mean", "max", "weighted")
        worst = max(worst, *(relative_error(maps[c], difference) for c in contrasts))
    return worst


def binary_contrast_record(error: float, n: int) -> Record:
    return identity_record(
        "wang-sec33-binary", error, FLOAT32_TOLERANCE,
        f"mean, max and weighted contrasts equal phi(y_t) - phi(y_s) to "
        f"{band(error, FLOAT32_TOLERANCE)} (relative) for Gradient, Input x Gradient, Grad-CAM and "
        "LA, both classes",
        n=n, unit="images", data="SynthBirds test", model="random ReLU CNN, 2 classes")


def proposition_records(rows, tolerance: float = FLOAT32_TOLERANCE) -> list[Record]:
    """Props. 2 and 3 from :func:`proposition_errors` rows
    ``(model, method, layer, prop2, engine)``:
    Prop. 2 from Gradient, Prop. 3 from the other linear rules (Input x Gradient at the input;
    Grad-CAM, LA and XGrad-CAM at every layer measured)."""
    gradient = [r for r in rows if r[1] == "gradient"]
    others = [r for r in rows if r[1] != "gradient"]
    models = ", ".join(sorted({r[0] for r in rows}))
    records = []
    for claim, group, what in (("wang-prop2", gradient, "Gradient"),
                               ("wang-prop3", others, "every other (method, layer)")):
        worst = max(r[3] for r in group)
        records.append(identity_record(
            claim, worst, tolerance,
            f"phi(p_t) = p_t (1 - p_t) x Eq. 1 written out over all c logit maps, to "
            f"{band(worst, tolerance)} (relative) for {what}",
            n=len(group), unit="(model, method, layer) settings", data="photos, SynthBirds",
            model=models))
    return records


def single_pass_error(model: torch.nn.Module, images: torch.Tensor) -> float:
    """Sec. 6 ("only requires one back-propagation"): the gradient of ``p_t`` from one plain
    autograd call, divided by ``p_t (1 - p_t)``, against Eq. 1 written out over the c logit
    gradients (c backward passes); top-1 class, relative error. In float64 (a copy of the
    model): where ``p_t`` is near 1, float32 loses the small gradient of ``p_t`` to round-off."""
    import copy

    model, images = copy.deepcopy(model).double(), images.double()
    values = images.clone().requires_grad_()
    probabilities = model(values).softmax(dim=1)
    top = probabilities.argmax(dim=1, keepdim=True)
    p_t = probabilities.gather(1, top)
    (gradient,) = torch.autograd.grad(p_t.sum(), values)
    one_pass = (gradient * values.detach()).sum(1) / (p_t * (1 - p_t)).detach()[..., None]
    written_out = weighted_contrast_of_logit_maps(model, images, "input_x_gradient", top)[:, 0]
    return relative_error(one_pass, written_out)


def single_pass_record(error: float, n: int, num_classes: int, model: str) -> Record:
    return identity_record(
        "wang-one-backprop", error, FLOAT64_TOLERANCE,
        f"Input x Gradient of p_t from 1 backward pass / p_t(1 - p_t) = Eq. 1 from {num_classes} "
        f"passes, to {band(error, FLOAT64_TOLERANCE)} (relative, float64)",
        n=n, unit="images", data="SynthBirds test", model=model)


# --- Sec. 4: rule-based methods, Integrated Gradients and LA against Input x Gradient ------------
def equivalence_errors(model: torch.nn.Module, images: torch.Tensor, layer: str | None = None,
                       steps: int = 16) -> dict[str, float]:
    """Sec. 4's equivalences on a chain ReLU network, top-1 logit, relative to the largest value:

    * ``lrp``: LRP-0 (z-rule, :func:`whynot.explainers.lrp.lrp`) against Input x Gradient;
    * ``deeplift``: DeepLift-Rescale with a zero reference against Input x Gradient;
    * ``ig``: Integrated Gradients with a zero baseline (``steps`` Gauss-Legendre nodes) against
      Input x Gradient;
    * ``la``: LA at ``layer`` against the LRP-0 relevance there, summed over channels.
    """
    from whynot import explain
    from whynot.explainers.deeplift import deeplift
    from whynot.explainers.lrp import lrp

    with torch.no_grad():
        top = model(images).argmax(dim=1, keepdim=True)
    ixg = explain(model, images, method="input_x_gradient", classes=top, keep_channels=True)
    ig = explain(model, images, method="integrated_gradients", classes=top, keep_channels=True,
                 steps=steps, baseline=0.0)
    errors = {
        "lrp": relative_error(lrp(model, images, top), ixg),
        "deeplift": relative_error(deeplift(model, images, top), ixg),
        "ig": relative_error(ig, ixg),
    }
    if layer is not None:
        la = explain(model, images, method="la", layer=layer, classes=top, upsample=False)
        errors["la"] = relative_error(la, lrp(model, images, top, layer=layer).sum(dim=2))
    return errors


SEC4_CLAIMS = {
    "lrp": ("wang-sec4-lrp", "LRP-0"),
    "deeplift": ("wang-sec4-deeplift", "DeepLift (zero reference)"),
    "ig": ("wang-sec4-ig", "Integrated Gradients (zero baseline)"),
    "la": ("wang-sec4-la-lrp", "LA"),
}
# Which networks each statement covers: LRP = IxG "in ReLU networks"; DeepLift and IG = IxG
# "under homogeneous networks (e.g. ReLU/LeakyReLU networks with no bias terms)".
NEEDS_NO_BIAS = ("deeplift", "ig")


def equivalence_records(errors: dict[str, dict[str, float]], homogeneous: dict[str, bool], n: int,
                        tolerance: float = FLOAT32_TOLERANCE) -> list[Record]:
    """One record per Sec. 4 equivalence from :func:`equivalence_errors` per network
    (``errors[network][key]``), judged on the networks the paper's statement covers
    (``homogeneous[network]``: no biases, no input normalisation); the others are in ``why``."""
    records = []
    for key, (claim, label) in SEC4_CLAIMS.items():
        covered = {net: e[key] for net, e in errors.items()
                   if key in e and (homogeneous[net] or key not in NEEDS_NO_BIAS)}
        outside = {net: e[key] for net, e in errors.items() if key in e and net not in covered}
        worst = max(covered.values())
        target = "LRP-0 relevance at the layer" if key == "la" else "Input x Gradient"
        why = f"{label} vs {target}: {band(worst, tolerance)} (relative) on {', '.join(covered)}"
        if outside:
            why += "; with biases (outside the statement): " + ", ".join(
                f"{net} {fixed(e, 2)}" for net, e in outside.items())
        records.append(identity_record(claim, worst, tolerance, why, n=n, unit="images",
                                       data="SynthBirds test", model=", ".join(covered)))
    return records


# --- what the common libraries' defaults explain ------------------------------------------------
def minmax(maps: torch.Tensor) -> torch.Tensor:
    """Per map, ``(m - min) / (max - min)`` as pytorch-grad-cam scales (``1e-7`` guard)."""
    flat = maps.flatten(1)
    flat = flat - flat.min(dim=1, keepdim=True).values
    return (flat / (1e-7 + flat.max(dim=1, keepdim=True).values)).reshape(maps.shape)


def library_default_errors(model: torch.nn.Module, images: torch.Tensor, layer: str | None = None,
                           steps: int = 8) -> dict[str, tuple[float, float] | None]:
    """What each library explains by default, on the model's top-1 class: per library, the
    largest relative difference of its default map to our logit map and to our softmax map
    (None where the library is not installed).

    * pytorch-grad-cam: ``GradCAM(...)(images, targets=None)`` (ReLU, min-max scaled; compared at
      the layer's resolution);
    * torchcam: ``GradCAM(model, layer)(class_idx, scores)`` with ``scores = model(images)``;
    * captum: ``IntegratedGradients(model).attribute(images, target=t)`` (Gauss-Legendre,
      ``steps`` nodes, zero baseline), against our IG of the logit and of ``p_t``.
    """
    from whynot import explain

    layer = layer or model.whynot_meta["default_layer"]
    cam = explain(model, images, method="gradcam", layer=layer, relu=True, upsample=False,
                  contrast=("logit", "softmax"), return_explanation=True)
    top = cam.classes
    ours_cam = {c: minmax(cam.maps[c][:, 0]) for c in ("logit", "softmax")}
    results: dict[str, tuple[float, float] | None] = {}

    def against(default: torch.Tensor, ours: dict[str, torch.Tensor]) -> tuple[float, float]:
        default = default.to(ours["logit"].dtype).reshape(ours["logit"].shape)
        return relative_error(default, ours["logit"]), relative_error(default, ours["softmax"])

    try:
        from pytorch_grad_cam import GradCAM as PeerGradCAM
    except ImportError:
        results["pytorch-grad-cam"] = None
    else:
        class AtLayerResolution(PeerGradCAM):
            def get_target_width_height(self, input_tensor):
                return None  # skip the final resize: compare at the layer's resolution

        with AtLayerResolution(model, [model.get_submodule(layer)]) as peer:
            default = torch.from_numpy(peer(images, targets=None))
        results["pytorch-grad-cam"] = against(default, ours_cam)
    try:
        from torchcam.methods import GradCAM as TorchcamGradCAM
    except ImportError:
        results["torchcam"] = None
    else:
        with TorchcamGradCAM(model, target_layer=layer) as extractor:
            scores = model(images)
            (default,) = extractor(top[:, 0].tolist(), scores)
        results["torchcam"] = against(default.detach(), ours_cam)
    try:
        from captum.attr import IntegratedGradients as CaptumIG
    except ImportError:
        results["captum"] = None
    else:
        default = CaptumIG(model).attribute(images, target=top[:, 0], n_steps=steps,
                                            internal_batch_size=16).detach()
        ours = explain(model, images, method="integrated_gradients", classes=top, steps=steps,
                       keep_channels=True, contrast=("logit", "softmax"), batch_size=16)
        results["captum"] = against(default, {c: m[:, 0] for c, m in ours.items()})
    return results


def library_default_record(errors: dict[str, tuple[float, float] | None], n: int, model: str,
                           tolerance: float = FLOAT32_TOLERANCE) -> Record:
    """Sec. 1: the libraries' defaults explain the logit (and not the probability) without
    saying so. Per installed library: holds when its default equals our logit map and differs
    from our softmax map; combined over libraries."""
    claim = "wang-obfuscated"
    installed = {name: e for name, e in errors.items() if e is not None}
    if not installed:
        return not_tested(claim, "install whynot[test] to compare with "
                          + ", ".join(errors))
    verdicts, parts = [], []
    for name, (to_logit, to_softmax) in installed.items():
        if to_logit >= tolerance:
            verdicts.append("does not hold")
        elif to_softmax > tolerance:
            verdicts.append("holds")
        else:
            verdicts.append("not resolved")
        parts.append(f"{name}: logit {band(to_logit, tolerance)}, softmax {fixed(to_softmax, 1)}")
    missing = [name for name, e in errors.items() if e is None]
    why = "default vs ours (relative): " + "; ".join(parts)
    if missing:
        why += "; not installed: " + ", ".join(missing)
    return Record(claim, combine(verdicts), why, effect=max(e[0] for e in installed.values()),
                  n=n, unit="images", data="bundled photos", model=model, decimals=3)


# --- KTH report Sec. 6: GradCAM++ "already" back-propagates from after the softmax --------------
def cosine_distance(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``1 - cos(a, b)`` per map (``[B, K, ...]`` -> ``[B * K]``): 0 for maps equal up to a
    positive scale."""
    a, b = a.flatten(2).double(), b.flatten(2).double()
    return (1 - (a * b).sum(2) / (a.norm(dim=2) * b.norm(dim=2))).flatten()


def gradcam_pp_distances(model: torch.nn.Module, images: torch.Tensor, layer: str | None = None,
                         topk: int = 2) -> dict[str, torch.Tensor]:
    r"""Grad-CAM++ of the logit :math:`y_t` (its weights come from :math:`Y = \exp(y_t)`),
    against back-propagating from after the softmax: Grad-CAM++ of :math:`p_t`, Grad-CAM of
    :math:`p_t` and Grad-CAM of the weighted contrast. Per map cosine distances (top-k)."""
    from whynot import explain

    kwargs = {"layer": layer} if layer else {}
    plus = explain(model, images, method="gradcam++", topk=topk, upsample=False,
                   contrast=("logit", "softmax"), return_explanation=True, **kwargs)
    cam = explain(model, images, method="gradcam", classes=plus.classes, upsample=False,
                  contrast=("softmax", "weighted"), **kwargs)
    logit = plus.maps["logit"]
    return {"Grad-CAM++ of p_t": cosine_distance(logit, plus.maps["softmax"]),
            "Grad-CAM of p_t": cosine_distance(logit, cam["softmax"]),
            "Grad-CAM of weighted": cosine_distance(logit, cam["weighted"])}


GRADCAM_PP_TOLERANCE = 1e-3  # cosine distance of maps that agree up to float32 round-off


def gradcam_pp_records(distances: dict[str, dict[str, torch.Tensor]],
                       data: dict[str, str]) -> Record:
    """The KTH report's statement, per model: the mean cosine distance between Grad-CAM++ of the
    logit and Grad-CAM++ of ``p_t`` (bootstrap 95 % interval over maps) lies below
    :data:`GRADCAM_PP_TOLERANCE` if Grad-CAM++ already back-propagates from after the softmax."""
    verdicts, parts, effects = [], [], []
    n = 0
    for model, found in distances.items():
        values = found["Grad-CAM++ of p_t"].numpy()
        low, high = bootstrap_ci(values)
        verdicts.append(judge(low, high, "lower", boundary=GRADCAM_PP_TOLERANCE))
        parts.append(f"{model} {fixed(values.mean(), 3)} [{fixed(low, 3)}, {fixed(high, 3)}]")
        effects.append((values.mean(), low, high))
        n += len(values)
    effect = max(effects)
    why = ("cosine distance, Grad-CAM++ of y_t vs Grad-CAM++ of p_t: " + "; ".join(parts)
           + f" (0 if equal; tolerance {scientific(GRADCAM_PP_TOLERANCE)}); whynot computes "
           "Grad-CAM++ of p_t like any contrast")
    return Record("reports-gradcampp-softmax", combine(verdicts), why, *map(float, effect), n=n,
                  unit="maps", data=", ".join(sorted(set(data.values()))),
                  model=", ".join(distances))


# --- reports Sec. 4.3 ---------------------------------------------------------------------------
def spearman(a, b) -> float:
    """Spearman rank correlation of two 1-D arrays (no ties expected in float data)."""
    rank = lambda v: np.argsort(np.argsort(v)).astype(float)  # noqa: E731
    return float(np.corrcoef(rank(np.asarray(a)), rank(np.asarray(b)))[0, 1])


def rank_correlation(x: np.ndarray, y: np.ndarray) -> tuple[float, float, float]:
    """Spearman's rho of paired samples with its bootstrap 95 % interval (pairs resampled)."""
    pairs = np.stack([x, y], axis=1)
    low, high = bootstrap_ci(pairs, statistic=lambda s, axis: spearman(s[:, 0], s[:, 1]),
                             n_resamples=1000)
    return spearman(x, y), low, high


def dominance_records(stats: dict[str, torch.Tensor], data: str, model: str) -> list[Record]:
    """The reports' two mathematical statements of Sec. 4.3 (not their "reduced to the
    original" claim, which chapter 05 measures):

    * ``reports-jacobian``: "if there exists a p_t -> 1 then ... dp_i/dy_j -> 0": the Frobenius
      norm of the softmax Jacobian falls as p_top1 rises (Spearman's rho < 0), and it never
      exceeds its bound 2 (1 - p_top1) (checked on every image, in ``why``);
    * ``reports-weight-trend``: "explanation weights seem to increase with logit strength":
      Spearman's rho of the top-3 logits against their gradients' norms > 0;
    * ``reports-weight-factor``: the dominating class's weight "around 3 to 4 times" the others':
      the geometric mean of ``||grad y_t1|| / ||grad y_t2||`` lies in [3, 4].
    """
    p_top1 = stats["p_top1"].double().numpy()
    norm = stats["jacobian_norm"].double().numpy()
    n = len(p_top1)
    violations = int((norm > 2 * (1 - p_top1) + FLOAT64_TOLERANCE).sum())
    rho, low, high = rank_correlation(p_top1, norm)
    context = dict(n=n, data=data, model=model)
    jacobian = measured(
        "reports-jacobian", rho, low, high,
        f"Spearman rho(p_top1, ||dp/dy||_F) {fixed(rho, 2)}; ||dp/dy||_F <= 2 (1 - p_top1) on "
        f"{n - violations} of {n} images", claimed="lower", decimals=2, unit="images", **context)
    logits = stats["logits"].double().flatten().numpy()
    norms = stats["map_norms"].double().flatten().numpy()
    rho, low, high = rank_correlation(logits, norms)
    trend = measured(
        "reports-weight-trend", rho, low, high,
        f"Spearman rho(y_t, ||grad_x y_t||) over the top-{stats['logits'].shape[1]} classes "
        f"{fixed(rho, 2)}", claimed="higher", decimals=2, unit="maps",
        n=logits.size, data=data, model=model)
    log_ratio = (stats["map_norms"][:, 0] / stats["map_norms"][:, 1]).double().log().numpy()
    low, high = bootstrap_ci(log_ratio)
    ratio = math.exp(log_ratio.mean())
    factor = range_record(
        "reports-weight-factor", ratio, math.exp(low), math.exp(high), (3.0, 4.0),
        f"||grad y_t1|| / ||grad y_t2||, geometric mean {fixed(ratio, 2)} (the reports: 3 to 4)",
        decimals=2, unit="images", **context)
    return [jacobian, trend, factor]


# --- Sec. 6: logit and probability explanations differ -------------------------------------------
def logit_softmax_record(distances: torch.Tensor, data: str, model: str) -> Record:
    """Sec. 6 "the significant difference between explanations to the logit y and to the
    probability p": mean cosine distance between the logit and softmax maps of the same class,
    with its bootstrap interval, above 0."""
    values = distances.numpy()
    low, high = bootstrap_ci(values)
    return measured("wang-logit-vs-prob", float(values.mean()), low, high,
                    "mean cosine distance between the logit and softmax maps "
                    f"{fixed(values.mean(), 3)} (0 if they only differed by scale)",
                    claimed="higher", decimals=3,
                    n=len(values), unit="maps", data=data, model=model)


# --- chapter 00: what the models return ----------------------------------------------------------
def returns_probabilities(outputs: torch.Tensor, tolerance: float = 1e-3) -> bool:
    """Whether ``outputs [N, c]`` look like probabilities: in [0, 1], rows summing to 1."""
    in_range = bool(((outputs >= 0) & (outputs <= 1)).all())
    return in_range and bool(((outputs.sum(dim=1) - 1).abs() < tolerance).all())


def models_return_logits_record(outputs: dict[str, torch.Tensor], data: str) -> Record:
    """Sec. 1 "PyTorch classification models are usually built without the softmax activation":
    the share of models whose outputs are not probabilities, judged against one half."""
    logits = [name for name, out in outputs.items() if not returns_probabilities(out)]
    share = len(logits) / len(outputs)
    return measured("wang-models-return-logits", share, share, share,
                    f"{len(logits)} of {len(outputs)} models return logits (no softmax layer)",
                    claimed="higher", boundary=0.5, n=len(outputs), unit="models", data=data,
                    model=", ".join(outputs), decimals=2)
