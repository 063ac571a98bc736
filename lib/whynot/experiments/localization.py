r"""Ground-truth part localization: does a contrastive map point at the part that separates
the top two classes?

On SynthBirds, two classes that differ in exactly one part (head colour, wing pattern or tail
shape) can only be told apart by that part. When a model's top two classes ``t1, t2`` form such
a pair (:func:`differing_part`), the part's mask ``M`` is a ground truth for "why ``t1`` and not
``t2``" that does not come from the model's probabilities, which answers the reports' objection
that judging ``p``-based maps by ``p`` is circular. Each map ``phi`` of ``t1`` (and, the reverse
direction, of ``t2``) is scored on ``M`` by

.. math::
    \mathrm{mass}(\phi, M) = \frac{\sum_{ij} M_{ij} \max(\phi_{ij}, 0)}{\sum_{ij} \max(\phi_{ij}, 0)},
    \qquad
    \mathrm{hit}(\phi, M) = \big[\min_{(i, j) \in M} \lVert (i, j) - \arg\max \phi \rVert_2 \le \tau\big]

(:func:`whynot.metrics.part_mass`, :func:`whynot.metrics.pointing_game`), with the pointing
game's usual 15 pixels at 224 scaled to the image (``tau = 3.75`` px at 56). Baselines per image:
the part's share of the image ``|M| / HW`` (what a uniform map's mass is), the share of pixels
within ``tau`` of the part (:func:`hit_zone`: the hit probability of a map whose maximum falls
anywhere with equal chance), and a seeded random map of i.i.d. normal pixels, whose expected mass
is exactly ``|M| / HW`` (the pixels are exchangeable) and whose hit probability is the hit zone's
share.

Only images whose top two classes differ in exactly one part, that part visible, and whose second
probability exceeds 0.1 (the paper's selection) are scored by :func:`summarize`; pairs that differ
in two or three parts have no single ground-truth part and are counted, not scored.

>>> table = runner.run(experiment("default"))                     # doctest: +SKIP
>>> summary, chance = summarize(table), baselines(table)          # doctest: +SKIP
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import whynot
from whynot.data.synthetic import CLASS_NAMES, PART_NAMES, SynthBirds, confusable_pairs
from whynot.experiments.pgd import LABELS
from whynot.experiments.plans import model_on, weights_fingerprint
from whynot.experiments.runner import Experiment
from whynot.metrics import part_mass, pointing_game
from whynot.metrics.pointing_game import TOLERANCE_AT_224
from whynot.stats import bootstrap_ci

METHODS = ("gradcam", "la", "xgradcam")
METHOD_LABELS = {"gradcam": "GradCAM", "la": "LA", "xgradcam": "XGradCAM"}
CONTRASTS = ("logit", "mean", "max", "weighted")  # the paper's order; "logit" is its "original"
MODELS = ("synth_vgg", "synth_resnet", "synth_mobile")  # the synthetic CNNs (not synth_vit)
THRESHOLD = 0.1  # the paper's p2 > 0.1
VERSION = 1  # of the experiment's results: bump when localization_table() or the rows change


@lru_cache(maxsize=1)
def _pair_parts() -> dict[tuple[int, int], str]:
    return {(a, b): part for a, b, part in confusable_pairs()}


def differing_part(a: int, b: int) -> str | None:
    """The one part in which SynthBirds classes ``a`` and ``b`` differ; None if they differ in
    two or three parts (or are the same class).

    >>> differing_part(0, 1), differing_part(1, 0), differing_part(0, 4)
    ('tail', 'tail', None)
    """
    for label in (a, b):
        if not 0 <= label < len(CLASS_NAMES):
            raise ValueError(f"SynthBirds classes are 0..{len(CLASS_NAMES) - 1}; got {label}.")
    return _pair_parts().get((min(a, b), max(a, b)))


def pixel_tolerance(size: int) -> float:
    """The pointing game's tolerance for ``size``-pixel images: 15 px at 224, scaled (3.75 at 56)."""
    return TOLERANCE_AT_224 * size / 224


def hit_zone(masks: Tensor, tolerance: float) -> Tensor:
    r"""The pixels within ``tolerance`` of the mask: where a map's maximum scores a pointing-game hit.

    .. math:: Z_{ij} = \big[\min_{(k, l) \in M} \lVert (i, j) - (k, l) \rVert_2 \le \tau\big]

    ``masks``: boolean ``[..., H, W]``; returns the same shape. Its mean over the pixels is the
    hit probability of a map whose maximum is uniformly distributed (e.g. i.i.d. noise).
    """
    if masks.dtype != torch.bool:
        raise ValueError(f"masks must be boolean (True inside the part); got dtype {masks.dtype}.")
    if tolerance < 0:
        raise ValueError(f"tolerance must be >= 0 pixels; got {tolerance}.")
    radius = int(tolerance)
    offsets = torch.arange(-radius, radius + 1, device=masks.device)
    disk = (offsets[:, None] ** 2 + offsets[None, :] ** 2 <= tolerance**2).to(torch.float32)
    flat = masks.reshape(-1, 1, *masks.shape[-2:]).to(torch.float32)
    return (F.conv2d(flat, disk[None, None], padding=radius) > 0.5).view(masks.shape)


def random_maps(image_ids: Sequence[int], size: int, seed: int = 0) -> Tensor:
    """One ``[size, size]`` map of i.i.d. standard normal pixels per image, seeded by
    ``(seed, image id)`` so that any batching gives the same maps. ``[B, size, size]``."""
    return torch.stack([
        torch.randn(size, size, generator=torch.Generator().manual_seed(seed * 1_000_003 + int(i)))
        for i in image_ids
    ])


def localization_table(
    model: nn.Module,
    birds: SynthBirds,
    start: int = 0,
    seed: int = 0,
    methods: Sequence[str] = METHODS,
    contrasts: Sequence[str] = CONTRASTS,
    tolerance: float | None = None,
    explain: Callable[[Tensor, Tensor], Mapping[str, Mapping[str, Tensor]]] | None = None,
) -> pd.DataFrame:
    """Part mass and pointing-game hit of every map of the top two classes, on the part that
    separates them.

    ``explain(images, classes [B, 2])`` returns ``{method: {contrast: [B, 2, H, W]}}``; by
    default one :func:`whynot.explain` pass of ``methods`` (gradient CAMs) and ``contrasts``.

    ``birds`` are images ``start, start + 1, ...`` of a SynthBirds split (``image`` in the rows).
    One :func:`whynot.explain` pass gives every method's and contrast's maps of ``t1`` and ``t2``
    (the model's two most probable classes), upsampled to the image. One row per image, method,
    contrast and ``rank`` (1: the map of ``t1``; 2: the map of ``t2``, the reverse direction),
    with the image's ``t1, t2, p1, p2``, the ``part`` that separates them ("" when they differ in
    more than one part; then ``mass`` and ``hit`` are NaN), its visible pixels, and the
    baselines ``part_share``, ``hit_zone_share``, ``random_mass``, ``random_hit``.
    """
    images = birds.images.to(next(model.parameters()).device)
    size = images.shape[-1]
    tolerance = pixel_tolerance(size) if tolerance is None else tolerance
    with torch.no_grad():
        probabilities = model(images).softmax(dim=1)
    if probabilities.shape[1] != len(CLASS_NAMES):
        raise ValueError(f"the model has {probabilities.shape[1]} classes; part localization needs "
                         f"a SynthBirds model ({len(CLASS_NAMES)} classes), e.g. synth_vgg.")
    top = probabilities.topk(2, dim=1)
    classes = top.indices
    if explain is None:
        explained = whynot.explain(model, images, method=tuple(methods), classes=classes,
                                   contrast=tuple(contrasts))
    else:
        explained = explain(images, classes)
    pairs = classes.cpu().tolist()
    parts = [differing_part(t1, t2) for t1, t2 in pairs]
    one_part = torch.tensor([part is not None for part in parts])
    part_index = torch.tensor([PART_NAMES.index(part) if part else 0 for part in parts])
    masks = birds.part_masks[torch.arange(len(parts)), part_index] & one_part[:, None, None]
    ids = np.arange(start, start + len(parts))
    noise = random_maps(ids, size, seed)

    def undefined_if_unscored(values: Tensor) -> np.ndarray:
        values = values.detach().cpu().to(torch.float64)
        return torch.where(one_part.view(-1, *[1] * (values.dim() - 1)), values, torch.nan).numpy()

    image_rows = pd.DataFrame({
        "image": ids, "label": birds.labels.numpy(), "t1": [t1 for t1, _ in pairs],
        "t2": [t2 for _, t2 in pairs], "p1": top.values[:, 0].cpu().numpy(),
        "p2": top.values[:, 1].cpu().numpy(), "part": [part or "" for part in parts],
        "part_pixels": masks.sum(dim=(-2, -1)).numpy(),
        "part_share": undefined_if_unscored(masks.float().mean(dim=(-2, -1))),
        "hit_zone_share": undefined_if_unscored(hit_zone(masks, tolerance).float().mean(dim=(-2, -1))),
        "random_mass": undefined_if_unscored(part_mass(noise, masks)),
        "random_hit": undefined_if_unscored(pointing_game(noise, masks, tolerance).float()),
    })
    blocks = []
    for method in explained:
        for contrast in contrasts:
            maps = explained[method][contrast].cpu()
            mass = undefined_if_unscored(part_mass(maps, masks[:, None]))
            hit = undefined_if_unscored(pointing_game(maps, masks[:, None], tolerance).float())
            for rank in (1, 2):
                blocks.append(image_rows.assign(method=method, contrast=contrast, rank=rank,
                                                mass=mass[:, rank - 1], hit=hit[:, rank - 1]))
    return pd.concat(blocks, ignore_index=True)


# --- the experiment, for the runner (python -m whynot.experiments run localization) ------------

#: Per profile: (model, number of SynthBirds test images; the split has 1080). The localization
#: needs part masks, so every profile measures SynthBirds (CUB has part keypoints, not masks).
PLANS: dict[str, dict] = {
    "smoke": {"models": [(m, 108) for m in MODELS], "batch_size": 54},
    "default": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
    "full": {"models": [(m, 1080) for m in MODELS], "batch_size": 120},
}


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The localization experiment of ``profile`` (:data:`PLANS`), optionally restricted to
    ``models`` or to the first ``n_images`` test images (a class-balanced prefix)."""
    if profile not in PLANS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PLANS)}")
    plan = PLANS[profile]
    chosen = [(m, n if n_images is None else min(n, n_images)) for m, n in plan["models"]
              if models is None or m in models]
    if not chosen:
        raise ValueError(f"none of {models} is in the {profile} plan: {[m for m, _ in plan['models']]}")
    size = batch_size or plan["batch_size"]
    batches = [{"model": m, "start": s, "stop": min(s + size, n)}
               for m, n in chosen for s in range(0, n, size)]
    from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

    config = {"profile": profile, "seed": seed, "models": chosen, "methods": list(METHODS),
              "contrasts": list(CONTRASTS), "tolerance_at_224": TOLERANCE_AT_224,
              "weights": {m: weights_fingerprint(m) for m, _ in chosen},
              "synthbirds_version": SYNTHBIRDS_VERSION}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        from whynot.data.synthetic import load_synthbirds

        model = model_on(batch["model"], str(device))
        birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(
            slice(batch["start"], batch["stop"]))
        table = localization_table(model, birds, start=batch["start"], seed=seed)
        table.insert(0, "model", batch["model"])
        return table

    return Experiment("localization", VERSION, config, batches, run_batch)


# --- summaries: means with bootstrap intervals over images, paired differences, baselines -------

def scored(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """The rows that are scored: ``p2 > threshold``, a one-part pair, the part visible."""
    return table[(table.p2 > threshold) & (table.part != "") & (table.part_pixels > 0)]


def counts(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """Per model: test images, those with ``p2 > threshold``, of these the one-part pairs, and
    of these the ones whose part is visible (the scored images)."""
    images = table.drop_duplicates(["model", "image"])
    close = images[images.p2 > threshold]
    one_part = close[close.part != ""]
    return pd.DataFrame({
        "images": images.groupby("model", sort=False).size(),
        "p2_above": close.groupby("model", sort=False).size(),
        "one_part": one_part.groupby("model", sort=False).size(),
        "scored": one_part[one_part.part_pixels > 0].groupby("model", sort=False).size(),
    }).reindex(list(dict.fromkeys(images.model))).fillna(0).astype(int).rename_axis("model").reset_index()


def summarize(table: pd.DataFrame, threshold: float = THRESHOLD, seed: int = 0,
              n_resamples: int = 2000) -> pd.DataFrame:
    r"""Per model, method, contrast and rank, over the scored images (:func:`scored`): mean part
    mass and hit rate with 95 % percentile-bootstrap intervals over images (``*_low``,
    ``*_high``); the paired differences to the original (logit) map of the same images,
    ``mass_gain = mean_i (mass_i^c - mass_i^logit)`` (NaN for the original itself); and to the
    uniform-map baselines, ``mass_excess = mean_i (mass_i - |M_i| / HW)`` (``hit_excess``
    likewise against the hit zone's share). ``undefined`` counts maps with no positive pixel
    (their mass is undefined and left out).
    """
    rows = []
    chosen = scored(table, threshold)
    originals = _by_image(chosen, "logit")
    for (model, method, contrast, rank), group in chosen.groupby(
            ["model", "method", "contrast", "rank"], sort=False):
        group = group.set_index("image")
        row = {"model": model, "method": method, "contrast": contrast, "rank": rank,
               "images": len(group), "undefined": int(group.mass.isna().sum())}
        original = originals.loc[(model, method, rank)].reindex(group.index)
        for metric, share in (("mass", "part_share"), ("hit", "hit_zone_share")):
            row.update(_estimate(metric, group[metric], seed, n_resamples))
            gain = group[metric] - original[metric]
            row.update(_estimate(f"{metric}_gain", gain, seed, n_resamples) if contrast != "logit"
                       else dict.fromkeys(_names(f"{metric}_gain"), float("nan")))
            row.update(_estimate(f"{metric}_excess", group[metric] - group[share], seed,
                                 n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def paired_difference(table: pd.DataFrame, contrast: str, reference: str, rank: int = 1,
                      threshold: float = THRESHOLD, seed: int = 0,
                      n_resamples: int = 2000) -> pd.DataFrame:
    """Per model and method, over the scored images: the mean paired difference of part mass
    and of hits between the ``contrast`` and the ``reference`` maps of rank ``rank``
    (``mass_gain``, ``hit_gain``), with bootstrap intervals over images."""
    chosen = scored(table, threshold)
    chosen = chosen[chosen["rank"] == rank]
    references = _by_image(chosen, reference)
    rows = []
    for (model, method), group in chosen[chosen.contrast == contrast].groupby(
            ["model", "method"], sort=False):
        group = group.set_index("image")
        base = references.loc[(model, method, rank)].reindex(group.index)
        row = {"model": model, "method": method, "images": len(group)}
        for metric in ("mass", "hit"):
            row.update(_estimate(f"{metric}_gain", group[metric] - base[metric], seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


def _by_image(rows: pd.DataFrame, contrast: str) -> pd.DataFrame:
    return rows[rows.contrast == contrast].set_index(["model", "method", "rank", "image"]).sort_index()


def _names(name: str) -> tuple[str, str, str]:
    return name, f"{name}_low", f"{name}_high"


def _estimate(name: str, values, seed: int, n_resamples: int) -> dict[str, float]:
    """``{name: mean, name_low: ..., name_high: ...}`` over the non-NaN values."""
    values = np.asarray(values, dtype=float)
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return dict(zip(_names(name), (mean, *bootstrap_ci(values, n_resamples=n_resamples, seed=seed))))


def baselines(table: pd.DataFrame, threshold: float = THRESHOLD, seed: int = 0,
              n_resamples: int = 2000) -> pd.DataFrame:
    """Per model, over the scored images: the part's share of the image (a uniform map's mass),
    the hit zone's share (the hit rate of a map with a uniformly placed maximum), and the
    measured mass and hit rate of the seeded random maps, each with a bootstrap interval."""
    images = scored(table, threshold).drop_duplicates(["model", "image"])
    rows = []
    for model, group in images.groupby("model", sort=False):
        row = {"model": model, "images": len(group)}
        for column in ("part_share", "hit_zone_share", "random_mass", "random_hit"):
            row.update(_estimate(column, group[column], seed, n_resamples))
        rows.append(row)
    return pd.DataFrame(rows)


# --- verdicts ----------------------------------------------------------------------------------

def resolved(low: float, high: float) -> str:
    """How a 95 % interval of a difference reads: "higher" (above 0), "lower" or "unresolved"."""
    return "higher" if low > 0 else "lower" if high < 0 else "unresolved"


def verdicts(summary: pd.DataFrame, rank: int = 1) -> pd.DataFrame:
    """Per model, method and contrast (rank ``rank`` maps of a :func:`summarize` table): whether
    its part mass and hit rate are "higher" than, "lower" than or "unresolved" from the
    original's (paired intervals; "-" for the original itself) and the uniform-map baselines'
    (the part's share; the hit zone's share)."""
    rows = summary[summary["rank"] == rank]

    def read(metric: str, against: str) -> list[str]:
        return [resolved(low, high) if low == low else "-"
                for low, high in zip(rows[f"{metric}_{against}_low"], rows[f"{metric}_{against}_high"])]

    return pd.DataFrame({
        "model": rows.model, "method": rows.method, "contrast": rows.contrast,
        "mass_vs_original": read("mass", "gain"), "hit_vs_original": read("hit", "gain"),
        "mass_vs_uniform": read("mass", "excess"), "hit_vs_uniform": read("hit", "excess"),
    }).reset_index(drop=True)


def tally(verdict_table: pd.DataFrame, column: str, contrast: str) -> dict[str, int]:
    """How many model x method cases of ``contrast`` read "higher", "lower", "unresolved"."""
    values = verdict_table.loc[verdict_table.contrast == contrast, column]
    return {word: int((values == word).sum()) for word in ("higher", "lower", "unresolved")}


# --- figure -------------------------------------------------------------------------------------

def plot_localization(summary: pd.DataFrame, chance: pd.DataFrame, rank: int = 1):
    """Mean part mass (top, scaled to the largest interval) and pointing-game hit rate (bottom,
    0 to 1) of the rank-``rank`` maps, one column per model, bars per method and contrast with
    their 95 % bootstrap intervals; the uniform-map baselines dashed, the random maps' dotted."""
    import matplotlib.pyplot as plt

    models = list(dict.fromkeys(summary.model))
    rows = summary[summary["rank"] == rank]
    colours = {"logit": "#8c8c8c", "mean": "#9ecae1", "max": "#e8743b", "weighted": "#3a6fd8"}
    width = 0.8 / len(CONTRASTS)
    fig, axes = plt.subplots(2, len(models), figsize=(3.4 * len(models), 5.6), sharey="row",
                             squeeze=False)
    metrics = {"mass": ("positive mass on the part", "part_share", "random_mass"),
               "hit": ("pointing-game hit rate", "hit_zone_share", "random_hit")}
    for column, model in enumerate(models):
        base = chance[chance.model == model].iloc[0]
        for row, (metric, (label, uniform, random)) in enumerate(metrics.items()):
            ax = axes[row, column]
            for c, contrast in enumerate(CONTRASTS):
                bars = rows[(rows.model == model) & (rows.contrast == contrast)].set_index("method")
                bars = bars.reindex(list(METHODS))
                x = np.arange(len(METHODS)) + (c - (len(CONTRASTS) - 1) / 2) * width
                error = [bars[metric] - bars[f"{metric}_low"], bars[f"{metric}_high"] - bars[metric]]
                ax.bar(x, bars[metric], width, yerr=error, color=colours[contrast],
                       label=LABELS[contrast], error_kw={"linewidth": 0.8})
            ax.axhline(base[uniform], color="black", linestyle="--", linewidth=0.8,
                       label="uniform map")
            ax.axhline(base[random], color="black", linestyle=":", linewidth=1.0,
                       label="random map")
            ax.set_xticks(np.arange(len(METHODS)), [METHOD_LABELS[m] for m in METHODS])
            ax.set_ylim(0, 1 if metric == "hit" else 1.15 * float(rows.mass_high.max()))
            if column == 0:
                ax.set_ylabel(label)
            if row == 0:
                ax.set_title(f"{model} ({int(base.images)} images)", fontsize="medium")
    axes[0, -1].legend(fontsize="x-small", loc="upper right")
    whose = "t1 (why t1, not t2?)" if rank == 1 else "t2, the reverse direction (why t2, not t1?)"
    fig.suptitle(f"Maps of {whose} on the part that separates t1 and t2", y=1.0)
    fig.tight_layout()
    return fig
