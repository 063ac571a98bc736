r"""Abs-CAM (Zeng et al., 2022): Tables 2 and 3, class discrimination, sanity checks, both readings.

The chapter-07 experiment runs through the resumable runner: every image of the plan is
explained for its predicted class by the seven methods of the paper's Table 2 (Grad-CAM,
Grad-CAM++, Smooth Grad-CAM++, Score-CAM, Group-CAM, Abs-CAM_init, Abs-CAM in the literal,
per-channel reading of Eqs. 3-5) and by Abs-CAM in the summed variant, and each map is scored by

* Average Drop and Average Increase (:func:`whynot.metrics.average_drop`,
  :func:`~whynot.metrics.average_increase`) twice: ``drop`` / ``increase`` multiply the image
  by the min-max scaled map (Grad-CAM++'s definition), ``drop_top50`` / ``increase_top50`` keep
  the map's top 50 % of pixels, as the Abs-CAM paper says it did (Sec. 4.2);
* deletion and insertion AUCs (1 % steps, blurred substrate, as chapter 06:
  :func:`whynot.experiments.evaluation.score_maps`);
* the spread of the map's positive mass (``entropy``, :func:`whynot.metrics.map_entropy`: 1
  for a uniform map, 0 for a single pixel), the noise measure of the paper's "less noise";
* on SynthBirds, the pointing game (15 px at 224, scaled) and the positive mass on two ground
  truths: the whole bird (``*_bird``, the analogue of the paper's boxes) and its three
  discriminative parts, head, wing and tail (``*_parts``); ``bird_zone`` and ``parts_zone``
  are the hit zones' shares of the image (the hit rate of a map whose maximum falls anywhere).

On COCO (full profile) every (image, category) with a mapped ImageNet class gives one pointing
row per method (:mod:`whynot.data.coco`). One row per (image, method) otherwise.

>>> table = runner.run(experiment("default"))                          # doctest: +SKIP
>>> summarize(table[table.model == "synth_vgg"])                        # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from importlib.resources import files

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

import whynot
from whynot import claims
from whynot.experiments import cam_claims, evaluation
from whynot.experiments.evaluation import plot_sanity  # noqa: F401 (chapter 07's figure)
from whynot.experiments.images import load_birds, load_images
from whynot.experiments.parts import CHANCE, discriminating_pairs, hit_zone, part_rows
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.metrics import average_drop, average_increase, map_entropy, part_mass, pointing_game
from whynot.labels import METHOD_LABELS
from whynot.metrics.model_randomization import pearson
from whynot.metrics.pointing_game import pixel_tolerance
from whynot.stats import bootstrap_ci, normal_halfwidth, paired_difference, verdict
from whynot.utils import min_max

VERSION = 3  # 2: Abs-CAM readings renamed (literal = per channel), entropy column;
# 3: channels-last curves (scores equal to round-off)
METHODS = ("gradcam", "gradcam++", "smoothgradcam++", "scorecam", "groupcam", "abscam_init", "abscam",
           "abscam_summed")
LABELS = {m: METHOD_LABELS[m] for m in METHODS if m in METHOD_LABELS} | {
    "abscam_init": "Abs-CAM_init", "abscam_summed": "Abs-CAM (summed)"}
# Each method in its classic form for the predicted class, as the papers compare them: ReLU'd
# gradient CAMs of the logit; Score-CAM and Group-CAM as in chapter 06; Abs-CAM's phase 1 from
# the logit's gradient (Y'_c) and its phase 2 scored by the softmax (Y_c), as Eqs. 1 and 5 say.
METHOD_SETTINGS = {
    "gradcam": dict(method="gradcam", relu=True, contrast="logit"),
    "gradcam++": dict(method="gradcam++", relu=True, contrast="logit"),
    "smoothgradcam++": dict(method="smoothgradcam++", relu=True, contrast="logit", samples=8, std=0.15),
    "scorecam": dict(method="scorecam", relu=True, contrast="softmax", channel_softmax=False),
    "groupcam": dict(method="groupcam", relu=True, contrast="softmax", groups=32, theta=70.0),
    "abscam_init": dict(method="abscam_init", contrast="logit"),
    "abscam": dict(method="abscam", contrast="softmax", reading="literal"),
    "abscam_summed": dict(method="abscam", contrast="softmax", reading="summed"),
}
MASKED = ("scorecam", "groupcam", "abscam")  # forward-only second phases, chunked by batch_size
# Images per forward pass of masked copies and curve points: 56-pixel images run about twice as
# fast 256 at a time as 64 at a time on a CPU; 224-pixel ones stay at 32 (memory).
CHUNKS = {"synth_vgg": 256, "synth_resnet": 256, "synth_mobile": 256}
SCORES = ("drop", "increase", "drop_top50", "increase_top50", "deletion", "insertion", "entropy")
GROUND_TRUTH = ("hit_bird", "mass_bird", "hit_parts", "mass_parts")
# The summed variant's map is Abs-CAM_init's times a positive number; deletion and insertion
# rank pixels, so theirs are Abs-CAM_init's by construction and are not run (the other scores
# are, and show the identity).
NO_CURVES = ("abscam_summed",)
# The CAM layer: the last ReLU, whose non-negative channels Score-CAM, Group-CAM and Abs-CAM min-max
# scale into masks (the Score-CAM and Group-CAM authors hook VGG's post-ReLU
# features too). At a signed pre-BatchNorm convolution, a channel that responds negatively to
# the bird becomes a mask of the background (chapter 07 shows it). EfficientNet-Lite0: the last
# block (320 channels, signed: a linear bottleneck); its 1280-channel head would cost 1280
# masked forwards per image and method.
LAYERS = {"synth_vgg": "net.features.16", "synth_resnet": "net.layer2", "synth_mobile": "net.head.1",
          "vgg16": "net.features.29", "efficientnet_lite0": "net.blocks.6"}
# Per profile: (model, data, images), plus the models whose deletion / insertion are skipped
# (EfficientNet-Lite0's curves at 224 px cost 202 forwards of ~0.1 s per map on a CPU) and whose
# maps are kept in the rows (for the photos' figure).
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 2), ("synth_resnet", "synthbirds", 2)], "batch_size": 2},
    "default": {"models": [("synth_vgg", "synthbirds", 108), ("synth_resnet", "synthbirds", 54),
                           ("synth_mobile", "synthbirds", 54), ("efficientnet_lite0", "photos", 1)],
                "batch_size": 27, "no_curves": ["efficientnet_lite0"], "keep_maps": ["efficientnet_lite0"]},
    "full": {"models": [("vgg16", "imagenet", 5500), ("vgg16", "coco", 300)], "batch_size": 16},
}


def chapter_layer(model: nn.Module) -> str | None:
    """The model's CAM layer in this chapter (:data:`LAYERS`; None: its default layer)."""
    return LAYERS.get(getattr(model, "whynot_meta", {}).get("name"))


def explain_method(model: nn.Module, images: Tensor, classes: Tensor, method: str,
                   layer: str | None = None, batch_size: int = 64) -> Tensor:
    """Maps ``[B, H, W]`` of one method (:data:`METHOD_SETTINGS`) for ``classes [B]`` at ``layer``
    (default :func:`chapter_layer`)."""
    kwargs = dict(METHOD_SETTINGS[method])
    name = kwargs.pop("method")
    if name in MASKED:
        kwargs["batch_size"] = batch_size
    layer = layer or chapter_layer(model)
    return whynot.explain(model, images, method=name, layer=layer, classes=classes[:, None], **kwargs)[:, 0]


def score_maps(model: nn.Module, images: Tensor, classes: Tensor, maps: Tensor, curves: bool = True,
               batch_size: int = 64) -> dict[str, Tensor]:
    """Average Drop / Increase on the map and on its top 50 %, and (if ``curves``) deletion and
    insertion AUCs, each ``[B]``; NaN where not computed."""
    scores = {}
    for suffix, fraction in (("", None), ("_top50", 0.5)):
        scores[f"drop{suffix}"] = average_drop(model, images, maps, classes, top_fraction=fraction)
        scores[f"increase{suffix}"] = average_increase(model, images, maps, classes, top_fraction=fraction)
    scores["entropy"] = map_entropy(maps)
    if curves:
        scores.update(evaluation.score_maps(model, images, classes, maps, batch_size=batch_size))
    else:
        scores.update(dict.fromkeys(("deletion", "insertion"), torch.full_like(scores["drop"], float("nan"))))
    return scores


def ground_truth_scores(maps: Tensor, bird_masks: Tensor, part_masks: Tensor) -> dict[str, Tensor]:
    """Pointing-game hits and positive mass ``[B]`` on the whole bird and on the union of its
    parts (SynthBirds masks ``[B, H, W]`` and ``[B, P, H, W]``), 15 px at 224 scaled."""
    tolerance = pixel_tolerance(maps.shape[-1])
    parts = part_masks.any(dim=1)
    return {"hit_bird": pointing_game(maps, bird_masks, tolerance).float(),
            "mass_bird": part_mass(maps, bird_masks),
            "hit_parts": pointing_game(maps, parts, tolerance).float(),
            "mass_parts": part_mass(maps, parts)}


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The chapter-07 experiment of ``profile`` (:data:`PLANS`); rows: one per (image, method)
    (per (image, category, method) on COCO)."""
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    plan = PLANS[profile]
    no_curves, keep_maps = plan.get("no_curves", []), plan.get("keep_maps", [])
    config = {"profile": profile, "seed": seed, "models": chosen, "methods": METHOD_SETTINGS,
              "layers": LAYERS, "no_curves": no_curves, "keep_maps": keep_maps, **data_config(chosen)}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        if batch["data"] == "coco":
            return coco_rows(model, batch)
        images, truth = load_batch(batch, model, seed)
        images = images.to(device)
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        chunk = CHUNKS.get(batch["model"], 32)
        tables = []
        for method in METHODS:
            maps = explain_method(model, images, predicted, method, batch_size=chunk)
            curves = batch["model"] not in no_curves and method not in NO_CURVES
            scores = score_maps(model, images, predicted, maps, curves=curves, batch_size=chunk)
            if truth is not None:
                scores.update(ground_truth_scores(maps.cpu(), *truth))
            rows = pd.DataFrame({
                "model": batch["model"], "data": batch["data"],
                "image": range(batch["start"], batch["start"] + len(images)), "method": method,
                "target": predicted.tolist(), **{name: value.tolist() for name, value in scores.items()},
            })
            if truth is not None:
                tolerance = pixel_tolerance(images.shape[-1])
                rows["bird_zone"] = hit_zone(truth[0], tolerance).float().mean(dim=(-2, -1)).tolist()
                rows["parts_zone"] = hit_zone(truth[1].any(dim=1), tolerance).float().mean(dim=(-2, -1)).tolist()
            if batch["model"] in keep_maps:
                rows["map"] = list(maps.cpu().to(torch.float16).numpy())
            tables.append(rows)
        return pd.concat(tables, ignore_index=True)

    return Experiment("abscam", VERSION, config, batches, run_batch)


def load_batch(batch: Mapping, model: nn.Module, seed: int) -> tuple[Tensor, tuple[Tensor, Tensor] | None]:
    """Images ``[start, stop)`` of the batch's data, and for SynthBirds its ``(bird_masks,
    part_masks)`` (None otherwise)."""
    if batch["data"] == "synthbirds":
        birds = load_birds(seed, batch["start"], batch["stop"])
        return birds.images, (birds.bird_masks, birds.part_masks)
    images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
    return images, None


def coco_rows(model: nn.Module, batch: Mapping) -> pd.DataFrame:
    """Pointing-game rows of COCO images ``[start, stop)`` (:class:`whynot.data.coco.COCOPointing`):
    one per (image, category, method)."""
    rows = []
    for item in evaluation.coco_items(model, batch["start"], batch["stop"]):
        for method in METHODS:
            maps = explain_method(model, item.images, item.classes, method)
            hits = pointing_game(maps, item.masks, item.tolerance)
            rows += [dict(model=batch["model"], data="coco", image=item.index, category=target.category,
                          method=method, target=int(c), hit_coco=float(h))
                     for target, c, h in zip(item.targets, item.classes.tolist(), hits.tolist())]
    return pd.DataFrame(rows)


# --- summaries -----------------------------------------------------------------------------------
def summarize(table: pd.DataFrame, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """Per method (in :data:`METHODS` order): the mean of each score (drop and increase in
    percent; AUCs and hit rates as fractions, as the paper prints them), its normal 95 %
    half-width (``*_ci``) and the image count."""
    columns = [c for c in (columns or (*SCORES, *GROUND_TRUTH)) if c in table and table[c].notna().any()]
    grouped = table.groupby("method", sort=False)
    summary = grouped[columns].mean()
    for column in columns:
        summary[f"{column}_ci"] = grouped[column].agg(normal_halfwidth)
    summary["images"] = grouped.size()
    return summary.reindex([m for m in METHODS if m in summary.index])


def reference() -> dict:
    """The Abs-CAM paper's Tables 2 and 3 (ImageNet val, VGG16)."""
    return json.loads(files("whynot").joinpath("reference", "abscam_paper.json").read_text())


PAPER_ROWS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "smoothgradcam++": "SGCAM++",
              "scorecam": "Score-CAM", "groupcam": "Group-CAM", "abscam_init": "Abs-CAM_init",
              "abscam": "Abs-CAM"}


def compare_table2(summary: pd.DataFrame, drop: str = "drop_top50",
                   increase: str = "increase_top50") -> pd.DataFrame:
    """Paper Table 2 beside ours: Average Drop and Increase (%), insertion and deletion AUC, one
    row per method (the summed variant has no paper row). The paper's numbers are strings, as
    printed (its own precision: ``0.1110``, ``0.493``); ours are floats. ``drop`` / ``increase``
    pick our variant: the paper's top-50 % mask by default, or ``"drop"`` / ``"increase"`` for
    the map."""
    paper = reference()["table2_printed"]
    ours_columns = {"drop": drop, "increase": increase, "insertion": "insertion",
                    "deletion": "deletion"}
    rows = {}
    for method in summary.index:
        ours = summary.loc[method]
        theirs = paper.get(PAPER_ROWS.get(method), {})
        rows[LABELS[method]] = {
            key: value for name, column in ours_columns.items()
            for key, value in (((name, "paper"), theirs.get(name, "")),
                               ((name, "ours"), float(ours.get(column, float("nan")))))
        }
    return pd.DataFrame(rows).T


def pointing_summary(table: pd.DataFrame, model: str) -> tuple[pd.DataFrame, str, str]:
    """Table 3's pointing game for ``model``: ``(summary, hit column, a line on chance)``. On
    COCO boxes where the experiment ran them (the full profile: ``hit_coco``, one row per
    (image, category)); else on the birds and their parts (``hit_bird``, ``hit_parts``, with
    the part masses), where chance is the hit zone's share of the image."""
    coco = table[(table.model == model) & (table.data == "coco")]
    if len(coco):
        summary = summarize(coco, ["hit_coco"])[["hit_coco", "hit_coco_ci", "images"]]
        pairs = coco[["image", "category"]].drop_duplicates()
        return summary, "hit_coco", (f"COCO val2017: {len(pairs)} (image, category) pairs; a hit "
                                     "is the map's maximum in one of the category's boxes")
    birds = table[(table.model == model) & (table.data != "coco")]
    summary = summarize(birds)[["hit_bird", "hit_bird_ci", "hit_parts", "hit_parts_ci",
                                "mass_bird", "mass_parts", "images"]]
    chance = birds.drop_duplicates("image")[["bird_zone", "parts_zone"]].mean()
    return summary, "hit_parts", (f"chance (hit zone's share of the image): "
                                  f"bird {chance.bird_zone:.3f}, parts {chance.parts_zone:.3f}")


def compare_table3(summary: pd.DataFrame, times: pd.DataFrame,
                   hit: str = "hit_parts") -> pd.DataFrame:
    """Paper Table 3 beside ours: pointing accuracy, and running time as a ratio to Grad-CAM's
    (the paper's seconds divided by Grad-CAM's 16.84 s; ours from the ``seconds`` of
    :func:`whynot.experiments.cam_claims.time_table`)."""
    paper = reference()["table3"]
    base = paper["Grad-CAM"]["seconds"]
    rows = {}
    for method in summary.index:
        theirs = paper.get(PAPER_ROWS.get(method), {})
        ratio = times.seconds[method] / times.seconds["gradcam"] if method in times.index else None
        rows[LABELS[method]] = {
            ("pointing", "paper"): theirs.get("accuracy"),
            ("pointing", "ours"): summary.loc[method].get(hit),
            ("time / Grad-CAM", "paper"): theirs["seconds"] / base if theirs else None,
            ("time / Grad-CAM", "ours"): ratio,
        }
    return pd.DataFrame(rows).T.astype(float)


def summed_identity(table: pd.DataFrame) -> pd.Series:
    """Per score, the largest difference between the summed variant's rows and Abs-CAM_init's
    on the same images (zero, up to rank ties, if the two maps are equal after min-max)."""
    summed = table[table.method == "abscam_summed"].set_index(["model", "image"])
    initial = table[table.method == "abscam_init"].set_index(["model", "image"])
    columns = [c for c in (*SCORES, *GROUND_TRUTH) if c in table and table[c].notna().any()]
    return (summed[columns] - initial.reindex(summed.index)[columns]).abs().max()


def map_identity(model: nn.Module, images: Tensor, layer: str | None = None) -> float:
    """The largest pixel difference between the summed variant's map after min-max scaling and
    Abs-CAM_init's map, over ``images`` (the identity of Eq. 5 with the channels summed first)."""
    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    summed = explain_method(model, images, classes, "abscam_summed", layer)
    initial = explain_method(model, images, classes, "abscam_init", layer)
    return float((min_max(summed) - initial).abs().max())


def layer_comparison(model: nn.Module, images: Tensor, bird_masks: Tensor, part_masks: Tensor,
                     layers: Sequence[str], methods: Sequence[str] = ("abscam_init", "abscam")) -> pd.DataFrame:
    """Mean mass on the bird and pointing hits on its parts (:func:`ground_truth_scores`) of
    ``methods`` at each of ``layers``: how much the channel reading depends on whether the layer's
    channels are signed. One row per (layer, method)."""
    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    rows = []
    for layer in layers:
        for method in methods:
            scores = ground_truth_scores(explain_method(model, images, classes, method, layer).cpu(),
                                         bird_masks, part_masks)
            rows.append(dict(layer=layer, method=LABELS[method], images=len(images),
                             **{name: float(value.nanmean()) for name, value in scores.items()}))
    return pd.DataFrame(rows)


# --- class discrimination and the contrast ------------------------------------------------------
CONTRAST_MAPS = {  # name -> (method, contrast, extra settings)
    "Grad-CAM (logit)": ("gradcam", "logit", {}),
    "Grad-CAM (weighted)": ("gradcam", "weighted", {}),
    "Abs-CAM_init (logit)": ("abscam_init", "logit", {}),
    "Abs-CAM_init (weighted)": ("abscam_init", "weighted", {}),
    "Abs-CAM (softmax)": ("abscam", "softmax", {"masks": "logit"}),
}


def class_discrimination(model: nn.Module, images: Tensor, part_masks: Tensor, threshold: float = 0.1,
                         batch_size: int = 256, names: Sequence[str] = tuple(CONTRAST_MAPS)
                         ) -> tuple[pd.DataFrame, pd.DataFrame]:
    """For every image whose top two SynthBirds classes differ in one part (``p2 > threshold``):
    each map of :data:`CONTRAST_MAPS` for both classes, scored on that part (rows of
    :func:`whynot.experiments.parts.part_rows`, with a uniform map as chance), and per
    (image, method) the Pearson correlation of the two classes' maps (``similarity``: 1 when
    the method draws the same map for both classes, i.e. does not discriminate them).
    Grad-CAM is signed (no ReLU), so its weighted map keeps the evidence against ``t2``."""
    keep, classes, masks, parts = discriminating_pairs(model, images, part_masks, threshold)
    if not keep:
        return part_rows({}, masks, keep, parts, 0.0), pd.DataFrame(columns=["image", "method", "similarity"])
    chosen = images[keep]
    maps = {}
    for name in names:
        method, contrast, extra = CONTRAST_MAPS[name]
        kwargs = {"batch_size": batch_size, **extra} if method == "abscam" else {}
        maps[name] = whynot.explain(model, chosen, method=method, layer=chapter_layer(model), classes=classes,
                                    contrast=contrast, **kwargs)
    similarity = pd.DataFrame([dict(image=image, method=name, similarity=float(r))
                               for name, value in maps.items()
                               for image, r in zip(keep, pearson(value[:, 0], value[:, 1]).tolist())])
    maps[CHANCE] = torch.ones_like(next(iter(maps.values())))
    return part_rows(maps, masks, keep, parts, pixel_tolerance(images.shape[-1])), similarity


def sanity_checks(model: nn.Module, images: Tensor, methods: Sequence[str] = ("gradcam", "abscam_init", "abscam"),
                  seed: int = 0) -> pd.DataFrame:
    """Cascading and independent randomisation (paper Fig. 7) of this chapter's methods
    (:func:`whynot.experiments.evaluation.sanity_checks`)."""
    return evaluation.sanity_checks(model, images, methods, seed, explain_method)


# --- figures -------------------------------------------------------------------------------------
def method_maps(model: nn.Module, images: Tensor, methods: Sequence[str] = METHODS, layer: str | None = None,
                classes: Tensor | None = None) -> dict[str, Tensor]:
    """Each method's map ``[B, 1, H, W]`` of ``classes`` (default: the predictions), by label."""
    if classes is None:
        with torch.no_grad():
            classes = model(images).argmax(dim=1)
    return {LABELS[m]: explain_method(model, images, classes, m, layer)[:, None] for m in methods}


def stored_maps(table: pd.DataFrame, model: str) -> dict[str, Tensor]:
    """The maps kept in the rows of ``model`` (plan ``keep_maps``), by label: ``[B, 1, H, W]``."""
    rows = table[table.model == model]
    return {LABELS[m]: torch.tensor(np.stack(rows[rows.method == m].sort_values("image")["map"].tolist()),
                                    dtype=torch.float32)[:, None]
            for m in METHODS if (rows.method == m).any()}


def plot_contrast(model: nn.Module, images: Tensor, part_masks: Tensor, count: int = 2, threshold: float = 0.1,
                  names: Sequence[str] = ("Grad-CAM (weighted)", "Abs-CAM_init (weighted)", "Abs-CAM (softmax)")):
    """Paper Fig. 4 on SynthBirds: the maps of both top classes of the first ``count`` images
    whose top two classes differ in one part, beside that part's mask."""
    from whynot.data.synthetic import CLASS_NAMES
    from whynot.viz import explanation_grid

    keep, classes, masks, parts = discriminating_pairs(model, images, part_masks, threshold)
    if not keep:
        raise ValueError("no image has top two classes that differ in one part with p2 > threshold; pass more images.")
    keep, classes, masks = keep[:count], classes[:count], masks[:count]
    chosen = images[keep]
    maps = {f"differing part ({', '.join(parts[:count])})": masks.float().expand(-1, 2, -1, -1)}
    for name in names:
        method, contrast, extra = CONTRAST_MAPS[name]
        maps[name] = whynot.explain(model, chosen, method=method, layer=chapter_layer(model), classes=classes,
                                    contrast=contrast, **extra)
    return explanation_grid(chosen, maps, class_names=CLASS_NAMES, classes=classes, panel_size=1.25)


def explorer_views(model: nn.Module, images: Tensor, methods: Sequence[str] = METHODS,
                   layer: str | None = None) -> tuple[dict, dict]:
    """``(views, controls)`` for :func:`whynot.widgets.explorer`: image x method overlays of the
    predicted class."""
    from whynot.viz import THUMBNAIL_PX, overlay_array

    maps = method_maps(model, images, methods, layer)
    names = [f"image {i}" for i in range(len(images))]
    views = {(name, label): overlay_array(images[i], value[i, 0], size=THUMBNAIL_PX)
             for label, value in maps.items() for i, name in enumerate(names)}
    return views, {"image": names, "method": list(maps)}


# --- claims (whynot.claims.ch07) -----------------------------------------------------------------
RIVALS = ("gradcam", "gradcam++", "smoothgradcam++", "scorecam", "groupcam", "abscam_init")
GRADIENT_CAMS = ("gradcam", "gradcam++", "smoothgradcam++")
# Table 2's claims: our column, the metric module whose DIRECTION says which way is better, what
# the difference is, and its decimals.
METRIC = {name: importlib.import_module(f"whynot.metrics.{name}") for name in (
    "average_drop", "average_increase", "insertion", "deletion", "part_mass", "pointing_game",
    "map_entropy", "model_randomization")}  # the modules, for their DIRECTION
TABLE2_CLAIMS = {
    "abscam-table2-drop": ("drop_top50", METRIC["average_drop"], "Average Drop points (top 50 %)",
                           1),
    "abscam-table2-increase": ("increase_top50", METRIC["average_increase"],
                               "Average Increase points (top 50 %)", 1),
    "abscam-table2-insertion": ("insertion", METRIC["insertion"], "insertion AUC", 3),
    "abscam-table2-deletion": ("deletion", METRIC["deletion"], "deletion AUC", 3),
}
TIME_BOUNDARY = 10.0  # "the same order of magnitude"


def _per_image(table: pd.DataFrame, method: str) -> pd.DataFrame:
    return table[table.method == method].set_index("image")


def comparisons(table: pd.DataFrame, column: str, rivals: Sequence[str], seed: int = 0,
                tag: str = "") -> list:
    """Abs-CAM minus each rival in ``column``, paired over images, per model of ``table``
    (:class:`whynot.experiments.cam_claims.Comparison` s, the first model's first; ``tag`` ends
    each setting's name; a column the table lacks gives undefined, "not resolved" comparisons)."""
    table = table if column in table else table.assign(**{column: float("nan")})
    found = []
    for model, rows in table.groupby("model", sort=False):
        ours = _per_image(rows, "abscam")[column]
        found += [cam_claims.paired(f"{model} vs {LABELS[r]}{tag}", ours,
                                    _per_image(rows, r)[column], seed=seed) for r in rivals]
    return found


def claim_records(table: pd.DataFrame, sanity: pd.DataFrame | None = None,
                  discrimination: pd.DataFrame | None = None,
                  similarity: pd.DataFrame | None = None, seed: int = 0) -> list[claims.Record]:
    """Every claim of :mod:`whynot.claims.ch07` except running time (:func:`time_record`:
    machine-dependent). ``table``: the experiment's rows, the main model's first (photos and COCO
    rows are left out of the per-image comparisons); ``sanity``, ``discrimination`` and
    ``similarity``: the tables of :func:`sanity_checks` and :func:`class_discrimination`."""
    rows = table[~table.data.isin(["photos", "coco"])]
    context = dict(data=", ".join(dict.fromkeys(rows.data)),
                   model=", ".join(dict.fromkeys(rows.model)))
    has_birds = "mass_bird" in rows and rows.mass_bird.notna().any()
    records = [cam_claims.combined(claim, comparisons(rows, column, RIVALS, seed), metric,
                                   f"Abs-CAM - rival, {what}", decimals=decimals, **context)
               for claim, (column, metric, what, decimals) in TABLE2_CLAIMS.items()]
    stage2 = {c: metric for column, metric, *_ in TABLE2_CLAIMS.values()
              for c in comparisons(rows, column, ["abscam_init"], seed, f", {column}")}
    records.append(cam_claims.combined(
        "abscam-table2-stage2", list(stage2), list(stage2.values()),
        "Abs-CAM - Abs-CAM_init in drop, increase, insertion and deletion, per model", **context))
    records += [pointing_record(table, seed), other_cnn_record(rows, seed)]
    if has_birds:
        records.append(cam_claims.combined(
            "abscam-fig2-concentrated",
            comparisons(rows, "mass_bird", (*GRADIENT_CAMS, "scorecam"), seed), METRIC["part_mass"], "Abs-CAM - rival, share of the map's mass on the bird", **context))
    else:
        records.append(claims.not_tested("abscam-fig2-concentrated", "these images have no object "
                                         "masks; the default profile measures it on SynthBirds"))
    records.append(cam_claims.combined(
        "abscam-fig2-noise", comparisons(rows, "entropy", GRADIENT_CAMS, seed),
        METRIC["map_entropy"], "Abs-CAM - rival, map entropy", **context))
    focus = {c: "lower" for c in comparisons(rows, "entropy", ["abscam_init"], seed, ", entropy")}
    if has_birds:
        mass = comparisons(rows, "mass_bird", ["abscam_init"], seed, ", mass")
        focus |= {c: "higher" for c in mass}
    records.append(cam_claims.combined(
        "abscam-fig5-final", list(focus), list(focus.values()),
        "Abs-CAM - Abs-CAM_init in map entropy (lower) and mass on the bird (higher), per model",
        **context))
    records += discrimination_records(discrimination, similarity, seed)
    if sanity is not None:
        top = sanity[(sanity["mode"] == "cascading") & (sanity.depth == sanity.depth.max()) &
                     (sanity.method == "abscam")].spearman  # NaN: a constant map
        records.append(cam_claims.combined(
            "abscam-fig7-sanity", [cam_claims.against("every layer randomised", top, 0.5, seed)],
            METRIC["model_randomization"], "rank correlation with the trained model's map - 0.5",
            data=context["data"], model=rows.model.iloc[0]))
    return records


def pointing_record(table: pd.DataFrame, seed: int = 0) -> claims.Record:
    """Table 3's pointing accuracy: Abs-CAM minus each rival, paired over images, on COCO boxes
    (the full profile) or on the SynthBirds models' discriminative parts."""
    coco = table[table.data == "coco"] if "hit_coco" in table else table.iloc[:0]
    rows = coco.assign(image=coco.image.astype(str) + "/" + coco.category) if len(coco) else \
        table[(table.data == "synthbirds")]
    column = "hit_coco" if len(coco) else "hit_parts"
    target = "COCO boxes" if len(coco) else "the birds' parts"
    return cam_claims.combined(
        "abscam-table3-pointing", comparisons(rows, column, RIVALS, seed), METRIC["pointing_game"],
        f"Abs-CAM - rival, hit rate on {target}", unit="boxes" if len(coco) else "images",
        data=", ".join(dict.fromkeys(rows.data)), model=", ".join(dict.fromkeys(rows.model)))


def other_cnn_record(rows: pd.DataFrame, seed: int = 0) -> claims.Record:
    """Fig. 3: Abs-CAM's hits on the birds' parts over the hit zone's share (chance), per model."""
    if "parts_zone" not in rows or rows.hit_parts.isna().all():
        return claims.not_tested("abscam-fig3-other-cnn", "these images have no part masks; the "
                                 "default profile measures it on three SynthBirds architectures")
    found = []
    for model, of_model in rows[rows.method == "abscam"].groupby("model", sort=False):
        found.append(cam_claims.against(f"{model} vs chance",
                                        of_model.hit_parts - of_model.parts_zone, seed=seed))
    return cam_claims.combined("abscam-fig3-other-cnn", found, METRIC["pointing_game"],
                               "Abs-CAM's hit rate on the parts - the hit zone's share, per model",
                               data="synthbirds", model=", ".join(dict.fromkeys(rows.model)))


def discrimination_records(discrimination: pd.DataFrame | None, similarity: pd.DataFrame | None,
                           seed: int = 0) -> list[claims.Record]:
    """Fig. 4 (the second class's Abs-CAM puts more mass on the differing part than a uniform
    map, and the two classes' maps correlate less than 0.5) and Fig. 2's "better class
    discrimination" (Abs-CAM's two maps correlate less than Grad-CAM's), on the images whose top
    two SynthBirds classes differ in one part."""
    if discrimination is None or similarity is None:
        return [claims.not_tested(c, "no class-discrimination table was passed")
                for c in ("abscam-fig4-discrimination", "abscam-fig2-discrimination")]
    ours = "Abs-CAM (softmax)"
    second = discrimination[discrimination["rank"] == 2].pivot(index="image", columns="method",
                                                               values="part_mass")
    by = similarity.pivot(index="image", columns="method", values="similarity")
    second = second.reindex(columns=[ours, CHANCE])
    by = by.reindex(columns=[ours, "Grad-CAM (logit)"])
    mass = cam_claims.paired("second class's map vs a uniform map", second[ours], second[CHANCE],
                             seed=seed)
    alike = cam_claims.against("t1-t2 map correlation vs 0.5", by[ours], 0.5, seed)
    context = dict(data="SynthBirds (top two classes differ in one part)", model="synth_vgg")
    return [
        cam_claims.combined("abscam-fig4-discrimination", [mass, alike],
                            [METRIC["part_mass"], "lower"],
                            "mass on the part over chance (higher), map correlation - 0.5 (lower)",
                            **context),
        cam_claims.combined("abscam-fig2-discrimination", [cam_claims.paired(
            "Abs-CAM vs Grad-CAM (logit)", by[ours], by["Grad-CAM (logit)"], seed=seed)], "lower",
            "t1-t2 map correlation, Abs-CAM - Grad-CAM (logit)", **context),
    ]


def time_record(times: pd.DataFrame, model: str, data: str) -> claims.Record:
    """Table 3's running time: Abs-CAM's time over Grad-CAM's per repeat of
    :func:`whynot.experiments.cam_claims.repeat_times`, claimed below 10 (the same order of
    magnitude), on this machine."""
    return cam_claims.combined(
        "abscam-table3-time", [cam_claims.time_ratio(times, "abscam", "gradcam")], "lower",
        f"Abs-CAM's time / Grad-CAM's against {TIME_BOUNDARY:g}x, this machine",
        unit="timing repeats", data=data, model=model, decimals=1, boundary=TIME_BOUNDARY)


def repeat_times(model: nn.Module, images: Tensor, repeats: int = 5,
                 methods: Sequence[str] = METHODS, layer: str | None = None) -> pd.DataFrame:
    """Seconds per image of every method and of a forward pass, per repeat
    (:func:`whynot.experiments.cam_claims.repeat_times` with this chapter's settings)."""
    def explain(net, x, classes, method):
        return explain_method(net, x, classes, method, layer)

    return cam_claims.repeat_times(model, images, methods, explain, repeats)


def setting_grid(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The verdict of every (model, rival) setting of Tables 2 and 3 (pointing on the birds'
    parts), one column per metric: what :func:`claim_records` combines."""
    rows = table[~table.data.isin(["photos", "coco"])]
    columns = {"drop": ("drop_top50", METRIC["average_drop"]),
               "increase": ("increase_top50", METRIC["average_increase"]),
               "insertion": ("insertion", METRIC["insertion"]),
               "deletion": ("deletion", METRIC["deletion"]),
               "pointing": ("hit_parts", METRIC["pointing_game"])}
    grid = {}
    for name, (column, metric) in columns.items():
        if column not in rows or rows[column].isna().all():
            continue
        grid[name] = {tuple(c.setting.split(" vs ")): claims.judge(c.low, c.high, metric)
                      for c in comparisons(rows, column, RIVALS, seed)}
    found = pd.DataFrame(grid)
    found.index.names = ["model", "rival"]
    return found
