r"""Abs-CAM (Zeng et al., 2022): Tables 2 and 3, class discrimination, sanity checks, both readings.

The chapter-07 experiment runs through the resumable runner: every image of the plan is
explained for its predicted class by the seven methods of the paper's Table 2 (Grad-CAM,
Grad-CAM++, Smooth GradCAM++, Score-CAM, Group-CAM, Abs-CAM_init, Abs-CAM in the per-channel
reading of Eq. 5) and by Abs-CAM in the literal reading, and each map is scored by

* Average Drop and Average Increase (:func:`whynot.metrics.average_drop`,
  :func:`~whynot.metrics.average_increase`) twice: ``drop`` / ``increase`` multiply the image
  by the min-max scaled map (Grad-CAM++'s definition), ``drop_top50`` / ``increase_top50`` keep
  the map's top 50 % of pixels, as the Abs-CAM paper says it did (Sec. 4.2);
* deletion and insertion AUCs (1 % steps, blurred substrate, as chapter 06:
  :func:`whynot.experiments.groupcam.score_maps`);
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

import json
from collections.abc import Mapping, Sequence
from importlib.resources import files

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

import whynot
from whynot.experiments import groupcam
from whynot.experiments.groupcam import CHANCE, discriminating_pairs, part_rows
from whynot.experiments.localization import hit_zone, pixel_tolerance
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.metrics import average_drop, average_increase, part_mass, pointing_game
from whynot.metrics.model_randomization import pearson
from whynot.stats import bootstrap_ci, normal_halfwidth, paired_difference, verdict
from whynot.utils import min_max

VERSION = 1
METHODS = ("gradcam", "gradcam++", "smoothgradcam++", "scorecam", "groupcam", "abscam_init", "abscam",
           "abscam_literal")
LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "smoothgradcam++": "SGCAM++",
          "scorecam": "Score-CAM", "groupcam": "Group-CAM", "abscam_init": "Abs-CAM_init",
          "abscam": "Abs-CAM", "abscam_literal": "Abs-CAM (literal)"}
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
    "abscam": dict(method="abscam", contrast="softmax", reading="channels"),
    "abscam_literal": dict(method="abscam", contrast="softmax", reading="literal"),
}
MASKED = ("scorecam", "groupcam", "abscam")  # forward-only second phases, chunked by batch_size
# Images per forward pass of masked copies and curve points: 56-pixel images run about twice as
# fast 256 at a time as 64 at a time on a CPU; 224-pixel ones stay at 32 (memory).
CHUNKS = {"synth_vgg": 256, "synth_resnet": 256, "synth_mobile": 256}
SCORES = ("drop", "increase", "drop_top50", "increase_top50", "deletion", "insertion")
GROUND_TRUTH = ("hit_bird", "mass_bird", "hit_parts", "mass_parts")
# The literal reading's map is Abs-CAM_init's times a positive number; deletion and insertion
# rank pixels, so theirs are Abs-CAM_init's by construction and are not run (the other scores
# are, and show the identity).
NO_CURVES = ("abscam_literal",)
# The CAM layer: the last ReLU, whose non-negative channels Score-CAM, Group-CAM and Abs-CAM's
# phase 2 min-max scale into masks (the Score-CAM and Group-CAM authors hook VGG's post-ReLU
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
    if curves:
        scores.update(groupcam.score_maps(model, images, classes, maps, batch_size=batch_size))
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
        from whynot.data.synthetic import load_synthbirds

        birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(slice(batch["start"], batch["stop"]))
        return birds.images, (birds.bird_masks, birds.part_masks)
    from whynot.experiments.pgd import load_images

    images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
    return images, None


def coco_rows(model: nn.Module, batch: Mapping) -> pd.DataFrame:
    """Pointing-game rows of COCO images ``[start, stop)`` (:class:`whynot.data.coco.COCOPointing`):
    one per (image, category, method)."""
    from whynot.data.coco import coco_pointing_from_env

    pointing = coco_pointing_from_env(model.whynot_meta["input_size"])
    rows = []
    device = next(model.parameters()).device
    for index in range(batch["start"], min(batch["stop"], len(pointing))):
        image, targets = pointing[index]
        if not targets:
            continue
        images = image[None].to(device).expand(len(targets), -1, -1, -1)
        with torch.no_grad():
            logits = model(images[:1])[0]
        classes = torch.tensor([target.best_class(logits) for target in targets], device=device)
        masks = torch.stack([target.mask for target in targets]).to(device)
        tolerance = pointing.tolerance
        for method in METHODS:
            maps = explain_method(model, images, classes, method)
            hits = pointing_game(maps, masks, tolerance)
            rows += [dict(model=batch["model"], data="coco", image=index, category=target.category,
                          method=method, target=int(c), hit_coco=float(h))
                     for target, c, h in zip(targets, classes.tolist(), hits.tolist())]
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


def compare_table2(summary: pd.DataFrame, drop: str = "drop_top50", increase: str = "increase_top50") -> pd.DataFrame:
    """Paper Table 2 beside ours: Average Drop and Increase (%), insertion and deletion AUC, one
    row per method (the literal reading has no paper row). ``drop`` / ``increase`` pick our
    variant: the paper's top-50 % mask by default, or ``"drop"`` / ``"increase"`` for the map."""
    paper = reference()["table2"]
    rows = {}
    for method in summary.index:
        ours = summary.loc[method]
        theirs = paper.get(PAPER_ROWS.get(method), {})
        rows[LABELS[method]] = {
            ("drop", "paper"): theirs.get("drop"), ("drop", "ours"): ours[drop],
            ("increase", "paper"): theirs.get("increase"), ("increase", "ours"): ours[increase],
            ("insertion", "paper"): theirs.get("insertion"), ("insertion", "ours"): ours.get("insertion"),
            ("deletion", "paper"): theirs.get("deletion"), ("deletion", "ours"): ours.get("deletion"),
        }
    return pd.DataFrame(rows).T.astype(float)


def compare_table3(summary: pd.DataFrame, times: pd.DataFrame, hit: str = "hit_parts") -> pd.DataFrame:
    """Paper Table 3 beside ours: pointing accuracy, and running time as a ratio to Grad-CAM's
    (the paper's seconds divided by Grad-CAM's 16.84 s; ours from :func:`running_times`)."""
    paper = reference()["table3"]
    base = paper["Grad-CAM"]["seconds"]
    rows = {}
    for method in summary.index:
        theirs = paper.get(PAPER_ROWS.get(method), {})
        rows[LABELS[method]] = {
            ("pointing", "paper"): theirs.get("accuracy"), ("pointing", "ours"): summary.loc[method].get(hit),
            ("time / Grad-CAM", "paper"): theirs["seconds"] / base if theirs else None,
            ("time / Grad-CAM", "ours"): times.ratio[method] / times.ratio["gradcam"] if method in times.index else None,
        }
    return pd.DataFrame(rows).T.astype(float)


def running_times(model: nn.Module, images: Tensor, repeats: int = 3, layer: str | None = None) -> pd.DataFrame:
    """Seconds per image of every method and their ratio to one forward pass
    (:func:`whynot.experiments.groupcam.running_times` with this chapter's settings)."""
    def explain(net, x, classes, method):
        return explain_method(net, x, classes, method, layer)

    return groupcam.running_times(model, images, repeats, METHODS, explain)


def literal_identity(table: pd.DataFrame) -> pd.Series:
    """Per score, the largest difference between the literal reading's rows and Abs-CAM_init's
    on the same images (zero, up to rank ties, if the two maps are equal after min-max)."""
    literal = table[table.method == "abscam_literal"].set_index(["model", "image"])
    initial = table[table.method == "abscam_init"].set_index(["model", "image"])
    columns = [c for c in (*SCORES, *GROUND_TRUTH) if c in table and table[c].notna().any()]
    return (literal[columns] - initial.reindex(literal.index)[columns]).abs().max()


def map_identity(model: nn.Module, images: Tensor, layer: str | None = None) -> float:
    """The largest pixel difference between the literal reading's map after min-max scaling and
    Abs-CAM_init's map, over ``images`` (the identity of Eq. 5 read literally)."""
    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    literal = explain_method(model, images, classes, "abscam_literal", layer)
    initial = explain_method(model, images, classes, "abscam_init", layer)
    return float((min_max(literal) - initial).abs().max())


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
    :func:`whynot.experiments.groupcam.part_rows`, with a uniform map as chance), and per
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
    (:func:`whynot.experiments.groupcam.sanity_checks`)."""
    return groupcam.sanity_checks(model, images, methods, seed, explain=explain_method)


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
    return explanation_grid(chosen, maps, class_names=CLASS_NAMES, classes=classes)


def explorer_views(model: nn.Module, images: Tensor, methods: Sequence[str] = METHODS,
                   layer: str | None = None) -> tuple[dict, dict]:
    """``(views, controls)`` for :func:`whynot.widgets.explorer`: image x method overlays of the
    predicted class."""
    from whynot.viz import overlay_array

    maps = method_maps(model, images, methods, layer)
    names = [f"image {i}" for i in range(len(images))]
    views = {(name, label): overlay_array(images[i], value[i, 0])
             for label, value in maps.items() for i, name in enumerate(names)}
    return views, {"image": names, "method": list(maps)}


# --- verdicts ------------------------------------------------------------------------------------
TABLE2_METRICS = {"drop_top50": -1, "increase_top50": 1, "insertion": 1, "deletion": -1, "hit_parts": 1}
RIVALS = ("gradcam", "gradcam++", "smoothgradcam++", "scorecam", "groupcam", "abscam_init")


def _per_image(table: pd.DataFrame, method: str) -> pd.DataFrame:
    return table[table.method == method].set_index("image")


def verdicts(table: pd.DataFrame, sanity: pd.DataFrame | None = None,
             discrimination: pd.DataFrame | None = None, times: pd.DataFrame | None = None,
             similarity: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """The paper's claims, each with our paired difference (Abs-CAM minus the rival; percent
    points for drop and increase, AUC or hit-rate fractions otherwise), its bootstrap 95 %
    interval over images and a verdict (:func:`whynot.stats.verdict`). Columns
    ``claim``, ``rival``, ``metric`` (for a grid), ``paper``, ``difference``, ``low``, ``high``,
    ``images``, ``verdict``. ``sanity``, ``discrimination`` and ``similarity`` are the tables of
    :func:`sanity_checks` and :func:`class_discrimination`; ``times`` of :func:`running_times`."""
    ours = _per_image(table, "abscam")
    rows = []
    for metric, sign in TABLE2_METRICS.items():
        if metric not in table or table[metric].isna().all():
            continue
        for rival in RIVALS:
            mean, low, high = paired_difference(ours[metric], _per_image(table, rival)[metric], seed)
            better = "lower" if sign < 0 else "higher"
            rows.append(dict(claim=f"Abs-CAM's {metric} is {better} than {LABELS[rival]}'s", rival=LABELS[rival],
                             metric=metric, paper="yes", difference=mean, low=low, high=high,
                             images=int(ours[metric].notna().sum()), verdict=verdict(low, high, sign)))
    if sanity is not None:
        top = sanity[(sanity["mode"] == "cascading") & (sanity.depth == sanity.depth.max()) &
                     (sanity.method == "abscam")].spearman.dropna().to_numpy()
        low, high = bootstrap_ci(top, seed=seed)
        mean = float(top.mean()) if len(top) else float("nan")
        rows.append(dict(claim="Abs-CAM maps change when the whole model is randomised (Fig. 7): rank "
                               "correlation below 0.5", rival="", metric="sanity", paper="yes",
                         difference=mean - 0.5, low=low - 0.5, high=high - 0.5, images=len(top),
                         verdict=verdict(low - 0.5, high - 0.5, -1)))
    if discrimination is not None and len(discrimination):
        by = discrimination.set_index(["image", "rank", "method"]).part_mass.unstack("method")
        second = by.xs(2, level="rank")
        claims = [("Abs-CAM's map of the second class puts more mass on the differing part than a "
                   "uniform map (Fig. 4)", "yes", second["Abs-CAM (softmax)"], second[CHANCE])]
        for method in ("Grad-CAM", "Abs-CAM_init"):
            if f"{method} (weighted)" in by:
                claims.append((f"the weighted contrast moves {method}'s mass onto the differing part "
                               "(over its logit map)", "(new)", by[f"{method} (weighted)"], by[f"{method} (logit)"]))
        for claim, paper, first, rival in claims:
            mean, low, high = paired_difference(first, rival, seed)
            rows.append(dict(claim=claim, rival="", metric="part_mass", paper=paper, difference=mean, low=low,
                             high=high, images=int(first.notna().sum()), verdict=verdict(low, high, 1)))
    if similarity is not None and len(similarity):
        for method, paper in (("Abs-CAM (softmax)", "yes"), ("Abs-CAM_init (weighted)", "(new)"),
                              ("Grad-CAM (weighted)", "(new)")):
            values = similarity[similarity.method == method].similarity.dropna().to_numpy()
            low, high = bootstrap_ci(values, seed=seed)
            mean = float(values.mean()) if len(values) else float("nan")
            rows.append(dict(claim=f"{method} draws different maps for the two classes (Fig. 4): their "
                                   "correlation is below 0.5", rival="", metric="similarity", paper=paper,
                             difference=mean - 0.5, low=low - 0.5, high=high - 0.5, images=len(values),
                             verdict=verdict(low - 0.5, high - 0.5, -1)))
    if times is not None:
        ratio = times.ratio["abscam"] / times.ratio["gradcam"]
        rows.append(dict(claim="Abs-CAM costs the same order of magnitude as Grad-CAM (Table 3: 1.4x)",
                         rival="Grad-CAM", metric="time", paper="yes", difference=ratio, low=float("nan"),
                         high=float("nan"), images=0, verdict="holds" if ratio < 10 else "does not hold"))
    return pd.DataFrame(rows)


def verdict_grid(found: pd.DataFrame) -> pd.DataFrame:
    """Table 2 and pointing verdicts as a grid: one row per rival, one column per metric."""
    rows = found[found.metric.isin(list(TABLE2_METRICS))]
    return rows.pivot(index="rival", columns="metric", values="verdict").reindex(
        index=[LABELS[r] for r in RIVALS], columns=[m for m in TABLE2_METRICS if m in set(rows.metric)])
