"""Group-CAM (Zhang et al., 2021): deletion / insertion, ablations over G and theta, timing, sanity.

The chapter-06 experiment runs through the resumable runner: every image of the plan is
explained by GradCAM, GradCAM++, ScoreCAM and Group-CAM (the paper's Table 1), and the first
``ablation`` images of the models it names also by Group-CAM for every G of Table 2 and every
theta of Fig. 5; each map
is scored by deletion and insertion (:mod:`whynot.metrics`). One row per (image, setting).

>>> table = runner.table(runner.run(experiment("default")))          # doctest: +SKIP
>>> summarize(table[table.study == "methods"], by="method")           # doctest: +SKIP
"""
from __future__ import annotations

import importlib
import json
from collections.abc import Mapping, Sequence
from importlib.resources import files

import pandas as pd
import torch
from torch import Tensor, nn

import whynot
from whynot import claims
from whynot.experiments import cam_claims, evaluation
from whynot.experiments.evaluation import plot_sanity, score_maps  # noqa: F401 (chapter 06's names)
from whynot.experiments.images import load_images
from whynot.experiments.parts import CHANCE, discriminating_pairs, part_rows
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.labels import METHOD_LABELS
from whynot.metrics import deletion, insertion
from whynot.metrics.pointing_game import pixel_tolerance
from whynot.stats import normal_halfwidth

VERSION = 3  # 2: ScoreCAM masks towards the mean colour; 3: chunks of 256, channels-last curves
METHODS = ("gradcam", "gradcam++", "scorecam", "groupcam")
# Each method in the form the Group-CAM authors compared (their cam/ folder): ReLU'd maps of the
# predicted class; GradCAM and GradCAM++ from the logit's gradient; ScoreCAM and Group-CAM weight
# their masks by softmax probabilities (ScoreCAM: p_t of each masked image, no softmax over
# channels; Group-CAM: gains over the blurred image, masks from the logit's gradient).
METHOD_SETTINGS = {
    "gradcam": dict(relu=True, contrast="logit"),
    "gradcam++": dict(relu=True, contrast="logit"),
    "scorecam": dict(relu=True, contrast="softmax", channel_softmax=False),
    "groupcam": dict(relu=True, contrast="softmax"),
}
DEFAULT_GROUPS, DEFAULT_THETA = 32, 70.0
# Images per forward pass of masked copies and curve points: 56-pixel images run about twice as
# fast 256 at a time as 64 at a time on a CPU (benchmarks/README.md); others stay at 64.
CHUNKS = {"synth_vgg": 256, "synth_resnet": 256, "synth_mobile": 256}
GROUPS = (1, 4, 8, 16, 32, 64, 128, 256)  # Table 2; values above the layer's channels are skipped
THETAS = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)  # Fig. 5
# The first model is the chapter's main one (the paper's tables, figures and sanity checks); the
# others repeat Table 1 on other architectures. The paper ran insertion/deletion on VGG19 and
# "other results" on ResNet-50; the full profile's COCO rows are Table 4's pointing game
# (ResNet-50, the first 500 val2017 images: Score-CAM costs 2048 masked forwards per box).
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 2), ("synth_resnet", "synthbirds", 2)],
              "batch_size": 2, "ablation": {"synth_vgg": 2}, "groups": (1,), "thetas": (0.0,)},
    "default": {"models": [("synth_vgg", "synthbirds", 81), ("synth_resnet", "synthbirds", 81),
                           ("synth_mobile", "synthbirds", 81), ("efficientnet_lite0", "photos", 2)],
                "batch_size": 27, "ablation": {"synth_vgg": 27},
                "groups": (1, 4, 8, 16, 32, 64), "thetas": (0.0, 30.0, 50.0, 70.0, 80.0, 90.0)},
    "full": {"models": [("vgg19", "imagenet", 10000), ("resnet50", "imagenet", 5000),
                        ("resnet50", "coco", 500)], "batch_size": 16,
             "ablation": {"vgg19": 5000}, "groups": GROUPS, "thetas": THETAS},
}


def settings(plan: Mapping, channels: int | None = None, ablation: bool = True) -> list[dict]:
    """The (study, method, groups, theta) settings of one image: Table 1, then Table 2 and Fig. 5.

    The ablations skip G = 32, theta = 70: that is Table 1's Group-CAM row (see :func:`ablation`).
    """
    rows = [dict(study="methods", method=m, groups=DEFAULT_GROUPS if m == "groupcam" else 0,
                 theta=DEFAULT_THETA if m == "groupcam" else float("nan")) for m in METHODS]
    if ablation:
        rows += [dict(study="groups", method="groupcam", groups=g, theta=DEFAULT_THETA)
                 for g in plan["groups"] if g != DEFAULT_GROUPS and (channels is None or g <= channels)]
        rows += [dict(study="theta", method="groupcam", groups=DEFAULT_GROUPS, theta=t)
                 for t in plan["thetas"] if t != DEFAULT_THETA]
    return rows


def ablation(table: pd.DataFrame, study: str) -> pd.DataFrame:
    """Rows of the ``"groups"`` or ``"theta"`` study, with Table 1's default Group-CAM rows of the
    same images added (G = 32, theta = 70 is computed once)."""
    if study not in ("groups", "theta"):
        raise ValueError(f"study must be 'groups' or 'theta'; got {study!r}.")
    rows = table[table.study == study]
    default = table[(table.study == "methods") & (table.method == "groupcam") & table.image.isin(rows.image)]
    return pd.concat([rows, default.assign(study=study)], ignore_index=True)


def explain_setting(model: nn.Module, images: Tensor, classes: Tensor, setting: Mapping,
                    batch_size: int = 64) -> Tensor:
    """Maps ``[B, H, W]`` of one setting for ``classes [B]``."""
    kwargs = dict(METHOD_SETTINGS[setting["method"]])
    if setting["method"] == "groupcam":
        kwargs.update(groups=int(setting["groups"]), theta=float(setting["theta"]), batch_size=batch_size)
    elif setting["method"] == "scorecam":
        kwargs.update(batch_size=batch_size)
    return whynot.explain(model, images, method=setting["method"], classes=classes[:, None], **kwargs)[:, 0]


def layer_channels(model: nn.Module, layer: str | None = None) -> int:
    """Channels of ``layer`` (default: the model's default CAM layer; caps the G of the ablation)."""
    from whynot.explainers.hooks import capture_layer, resolve_layer

    name, layer = resolve_layer(model, layer)
    size = model.whynot_meta["input_size"]
    device = next(model.parameters()).device
    with torch.no_grad(), capture_layer(layer, name, as_leaf=False) as capture:
        model(torch.zeros(1, 3, size, size, device=device))
    return capture.activation.shape[1]


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The chapter-06 experiment of ``profile`` (:data:`PLANS`); rows: one per (image, setting)."""
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    plan = PLANS[profile]
    config = {"profile": profile, "seed": seed, "models": chosen, "methods": METHOD_SETTINGS,
              "ablation": plan["ablation"], "groups": list(plan["groups"]),
              "thetas": list(plan["thetas"]), **data_config(chosen)}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        if batch["data"] == "coco":
            return coco_rows(model, batch)
        images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        images = images.to(device)
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        channels = layer_channels(model)
        chunk = CHUNKS.get(batch["model"], 64)
        tables = []
        for ablation in (False, True):
            # Ablations only for the first plan["ablation"][model] images (a prefix of the batch).
            ablated = plan["ablation"].get(batch["model"], 0)
            count = max(0, min(batch["stop"], ablated) - batch["start"]) if ablation else len(images)
            for setting in (settings(plan, channels)[len(METHODS):] if ablation else settings(plan, ablation=False)):
                if count == 0:
                    break
                maps = explain_setting(model, images[:count], predicted[:count], setting, chunk)
                scores = score_maps(model, images[:count], predicted[:count], maps, chunk)
                tables.append(pd.DataFrame({
                    "model": batch["model"], "data": batch["data"],
                    "image": range(batch["start"], batch["start"] + count), **setting,
                    "target": predicted[:count].tolist(),
                    **{name: value.tolist() for name, value in scores.items()},
                }))
        return pd.concat(tables, ignore_index=True)

    return Experiment("groupcam", VERSION, config, batches, run_batch)


def coco_rows(model: nn.Module, batch: Mapping) -> pd.DataFrame:
    """Table 4's pointing game on COCO images ``[start, stop)`` (full profile): every (image,
    category) with a mapped ImageNet class, explained for that class's best ImageNet class by each
    method of Table 1; ``hit_coco`` is 1 when the map's maximum is in one of the category's boxes
    (tolerance: :func:`whynot.metrics.pointing_game.pixel_tolerance`). One row per (image,
    category, method)."""
    from whynot.metrics import pointing_game

    rows = []
    for item in evaluation.coco_items(model, batch["start"], batch["stop"]):
        for setting in settings(PLANS["full"], ablation=False):
            maps = explain_setting(model, item.images, item.classes, setting)
            hits = pointing_game(maps, item.masks, item.tolerance)
            rows += [dict(model=batch["model"], data="coco", image=item.index, category=target.category,
                          **{**setting, "study": "pointing"}, target=int(c), hit_coco=float(h))
                     for target, c, h in zip(item.targets, item.classes.tolist(), hits.tolist())]
    return pd.DataFrame(rows)


def summarize(table: pd.DataFrame, by: str | Sequence[str] = "method") -> pd.DataFrame:
    """Mean deletion, insertion and over-all (= insertion - deletion) AUC per ``by``, in percent
    as the paper prints them, with normal 95 % half-widths (``*_ci``) and the image count."""
    table = table.assign(overall=table.insertion - table.deletion)
    by = [by] if isinstance(by, str) else list(by)
    grouped = table.groupby(by, sort=False)
    columns = ["insertion", "deletion", "overall"]
    summary = 100 * grouped[columns].mean()
    for column in columns:
        summary[f"{column}_ci"] = 100 * grouped[column].agg(normal_halfwidth)
    summary["images"] = grouped.size()
    return summary


def reference() -> dict:
    """The Group-CAM paper's Tables 1-3 (ImageNet; VGG19 for Table 1, 2080Ti seconds in Table 3)."""
    return json.loads(files("whynot").joinpath("reference", "groupcam_paper.json").read_text())


def compare_table1(summary: pd.DataFrame) -> pd.DataFrame:
    """Paper Table 1 beside ours: one row per method, paper and ours for each AUC."""
    paper = pd.DataFrame(reference()["table1"]).T
    rows = {}
    for method, label in {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM",
                          "groupcam": "Group-CAM"}.items():
        ours = summary.loc[method]
        rows[label] = {("insertion", "paper"): paper.loc[label, "insertion"],
                       ("insertion", "ours"): ours.insertion,
                       ("deletion", "paper"): paper.loc[label, "deletion"],
                       ("deletion", "ours"): ours.deletion,
                       ("over-all", "paper"): paper.loc[label, "overall"],
                       ("over-all", "ours"): ours.overall}
    return pd.DataFrame(rows).T


def repeat_times(model: nn.Module, images: Tensor, repeats: int = 5,
                 methods: Sequence[str] = METHODS) -> pd.DataFrame:
    """Seconds per image of each method (G = 32, theta = 70) and of a forward pass, per repeat
    (:func:`whynot.experiments.cam_claims.repeat_times`): the rows :func:`speed_records` reads."""
    return cam_claims.repeat_times(model, images, methods, _explain_method, repeats)


def _explain_method(model: nn.Module, images: Tensor, classes: Tensor, method: str) -> Tensor:
    return explain_setting(model, images, classes, dict(method=method, groups=DEFAULT_GROUPS, theta=DEFAULT_THETA))


# --- class discrimination with ground-truth parts (SynthBirds) ----------------------------------
def class_discrimination(model: nn.Module, images: Tensor, part_masks: Tensor,
                         contrasts: Sequence[str] = ("softmax", "weighted"), threshold: float = 0.1,
                         batch_size: int = 64) -> pd.DataFrame:
    """Group-CAM for the top two classes of every image whose top two SynthBirds classes differ in
    one part (and p2 > ``threshold``): the share of each map's mass on that part
    (:func:`whynot.metrics.part_mass`) and whether its maximum is on the part
    (:func:`whynot.metrics.pointing_game`, 15 pixels at 224 scaled), per contrast. ``"softmax"`` is the paper's Group-CAM
    (masks from the logit's gradient, softmax score); ``"weighted"`` is the contrastive one (masks
    from the weighted contrast's gradient, weighted-contrast score). Plus GradCAM's logit map as
    the non-contrastive reference, and a uniform map, which scores the part's share of the image
    (chance; it has no maximum, so its ``hit`` is NaN). One row per (image, rank, method)."""
    keep, classes, masks, parts = discriminating_pairs(model, images, part_masks, threshold)
    if not keep:
        return part_rows({}, masks, keep, parts, 0.0)
    chosen = images[keep]
    gradcam = whynot.explain(model, chosen, method="gradcam", classes=classes)
    maps = {f"{LABELS['gradcam']} (logit)": gradcam}
    for contrast in contrasts:
        masks_from = "logit" if contrast == "softmax" else "contrast"
        maps[f"Group-CAM ({contrast})"] = whynot.explain(
            model, chosen, method="groupcam", classes=classes, contrast=contrast, masks=masks_from,
            relu=True, batch_size=batch_size)
    maps[CHANCE] = torch.ones_like(next(iter(maps.values())))  # scores the part's share
    return part_rows(maps, masks, keep, parts, pixel_tolerance(images.shape[-1]))


# --- sanity checks -------------------------------------------------------------------------------
def sanity_checks(model: nn.Module, images: Tensor, methods: Sequence[str] = ("gradcam", "groupcam"),
                  seed: int = 0, explain: evaluation.Explain | None = None) -> pd.DataFrame:
    """Adebayo et al.'s cascading and independent randomisation for each method's map of the
    predicted class (classic forms, :data:`METHOD_SETTINGS`; or ``explain(model, images,
    classes, method)``, one method's maps ``[B, H, W]``). Rows of
    :func:`whynot.metrics.model_randomization` with ``method`` and ``mode`` added."""
    return evaluation.sanity_checks(model, images, methods, seed, explain or _explain_method)


# --- figures -------------------------------------------------------------------------------------
LABELS = {m: METHOD_LABELS[m] for m in METHODS}


def method_maps(model: nn.Module, images: Tensor, classes: Tensor | None = None,
                groups: int = DEFAULT_GROUPS) -> dict[str, Tensor]:
    """Every method's classic map ``[B, 1, H, W]`` of ``classes`` (default: the predictions)."""
    if classes is None:
        with torch.no_grad():
            classes = model(images).argmax(dim=1)
    return {LABELS[m]: explain_setting(model, images, classes,
                                       dict(method=m, groups=groups, theta=DEFAULT_THETA))[:, None]
            for m in METHODS}


def plot_curves(model: nn.Module, image: Tensor, maps: Mapping[str, Tensor], target: int):
    """Paper Fig. 4: deletion and insertion curves of one image for each method's map ``[H, W]``."""
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(9.2, 3.6), sharey=True)  # a full-width cell
    classes = torch.tensor([target])
    for name, value in maps.items():
        for ax, metric in zip(axes, (deletion, insertion)):
            curve = metric(model, image[None], value[None], classes)
            ax.plot(curve.fractions.cpu(), curve.scores[0].cpu(),
                    label=f"{name} (AUC {100 * curve.auc.item():.1f})")
    for ax, title in zip(axes, ("deletion (lower is better)", "insertion (higher is better)")):
        ax.set(title=title, xlabel="fraction of pixels", ylim=(0, 1.02))
        ax.legend(fontsize="small")
    axes[0].set_ylabel("softmax score of the class")
    figure.tight_layout()
    return figure


def plot_ablation(table: pd.DataFrame, study: str, paper: Mapping | None = None):
    """Paper Table 2 / Fig. 5: insertion, deletion and over-all AUC against G or theta, means with
    95 % intervals over images; the paper's values (if given) as dashed lines."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    rows = ablation(table, study).assign(overall=lambda t: t.insertion - t.deletion)
    long = rows.melt(id_vars=[study], value_vars=["insertion", "deletion", "overall"],
                     var_name="AUC", value_name="value")
    long["value"] *= 100
    figure, axes = plt.subplots(1, 3, figsize=(9.2, 3.4))  # a full-width cell
    for ax, metric in zip(axes, ("insertion", "deletion", "overall")):
        sns.lineplot(long[long.AUC == metric], x=study, y="value", marker="o", errorbar=("se", 1.96),
                     ax=ax, label="ours")
        if paper is not None:
            keys = sorted(paper, key=float)
            ax.plot([float(k) for k in keys], [paper[k][metric] for k in keys], "--", marker="s",
                    color="grey", label="paper (ImageNet, VGG19)")
        ax.set(title=f"{metric} ({'higher' if metric != 'deletion' else 'lower'} is better)",
               xlabel="G" if study == "groups" else r"$\theta$", ylabel="AUC (%)")
        if study == "groups":
            ax.set_xscale("log", base=2)
        ax.legend(fontsize="small")
    figure.tight_layout()
    return figure


# --- claims (whynot.claims.ch06) -----------------------------------------------------------------
RIVALS = ("gradcam", "gradcam++", "scorecam")
METRIC = {name: importlib.import_module(f"whynot.metrics.{name}") for name in (
    "insertion", "deletion", "map_entropy", "part_mass", "pointing_game", "model_randomization")}
SPEED_BOUNDARIES = {"groupcam-table3-gradcam": 0.09 / 0.03, "groupcam-table3-scorecam": 2.46 / 0.09}
G1_TOLERANCE = 1e-3  # float32 round-off of min-max scaled maps is about 1e-6


def _per_image(table: pd.DataFrame, **where) -> pd.DataFrame:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.set_index("image").assign(overall=lambda t: t.insertion - t.deletion)


def _data_of(table: pd.DataFrame) -> str:
    return ", ".join(dict.fromkeys(table.data))


def table1_records(table: pd.DataFrame, seed: int = 0) -> list[claims.Record]:
    """Table 1's three claims: Group-CAM minus each rival in insertion, deletion and over-all
    AUC (points), paired over images, on every model of ``table`` (photos and COCO rows left
    out: two photos give no interval), each claim one combined record."""
    methods = table[(table.study == "methods") & ~table.data.isin(["photos", "coco"])]
    models = list(dict.fromkeys(methods.model))
    records = []
    for claim, metric, claimed in (("groupcam-table1-insertion", "insertion", METRIC["insertion"]),
                                   ("groupcam-table1-deletion", "deletion", METRIC["deletion"]),
                                   ("groupcam-table1-overall", "overall", "higher")):
        found = []
        for model in models:
            rows = methods[methods.model == model]
            group = _per_image(rows, method="groupcam")[metric]
            found += [cam_claims.paired(f"{model} vs {LABELS[rival]}", group,
                                        _per_image(rows, method=rival)[metric], 100, seed)
                      for rival in RIVALS]
        records.append(cam_claims.combined(
            claim, found, claimed, f"Group-CAM - rival, {metric} AUC points",
            data=_data_of(methods), model=", ".join(models), decimals=2))
    return records


def ablation_records(table: pd.DataFrame, seed: int = 0) -> list[claims.Record]:
    """Table 2 (over-all AUC at the largest G minus at G = 1) and Fig. 5 (at the largest theta
    minus at theta = 70), paired over the ablated images of the main model (``table``'s)."""
    records = []
    groups, thetas = ablation(table, "groups"), ablation(table, "theta")
    for claim, rows, column, low, claimed, label in (
            ("groupcam-table2-groups", groups, "groups", groups.groups.min(), "higher", "G"),
            ("groupcam-fig5-theta", thetas, "theta", DEFAULT_THETA, "lower", "theta")):
        high = rows[column].max()
        if not high > low:
            records.append(claims.Record(claim, "not resolved", f"this profile runs no {label} "
                                         f"above {low:g}; the default profile does"))
            continue
        found = cam_claims.paired(f"{label} = {high:g} vs {label} = {low:g}",
                                  _per_image(rows, **{column: high}).overall,
                                  _per_image(rows, **{column: low}).overall, 100, seed)
        records.append(cam_claims.combined(claim, [found], claimed, "over-all AUC points",
                                           data=_data_of(rows), model=rows.model.iloc[0],
                                           decimals=2))
    return records


def speed_records(times: pd.DataFrame, model: str, data: str) -> list[claims.Record]:
    """Table 3: Group-CAM's time over Grad-CAM's (claimed at most the paper's 3x) and Score-CAM's
    over Group-CAM's (claimed at least the paper's 27x), per repeat of
    :func:`whynot.experiments.cam_claims.repeat_times` on one machine."""
    records = []
    for claim, slower, faster, claimed in (
            ("groupcam-table3-gradcam", "groupcam", "gradcam", "lower"),
            ("groupcam-table3-scorecam", "scorecam", "groupcam", "higher")):
        found = cam_claims.time_ratio(times, slower, faster)
        boundary = SPEED_BOUNDARIES[claim]
        what = (f"{LABELS[slower]}'s time / {LABELS[faster]}'s against the paper's "
                f"{boundary:.0f}x, this machine")
        records.append(cam_claims.combined(claim, [found], claimed, what, unit="timing repeats",
                                           data=data, model=model, decimals=1, boundary=boundary))
    return records


def noise_table(model: nn.Module, images: Tensor,
                methods: Sequence[str] = ("gradcam", "scorecam", "groupcam")) -> pd.DataFrame:
    """The spread of each method's map of the predicted class (:func:`whynot.metrics.map_entropy`:
    1 for a uniform map, lower is less noisy). One row per (image, method)."""
    from whynot.metrics import map_entropy

    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    rows = []
    for method in methods:
        spread = map_entropy(_explain_method(model, images, classes, method))
        rows += [dict(image=i, method=method, entropy=float(v))
                 for i, v in enumerate(spread.tolist())]
    return pd.DataFrame(rows)


def g1_gap(model: nn.Module, images: Tensor) -> tuple[float, int]:
    """Group-CAM with G = 1 and no de-noising against the ReLU GradCAM of the predicted class,
    upsampled as Group-CAM upsamples its masks (bilinear, ``align_corners=False``) and min-max
    scaled: the largest pixel difference over the images whose one mask raises the score
    (elsewhere Group-CAM's map is zero), and how many such images there are."""
    import torch.nn.functional as F

    from whynot.utils import min_max

    with torch.no_grad():
        classes = model(images).argmax(dim=1)[:, None]
    group = whynot.explain(model, images, method="groupcam", groups=1, theta=None, classes=classes,
                           **METHOD_SETTINGS["groupcam"])[:, 0]
    grad = whynot.explain(model, images, method="gradcam", classes=classes, upsample=False,
                          **METHOD_SETTINGS["gradcam"])
    grad = F.interpolate(grad, size=images.shape[-2:], mode="bilinear", align_corners=False)
    grad = min_max(grad)[:, 0]
    raised = group.flatten(1).amax(dim=1) > 0
    if not raised.any():
        return float("nan"), 0
    return float((group[raised] - grad[raised]).abs().amax()), int(raised.sum())


def claim_records(table: pd.DataFrame, main: str, sanity: pd.DataFrame | None = None,
                  discrimination: pd.DataFrame | None = None, noise: pd.DataFrame | None = None,
                  g1: tuple[float, int] | None = None, seed: int = 0) -> list[claims.Record]:
    """Every claim of :mod:`whynot.claims.ch06` except running time (:func:`speed_records`,
    machine-dependent): ``table`` the experiment's rows, ``main`` its main model; ``sanity``,
    ``discrimination``, ``noise`` and ``g1`` from :func:`sanity_checks`,
    :func:`class_discrimination`, :func:`noise_table` and :func:`g1_gap` (the main model's)."""
    main_rows = table[(table.model == main) & (table.data != "coco")]
    data = _data_of(main_rows)
    records = [*table1_records(table, seed), *ablation_records(main_rows, seed)]
    if noise is not None:
        by = noise.set_index(["image", "method"]).entropy.unstack("method")
        found = [cam_claims.paired(f"{main} vs {LABELS[r]}", by["groupcam"], by[r], seed=seed)
                 for r in ("gradcam", "scorecam")]
        records.append(cam_claims.combined("groupcam-fig2-noise", found, METRIC["map_entropy"],
                                           "Group-CAM - rival, map entropy", data=data, model=main))
    if g1 is not None:
        gap, count = g1
        records.append(claims.measured(
            "groupcam-g1-gradcam", gap, gap, gap,
            f"largest pixel difference, against {G1_TOLERANCE:g} (round-off)", "lower",
            G1_TOLERANCE, n=count, unit="images whose one mask raises the score", data=data,
            model=main, decimals=4))
    if discrimination is not None:
        second = discrimination[discrimination["rank"] == 2].pivot(
            index="image", columns="method", values="part_mass"
        ).reindex(columns=["Group-CAM (softmax)", CHANCE])
        found = cam_claims.paired("second class's Group-CAM vs a uniform map",
                                  second["Group-CAM (softmax)"], second[CHANCE], seed=seed)
        records.append(cam_claims.combined(
            "groupcam-fig3-discrimination", [found], METRIC["part_mass"],
            "share of mass on the differing part, Group-CAM - uniform map",
            data="SynthBirds (top two classes differ in one part)", model="synth_vgg"))
    if sanity is not None:
        top = sanity[(sanity["mode"] == "cascading") & (sanity.depth == sanity.depth.max()) &
                     (sanity.method == "groupcam")].spearman  # NaN: a constant map
        found = cam_claims.against("every layer randomised", top, 0.5, seed)
        records.append(cam_claims.combined(
            "groupcam-fig6-sanity", [found], METRIC["model_randomization"],
            "rank correlation with the trained model's map - 0.5", data=data, model=main))
    records.append(pointing_record(table, seed))
    records += [
        claims.not_tested("groupcam-fig7-finetune", "does not fit the chapter's time budget: it "
                          "needs a model fine-tuned twice (with and without Group-CAM inputs, "
                          "G = 16, a Group-CAM map per training image and epoch) and a test "
                          "split per run"),
        claims.not_tested("groupcam-fig8-noise-falls", "needs the same fine-tuning run, with "
                          "Group-CAM maps of fixed images after every few epochs"),
    ]
    return records


def pointing_record(table: pd.DataFrame, seed: int = 0) -> claims.Record:
    """Table 4: mean pointing accuracy over COCO categories, Group-CAM minus each rival, paired
    over categories (the full profile's COCO rows); offline, the claim needs the full profile."""
    coco = table[table.data == "coco"] if "hit_coco" in table else table.iloc[:0]
    if coco.empty:
        return claims.needs_full_profile(
            "groupcam-table4-pointing", "needs COCO val2017 and ImageNet weights: the full profile "
            "runs ResNet-50 on 500 val2017 images ($WHYNOT_COCO)")
    accuracy = coco.groupby(["category", "method"]).hit_coco.mean().unstack("method")
    found = [cam_claims.paired(f"{coco.model.iloc[0]} vs {LABELS[r]}", accuracy["groupcam"],
                               accuracy[r], 100, seed) for r in RIVALS]
    return cam_claims.combined("groupcam-table4-pointing", found, METRIC["pointing_game"],
                               "Group-CAM - rival, accuracy points", unit="COCO categories",
                               data="COCO val2017", model=coco.model.iloc[0], decimals=1)


def explorer_views(model: nn.Module, images: Tensor, groups: Sequence[int]) -> tuple[dict, dict]:
    """``(views, controls)`` for :func:`whynot.widgets.explorer`: image x method x G overlays of
    the predicted class. Methods without groups give the same picture for every G."""
    from whynot.viz import THUMBNAIL_PX, overlay_array

    names = [f"image {i}" for i in range(len(images))]
    labels = ["Grad-CAM", "Group-CAM", "Grad-CAM++", "Score-CAM"]  # G switches the second
    fixed = method_maps(model, images)
    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    views = {}
    for g in groups:
        setting = dict(method="groupcam", groups=g, theta=DEFAULT_THETA)
        by_method = {**fixed, "Group-CAM": explain_setting(model, images, classes, setting)[:, None]}
        for index, name in enumerate(names):
            for label in labels:
                views[(name, label, f"G = {g}")] = overlay_array(
                    images[index], by_method[label][index, 0], size=THUMBNAIL_PX)
    return views, {"image": names, "method": labels, "groups": [f"G = {g}" for g in groups]}


def plot_contrastive(model: nn.Module, images: Tensor, part_masks: Tensor, count: int = 2,
                     threshold: float = 0.1):
    """Group-CAM as the paper runs it (softmax) and contrastive (weighted), for the top two classes
    of the first ``count`` images whose top two SynthBirds classes differ in one part, beside the
    part's mask (drawn as a map)."""
    from whynot.data.synthetic import CLASS_NAMES
    from whynot.viz import explanation_grid

    keep, classes, masks, parts = discriminating_pairs(model, images, part_masks, threshold)
    if not keep:
        raise ValueError("no image has top two classes that differ in one part with p2 > threshold; pass more images.")
    chosen, classes, masks = images[keep[:count]], classes[:count], masks[:count].float()
    maps = {f"differing part ({', '.join(parts[:count])})": masks.expand(-1, 2, -1, -1)}
    for contrast, masks_from in (("softmax", "logit"), ("weighted", "contrast")):
        maps[f"Group-CAM ({contrast})"] = whynot.explain(
            model, chosen, method="groupcam", classes=classes, contrast=contrast, masks=masks_from, relu=True)
    return explanation_grid(chosen, maps, class_names=CLASS_NAMES, classes=classes, panel_size=1.6)

