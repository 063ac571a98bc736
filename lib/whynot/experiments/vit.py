r"""Chapter 05: class-contrastive explanations of Vision Transformers (the reports' extension).

Both reproducibility reports explained torchvision's ViT-B/16 with token Grad-CAM at blocks they
picked by eye (8 and 10) and with gradient-weighted attention rollout, and wrote that the
contrastive (softmax) target "does not have a significant effect" on ViTs and that maps are
"dominated by the explanation of the dominating class" unless the top probabilities are close.
This module measures those statements.

:func:`sweep_maps` explains every layer of the sweep (:func:`sweep_layers`: each block's output
and the last block's first LayerNorm, the library's default) with token Grad-CAM, plus the
gradient-weighted and the plain attention rollout, for every contrast of the top-two classes,
from **one** forward pass and ``k + 2`` backward passes in all (the layers' outputs and the
attentions are captured in the graph, :func:`whynot.explainers.hooks.capture_outputs`).
On SynthBirds every map is scored on the part that separates the top two classes
(:func:`whynot.experiments.parts.localization_table`), and a CNN (``synth_vgg``) is
explained on the same images as the reference for "on ViTs". Every row also carries

.. math::
    \rho_{\text{own}} = \operatorname{corr}(\phi^t_c, \phi^t_{\text{logit}}), \qquad
    \rho_{\text{top}} = \operatorname{corr}(\phi^t_c, \phi^{t_1}_{\text{logit}}),

the pixel correlation of the map of contrast ``c`` with the logit map of its own class and with
that of the top class ``t_1``.

>>> table = runner.run(experiment("default"))                  # doctest: +SKIP
>>> records = claim_records(settings(table))                   # doctest: +SKIP
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Mapping, Sequence
from functools import lru_cache

import numpy as np
import pandas as pd
import torch
from torch import Tensor, nn

from whynot.claims import Record, claims_of, judge, measured, not_tested
from whynot.claims import combine as combine_verdicts
from whynot.claims.ch05 import CHAPTER
from whynot.experiments import parts
from whynot.experiments.dominating import rank_correlation
from whynot.experiments.images import load_birds, load_images
from whynot.experiments.plans import data_config, model_on, plan_batches
from whynot.experiments.runner import Experiment
from whynot.explainers import AttentionRollout, GradCAM, GradientRollout, vit_layout
from whynot.explainers.engine import atom_vjps, combine
from whynot.explainers.hooks import capture_outputs, leaf_input, model_guard
from whynot.explainers.rollout import capture_attention
from whynot.labels import CONTRAST_COLOURS, CONTRAST_LABELS
from whynot.metrics.pointing_game import TOLERANCE_AT_224
from whynot.metrics.model_randomization import pearson
from whynot.stats import bootstrap_ci, paired_difference
from whynot.targets import decompose

VERSION = 2  # 2: methods labelled "Grad-CAM ..." (the book's one spelling)
CONTRASTS = ("logit", "softmax", "weighted", "mean", "max")
ROLLOUT, PLAIN_ROLLOUT = "rollout", "attention rollout"
GRADCAM = "Grad-CAM"  # label prefix of the token Grad-CAM methods of the sweep
CNN_METHOD = "Grad-CAM (CNN)"
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
    """``{method: {contrast: [B, K, H, W]}}``: token Grad-CAM at every layer of ``layers``
    (default :func:`sweep_layers`; methods named ``"Grad-CAM <label>"``), gradient-weighted rollout
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
        maps[f"{GRADCAM} {label}"] = {name: cam.finish(cam.attribute(cam.grid(value, leading=2), activations), images)
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
    """Rows of one batch: every sweep map (and ``cnn``'s Grad-CAM at its default layer) of the
    top-two classes, with correlations; with ``birds`` (SynthBirds images ``start, ...``) also
    part mass and pointing-game hits (:func:`parts.localization_table`' columns)."""
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
            table = parts.localization_table(net, birds, start=start, seed=seed, contrasts=CONTRASTS,
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
              "tolerance_at_224": TOLERANCE_AT_224, **data_config(chosen + [(plan["cnn"],)])}

    def run_batch(batch: Mapping, device: torch.device) -> pd.DataFrame:
        model = model_on(batch["model"], str(device))
        cnn = _cnn(plan["cnn"], str(device))
        birds = None
        if batch["data"] == "synthbirds":
            birds = load_birds(seed, batch["start"], batch["stop"])
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
    """The Grad-CAM method of the library's default layer (the last block's first LayerNorm)."""
    return next(m for m in dict.fromkeys(table.method) if m.startswith(GRADCAM) and m.endswith("norm1"))


def gradcam_methods(table: pd.DataFrame) -> list[str]:
    """The ViT's Grad-CAM methods in sweep order."""
    vit = table[table.model == "vit"]
    return [m for m in dict.fromkeys(vit.method) if m.startswith(GRADCAM)]


def layer_summary(table: pd.DataFrame, contrasts: Sequence[str] = ("logit", "weighted"), seed: int = 0,
                  n_resamples: int = 2000) -> pd.DataFrame:
    """Part mass and hit rate of ``t1``'s maps per method (layer) and contrast, over the scored
    images (:func:`parts.summarize`), the CNN's Grad-CAM beside them."""
    chosen = table[(table["rank"] == 1) & table.contrast.isin(["logit", *contrasts])]
    summary = parts.summarize(chosen, seed=seed, n_resamples=n_resamples)
    return summary[summary.contrast.isin(contrasts)].reset_index(drop=True)


def effect_table(table: pd.DataFrame, threshold: float = parts.THRESHOLD, seed: int = 0) -> pd.DataFrame:
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
    # Its columns even without a row (no image with p2 > threshold, e.g. in a short run).
    return pd.DataFrame(rows, columns=["model", "method", "contrast", "corr", "low", "high",
                                       "images"])


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


def _per_image(table: pd.DataFrame, **where) -> pd.DataFrame:
    rows = table
    for column, value in where.items():
        rows = rows[rows[column] == value]
    return rows.set_index("image")


def _mass(scored: pd.DataFrame, method: str, contrast: str = "logit") -> pd.Series:
    """Part mass of ``t1``'s maps per scored image; a map without positive pixels highlights
    nothing, so it counts as 0 (the last block's output: all maps are zero)."""
    return _per_image(scored, method=method, contrast=contrast).mass.fillna(0.0)


def _setting(claim: str, setting: str, measure: str, estimate: float, low: float, high: float,
             images: int, claimed: str = "higher", boundary: float = 0.0) -> dict:
    return dict(claim=claim, setting=setting, measure=measure, estimate=estimate, low=low,
                high=high, images=images, verdict=judge(low, high, claimed, boundary))


def _difference(claim: str, setting: str, measure: str, first: pd.Series, second: pd.Series,
                seed: int, claimed: str = "higher") -> dict:
    mean, low, high = paired_difference(first, second, seed)
    images = len(pd.concat([first, second], axis=1, join="inner").dropna())
    return _setting(claim, setting, measure, mean, low, high, images, claimed)


def _mean_above(claim: str, setting: str, values: pd.Series, seed: int) -> dict:
    low, high = bootstrap_ci(values.to_numpy(), seed=seed)
    return _setting(claim, setting, f"mean correlation (little effect above {LITTLE_EFFECT})",
                    float(values.mean()), low, high, int(values.notna().sum()),
                    boundary=LITTLE_EFFECT)


def ranked_layers(table: pd.DataFrame) -> list[str]:
    """The ViT's Grad-CAM layers by mean part mass of ``t1``'s logit maps on the scored images,
    best first (maps without positive pixels count as 0)."""
    scored = parts.scored(table[(table.model == "vit") & (table["rank"] == 1)])
    means = {method: _mass(scored, method).mean() for method in gradcam_methods(table)}
    return sorted(means, key=lambda method: -means[method])


def settings(table: pd.DataFrame, seed: int = 0) -> pd.DataFrame:
    """Every setting in which the chapter tests a claim (:mod:`whynot.claims.ch05`), one row
    each: ``claim``, ``setting``, ``measure``, ``estimate`` with its bootstrap 95 % interval over
    images ``low, high``, ``images`` and the setting's ``verdict`` (:func:`whynot.claims.judge`).
    Part mass (SynthBirds only) on the scored images (:func:`parts.scored`), correlations
    with the logit map on the images with ``p2 > 0.1``, rank correlations on every image."""
    vit = table[table.model == "vit"]
    first = vit[vit["rank"] == 1]
    close = first[first.p2 > parts.THRESHOLD]
    default = default_method(vit)
    rows = []
    if "mass" in table:
        scored = parts.scored(first)
        for method in gradcam_methods(vit):
            mass = _mass(scored, method)
            uniform = _per_image(scored, method=method, contrast="logit").part_share
            rows.append(_difference("reports-vit-most-layers-bad", method,
                                    "part mass minus a uniform map's", mass, uniform, seed))
        best, next_best = ranked_layers(table)[:2]
        for other in [m for m in dict.fromkeys([next_best, default]) if m != best]:
            rows.append(_difference("reports-vit-best-block", f"{best} vs {other}",
                                    "part mass difference", _mass(scored, best),
                                    _mass(scored, other), seed))
        for layer in dict.fromkeys([best, default]):
            rows.append(_difference("reports-vit-rollout-localizes", f"{ROLLOUT} vs {layer}",
                                    "part mass difference", _mass(scored, ROLLOUT),
                                    _mass(scored, layer), seed))
        cnn = parts.scored(table[(table.model == "cnn") & (table["rank"] == 1)])
        gains = [_mass(rows_, method, "weighted") - _mass(rows_, method)
                 for rows_, method in ((scored, default), (cnn, CNN_METHOD))]
        rows.append(_difference("reports-vit-not-transferable", f"{default} vs {CNN_METHOD}",
                                "difference of weighted - logit part mass", *gains, seed,
                                claimed="lower"))
    for method in [*gradcam_methods(vit), ROLLOUT]:
        values = _per_image(close, method=method, contrast="softmax").corr_own
        if values.notna().any():  # the last block's output: zero maps, no correlation
            claim = "rollout-softmax" if method == ROLLOUT else "gradcam-softmax"
            rows.append(_mean_above(f"reports-vit-{claim}", method, values, seed))
    claim = "reports-vit-no-visual-difference"
    for rank, column, claimed, measure in (
            (1, "corr_own", "higher", "Spearman(p1 - p2, corr(t1's softmax map, its logit map))"),
            (2, "corr_top", "lower", "Spearman(p1 - p2, corr(t2's softmax map, t1's logit map))")):
        rows_ = _per_image(vit[vit["rank"] == rank], method=default, contrast="softmax")
        estimate, low, high = rank_correlation(rows_.p1 - rows_.p2, rows_[column], seed)
        rows.append(_setting(claim, f"{default}, t{rank}", measure, estimate, low, high,
                             int(rows_[column].notna().sum()), claimed))
    dominated = first[first.p2 <= parts.THRESHOLD]
    dominated = _per_image(dominated, method=default, contrast="softmax").corr_own
    rows.append(_mean_above(claim, f"{default}, p2 <= {parts.THRESHOLD}", dominated, seed))
    return pd.DataFrame(rows)


#: Claims that need SynthBirds' part masks (the full profile's ImageNet has none).
NEED_PARTS = ("reports-vit-most-layers-bad", "reports-vit-best-block",
              "reports-vit-rollout-localizes", "reports-vit-not-transferable")
#: Claims about the images with p2 > 0.1 (parts.THRESHOLD): unresolved in a run without any.
NEED_CLOSE = ("reports-vit-gradcam-softmax", "reports-vit-rollout-softmax")


def claim_records(found: pd.DataFrame, data: str = "SynthBirds test images",
                  model: str = "synth_vit", decimals: int = 3) -> list[Record]:
    """One :class:`whynot.claims.Record` per claim of :mod:`whynot.claims.ch05` except
    ``reports-dominating`` (:mod:`whynot.experiments.dominating`), from :func:`settings`: a
    claim tested in several settings gets :func:`whynot.claims.combine` of their verdicts."""
    context = dict(data=data, model=model, decimals=decimals)
    records = []
    for claim in (c.id for c in claims_of(CHAPTER) if c.id != "reports-dominating"):
        rows = found[found.claim == claim]
        if rows.empty and claim in NEED_CLOSE:  # e.g. a short run in which one class dominates
            records.append(Record(claim, "not resolved", f"no image with p2 > {parts.THRESHOLD} "
                                  "in this run, and the claim is about those", n=0, **context))
        elif rows.empty:
            if claim not in NEED_PARTS:
                raise ValueError(f"settings() has no row for {claim!r}")
            records.append(not_tested(claim, "needs part masks: the default profile measures it on "
                                             "SynthBirds; this profile's data have none"))
        elif claim == "reports-vit-most-layers-bad":
            records.append(_most_layers_bad(rows, context))
        else:
            shown = rows.iloc[0]
            why = ", ".join(f"{r.setting}: {r.verdict}" for r in rows.itertuples())
            if len(rows) > 1:
                why += f" (the number is {shown.setting}'s)"
            record = measured(claim, shown.estimate, shown.low, shown.high, why,
                              n=int(shown.images), **context)
            records.append(dataclasses.replace(record, verdict=combine_verdicts(rows.verdict)))
    return records


def _most_layers_bad(rows: pd.DataFrame, context: dict) -> Record:
    """Share of layers that beat a uniform map: the point estimate counts the layers whose mean
    excess is positive; the bounds count those whose interval lies above 0, and those plus the
    unresolved ones. "Most layers are bad" holds where the share lies below 1/2."""
    layers = len(rows)
    good, unresolved = (int((rows.verdict == v).sum()) for v in ("holds", "not resolved"))
    share = float((rows.estimate > 0).mean())
    why = (f"{good} of {layers} layers beat a uniform map, {unresolved} not resolved: "
           + ", ".join(rows.setting[rows.verdict == "holds"]) if good else
           f"no layer of {layers} beats a uniform map ({unresolved} not resolved)")
    return measured("reports-vit-most-layers-bad", share, good / layers,
                    (good + unresolved) / layers, why, claimed="lower", boundary=0.5, n=layers,
                    unit="layers", **{**context, "decimals": 2})


# --- figures -------------------------------------------------------------------------------------
def closest_images(table: pd.DataFrame, count: int = 2) -> list[int]:
    """The ``count`` images with the smallest ``p1 - p2`` (the reports chose such images)."""
    images = table[table.model == "vit"].drop_duplicates("image")
    return images.assign(gap=images.p1 - images.p2).nsmallest(count, "gap").image.tolist()


def report_figure(model: nn.Module, images: Tensor, layers: Sequence[str], rollout: bool = True):
    """The reports' ViT figure for the top-two classes of ``images``: token Grad-CAM at ``layers``
    (labels of :func:`sweep_layers`) and gradient-weighted rollout (``rollout=False``: none),
    each classic (ReLU, logit), signed (logit) and contrastive (softmax)."""
    import whynot
    from whynot.viz import explanation_grid

    names = sweep_layers(model)
    with torch.no_grad():
        classes = model(images).topk(2, dim=1).indices
    maps = {}
    for label, kwargs in [*((f"{GRADCAM} {label}", dict(method="gradcam", layer=names[label])) for label in layers),
                          *([(ROLLOUT, dict(method="rollout"))] if rollout else [])]:
        maps[f"{label}\nReLU"] = whynot.explain(model, images, classes=classes, relu=True, **kwargs)
        signed = whynot.explain(model, images, classes=classes, contrast=("logit", "softmax"), **kwargs)
        maps[f"{label}\nlogit"], maps[f"{label}\nsoftmax"] = signed["logit"], signed["softmax"]
    return explanation_grid(images, maps, class_names=model.whynot_meta["class_names"], classes=classes,
                            panel_size=1.7)


def contrast_figure(model: nn.Module, images: Tensor, methods: Sequence[str]):
    """Original (logit) vs softmax, weighted, mean and max maps of the top-two classes, one
    column per (method, contrast) for the :func:`sweep_maps` ``methods``."""
    from whynot.viz import explanation_grid

    with torch.no_grad():
        classes = model(images).topk(2, dim=1).indices
    maps = sweep_maps(model, images, classes)
    single = len(methods) == 1  # then the method titles the figure, the contrasts the columns
    columns = {(contrast if single else f"{method}\n{contrast}"): maps[method][contrast]
               for method in methods for contrast in CONTRASTS}
    figure = explanation_grid(images, columns, class_names=model.whynot_meta["class_names"],
                              classes=classes, panel_size=1.45)
    if single:
        figure.suptitle(methods[0], y=1.02)
    return figure


def plot_sweep(summary: pd.DataFrame, chance: pd.DataFrame, contrasts: Sequence[str] = ("logit", "weighted")):
    """Mean part mass and hit rate of ``t1``'s maps per method (layer), bars per contrast with
    95 % intervals; the uniform-map baselines dashed."""
    import matplotlib.pyplot as plt

    rows = summary[(summary["rank"] == 1) & (summary.model == "vit")]
    methods = list(dict.fromkeys(rows.method))
    base = chance[chance.model == "vit"].iloc[0]
    figure, axes = plt.subplots(1, 2, figsize=(9.2, 4.2))  # a full-width cell
    width = 0.8 / len(contrasts)
    for ax, (metric, label, uniform) in zip(axes, (("mass", "positive mass on the part", "part_share"),
                                                   ("hit", "pointing-game hit rate", "hit_zone_share"))):
        for c, contrast in enumerate(contrasts):
            bars = rows[rows.contrast == contrast].set_index("method").reindex(methods)
            x = np.arange(len(methods)) + (c - (len(contrasts) - 1) / 2) * width
            error = [bars[metric] - bars[f"{metric}_low"], bars[f"{metric}_high"] - bars[metric]]
            ax.bar(x, bars[metric], width, yerr=error, label=CONTRAST_LABELS[contrast],
                   color=CONTRAST_COLOURS[contrast], error_kw={"linewidth": 0.8})
        ax.axhline(base[uniform], color="black", linestyle="--", linewidth=0.8, label="uniform map")
        ax.set_xticks(np.arange(len(methods)), methods, rotation=35, ha="right")
        ax.set_ylabel(label)
    axes[0].legend()
    figure.suptitle(f"synth_vit, maps of t1 on the part that separates t1 and t2 ({int(base.images)} images)")
    figure.tight_layout()
    return figure


def plot_gap(table: pd.DataFrame, methods: Sequence[str], contrast: str = "weighted"):
    """The correlation of ``t1``'s contrast map with its logit map against ``p1 - p2``, one
    panel per method (every image a dot)."""
    import matplotlib.pyplot as plt

    rows = table[(table.model == "vit") & (table["rank"] == 1) & (table.contrast == contrast)]
    figure, axes = plt.subplots(1, len(methods), figsize=(3.3 * len(methods), 3.2), sharey=True, squeeze=False)
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
