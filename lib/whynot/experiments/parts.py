"""Part-based scoring on SynthBirds, shared by the chapters that score maps on the one part that
separates two classes: which part that is, the pointing game's tolerance and hit zone, the images
whose top two classes differ in one part, one row per map scored on it, and the table of part
mass and pointing of every map of the top two classes (chapters 03 and 05) with its summaries."""
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
from whynot.metrics import part_mass, pointing_game
from whynot.metrics.pointing_game import pixel_tolerance
from whynot.stats import bootstrap_ci

CHANCE = "uniform map (chance)"
METHODS = ("gradcam", "la", "xgradcam")
CONTRASTS = ("logit", "mean", "max", "weighted")  # the paper's order; "logit" is its "original"
THRESHOLD = 0.1  # the paper's p2 > 0.1 (and the reports' p3 > 0.1 for the third class)


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


def hit_zone(masks: Tensor, tolerance: float) -> Tensor:
    r"""The pixels within ``tolerance`` of the mask: where a map's maximum scores a hit in the
    pointing game.

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


def discriminating_pairs(model: nn.Module, images: Tensor, part_masks: Tensor,
                         threshold: float = 0.1) -> tuple[list[int], Tensor, Tensor, list[str]]:
    """The images whose top two SynthBirds classes differ in exactly one part, with
    ``p2 > threshold``: ``(indices, classes [n, 2], part masks [n, 1, H, W], part names)``."""
    with torch.no_grad():
        probabilities = model(images).softmax(dim=1)
    top = probabilities.topk(2, dim=1)
    parts = [differing_part(int(a), int(b)) for a, b in top.indices.tolist()]
    keep = [i for i, part in enumerate(parts) if part is not None and top.values[i, 1] > threshold]
    masks = [part_masks[i, PART_NAMES.index(parts[i])] for i in keep]
    masks = torch.stack(masks)[:, None] if masks else part_masks.new_zeros(0, 1, *images.shape[-2:])
    return keep, top.indices[keep], masks, [parts[i] for i in keep]


def part_rows(maps: Mapping[str, Tensor], masks: Tensor, keep: Sequence[int], parts: Sequence[str],
              tolerance: float) -> pd.DataFrame:
    """One row per (image, rank, method) of ``maps`` (name -> ``[n, 2, H, W]``, the maps of the
    top two classes): the share of the map's mass on the part and whether its maximum is on it.
    A map named :data:`CHANCE` (uniform) has no maximum: its ``hit`` is NaN."""
    rows = []
    for name, value in maps.items():
        mass = part_mass(value, masks)  # [n, 2]
        hit = pointing_game(value, masks, tolerance)
        for row, image in enumerate(keep):
            for rank in (1, 2):
                pointed = float("nan") if name == CHANCE else float(hit[row, rank - 1])
                rows.append(dict(image=image, rank=rank, part=parts[row], method=name,
                                 part_mass=float(mass[row, rank - 1]), hit=pointed))
    return pd.DataFrame(rows, columns=["image", "rank", "part", "method", "part_mass", "hit"])


# --- part mass and pointing per map, and their summaries (chapters 03 and 05) -------------------

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
    with the image's ``t1, t2, p1, p2`` (and the third class ``t3, p3``), the ``part`` that
    separates ``t1`` and ``t2`` ("" when they differ in more than one part; then ``mass`` and
    ``hit`` are NaN), its visible pixels, and the baselines ``part_share``, ``hit_zone_share``,
    ``random_mass``, ``random_hit``. Two more scores of each map: ``bird_mass``, its positive
    mass on the whole bird (``bird_share``: the bird's share of the image), and ``third_mass``,
    its mass on ``third_part``, the part that separates ``t1`` from ``t3`` (NaN when they
    differ in more than one part), which the max contrast of ``t1`` (``y_t1 - y_t2``) ignores.
    """
    images = birds.images.to(next(model.parameters()).device)
    size = images.shape[-1]
    tolerance = pixel_tolerance(size) if tolerance is None else tolerance
    with torch.no_grad():
        probabilities = model(images).softmax(dim=1)
    if probabilities.shape[1] != len(CLASS_NAMES):
        raise ValueError(f"the model has {probabilities.shape[1]} classes; part localization needs "
                         f"a SynthBirds model ({len(CLASS_NAMES)} classes), e.g. synth_vgg.")
    top = probabilities.topk(3, dim=1)
    classes = top.indices[:, :2]
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
    # the part that separates t1 from the third class: what the max contrast of t1 cannot see
    thirds = [differing_part(t1, t3) for t1, t3 in top.indices[:, [0, 2]].cpu().tolist()]
    third_index = torch.tensor([PART_NAMES.index(part) if part else 0 for part in thirds])
    one_third_part = torch.tensor([part is not None for part in thirds])
    third_masks = (birds.part_masks[torch.arange(len(thirds)), third_index]
                   & one_third_part[:, None, None])
    ids = np.arange(start, start + len(parts))
    noise = random_maps(ids, size, seed)

    def undefined_if_unscored(values: Tensor, scored: Tensor = one_part) -> np.ndarray:
        values = values.detach().cpu().to(torch.float64)
        return torch.where(scored.view(-1, *[1] * (values.dim() - 1)), values, torch.nan).numpy()

    image_rows = pd.DataFrame({
        "image": ids, "label": birds.labels.numpy(), "t1": [t1 for t1, _ in pairs],
        "t2": [t2 for _, t2 in pairs], "p1": top.values[:, 0].cpu().numpy(),
        "p2": top.values[:, 1].cpu().numpy(), "t3": top.indices[:, 2].cpu().numpy(),
        "p3": top.values[:, 2].cpu().numpy(), "part": [part or "" for part in parts],
        "part_pixels": masks.sum(dim=(-2, -1)).numpy(),
        "third_part": [part or "" for part in thirds],
        "third_part_pixels": third_masks.sum(dim=(-2, -1)).numpy(),
        "bird_share": birds.bird_masks.double().mean(dim=(-2, -1)).numpy(),
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
            bird_mass = part_mass(maps, birds.bird_masks[:, None]).to(torch.float64).numpy()
            third_mass = undefined_if_unscored(part_mass(maps, third_masks[:, None]),
                                               one_third_part)
            for rank in (1, 2):
                blocks.append(image_rows.assign(
                    method=method, contrast=contrast, rank=rank, mass=mass[:, rank - 1],
                    hit=hit[:, rank - 1], bird_mass=bird_mass[:, rank - 1],
                    third_mass=third_mass[:, rank - 1]))
    return pd.concat(blocks, ignore_index=True)


def scored(table: pd.DataFrame, threshold: float = THRESHOLD) -> pd.DataFrame:
    """The rows that are scored: ``p2 > threshold``, a one-part pair, the part visible."""
    return table[(table.p2 > threshold) & (table.part != "") & (table.part_pixels > 0)]


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


def _by_image(rows: pd.DataFrame, contrast: str) -> pd.DataFrame:
    return rows[rows.contrast == contrast].set_index(["model", "method", "rank", "image"]).sort_index()


def _names(name: str) -> tuple[str, str, str]:
    return name, f"{name}_low", f"{name}_high"


def _estimate(name: str, values, seed: int, n_resamples: int) -> dict[str, float]:
    """``{name: mean, name_low: ..., name_high: ...}`` over the non-NaN values."""
    values = np.asarray(values, dtype=float)
    mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
    return dict(zip(_names(name), (mean, *bootstrap_ci(values, n_resamples=n_resamples, seed=seed))))


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
