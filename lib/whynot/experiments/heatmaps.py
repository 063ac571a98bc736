r"""The paper's heatmap figures (Figs. 1, 4, 5) and the numbers that go with them.

* Images are drawn at random with a fixed seed among those whose ``k``-th probability exceeds
  0.1 (:func:`draw`; the paper's and the KTH report's selection), never hand-picked.
* Fig. 1 (:func:`figure1`): blur the pixels whose explanation is negative (``phi < 0``) and
  measure how the probabilities of both top classes change.
* Fig. 4 (:func:`figure4`): GradCAM, LA and XGradCAM, original vs weighted, top two classes.
* Fig. 5 (:func:`figure5`, :func:`contrast_identities`): original, mean, max and weighted
  GradCAM of the top three classes, and the two properties the paper points out, measured:
  the mean contrast stays close to the original (Pearson ``r`` over pixels), and the max maps of
  classes 1 and 2 are each other's negatives, since ``max_1 = phi(y_1 - y_2)`` and
  ``max_2 = phi(y_2 - y_1)`` for a method linear in the back-propagated vector.

Every overlay is the reproductions' ``bwr`` with ``CenteredNorm`` and alpha 0.5
(:mod:`whynot.viz`).

>>> chosen = draw(probabilities, n=4, rank=2, seed=0)        # doctest: +SKIP
>>> figure4(model, images[chosen.indices], class_names)      # doctest: +SKIP
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import whynot
from whynot.baselines import TABLE1_BLUR, blend, blur_for
from whynot.data.plots import PART_COLOURS
from whynot.experiments.images import (
    CUB_CHECKPOINT_ENV, CUB_ENV, cub_test, load_birds, load_images, shuffled,
)
from whynot.experiments.parts import differing_part
from whynot.labels import CONTRAST_LABELS as LABELS
from whynot.labels import METHOD_LABELS
from whynot.metrics.model_randomization import pearson
from whynot.viz import THUMBNAIL_PX, explanation_grid, overlay, overlay_array

THRESHOLD = 0.1  # the paper's p_k > 0.1
FIGURE4_METHODS = ("gradcam", "la", "xgradcam")
FIGURE5_CONTRASTS = ("logit", "mean", "max", "weighted")


class Draw(NamedTuple):
    """Images drawn by :func:`draw`: their indices, and whether they pass the threshold."""

    indices: list[int]
    passed: bool


def draw(probabilities: Tensor, n: int, rank: int = 2, threshold: float = THRESHOLD,
         seed: int = 0) -> Draw:
    """``n`` images drawn at random (``torch.randperm`` seeded by ``seed``) among those whose
    ``rank``-th highest probability exceeds ``threshold``; all of them, in drawn order, if fewer
    pass. If none passes, the one image whose ``rank``-th probability is largest, and
    ``passed=False`` (say so where it is shown).

    >>> p = torch.tensor([[0.9, 0.05, 0.05], [0.5, 0.3, 0.2], [0.6, 0.4, 0.0]])
    >>> draw(p, n=5, rank=2).passed, sorted(draw(p, n=5, rank=2).indices)
    (True, [1, 2])
    >>> draw(p, n=1, rank=3, threshold=0.3)
    Draw(indices=[1], passed=False)
    """
    if probabilities.dim() != 2 or not 1 <= rank <= probabilities.shape[1]:
        raise ValueError(f"probabilities must be [N, C] with C >= rank = {rank}; got "
                         f"{tuple(probabilities.shape)}.")
    if n < 1:
        raise ValueError(f"n must be >= 1 images; got {n}.")
    kth = probabilities.topk(rank, dim=1).values[:, rank - 1]
    passing = (kth > threshold).nonzero()[:, 0]
    if len(passing) == 0:
        return Draw([int(kth.argmax())], False)
    order = torch.tensor(shuffled(len(passing), seed)[:n], dtype=torch.long)
    return Draw(passing[order].tolist(), True)


def closest_pair(probabilities: Tensor) -> int:
    """The image whose two highest probabilities are closest (smallest ``p1 - p2``)."""
    top = probabilities.topk(2, dim=1).values
    return int((top[:, 0] - top[:, 1]).argmin())


@torch.no_grad()
def probabilities_of(model: nn.Module, images: Tensor, batch_size: int = 64) -> Tensor:
    """``softmax(model(images))`` in batches, ``[N, C]``."""
    return torch.cat([model(images[i:i + batch_size]).softmax(dim=1)
                      for i in range(0, len(images), batch_size)])


# --- inputs ---------------------------------------------------------------------------------------

@dataclass
class Source:
    """Images and the model that explains them, for the figures."""

    name: str  # what the chapter calls it, e.g. "SynthBirds, synth_vgg"
    model: nn.Module
    images: Tensor  # [N, 3, H, W] in [0, 1]
    class_names: Sequence[str]
    part_masks: Tensor | None = None  # SynthBirds only: [N, 3, H, W] (head, wing, tail)
    image_names: Sequence[str] | None = None  # the photos' names
    probabilities: Tensor = field(init=False)  # [N, C], computed on creation

    def __post_init__(self):
        self.probabilities = probabilities_of(self.model, self.images)


def sources(profile: str = "default", seed: int = 0) -> list[Source]:
    """The figures' inputs: SynthBirds' test split with ``synth_vgg`` (the first 108 images in
    the smoke profile), EfficientNet-Lite0 on the bundled photos, and in the full profile also
    VGG16-BN fine-tuned on CUB-200-2011 (:func:`cub_source`)."""
    from whynot.data.photos import PHOTO_NAMES
    from whynot.data.synthetic import CLASS_NAMES
    from whynot.models.zoo import load_model

    if profile not in ("smoke", "default", "full"):
        raise ValueError(f"unknown profile {profile!r}; choose one of ['default', 'full', 'smoke']")
    birds = load_birds(seed, 0, 108 if profile == "smoke" else None)
    effnet = load_model("efficientnet_lite0")
    found = [
        Source("SynthBirds, synth_vgg", load_model("synth_vgg"), birds.images, CLASS_NAMES,
               part_masks=birds.part_masks),
        Source("photos, EfficientNet-Lite0", effnet,
               load_images("photos", effnet, seed, 0, len(PHOTO_NAMES))[0],
               effnet.whynot_meta["class_names"], image_names=PHOTO_NAMES),
    ]
    if profile == "full":
        found.append(cub_source(seed=seed))
    return found


def cub_source(n: int = 512, seed: int = 0, device: str | None = None) -> Source:
    """``n`` CUB-200-2011 test images (a seeded random sample) with VGG16-BN fine-tuned by
    :func:`whynot.models.finetune.finetune_cub`: the data folder in ``$WHYNOT_CUB``, the
    checkpoint in ``$WHYNOT_CUB_VGG16_BN``."""
    from whynot.models.finetune import cub_vgg16_bn, load_finetuned

    root, weights = os.environ.get(CUB_ENV), os.environ.get(CUB_CHECKPOINT_ENV)
    if not root or not weights:
        raise FileNotFoundError(
            f"the full profile's CUB figures need ${CUB_ENV} (the folder with CUB_200_2011; "
            f"whynot.data.cub.download_cub fetches it) and ${CUB_CHECKPOINT_ENV} (a checkpoint of "
            f"whynot.models.finetune.finetune_cub)")
    class_names = cub_test(root, 224).class_names
    model = load_finetuned(cub_vgg16_bn(class_names, imagenet_weights=False), weights)
    test = cub_test(root, model.whynot_meta["input_size"])
    images = torch.stack([test[i][0] for i in shuffled(len(test), seed)[:n]])
    device = device or ("cuda" if torch.cuda.is_available() else "cpu")
    return Source("CUB-200-2011, VGG16-BN fine-tuned", model.to(device), images.to(device),
                  test.class_names)


# --- Fig. 1: blur the negative evidence, watch both probabilities ---------------------------------

def blur_negative_evidence(model: nn.Module, images: Tensor, maps: Tensor, classes: Tensor,
                           blur: tuple[int, float] = TABLE1_BLUR) -> tuple[Tensor, pd.DataFrame]:
    r"""The paper's Fig. 1 test: for each image ``b`` and explained class ``k``, blur the pixels
    where ``maps[b, k] < 0`` (the Table 1 Gaussian blur, scaled to the image),

    .. math:: x' = x \odot [\phi \ge 0] + \mathrm{blur}(x) \odot [\phi < 0],

    and read the probabilities of all ``K`` classes of ``classes [B, K]`` before and after.
    Returns the blurred images ``[B, K, 3, H, W]`` and one row per image, explained class and
    class: ``image, explained, class_rank, class, p_before, p_after, change``. If the map
    captures what separates the classes, the explained class's probability rises and the
    others' fall.
    """
    blurred = blend(images, keep=maps >= 0, baseline=blur_for(images, *blur))
    before = probabilities_of(model, images)
    after = probabilities_of(model, blurred.flatten(0, 1)).view(*maps.shape[:2], -1)
    rows = []
    for b in range(maps.shape[0]):
        for k in range(maps.shape[1]):
            for j, c in enumerate(classes[b].tolist()):
                rows.append({"image": b, "explained": k + 1, "class_rank": j + 1, "class": c,
                             "p_before": float(before[b, c]), "p_after": float(after[b, k, c])})
    table = pd.DataFrame(rows)
    table["change"] = table.p_after - table.p_before
    return blurred, table


def figure1(model: nn.Module, image: Tensor, class_names: Sequence[str], method: str = "gradcam",
            title: str = ""):
    """Paper Fig. 1 for one image ``[3, H, W]``: top row, the original and weighted maps of the
    top two classes; bottom row, the image with each map's negative pixels blurred, with the
    change of the explained class's probability in red and the other's in blue (the paper's
    colours: red should rise, blue should fall). Returns ``(figure, table)``, the table from
    :func:`blur_negative_evidence` with a ``contrast`` column. ``title`` heads the figure."""
    import matplotlib.pyplot as plt

    images = image[None]
    explanation = whynot.explain(model, images, method=method, topk=2,
                                 contrast=("logit", "weighted"), return_explanation=True)
    classes = explanation.classes
    fig, axes = plt.subplots(2, 4, figsize=(8.6, 5.4))  # a full-width cell, titles included
    tables = []
    for c, (contrast, maps) in enumerate(explanation.maps.items()):
        blurred, table = blur_negative_evidence(model, images, maps, classes)
        tables.append(table.assign(contrast=contrast))
        for k in range(2):
            column = 2 * c + k
            overlay(axes[0, column], image, maps[0, k])
            name = class_names[int(classes[0, k])]
            axes[0, column].set_title(f"{METHOD_LABELS.get(method, method)} {LABELS[contrast]}\n"
                                      f"t{k + 1}: {name}", fontsize="small")
            axes[1, column].imshow(blurred[0, k].permute(1, 2, 0).clamp(0, 1).cpu().numpy())
            axes[1, column].set_axis_off()
            rows = table[table.explained == k + 1].set_index("class_rank")
            for j, (colour, y) in enumerate((("#d62728", -0.08), ("#1f77b4", -0.2))):
                rank = k + 1 if j == 0 else 2 - k  # the explained class first, then the other
                change = rows.loc[rank, "change"]
                axes[1, column].text(0.5, y, f"t{rank}: {change:+.3f}", color=colour,
                                     transform=axes[1, column].transAxes, ha="center",
                                     fontsize="small")
    fig.suptitle(f"{title}\nTop: heatmaps (red for, blue against).\nBottom: negative pixels "
                 "blurred; change in p of the explained class (red) and the other (blue)",
                 fontsize="small")
    fig.tight_layout()
    return fig, pd.concat(tables, ignore_index=True)


# --- Figs. 4 and 5 -------------------------------------------------------------------------------

def figure4(model: nn.Module, images: Tensor, class_names: Sequence[str],
            methods: Sequence[str] = FIGURE4_METHODS):
    """Paper Fig. 4: one row per image and top-2 class; per method, its original and weighted
    maps (the report's XGradCAM added to the paper's GradCAM and LA)."""
    explained = whynot.explain(model, images, method=tuple(methods), topk=2,
                               contrast=("logit", "weighted"), return_explanation=True)
    maps = {f"{METHOD_LABELS[m]}\n{LABELS[c]}": explained[m].maps[c]
            for m in methods for c in ("logit", "weighted")}
    return explanation_grid(images, maps, class_names, explained[methods[0]].classes,
                            panel_size=1.32)  # 7 columns: a full-width cell


def figure5(model: nn.Module, images: Tensor, class_names: Sequence[str], method: str = "gradcam"):
    """Paper Fig. 5: one row per image and top-3 class; original, mean, max, weighted maps."""
    explained = whynot.explain(model, images, method=method, topk=3,
                               contrast=FIGURE5_CONTRASTS, return_explanation=True)
    maps = {LABELS[c]: explained.maps[c] for c in FIGURE5_CONTRASTS}
    return explanation_grid(images, maps, class_names, explained.classes, panel_size=1.36)


def contrast_identities(model: nn.Module, images: Tensor, method: str = "gradcam",
                        batch_size: int = 64) -> pd.DataFrame:
    r"""Fig. 5's two observations, measured per image on the maps of the top three classes:

    * ``r1, r2, r3``: Pearson ``r`` over pixels between the mean-contrast and the original map of
      class ``k`` (the paper: "almost the same", since ``phi_mean = phi^t - \frac{1}{c-1}
      \sum_{s \ne t} \phi^s`` and the sum largely cancels);
    * ``max_sum``: ``max |max_1 + max_2| / max |max_1|``, zero up to round-off when the max maps of
      classes 1 and 2 are each other's negatives.

    With ``p1, p2, p3``, one row per image.
    """
    frames = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        explained = whynot.explain(model, batch, method=method, topk=3,
                                   contrast=("logit", "mean", "max"), return_explanation=True)
        maps = explained.maps
        r = pearson(maps["mean"], maps["logit"]).cpu()
        peak = maps["max"][:, 0].flatten(1).abs().amax(dim=1)
        max_sum = (maps["max"][:, 0] + maps["max"][:, 1]).flatten(1).abs().amax(dim=1) / peak
        p = probabilities_of(model, batch).topk(3, dim=1).values.cpu()
        frames.append(pd.DataFrame({
            "image": np.arange(start, start + len(batch)),
            **{f"p{k + 1}": p[:, k].numpy() for k in range(3)},
            **{f"r{k + 1}": r[:, k].numpy() for k in range(3)},
            "max_sum": max_sum.cpu().numpy(),
        }))
    return pd.concat(frames, ignore_index=True)


def top_two_statistics(model: nn.Module, images: Tensor, methods: Sequence[str] = FIGURE4_METHODS,
                       contrasts: Sequence[str] = ("logit", "weighted"),
                       batch_size: int = 64) -> pd.DataFrame:
    """Fig. 4's observations, measured on the maps of the top two classes; one row per image,
    method and contrast:

    * ``r``: Pearson ``r`` over pixels between the maps of ``t1`` and ``t2`` (near 1: the same
      picture twice; near -1: complementary);
    * ``negative_t1``, ``negative_t2``: the share of pixels with a negative explanation (the
      KTH report and the paper's appendix G disagree about its size).
    """
    frames = []
    for start in range(0, len(images), batch_size):
        explained = whynot.explain(model, images[start:start + batch_size], method=tuple(methods),
                                   topk=2, contrast=tuple(contrasts))
        for m in methods:
            for c in contrasts:
                maps = explained[m][c]
                negative = (maps < 0).float().mean(dim=(-2, -1)).cpu().numpy()
                frames.append(pd.DataFrame({
                    "image": np.arange(start, start + len(maps)), "method": METHOD_LABELS[m],
                    "contrast": LABELS[c], "r": pearson(maps[:, 0], maps[:, 1]).cpu().numpy(),
                    "negative_t1": negative[:, 0], "negative_t2": negative[:, 1]}))
    return pd.concat(frames, ignore_index=True)


def colour_scales(image: Tensor, heatmap: Tensor):
    """One signed map drawn three ways: ``bwr`` centred at zero (ours and the reports'), min-max
    scaled ``bwr`` (zero is no longer white), and ReLU with ``jet`` (the classic CAM look, which
    hides the negative evidence)."""
    import matplotlib.pyplot as plt

    picture = image.permute(1, 2, 0).clamp(0, 1).cpu().numpy()
    values = heatmap.detach().float().cpu().numpy()
    fig, axes = plt.subplots(1, 3, figsize=(6.8, 2.8))
    overlay(axes[0], image, heatmap)
    axes[0].set_title("bwr, CenteredNorm at 0", fontsize="small")
    for ax, (title, shown, cmap) in zip(axes[1:], (
            ("bwr, min-max scaled", values, "bwr"),
            ("ReLU, jet", np.maximum(values, 0), "jet"))):
        ax.imshow(picture)
        ax.imshow(shown, cmap=cmap, vmin=shown.min(), vmax=shown.max(), alpha=0.5)
        ax.set_title(title, fontsize="small")
        ax.set_axis_off()
    fig.tight_layout()
    return fig


# --- the explorer's views -------------------------------------------------------------------------

def part_panel(masks: Tensor, highlight: str | None) -> np.ndarray:
    """The part masks ``[3, H, W]`` as an ``[H, W, 3]`` picture: each part in its
    :data:`whynot.data.plots.PART_COLOURS` on black, the ``highlight`` part at full strength and
    the others dimmed to a third."""
    from whynot.data.synthetic import PART_NAMES

    picture = np.zeros((*masks.shape[-2:], 3))
    for p, name in enumerate(PART_NAMES):
        strength = 1.0 if highlight in (None, name) else 1 / 3
        picture[masks[p].cpu().numpy()] = np.asarray(PART_COLOURS[p]) * strength
    return picture


def explorer_views(source: Source, indices: Sequence[int], labels: Sequence[str],
                   methods: Sequence[str] = FIGURE4_METHODS,
                   contrasts: Sequence[str] = FIGURE5_CONTRASTS, topk: int = 3,
                   size: int = THUMBNAIL_PX) -> dict[tuple[str, str, str, str], np.ndarray]:
    """Precomputed views (image label, method, contrast, class rank) -> ``[H, W, 3]`` uint8:
    the image and the overlay, side by side at ``size`` pixels, and for SynthBirds the part
    masks (:func:`part_panel`, highlighting the part that separates the class from its
    strongest rival: ``t2`` for ``t1``, else ``t1``)."""
    images = source.images[list(indices)]
    explained = whynot.explain(source.model, images, method=tuple(methods), topk=topk,
                               contrast=tuple(contrasts), return_explanation=True)
    classes = explained[methods[0]].classes.tolist()
    thumbnails = F.interpolate(images, size=size, mode="bilinear", antialias=True).clamp(0, 1)
    views = {}
    for b, label in enumerate(labels):
        picture = (thumbnails[b].permute(1, 2, 0).cpu().numpy() * 255).round().astype(np.uint8)
        for k in range(topk):
            panels = [picture]
            if source.part_masks is not None:
                rival = classes[b][1] if k == 0 else classes[b][0]
                masks = source.part_masks[indices[b]]
                masks = F.interpolate(masks[None].float(), size=size, mode="nearest")[0] > 0.5
                panels.append((part_panel(masks, differing_part(classes[b][k], rival)) * 255)
                              .round().astype(np.uint8))
            for m in methods:
                for c in contrasts:
                    heat = overlay_array(thumbnails[b], explained[m].maps[c][b, k])
                    views[(label, METHOD_LABELS[m], LABELS[c], f"t{k + 1}")] = np.concatenate(
                        [panels[0], heat, *panels[1:]], axis=1)
    return views


# --- claims: Figs. 1, 2, 4 and 5 measured on every qualifying image, judged by whynot.claims -----

IDENTITY_TOLERANCE = 1e-3  # of the map's peak: an exact identity in float32 stays far below


def blur_statistics(model: nn.Module, images: Tensor, method: str = "gradcam",
                    batch_size: int = 64) -> pd.DataFrame:
    """Fig. 1 on every image: the original and weighted maps of ``t1`` and ``t2`` each blur
    their negative pixels (:func:`blur_negative_evidence`); one row per image and contrast with
    ``own``, the change of the explained class's probability, and ``other``, the change of the
    other class's, each averaged over the two maps."""
    frames = []
    for start in range(0, len(images), batch_size):
        batch = images[start:start + batch_size]
        explained = whynot.explain(model, batch, method=method, topk=2,
                                   contrast=("logit", "weighted"), return_explanation=True)
        for contrast, maps in explained.maps.items():
            table = blur_negative_evidence(model, batch, maps, explained.classes)[1]
            own = table[table.explained == table.class_rank].groupby("image").change.mean()
            other = table[table.explained != table.class_rank].groupby("image").change.mean()
            frames.append(pd.DataFrame({"image": start + own.index.to_numpy(),
                                        "contrast": LABELS[contrast], "own": own.to_numpy(),
                                        "other": other.to_numpy()}))
    return pd.concat(frames, ignore_index=True)


def probability_equivalence(model: nn.Module, images: Tensor, layer=None) -> pd.DataFrame:
    r"""Fig. 2's statement at a CAM layer: the weighted combination of the logits' maps equals
    the map of the probability. Grad-CAM of ``p_t`` is computed here by plain autograd (no
    contrast engine); since :math:`\nabla p_t = p_t (1 - p_t) (e_t - \alpha)` it must equal
    ``p_t (1 - p_t)`` times the engine's weighted Grad-CAM. One row per image: ``residual``,
    ``max |difference| / max |map of p_t|`` over the maps of ``t1`` and ``t2``."""
    from whynot.explainers.base import upsample_to
    from whynot.explainers.hooks import resolve_layer

    if layer is None:
        layer = getattr(model, "whynot_meta", {}).get("default_layer")
    _, module = resolve_layer(model, layer)
    captured = {}
    handle = module.register_forward_hook(lambda _m, _i, output: captured.update(a=output))
    try:  # an input that needs a gradient keeps the graph even where parameters are frozen
        probabilities = model(images.detach().requires_grad_(True)).softmax(dim=1)
    finally:
        handle.remove()
    top = probabilities.topk(2, dim=1)
    maps = []
    for k in range(2):
        chosen = top.values[:, k].sum()  # images are independent: one backward pass for all
        gradient, = torch.autograd.grad(chosen, captured["a"], retain_graph=k == 0)
        weights = gradient.mean(dim=(-2, -1), keepdim=True)
        maps.append((weights * captured["a"]).sum(dim=1).detach())
    direct = upsample_to(torch.stack(maps, dim=1), images)
    weighted = whynot.explain(model, images, method="gradcam", classes=top.indices,
                              contrast="weighted", layer=layer)
    scale = (top.values * (1 - top.values)).detach()[:, :, None, None]
    peak = direct.flatten(1).abs().amax(dim=1)
    residual = (direct - scale * weighted).flatten(1).abs().amax(dim=1) / peak
    return pd.DataFrame({"image": np.arange(len(images)), "residual": residual.cpu().numpy()})


def _setting(values, claimed: str = "higher", boundary: float = 0.0, seed: int = 0,
             min_images: int | None = None, **names) -> dict:
    """One setting of a claim: the mean of ``values`` over images, its 95 % bootstrap interval
    and :func:`~whynot.experiments.localization.judged` verdict."""
    from whynot.experiments.localization import MIN_IMAGES, judged
    from whynot.stats import bootstrap_ci

    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    low, high = bootstrap_ci(values, seed=seed)
    effect = float(values.mean()) if len(values) else float("nan")
    verdict = judged(low, high, len(values), claimed, boundary,
                     MIN_IMAGES if min_images is None else min_images)
    return {**names, "images": len(values), "effect": effect, "low": low, "high": high,
            "claimed": claimed, "boundary": boundary, "verdict": verdict}


def _worst(values, tolerance: float = IDENTITY_TOLERANCE, **names) -> dict:
    """An identity's setting: the largest residual over the images, against ``tolerance``."""
    worst = float(np.max(values))
    return {**names, "images": len(values), "effect": worst, "low": worst, "high": worst,
            "claimed": "lower", "boundary": tolerance,
            "verdict": judged_identity(worst, tolerance)}


def judged_identity(worst: float, tolerance: float = IDENTITY_TOLERANCE) -> str:
    """An identity holds when the largest residual over the images stays below ``tolerance``."""
    from whynot.claims import judge

    return judge(worst, worst, "lower", tolerance)


def figure1_settings(changes: dict[str, pd.DataFrame], seed: int = 0) -> pd.DataFrame:
    """Fig. 1's caption ("The blue/red numbers are expected to decrease/increase"), per source,
    from :func:`blur_statistics` tables: the weighted maps raise the explained class's
    probability (``own > 0``), lower the other's (``-other > 0``), and move them apart more
    than the original maps do (paired: ``(own - other)`` weighted minus original)."""
    rows = []
    for source, table in changes.items():
        by = table.pivot(index="image", columns="contrast", values=["own", "other"])
        weighted, original = by.xs("weighted", axis=1, level=1), by.xs("original", axis=1, level=1)
        rows += [
            _setting(weighted.own, seed=seed, source=source,
                     comparison="rise of the explained class's p, weighted"),
            _setting(-weighted.other, seed=seed, source=source,
                     comparison="fall of the other class's p, weighted"),
            _setting((weighted.own - weighted.other) - (original.own - original.other),
                     seed=seed, source=source,
                     comparison="rise minus other's change, weighted - original"),
        ]
    return pd.DataFrame(rows)


def figure4_settings(top_two: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Fig. 4 from :func:`top_two_statistics` rows (with an ``input`` column), per input and
    method: ``wang-fig4-similar``, the paired drop of ``r(t1 map, t2 map)`` from original to
    weighted (Grad-CAM and LA, the paper's methods); ``reports-fig4``, the KTH report's
    "quite consistent" original pairs (``r > 0.5``) and "almost complementary" weighted pairs
    (``r < -0.5``), all three methods; ``reports-negative-areas``, the share of negative pixels
    of the original Grad-CAM maps (the reports: "much larger negative areas than positive",
    ``> 0.5``)."""
    similar, reports, negative = [], [], []
    for (source, method), group in top_two.groupby(["input", "method"], sort=False):
        r = group.pivot(index="image", columns="contrast", values="r")
        names = {"source": source, "method": method}
        if method in (METHOD_LABELS["gradcam"], METHOD_LABELS["la"]):
            similar.append(_setting(r.original - r.weighted, seed=seed, **names,
                                    comparison="r original - r weighted"))
        reports.append(_setting(r.original, "higher", 0.5, seed=seed, **names,
                                comparison="r of the original pair"))
        reports.append(_setting(r.weighted, "lower", -0.5, seed=seed, **names,
                                comparison="r of the weighted pair"))
        if method == METHOD_LABELS["gradcam"]:
            original = group[group.contrast == LABELS["logit"]]
            share = (original.negative_t1 + original.negative_t2) / 2
            negative.append(_setting(share, "higher", 0.5, seed=seed, **names,
                                     comparison="share of negative pixels, original"))
    return {"wang-fig4-similar": pd.DataFrame(similar), "reports-fig4": pd.DataFrame(reports),
            "reports-negative-areas": pd.DataFrame(negative)}


def figure5_settings(identities: pd.DataFrame, seed: int = 0) -> dict[str, pd.DataFrame]:
    """Fig. 5 from :func:`contrast_identities` rows (with an ``input`` column), per input:
    ``wang-fig5-mean``, the mean over the top three classes of ``r(mean map, original map)``
    against 0.9 ("almost the same"); ``wang-fig5-max-inverse``, the largest residual of
    ``max_1 + max_2`` over the images against :data:`IDENTITY_TOLERANCE`; ``reports-fig5``,
    both (the reports' Sec. 3.3 repeats them)."""
    mean, inverse = [], []
    for source, group in identities.groupby("input", sort=False):
        mean.append(_setting(group[["r1", "r2", "r3"]].mean(axis=1), "higher", 0.9, seed=seed,
                             source=source, comparison="r(mean map, original map)"))
        inverse.append(_worst(group.max_sum, source=source,
                              comparison="max |max_1 + max_2| / max |max_1|, worst image"))
    mean, inverse = pd.DataFrame(mean), pd.DataFrame(inverse)
    return {"wang-fig5-mean": mean, "wang-fig5-max-inverse": inverse,
            "reports-fig5": pd.concat([mean, inverse], ignore_index=True)}


def equivalence_settings(residuals: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Fig. 2 (``wang-fig2``), per source: the largest :func:`probability_equivalence` residual."""
    return pd.DataFrame([
        _worst(table.residual, source=source,
               comparison="Grad-CAM of p_t vs p_t (1 - p_t) x weighted, worst image")
        for source, table in residuals.items()])


#: Claims judged with an identity's tolerance rather than over images: one image decides.
IDENTITY_CLAIMS = ("wang-fig5-max-inverse", "wang-fig2")


def claim_records(settings: dict[str, pd.DataFrame], data: str) -> list:
    """One :class:`whynot.claims.Record` per claim from its settings table (``{claim id:
    settings}``, from :func:`figure1_settings` (as ``"wang-fig1"``), :func:`figure4_settings`,
    :func:`figure5_settings`, :func:`equivalence_settings` (as ``"wang-fig2"``)), by
    :func:`whynot.experiments.localization.settings_record`; ``data`` names the inputs."""
    from whynot.experiments.localization import MIN_IMAGES, settings_record

    return [settings_record(claim, rows, data=data,
                            min_images=1 if claim in IDENTITY_CLAIMS else MIN_IMAGES)
            for claim, rows in settings.items()]


def counted(inputs: Sequence[Source], rank: int = 2) -> list[Source]:
    """The sources with enough images whose ``rank``-th probability exceeds 0.1 to judge a claim
    (:data:`whynot.experiments.localization.MIN_IMAGES`); the others (the eight photos) are
    shown, not counted."""
    from whynot.experiments.localization import MIN_IMAGES

    return [s for s in inputs
            if int((s.probabilities.topk(rank, dim=1).values[:, rank - 1] > THRESHOLD).sum())
            >= MIN_IMAGES]
