r"""Chapter 05: class-contrastive explanations of Vision Transformers (the reports' extension).

Both reproducibility reports explained torchvision's ViT-B/16 with token GradCAM at blocks they
picked by eye (8 and 10) and with gradient-weighted attention rollout, and wrote that the
contrastive (softmax) target "does not have a significant effect" on ViTs and that maps are
"dominated by the explanation of the dominating class" unless the top probabilities are close.
This module measures those statements.

:func:`sweep_maps` explains every layer of the sweep (:func:`sweep_layers`: each block's output
and the last block's first LayerNorm, the library's default) with token GradCAM, plus the
gradient-weighted and the plain attention rollout, for every contrast of the top-two classes,
from **one** forward pass and ``k + 2`` backward passes in all (the layers' outputs and the
attentions are captured in the graph, :func:`whynot.explainers.hooks.capture_outputs`).
On SynthBirds every map is scored on the part that separates the top two classes
(:func:`whynot.experiments.localization.localization_table`), and a CNN (``synth_vgg``) is
explained on the same images as the reference for "on ViTs". Every row also carries

.. math::
    \rho_{\text{own}} = \operatorname{corr}(\phi^t_c, \phi^t_{\text{logit}}), \qquad
    \rho_{\text{top}} = \operatorname{corr}(\phi^t_c, \phi^{t_1}_{\text{logit}}),

the pixel correlation of the map of contrast ``c`` with the logit map of its own class and with
that of the top class ``t_1``.

>>> table = runner.run(experiment("default"))                  # doctest: +SKIP
>>> verdicts(table)                                            # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from whynot.experiments import localization
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.explainers import AttentionRollout, GradCAM, GradientRollout, vit_layout
from whynot.explainers.engine import atom_vjps, combine
from whynot.explainers.hooks import capture_outputs, leaf_input, model_guard
from whynot.explainers.rollout import capture_attention
from whynot.metrics.model_randomization import pearson, spearman
from whynot.stats import bootstrap_ci, paired_difference, verdict
from whynot.targets import decompose

VERSION = 1
CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")
ROLLOUT, PLAIN_ROLLOUT = "rollout", "attention rollout"
CNN_METHOD = "GradCAM (CNN)"
#: Close and far top-two probabilities: the bins of p1 - p2.
GAP_BINS = (0.0, 0.2, 0.5, 0.8, 1.0)
#: "Little effect" read as: the contrast's map correlates with the logit map above this.
LITTLE_EFFECT = 0.9
PLANS: dict[str, dict] = {
    "smoke": {"models": [("synth_vit", "synthbirds", 27)], "batch_size": 27, "cnn": "synth_vgg"},
    "default": {"models": [("synth_vit", "synthbirds", 1080)], "batch_size": 120, "cnn": "synth_vgg"},
    "full": {"models": [("vit_b_16", "imagenet", 5000)], "batch_size": 16, "cnn": "vgg16_bn"},
}


def sweep_layers(model: nn.Module) -> dict[str, str]:
    """Label -> module name: each block's output (``"block i"``), then the last block's first
    LayerNorm (``"block L-1 norm1"``, the default layer). The last block's output reaches the
    logits only through the CLS token, so its patch tokens' gradients, and its maps, are zero."""
    layout = vit_layout(model)
    if layout is None:
        raise ValueError(f"{type(model).__name__} is not a ViT whynot recognises; the sweep needs its blocks.")
    layers = {f"block {i}": name for i, name in enumerate(layout.blocks)}
    layers[f"block {len(layout.blocks) - 1} norm1"] = layout.default_layer
    return layers


def sweep_maps(model: nn.Module, images: Tensor, classes: Tensor, contrasts: Sequence[str] = CONTRASTS,
               layers: Mapping[str, str] | None = None, discard_ratio: float = 0.9) -> dict[str, dict[str, Tensor]]:
    """``{method: {contrast: [B, K, H, W]}}``: token GradCAM at every layer of ``layers``
    (default :func:`sweep_layers`; methods named ``"GradCAM <label>"``), gradient-weighted rollout
    and plain rollout, for ``classes [B, K]``, from one forward and ``k + 2`` backward passes.
    Each equals its own ``whynot.explain`` call (a unit test checks it)."""
    layers = dict(sweep_layers(model) if layers is None else layers)
    cams = {label: GradCAM(model, layer=name) for label, name in layers.items()}
    rolled = GradientRollout(model, discard_ratio=discard_ratio)
    plain = AttentionRollout(model, discard_ratio=discard_ratio)
    layout = rolled.layout
    images = images.detach()
    with model_guard(model), torch.enable_grad(), contextlib.ExitStack() as stack:
        stack.enter_context(leaf_input(model.get_submodule(layout.blocks[0])))
        attentions = stack.enter_context(capture_attention(model, layout))
        outputs = stack.enter_context(capture_outputs({label: cam.layer for label, cam in cams.items()}))
        logits = model(images)
    decomposition = decompose(logits, classes, contrasts)
    tensors = [outputs[label] for label in cams] + list(attentions)
    gradients = atom_vjps(logits, tensors, decomposition.atoms)
    maps = {}
    for (label, cam), gradient in zip(cams.items(), gradients):
        activations = cam.grid(outputs[label].detach(), leading=1)[:, None]
        per_contrast = combine(decomposition.coefficients, gradient)
        maps[f"GradCAM {label}"] = {name: cam.finish(cam.attribute(cam.grid(value, leading=2), activations), images)
                                    for name, value in per_contrast.items()}
    rollout_maps = rolled.maps_from(attentions, gradients[len(cams):], decomposition.coefficients)
    maps[ROLLOUT] = {name: rolled.finish(value, images) for name, value in rollout_maps.items()}
    fused = plain.to_maps([attention.detach().mean(dim=-3) for attention in attentions])
    fused = plain.finish(fused[:, None].expand(-1, classes.shape[1], -1, -1), images)
    maps[PLAIN_ROLLOUT] = dict.fromkeys(contrasts, fused)
    return maps


def correlation_rows(maps: Mapping[str, Mapping[str, Tensor]], start: int = 0) -> pd.DataFrame:
    """One row per (image, method, contrast, rank) with ``corr_own`` and ``corr_top`` (see the
    module): the pixel correlation with the logit map of the same class and of the top class."""
    blocks = []
    for method, by_contrast in maps.items():
        logit = by_contrast["logit"].detach().cpu().double()
        for contrast, value in by_contrast.items():
            value = value.detach().cpu().double()
            own = pearson(value, logit)
            top = pearson(value, logit[:, :1].expand_as(value))
            for rank in range(1, value.shape[1] + 1):
                blocks.append(pd.DataFrame({
                    "image": np.arange(start, start + len(value)), "method": method, "contrast": contrast,
                    "rank": rank, "corr_own": own[:, rank - 1].numpy(), "corr_top": top[:, rank - 1].numpy()}))
    return pd.concat(blocks, ignore_index=True)


def probability_rows(model: nn.Module, images: Tensor, start: int = 0) -> tuple[Tensor, pd.DataFrame]:
    """The top-two classes ``[B, 2]`` and a frame of ``image, t1, t2, p1, p2``."""
    with torch.no_grad():
        top = model(images).softmax(dim=1).topk(2, dim=1)
    values, classes = top.values.cpu().double().numpy(), top.indices
    return classes, pd.DataFrame({"image": np.arange(start, start + len(images)),
                                  "t1": classes[:, 0].tolist(), "t2": classes[:, 1].tolist(),
                                  "p1": values[:, 0], "p2": values[:, 1]})


def vit_table(model: nn.Module, images: Tensor, start: int = 0, seed: int = 0, birds=None,
              cnn: nn.Module | None = None) -> pd.DataFrame:
    """Rows of one batch: every sweep map (and ``cnn``'s GradCAM at its default layer) of the
    top-two classes, with correlations; with ``birds`` (SynthBirds images ``start, ...``) also
    part mass and pointing-game hits (:func:`localization.localization_table`' columns)."""
    device = next(model.parameters()).device
    images = images.to(device)
    explained: dict[str, dict] = {}

    def explain_vit(chosen_images: Tensor, classes: Tensor) -> dict:
        explained["vit"] = sweep_maps(model, chosen_images, classes.to(device))
        return explained["vit"]

    def explain_cnn(chosen_images: Tensor, classes: Tensor) -> dict:
        import whynot

        maps = whynot.explain(cnn, chosen_images, method="gradcam", classes=classes, contrast=CONTRASTS)
        explained["cnn"] = {CNN_METHOD: maps}
        return explained["cnn"]

    tables = []
    for key, net, explain in (("vit", model, explain_vit), ("cnn", cnn, explain_cnn)):
        if net is None:
            continue
        if birds is not None:
            table = localization.localization_table(net, birds, start=start, seed=seed, contrasts=CONTRASTS,
                                                    explain=explain)
        else:
            classes, table = probability_rows(net, images, start)
            rows = correlation_rows(explain(images, classes), start)  # fills explained[key]
            tables.append(rows.merge(table, on="image").assign(model=key))
            continue
        correlations = correlation_rows(explained[key], start)
        tables.append(table.merge(correlations, on=["image", "method", "contrast", "rank"]).assign(model=key))
    return pd.concat(tables, ignore_index=True)


def experiment(profile: str = "default", seed: int = 0, models: Sequence[str] | None = None,
               n_images: int | None = None, batch_size: int | None = None) -> Experiment:
    """The chapter-05 experiment of ``profile`` (:data:`PLANS`): one row per (image, model
    ("vit" or "cnn"), method, contrast, rank)."""
    chosen, batches = plan_batches(profile, PLANS, models, n_images, batch_size)
    plan = PLANS[profile]
    config = {"profile": profile, "seed": seed, "models": chosen, "cnn": plan["cnn"], "contrasts": list(CONTRASTS),
              "tolerance_at_224": localization.TOLERANCE_AT_224, **data_config(chosen + [(plan["cnn"],)])}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        from whynot.experiments.pgd import load_images

        model = model_on(batch["model"], str(device))
        cnn = _cnn(plan["cnn"], str(device))
        birds = None
        if batch["data"] == "synthbirds":
            from whynot.data.synthetic import load_synthbirds

            birds = load_synthbirds("test", seed=seed, n=batch["stop"]).subset(slice(batch["start"], batch["stop"]))
            images = birds.images
        else:
            images, _ = load_images(batch["data"], model, seed, batch["start"], batch["stop"])
        table = vit_table(model, images, start=batch["start"], seed=seed, birds=birds, cnn=cnn)
        return table.assign(vit=batch["model"], data=batch["data"])

    return Experiment("vit", VERSION, config, batches, run_batch)


@lru_cache(maxsize=1)
def _cnn(name: str, device: str) -> nn.Module:
    from whynot.models.zoo import load_model

    return load_model(name, device)


# --- summaries -----------------------------------------------------------------------------------
def default_method(table: pd.DataFrame) -> str:
    """The GradCAM method of the library's default layer (the last block's first LayerNorm)."""
    return next(m for m in dict.fromkeys(table.method) if m.startswith("GradCAM") and m.endswith("norm1"))


def gradcam_methods(table: pd.DataFrame) -> list[str]:
    """The ViT's GradCAM methods in sweep order."""
    vit = table[table.model == "vit"]
    return [m for m in dict.fromkeys(vit.method) if m.startswith("GradCAM")]


def layer_summary(table: pd.DataFrame, contrasts: Sequence[str] = ("logit", "weighted"), seed: int = 0,
                  n_resamples: int = 2000) -> pd.DataFrame:
    """Part mass and hit rate of ``t1``'s maps per method (layer) and contrast, over the scored
    images (:func:`localization.summarize`), the CNN's GradCAM beside them."""
    chosen = table[(table["rank"] == 1) & table.contrast.isin(["logit", *contrasts])]
    summary = localization.summarize(chosen, seed=seed, n_resamples=n_resamples)
    return summary[summary.contrast.isin(contrasts)].reset_index(drop=True)


def effect_table(table: pd.DataFrame, threshold: float = localization.THRESHOLD, seed: int = 0) -> pd.DataFrame:
    """Mean correlation of each contrast's map of ``t1`` with its logit map (``corr_own``), with
    a bootstrap 95 % interval, over the images with ``p2 > threshold``; per model and method."""
    rows = []
    chosen = table[(table["rank"] == 1) & (table.p2 > threshold) & (table.contrast != "logit")]
    for (model, method, contrast), group in chosen.groupby(["model", "method", "contrast"], sort=False):
        values = group.corr_own.to_numpy()
        low, high = bootstrap_ci(values, seed=seed)
        mean = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")  # NaN: zero maps
        rows.append(dict(model=model, method=method, contrast=contrast, corr=mean,
                         low=low, high=high, images=int(np.isfinite(values).sum())))
    return pd.DataFrame(rows)


def gap_table(table: pd.DataFrame, methods: Sequence[str], contrast: str = "weighted",
              seed: int = 0) -> pd.DataFrame:
    """Per method and bin of ``p1 - p2`` (:data:`GAP_BINS`): the mean correlation of the
    contrast's map of ``t1`` with its logit map, and of ``t2``'s map with ``t1``'s logit map
    (``corr_top``; near -1: ``t2``'s map is ``t1``'s, negated), with bootstrap intervals."""
    rows = []
    chosen = table[(table.model == "vit") & table.method.isin(methods) & (table.contrast == contrast)]
    chosen = chosen.assign(gap=pd.cut(chosen.p1 - chosen.p2, GAP_BINS, include_lowest=True))
    for (method, gap), group in chosen.groupby(["method", "gap"], sort=False, observed=True):
        row = dict(method=method, gap=str(gap), images=int(group.image.nunique()))
        for name, rank, column in (("t1 vs own logit", 1, "corr_own"), ("t2 vs t1 logit", 2, "corr_top")):
            values = group.loc[group["rank"] == rank, column].to_numpy()
            low, high = bootstrap_ci(values, seed=seed)
            row.update({name: float(np.nanmean(values)) if np.isfinite(values).any() else float("nan"),
                        f"{name} low": low, f"{name} high": high})
        rows.append(row)
    return pd.DataFrame(rows).sort_values(["method", "gap"], key=lambda c: c.map(_order(rows))).reset_index(drop=True)


def _order(rows: list[dict]) -> dict:
    seen = {}
    for row in rows:
        seen.setdefault(row["method"], len(seen))
    return {**seen, **{str(g): i for i, g in enumerate(pd.cut([], GAP_BINS, include_lowest=True).categories)}}


def _spearman(sample: np.ndarray, axis: int = 0) -> float:
    """Spearman correlation of the two columns (NaN if one is constant), as a bootstrap statistic."""
    columns = torch.from_numpy(np.ascontiguousarray(sample.T))[:, None]  # [2, 1, N]: a 1 x N "map" each
    return float(spearman(columns[0], columns[1]))


def rank_correlation(x: pd.Series, y: pd.Series, seed: int = 0) -> tuple[float, float, float]:
    """Spearman correlation of ``x`` and ``y`` (paired rows, NaN dropped) with a bootstrap
    95 % interval over the rows."""
    pairs = pd.concat([x, y], axis=1).dropna().to_numpy()
    if len(pairs) < 3:
        return float("nan"), float("nan"), float("nan")
    low, high = bootstrap_ci(pairs, statistic=_spearman, seed=seed)
    return _spearman(pairs), low, high


def _per_image(table: pd.DataFrame, **where) -> pd.DataFrame:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.set_index("image")


def verdicts(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """The chapter's claims, each with our estimate, its bootstrap 95 % interval over images and
    a verdict (:func:`whynot.stats.verdict`): part mass (SynthBirds only) on the
    scored images (:func:`localization.scored`), correlations on the images with ``p2 > 0.1``,
    the rank correlations with ``p1 - p2`` on all images."""
    vit = table[table.model == "vit"]
    close = vit[(vit["rank"] == 1) & (vit.p2 > localization.THRESHOLD)]
    default = default_method(vit)
    rows = []
    for claim, first, second, sign, images in (_localization_claims(vit) if "mass" in table else []):
        mean, low, high = paired_difference(first, second, seed)
        rows.append(dict(claim=claim, measure="part mass difference", estimate=mean, low=low, high=high,
                         images=images, verdict=verdict(low, high, sign)))
    for method in (default, ROLLOUT):
        values = _per_image(close, method=method, contrast="weighted").corr_own
        low, high = bootstrap_ci(values.to_numpy(), seed=seed)
        rows.append(dict(claim=f"{method}: little effect of the weighted contrast (correlation with the "
                               f"logit map above {LITTLE_EFFECT})", measure="mean correlation",
                         estimate=float(values.mean()), low=low, high=high, images=int(values.notna().sum()),
                         verdict=verdict(low - LITTLE_EFFECT, high - LITTLE_EFFECT, 1)))
    cnn = table[(table.model == "cnn") & (table["rank"] == 1) & (table.p2 > localization.THRESHOLD)]
    if len(cnn):
        ours = _per_image(close, method=default, contrast="weighted").corr_own
        theirs = _per_image(cnn, method=CNN_METHOD, contrast="weighted").corr_own
        mean, low, high = paired_difference(ours, theirs, seed)
        rows.append(dict(claim=f"{default}: less effect of the weighted contrast than on the CNN's GradCAM",
                         measure="correlation difference", estimate=mean, low=low, high=high,
                         images=len(ours.index.intersection(theirs.index)), verdict=verdict(low, high, 1)))
    for method in (default, ROLLOUT):
        for rank, column, sign, claim in (
                (1, "corr_own", 1, "t1's weighted map follows its logit map more as p1 - p2 grows"),
                (2, "corr_top", -1, "t2's weighted map follows -(t1's logit map) more as p1 - p2 grows")):
            rows_ = _per_image(vit[vit["rank"] == rank], method=method, contrast="weighted")
            estimate, low, high = rank_correlation(rows_.p1 - rows_.p2, rows_[column], seed)
            rows.append(dict(claim=f"{method}: {claim}", measure="Spearman correlation", estimate=estimate,
                             low=low, high=high, images=int(rows_[column].notna().sum()),
                             verdict=verdict(low, high, sign)))
    return pd.DataFrame(rows)


def _localization_claims(vit: pd.DataFrame) -> list[tuple]:
    """``(claim, first, second, expected sign, images)`` of the part-mass claims (rank-1 maps)."""
    scored = localization.scored(vit)
    scored = scored[scored["rank"] == 1]
    middle, late = [m for m in gradcam_methods(vit) if not m.endswith("norm1")][1:3]
    claims = []
    for method in (middle, late, ROLLOUT):
        rows = _per_image(scored, method=method, contrast="weighted")
        claims.append((f"{method} (weighted) puts more mass on the differing part than a uniform map",
                       rows.mass, rows.part_share, 1, len(rows)))
    rollout = _per_image(scored, method=ROLLOUT, contrast="weighted")
    claims.append((f"rollout localizes better than {late} (weighted)", rollout.mass,
                   _per_image(scored, method=late, contrast="weighted").mass, 1, len(rollout)))
    for method in (default_method(vit), ROLLOUT):
        weighted = _per_image(scored, method=method, contrast="weighted")
        claims.append((f"{method}: the weighted contrast puts more mass on the part than the logit",
                       weighted.mass, _per_image(scored, method=method, contrast="logit").mass, 1, len(weighted)))
    return claims


# --- figures -------------------------------------------------------------------------------------
def closest_images(table: pd.DataFrame, count: int = 2) -> list[int]:
    """The ``count`` images with the smallest ``p1 - p2`` (the reports chose such images)."""
    images = table[table.model == "vit"].drop_duplicates("image")
    return images.assign(gap=images.p1 - images.p2).nsmallest(count, "gap").image.tolist()


def report_figure(model: nn.Module, images: Tensor, layers: Sequence[str]):
    """The reports' ViT figure for the top-two classes of ``images``: token GradCAM at ``layers``
    (labels of :func:`sweep_layers`) and gradient-weighted rollout, each classic (ReLU, logit),
    signed (logit) and contrastive (softmax)."""
    import whynot
    from whynot.viz import explanation_grid

    names = sweep_layers(model)
    with torch.no_grad():
        classes = model(images).topk(2, dim=1).indices
    maps = {}
    for label, kwargs in [*((f"GradCAM {label}", dict(method="gradcam", layer=names[label])) for label in layers),
                          (ROLLOUT, dict(method="rollout"))]:
        maps[f"{label}\nReLU"] = whynot.explain(model, images, classes=classes, relu=True, **kwargs)
        signed = whynot.explain(model, images, classes=classes, contrast=("logit", "softmax"), **kwargs)
        maps[f"{label}\nlogit"], maps[f"{label}\nsoftmax"] = signed["logit"], signed["softmax"]
    return explanation_grid(images, maps, class_names=model.whynot_meta["class_names"], classes=classes,
                            panel_size=1.5)


def contrast_figure(model: nn.Module, images: Tensor, methods: Sequence[str]):
    """Original (logit) vs softmax, weighted, mean and max maps of the top-two classes, one
    column per (method, contrast) for the :func:`sweep_maps` ``methods``."""
    from whynot.viz import explanation_grid

    with torch.no_grad():
        classes = model(images).topk(2, dim=1).indices
    maps = sweep_maps(model, images, classes)
    columns = {f"{method}\n{contrast}": maps[method][contrast] for method in methods for contrast in CONTRASTS}
    return explanation_grid(images, columns, class_names=model.whynot_meta["class_names"], classes=classes,
                            panel_size=1.4)


def plot_sweep(summary: pd.DataFrame, chance: pd.DataFrame, contrasts: Sequence[str] = ("logit", "weighted")):
    """Mean part mass and hit rate of ``t1``'s maps per method (layer), bars per contrast with
    95 % intervals; the uniform-map baselines dashed."""
    import matplotlib.pyplot as plt

    rows = summary[(summary["rank"] == 1) & (summary.model == "vit")]
    methods = list(dict.fromkeys(rows.method))
    base = chance[chance.model == "vit"].iloc[0]
    figure, axes = plt.subplots(1, 2, figsize=(12, 3.6))
    width = 0.8 / len(contrasts)
    for ax, (metric, label, uniform) in zip(axes, (("mass", "positive mass on the part", "part_share"),
                                                   ("hit", "pointing-game hit rate", "hit_zone_share"))):
        for c, contrast in enumerate(contrasts):
            bars = rows[rows.contrast == contrast].set_index("method").reindex(methods)
            x = np.arange(len(methods)) + (c - (len(contrasts) - 1) / 2) * width
            error = [bars[metric] - bars[f"{metric}_low"], bars[f"{metric}_high"] - bars[metric]]
            ax.bar(x, bars[metric], width, yerr=error, label=contrast, error_kw={"linewidth": 0.8})
        ax.axhline(base[uniform], color="black", linestyle="--", linewidth=0.8, label="uniform map")
        ax.set_xticks(np.arange(len(methods)), [m.replace("GradCAM ", "GradCAM\n") for m in methods],
                      fontsize="small")
        ax.set_ylabel(label)
    axes[0].legend(fontsize="small")
    figure.suptitle(f"synth_vit, maps of t1 on the part that separates t1 and t2 ({int(base.images)} images)")
    figure.tight_layout()
    return figure


def plot_gap(table: pd.DataFrame, methods: Sequence[str], contrast: str = "weighted"):
    """The correlation of ``t1``'s contrast map with its logit map against ``p1 - p2``, one
    panel per method (every image a dot)."""
    import matplotlib.pyplot as plt

    rows = table[(table.model == "vit") & (table["rank"] == 1) & (table.contrast == contrast)]
    figure, axes = plt.subplots(1, len(methods), figsize=(4.2 * len(methods), 3.2), sharey=True, squeeze=False)
    for ax, method in zip(axes[0], methods):
        chosen = rows[rows.method == method]
        ax.scatter(chosen.p1 - chosen.p2, chosen.corr_own, s=6, alpha=0.5)
        ax.set(title=method, xlabel="p1 - p2", xlim=(0, 1))
    axes[0, 0].set_ylabel(f"corr({contrast} map, logit map) of t1")
    figure.tight_layout()
    return figure


def explorer_views(model: nn.Module, images: Tensor, size: int = 112) -> tuple[dict, dict]:
    """``(views, controls)`` for :func:`whynot.widgets.explorer`: image x method (layer) x
    contrast overlays of ``t1``'s map, from one :func:`sweep_maps` call."""
    import torch.nn.functional as F

    from whynot.viz import overlay_array

    with torch.no_grad():
        classes = model(images).topk(2, dim=1).indices
    maps = sweep_maps(model, images, classes)
    shown = F.interpolate(images, size=(size, size), mode="bilinear", align_corners=False)
    names = [f"bird {i}" for i in range(len(images))]
    views = {(name, method, contrast): overlay_array(shown[i], maps[method][contrast][i, 0])
             for i, name in enumerate(names) for method in maps for contrast in CONTRASTS}
    return views, {"image": names, "method": list(maps), "contrast": list(CONTRASTS)}
