"""Numerical checks of the theory section of "Why Not Other Classes?" (Props. 1-3, Sec. 3.1).

Each function returns plain tensors or records that a chapter plots or tabulates; the
assertions on them live in ``tests/test_theory.py``.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch


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


def dominance(model: torch.nn.Module, images: torch.Tensor, layer=None, topk: int = 3,
              batch_size: int = 64) -> dict[str, torch.Tensor]:
    r"""The reports' "dominating classes" quantities (their Sec. 4.3 and Fig. 6), per image.

    * ``p_top1 [N]`` and ``jacobian_norm [N]``: :math:`\|\partial p / \partial y\|_F` with
      :math:`\partial p/\partial y = \mathrm{diag}(p) - p p^\top`, which vanishes as
      :math:`p_{top1} \to 1`: the softmax explanation fades where one class dominates.
    * ``logits [N, K]`` and ``map_norms [N, K]``: the top-k logits and the L2 norms of their
      GradCAM logit explanations (layer resolution), to see whether stronger logits carry
      larger explanations (and so dominate any weighted sum of them).
    """
    from whynot import explain

    kwargs = {} if layer is None else {"layer": layer}
    p_top1, jacobian_norm, logits_k, norms_k = [], [], [], []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        explanation = explain(model, batch, method="gradcam", topk=topk, upsample=False,
                              return_explanation=True, **kwargs)
        with torch.no_grad():
            logits = model(batch)
        p = logits.softmax(dim=1)
        jacobian = torch.diag_embed(p) - p[:, :, None] * p[:, None, :]
        p_top1.append(p.max(dim=1).values)
        jacobian_norm.append(jacobian.flatten(1).norm(dim=1))
        logits_k.append(logits.gather(1, explanation.classes))
        norms_k.append(explanation.maps.flatten(2).norm(dim=2))
    return {"p_top1": torch.cat(p_top1), "jacobian_norm": torch.cat(jacobian_norm),
            "logits": torch.cat(logits_k), "map_norms": torch.cat(norms_k)}
