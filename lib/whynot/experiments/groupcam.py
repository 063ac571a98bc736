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

import json
import time
from collections.abc import Callable, Mapping, Sequence
from importlib.resources import files

import pandas as pd
import torch
from torch import Tensor, nn

import whynot
from whynot.experiments.pgd import load_images
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.metrics import deletion, insertion
from whynot.stats import normal_halfwidth, paired_difference, verdict

VERSION = 2  # 2: ScoreCAM masks towards the mean colour
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
GROUPS = (1, 4, 8, 16, 32, 64, 128, 256)  # Table 2; values above the layer's channels are skipped
THETAS = (0.0, 10.0, 20.0, 30.0, 40.0, 50.0, 60.0, 70.0, 80.0, 90.0)  # Fig. 5
# The first model is the chapter's main one (the paper's tables, figures and sanity checks); the
# others repeat Table 1 on other architectures. The paper ran insertion/deletion on VGG19 and
# "other results" on ResNet-50.
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 2), ("synth_resnet", "synthbirds", 2)],
              "batch_size": 2, "ablation": {"synth_vgg": 2}, "groups": (1,), "thetas": (0.0,)},
    "default": {"models": [("synth_vgg", "synthbirds", 81), ("synth_resnet", "synthbirds", 81),
                           ("synth_mobile", "synthbirds", 81), ("efficientnet_lite0", "photos", 2)],
                "batch_size": 27, "ablation": {"synth_vgg": 27},
                "groups": (1, 4, 8, 16, 32, 64), "thetas": (0.0, 30.0, 50.0, 70.0, 80.0, 90.0)},
    "full": {"models": [("vgg19", "imagenet", 10000), ("resnet50", "imagenet", 5000)], "batch_size": 16,
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


def score_maps(model: nn.Module, images: Tensor, classes: Tensor, maps: Tensor, batch_size: int = 64) -> dict:
    """Deletion and insertion AUCs ``[B]`` (blurred substrate, 1 % steps, softmax of ``classes``)."""
    return {
        "deletion": deletion(model, images, maps, classes, batch_size=batch_size).auc,
        "insertion": insertion(model, images, maps, classes, batch_size=batch_size).auc,
    }


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
        images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        images = images.to(device)
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        channels = layer_channels(model)
        tables = []
        for ablation in (False, True):
            # Ablations only for the first plan["ablation"][model] images (a prefix of the batch).
            ablated = plan["ablation"].get(batch["model"], 0)
            count = max(0, min(batch["stop"], ablated) - batch["start"]) if ablation else len(images)
            for setting in (settings(plan, channels)[len(METHODS):] if ablation else settings(plan, ablation=False)):
                if count == 0:
                    break
                maps = explain_setting(model, images[:count], predicted[:count], setting)
                scores = score_maps(model, images[:count], predicted[:count], maps)
                tables.append(pd.DataFrame({
                    "model": batch["model"], "data": batch["data"],
                    "image": range(batch["start"], batch["start"] + count), **setting,
                    "target": predicted[:count].tolist(),
                    **{name: value.tolist() for name, value in scores.items()},
                }))
        return pd.concat(tables, ignore_index=True)

    return Experiment("groupcam", VERSION, config, batches, run_batch)


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


def running_times(model: nn.Module, images: Tensor, repeats: int = 3, methods: Sequence[str] = METHODS,
                  explain: Callable[[nn.Module, Tensor, Tensor, str], Tensor] | None = None) -> pd.DataFrame:
    """Seconds per image of each method (batched over ``images``) and of one forward pass, and
    their ratio (the paper's Table 3 on this machine); the median of ``repeats`` runs.
    ``explain(model, images, classes, method)`` computes one method's maps (default: this
    chapter's :func:`explain_setting` with G = 32, theta = 70)."""
    explain = explain or _explain_method
    with torch.no_grad():
        classes = model(images).argmax(dim=1)

    def seconds(run) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            run()
            times.append(time.perf_counter() - start)
        return sorted(times)[len(times) // 2] / len(images)

    def forward():
        with torch.no_grad():
            model(images)

    floor = seconds(forward)
    rows = []
    for method in methods:
        per_image = seconds(lambda: explain(model, images, classes, method))
        rows.append(dict(method=method, seconds=per_image, forward_seconds=floor, ratio=per_image / floor))
    return pd.DataFrame(rows).set_index("method")


def _explain_method(model: nn.Module, images: Tensor, classes: Tensor, method: str) -> Tensor:
    return explain_setting(model, images, classes, dict(method=method, groups=DEFAULT_GROUPS, theta=DEFAULT_THETA))


# --- class discrimination with ground-truth parts (SynthBirds) ----------------------------------
CHANCE = "uniform map (chance)"


def discriminating_pairs(model: nn.Module, images: Tensor, part_masks: Tensor,
                         threshold: float = 0.1) -> tuple[list[int], Tensor, Tensor, list[str]]:
    """The images whose top two SynthBirds classes differ in exactly one part, with
    ``p2 > threshold``: ``(indices, classes [n, 2], part masks [n, 1, H, W], part names)``."""
    from whynot.data.synthetic import PART_NAMES
    from whynot.experiments.localization import differing_part

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
    from whynot.metrics import part_mass, pointing_game

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
    from whynot.experiments.localization import pixel_tolerance

    keep, classes, masks, parts = discriminating_pairs(model, images, part_masks, threshold)
    if not keep:
        return part_rows({}, masks, keep, parts, 0.0)
    chosen = images[keep]
    maps = {"GradCAM (logit)": whynot.explain(model, chosen, method="gradcam", classes=classes)}
    for contrast in contrasts:
        masks_from = "logit" if contrast == "softmax" else "contrast"
        maps[f"Group-CAM ({contrast})"] = whynot.explain(
            model, chosen, method="groupcam", classes=classes, contrast=contrast, masks=masks_from,
            relu=True, batch_size=batch_size)
    maps[CHANCE] = torch.ones_like(maps["GradCAM (logit)"])  # scores the part's share
    return part_rows(maps, masks, keep, parts, pixel_tolerance(images.shape[-1]))


# --- sanity checks -------------------------------------------------------------------------------
def sanity_checks(model: nn.Module, images: Tensor, methods: Sequence[str] = ("gradcam", "groupcam"),
                  seed: int = 0, explain: Callable[[nn.Module, Tensor, Tensor, str], Tensor] | None = None
                  ) -> pd.DataFrame:
    """Adebayo et al.'s cascading and independent randomisation for each method's map of the
    predicted class (classic forms, :data:`METHOD_SETTINGS`; or ``explain(model, images,
    classes, method)`` as in :func:`running_times`). Rows of
    :func:`whynot.metrics.model_randomization` with ``method`` and ``mode`` added."""
    from whynot.metrics import model_randomization

    explain_method = explain or _explain_method
    with torch.no_grad():
        classes = model(images).argmax(dim=1)
    tables = []
    for method in methods:
        def explain(net, x, method=method):
            return explain_method(net, x, classes, method)

        for mode in ("cascading", "independent"):
            table = model_randomization(model, images, explain, mode=mode, seed=seed)
            tables.append(table.assign(method=method, mode=mode))
    return pd.concat(tables, ignore_index=True)


# --- figures -------------------------------------------------------------------------------------
LABELS = {"gradcam": "Grad-CAM", "gradcam++": "Grad-CAM++", "scorecam": "Score-CAM", "groupcam": "Group-CAM"}


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

    figure, axes = plt.subplots(1, 2, figsize=(9, 3.2), sharey=True)
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
    figure, axes = plt.subplots(1, 3, figsize=(11, 3.2))
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


def plot_sanity(table: pd.DataFrame, labels: Mapping[str, str] = LABELS):
    """Paper Fig. 6: rank correlation and SSIM to the trained model's maps, layer by layer from the
    top, for cascading and independent randomisation; ``labels`` names the methods."""
    import matplotlib.pyplot as plt
    import seaborn as sns

    long = table.melt(id_vars=["method", "mode", "depth", "layer"], value_vars=["spearman", "ssim"],
                      var_name="similarity", value_name="value")
    long["method"] = long["method"].map(labels)
    grid = sns.relplot(long, x="depth", y="value", hue="method", row="similarity", col="mode",
                       kind="line", marker="o", errorbar=("se", 1.96), height=2.6, aspect=1.6,
                       facet_kws={"sharey": False})
    grid.set_axis_labels("randomised layer, counted from the top", "")
    grid.figure.tight_layout()
    return grid.figure


# --- verdicts ------------------------------------------------------------------------------------
def _per_image(table: pd.DataFrame, **where) -> pd.DataFrame:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.set_index("image").assign(overall=lambda t: t.insertion - t.deletion)


def verdicts(table: pd.DataFrame, sanity: pd.DataFrame | None = None,
             discrimination: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """The chapter's claims, each with our paired difference (in AUC points or part-mass share),
    its bootstrap 95 % interval over images, and a verdict (:func:`verdict`)."""
    methods = table[table.study == "methods"]
    group = _per_image(methods, method="groupcam")
    claims = []
    for other in ("gradcam", "gradcam++", "scorecam"):
        rival = _per_image(methods, method=other)
        claims.append((f"Group-CAM's over-all AUC beats {LABELS[other]}'s (Table 1)", "yes",
                       group.overall, rival.overall, 1, 100))
    claims.append(("Group-CAM deletes faster than Grad-CAM (Table 1: 11.29 vs 11.97)", "yes",
                   group.deletion, _per_image(methods, method="gradcam").deletion, -1, 100))
    groups = ablation(table, "groups")
    if groups.groups.nunique() > 1:
        smallest, largest = groups.groups.min(), groups.groups.max()
        claims.append((f"over-all AUC grows with G (G = {largest} vs G = {smallest}; Table 2)", "yes",
                       _per_image(groups, groups=largest).overall, _per_image(groups, groups=smallest).overall,
                       1, 100))
    thetas = ablation(table, "theta")
    if (thetas.theta > DEFAULT_THETA).any():
        high = thetas.theta.max()
        claims.append((f"over-all AUC drops for theta above 70 (theta = {high:g} vs 70; Fig. 5)", "yes",
                       _per_image(thetas, theta=high).overall, _per_image(thetas, theta=DEFAULT_THETA).overall,
                       -1, 100))
    rows = []
    for claim, paper, first, second, sign, scale in claims:
        mean, low, high = paired_difference(first, second, seed)
        rows.append(dict(claim=claim, paper=paper, difference=scale * mean, low=scale * low, high=scale * high,
                         images=len(first.index.intersection(second.index)), verdict=verdict(low, high, sign)))
    if sanity is not None:
        from whynot.stats import bootstrap_ci

        top = sanity[(sanity["mode"] == "cascading") & (sanity.depth == sanity.depth.max()) &
                     (sanity.method == "groupcam")].spearman.dropna().to_numpy()  # NaN: a constant map
        low, high = bootstrap_ci(top, seed=seed)
        mean = float(top.mean()) if len(top) else float("nan")
        rows.append(dict(claim="Group-CAM maps change when the whole model is randomised (Fig. 6): "
                               "rank correlation below 0.5", paper="yes", difference=mean - 0.5,
                         low=low - 0.5, high=high - 0.5, images=len(top), verdict=verdict(low - 0.5, high - 0.5, -1)))
    if discrimination is not None and len(discrimination):
        by = discrimination.set_index(["image", "rank", "method"]).part_mass.unstack("method")
        mean, low, high = paired_difference(by["Group-CAM (weighted)"], by["Group-CAM (softmax)"], seed)
        rows.append(dict(claim="contrastive (weighted) Group-CAM puts more mass on the differing part "
                               "than the paper's", paper="(new)", difference=mean, low=low, high=high,
                         images=len(by), verdict=verdict(low, high, 1)))
    return pd.DataFrame(rows)


def across_models(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Table 1's claims on every model of ``table``: Group-CAM's over-all AUC minus each rival's,
    paired over images, in AUC points, with its bootstrap 95 % interval and :func:`verdict`."""
    rows = []
    for model, rows_of_model in table[table.study == "methods"].groupby("model", sort=False):
        group = _per_image(rows_of_model, method="groupcam")
        for rival in ("gradcam", "gradcam++", "scorecam"):
            mean, low, high = paired_difference(group.overall, _per_image(rows_of_model, method=rival).overall, seed)
            rows.append(dict(model=model, rival=LABELS[rival], difference=100 * mean, low=100 * low,
                             high=100 * high, images=len(group), verdict=verdict(low, high, 1)))
    return pd.DataFrame(rows)


def explorer_views(model: nn.Module, images: Tensor, groups: Sequence[int]) -> tuple[dict, dict]:
    """``(views, controls)`` for :func:`whynot.widgets.explorer`: image x method x G overlays of
    the predicted class. Methods without groups give the same picture for every G."""
    from whynot.viz import overlay_array

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
                views[(name, label, f"G = {g}")] = overlay_array(images[index], by_method[label][index, 0])
    return views, {"image": names, "method": labels, "groups": [f"G = {g}" for g in groups]}


def plot_contrastive(model: nn.Module, images: Tensor, part_masks: Tensor, count: int = 2,
                     threshold: float = 0.1):
    """Group-CAM as the paper runs it (softmax) and contrastive (weighted), for the top two classes
    of the first ``count`` images whose top two SynthBirds classes differ in one part, beside the
    part's mask (drawn as a map)."""
    from whynot.data.synthetic import CLASS_NAMES, PART_NAMES
    from whynot.experiments.localization import differing_part
    from whynot.viz import explanation_grid

    with torch.no_grad():
        top = model(images).softmax(dim=1).topk(2, dim=1)
    parts = [differing_part(int(a), int(b)) for a, b in top.indices.tolist()]
    keep = [i for i, part in enumerate(parts) if part is not None and top.values[i, 1] > threshold][:count]
    if not keep:
        raise ValueError("no image has top two classes that differ in one part with p2 > threshold; pass more images.")
    chosen, classes = images[keep], top.indices[keep]
    masks = torch.stack([part_masks[i, PART_NAMES.index(parts[i])] for i in keep]).float()
    maps = {f"differing part ({', '.join(parts[i] for i in keep)})": masks[:, None].expand(-1, 2, -1, -1)}
    for contrast, masks_from in (("softmax", "logit"), ("weighted", "contrast")):
        maps[f"Group-CAM ({contrast})"] = whynot.explain(
            model, chosen, method="groupcam", classes=classes, contrast=contrast, masks=masks_from, relu=True)
    return explanation_grid(chosen, maps, class_names=CLASS_NAMES, classes=classes)

