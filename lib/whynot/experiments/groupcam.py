"""Group-CAM (Zhang et al., 2021): deletion / insertion, ablations over G and theta, timing, sanity.

The chapter-06 experiment runs through the resumable runner: every image of the plan is
explained by GradCAM, GradCAM++, ScoreCAM and Group-CAM (the paper's Table 1), and the first
``ablation_images`` also by Group-CAM for every G of Table 2 and every theta of Fig. 5; each map
is scored by deletion and insertion (:mod:`whynot.metrics`). One row per (image, setting).

>>> table = runner.table(runner.run(experiment("default")))          # doctest: +SKIP
>>> summarize(table[table.study == "methods"], by="method")           # doctest: +SKIP
"""
from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from functools import lru_cache
from importlib.resources import files

import pandas as pd
import torch
from torch import Tensor, nn

import whynot
from whynot.experiments.pgd import load_images, weights_fingerprint
from whynot.experiments.runner import Experiment
from whynot.metrics import deletion, insertion
from whynot.stats import normal_halfwidth

VERSION = 1
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
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vgg", "synthbirds", 2)], "batch_size": 2, "ablation_images": 2,
              "groups": (1,), "thetas": (0.0,)},
    "default": {"models": [("synth_vgg", "synthbirds", 81)], "batch_size": 27, "ablation_images": 27,
                "groups": (1, 4, 8, 16, 32, 64), "thetas": (0.0, 30.0, 50.0, 70.0, 80.0, 90.0)},
    "full": {"models": [("vgg19", "imagenet", 10000)], "batch_size": 16, "ablation_images": 5000,
             "groups": GROUPS, "thetas": THETAS},
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


def layer_channels(model: nn.Module) -> int:
    """Channels of the model's default CAM layer (caps the G of the ablation)."""
    from whynot.explainers.hooks import capture_layer, resolve_layer

    name, layer = resolve_layer(model, None)
    size = model.whynot_meta["input_size"]
    device = next(model.parameters()).device
    with torch.no_grad(), capture_layer(layer, name, as_leaf=False) as capture:
        model(torch.zeros(1, 3, size, size, device=device))
    return capture.activation.shape[1]


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The chapter-06 experiment of ``profile`` (:data:`PLANS`); rows: one per (image, setting)."""
    if profile not in PLANS:
        raise ValueError(f"unknown profile {profile!r}; choose one of {sorted(PLANS)}")
    plan = PLANS[profile]
    chosen = [(m, d, n if n_images is None else min(n, n_images)) for m, d, n in plan["models"]
              if models is None or m in models]
    if not chosen:
        raise ValueError(f"none of {models} is in the {profile} plan: {[m for m, _, _ in plan['models']]}")
    size = batch_size or plan["batch_size"]
    batches = [{"model": m, "data": d, "start": s, "stop": min(s + size, n)}
               for m, d, n in chosen for s in range(0, n, size)]
    config = {"profile": profile, "seed": seed, "models": chosen, "methods": METHOD_SETTINGS,
              "ablation_images": plan["ablation_images"], "groups": list(plan["groups"]),
              "thetas": list(plan["thetas"]), "weights": {m: weights_fingerprint(m) for m, _, _ in chosen}}
    if any(d == "synthbirds" for _, d, _ in chosen):
        from whynot.data.synthetic import VERSION as SYNTHBIRDS_VERSION

        config["synthbirds_version"] = SYNTHBIRDS_VERSION

    @lru_cache(maxsize=1)
    def model_on(name: str, device: str) -> nn.Module:
        from whynot.models.zoo import load_model

        return load_model(name, device)

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        images = images.to(device)
        with torch.no_grad():
            predicted = model(images).argmax(dim=1)
        channels = layer_channels(model)
        tables = []
        for ablation in (False, True):
            # Ablation settings only for the images before ablation_images (a prefix of the batch).
            count = max(0, min(batch["stop"], plan["ablation_images"]) - batch["start"]) if ablation else len(images)
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


def running_times(model: nn.Module, images: Tensor, repeats: int = 3) -> pd.DataFrame:
    """Seconds per image of each method (batched over ``images``) and of one forward pass, and
    their ratio (the paper's Table 3 on this machine); the median of ``repeats`` runs."""
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
    for method in METHODS:
        setting = dict(method=method, groups=DEFAULT_GROUPS, theta=DEFAULT_THETA)
        per_image = seconds(lambda: explain_setting(model, images, classes, setting))
        rows.append(dict(method=method, seconds=per_image, forward_seconds=floor, ratio=per_image / floor))
    return pd.DataFrame(rows).set_index("method")
