r"""Blurring and masking (paper Sec. 5.2.2, Table 1): keep one sign of an explanation, replace the
rest of the image by a baseline, and read how sure the model stays of each of its top two classes.

For an image ``x`` with top-two classes :math:`t_1, t_2` (of the clean prediction) and a signed
map :math:`\phi` of class :math:`t_i` (GradCAM, LA or XGradCAM of the logit :math:`y_{t_i}`, the
papers' "original", or of the weighted contrast, their "weighted"; upsampled to the image),

.. math::
    x' = x \odot m + b(x) \odot (1 - m), \qquad
    m = [\phi \ge 0] \text{ (positive features kept)}, \quad m = [\phi \le 0] \text{ (negative kept)},

with the baseline :math:`b(x)` a Gaussian blur, the model's mean colour (zeros in its normalised
space) or the image's channel-wise mean (:data:`whynot.baselines.BASELINES`). The metric is the
relative probability on the masked image,

.. math:: \bar p_{t_i}(x') = e^{y_{t_i}(x')} / \big(e^{y_{t_1}(x')} + e^{y_{t_2}(x')}\big),

averaged over the images whose clean second probability :math:`p_{t_2}(x) > 0.1`. Keeping the
positive features of :math:`t_i` should raise it, keeping the negative ones should lower it, and
the paper claims the weighted maps do both more than the original ones.

**Equal blurring** (the KTH report's Table 1, suggested in the paper's appendix G): the original
and the weighted map of the same method, class and sign replace the *same number* of pixels,

.. math:: n = \min(n_{\text{original}}, n_{\text{weighted}}), \qquad
          n_c = \#\{\text{pixels } j : s\,\phi_c(j) < 0\},

``s = +1`` when positive features are kept and ``-1`` when negative ones are: each map replaces
its ``n`` pixels of lowest :math:`s\,\phi` (ties broken by the flat pixel index, row-major, the
lower index replaced first). As ``n`` is at most each map's own count, every replaced pixel lies in
the sign set its own map would replace: "positive features kept" stays true for both maps, and
the map with the smaller set keeps its plain mask exactly (so only the other map's mask is new,
and the grid runs 36 masks per image instead of 48). The authors' ``equal_blur`` (YW, reused by
the KTH report) counts the *opposite* sign set instead (``min #{phi > 0}`` when positive features
are kept, ``max #{phi < 0}`` when negative ones are) and, when negative features are kept,
replaces the ranks ``> HW - n``: ``n - 1`` pixels.

>>> table = masking_table(model, images)               # top-2 classes of each image  # doctest: +SKIP
>>> table.groupby(["variant", "kept", "contrast"]).r.mean()                           # doctest: +SKIP
"""
from __future__ import annotations

import hashlib
import json
import sys
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from whynot import baselines as baseline_images
from whynot.claims import Record, combine, judge, needs_full_profile, not_tested
from whynot.explainers import explain
from whynot.explainers.engine import check_images, check_logits
from whynot.experiments.images import (
    CUB_CHECKPOINT_ENV, CUB_ENV, cub_test, environment, load_images,
)
from whynot.experiments.plans import plan_batches
from whynot.experiments.runner import Experiment
from whynot.labels import CONTRAST_COLOURS, CONTRAST_LABELS, METHOD_LABELS
from whynot.metrics import relative_probability
from whynot.stats import bootstrap_ci, normal_halfwidth

METHODS = ("gradcam", "la", "xgradcam")
CONTRASTS = ("logit", "weighted")  # the papers' "original" and "weighted"
BASELINES = ("blur", "zeros", "mean")  # whynot.baselines.BASELINES: Table 1's three
KEPT = ("positive", "negative")
VARIANTS = ("plain", "equal")
TARGETS = ("t1", "t2")
#: The columns that name a cell of the grid (one row per image and condition).
CONDITIONS = ("variant", "baseline", "method", "contrast", "target", "kept")
THRESHOLD = 0.1  # images with p2 > THRESHOLD enter the table (the paper's and the report's)
VERSION = 1  # of the experiment's results: bump when masking_table() or the rows change

#: The papers' names.
LABELS = {**{c: CONTRAST_LABELS[c] for c in CONTRASTS}, **{m: METHOD_LABELS[m] for m in METHODS},
          "blur": "Gaussian blur", "zeros": "zeros", "mean": "channel mean"}


# --- which pixels are replaced -----------------------------------------------------------------

def _check_kept(kept: str) -> int:
    if kept not in KEPT:
        raise ValueError(f"kept must be 'positive' or 'negative' (which features stay); got {kept!r}.")
    return 1 if kept == "positive" else -1


def replaced_count(maps: Tensor, kept: str) -> Tensor:
    """``[..., H, W] -> [...]``: how many pixels plain masking replaces, ``#{j: s phi(j) < 0}``."""
    return (maps * _check_kept(kept) < 0).sum(dim=(-2, -1))


def plain_keep(maps: Tensor, kept: str) -> Tensor:
    """Boolean ``[..., H, W]``, True where the pixel stays: ``phi >= 0`` when positive features are
    kept, ``phi <= 0`` when negative ones are (zero-valued pixels are in neither set and stay)."""
    return maps * _check_kept(kept) >= 0


def rank_keep(maps: Tensor, kept: str, count: Tensor | int) -> Tensor:
    """Boolean ``[..., H, W]`` that replaces exactly ``count`` (``[...]`` or an int) pixels of each
    map: those of lowest ``s phi`` (``s = +1`` for positive kept, ``-1`` for negative kept), ties
    broken by the flat pixel index (row-major), the lower index replaced first."""
    score = (maps * _check_kept(kept)).flatten(-2)
    order = torch.sort(score, dim=-1, stable=True).indices
    positions = torch.arange(score.shape[-1], device=score.device).expand_as(order)
    ranks = torch.empty_like(order).scatter_(-1, order, positions)
    count = torch.as_tensor(count, device=score.device)
    if (count < 0).any() or (count > score.shape[-1]).any():
        raise ValueError(f"count must be in [0, {score.shape[-1]}] pixels; got {count.tolist()}.")
    return (ranks >= count[..., None]).view(maps.shape)


def equal_keep(original: Tensor, weighted: Tensor, kept: str) -> tuple[Tensor, Tensor]:
    """Equal blurring: both maps replace ``n = min(n_original, n_weighted)`` pixels
    (:func:`replaced_count`), each its ``n`` of lowest ``s phi`` (:func:`rank_keep`)."""
    if original.shape != weighted.shape:
        raise ValueError(f"the two maps must have one shape; got {tuple(original.shape)} and "
                         f"{tuple(weighted.shape)}.")
    count = torch.minimum(replaced_count(original, kept), replaced_count(weighted, kept))
    return rank_keep(original, kept, count), rank_keep(weighted, kept, count)


# --- the grid: every baseline, method, contrast, class, sign and variant of a batch -------------

def _baselines(names_or_functions) -> dict[str, Callable[[Tensor, nn.Module], Tensor]]:
    if isinstance(names_or_functions, Mapping):
        return dict(names_or_functions)
    unknown = [n for n in names_or_functions if n not in baseline_images.BASELINES]
    if unknown or not names_or_functions:
        raise ValueError(f"unknown baselines {unknown}; choose from {list(baseline_images.BASELINES)} "
                         "or pass a dict name -> function(images, model)")
    return {name: baseline_images.BASELINES[name] for name in names_or_functions}


def _top_two(logits: Tensor, classes) -> Tensor:
    if classes is None:
        return logits.topk(2, dim=1).indices
    classes = torch.as_tensor(classes, device=logits.device).long()
    if classes.shape != (logits.shape[0], 2):
        raise ValueError(f"classes must be [B, 2] = [{logits.shape[0]}, 2], the pair (t1, t2) of "
                         f"each image (or None for the top two); got {tuple(classes.shape)}.")
    if (classes < 0).any() or (classes >= logits.shape[1]).any():
        raise ValueError(f"classes out of range for {logits.shape[1]} classes.")
    return classes


def default_chunk_size(images: Tensor) -> int:
    """Masked copies per forward pass: about 2^20 pixels of them on a CPU, 2^24 on a GPU.

    On a CPU the cost per image of a CNN grows with the batch once its activations leave the
    caches (EfficientNet-Lite0 at 224 px: 20 ms an image at batch 8, 30 at 64); a GPU wants
    large batches. 56-pixel SynthBirds images go 334 at a time on a CPU, 224-pixel ones 20.
    """
    pixels = images.shape[-2] * images.shape[-1]
    return max(1, (2**24 if images.is_cuda else 2**20) // pixels)


@torch.no_grad()
def masked_pair_logits(model: nn.Module, images: Tensor, keep: Tensor, baselines: Tensor,
                       pair: Tensor, chunk_size: int) -> Tensor:
    """Logits of the pair ``[B, 2]`` on every masked copy: ``[B, M, S, 2]`` for ``keep [B, M, H, W]``
    and ``baselines [B, S, 3, H, W]``. The ``B * M * S`` masked images are built chunk by chunk
    (:func:`whynot.baselines.blend`), ``chunk_size`` per forward pass, so memory stays bounded;
    each chunk goes in channels-last memory format (the same numbers up to round-off; on CPU
    1.1-1.7x faster for our small CNNs)."""
    batch, masks, scenes = keep.shape[0], keep.shape[1], baselines.shape[1]
    total = batch * masks * scenes
    out = torch.empty(total, 2, dtype=images.dtype, device=images.device)
    for start in range(0, total, chunk_size):
        index = torch.arange(start, min(start + chunk_size, total), device=images.device)
        b, m, s = index // (masks * scenes), index // scenes % masks, index % scenes
        masked = baseline_images.blend(images[b], keep[b, m], baselines[b, s])
        logits = model(masked.contiguous(memory_format=torch.channels_last))
        out[start:start + len(index)] = logits.gather(1, pair[b])
    return out.view(batch, masks, scenes, 2)


def masking_table(
    model: nn.Module,
    images: Tensor,
    classes=None,
    methods: Sequence[str] = METHODS,
    baselines: Sequence[str] | Mapping[str, Callable] = BASELINES,
    layer: str | nn.Module | None = None,
    chunk_size: int | None = None,
) -> pd.DataFrame:
    r"""Table 1 for a batch: one row per image, variant, baseline, method, contrast, class and sign.

    ``images [B, 3, H, W]`` in [0, 1]; ``classes`` the pair ``(t_1, t_2)`` per image ``[B, 2]``
    (default: the top two of the clean prediction). One forward and ``k + 2 = 4`` backward passes
    give every method's original and weighted maps (:func:`whynot.explain`); each image's
    baselines are computed once; the ``2 kept x |methods| x 2 contrasts x 2 classes`` plain masks
    and the equal-blurring masks that differ from them (one per method, class and sign) run under
    every baseline as one stack of masked copies, ``chunk_size`` per forward pass (default
    :func:`default_chunk_size`).

    Columns: ``image`` (position in ``images``), ``t1``, ``t2``, ``p1``, ``p2`` (clean), the
    condition (``variant``, ``baseline``, ``method``, ``contrast``, ``target`` "t1"/"t2", ``kept``),
    ``replaced`` (share of pixels replaced), ``r`` (:math:`\bar p_{t_i}` of the masked image) and
    ``r_unmasked`` (the same on the clean image).
    """
    check_images(images)
    functions = _baselines(baselines)
    if isinstance(methods, str) or not methods:
        raise ValueError(f"methods must be a sequence of CAM names, e.g. {METHODS}; got {methods!r}.")
    if chunk_size is None:
        chunk_size = default_chunk_size(images)
    if not (isinstance(chunk_size, int) and chunk_size > 0):
        raise ValueError(f"chunk_size must be a positive int or None; got {chunk_size!r}.")
    with torch.no_grad():
        logits = model(images)
    check_logits(logits, images.shape[0])
    pair = _top_two(logits, classes)
    explained = explain(model, images, method=tuple(methods), layer=layer, classes=pair,
                        contrast=CONTRASTS)
    # [B, kept, method, contrast, class, H, W]; s phi, so that every sign replaces s phi < 0
    maps = torch.stack([torch.stack([explained[m][c] for c in CONTRASTS], 1) for m in methods], 1)
    score = torch.stack([maps, -maps], 1).detach()
    plain = score >= 0
    counts = (score < 0).sum(dim=(-2, -1))  # [B, kept, method, contrast, class]
    smaller = counts.min(dim=3).values  # equal blurring's n
    larger_is_weighted = counts[:, :, :, 1] > counts[:, :, :, 0]  # the map whose mask changes
    trimmed = rank_keep(torch.where(larger_is_weighted[..., None, None], score[:, :, :, 1],
                                    score[:, :, :, 0]), "positive", smaller)
    batch, height, width = images.shape[0], images.shape[-2], images.shape[-1]
    keep = torch.cat([plain.reshape(batch, -1, height, width),
                      trimmed.reshape(batch, -1, height, width)], dim=1)
    stack = torch.stack([functions[name](images, model) for name in functions], 1).to(images.dtype)
    pair_logits = masked_pair_logits(model, images.detach(), keep, stack.detach(), pair, chunk_size)
    # the pair's own logits, so (t1, t2) are positions (0, 1) of the last axis
    r = relative_probability(pair_logits, torch.arange(2, device=pair.device).expand_as(pair_logits))
    n_plain = plain[:, :, :, :, :, 0, 0].numel() // batch
    shape = (batch, 2, len(methods), len(CONTRASTS), 2, len(functions), 2)  # ..., class, S, pair
    r_plain = r[:, :n_plain].reshape(shape)
    r_trimmed = r[:, n_plain:].reshape(batch, 2, len(methods), 1, 2, len(functions), 2)
    # the map whose count is strictly larger got the trimmed mask; the other keeps its plain one
    changed = torch.stack([counts[:, :, :, 0] > counts[:, :, :, 1], larger_is_weighted], 3)
    r_equal = torch.where(changed[..., None, None], r_trimmed, r_plain)
    # the relative probability of the map's own class t_i: the pair axis picks i
    own = torch.arange(2, device=r.device)
    values = torch.stack([r_plain, r_equal], 1)[..., own, :, own].permute(1, 2, 3, 4, 5, 0, 6)
    # -> [B, variant, kept, method, contrast, class, S]; replaced shares likewise (no S)
    replaced = torch.stack([counts, smaller[:, :, :, None].expand_as(counts)], 1) / (height * width)
    values = values.permute(0, 1, 6, 3, 4, 5, 2)  # [B, variant, S, method, contrast, class, kept]
    replaced = replaced.permute(0, 1, 3, 4, 5, 2)[:, :, None].expand_as(values)
    conditions = pd.MultiIndex.from_product(
        [VARIANTS, list(functions), list(methods), CONTRASTS, TARGETS, KEPT],
        names=CONDITIONS).to_frame(index=False)
    per_image = len(conditions)
    probabilities = logits.softmax(dim=1).gather(1, pair)
    clean = relative_probability(logits, pair)  # [B, 2]
    table = conditions.iloc[np.tile(np.arange(per_image), batch)].reset_index(drop=True)
    image_columns = {"image": np.arange(batch), "t1": pair[:, 0], "t2": pair[:, 1],
                     "p1": probabilities[:, 0], "p2": probabilities[:, 1]}
    for position, (name, column) in enumerate(image_columns.items()):
        column = column.cpu().numpy() if isinstance(column, Tensor) else column
        table.insert(position, name, np.repeat(column, per_image))
    table["replaced"] = replaced.reshape(-1).cpu().double().numpy()
    table["r"] = values.reshape(-1).cpu().double().numpy()
    target_index = (table.target == "t2").to_numpy().astype(int)
    table["r_unmasked"] = clean.cpu().double().numpy()[table.image.to_numpy(), target_index]
    for name in CONDITIONS:
        table[name] = table[name].astype("category")
    return table


# --- the experiment, for the runner (python -m whynot.experiments run blurring --profile P) -----

#: Per profile: (model, data, number of images scanned) and the batch size; data "synthbirds"
#: (test split) or "cub" (CUB-200-2011 test split in ``$WHYNOT_CUB``, model ``vgg16_bn_cub`` from
#: the fine-tuned checkpoint in ``$WHYNOT_CUB_VGG16_BN``). Of the scanned images, those with
#: p2 > THRESHOLD get the whole grid, and so does every ``below_every``-th image (by index)
#: below it: the reports' "dominating classes".
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 27)], "batch_size": 27, "below_every": 9},
    "default": {"models": [(m, "synthbirds", 1080) for m in
                           ("synth_vgg", "synth_resnet", "synth_mobile")],
                "batch_size": 36, "below_every": 8},
    "full": {"models": [("vgg16_bn_cub", "cub", 5794)], "batch_size": 64, "below_every": 8},
}
SUBSETS = {"above": f"p2 > {THRESHOLD}", "below": f"p2 <= {THRESHOLD} (sampled)",
           "scanned": f"p2 <= {THRESHOLD} (scan only)"}


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The Table 1 experiment of ``profile`` (:data:`PLANS`), optionally restricted to ``models``
    or to the first ``n_images`` of each (class-balanced on SynthBirds, a seeded shuffle on CUB).

    Each batch scans its images (one batched forward pass: ``p1``, ``p2``), then runs
    :func:`masking_table` on those with ``p2 > 0.1`` and on every ``below_every``-th image
    (by index) below the threshold. The choice depends only on the image and the model, so
    batches are independent: the runner resumes and shards them like any other.
    """
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    below_every = PLANS[profile]["below_every"]
    config = {"profile": profile, "seed": seed, "models": chosen, "threshold": THRESHOLD,
              "below_every": below_every, "methods": list(METHODS), "contrasts": list(CONTRASTS),
              "baselines": list(BASELINES), "blur_at_224": list(baseline_images.TABLE1_BLUR),
              "variants": list(VARIANTS), "equal_count": "min of the two replaced sign sets",
              "weights": {m: weights_fingerprint(m) for m, _, _ in chosen}}
    if any(d == "synthbirds" for _, d, _ in chosen):
        from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

        config["synthbirds_version"] = SYNTHBIRDS_VERSION

    @lru_cache(maxsize=1)
    def model_on(name: str, device: str) -> nn.Module:
        return load_model(name, device)

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        images, labels = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        table = batch_table(model, images.to(device), labels, batch["start"], below_every)
        table.insert(0, "data", batch["data"])
        table.insert(0, "model", batch["model"])
        return table

    return Experiment("blurring", VERSION, config, batches, run_batch)


def batch_table(model: nn.Module, images: Tensor, labels: Tensor, first_index: int,
                below_every: int) -> pd.DataFrame:
    """One batch of the experiment: the scan and the grid.

    Every image gets two ``variant == "unmasked"`` rows (``target`` t1 and t2, ``r`` its clean
    relative probability); the images with ``p2 > THRESHOLD`` (``subset`` "above") and those
    below it whose index is a multiple of ``below_every`` ("below") get the
    :func:`masking_table` rows too; the other images are "scanned" only. ``image`` counts from
    ``first_index``.
    """
    with torch.no_grad():
        logits = torch.cat([model(part) for part in images.split(default_chunk_size(images))])
    check_logits(logits, images.shape[0])
    top = logits.softmax(dim=1).topk(2, dim=1)
    index = torch.arange(first_index, first_index + images.shape[0])
    above = (top.values[:, 1] > THRESHOLD).cpu()
    below = ~above & (index % below_every == 0)
    subset = np.where(above, "above", np.where(below, "below", "scanned"))
    clean = relative_probability(logits, top.indices).cpu().double().numpy()
    scan = pd.DataFrame({
        "image": np.repeat(index.numpy(), 2), "label": np.repeat(labels.numpy(), 2),
        "subset": np.repeat(subset, 2), "t1": np.repeat(top.indices[:, 0].cpu().numpy(), 2),
        "t2": np.repeat(top.indices[:, 1].cpu().numpy(), 2),
        "p1": np.repeat(top.values[:, 0].cpu().double().numpy(), 2),
        "p2": np.repeat(top.values[:, 1].cpu().double().numpy(), 2),
        "variant": "unmasked", "target": np.tile(TARGETS, images.shape[0]),
        "replaced": 0.0, "r": clean.reshape(-1), "r_unmasked": clean.reshape(-1)})
    tables = [scan]
    chosen = (above | below).nonzero()[:, 0]
    if len(chosen):
        grid = masking_table(model, images[chosen.to(images.device)],
                             top.indices[chosen.to(images.device)])
        position = grid.image.to_numpy()  # in the chosen images
        grid["image"] = index[chosen].numpy()[position]
        grid.insert(1, "label", labels[chosen].numpy()[position])
        grid.insert(2, "subset", subset[chosen.numpy()][position])
        tables.append(grid.astype({c: object for c in CONDITIONS}))
    table = pd.concat(tables, ignore_index=True)[COLUMNS]
    return table.astype({c: pd.CategoricalDtype(v) for c, v in CATEGORIES.items()})


CATEGORIES = {"subset": tuple(SUBSETS), "variant": ("unmasked", *VARIANTS), "baseline": BASELINES,
              "method": METHODS, "contrast": CONTRASTS, "target": TARGETS, "kept": KEPT}
COLUMNS = ["image", "label", "subset", "t1", "t2", "p1", "p2", *CONDITIONS, "replaced", "r",
           "r_unmasked"]


def load_model(name: str, device: str | torch.device = "cpu") -> nn.Module:
    """A zoo model, or ``vgg16_bn_cub``: :func:`cub_architecture` with the fine-tuned weights of
    the :func:`whynot.models.finetune.finetune_cub` checkpoint in ``$WHYNOT_CUB_VGG16_BN``."""
    if name != "vgg16_bn_cub":
        from whynot.models.zoo import load_model as zoo_model

        return zoo_model(name, device)
    from whynot.models.finetune import load_finetuned

    model = cub_architecture(cub_test(environment(CUB_ENV), 224).class_names)
    return load_finetuned(model, environment(CUB_CHECKPOINT_ENV)).to(device).eval()


def cub_architecture(class_names: Sequence[str]) -> nn.Module:
    """The authors' VGG16-BN with a ``len(class_names)`` head, without weights (to be loaded)."""
    from whynot.models.finetune import cub_vgg16_bn

    return cub_vgg16_bn(class_names, imagenet_weights=False)


def weights_fingerprint(name: str) -> str:
    """What identifies the weights in the store's configuration: the sha256 prefix of the CUB
    checkpoint for ``vgg16_bn_cub``, else :func:`whynot.experiments.plans.weights_fingerprint`."""
    if name != "vgg16_bn_cub":
        from whynot.experiments.plans import weights_fingerprint as zoo_fingerprint

        return zoo_fingerprint(name)
    digest = hashlib.sha256()
    with open(environment(CUB_CHECKPOINT_ENV), "rb") as file:
        for block in iter(lambda: file.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


# --- the table, the claims, the papers' numbers --------------------------------------------------

#: One cell of Table 1 (per model and subset of images), before the contrast.
CELL = ["model", "subset", "variant", "baseline", "method", "target", "kept"]


def expected_direction(kept: str) -> str:
    """Which way the relative probability of ``t_i`` should move when only ``kept`` features of
    ``t_i`` stay: the metric's declared ``DIRECTION`` for positive features, its
    ``DIRECTION_NEGATIVE_KEPT`` for negative ones."""
    metric = sys.modules[relative_probability.__module__]
    return metric.DIRECTION if _check_kept(kept) > 0 else metric.DIRECTION_NEGATIVE_KEPT


#: +1 where keeping the features should raise r (positive kept), -1 where it should lower it
#: (the relative probability's declared directions, :func:`expected_direction`).
EXPECTED = {kept: 1 if expected_direction(kept) == "higher" else -1 for kept in KEPT}
#: Per-image changes and differences of r are compared at this resolution: two identical masked
#: images can differ by float32 round-off when they run at other positions of a batch, and such
#: noise must read as "no difference" on every machine.
RESOLUTION = 1e-6


def _resolved(values) -> np.ndarray:
    return np.round(np.asarray(values, dtype=float) / RESOLUTION) * RESOLUTION


def masked_rows(table: pd.DataFrame) -> pd.DataFrame:
    """The grid rows of an experiment table (without the scan's ``unmasked`` rows), with the
    models in the order of the table (so that every summary lists them as the plan does)."""
    models = list(dict.fromkeys(table.model))
    return table[table.variant != "unmasked"].astype(
        {c: pd.CategoricalDtype(v) for c, v in CATEGORIES.items() if c != "variant"}
        | {"variant": pd.CategoricalDtype(VARIANTS), "model": pd.CategoricalDtype(models)})


def summarize(table: pd.DataFrame) -> pd.DataFrame:
    r"""Per cell and contrast: mean :math:`\bar p_{t_i}` (``r``) with its normal 95 % half-width
    (``r_ci``), the unmasked mean over the same images, the mean share of pixels replaced and
    the number of images."""
    rows = masked_rows(table)
    grouped = rows.groupby([*CELL, "contrast"], observed=True, sort=True)
    summary = grouped[["r", "r_unmasked", "replaced"]].mean()
    summary["r_ci"] = grouped.r.agg(normal_halfwidth)
    summary["images"] = grouped.size()
    return summary.reset_index()


def _paired(rows: pd.DataFrame, column: str = "r") -> pd.DataFrame:
    """One row per image and cell, one column per contrast."""
    return rows.pivot_table(index=[*CELL, "image"], columns="contrast", values=column,
                            observed=True).reset_index()


def compare_contrasts(table: pd.DataFrame, seed: int = 0, n_resamples: int = 2000) -> pd.DataFrame:
    r"""Per cell: the mean paired difference weighted - original of :math:`\bar p_{t_i}` over the
    same images (each at :data:`RESOLUTION`), with a 95 % paired bootstrap interval (images
    resampled, ``seed``), and the ``advantage`` of weighted in the paper's direction (the
    difference where positive features are kept, minus it where negative ones are).
    ``winner``: "weighted" or "original" where the interval of the advantage excludes 0 on that
    side, else "neither"."""
    paired = _paired(masked_rows(table))
    rows = []
    for cell, group in paired.groupby(CELL, observed=True, sort=True):
        difference = _resolved(group.weighted - group.logit)
        low, high = bootstrap_ci(difference, n_resamples=n_resamples, seed=seed)
        sign = EXPECTED[dict(zip(CELL, cell))["kept"]]
        advantage = sorted((sign * low, sign * high))
        winner = ("weighted" if advantage[0] > 0 else "original" if advantage[1] < 0
                  else "neither")
        rows.append({**dict(zip(CELL, cell)), "difference": difference.mean(),
                     "low": low, "high": high, "advantage": sign * difference.mean(),
                     "advantage_low": advantage[0], "advantage_high": advantage[1],
                     "winner": winner, "images": len(difference)})
    return pd.DataFrame(rows)


def compare_with_unmasked(table: pd.DataFrame) -> pd.DataFrame:
    r"""Per cell and contrast: the mean change of :math:`\bar p_{t_i}` from the unmasked image,
    with its normal 95 % interval, and whether it goes the expected way (up where positive
    features are kept, down where negative ones are): "as expected", "opposite" or "unresolved"
    (the interval contains 0)."""
    rows = masked_rows(table).assign(change=lambda t: _resolved(t.r - t.r_unmasked))
    grouped = rows.groupby([*CELL, "contrast"], observed=True, sort=True).change
    result = pd.DataFrame({"change": grouped.mean(), "ci": grouped.agg(normal_halfwidth),
                           "images": grouped.size()}).reset_index()
    sign = result.kept.map(EXPECTED).astype(float)
    low, high = sign * result.change - result.ci, sign * result.change + result.ci
    result["direction"] = np.where(low > 0, "as expected",
                                   np.where(high < 0, "opposite", "unresolved"))
    return result


# --- the claims (whynot.claims.ch04): records from the comparisons above -----------------------

#: What a cell is, on the claims page.
CELLS_UNIT = "cells (model x masking x baseline x method x class x sign)"
#: Table 1's methods (the paper's) and the KTH report's extra one.
PAPER_METHODS, REPORT_METHODS = ("gradcam", "la"), ("xgradcam",)


def _context(rows: pd.DataFrame) -> dict[str, str]:
    return {"model": ", ".join(dict.fromkeys(rows.model.astype(str)))}


def _combined(claim: str, verdicts: Sequence[str], why: str, **context) -> Record:
    """One record over the cells' verdicts; "not tested" where the run has no such cell."""
    if not verdicts:
        return not_tested(claim, "this run has no cell of this kind (method, masking)")
    return Record(claim, combine(verdicts), why, n=len(verdicts), **context)


def _tally(verdicts: Sequence[str]) -> str:
    found = Counter(verdicts)
    return (f"holds in {found['holds']}, does not hold in {found['does not hold']}, not "
            f"resolved in {found['not resolved']} of {len(verdicts)}")


def weighted_better_record(claim: str, differences: pd.DataFrame,
                           methods: Sequence[str] = PAPER_METHODS,
                           variants: Sequence[str] = VARIANTS, data: str = "") -> Record:
    """Weighted moves the relative probability the expected way (:func:`expected_direction`)
    more than original: per cell of :func:`compare_contrasts` (images with ``p2 > 0.1``), its
    paired interval judged by :func:`whynot.claims.judge`, combined over the cells."""
    cells = differences[(differences.subset == "above") & differences.method.isin(methods)
                        & differences.variant.isin(variants)]
    verdicts = [judge(row.low, row.high, expected_direction(row.kept))
                for row in cells.itertuples()]
    why = f"weighted better than original: {_tally(verdicts)} cells"
    if set(variants) == {"equal"} and set(VARIANTS) <= set(differences.variant):
        winners = differences[(differences.subset == "above")
                              & differences.method.isin(methods)].pivot_table(
            index=["model", "baseline", "method", "target", "kept"], columns="variant",
            values="winner", aggfunc="first", observed=True)
        why += (f"; the winner differs from plain masking in "
                f"{int((winners.plain != winners.equal).sum())} of {len(winners)}")
    return _combined(claim, verdicts, why, unit=CELLS_UNIT, data=data, **_context(cells))


def direction_record(claim: str, directions: pd.DataFrame, contrast: str,
                     methods: Sequence[str] = PAPER_METHODS, target: str | None = None,
                     kept: str | None = None, claimed: str | None = None,
                     data: str = "") -> Record:
    """The mean change of the relative probability from the unmasked image
    (:func:`compare_with_unmasked`, images with ``p2 > 0.1``) for ``contrast``'s maps, per cell
    (optionally one ``target`` and ``kept``), judged ``claimed`` (default: the expected
    direction of each cell's sign) and combined over the cells."""
    cells = directions[(directions.subset == "above") & (directions.contrast == contrast)
                       & directions.method.isin(methods)]
    if target is not None:
        cells = cells[cells.target == target]
    if kept is not None:
        cells = cells[cells.kept == kept]
    verdicts = [judge(row.change - row.ci, row.change + row.ci,
                      claimed or expected_direction(row.kept)) for row in cells.itertuples()]
    what = {"higher": "up", "lower": "down", None: "the expected way"}[claimed]
    why = f"{LABELS[contrast]} maps move p̄ {what}: {_tally(verdicts)} cells"
    return _combined(claim, verdicts, why, unit=CELLS_UNIT, data=data, **_context(cells))


def xgradcam_advantage(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    r"""The KTH report's "XGradCAM performed slightly better on the negative features and for
    positive features for t_2", per model, masking and other method (Grad-CAM, LA): per image
    (``p2 > 0.1``), the mean over those cells' baselines of XGrad-CAM's weighted
    :math:`\bar p_{t_i}` minus the other method's, signed so that positive is the expected way;
    its mean over images with a bootstrap 95 % interval."""
    rows = masked_rows(table)
    rows = rows[(rows.subset == "above") & (rows.contrast == "weighted")
                & ((rows.kept == "negative") | (rows.target == "t2"))]
    wide = rows.pivot_table(index=["model", "variant", "image", "baseline", "target", "kept"],
                            columns="method", values="r", observed=True).reset_index()
    sign = wide.kept.map(EXPECTED).astype(float)
    result = []
    for other in PAPER_METHODS if "xgradcam" in wide else ():
        wide["advantage"] = sign * (wide.xgradcam - wide[other])
        per_image = wide.groupby(["model", "variant", "image"], observed=True).advantage.mean()
        for (model, variant), values in per_image.groupby(level=["model", "variant"],
                                                           sort=False):
            low, high = bootstrap_ci(values.to_numpy(), seed=seed)
            result.append({"model": model, "variant": variant, "other": other,
                           "advantage": values.mean(), "low": low, "high": high,
                           "images": len(values)})
    return pd.DataFrame(result, columns=["model", "variant", "other", "advantage", "low", "high",
                                         "images"])


def xgradcam_record(advantage: pd.DataFrame, data: str = "") -> Record:
    """``reports-xgradcam-better`` from :func:`xgradcam_advantage`: XGrad-CAM's advantage above
    0 against Grad-CAM and LA in every model and masking, combined."""
    verdicts = [judge(row.low, row.high, "higher") for row in advantage.itertuples()]
    return _combined("reports-xgradcam-better", verdicts,
                     f"XGrad-CAM better than Grad-CAM / LA: {_tally(verdicts)} model x masking "
                     "x method cases", unit="model x masking x method cases", data=data,
                     **_context(advantage))


def table1_records(table: pd.DataFrame, differences: pd.DataFrame, directions: pd.DataFrame,
                   seed: int = 0) -> list[Record]:
    """Every claim of :mod:`whynot.claims.ch04`, from one experiment table and its comparisons
    (:func:`compare_contrasts`, :func:`compare_with_unmasked`)."""
    data = ", ".join(dict.fromkeys(table.data))
    scan = table[table.variant == "unmasked"].drop_duplicates(["model", "image"])
    above = int((scan.subset == "above").sum())
    records = [
        weighted_better_record("wang-table1-weighted-better", differences, data=data),
        direction_record("wang-table1-weighted-direction", directions, "weighted", data=data),
        direction_record("wang-table1-logit-fails", directions, "logit", target="t2",
                         kept="negative", claimed="higher", data=data),
        not_tested("wang-table1-selection",
                   f"a choice of method that we follow ({above} of {len(scan)} scanned images "
                   "pass it); whether results depend on it is the reports' dominating-classes "
                   "claim, chapter 05"),
        not_tested("wang-table1-other-datasets", "no loaders or fine-tuned models for FGVC, "
                   "Food-101, Flower-102 and Stanford Cars; CUB-200 runs in the full profile"),
        weighted_better_record("reports-equal-blurring", differences, METHODS, ("equal",),
                               data=data),
        weighted_better_record("reports-xgradcam-similar", differences, REPORT_METHODS,
                               data=data),
        xgradcam_record(xgradcam_advantage(table, seed=seed), data=data),
    ]
    if data == "cub":
        records.append(weighted_better_record("reports-table1-similar", differences, METHODS,
                                              ("equal",), data=data))
    else:
        records.append(needs_full_profile(
            "reports-table1-similar", "the full profile runs Table 1 on CUB-200's test split "
            "with the fine-tuned VGG16-BN, the reports' setting"))
    return records


def reference() -> dict:
    """The paper's and the KTH report's Table 1 CUB rows (and the report's below-threshold row)."""
    from importlib.resources import files

    return json.loads(files("whynot").joinpath("reference", "blurring_cub.json").read_text())


def _reference_rows(source: str, label: str) -> list[dict]:
    rows = []
    for method, targets in reference()[source].items():
        for target, numbers in targets.items():
            row = {"method": method, "target": target, "source": label,
                   ("unmasked", "", ""): numbers["unmasked"]}
            for baseline, by_kept in numbers["masked"].items():
                for kept, by_contrast in by_kept.items():
                    for contrast, value in by_contrast.items():
                        row[(baseline, kept, contrast)] = value
            rows.append(row)
    return rows


REFERENCES = {"above": [("paper", "paper (CUB)"), ("kth", "KTH (CUB, equal)")],
              "below": [("kth_below_threshold", "KTH (CUB, equal, p2 < 0.1)")]}


def side_by_side(summary: pd.DataFrame, model: str, subset: str = "above") -> pd.DataFrame:
    """Table 1 as the paper prints it: rows method x class x source (the published CUB rows for
    this ``subset`` of images, :data:`REFERENCES`, then ours plain and ours equal for ``model``),
    columns the unmasked mean and baseline x kept x contrast. NaN where a source has no row."""
    ours = summary[(summary.model == model) & (summary.subset == subset)]
    if ours.empty:
        raise ValueError(f"no {subset!r} rows for model {model!r} in the summary")
    rows = [row for source, label in REFERENCES[subset] for row in _reference_rows(source, label)]
    for variant in VARIANTS:
        mine = ours[ours.variant == variant]
        for (method, target), group in mine.groupby(["method", "target"], observed=True):
            row = {"method": method, "target": target, "source": f"ours: {model}, {variant}",
                   ("unmasked", "", ""): group.r_unmasked.iloc[0]}
            for item in group.itertuples():
                row[(item.baseline, item.kept, item.contrast)] = item.r
            rows.append(row)
    sources = list(dict.fromkeys(row["source"] for row in rows))
    rows.sort(key=lambda row: (METHODS.index(row["method"]), row["target"],
                               sources.index(row["source"])))
    frame = pd.DataFrame(rows).set_index(["method", "target", "source"])
    columns = [("unmasked", "", "")] + [(b, k, c) for b in BASELINES for k in KEPT
                                        for c in CONTRASTS]
    frame = frame.reindex(columns=columns)
    frame.columns = pd.MultiIndex.from_tuples(
        [(LABELS.get(b, b), k, LABELS.get(c, c)) for b, k, c in columns],
        names=["baseline", "features kept", "contrast"])
    return frame.rename(index=LABELS, level="method")


def reference_winners(source: str = "paper") -> pd.DataFrame:
    """Per cell of a reference table: the advantage of weighted in the paper's direction."""
    rows = []
    for row in _reference_rows(source, source):
        for baseline in BASELINES:
            for kept in KEPT:
                difference = row[(baseline, kept, "weighted")] - row[(baseline, kept, "logit")]
                rows.append({"method": row["method"], "target": row["target"],
                             "baseline": baseline, "kept": kept,
                             "advantage": EXPECTED[kept] * difference})
    return pd.DataFrame(rows)


# --- figures ------------------------------------------------------------------------------------

SHORT = {"gradcam": "GC", "la": "LA", "xgradcam": "XC"}  # the KTH report's abbreviations


def plot_table1(summary: pd.DataFrame, model: str, variant: str = "plain", subset: str = "above"):
    r"""Table 1 of one model as bars: rows positive / negative features kept, one column per
    baseline; for each method and class the original (grey) and weighted (blue) mean
    :math:`\bar p_{t_i}` with 95 % intervals, and the unmasked mean (black tick)."""
    import matplotlib.pyplot as plt

    data = summary[(summary.model == model) & (summary.variant == variant)
                   & (summary.subset == subset)]
    groups = [(m, t) for m in METHODS for t in TARGETS]
    fig, axes = plt.subplots(len(KEPT), len(BASELINES), figsize=(9.2, 5.6), sharey=True,
                             squeeze=False)
    width = 0.38
    for row, kept in enumerate(KEPT):
        for column, baseline in enumerate(BASELINES):
            ax = axes[row, column]
            cell = data[(data.kept == kept) & (data.baseline == baseline)]
            for g, (method, target) in enumerate(groups):
                bars = cell[(cell.method == method) & (cell.target == target)]
                for offset, contrast in zip((-width / 2, width / 2), CONTRASTS):
                    item = bars[bars.contrast == contrast]
                    ax.bar(g + offset, item.r, width, yerr=item.r_ci,
                           color=CONTRAST_COLOURS[contrast],
                           label=LABELS[contrast] if g == 0 else None, capsize=2)
                ax.hlines(bars.r_unmasked.iloc[0], g - width, g + width, color="black",
                          linewidth=1.5, label="unmasked" if g == 0 else None)
            ax.set_xticks(range(len(groups)), [f"{SHORT[m]} {t}" for m, t in groups],
                          fontsize="small")
            ax.set_ylim(0, 1)
            if row == 0:
                ax.set_title(LABELS[baseline], fontsize="medium")
            if column == 0:
                ax.set_ylabel(f"{kept} features kept\n" + r"mean $\bar p_{t_i}$")
    images = int(data.images.max()) if len(data) else 0
    fig.suptitle(f"{model}: Table 1 ({variant} masking), {images} images with {SUBSETS[subset]}",
                 y=0.99)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=3,
               fontsize="small", frameon=False, bbox_to_anchor=(0.5, 0.95))
    fig.tight_layout(rect=(0, 0, 1, 0.9))
    return fig


def plot_advantage(differences: pd.DataFrame, subset: str = "above"):
    """The advantage of weighted over original in the paper's direction, per cell, with its
    paired bootstrap 95 % interval: one panel per variant, one colour per model; right of the
    dashed line, weighted moves the relative probability the expected way more than original."""
    import matplotlib.pyplot as plt

    data = differences[differences.subset == subset]
    models = list(dict.fromkeys(data.model))
    cells = [(b, m, t, k) for k in KEPT for b in BASELINES for m in METHODS for t in TARGETS]
    fig, axes = plt.subplots(1, len(VARIANTS), figsize=(9.2, 0.22 * len(cells) + 1.5),
                             sharey=True, sharex=True, squeeze=False)
    palette = plt.get_cmap("tab10")
    for column, variant in enumerate(VARIANTS):
        ax = axes[0, column]
        for i, model in enumerate(models):
            mine = data[(data.model == model) & (data.variant == variant)].set_index(
                ["baseline", "method", "target", "kept"])
            if mine.empty:
                continue
            mine = mine.reindex(cells)
            y = np.arange(len(cells)) + (i - (len(models) - 1) / 2) * 0.22
            ax.errorbar(mine.advantage, y, xerr=[mine.advantage - mine.advantage_low,
                                                 mine.advantage_high - mine.advantage],
                        fmt="o", markersize=3, color=palette(i), label=model, linewidth=1)
        ax.axvline(0, color="black", linestyle="--", linewidth=0.8)
        ax.set_title(f"{variant} masking", fontsize="medium")
        ax.set_xlabel("advantage of weighted", fontsize="small")
    axes[0, 0].set_yticks(range(len(cells)), [f"{k[:3]}. {LABELS[b]}, {SHORT[m]}, {t}"
                                              for b, m, t, k in cells], fontsize="x-small")
    axes[0, 0].invert_yaxis()
    fig.suptitle(f"weighted vs original on the same images ({SUBSETS[subset]})\nadvantage = "
                 "wtd - ori where positive features are kept, ori - wtd where negative ones are",
                 fontsize="medium", y=0.995)
    fig.legend(*axes[0, 0].get_legend_handles_labels(), loc="upper center", ncol=len(models),
               fontsize="small", frameon=False, bbox_to_anchor=(0.5, 0.955))
    fig.tight_layout(rect=(0, 0, 1, 0.94))
    return fig


def masking_views(model: nn.Module, image: Tensor, class_names: Sequence[str] | None = None,
                  layer=None, size: int = 84) -> dict[tuple[str, str, str], "PIL.Image.Image"]:
    r"""Pictures of one image's masks, for an explorer: (method, target, kept) -> a grid with a
    row per variant and map (original, weighted) and columns the map (on the image) and the
    image under each baseline, captioned with :math:`\bar p_{t_i}` and the share replaced.

    Composed with PIL (no matplotlib figure), so that dozens of views take seconds.
    """
    from PIL import Image, ImageDraw

    from whynot.viz import overlay_array

    images = image[None]
    with torch.no_grad():
        logits = model(images)
    pair = logits.topk(2, dim=1).indices
    maps = explain(model, images, method=METHODS, layer=layer, classes=pair, contrast=CONTRASTS)
    fills = torch.stack([f(images, model)[0] for f in _baselines(BASELINES).values()])
    keys, keeps = [], []
    for method in METHODS:
        for k, target in enumerate(TARGETS):
            original, weighted = (maps[method][c][0, k].detach() for c in CONTRASTS)
            for kept in KEPT:
                keys.append((method, target, kept))
                keeps += [plain_keep(original, kept), plain_keep(weighted, kept),
                          *equal_keep(original, weighted, kept)]
    keep = torch.stack(keeps)  # [views x 4 rows, H, W]
    scenes = len(fills)
    masked = baseline_images.blend(images.expand(scenes, -1, -1, -1),
                                   keep[None].expand(scenes, -1, -1, -1), fills)  # [S, rows, 3, H, W]
    with torch.no_grad():
        y = torch.cat([model(part) for part in
                       masked.flatten(0, 1).split(default_chunk_size(images))])
    r = relative_probability(y, pair.expand(len(y), 2)).view(len(fills), len(keeps), 2)
    clean = relative_probability(logits, pair)[0]
    names = [class_names[c] if class_names else str(c) for c in pair[0].tolist()]
    rows = [("plain", "logit"), ("plain", "weighted"), ("equal", "logit"), ("equal", "weighted")]

    def thumbnail(array) -> Image.Image:
        return Image.fromarray(array).resize((size, size), Image.Resampling.NEAREST
                                             if array.shape[0] < size else Image.Resampling.BILINEAR)

    def picture(pixels: Tensor):
        return (pixels.permute(1, 2, 0).clamp(0, 1) * 255).round().byte().cpu().numpy()

    label, caption, header = 120, 16, 52
    views = {}
    for v, (method, target, kept) in enumerate(keys):
        k = TARGETS.index(target)
        canvas = Image.new("RGB", (label + 4 * size, header + 4 * (size + caption)), "white")
        draw = ImageDraw.Draw(canvas)
        draw.text((4, 2), f"{LABELS[method]}, {kept} features of {target} = {names[k]} kept",
                  fill="black")
        draw.text((4, 14), f"t1 {names[0]}, t2 {names[1]}", fill="black")
        draw.text((4, 26), f"unmasked p_{target} {clean[k].item():.2f}; captions: "
                           f"p_{target} (share replaced)", fill="black")
        for column, title in enumerate(["map", *(LABELS[b] for b in BASELINES)]):
            draw.text((label + column * size + 4, header - 12), title, fill="black")
        for row, (variant, contrast) in enumerate(rows):
            top = header + row * (size + caption)
            index = 4 * v + row
            heat = maps[method][contrast][0, k].detach()
            draw.text((4, top + size // 2 - 6), f"{variant}: {LABELS[contrast]}", fill="black")
            canvas.paste(thumbnail(overlay_array(image, heat)), (label, top))
            share = 1 - keep[index].float().mean().item()
            for column in range(len(fills)):
                canvas.paste(thumbnail(picture(masked[column, index])),
                             (label + (column + 1) * size, top))
                draw.text((label + (column + 1) * size + 4, top + size + 2),
                          f"{r[column, index, k].item():.2f} ({share:.0%})", fill="black")
        views[(method, target, kept)] = canvas
    return views
